"""A year-over-year line chart drawn on the server as inline SVG (no JS library)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from markupsafe import Markup, escape

COLORS = ("#c0392b", "#2c6fbb", "#2e8b57", "#d68910", "#7d3c98", "#566573")


def _ticks(low: float, high: float) -> list[float]:
    """Round tick values covering [low, high] (steps of 1, 2, 5 × 10^n)."""
    if high - low < 1e-9:
        low, high = low - 5, high + 5
    raw = (high - low) / 4
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    start = math.floor(low / step) * step
    out = [start]
    while out[-1] < high - 1e-9:
        out.append(out[-1] + step)
    return out


def line_chart(series: Sequence[tuple[str, Mapping[int, float | None]]],
               years: Sequence[int] | None = None, title: str = "",
               width: int = 420, height: int = 200) -> Markup:
    """One line per series over the years (x), scores on y, each point labelled with
    its value; a legend below. Empty when there is nothing to draw."""
    years = sorted(set(years or ()) | {y for _, pts in series for y in pts})
    values = [v for _, pts in series for v in pts.values() if v is not None]
    if not years or not values:
        return Markup("")
    margin = max((max(values) - min(values)) * 0.12, 1.0)  # room for the value labels
    ticks = _ticks(min(values) - margin, max(values) + margin)
    lo, hi = ticks[0], ticks[-1]
    legend_h = 18 * math.ceil(len(series) / 2)
    left, right, top, bottom = 44, 16, 30 if title else 14, 28 + legend_h
    plot_w, plot_h = width - left - right, height - top - bottom
    inset = 28  # the first and last year stand clear of the axes

    def x(i: int) -> float:
        if len(years) == 1:
            return left + plot_w / 2
        return left + inset + (plot_w - 2 * inset) * i / (len(years) - 1)

    def y(v: float) -> float:
        return top + plot_h * (1 - (v - lo) / (hi - lo))

    label = escape(title or "历年得分")
    out = [f'<svg class="yoy-chart" xmlns="http://www.w3.org/2000/svg" width="{width}" '
           f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
           f'aria-label="{label}"><title>{label}</title>',
           '<style>text{font:11px sans-serif;fill:#444}.v{font-size:10px}</style>']
    if title:
        out.append(f'<text x="{left}" y="14" style="font-weight:bold">{escape(title)}</text>')
    for t in ticks:
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{y(t):.1f}" y2="{y(t):.1f}" '
                   f'stroke="#e3e3e3"/><text x="{left - 6}" y="{y(t) + 4:.1f}" '
                   f'text-anchor="end">{t:g}</text>')
    for i, year in enumerate(years):
        out.append(f'<text x="{x(i):.1f}" y="{top + plot_h + 16:.1f}" '
                   f'text-anchor="middle">{year}年</text>')
    for n, (name, pts) in enumerate(series):
        color = COLORS[n % len(COLORS)]
        coords = [(x(i), y(v), v) for i, yr in enumerate(years)
                  if (v := pts.get(yr)) is not None]
        if len(coords) > 1:
            path = " ".join(f"{cx:.1f},{cy:.1f}" for cx, cy, _ in coords)
            out.append(f'<polyline points="{path}" fill="none" stroke="{color}" '
                       'stroke-width="2"/>')
        for cx, cy, v in coords:
            out.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="3.5" fill="{color}"/>'
                       f'<text class="v" x="{cx:.1f}" y="{cy - 7:.1f}" '
                       f'text-anchor="middle">{v:.2f}</text>')
        lx = left + (n % 2) * (plot_w / 2)
        ly = height - legend_h + 18 * (n // 2) + 6
        out.append(f'<rect x="{lx:.1f}" y="{ly - 8:.1f}" width="12" height="3" '
                   f'fill="{color}"/><text x="{lx + 16:.1f}" y="{ly - 3:.1f}">'
                   f'{escape(name[:24])}</text>')
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 - numbers and escaped text only
