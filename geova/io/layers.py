"""Reading territory layers (quarters, zones) from GeoJSON, GeoPackage or Shapefile.

Every layer leaves here as valid MultiPolygons in EPSG:4326 with a code and a name per feature.
A file must say its CRS (or the user must, with ``--crs``): guessing would put a Lambert-93 layer in
the Gulf of Guinea without anybody noticing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError

from geova.core.model import LayerFeature
from geova.io.errors import ImportFailure
from geova.io.limits import AREA_CODE_MAX, MAX_VERTICES_PER_FEATURE, ZONE_KIND_MAX

POLYGONAL = {"Polygon", "MultiPolygon"}


@dataclass
class Layer:
    features: list[LayerFeature]
    notes: list[str]  # CRS used, repairs made


def _open_path(path: Path) -> str:
    """GDAL path for a file, a zipped shapefile or a shapefile folder."""
    if path.suffix.lower() == ".zip":
        return f"/vsizip/{path}"
    return str(path)


def _as_multipolygon(geom: shapely.Geometry) -> shapely.MultiPolygon | None:
    parts = [g for g in shapely.get_parts(geom) if g.geom_type in POLYGONAL and not g.is_empty]
    polys = [p for g in parts for p in (g.geoms if g.geom_type == "MultiPolygon" else [g])]
    return shapely.MultiPolygon(polys) if polys else None


def read_layer(
    path: Path,
    *,
    code_field: str | None,
    name_field: str | None,
    parent_field: str | None = None,
    kind_field: str | None = None,
    crs: str | None = None,
    layer: str | None = None,
    repair: bool = True,
) -> Layer:
    file = str(path)
    if not path.exists():
        raise ImportFailure(file, "file not found")
    try:
        gdf = pyogrio.read_dataframe(_open_path(path), layer=layer)
    except Exception as exc:  # pyogrio raises several GDAL error types
        raise ImportFailure(file, f"cannot be read as a layer: {exc}") from exc
    notes: list[str] = []
    if len(gdf) == 0:
        raise ImportFailure(file, "the layer has no features")
    for option, column in (
        ("--code-field", code_field),
        ("--name-field", name_field),
        ("--parent-field", parent_field),
        ("--kind-field", kind_field),
    ):
        if column is not None and column not in gdf.columns:
            raise ImportFailure(
                file,
                f"{option} '{column}' is not a field of the layer; fields: "
                + ", ".join(c for c in gdf.columns if c != "geometry"),
            )
    if crs:
        try:
            stated = CRS.from_user_input(crs)
        except CRSError as exc:
            raise ImportFailure(file, f"--crs {crs!r} is not a CRS pyproj knows (e.g. EPSG:2154)") from exc
        gdf = gdf.set_crs(stated, allow_override=True)
        notes.append(f"CRS {crs} (stated)")
    elif gdf.crs is None:
        raise ImportFailure(
            file, "the file has no CRS: give it with --crs (e.g. --crs EPSG:2154 for Lambert-93)"
        )
    else:
        notes.append(f"CRS {CRS.from_user_input(gdf.crs).to_string()}")
    if CRS.from_user_input(gdf.crs).is_geographic:
        minx, miny, maxx, maxy = gdf.total_bounds
        if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
            raise ImportFailure(
                file,
                "coordinates are not longitudes/latitudes although the CRS says so: "
                "give the real CRS with --crs (e.g. --crs EPSG:2154)",
            )

    def label(i: int) -> str:
        if name_field and str(gdf[name_field].iloc[i]).strip():
            return f"feature {i + 1} '{gdf[name_field].iloc[i]}'"
        return f"feature {i + 1}"

    # before reprojection and validity checks, which would take minutes on such a feature
    vertices = shapely.get_num_coordinates(gdf.geometry.to_numpy())
    heavy = np.flatnonzero(vertices > MAX_VERTICES_PER_FEATURE)
    if heavy.size:
        i = int(heavy[0])
        raise ImportFailure(
            file,
            f"{int(vertices[i]):,} vertices, more than the {MAX_VERTICES_PER_FEATURE:,} a feature may have "
            "(simplify the layer first, e.g. ogr2ogr -simplify)",
            row=label(i),
        )
    broken = _first_non_finite(gdf.geometry.to_numpy())
    if broken is not None:
        raise ImportFailure(file, "coordinates that are not numbers (NaN or infinite)", row=label(broken))
    try:
        gdf = gdf.to_crs(4326)
    except CRSError as exc:
        raise ImportFailure(file, f"cannot be reprojected to WGS84: {exc}") from exc
    lost = _first_non_finite(gdf.geometry.to_numpy())
    if lost is not None:
        raise ImportFailure(
            file, "coordinates that its CRS cannot place on Earth (is the CRS right?)", row=label(lost)
        )

    features: list[LayerFeature] = []
    seen: dict[str, int] = {}
    attrs = pd.DataFrame(gdf.drop(columns="geometry"))
    for i, geom in enumerate(gdf.geometry.to_numpy()):
        if geom is None or geom.is_empty:
            raise ImportFailure(file, "empty geometry", row=label(i))
        geom = shapely.force_2d(geom)
        if geom.geom_type not in POLYGONAL:
            raise ImportFailure(file, f"{geom.geom_type} where a polygon is expected", row=label(i))
        if not geom.is_valid:
            reason = shapely.is_valid_reason(geom)
            if not repair:
                raise ImportFailure(
                    file, f"invalid polygon ({reason}); re-run without --no-repair to repair it", row=label(i)
                )
            repaired = _as_multipolygon(shapely.make_valid(geom))
            if repaired is None:
                raise ImportFailure(file, f"invalid polygon ({reason}) that cannot be repaired", row=label(i))
            # a self-crossing ring's area is meaningless (a symmetric bow-tie has none at all)
            if geom.area:
                change = f"area changed by {abs(repaired.area - geom.area) / geom.area * 100:.3f} %"
            else:
                change = "the original had no area"
            parts = len(repaired.geoms)
            notes.append(f"repaired {label(i)}: {reason} ({parts} polygon{'s' * (parts > 1)}, {change})")
            geom = repaired
        multi = _as_multipolygon(geom)
        assert multi is not None
        code = str(attrs[code_field].iloc[i]).strip() if code_field else str(i + 1)
        if code in ("", "None", "nan"):
            raise ImportFailure(file, "missing code", row=label(i), field=code_field)
        if code in seen:
            raise ImportFailure(
                file,
                f"code '{code}' already used by feature {seen[code] + 1}",
                row=label(i),
                field=code_field,
            )
        seen[code] = i
        name = str(attrs[name_field].iloc[i]).strip() if name_field else code
        parent = str(attrs[parent_field].iloc[i]).strip() if parent_field else None
        kind = str(attrs[kind_field].iloc[i]).strip() if kind_field else None
        for field_name, value, limit in (  # what the store's columns can hold
            (code_field, code, AREA_CODE_MAX),
            (parent_field, parent, AREA_CODE_MAX),
            (kind_field, kind, ZONE_KIND_MAX),
        ):
            if value and len(value) > limit:
                raise ImportFailure(file, f"longer than {limit} characters", row=label(i), field=field_name)
        props = {str(k): _plain(v) for k, v in attrs.iloc[i].items()}
        features.append(LayerFeature(code, name, multi, parent or None, kind or None, props))
    return Layer(features=features, notes=notes)


def _first_non_finite(geoms: np.ndarray) -> int | None:
    """Index of the first geometry with a NaN or infinite coordinate (GEOS would make a wreck of it:
    bounds ignore NaN, and a reprojection out of a CRS's domain gives infinity)."""
    coords, owner = shapely.get_coordinates(geoms, return_index=True)
    bad = owner[~np.isfinite(coords).all(axis=1)]
    return int(bad[0]) if bad.size else None


def _plain(value: object) -> object:
    """JSON-safe attribute values for the ``properties`` column."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return None  # JSON has no NaN or Infinity: PostgreSQL would refuse the whole layer
    if isinstance(value, int | float | str | bool):
        return value
    return str(value)
