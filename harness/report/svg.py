"""Tiny inline-SVG plots for the HTML report (no JavaScript, no network, no plotting
library): a heat map, line charts and horizontal bars. Text is XML-escaped; colours come
from fixed ramps so the same numbers always draw the same picture."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

FONT = 'font-family="system-ui, sans-serif" font-size="11"'
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22")


def _seq_colour(t: float) -> str:
    """White -> dark blue for t in [0, 1]."""
    t = min(max(t, 0.0), 1.0)
    r, g, b = (int(255 + (c - 255) * t) for c in (8, 69, 148))
    return f"#{r:02x}{g:02x}{b:02x}"


def _div_colour(t: float) -> str:
    """Red (t=-1) -> white (0) -> blue (+1)."""
    t = min(max(t, -1.0), 1.0)
    end = (178, 24, 43) if t < 0 else (33, 102, 172)
    r, g, b = (int(255 + (c - 255) * abs(t)) for c in end)
    return f"#{r:02x}{g:02x}{b:02x}"


def heatmap(rows: Sequence[str], cols: Sequence[str], values: Sequence[Sequence[float | None]], *, diverging: bool = False, title: str = "") -> str:
    """Cells coloured by value (sequential over [min, max], or diverging around 0), labelled."""
    cw, ch, left, top = 84, 20, max(60, 7 * max((len(r) for r in rows), default=4)), 40
    flat = [v for row in values for v in row if v is not None]
    lo, hi = (min(flat), max(flat)) if flat else (0.0, 1.0)
    span = max(abs(lo), abs(hi)) or 1.0
    width, height = left + cw * len(cols) + 10, top + ch * len(rows) + 10
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" aria-label="{escape(title)}" {FONT}>']
    parts.append(f'<text x="4" y="14" font-weight="bold">{escape(title)}</text>')
    for j, col in enumerate(cols):
        parts.append(f'<text x="{left + cw * j + cw / 2}" y="{top - 6}" text-anchor="middle">{escape(col)}</text>')
    for i, row in enumerate(rows):
        y = top + ch * i
        parts.append(f'<text x="{left - 4}" y="{y + 14}" text-anchor="end">{escape(row)}</text>')
        for j, value in enumerate(values[i]):
            x = left + cw * j
            if value is None:
                fill, label, ink = "#eeeeee", "—", "#555"
            else:
                t = value / span if diverging else ((value - lo) / (hi - lo) if hi > lo else 0.5)
                fill = _div_colour(t) if diverging else _seq_colour(t)
                label, ink = (f"{value:+.1f}" if diverging else f"{value:.1f}"), ("#fff" if abs(t) > 0.6 else "#000")
            parts.append(f'<rect x="{x}" y="{y}" width="{cw - 1}" height="{ch - 1}" fill="{fill}"><title>{escape(row)} / {escape(col)}: {label}</title></rect>')
            parts.append(f'<text x="{x + cw / 2}" y="{y + 14}" text-anchor="middle" fill="{ink}">{label}</text>')
    parts.append("</svg>")
    return "".join(parts)


def line_chart(series: Mapping[str, Sequence[tuple[float, float | None]]], *, title: str = "", x_label: str = "", y_label: str = "", baseline: float | None = None) -> str:
    """One polyline per series over shared axes; ``baseline`` draws a dashed reference line."""
    w, h, left, top, bottom = 460, 260, 44, 40, 30
    points = [(x, y) for s in series.values() for x, y in s if y is not None]
    ys = [y for _, y in points] + ([baseline] if baseline is not None else [])
    xs = [x for x, _ in points]
    if not points:
        return ""
    pad = max((max(ys) - min(ys)) * 0.08, 1.0)  # zoom on the data, not on zero
    y0, y1 = min(ys) - pad, max(ys) + pad
    x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    legend_w = 8 + 7 * max(len(name) for name in series)
    px = lambda x: left + (x - x0) / (x1 - x0) * (w - left - 10)
    py = lambda y: top + (1 - (y - y0) / ((y1 - y0) or 1.0)) * (h - top - bottom)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w + legend_w}" height="{h}" role="img" aria-label="{escape(title)}" {FONT}>']
    parts.append(f'<text x="4" y="14" font-weight="bold">{escape(title)}</text>')
    parts.append(f'<line x1="{left}" y1="{h - bottom}" x2="{w - 10}" y2="{h - bottom}" stroke="#333"/><line x1="{left}" y1="{top}" x2="{left}" y2="{h - bottom}" stroke="#333"/>')
    for x in sorted(set(xs)):
        parts.append(f'<text x="{px(x):.1f}" y="{h - bottom + 14}" text-anchor="middle">{x:g}</text>')
    for y in (y0, (y0 + y1) / 2, y1):
        parts.append(f'<text x="{left - 4}" y="{py(y) + 4:.1f}" text-anchor="end">{y:.0f}</text>')
    parts.append(f'<text x="{(left + w) / 2}" y="{h - 2}" text-anchor="middle">{escape(x_label)}</text>')
    parts.append(f'<text x="{left - 4}" y="{top - 8}" text-anchor="end">{escape(y_label)}</text>')
    if baseline is not None:
        parts.append(f'<line x1="{left}" y1="{py(baseline):.1f}" x2="{w - 10}" y2="{py(baseline):.1f}" stroke="#888" stroke-dasharray="4 3"><title>clean {baseline:.2f}</title></line>')
    for k, (name, s) in enumerate(series.items()):
        colour = PALETTE[k % len(PALETTE)]
        pts = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in s if y is not None)
        parts.append(f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="2"><title>{escape(name)}</title></polyline>')
        parts.append(f'<rect x="{w + 4}" y="{top + 14 * k}" width="10" height="10" fill="{colour}"/><text x="{w + 18}" y="{top + 14 * k + 9}">{escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def bars(items: dict[str, tuple[float, Sequence[float] | None]], *, title: str = "") -> str:
    """Horizontal bars from a zero line (negative values to the left), with CI whiskers."""
    w, bh, left, top = 520, 22, 80, 24
    values = [v for v, _ in items.values()] + [c for _, ci in items.values() if ci for c in ci]
    lo, hi = min(values + [0.0]), max(values + [0.0]) or 1.0
    scale = lambda v: left + (v - lo) / ((hi - lo) or 1.0) * (w - left - 70)
    h = top + bh * len(items) + 10
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img" aria-label="{escape(title)}" {FONT}>']
    parts.append(f'<text x="4" y="14" font-weight="bold">{escape(title)}</text>')
    zero = scale(0.0)
    for i, (name, (value, ci)) in enumerate(items.items()):
        y = top + bh * i
        x0, x1 = sorted((zero, scale(value)))
        parts.append(f'<text x="{left - 4}" y="{y + 14}" text-anchor="end">{escape(name)}</text>')
        parts.append(f'<rect x="{x0:.1f}" y="{y + 3}" width="{max(x1 - x0, 1):.1f}" height="{bh - 8}" fill="{PALETTE[0] if value >= 0 else PALETTE[1]}"><title>{escape(name)}: {value:+.2f}</title></rect>')
        if ci:
            parts.append(f'<line x1="{scale(ci[0]):.1f}" y1="{y + bh / 2}" x2="{scale(ci[1]):.1f}" y2="{y + bh / 2}" stroke="#000"/>')
        label_x = max(x1, scale(ci[1]) if ci else x1) + 4
        parts.append(f'<text x="{label_x:.1f}" y="{y + 14}">{value:+.2f}</text>')
    parts.append(f'<line x1="{zero:.1f}" y1="{top}" x2="{zero:.1f}" y2="{h - 10}" stroke="#333"/>')
    parts.append("</svg>")
    return "".join(parts)
