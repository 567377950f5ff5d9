"""Progress: plain lines in CI or without a TTY, rich on an interactive terminal, nothing when off."""

from __future__ import annotations

import io

from harness.runner.progress import Plain, Rich, Silent, make_progress


def test_ci_and_non_tty_get_plain_lines(monkeypatch):
    monkeypatch.setenv("CI", "true")
    assert isinstance(make_progress("auto"), Plain)
    monkeypatch.delenv("CI")
    monkeypatch.setattr("sys.stderr", io.StringIO())  # not a TTY
    assert isinstance(make_progress("auto"), Plain)
    assert isinstance(make_progress("rich"), Rich)
    assert isinstance(make_progress("off"), Silent)


def test_plain_lines_report_cells_rate_and_failures():
    stream = io.StringIO()
    progress = Plain(stream)
    progress.start(cells=2, samples=20)
    progress.advance(10)
    progress.cell_done("emm/missing=none", "ok", 61.234, None)
    progress.advance(10)
    progress.cell_done("emm/missing=rgb", "failed", None, "NaN/Inf in logits")
    lines = stream.getvalue().splitlines()
    assert lines[0] == "mmharness: 2 cell(s) to run"
    assert lines[1].startswith("[1/2] emm/missing=none ok mIoU 61.23 (") and "img/s, eta" in lines[1]
    assert lines[2].startswith("[2/2] emm/missing=rgb failed NaN/Inf in logits")
