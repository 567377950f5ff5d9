"""results.json (schema, IO, merge, derived figures) and its renderings: Markdown, HTML, JUnit."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.errors import ConfigError

FORMATS = ("md", "html", "junit")


def render_report(doc: Mapping[str, Any], fmt: str) -> str:
    """The report of ``doc`` in ``fmt`` (md, html or junit)."""
    if fmt == "md":
        from harness.report.markdown import render
    elif fmt == "html":
        from harness.report.html import render
    elif fmt == "junit":
        from harness.report.junit import results_junit as render
    else:
        raise ConfigError(f"--format: unknown report format {fmt!r} (available: {', '.join(FORMATS)})")
    return render(doc)
