"""Names in a Markdown report are data (class names, model names, cell ids, reasons), and a
report pasted into a CI job summary is rendered as HTML: ``<img onerror=...>``, ``[x](url)``
or a stray ``|`` must show as text, not become markup or break a table."""

from __future__ import annotations

import re

# What acts inline in a table cell or a heading: code, emphasis, links/images, HTML, table
# pipes, strikethrough, entities. An underscore inside a word (depth_holes) is never emphasis
# in GFM, so it stays as written; ``+``, ``#``, ``!`` only act at a line start or before ``[``.
_SPECIAL = re.compile(r"[\\`*\[\]<>|~&]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


def md_text(value: object) -> str:
    """``value`` as inline Markdown text: one line, everything Markdown or HTML would act on escaped."""
    return _escape(" ".join(str(value).split()))


def md_code(value: object) -> str:
    """``value`` as an inline code span that no backtick inside it can close."""
    text = " ".join(str(value).split())
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if longest else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def md_title(value: object) -> str:
    """A table or section title: our own text whose `backticked` spans are code (variant labels,
    cell ids) and everything else plain text; both parts escaped like ``md_text``/``md_code``."""
    parts = " ".join(str(value).split()).split("`")
    if len(parts) % 2 == 0:  # an unpaired backtick: no code spans, all text
        return md_text(value)
    return "".join(md_code(part) if i % 2 else _escape(part) for i, part in enumerate(parts))


def _escape(text: str) -> str:
    return _SPECIAL.sub(lambda match: "\\" + match.group(0), text)
