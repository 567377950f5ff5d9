"""Reports render what results.json holds: Markdown tables, JUnit XML that parses, and a
self-contained HTML file (test_browser.py renders it in headless Chromium)."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

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
