"""Folium maps that work offline and never inline thousands of markers.

Folium builds the map (Leaflet map, tile layer, layer control, page scaffolding); the layers that
load data call the functions of ``static/js/geova-maps.js`` with JSON options:

- ``GeovaMap``: Leaflet from the app's own static files, and the tile layer the territory
  configured (or none);
- ``RemotePolygons``: quarters or zones fetched as GeoJSON, styled by properties the server
  computed (choropleth colour), with a text tooltip and an optional link;
- ``RemotePoints``: requests of the current view from a bbox- and filter-aware endpoint (points,
  or grid clusters when the view holds too many), clustered with Leaflet.markercluster;
- ``LocationPicker``: a click fills the report form; ``Legend``: what the colours mean.

Layer and quarter names come from layer files and may hold anything. geova-maps.js puts every
text it receives into the page as text (``textContent``); Leaflet's layer control alone writes
names as HTML, so ``GeovaMap`` escapes the name of every layer added to it. The
Content-Security-Policy allows no inline script without this response's nonce, which ``embed``
gives to folium's scripts.
"""

from __future__ import annotations

from typing import Any

import folium
from branca.element import MacroElement
from flask import url_for
from flask_babel import gettext as _
from jinja2 import Template
from markupsafe import escape

from geova.web.security import script_nonce


def _static(path: str) -> str:
    return url_for("static", filename=path)


class GeovaMap(folium.Map):
    """A folium Map with the app's own Leaflet and a configurable tile layer."""

    def __init__(self, tiles_url: str | None, attribution: str, **kwargs: Any):
        # Leaflet takes maxZoom from a tile layer; without tiles the marker-cluster layer needs it
        kwargs.setdefault("maxZoom", 19)
        super().__init__(tiles=None, control_scale=True, **kwargs)
        self.default_js = [
            ("leaflet", _static("vendor/leaflet/leaflet.js")),
            ("geova_maps", _static("js/geova-maps.js")),
        ]
        self.default_css = [("leaflet_css", _static("vendor/leaflet/leaflet.css"))]
        if tiles_url and tiles_url.lower() != "none":
            folium.TileLayer(tiles=tiles_url, attr=attribution, name="basemap", control=False).add_to(self)

    def add_child(self, child: Any, name: str | None = None, index: int | None = None) -> Any:
        """Add ``child``; a layer's name is escaped on the way, whoever made the layer: Leaflet's
        layer control (which lists the map's own layers) sets each name as innerHTML, and a
        quarter called "<img src=x onerror=...>" must show as that text, not run."""
        if isinstance(child, folium.map.Layer):
            child.layer_name = str(escape(child.layer_name))
        return super().add_child(child, name=name, index=index)


class _Call(folium.map.Layer):
    """A layer made by ``geova.<function>(map, options)`` in geova-maps.js."""

    function = ""
    _template = Template(
        """{% macro script(this, kwargs) %}
var {{ this.get_name() }} = geova.{{ this.function }}(
  {{ this._parent.get_name() }}, {{ this.options|tojson }});
{% endmacro %}"""
    )

    def __init__(self, name: str, show: bool, **options: Any):
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = type(self).__name__
        self.options = {"name": name, "show": show, **options}


class RemotePolygons(_Call):
    function = "remotePolygons"

    def __init__(
        self,
        url: str,
        name: str,
        *,
        stroke: str = "#1f4e79",
        fill: str = "#cfd8e3",
        fill_opacity: float = 0.55,
        weight: float = 1.5,
        dash: str | None = None,
        fit: bool = False,
        show: bool = True,
    ):
        super().__init__(
            name,
            show,
            url=url,
            stroke=stroke,
            fill=fill,
            fillOpacity=fill_opacity,
            weight=weight,
            dash=dash,
            fit=fit,
        )


class RemotePoints(_Call):
    function = "remotePoints"

    def __init__(
        self,
        url: str,
        detail_url: str,
        name: str,
        colours: dict[str, str],
        labels: dict[str, str],
        fields: list[tuple[str, str]],
        show: bool = True,
    ):
        super().__init__(
            name,
            show,
            url=url,
            detailUrl=detail_url,
            colours=colours,
            labels=labels,
            fields=[list(f) for f in fields],
            open=str(_("Open the request")),  # the popup's link to the request's page, when it has one
        )

    def render(self, **kwargs: Any) -> None:
        header = self.get_root().header
        for name, path in (
            ("markercluster_css", "vendor/leaflet.markercluster/MarkerCluster.css"),
            ("markercluster_default_css", "vendor/leaflet.markercluster/MarkerCluster.Default.css"),
        ):
            header.add_child(folium.CssLink(_static(path)), name=name)
        header.add_child(
            folium.JavascriptLink(_static("vendor/leaflet.markercluster/leaflet.markercluster.js")),
            name="markercluster_js",
        )
        super().render(**kwargs)


class LocationPicker(MacroElement):
    _template = Template(
        """{% macro script(this, kwargs) %}
geova.pickLocation({{ this._parent.get_name() }}, {{ this.options|tojson }});
{% endmacro %}"""
    )

    def __init__(self, lat_field: str, lon_field: str):
        super().__init__()
        self._name = "LocationPicker"
        self.options = {"lat": lat_field, "lon": lon_field}


class Legend(MacroElement):
    _template = Template(
        """{% macro script(this, kwargs) %}
geova.legend({{ this._parent.get_name() }}, {{ this.title|tojson }}, {{ this.items|tojson }});
{% endmacro %}"""
    )

    def __init__(self, title: str, items: list[tuple[str, str]]):
        super().__init__()
        self._name = "Legend"
        self.title, self.items = title, [list(i) for i in items]


def embed(m: folium.Map) -> dict[str, str]:
    """The map's pieces for a Jinja page: ``head`` (CSS/JS links), ``html`` (its div), ``script``
    (to be wrapped in ``<script nonce="{{ csp_nonce() }}">`` by the template)."""
    figure = m.get_root()
    figure.render()
    nonce = script_nonce()
    head = figure.header.render().replace("<script>", f'<script nonce="{nonce}">')  # folium's inline ones
    return {"head": head, "html": figure.html.render(), "script": figure.script.render()}
