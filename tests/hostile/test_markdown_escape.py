"""A Markdown report pasted into a CI job summary is rendered as HTML: names from the model
and the data (model name, class names, failed-cell reasons) must show as text, not markup."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hostile_cli import cli

from harness.report.md_escape import md_code, md_text, md_title

HOSTILE_MODEL = "<img src=x onerror=alert(1)> [click](http://example.invalid) *bold*"


def test_report_escapes_model_and_class_names(results: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = json.loads((results / "results.json").read_text())
    doc["model"]["name"] = HOSTILE_MODEL
    doc["dataset"]["classes"][1] = "road|<b>x</b>"
    (results / "results.json").write_text(json.dumps(doc))
    outcome = cli(["report", results], capsys)
    assert outcome.code == 0, outcome.err
    md = outcome.out
    assert not re.search(r"(?<!\\)[<\[*]", md.split("\n", 1)[0]), md.split("\n", 1)[0]  # nothing unescaped in the title
    assert "\\<img src=x onerror=alert(1)\\> \\[click\\](http://example.invalid) \\*bold\\*" in md
    assert "road\\|\\<b\\>x\\</b\\>" in md  # the per-class table row stays one cell


@pytest.mark.parametrize(("raw", "shown"), [
    ("depth_holes", "depth_holes"), ("rgb+depth", "rgb+depth"), ("_x_", "\\_x\\_"), ("a\nb", "a b"),
    ("&lt;", "\\&lt;"), ("`x`", "\\`x\\`"), ("~~s~~", "\\~\\~s\\~\\~"),
])
def test_md_text(raw: str, shown: str) -> None:
    assert md_text(raw) == shown


def test_md_code_cannot_be_closed_from_inside() -> None:
    assert md_code("a`b") == "`` a`b ``"
    assert md_code("emm/missing=rgb") == "`emm/missing=rgb`"


@pytest.mark.parametrize(("title", "shown"), [
    ("`int8` (ort:cpu, model.int8.onnx)", "`int8` (ort:cpu, model.int8.onnx)"),  # our code span stays code
    ("`a` vs <b>", "`a` vs \\<b\\>"),  # text around it is still escaped
    ("odd ` tick", "odd \\` tick"),  # an unpaired backtick is text
    ("`x|y` [z]", "`x|y` \\[z\\]"),
])
def test_md_title_keeps_our_code_spans_and_escapes_the_rest(title: str, shown: str) -> None:
    assert md_title(title) == shown
