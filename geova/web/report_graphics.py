"""The report's map and charts, drawn on the server with geopandas and matplotlib so that they
print: SVG (text kept as text, so a PDF reader finds the names), inlined in the report's HTML.

No browser and no tile server are needed: the report is one self-contained document.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from typing import Any

import geopandas as gpd
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.patches import Patch
from shapely import wkb

from geova.web.queries import NO_DATA, rate_colour

plt.rcParams["svg.hashsalt"] = "geova-report"  # the same figures draw the same SVG
plt.rcParams["svg.fonttype"] = "none"
plt.rcParams["font.family"] = "DejaVu Sans"
_LOCK = threading.Lock()  # pyplot's state is global: one figure at a time


def _svg(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg") :]


def report_map(
    quarters: list[tuple[str, str, bytes]],
    zones: list[tuple[str, str, bytes]],
    rates: dict[str, float | None],
    focus: str | None,
    highlight_zones: set[str],
    legend: list[tuple[str, str]],
    title: str,
) -> str:
    """A choropleth of the quarters by on-time rate (the focused quarter outlined), the priority
    zones drawn over it and the worst ones emphasised; an SVG document."""
    with _LOCK:
        fig, ax = plt.subplots(figsize=(7.2, 6.0))
        if quarters:
            frame = gpd.GeoDataFrame(
                {"code": [q[0] for q in quarters], "name": [q[1] for q in quarters]},
                geometry=[wkb.loads(q[2]) for q in quarters],
                crs="EPSG:4326",
            ).to_crs("EPSG:3857")
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
            zf.boundary.plot(ax=ax, color="#6a1b9a", linewidth=0.6, linestyle="--")
            worst = zf[zf["code"].isin(highlight_zones)]
            if len(worst):
                worst.plot(ax=ax, color="none", edgecolor="#d7191c", linewidth=1.6, hatch="///")
        ax.set_axis_off()
        ax.set_title(title, fontsize=9)
        ax.legend(
            handles=[Patch(facecolor=c, edgecolor="#555555", label=label) for c, label in legend],
            loc="lower left",
            fontsize=6,
            frameon=True,
        )
        return _svg(fig)


def trend_chart(
    months: list[str],
    rates: list[float | None],
    requests: list[int],
    labels: dict[str, str],
    month_label: Callable[[str], str],
) -> str:
    """Requests reported per month (bars) and the on-time rate (line), as SVG."""
    with _LOCK:
        fig, ax = plt.subplots(figsize=(7.2, 2.8))
        x = list(range(len(months)))
        ax.bar(x, requests, color="#c6dbef", label=labels["requests"])
        ax.set_ylabel(labels["requests"], fontsize=7)
        ax.tick_params(labelsize=6)
        ax.set_xticks(x, [month_label(m) for m in months], rotation=45, ha="right")
        ax2 = ax.twinx()
        ys = [r * 100 if r is not None else float("nan") for r in rates]
        ax2.plot(x, ys, color="#1d2733", marker="o", markersize=3, linewidth=1.5, label=labels["rate"])
        ax2.set_ylim(0, 100)
        ax2.set_ylabel(labels["rate"], fontsize=7)
        ax2.tick_params(labelsize=6)
        ax.set_title(labels["title"], fontsize=9)
        handles = [*ax.get_legend_handles_labels()[0], *ax2.get_legend_handles_labels()[0]]
        ax.legend(handles=handles, fontsize=6, loc="upper left")
        return _svg(fig)


def quarter_bars(names: list[str], rates: list[float | None], title: str, axis: str) -> str:
    """The on-time rate of every quarter, as horizontal bars (SVG)."""
    with _LOCK:
        fig, ax = plt.subplots(figsize=(7.2, max(2.0, 0.18 * len(names) + 0.8)))
        values = [r * 100 if r is not None else 0 for r in rates]
        colours = [rate_colour(r) if r is not None else NO_DATA for r in rates]
        ax.barh(range(len(names)), values, color=colours, edgecolor="#555555", linewidth=0.3)
        ax.set_yticks(range(len(names)), names, fontsize=6)
        ax.invert_yaxis()
        ax.set_xlim(0, 100)
        ax.set_xlabel(axis, fontsize=7)
        ax.tick_params(axis="x", labelsize=6)
        ax.set_title(title, fontsize=9)
        return _svg(fig)
