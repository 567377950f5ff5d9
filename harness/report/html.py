"""Self-contained HTML report, verdict first: the gate's pass/fail with the failing rules,
the headline figures with CIs and what ran; then what the model saw and predicted (sample
gallery), the missing-modality heat map and tables, NM severity curves as small multiples,
per-class deltas, bias charts, and appended sections (``run --compare``). One file, no
scripts, no external resources: it opens offline and can be attached to a CI run."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from harness.report import svg, view
from harness.report.gallery import Gallery
from harness.report.gallery import render as render_gallery
from harness.report.verdict import Verdict, headlines, what_ran
from harness.scenarios.cells import CLEAN_ID, missing_label, missing_sets

STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:1400px;color:#222;padding:0 1.2em;font-size:15px;line-height:1.4}
h1{font-size:1.7em;margin:.2em 0 .6em}h2{font-size:1.3em;margin:1.6em 0 .5em;border-bottom:1px solid #ddd;padding-bottom:.2em}
h3{font-size:1.08em;margin:1.2em 0 .4em}h4{font-size:.98em;margin:.8em 0 .3em;color:#444}
table{border-collapse:collapse;margin:.5em 0 1.2em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}.note{color:#555;font-style:italic}
code{background:#f2f2f2;padding:0 .25em;border-radius:3px;font-size:.95em}
.warn{background:#fff3f3;border:1px solid #e99;padding:.5em 1em}figure{margin:.8em 0}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 14px;margin:.3em 0}dt{font-weight:bold}dd{margin:0}
svg.chart{max-width:100%;height:auto;display:block}
.verdict{border-radius:6px;padding:.7em 1.1em;margin:.4em 0 1em;font-size:1.05em}
.verdict.pass{background:#e8f6ea;border:2px solid #2e8b3a}.verdict.fail{background:#fdeaea;border:2px solid #c0392b}
.verdict.none{background:#f5f5f5;border:1px dashed #999}.verdict b.status{font-size:1.35em;margin-right:.5em}
.verdict.pass b.status{color:#1e6b29}.verdict.fail b.status{color:#a8281c}.verdict table{margin:.5em 0 .2em;background:#fff}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(220px,1fr));gap:10px;margin:.5em 0 1em}
.card{border:1px solid #ccd;border-radius:6px;padding:.5em .8em;background:#fafbff}.card .label{color:#555;font-size:.9em}
.card .value{font-size:1.8em;font-weight:bold}.card .ci,.card .detail{color:#555;font-size:.88em}
.ran{background:#fafafa;border:1px solid #e3e3e3;border-radius:6px;padding:.5em .9em}
nav{margin:.6em 0 0}nav a{margin-right:1em}
.panels{display:grid;grid-template-columns:repeat(auto-fit,minmax(600px,1fr));gap:12px}
.tiles{display:flex;flex-wrap:wrap;gap:8px;align-items:flex-start}.tile{margin:0;width:132px}
.tile img{width:132px;height:auto;image-rendering:pixelated;border:1px solid #bbb;display:block}
.tile figcaption{font-size:13px;line-height:1.25;margin-top:2px;overflow-wrap:anywhere}.tile.hurt figcaption{color:#b0241a}
.tile.truth img{border-color:#333}.group{display:flex;gap:4px;border:1px solid #ddd;border-radius:5px;padding:4px;background:#fbfbfb}
.sample{border-top:1px solid #e3e3e3;margin-top:.8em}.legend{margin:.4em 0}.swatch{display:inline-block;margin:0 .8em .2em 0;font-size:14px}
.noimg{width:130px;height:130px;border:1px dashed #999;color:#777;font-style:italic;display:flex;align-items:center;justify-content:center}
.swatch i{display:inline-block;width:14px;height:14px;vertical-align:-2px;margin-right:4px;border:1px solid #888}
"""


def inline(text: str) -> str:
    """Escaped text with Markdown's inline `code` and **bold** turned into HTML (titles and
    notes are shared with the Markdown report)."""
    out = escape(text, quote=False)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    return re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", out)


def _table(table: view.Table, level: int = 2) -> str:
    head = "".join(f"<th>{inline(c)}</th>" for c in table.columns)
    body = "".join("<tr>" + "".join(f"<td>{inline(c)}</td>" for c in row) + "</tr>" for row in table.rows)
    note = f'<p class="note">{inline(table.note)}</p>' if table.note else ""
    return f"<h{level}>{inline(table.title)}</h{level}><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{note}"


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


def nm_panels(doc: Mapping[str, Any]) -> list[str]:
    """Small multiples of the NM severity curves: one panel per modality, worst corruption
    first, split into panels of at most ``svg.PANEL_LINES`` lines; y fixed to [0, 100]."""
    curves = view.severity_curves(doc)
    clean = view.cell_miou(doc, CLEAN_ID)
    by_modality: dict[str, dict[str, Any]] = {}
    for key, series in curves.items():
        modality, name = key.split("/", 1)
        by_modality.setdefault(modality, {})[name] = series

    def badness(series: Any) -> float:  # mIoU at the highest severity that ran
        ys = [y for _, y in series if y is not None]
        return ys[-1] if ys else float("inf")

    panels = []
    legend_w = svg.legend_width([name for named in by_modality.values() for name in named])
    for modality, named in by_modality.items():
        ranked = sorted(named.items(), key=lambda item: badness(item[1]))
        n, size = len(ranked), svg.PANEL_LINES
        for start in range(0, n, size):
            part = dict(ranked[start:start + size])
            title = f"{modality}: {n} corruption{'s' if n != 1 else ''}" if n <= size else \
                f"{modality}: corruptions {start + 1}–{start + len(part)} of {n} (worst at the top severity first)"
            panels.append(svg.line_panel(part, title=title, x_label="severity", y_label="mIoU", baseline=clean, legend_w=legend_w))
    return panels


RELIANCE_LABELS = {"multimodal_gain": "multimodal gain (MG)", "perceptual_score": "perceptual score", "blind_gap": "blind gap"}


def _verdict(verdict: Verdict | None) -> str:
    if verdict is None:
        return ('<div class="verdict none" id="verdict"><b class="status">NO GATE</b>no thresholds applied: '
                "<code>mmharness report … --gate gate.json</code> (from <code>mmharness gate … --json gate.json</code>) "
                "or <code>--thresholds FILE</code> shows pass/fail here.</div>")
    if verdict.passed:
        return (f'<div class="verdict pass" id="verdict"><b class="status">PASS</b>all {verdict.checks} gate checks passed '
                f"<span class=\"note\">({escape(verdict.source)})</span></div>")
    rows = "".join(
        f"<tr><td><code>{escape(str(c['metric']))}</code></td><td>{_num(c.get('value'))}</td><td>{escape(str(c.get('rule', '')))} "
        f"{_num(c.get('limit'), 'g')}</td><td>{_num(c.get('baseline'))}</td><td>{escape(str(c.get('detail') or ''))}</td></tr>"
        for c in verdict.failed)
    return (f'<div class="verdict fail" id="verdict"><b class="status">FAIL</b>{len(verdict.failed)} of {verdict.checks} gate checks failed '
            f'<span class="note">({escape(verdict.source)})</span><table class="failing"><thead><tr><th>metric</th><th>value</th>'
            f"<th>rule</th><th>baseline</th><th>detail</th></tr></thead><tbody>{rows}</tbody></table></div>")


def _num(value: Any, spec: str = ".2f") -> str:
    return "—" if value is None else format(value, spec)


def _top(doc: Mapping[str, Any], verdict: Verdict | None) -> str:
    cards = "".join(
        f'<div class="card"><div class="label">{escape(h.label)}</div><div class="value">{escape(h.value)}</div>'
        f'<div class="ci">{escape(h.ci)}</div><div class="detail">{escape(h.detail)}</div></div>' for h in headlines(doc))
    ran = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in what_ran(doc))
    return _verdict(verdict) + f'<div class="cards">{cards}</div><div class="ran"><dl>{ran}</dl></div>'


def render(doc: Mapping[str, Any], extras: Sequence[tuple[str, Sequence[view.Table]]] = (), *,
           verdict: Verdict | None = None, gallery: Gallery | None = None) -> str:
    title = f"mmharness robustness report — {doc['model']['name']}"
    out = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
           f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"]
    out.append(f"<h1>{escape(title)}</h1>{_top(doc, verdict)}")
    failed = view.failed_cells(doc)
    if failed:
        out.append(f'<div class="warn"><b>{len(failed)} cell(s) did not run cleanly</b><ul>' + "".join(f"<li><code>{escape(c)}</code>: {escape(r)}</li>" for c, r in failed) + "</ul></div>")
    segmentation = view.has_segmentation_cells(doc)
    if segmentation:
        out.append('<nav><a href="#samples">samples</a><a href="#missing">missing modalities</a><a href="#noisy">noisy modalities</a>'
                   '<a href="#classes">per class</a><a href="#details">run details</a></nav>')
        out.append(render_gallery(gallery, doc))
    elif doc.get("task") == "vqa":
        from harness.mllm.gallery import render as render_vqa_gallery

        out.append(render_vqa_gallery(gallery, doc))
    out.append('<section id="missing">')
    heat = missing_heatmap(doc)
    if heat:
        out.append(f"<h2>Missing modalities</h2><figure>{heat}</figure>")
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
    out.append('</section><section id="noisy">')
    panels = nm_panels(doc)
    if panels:
        out.append("<h2>Noisy modalities: mIoU vs severity</h2><p class=\"note\">One panel per modality (at most "
                   f"{svg.PANEL_LINES} lines each, the worst first); the legend lists every line with its mIoU at the highest "
                   "severity; the dashed line is clean.</p>")
        out.append('<div class="panels">' + "".join(f"<figure>{p}</figure>" for p in panels) + "</div>")
    for table in view.nm_tables(doc):
        out.append(_table(table))
    out.append('</section><section id="classes">')
    deltas = view.class_deltas_matrix(doc)
    if deltas is not None:
        classes, cols, values = deltas
        out.append("<h2>Per-class IoU change vs clean</h2><figure>" + svg.heatmap(classes, cols, values, diverging=True, title="Δ IoU (percent points)", unit="Δ IoU") + "</figure>")
    out.append("</section>")
    out += _bias(doc)
    for heading, tables in extras:
        out.append(f"<section class=\"extra\"><h2>{inline(heading)}</h2>" + "".join(_table(table, 3) for table in tables) + "</section>")
    out.append('<section id="details"><h2>Run details</h2><dl>' + "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in view.header(doc)) + "</dl></section>")
    out.append("</body></html>\n")
    return "".join(out)


def _bias(doc: Mapping[str, Any]) -> list[str]:
    from harness.mllm.report_view import (  # MLLM probes (issue 8)
        bias_tables,
        reliance_bars,
    )

    out = []
    reliance = {RELIANCE_LABELS.get(k, k.replace("_", " ")): v for k, v in reliance_bars(doc).items()}
    if reliance:
        out.append("<h2>Vision reliance</h2><figure>" + svg.bars(reliance, title="MG, perceptual score, blind gap (95% CI)", unit="percent points") + "</figure>")
    out += [_table(table) for table in bias_tables(doc)]
    return out
