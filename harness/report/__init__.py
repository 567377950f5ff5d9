"""results.json (schema, IO, merge, derived figures) and its renderings: Markdown, HTML, JUnit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from harness.errors import ConfigError

if TYPE_CHECKING:
    from harness.report.view import Table

FORMATS = ("md", "html", "junit")


Section = tuple[str, Sequence["Table"]]  # a heading and its tables, from a file beside results.json


def render_report(doc: Mapping[str, Any], fmt: str, extras: Sequence[Section] = (), *, verdict: Any = None, gallery: Any = None) -> str:
    """The report of ``doc`` in ``fmt`` (md, html or junit); ``extras`` are appended sections
    (e.g. ``run --compare``'s deltas) that Markdown and HTML show and JUnit leaves out;
    ``verdict`` (``harness.report.verdict``) heads Markdown and HTML, ``gallery`` (kept
    samples, ``harness.report.gallery``) is drawn by HTML only."""
    if fmt == "md":
        from harness.report.markdown import render
    elif fmt == "html":
        from harness.report.html import render
    elif fmt == "junit":
        from harness.report.junit import results_junit as render
    else:
        raise ConfigError(f"--format: unknown report format {fmt!r} (available: {', '.join(FORMATS)})")
    if fmt == "junit":
        return render(doc)
    if fmt == "html":
        return render(doc, extras, verdict=verdict, gallery=gallery)
    return render(doc, extras, verdict=verdict)
