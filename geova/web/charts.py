"""Charts as inline SVG drawn on the server: no JavaScript, no external asset, printable as is.

Every chart scales to its container (``viewBox`` and ``width="100%"``), names itself with a
``<title>`` and a ``<desc>`` (its text alternative, read by screen readers), and gives each value
its own ``<title>`` tooltip. Every piece of text that reaches the SVG is escaped: quarter names
come from layer files and may hold anything.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from markupsafe import Markup, escape

from geova.web.queries import rate_colour

TICKS = (0.0, 0.25, 0.5, 0.75, 1.0)
FONT = 11  # px, in viewBox units
CHAR = 6.2  # average width of a character at FONT, for laying out labels
INK = "#1d2733"
GRID = "#d5dbe1"
# Line colours of the trend chart's series; the city line is INK. Points are filled with the
# rate's class colour (rate_colour), so the series are told apart by their stroke and dash.
SERIES_COLOURS = ("#1f4e79", "#6a1b9a", "#00838f", "#ad1457", "#5d4037", "#2e7d32", "#ef6c00", "#455a64")
DASHES = ("", "6 3", "2 3", "8 3 2 3")


def _f(x: float) -> str:
    """A coordinate, written the same way whatever the locale."""
    return f"{x:.1f}"


def _missing(value: float | None) -> bool:
    return value is None or value != value


def _fit(text: str, width: float) -> str:
    """``text`` cut with an ellipsis to fit ``width`` (the whole text stays in the tooltip)."""
    most = max(int(width / CHAR), 4)
    return text if len(text) <= most else text[: most - 1].rstrip() + "…"


def _open(chart_id: str, css: str, width: float, height: float, title: str, desc: str) -> list[str]:
    cid = escape(chart_id)
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="{escape(css)}" id="{cid}" '
        f'viewBox="0 0 {_f(width)} {_f(height)}" width="100%" preserveAspectRatio="xMinYMin meet" '
        f'role="img" aria-labelledby="{cid}-title {cid}-desc" font-size="{FONT}" '
        f'font-family="system-ui, sans-serif">',
        f'<title id="{cid}-title">{escape(title)}</title>',
        f'<desc id="{cid}-desc">{escape(desc)}</desc>',
    ]


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None  # a rate, 0 to 1; None when nothing was judged
    tooltip: str  # the full text of the bar's tooltip


def rate_bars(
    bars: Sequence[Bar],
    *,
    chart_id: str,
    title: str,
    desc: str,
    axis_label: str,
    tick_label: Callable[[float], str],
    value_label: Callable[[float | None], str],
    reference: tuple[float, str] | None = None,
    width: float = 640,
) -> Markup:
    """A horizontal bar per item (one row each, so long quarter names stay readable), coloured with
    the rate's class; ``reference`` draws a dashed line (e.g. the city's rate) across the bars."""
    row, bar_h, top, bottom = 18.0, 12.0, 8.0, 40.0
    longest = max((len(b.label) for b in bars), default=4)
    label_w = min(max(longest * CHAR + 8, 60), width * 0.32)
    value_w = 52.0
    plot_w = width - label_w - value_w
    height = top + row * max(len(bars), 1) + bottom
    x0, y_axis = label_w, top + row * max(len(bars), 1)
    out = _open(chart_id, "chart bar-chart", width, height, title, desc)
    out.append('<g class="grid">')
    for t in TICKS:
        x = x0 + t * plot_w
        out.append(
            f'<line x1="{_f(x)}" y1="{_f(top)}" x2="{_f(x)}" y2="{_f(y_axis)}" stroke="{GRID}" />'
            f'<text x="{_f(x)}" y="{_f(y_axis + 13)}" text-anchor="middle">{escape(tick_label(t))}</text>'
        )
    out.append("</g>")
    out.append(
        f'<text class="axis-label" x="{_f(x0 + plot_w / 2)}" y="{_f(height - 6)}" '
        f'text-anchor="middle">{escape(axis_label)}</text>'
    )
    for i, b in enumerate(bars):
        y = top + i * row + (row - bar_h) / 2
        w = 0.0 if _missing(b.value) else max(min(float(b.value or 0), 1.0), 0.0) * plot_w
        colour = rate_colour(b.value)
        tip = escape(b.tooltip)
        out.append(
            f'<g class="bar"><title>{tip}</title>'
            f'<text x="{_f(x0 - 6)}" y="{_f(y + bar_h - 2)}" text-anchor="end">'
            f"{escape(_fit(b.label, label_w - 8))}</text>"
            f'<rect x="{_f(x0)}" y="{_f(y)}" width="{_f(w)}" height="{_f(bar_h)}" fill="{colour}" '
            f'stroke="#7b8794" stroke-width="0.5" />'
            f'<text x="{_f(x0 + w + 4)}" y="{_f(y + bar_h - 2)}">{escape(value_label(b.value))}</text></g>'
        )
    out.append(
        f'<line x1="{_f(x0)}" y1="{_f(top)}" x2="{_f(x0)}" y2="{_f(y_axis)}" stroke="{INK}" />'
        f'<line x1="{_f(x0)}" y1="{_f(y_axis)}" x2="{_f(x0 + plot_w)}" y2="{_f(y_axis)}" stroke="{INK}" />'
    )
    if reference is not None and not _missing(reference[0]):
        x = x0 + max(min(reference[0], 1.0), 0.0) * plot_w
        out.append(
            f'<g class="reference"><title>{escape(reference[1])}</title>'
            f'<line x1="{_f(x)}" y1="{_f(top - 4)}" x2="{_f(x)}" y2="{_f(y_axis)}" stroke="{INK}" '
            f'stroke-width="1.5" stroke-dasharray="4 3" /></g>'
        )
    out.append("</svg>")
    return Markup("".join(out))


@dataclass(frozen=True)
class Series:
    label: str
    values: dict[str, float | None]  # x key (e.g. "2015-03") -> rate
    tooltips: dict[str, str] = field(default_factory=dict)
    colour: str = INK
    dash: str = ""
    emphasis: bool = False  # drawn thicker (the city)


def rate_lines(
    keys: Sequence[str],
    key_labels: Sequence[str],
    series: Sequence[Series],
    *,
    chart_id: str,
    title: str,
    desc: str,
    axis_label: str,
    tick_label: Callable[[float], str],
    width: float = 640,
    height: float = 280,
) -> Markup:
    """A line per series across ``keys`` (months), 0 to 100 % on the y axis; a gap where a month
    has no judged request; each point filled with its rate's class colour, with its tooltip.
    A label may hold a second line after a newline (a month's year, say)."""
    left, right, top = 48.0, 12.0, 10.0
    legend_h = 16.0 * ((len(series) + 2) // 3)
    bottom = 46.0 + legend_h
    plot_w, plot_h = width - left - right, height - top - bottom
    n = len(keys)
    step = plot_w / n if n else plot_w

    def x_of(i: int) -> float:
        return left + step * (i + 0.5)

    def y_of(v: float) -> float:
        return top + (1 - max(min(v, 1.0), 0.0)) * plot_h

    out = _open(chart_id, "chart line-chart", width, height, title, desc)
    out.append('<g class="grid">')
    for t in TICKS:
        y = y_of(t)
        out.append(
            f'<line x1="{_f(left)}" y1="{_f(y)}" x2="{_f(left + plot_w)}" y2="{_f(y)}" stroke="{GRID}" />'
            f'<text x="{_f(left - 5)}" y="{_f(y + 4)}" text-anchor="end">{escape(tick_label(t))}</text>'
        )
    every = max(1, math.ceil(30 / step))  # labels at least ~30 units apart
    for i, label in enumerate(key_labels):
        if i % every == 0:
            lines = label.split("\n")  # a second line (the year) under the first
            spans = "".join(
                f'<tspan x="{_f(x_of(i))}" dy="{0 if j == 0 else 12}">{escape(text)}</tspan>'
                for j, text in enumerate(lines[:2])
            )
            out.append(
                f'<text x="{_f(x_of(i))}" y="{_f(top + plot_h + 14)}" text-anchor="middle">{spans}</text>'
            )
    out.append("</g>")
    out.append(
        f'<line x1="{_f(left)}" y1="{_f(top)}" x2="{_f(left)}" y2="{_f(top + plot_h)}" stroke="{INK}" />'
        f'<line x1="{_f(left)}" y1="{_f(top + plot_h)}" x2="{_f(left + plot_w)}" y2="{_f(top + plot_h)}" '
        f'stroke="{INK}" />'
        f'<text class="axis-label" x="12" y="{_f(top + plot_h / 2)}" text-anchor="middle" '
        f'transform="rotate(-90 12 {_f(top + plot_h / 2)})">{escape(axis_label)}</text>'
    )
    for s in series:
        path, pen_down = [], False
        for i, k in enumerate(keys):
            v = s.values.get(k)
            if _missing(v):
                pen_down = False
                continue
            path.append(f"{'L' if pen_down else 'M'}{_f(x_of(i))} {_f(y_of(float(v)))}")  # type: ignore[arg-type]
            pen_down = True
        dash = f' stroke-dasharray="{escape(s.dash)}"' if s.dash else ""
        out.append(f'<g class="series"><title>{escape(s.label)}</title>')
        if path:
            out.append(
                f'<path d="{" ".join(path)}" fill="none" stroke="{escape(s.colour)}" '
                f'stroke-width="{2.5 if s.emphasis else 1.5}"{dash} />'
            )
        for i, k in enumerate(keys):
            v = s.values.get(k)
            if _missing(v):
                continue
            out.append(
                f'<circle class="point" cx="{_f(x_of(i))}" cy="{_f(y_of(float(v)))}" '  # type: ignore[arg-type]
                f'r="{4 if s.emphasis else 3}" fill="{rate_colour(v)}" stroke="{escape(s.colour)}">'
                f"<title>{escape(s.tooltips.get(k, ''))}</title></circle>"
            )
        out.append("</g>")
    # legend under the x axis, three entries a line
    for j, s in enumerate(series):
        lx = left + (j % 3) * (plot_w / 3)
        ly = top + plot_h + 44 + 16 * (j // 3)
        dash = f' stroke-dasharray="{escape(s.dash)}"' if s.dash else ""
        out.append(
            f'<g class="legend-entry">'
            f'<line x1="{_f(lx)}" y1="{_f(ly - 4)}" x2="{_f(lx + 22)}" y2="{_f(ly - 4)}" '
            f'stroke="{escape(s.colour)}" stroke-width="{2.5 if s.emphasis else 1.5}"{dash} />'
            f'<text x="{_f(lx + 27)}" y="{_f(ly)}">{escape(_fit(s.label, plot_w / 3 - 32))}</text></g>'
        )
    out.append("</svg>")
    return Markup("".join(out))


def series_style(index: int) -> tuple[str, str]:
    """The stroke colour and dash of the ``index``-th selected quarter."""
    return SERIES_COLOURS[index % len(SERIES_COLOURS)], DASHES[(index // len(SERIES_COLOURS)) % len(DASHES)]
