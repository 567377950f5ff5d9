"""Tiny inline-SVG plots for the HTML report (no JavaScript, no network, no plotting
library): heat maps with a colour scale, line panels for small multiples, horizontal bars.

Every chart is ``<svg class="chart">`` with a ``viewBox`` (it scales to the page), 13 px text,
and machine-checkable structure: each line is a ``polyline.series`` and has exactly one
``.legend-entry`` with the same ``data-series``, so a browser test can prove every line is
identifiable. Colours come from fixed ramps: the same numbers always draw the same picture."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

FONT_PX = 13
CHAR_PX = 7.4  # average advance of a 13 px system-ui glyph, for sizing margins to labels
FONT = f'font-family="system-ui, sans-serif" font-size="{FONT_PX}"'
# Okabe-Ito (colour-blind safe) plus two dark extras; with MARKERS every line of a panel differs.
SERIES = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#332288", "#882255")
MARKERS = ("circle", "square", "triangle", "diamond")
PANEL_LINES = len(SERIES)  # at most this many lines in one panel
POSITIVE, NEGATIVE = "#1f77b4", "#d62728"

Series = Sequence[tuple[float, float | None]]


def text_width(text: str) -> float:
    return CHAR_PX * len(text)


def open_svg(width: float, height: float, title: str, extra: str = "") -> str:
    """A chart root that keeps its aspect ratio and shrinks with the page (CSS max-width)."""
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" '
            f'height="{height:.0f}" role="img" aria-label="{escape(title)}" {FONT}{extra}>'
            f'<text x="4" y="17" font-weight="bold" font-size="15">{escape(title)}</text>')


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


def colour_scale(x: float, y: float, lo: float, hi: float, diverging: bool, unit: str) -> str:
    """A 200 px scale of the heat map's colours with its end and middle values."""
    steps, w = 20, 10
    parts = [f'<g class="colour-scale"><text x="{x - 6}" y="{y + 11}" text-anchor="end">{escape(unit)}</text>']
    for k in range(steps):
        t = k / (steps - 1)
        fill = _div_colour(2 * t - 1) if diverging else _seq_colour(t)
        parts.append(f'<rect x="{x + w * k}" y="{y}" width="{w}" height="12" fill="{fill}"/>')
    parts.append(f'<rect x="{x}" y="{y}" width="{w * steps}" height="12" fill="none" stroke="#999"/>')
    for frac, value in ((0.0, lo), (0.5, (lo + hi) / 2), (1.0, hi)):
        label = f"{value:+.1f}" if diverging else f"{value:.1f}"
        parts.append(f'<text x="{x + w * steps * frac:.0f}" y="{y + 27}" text-anchor="middle">{label}</text>')
    return "".join(parts) + "</g>"


def heatmap(rows: Sequence[str], cols: Sequence[str], values: Sequence[Sequence[float | None]], *, diverging: bool = False,
            title: str = "", unit: str = "mIoU") -> str:
    """Cells coloured by value (sequential over [min, max], or diverging around 0), labelled,
    each with a tooltip naming its own row and column."""
    cw = max(104.0, 18 + 1.12 * max((text_width(c) for c in cols), default=0.0))  # headers are bold
    ch, top = 26, 92
    left = max(70.0, 12 + max((text_width(r) for r in rows), default=0.0))
    flat = [v for row in values for v in row if v is not None]
    lo, hi = (min(flat), max(flat)) if flat else (0.0, 1.0)
    span = max(abs(lo), abs(hi)) or 1.0
    width = max(left + cw * len(cols) + 10, left + 260, text_width(title) * 1.1 + 10)
    height = top + ch * len(rows) + 10
    parts = [open_svg(width, height, title, ' data-kind="heatmap"')]
    parts.append(colour_scale(left, 28, -span if diverging else lo, span if diverging else hi, diverging, unit))
    for j, col in enumerate(cols):
        parts.append(f'<text x="{left + cw * j + cw / 2:.1f}" y="{top - 8}" text-anchor="middle" font-weight="bold">{escape(col)}</text>')
    for i, row in enumerate(rows):
        y = top + ch * i
        parts.append(f'<text x="{left - 6:.1f}" y="{y + 17}" text-anchor="end">{escape(row)}</text>')
        for j, value in enumerate(values[i]):
            column = cols[j]
            x = left + cw * j
            if value is None:
                fill, label, ink = "#eeeeee", "—", "#555"
            else:
                t = value / span if diverging else ((value - lo) / (hi - lo) if hi > lo else 0.5)
                fill = _div_colour(t) if diverging else _seq_colour(t)
                label, ink = (f"{value:+.1f}" if diverging else f"{value:.1f}"), ("#fff" if abs(t) > 0.6 else "#000")
            parts.append(f'<rect class="cell" data-row="{escape(row)}" data-col="{escape(column)}" x="{x:.1f}" y="{y}" width="{cw - 1:.1f}" '
                         f'height="{ch - 1}" fill="{fill}"><title>{escape(row)} / {escape(column)}: {label}</title></rect>')
            parts.append(f'<text x="{x + cw / 2:.1f}" y="{y + 17}" text-anchor="middle" fill="{ink}" pointer-events="none">{label}</text>')
    parts.append("</svg>")
    return "".join(parts)


def marker(shape: str, x: float, y: float, colour: str, tip: str = "") -> str:
    title = f"<title>{escape(tip)}</title>" if tip else ""
    if shape == "circle":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour}">{title}</circle>'
    if shape == "square":
        return f'<rect x="{x - 3.5:.1f}" y="{y - 3.5:.1f}" width="7" height="7" fill="{colour}">{title}</rect>'
    if shape == "triangle":
        return f'<polygon points="{x:.1f},{y - 5:.1f} {x - 4.5:.1f},{y + 3.5:.1f} {x + 4.5:.1f},{y + 3.5:.1f}" fill="{colour}">{title}</polygon>'
    return f'<polygon points="{x:.1f},{y - 5:.1f} {x + 5:.1f},{y:.1f} {x:.1f},{y + 5:.1f} {x - 5:.1f},{y:.1f}" fill="{colour}">{title}</polygon>'


def legend_width(names: Sequence[str]) -> float:
    """Room for a legend of ``names`` (sample line, name, value); panels of one figure share it
    so they scale alike and keep 13 px text."""
    return 40 + max((text_width(f"{name}  100.0") for name in names), default=0.0)


def line_panel(series: Mapping[str, Series], *, title: str, x_label: str = "", y_label: str = "",
               baseline: float | None = None, y_range: tuple[float, float] = (0.0, 100.0), legend_w: float | None = None) -> str:
    """Up to ``PANEL_LINES`` lines on a fixed y range, each with point markers and a legend
    entry (colour, marker, last value); ``baseline`` is a dashed, labelled reference line."""
    if len(series) > PANEL_LINES:
        raise ValueError(f"line_panel: {len(series)} lines; split them into panels of at most {PANEL_LINES}")
    xs = sorted({x for s in series.values() for x, _ in s})
    if not xs:
        return ""
    legend_w = legend_w or legend_width(list(series))
    plot_w, plot_h, left, top, bottom = 320, 230, 46, 52, 40
    width, height = max(left + plot_w + 16 + legend_w, text_width(title) + 20), top + plot_h + bottom
    y0, y1 = y_range
    x0, x1 = xs[0], xs[-1] if xs[-1] > xs[0] else xs[0] + 1
    px = lambda x: left + 10 + (x - x0) / (x1 - x0) * (plot_w - 20)  # noqa: E731
    py = lambda y: top + (1 - (min(max(y, y0), y1) - y0) / (y1 - y0)) * plot_h  # noqa: E731
    parts = [open_svg(width, height, title, f' data-kind="lines" data-lines="{len(series)}"')]
    for k in range(5):
        yv = y0 + (y1 - y0) * k / 4
        parts.append(f'<line x1="{left}" y1="{py(yv):.1f}" x2="{left + plot_w}" y2="{py(yv):.1f}" stroke="#e4e4e4"/>'
                     f'<text x="{left - 6}" y="{py(yv) + 4:.1f}" text-anchor="end">{yv:g}</text>')
    parts.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#333"/>'
                 f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#333"/>')
    for x in xs:
        parts.append(f'<text x="{px(x):.1f}" y="{top + plot_h + 16}" text-anchor="middle">{x:g}</text>')
    parts.append(f'<text x="{left + plot_w / 2}" y="{height - 4}" text-anchor="middle">{escape(x_label)}</text>')
    parts.append(f'<text x="{left - 30}" y="{top - 14}" text-anchor="start" fill="#555">{escape(y_label)}</text>')
    if baseline is not None:
        yb = py(baseline)
        parts.append(f'<line x1="{left}" y1="{yb:.1f}" x2="{left + plot_w}" y2="{yb:.1f}" stroke="#666" stroke-dasharray="5 4"><title>clean {baseline:.2f}</title></line>'
                     f'<text x="{left + plot_w - 4}" y="{yb - 5:.1f}" text-anchor="end" fill="#555">clean {baseline:.1f}</text>')
    lx = left + plot_w + 16
    parts.append(f'<text x="{width - 6:.0f}" y="{top - 14}" text-anchor="end" fill="#555">at {x_label} {xs[-1]:g}</text>')
    for k, (name, s) in enumerate(series.items()):
        colour, shape = SERIES[k % len(SERIES)], MARKERS[k % len(MARKERS)]
        pts = [(x, y) for x, y in s if y is not None]
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)
        parts.append(f'<polyline class="series" data-series="{escape(name)}" points="{path}" fill="none" stroke="{colour}" stroke-width="2.2"><title>{escape(name)}</title></polyline>')
        parts += [marker(shape, px(x), py(y), colour, f"{name} at {x_label} {x:g}: {y:.2f}") for x, y in pts]
        last = f"{pts[-1][1]:.1f}" if pts else "—"
        ly = top + 4 + 20 * k
        parts.append(f'<g class="legend-entry" data-series="{escape(name)}"><line x1="{lx}" y1="{ly}" x2="{lx + 22}" y2="{ly}" stroke="{colour}" stroke-width="2.2"/>'
                     f'{marker(shape, lx + 11, ly, colour)}<text x="{lx + 30}" y="{ly + 4}">{escape(name)}</text>'
                     f'<text x="{width - 6:.0f}" y="{ly + 4}" text-anchor="end" fill="#555">{last}</text></g>')
    parts.append("</svg>")
    return "".join(parts)


def bars(items: Mapping[str, tuple[float, Sequence[float] | None]], *, title: str = "", unit: str = "") -> str:
    """Horizontal bars from a zero line (negative values to the left), with CI whiskers; the
    label column is as wide as the longest label, so no name is cut."""
    bh, top = 28, 32
    left = 16 + max((text_width(name) for name in items), default=40.0)
    plot_w = 560
    w = max(left + plot_w + 80, text_width(title) + 20)
    values = [v for v, _ in items.values()] + [c for _, ci in items.values() if ci for c in ci]
    lo, hi = min(values + [0.0]), max(values + [0.0]) or 1.0
    scale = lambda v: left + (v - lo) / ((hi - lo) or 1.0) * plot_w  # noqa: E731
    h = top + bh * len(items) + 26
    parts = [open_svg(w, h, title, f' data-kind="bars" data-bars="{len(items)}"')]
    zero = scale(0.0)
    for i, (name, (value, ci)) in enumerate(items.items()):
        y = top + bh * i
        x0, x1 = sorted((zero, scale(value)))
        parts.append(f'<text class="bar-label" x="{left - 6:.1f}" y="{y + 17}" text-anchor="end">{escape(name)}</text>')
        tip = f"{name}: {value:+.2f}" + (f" (95% CI {ci[0]:+.2f} … {ci[1]:+.2f})" if ci else "")
        parts.append(f'<rect class="bar" x="{x0:.1f}" y="{y + 4}" width="{max(x1 - x0, 1):.1f}" height="{bh - 8}" '
                     f'fill="{POSITIVE if value >= 0 else NEGATIVE}"><title>{escape(tip)}</title></rect>')
        if ci:
            parts.append(f'<line x1="{scale(ci[0]):.1f}" y1="{y + bh / 2}" x2="{scale(ci[1]):.1f}" y2="{y + bh / 2}" stroke="#000" stroke-width="1.5"/>')
        label_x = max(x1, scale(ci[1]) if ci else x1) + 5
        parts.append(f'<text x="{label_x:.1f}" y="{y + 17}">{value:+.2f}</text>')
    parts.append(f'<line x1="{zero:.1f}" y1="{top}" x2="{zero:.1f}" y2="{h - 24}" stroke="#333"/>')
    if unit:
        parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{h - 6}" text-anchor="middle" fill="#555">{escape(unit)}</text>')
    parts.append("</svg>")
    return "".join(parts)
