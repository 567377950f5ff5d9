"""The HTML report of the shipped zoo model, default and full NM suite, rendered by a real
headless Chromium: no console messages, the verdict first, every chart line identifiable
(one legend entry per line), heat-map tooltips naming their own cell, a sample gallery with
every EMM missing set, and screenshots a human can open (tests/artifacts/report-shots/)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from harness.cli import main
from harness.errors import ExitCode
from harness.scenarios.cells import CLEAN_ID, missing_label, missing_sets
from . import browser

LIMIT = "16"


def _report(root: Path, name: str, suite: str, rules: dict, gate_file: bool) -> tuple[Path, dict]:
    out = root / name
    assert main(["run", "--out", str(out), "--limit", LIMIT, "--bootstrap", "200", "--nm-suite", suite, "--progress", "off"]) == ExitCode.OK
    thresholds = root / f"{name}-thresholds.json"
    thresholds.write_text(json.dumps({"version": 1, "floors": rules}))
    page = root / f"{name}.html"
    if gate_file:  # the CI path: gate --json, then report --gate
        gate = root / f"{name}-gate.json"
        main(["gate", str(out), "--thresholds", str(thresholds), "--json", str(gate)])
        flags = ["--gate", str(gate)]
    else:
        flags = ["--thresholds", str(thresholds)]
    assert main(["report", str(out), "--format", "html", "-o", str(page), *flags]) == ExitCode.OK
    return page, json.loads((out / "results.json").read_text())


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, dict]]:
    browser.chromium()  # skip/fail before the sweeps when there is no browser
    root = tmp_path_factory.mktemp("browser")
    return {
        "default": _report(root, "default", "default", {"clean": 50, "emm.avg": 40}, gate_file=True),
        "full-suite": _report(root, "full-suite", "full", {"clean": 50, "emm.avg": 99, "cell:emm/missing=rgb": 99}, gate_file=False),
    }


def _charts(tree: browser.Node) -> list[browser.Node]:
    return [svg for svg in tree.find("svg") if "chart" in svg.classes()]


def _check_charts(tree: browser.Node) -> dict[str, int]:
    counts = {"lines": 0, "heatmap": 0, "bars": 0}
    for chart in _charts(tree):
        kind = chart.attrs.get("data-kind")
        counts[kind] += 1
        assert "viewBox" in chart.attrs or "viewbox" in chart.attrs
        if kind == "lines":
            lines = [n.attrs["data-series"] for n in chart.find("polyline", "series")]
            legend = [n.attrs["data-series"] for n in chart.find("g", "legend-entry")]
            assert lines and lines == legend and len(set(lines)) == len(lines), (lines, legend)
            assert len(lines) == int(chart.attrs["data-lines"]) <= 8
            assert all(len(n.attrs["points"].split()) >= 1 for n in chart.find("polyline", "series"))
        elif kind == "heatmap":
            cells = chart.find("rect", "cell")
            assert cells and chart.find("g", "colour-scale")
            for cell in cells:  # the tooltip names this cell's own row and column
                tip = cell.find("title")[0].all_text()
                assert tip.startswith(f"{cell.attrs['data-row']} / {cell.attrs['data-col']}: "), tip
            assert len({c.attrs["data-col"] for c in cells}) * len({c.attrs["data-row"] for c in cells}) == len(cells)
        elif kind == "bars":
            assert len(chart.find("text", "bar-label")) == len(chart.find("rect", "bar")) == int(chart.attrs["data-bars"])
    return counts


def test_reports_render_in_chromium_verdict_first_with_identifiable_lines_and_are_photographed(pages: dict, tmp_path: Path) -> None:
    """One test for both pages (their sweeps are shared; xdist would otherwise run them twice)."""
    for name in pages:
        _check_page(pages, name, tmp_path)
    for name, (page, _) in pages.items():  # written to tests/artifacts/report-shots/, listed at the end of the run
        for part, height in (("top", 1400), ("page", 12500 if name == "full-suite" else 10500)):
            shot = browser.screenshot(page, browser.SHOTS / f"{name}-{part}.png", tmp_path / "profile", height)
            data = shot.read_bytes()
            assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 60_000


def _check_page(pages: dict, name: str, tmp_path: Path) -> None:
    page, doc = pages[name]
    rendered = browser.render(page, tmp_path / "profile")
    assert rendered.console == []
    tree = browser.parse(rendered.dom)
    body = tree.find("body")[0]
    elements = [n for n in body.children if n.tag != "#text"]
    assert elements[0].tag == "h1" and "verdict" in elements[1].classes()
    verdict = elements[1]
    if name == "default":
        assert "pass" in verdict.classes() and "PASS" in verdict.all_text()
    else:
        assert "fail" in verdict.classes() and "2 of" in verdict.all_text()
        failing = [row.find("code")[0].all_text() for row in verdict.find("tr")[1:]]
        assert failing == ["emm.avg", "cell:emm/missing=rgb"]
    labels = [n.all_text() for n in tree.find("div", "label")]
    assert labels[:4] == ["clean mIoU", "mIoU^Avg EMM", "worst missing set", "worst corruption at s5"]
    ran = tree.find("div", "ran")[0].all_text()
    for word in ("mmss-synth-robust", "ort:cpu", "FP32", "cpu", "synthetic", LIMIT, "seed"):
        assert word in ran
    counts = _check_charts(tree)
    suite = doc["config"]["plan"]["nm_suite"]
    lines = sum(int(c.attrs["data-lines"]) for c in _charts(tree) if c.attrs.get("data-kind") == "lines")
    assert lines == sum(len(names) for names in suite.values())  # every corruption is drawn, once
    assert counts["lines"] >= len(suite) and counts["heatmap"] == 2 and counts["bars"] == 1
    for heading in (n for tag in ("h1", "h2", "h3") for n in tree.find(tag)):
        assert "`" not in heading.all_text()
    _check_gallery(tree, doc)


def _check_gallery(tree: browser.Node, doc: dict) -> None:
    samples = tree.find("div", "sample")
    assert len(samples) == 4
    emm = {CLEAN_ID if not s else f"emm/missing={missing_label(s)}" for s in missing_sets(doc["dataset"]["modalities"])}
    for sample in samples:
        shown = {n.attrs["data-cell"] for n in sample.find("figure") if "data-cell" in n.attrs}
        assert emm <= shown and any(c.startswith("nm/") for c in shown)
        images = sample.find("img")
        assert len(images) >= len(doc["dataset"]["modalities"]) + 1 + len(emm)
        assert all(img.attrs["src"].startswith("data:image/png;base64,") for img in images)
    assert re.search(r"\(index \d+, most hurt\)", tree.find("section")[0].all_text() + "".join(s.all_text() for s in samples))


def test_console_errors_are_caught(tmp_path: Path) -> None:
    """The console check above is real: a page that logs an error is seen to."""
    page = tmp_path / "noisy.html"
    page.write_text('<!DOCTYPE html><html><body><script>console.error("report-broke")</script></body></html>')
    assert any("report-broke" in line for line in browser.render(page, tmp_path / "profile").console)
