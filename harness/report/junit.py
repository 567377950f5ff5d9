"""JUnit XML, the format every CI shows natively: one test case per cell (report) or per
gate check (gate). Built with the standard library's ElementTree, rendered deterministically."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from xml.etree import ElementTree as ET

from harness.report.results import headline
from harness.report.states import state_kind
from harness.report.view import evaluation_text

Status = Literal["pass", "fail", "error", "skip"]
_STATUS: dict[str, Status] = {"ok": "pass", "failed": "error", "skipped": "skip"}
_LABELS = {"miou": "mIoU"}  # display names of headline figures; others print as their state kind names them


@dataclass(frozen=True)
class Case:
    name: str
    classname: str
    status: Status
    message: str = ""
    seconds: float = 0.0


def render(suite: str, cases: Sequence[Case], properties: Mapping[str, str] | None = None) -> str:
    """A ``<testsuites>`` document with one ``<testsuite>`` (``properties`` as its ``<properties>``)."""
    counts = {s: sum(1 for c in cases if c.status == s) for s in ("fail", "error", "skip")}
    root = ET.Element("testsuites", name="mmharness")
    node = ET.SubElement(
        root, "testsuite", name=suite, tests=str(len(cases)), failures=str(counts["fail"]),
        errors=str(counts["error"]), skipped=str(counts["skip"]), time=f"{sum(c.seconds for c in cases):.3f}",
    )
    if properties:
        listed = ET.SubElement(node, "properties")
        for key, value in properties.items():
            ET.SubElement(listed, "property", name=key, value=value)
    for case in cases:
        item = ET.SubElement(node, "testcase", name=case.name, classname=case.classname, time=f"{case.seconds:.3f}")
        if case.status == "fail":
            ET.SubElement(item, "failure", message=case.message).text = case.message
        elif case.status == "error":
            ET.SubElement(item, "error", message=case.message).text = case.message
        elif case.status == "skip":
            ET.SubElement(item, "skipped", message=case.message)
        elif case.message:
            ET.SubElement(item, "system-out").text = case.message
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def results_junit(doc: Mapping[str, Any]) -> str:
    """One case per cell: ok cells pass (with their headline figure, named: mIoU for segmentation,
    accuracy for VQA probes), failed cells fail with the reason."""
    seconds = doc.get("timing", {}).get("cell_seconds", {})
    cases = []
    for cid, entry in doc["cells"].items():
        value = headline(entry)
        status: Status = _STATUS[entry["status"]]
        primary = state_kind(entry["kind"]).primary
        message = f"{_LABELS.get(primary, primary)} {value:.2f}" if value is not None else (entry.get("reason") or "")
        cases.append(Case(cid, f"mmharness.{entry['scenario']}", status, message, float(seconds.get(cid) or 0.0)))
    evaluation = evaluation_text(doc)
    return render(f"mmharness run {doc['model']['name']}", cases, {"evaluation": evaluation} if evaluation else None)
