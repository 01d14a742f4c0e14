"""The published layers as feature tables: what OGC API – Features and the downloads serve.

Four layers, each a table of properties with a geometry in CRS84 (longitude, latitude):

- ``quarters``: code, name, level, parent (the parent quarter's code);
- ``zones``: code, name, kind;
- ``interventions``: id, source, source_id, category, reported_at, due_at (under the headline norm),
  resolved_at, status, state (under the headline norm, now), quarter, address, description;
- ``quarter_results``: each top-level quarter with the evaluation of a deadline norm over a period
  (by default the headline norm over the 12 months up to the month of the latest report).

This service sits above the store and the file formats, next to :mod:`geova.evaluation`: it reads
rows through the store's read model (:mod:`geova.store.layer_reads`), adds what the evaluation
computes (a request's due date and state, a quarter's results), and applies what the caller may see
(:class:`Visibility`: quarters, personal fields), so that /ogc and /exports cannot differ. Pages read
only their rows (SQL LIMIT/OFFSET, verdicts of those rows only); whole-layer reads are capped at
:data:`MAX_EXPORT_FEATURES` and refused beyond it with a message saying how to narrow them.

Its shape follows pygeoapi's feature provider (``query`` with offset/limit/bbox/datetime/properties,
``get`` by identifier, ``fields``) so that it maps one to one onto OGC API – Features.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime

import geopandas as gpd
import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine

from geova.config import DEFAULT_TIMEZONE
from geova.core.evaluate import evaluate_deadline
from geova.core.norms import Norm
from geova.evaluation import evaluate, territory_of
from geova.io import feature_formats
from geova.store import layer_reads
from geova.store.layer_reads import Box, LayerFilter
from geova.store.records import RecordFilter, load_records
from geova.store.referential import deadline_norms, headline_norm
from geova.store.status import settings

LAYERS = ("quarters", "zones", "interventions", "quarter_results")
RESULT_COUNTS = (
    "requests",
    "on_time",
    "late",
    "open_overdue",
    "open_at_risk",
    "open_in_time",
    "no_deadline",
    "excluded",
)
# property -> JSON type ("string", "integer", "number", "date-time", "date")
SCHEMAS: dict[str, dict[str, str]] = {
    "quarters": {"code": "string", "name": "string", "level": "integer", "parent": "string"},
    "zones": {"code": "string", "name": "string", "kind": "string"},
    "interventions": {
        "id": "integer",
        "source": "string",
        "source_id": "string",
        "category": "string",
        "reported_at": "date-time",
        "due_at": "date-time",
        "resolved_at": "date-time",
        "status": "string",
        "state": "string",
        "quarter": "string",
        "address": "string",
        "description": "string",
    },
    "quarter_results": {
        "code": "string",
        "name": "string",
        "norm": "string",
        "period_from": "date",
        "period_to": "date",
        **dict.fromkeys(RESULT_COUNTS, "integer"),
        "on_time_rate": "number",
        "median_hours": "number",
        "p90_hours": "number",
    },
}
PERSONAL = ("address", "description")  # free text that may name or locate a person
ID_PROPERTY = {"quarters": "code", "zones": "code", "interventions": "id", "quarter_results": "code"}
SOURCE = {
    "quarters": "quarters",
    "zones": "zones",
    "interventions": "interventions",
    "quarter_results": "quarters",
}
# properties a client may filter on with ?name=value (pushed down into the SQL)
QUERYABLES: dict[str, tuple[str, ...]] = {
    "quarters": layer_reads.FILTERABLE["quarters"],
    "zones": layer_reads.FILTERABLE["zones"],
    "interventions": layer_reads.FILTERABLE["interventions"],
    "quarter_results": ("code",),
}
TITLES = {
    "quarters": "Quarters",
    "zones": "Priority zones",
    "interventions": "Intervention requests",
    "quarter_results": "Results per quarter",
}
GEOMETRY = {"quarters": "MultiPolygon", "zones": "MultiPolygon", "interventions": "Point"}
MAX_EXPORT_FEATURES = 50_000


@dataclass(frozen=True)
class Query:
    """Which features to read."""

    bbox: Box | None = None  # CRS84; minx > maxx crosses the antimeridian
    start: pd.Timestamp | None = None  # inclusive, aware
    end: pd.Timestamp | None = None  # inclusive, aware
    equals: tuple[tuple[str, str | int], ...] = ()  # (queryable property, value)
    feature_id: str | int | None = None


@dataclass(frozen=True)
class Visibility:
    """What the caller may see of the requests (the web's access rule, as plain values)."""

    quarters: tuple[str, ...] | None = None  # None: every quarter
    personal: bool = True  # address and description


@dataclass(frozen=True)
class Results:
    """The evaluation a ``quarter_results`` layer shows: a deadline norm over local days."""

    norm: Norm | None
    start: pd.Timestamp  # local midnight, inclusive
    end: pd.Timestamp  # local midnight, exclusive
    as_of: pd.Timestamp

    @property
    def last_day(self) -> date:
        return (self.end - pd.Timedelta(days=1)).date()


@dataclass
class Page:
    matched: int
    frame: gpd.GeoDataFrame = field(repr=False)


class LayerError(ValueError):
    """A request the layer cannot answer (unknown layer or norm, a period that ends before it starts)."""


class TooManyFeatures(LayerError):
    """A whole-layer read larger than :data:`MAX_EXPORT_FEATURES`."""

    def __init__(self, layer: str, matched: int, cap: int):
        super().__init__(
            f"{matched} features of {layer} match, and a download holds at most {cap}: narrow it with "
            f"bbox, datetime or a property filter, or page through /ogc/collections/{layer}/items"
        )
        self.matched = matched
        self.cap = cap


def properties(layer: str, visibility: Visibility | None = None) -> dict[str, str]:
    """The published properties of a layer for this caller (the personal ones only when allowed)."""
    schema = SCHEMAS[layer]
    if layer == "interventions" and visibility is not None and not visibility.personal:
        return {k: v for k, v in schema.items() if k not in PERSONAL}
    return dict(schema)


def json_schema(layer: str, visibility: Visibility | None = None) -> dict[str, object]:
    return feature_formats.json_schema(
        layer,
        TITLES[layer],
        properties(layer, visibility),
        GEOMETRY.get(layer, "MultiPolygon"),
        ID_PROPERTY[layer],
        SCHEMAS[layer][ID_PROPERTY[layer]],
    )


# -- the headline norm and the default period ---------------------------------------------------


def timezone(conn: Connection) -> str:
    return settings(conn).get("timezone", DEFAULT_TIMEZONE)


def results_for(
    engine: Engine,
    norm_code: str | None = None,
    first_day: date | None = None,
    last_day: date | None = None,
    as_of: pd.Timestamp | None = None,
    months: int = 12,
) -> Results:
    """The evaluation to show: the given deadline norm (default: the headline norm) over local days
    ``first_day`` to ``last_day`` included (default: the ``months`` months up to the end of the
    month of the latest report, as the web pages do: the data may be older than today)."""
    as_of = as_of if as_of is not None else pd.Timestamp(datetime.now(UTC))
    with engine.connect() as conn:
        tz = timezone(conn)
        if norm_code:
            norm = {n.code: n for n in deadline_norms(conn)}.get(norm_code)
            if norm is None:
                raise LayerError(f"unknown or inactive deadline norm: {norm_code}")
        else:
            norm = headline_norm(conn)
        span = layer_reads.report_span(conn)
    local_now = as_of.tz_convert(tz)
    anchor = min(local_now, pd.Timestamp(span[1]).tz_convert(tz)) if span is not None else local_now
    end = (
        pd.Timestamp(last_day).tz_localize(tz) + pd.Timedelta(days=1)
        if last_day
        else (anchor.normalize() + pd.offsets.MonthBegin(1)).normalize()
    )
    start = pd.Timestamp(first_day).tz_localize(tz) if first_day else end - pd.DateOffset(months=months)
    if start >= end:
        raise LayerError("the period ends before it starts")
    return Results(norm=norm, start=start, end=end, as_of=as_of)


# -- reading -----------------------------------------------------------------------------------


def _filter(layer: str, query: Query, visibility: Visibility | None) -> LayerFilter:
    where = LayerFilter(
        bbox=query.bbox,
        equals=query.equals,
        key=query.feature_id,
    )
    if layer == "interventions":
        where = replace(
            where,
            start=query.start.to_pydatetime() if query.start is not None else None,
            end=query.end.to_pydatetime() if query.end is not None else None,
            quarters=visibility.quarters if visibility is not None else None,
        )
    if layer == "quarter_results":
        where = replace(where, equals=(("level", 0), *where.equals))
    return where


def _period_matches(results: Results, query: Query) -> bool:
    """Whether the evaluated period meets the asked ``datetime`` (the features' temporal extent)."""
    if query.start is not None and query.start >= results.end:
        return False
    return not (query.end is not None and query.end < results.start)


def _check(layer: str, query: Query) -> None:
    if layer not in LAYERS:
        raise LayerError(f"unknown layer: {layer}")
    unknown = [name for name, _v in query.equals if name not in QUERYABLES[layer]]
    if unknown:
        raise LayerError(f"{unknown[0]} is not a queryable property of {layer}")


def read_layer(
    engine: Engine,
    layer: str,
    query: Query | None = None,
    limit: int | None = None,
    offset: int = 0,
    results: Results | None = None,
    as_of: pd.Timestamp | None = None,
    visibility: Visibility | None = None,
) -> Page:
    """One page of a layer (``limit`` None: all of it, at most :data:`MAX_EXPORT_FEATURES`) and how
    many features match in all."""
    query = query or Query()
    _check(layer, query)
    as_of = as_of if as_of is not None else pd.Timestamp(datetime.now(UTC))
    if layer == "quarter_results":
        results = results or results_for(engine, as_of=as_of)
    where = _filter(layer, query, visibility)
    with engine.connect() as conn:
        if layer == "quarter_results" and not _period_matches(results, query):  # type: ignore[arg-type]
            read = layer_reads.read_rows(conn, SOURCE[layer], where, limit=0)
            read.matched = 0
        else:
            if limit is None:
                matched = layer_reads.count_rows(conn, SOURCE[layer], where)
                if matched > MAX_EXPORT_FEATURES:
                    raise TooManyFeatures(layer, matched, MAX_EXPORT_FEATURES)
            read = layer_reads.read_rows(conn, SOURCE[layer], where, limit=limit, offset=offset)
        frame = pd.DataFrame(read.rows, columns=read.columns)
        if layer == "interventions":
            frame = _with_verdicts(engine, conn, frame, limit is not None, as_of)
    if layer == "quarter_results":
        frame = _with_results(engine, frame, results, limit is not None)  # type: ignore[arg-type]
    schema = properties(layer, visibility)
    frame = frame.reindex(columns=list(schema))
    for name, kind in schema.items():
        if kind == "date-time":
            frame[name] = pd.to_datetime(frame[name], utc=True)
    geoms = gpd.GeoSeries(read.geometries, crs="EPSG:4326", index=frame.index)
    return Page(matched=read.matched, frame=gpd.GeoDataFrame(frame, geometry=geoms))


def extent(
    engine: Engine, layer: str, visibility: Visibility | None = None
) -> tuple[list[float] | None, list[str | None] | None]:
    """(CRS84 bbox, [first, last] report instants) of what the caller may read of a layer; None for
    what it does not have."""
    where = _filter(layer, Query(), visibility)
    with engine.connect() as conn:
        bbox = layer_reads.extent(conn, SOURCE[layer], where)
        span = layer_reads.report_span(conn) if layer == "interventions" else None
    temporal = [feature_formats.rfc3339(span[0]), feature_formats.rfc3339(span[1])] if span else None
    return (list(bbox) if bbox is not None else None), temporal


def _with_verdicts(
    engine: Engine, conn: Connection, frame: pd.DataFrame, paged: bool, as_of: pd.Timestamp
) -> pd.DataFrame:
    """Due date and state of each request under the headline norm, at ``as_of``; None outside its
    scope (the norm does not apply to that request)."""
    frame = frame.copy()
    frame["due_at"] = pd.Series([pd.NaT] * len(frame), dtype="datetime64[ns, UTC]", index=frame.index)
    frame["state"] = None
    norm = headline_norm(conn)
    if norm is None or frame.empty:
        return frame
    ids = tuple(int(i) for i in frame["id"])
    where = RecordFilter(ids=ids) if paged else None
    recs, zones = load_records(conn, norm.categories, where=where)
    verdicts = evaluate_deadline(norm, recs, zones, as_of, territory_of(engine)).set_index("id")
    frame["due_at"] = pd.to_datetime(frame["id"].map(verdicts["due_at"]), utc=True)
    frame["state"] = frame["id"].map(verdicts["state"]).astype(object).where(frame["id"].isin(verdicts.index))
    frame["state"] = frame["state"].map(lambda s: s if isinstance(s, str) else None)
    return frame


def _with_results(engine: Engine, frame: pd.DataFrame, results: Results, paged: bool) -> pd.DataFrame:
    frame = frame.copy()
    frame["norm"] = results.norm.code if results.norm else None
    frame["period_from"] = results.start.date().isoformat()
    frame["period_to"] = results.last_day.isoformat()
    for col in RESULT_COUNTS:
        frame[col] = 0
    for col in ("on_time_rate", "median_hours", "p90_hours"):
        frame[col] = np.nan
    if results.norm is None or frame.empty:
        return frame
    where = RecordFilter(
        quarters=tuple(frame["code"]) if paged else None,
        reported_from=results.start,
        reported_to=results.end,
    )
    evaluation = evaluate(
        engine, as_of=results.as_of, norm_codes=[results.norm.code], by=["quarter"], where=where
    )
    agg = evaluation.aggregates
    if agg.empty:
        return frame
    agg = agg.set_index("quarter")
    for col in (*RESULT_COUNTS, "on_time_rate", "median_hours", "p90_hours"):
        values = frame["code"].map(agg[col])
        frame[col] = values.fillna(0).astype(np.int64) if col in RESULT_COUNTS else values.astype(float)
    return frame
