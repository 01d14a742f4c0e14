"""Feature tables written as files: GeoJSON, GeoPackage, French Excel CSV, and their JSON schema.

A feature table is a GeoDataFrame in CRS84 plus a *schema*: the published properties in order, each
with its JSON type (``string``, ``integer``, ``number``, ``date-time`` or ``date``). These writers know
no layer and no database: :mod:`geova.features` reads the layers and hands them here.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from geova.io.exports import to_excel_csv

Schema = Mapping[str, str]  # property -> JSON type


def rfc3339(value: Any) -> str | None:
    """An instant in UTC as RFC 3339 (``2015-01-02T20:33:48Z``)."""
    if value is None or value is pd.NaT:
        return None
    ts = pd.Timestamp(value)
    if ts is pd.NaT:
        return None
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    text = ts.strftime("%Y-%m-%dT%H:%M:%S")
    if ts.microsecond:
        text += f".{ts.microsecond:06d}".rstrip("0")
    return text + "Z"


def _plain(value: Any, kind: str) -> Any:
    if value is None or value is pd.NaT:
        return None
    if kind == "date-time":
        return rfc3339(value)
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def to_features(frame: gpd.GeoDataFrame, schema: Schema, id_property: str) -> list[dict[str, Any]]:
    """GeoJSON features: the schema's properties as plain JSON values (no NaN), the stored geometry."""
    out = []
    for row, geom in zip(frame[list(schema)].to_dict("records"), frame.geometry, strict=True):
        props = {name: _plain(row[name], kind) for name, kind in schema.items()}
        out.append(
            {
                "type": "Feature",
                "id": props[id_property],
                "geometry": shapely.geometry.mapping(geom) if geom is not None else None,
                "properties": props,
            }
        )
    return out


def to_geojson(
    name: str, frame: gpd.GeoDataFrame, schema: Schema, id_property: str, extra: dict[str, Any] | None = None
) -> bytes:
    doc = {
        "type": "FeatureCollection",
        "name": name,
        **(extra or {}),
        "features": to_features(frame, schema, id_property),
    }
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def to_geopackage(name: str, frame: gpd.GeoDataFrame) -> bytes:
    """A GeoPackage file holding the table as layer ``name`` (written by GDAL through pyogrio).
    Instants are UTC date-time fields; the days of a period stay ISO 8601 text (``2015-03-01``)."""
    with tempfile.TemporaryDirectory(prefix="geova-export-") as folder:
        path = Path(folder) / f"{name}.gpkg"
        pyogrio.write_dataframe(frame, path, layer=name, driver="GPKG")
        return path.read_bytes()


def _decimal(value: Any, digits: int) -> str:
    if value is None or (isinstance(value, float | np.floating) and math.isnan(value)):
        return ""
    return f"{float(value):.{digits}f}".replace(".", ",")


def to_csv(frame: gpd.GeoDataFrame, schema: Schema, tz: str) -> str:
    """French Excel CSV (BOM, ``;``, decimal comma, day-first local dates, formulas neutralised by
    :func:`~geova.io.exports.to_excel_csv`). The geometry becomes a longitude and a latitude: the
    point itself, or a point inside a polygon (Excel cannot hold polygons; take the GeoPackage or the
    GeoJSON for shapes)."""
    out = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    for name, kind in schema.items():
        if kind == "date":
            out[name] = pd.to_datetime(out[name]).dt.strftime("%d/%m/%Y").fillna("")
        elif kind == "integer":
            out[name] = out[name].astype("Int64")
    points = frame.geometry.map(
        lambda g: None if g is None else (g if g.geom_type == "Point" else g.point_on_surface())
    )
    out["longitude"] = [_decimal(p.x if p is not None else None, 6) for p in points]
    out["latitude"] = [_decimal(p.y if p is not None else None, 6) for p in points]
    return to_excel_csv(out, tz)


def json_schema(
    name: str, title: str, schema: Schema, geometry: str, id_property: str, id_type: str
) -> dict[str, Any]:
    """The JSON schema of the features (what OGC's ``describedby`` link points to)."""
    props: dict[str, Any] = {}
    for prop, kind in schema.items():
        if prop == id_property and id_type == "integer":
            continue  # the feature's own id: GDAL takes it from the features, twice if listed here
        props[prop] = {"type": "string", "format": kind} if kind in ("date-time", "date") else {"type": kind}
    return {
        "$schema": "https://json-schema.org/draft/2019-09/schema",
        "$id": name,
        "title": title,
        "type": "object",
        "required": ["type", "geometry", "properties"],
        "properties": {
            "type": {"type": "string", "enum": ["Feature"]},
            "id": {"type": id_type},
            "geometry": {"type": "object", "description": f"GeoJSON {geometry} in CRS84"},
            "properties": {"type": "object", "properties": props},
        },
    }
