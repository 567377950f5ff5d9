"""Reports render what results.json holds: Markdown tables, JUnit XML that parses, and a
self-contained HTML file that a real headless browser renders without errors."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from harness.cli import main
from harness.errors import ExitCode
from harness.report import render_report


def _doc(results_dir: Path) -> dict:
    return json.loads((results_dir / "results.json").read_text())


def test_markdown_has_the_emm_table_aggregates_and_shapley(results_dir: Path) -> None:
    doc = _doc(results_dir)
    md = render_report(doc, "md")
    section = md.split("## EMM", 1)[1].split("\n## ", 1)[0]
    emm_rows = [line for line in section.splitlines() if line.startswith("| ")][1:]  # minus the header row
    assert len(emm_rows) == 15
    clean = doc["cells"]["emm/missing=none"]["figures"]["miou"]
    assert f"| none | rgb, depth, event, lidar | {clean:.2f} |" in md
    assert f"| EMM | mIoU^Avg | {doc['aggregates']['emm']['values']['avg']:.2f} |" in md
    assert "## Shapley attribution" in md and "NM: per-sensor corruptions" in md


def test_junit_has_one_case_per_cell_and_reports_failures(results_dir: Path, tmp_path: Path) -> None:
    doc = _doc(results_dir)
    doc["cells"]["emm/missing=rgb"].update(status="failed", reason="model output 'logits' holds 1 NaN/Inf values", state=None, figures=None)
    root = ET.fromstring(render_report(doc, "junit"))
    suite = root.find("testsuite")
    assert int(suite.get("tests")) == len(doc["cells"]) and int(suite.get("errors")) == 1
    failed = [case for case in suite.iter("testcase") if case.find("error") is not None]
    assert [case.get("name") for case in failed] == ["emm/missing=rgb"]


def test_html_is_self_contained(results_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    assert main(["report", str(results_dir), "--format", "html", "-o", str(out)]) == ExitCode.OK
    html = out.read_text()
    assert html.count("<svg") >= 4  # heat map, Shapley bars, severity curves, class deltas
    assert "<script" not in html and "<link" not in html
    assert "http" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")


def _chromium() -> str | None:
    return next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p), None)


@pytest.mark.skipif(_chromium() is None, reason="no chromium binary on PATH (apt-get install -y chromium)")
def test_html_renders_in_headless_chromium_without_console_errors(results_dir: Path, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(render_report(_doc(results_dir), "html"))
    shot = tmp_path / "shot.png"
    base = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}"]
    done = subprocess.run(base + ["--enable-logging=stderr", "--v=0", f"--screenshot={shot}", "--window-size=1200,1600", page.as_uri()],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-800:]
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line]
    assert console == []
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    # the DOM the browser built holds the drawn SVG elements (not just the raw file text)
    dom = subprocess.run(base + ["--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120, check=False).stdout
    assert dom.count("<svg") >= 4 and "<rect" in dom and "<polyline" in dom
