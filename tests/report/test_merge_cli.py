"""`mmharness merge` through the CLI, and reports of partial (shard) results."""

from __future__ import annotations

import json
from pathlib import Path

from sweep_fixtures import backend, config, write_model

from harness.cli import main
from harness.errors import ExitCode
from harness.report import render_report
from harness.runner import run_sweep


def test_merge_cli_and_partial_reports(tmp_path: Path, capsys) -> None:
    model = write_model(tmp_path / "model")
    shards = [run_sweep(config(model, tmp_path / f"s{i}", shard=f"{i}/3"), backend=backend()).path for i in (1, 2, 3)]
    partial = json.loads(shards[1].read_text())
    assert "emm/missing=none" not in partial["cells"]  # the clean cell went to shard 1
    for fmt in ("md", "html", "junit"):
        text = render_report(partial, fmt)
        assert "emm/missing=rgb" in text or "rgb" in text
    assert "unavailable" in render_report(partial, "md")

    assert main(["merge", *map(str, shards[:2]), "-o", str(tmp_path / "two")]) == ExitCode.OK
    assert "partial" in capsys.readouterr().err
    assert main(["merge", *map(str, shards), "-o", str(tmp_path / "all")]) == ExitCode.OK
    assert "complete" in capsys.readouterr().err
    merged = json.loads((tmp_path / "all" / "results.json").read_text())
    assert merged["plan"]["complete"] and merged["aggregates"]["emm"]["available"]

    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps({"hello": 1}))
    assert main(["merge", str(shards[0]), str(foreign), "-o", str(tmp_path / "bad")]) == ExitCode.BAD_INPUT
    assert "not an mmharness results file" in capsys.readouterr().err
    assert main(["merge", str(shards[0]), str(shards[0]), "-o", str(tmp_path / "same")]) == ExitCode.OK  # idempotent
