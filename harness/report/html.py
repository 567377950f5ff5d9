"""Self-contained HTML report: the Markdown report's tables plus inline SVG plots (EMM/RMM
missing-set heat map, NM severity curves, per-class deltas, Shapley bars). One file, no
scripts, no external resources: it opens offline and can be attached to a CI run."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from harness.report import svg, view
from harness.scenarios.cells import CLEAN_ID, missing_label, missing_sets

STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}.note{color:#555;font-style:italic}
.warn{background:#fff3f3;border:1px solid #e99;padding:.5em 1em}figure{margin:1em 0}dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px}dt{font-weight:bold}
"""


def _table(table: view.Table) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in table.columns)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in table.rows)
    note = f'<p class="note">{escape(table.note)}</p>' if table.note else ""
    return f"<h2>{escape(table.title)}</h2><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{note}"


def missing_heatmap(doc: Mapping[str, Any]) -> str:
    """Rows: missing sets; columns: EMM and each RMM rate (seed mean)."""
    plan = doc["config"]["plan"]
    modalities = doc["dataset"]["modalities"]
    cols, getters = [], []
    if "emm" in plan["scenarios"]:
        cols.append("EMM")
        getters.append(lambda s: view.cell_miou(doc, CLEAN_ID if not s else f"emm/missing={missing_label(s)}"))
    if "rmm" in plan["scenarios"]:
        for rate in plan["rmm_rates"]:
            def rmm(s: tuple[str, ...], rate: float = rate) -> float | None:
                if not s:
                    return view.cell_miou(doc, CLEAN_ID)
                vals = [view.cell_miou(doc, f"rmm/r={rate:g}/missing={missing_label(s)}/seed={k}") for k in range(plan["rmm_seeds"])]
                return None if any(v is None for v in vals) else sum(vals) / len(vals)  # type: ignore[arg-type, misc]
            cols.append(f"RMM r={rate:g}")
            getters.append(rmm)
    if not cols:
        return ""
    sets = missing_sets(modalities)
    rows = [missing_label(s) for s in sets]
    values = [[get(s) for get in getters] for s in sets]
    return svg.heatmap(rows, cols, values, title="mIoU by missing set (rows) and scenario (columns)")


def render(doc: Mapping[str, Any], extras: Sequence[tuple[str, Sequence[view.Table]]] = ()) -> str:
    title = f"mmharness robustness report — {doc['model']['name']}"
    out = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{escape(title)}</title><style>{STYLE}</style></head><body>"]
    out.append(f"<h1>{escape(title)}</h1><dl>" + "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in view.header(doc)) + "</dl>")
    failed = view.failed_cells(doc)
    if failed:
        out.append(f'<div class="warn"><b>{len(failed)} cell(s) did not run cleanly</b><ul>' + "".join(f"<li><code>{escape(c)}</code>: {escape(r)}</li>" for c, r in failed) + "</ul></div>")
    heat = missing_heatmap(doc)
    if heat:
        out.append(f"<figure>{heat}</figure>")
    for table in (view.emm_table(doc), view.aggregate_table(doc)):
        if table is not None:
            out.append(_table(table))
    shapley = view.shapley(doc)
    if shapley:
        out.append("<h2>Shapley attribution per modality (harness extension)</h2><figure>" + svg.bars(shapley, title="φ per modality (mIoU points, 95% CI)") + "</figure>")
        out.append('<p class="note">v(T) = mIoU with only T present, v(∅) = 0; the values sum to the clean mIoU.</p>')
    rmm = view.rmm_table(doc)
    if rmm is not None:
        out.append(_table(rmm))
    curves = view.severity_curves(doc)
    if curves:
        chart = svg.line_chart(curves, title="NM: mIoU vs severity", x_label="severity", y_label="mIoU", baseline=view.cell_miou(doc, CLEAN_ID))
        out.append(f"<figure>{chart}</figure>")
    for table in view.nm_tables(doc):
        out.append(_table(table))
    deltas = view.class_deltas_matrix(doc)
    if deltas is not None:
        classes, cols, values = deltas
        out.append("<h2>Per-class IoU change vs clean</h2><figure>" + svg.heatmap(classes, cols, values, diverging=True, title="Δ IoU (percent points)") + "</figure>")
    from harness.mllm.report_view import (  # MLLM probes (issue 8)
        bias_tables,
        reliance_bars,
    )

    reliance = reliance_bars(doc)
    if reliance:
        out.append("<h2>Vision reliance</h2><figure>" + svg.bars(reliance, title="MG, perceptual score, blind gap (percent points, 95% CI)") + "</figure>")
    for table in bias_tables(doc):
        out.append(_table(table))
    for heading, tables in extras:
        out.append(f"<h1>{escape(heading)}</h1>" + "".join(_table(table) for table in tables))
    out.append("</body></html>\n")
    return "".join(out)
