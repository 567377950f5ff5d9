"""Names in a Markdown report are data (class names, model names, cell ids, reasons), and a
report pasted into a CI job summary is rendered as HTML: ``<img onerror=...>``, ``[x](url)``
or a stray ``|`` must show as text, not become markup or break a table."""

from __future__ import annotations

import re

_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~&$])")


def md_text(value: object) -> str:
    """``value`` as inline Markdown text: one line, every punctuation Markdown or HTML acts on escaped."""
    return _SPECIAL.sub(r"\\\1", " ".join(str(value).split()))


def md_code(value: object) -> str:
    """``value`` as an inline code span that no backtick inside it can close."""
    text = " ".join(str(value).split())
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if longest else ""
    return f"{fence}{pad}{text}{pad}{fence}"
