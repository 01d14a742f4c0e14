"""The report's map and charts, drawn on the server with geopandas and matplotlib so that they
print: SVG (text kept as text, so a PDF reader finds the names), inlined in the report's HTML.

No browser and no tile server are needed: the report is one self-contained document.
"""

from __future__ import annotations

import io
import re
import threading
from typing import Any

import geopandas as gpd
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from shapely import wkb

from geova.web.queries import NO_DATA, rate_colour

plt.rcParams["svg.hashsalt"] = "geova-report"  # the same figures draw the same SVG
plt.rcParams["svg.fonttype"] = "none"
plt.rcParams["font.family"] = "DejaVu Sans"
_LOCK = threading.Lock()  # pyplot's state is global: one figure at a time
BAR_COLOUR, LINE_COLOUR = "#c6dbef", "#1d2733"
VACANCY_COLOUR = "#b15928"
SIMPLIFY_M = 15.0


def _svg(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg")  # laid out by the figure's constrained layout: drawn once
    plt.close(fig)
    text = buf.getvalue()
    svg = text[text.index("<svg") :]
    # sized by the page (width 100 %), in proportion through the viewBox alone
    head, rest = svg.split(">", 1)
    head = re.sub(r'\s(width|height)="[^"]*"', "", head)
    return f'{head} preserveAspectRatio="xMidYMid meet">{rest}'


def report_map(
    quarters: list[tuple[str, str, bytes]],
    zones: list[tuple[str, str, bytes]],
    rates: dict[str, float | None],
    focus: str | None,
    highlight_zones: set[str],
) -> str:
    """A choropleth of the quarters by on-time rate (the focused quarter outlined), the priority
    zones drawn over it and the worst ones emphasised; an SVG document without words but the
    quarters' names (title and legend are the page's), so that one drawing serves every language."""
    with _LOCK:
        fig, ax = plt.subplots(figsize=(7.2, 6.0), layout="constrained")
        if quarters:
            frame = gpd.GeoDataFrame(
                {"code": [q[0] for q in quarters], "name": [q[1] for q in quarters]},
                geometry=[wkb.loads(q[2]) for q in quarters],
                crs="EPSG:4326",
            ).to_crs("EPSG:3857")
            # a printed map needs no detail below ~15 m: lighter SVG, faster drawing
            frame["geometry"] = frame.geometry.simplify(SIMPLIFY_M, preserve_topology=True)
            frame["colour"] = [rate_colour(rates.get(c)) for c in frame["code"]]
            if focus:
                frame.loc[frame["code"] != focus, "colour"] = "#f2f2f2"
            frame.plot(ax=ax, color=frame["colour"], edgecolor="#555555", linewidth=0.5)
            if focus:
                mine = frame[frame["code"] == focus]
                mine.boundary.plot(ax=ax, color="#1d2733", linewidth=2.0)
                x0, y0, x1, y1 = mine.total_bounds
                pad = max(x1 - x0, y1 - y0) * 0.15
                ax.set_xlim(x0 - pad, x1 + pad)
                ax.set_ylim(y0 - pad, y1 + pad)
            for _, row in frame.iterrows():
                if focus and row["code"] != focus:
                    continue
                point = row.geometry.representative_point()
                ax.annotate(row["name"], (point.x, point.y), ha="center", fontsize=5.5, color="#1d2733")
        if zones:
            zf = gpd.GeoDataFrame(
                {"code": [z[0] for z in zones]}, geometry=[wkb.loads(z[2]) for z in zones], crs="EPSG:4326"
            ).to_crs("EPSG:3857")
            zf["geometry"] = zf.geometry.simplify(SIMPLIFY_M, preserve_topology=True)
            zf.boundary.plot(ax=ax, color="#6a1b9a", linewidth=0.6, linestyle="--")
            worst = zf[zf["code"].isin(highlight_zones)]
            if len(worst):
                worst.plot(ax=ax, color="none", edgecolor="#d7191c", linewidth=1.6, hatch="///")
        ax.set_axis_off()
        return _svg(fig)


def trend_chart(months: list[str], rates: list[float | None], requests: list[int]) -> str:
    """Requests reported per month (bars, left axis) and the on-time rate in % (line, right axis),
    as SVG; months are written 2015-06, so one drawing serves every language (the page says what
    the axes are)."""
    with _LOCK:
        fig, ax = plt.subplots(figsize=(7.2, 2.8), layout="constrained")
        x = list(range(len(months)))
        ax.bar(x, requests, color=BAR_COLOUR)
        ax.tick_params(labelsize=6)
        ax.set_xticks(x, months, rotation=45, ha="right")
        ax2 = ax.twinx()
        ys = [r * 100 if r is not None else float("nan") for r in rates]
        ax2.plot(x, ys, color=LINE_COLOUR, marker="o", markersize=3, linewidth=1.5)
        ax2.set_ylim(0, 100)
        ax2.set_ylabel("%", fontsize=7)
        ax2.tick_params(labelsize=6)
        return _svg(fig)


def quarter_bars(names: list[str], rates: list[float | None]) -> str:
    """The on-time rate (%) of every quarter, as horizontal bars (SVG)."""
    with _LOCK:
        fig, ax = plt.subplots(figsize=(7.2, max(2.0, 0.18 * len(names) + 0.8)), layout="constrained")
        values = [r * 100 if r is not None else 0 for r in rates]
        colours = [rate_colour(r) if r is not None else NO_DATA for r in rates]
        ax.barh(range(len(names)), values, color=colours, edgecolor="#555555", linewidth=0.3)
        ax.set_yticks(range(len(names)), names, fontsize=6)
        ax.invert_yaxis()
        ax.set_xlim(0, 100)
        ax.set_xlabel("%", fontsize=7)
        ax.tick_params(axis="x", labelsize=6)
        return _svg(fig)


def economy_chart(months: list[str], vacancy: list[float | None], rates: list[float | None]) -> str:
    """A commercial zone's vacancy rate of shop premises (%, dashed) and on-time rate (%, solid)
    month by month, as SVG, on one 0-100 axis; months are written 2015-06 (the page gives the key)."""
    with _LOCK:
        fig, ax = plt.subplots(figsize=(6.0, 2.2), layout="constrained")
        x = list(range(len(months)))
        nan = float("nan")
        ax.plot(
            x,
            [v if v is not None else nan for v in vacancy],
            color=VACANCY_COLOUR,
            marker="s",
            markersize=3,
            linewidth=1.5,
            linestyle="--",
        )
        ax.plot(
            x,
            [r * 100 if r is not None else nan for r in rates],
            color=LINE_COLOUR,
            marker="o",
            markersize=3,
            linewidth=1.5,
        )
        ax.set_ylim(0, 100)
        ax.set_ylabel("%", fontsize=7)
        ax.set_xticks(x, months, rotation=45, ha="right")
        ax.tick_params(labelsize=6)
        return _svg(fig)
