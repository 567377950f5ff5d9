"""Markdown report: header, failed cells, the EMM table, aggregates, Shapley bars in text,
RMM and NM tables, per-class deltas. Everything comes from ``harness.report.view``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from harness.report import view
from harness.report.md_escape import md_code, md_text, md_title

BAR_WIDTH = 24


def markdown_table(table: view.Table) -> list[str]:
    lines = [f"## {md_title(table.title)}", "", "| " + " | ".join(map(md_text, table.columns)) + " |", "|" + "|".join("---" for _ in table.columns) + "|"]
    lines += ["| " + " | ".join(md_text(cell) for cell in row) + " |" for row in table.rows]
    if table.note:
        lines += ["", f"_{table.note}_"]
    return lines + [""]


def text_bars(items: Mapping[str, tuple[float, Any]]) -> list[str]:
    """Horizontal bars scaled to the largest magnitude; negative values drawn with '-'."""
    peak = max((abs(v) for v, _ in items.values()), default=0.0) or 1.0
    width = max(len(k) for k in items)
    lines = []
    for name, (value, ci) in items.items():
        n = round(BAR_WIDTH * abs(value) / peak)
        bar = ("█" if value >= 0 else "-") * n
        lines.append(f"{name.ljust(width)}  {bar.ljust(BAR_WIDTH)}  {value:+.2f}  {view.ci_text(ci) if ci else ''}".rstrip())
    return lines


def verdict_lines(doc: Mapping[str, Any], verdict: Any) -> list[str]:
    """Gate verdict (when one was given), headline figures with CIs, and what ran."""
    from harness.report.verdict import headlines, what_ran

    lines = []
    if verdict is not None:
        status = "**PASS**" if verdict.passed else f"**FAIL**: {len(verdict.failed)} of {verdict.checks} checks failed"
        lines += [f"**Gate:** {status} ({verdict.source})", ""]
        lines += [f"- `{c['metric']}` = {_num(c.get('value'))} fails `{c.get('rule')} {_num(c.get('limit'), 'g')}` {c.get('detail') or ''}".rstrip()
                  for c in verdict.failed]
        lines += [""] if verdict.failed else []
    heads = headlines(doc)
    if heads:
        lines += ["| " + " | ".join(h.label for h in heads) + " |", "|" + "---|" * len(heads)]
        lines += ["| " + " | ".join(f"**{h.value}** {h.ci} {h.detail}".strip() for h in heads) + " |", ""]
    return lines + ["_" + "; ".join(f"{k}: {v}" for k, v in what_ran(doc)) + "_", ""]


def _num(value: Any, spec: str = ".2f") -> str:
    return "—" if value is None else format(value, spec)


def render(doc: Mapping[str, Any], extras: Sequence[tuple[str, Sequence[view.Table]]] = (), *, verdict: Any = None) -> str:
    lines = [f"# mmharness robustness report — {md_text(doc['model']['name'])}", ""]
    lines += verdict_lines(doc, verdict)
    lines += [f"- **{k}**: {md_text(v)}" for k, v in view.header(doc)] + [""]
    failed = view.failed_cells(doc)
    if failed:
        lines += [f"## ⚠ {len(failed)} cell(s) did not run cleanly", ""] + [f"- {md_code(cid)}: {md_text(reason)}" for cid, reason in failed] + [""]
    for table in (view.emm_table(doc), view.aggregate_table(doc)):
        if table is not None:
            lines += markdown_table(table)
    shapley = view.shapley(doc)
    if shapley:
        lines += ["## Shapley attribution per modality (harness extension)", "", "```"] + text_bars(shapley) + ["```", "",
                  "_φ_m over the EMM table, v(T) = mIoU with only T present, v(∅) = 0; the values sum to the clean mIoU._", ""]
    rmm = view.rmm_table(doc)
    if rmm is not None:
        lines += markdown_table(rmm)
    for table in view.nm_tables(doc):
        lines += markdown_table(table)
    deltas = view.class_delta_table(doc)
    if deltas is not None:
        lines += markdown_table(deltas)
    from harness.mllm.report_view import (  # MLLM probes (issue 8)
        bias_tables,
        reliance_bars,
    )

    for table in bias_tables(doc):
        lines += markdown_table(table)
    bars = reliance_bars(doc)
    if bars:
        lines += ["## Vision reliance (percent points)", "", "```"] + text_bars(bars) + ["```", ""]
    for heading, tables in extras:
        lines += [f"# {heading}", ""]
        for table in tables:
            lines += markdown_table(table)
    return "\n".join(lines).rstrip() + "\n"
