"""The query parameters of /ogc and /exports, as pydantic models built from geova.web.params' types.

OGC API – Features asks for a few rules of its own, kept here rather than in the shared types:

- ``bbox`` has 4 numbers, or 6 whose heights are ignored; its west edge may be east of its east edge
  (a box across the antimeridian), which the map's ``Bbox`` does not allow;
- ``datetime`` is an RFC 3339 instant (with its offset) or an interval ``start/end`` with open ends
  ``..``; a bare date is that local day of the territory, resolved at request time;
- an unknown parameter, a repeated one or a blank one is an error (400), as the standard asks.

The models are also what the /ogc OpenAPI document is generated from (:mod:`geova.web.ogc_openapi`),
so a bound written here is the bound the document states.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal, TypeVar

import pandas as pd
from pydantic import BaseModel, BeforeValidator, Field, PlainValidator, ValidationError, WithJsonSchema
from werkzeug.datastructures import MultiDict

from geova.web.errors import ParamError
from geova.web.params import FIRST_DAY, LAST_DAY, Code, Day, Offset, Params, Period, param_error

DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
MAX_LEVEL = 99
ALWAYS_ALLOWED = ("api_key",)  # read by the authentication, never by a model
M = TypeVar("M", bound=BaseModel)

_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


# -- bbox ---------------------------------------------------------------------------------------

BBOX_HELP = "must be 4 numbers minlon,minlat,maxlon,maxlat (CRS84), or 6 with heights"


def _ogc_bbox(value: Any) -> tuple[float, float, float, float]:
    if not isinstance(value, str):
        raise ValueError(BBOX_HELP)
    try:
        numbers = [float(v) for v in value.split(",")]
    except ValueError:
        raise ValueError(BBOX_HELP) from None
    if len(numbers) not in (4, 6) or not all(math.isfinite(v) for v in numbers):
        raise ValueError(BBOX_HELP)
    if len(numbers) == 6:  # with heights: ignored, the layers are flat
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    minx, miny, maxx, maxy = numbers
    if not (-180 <= minx <= 180 and -180 <= maxx <= 180 and -90 <= miny <= 90 and -90 <= maxy <= 90):
        raise ValueError("out of range: longitudes within -180..180, latitudes within -90..90")
    if miny > maxy:
        raise ValueError("the minimum latitude is above the maximum")
    return (minx, miny, maxx, maxy)


OgcBbox = Annotated[
    tuple[float, float, float, float],
    PlainValidator(_ogc_bbox),
    WithJsonSchema(
        {
            "type": "array",
            "minItems": 4,
            "maxItems": 6,
            "items": {"type": "number"},
            "description": "minlon,minlat,maxlon,maxlat in CRS84 (heights, if 6 numbers, are ignored); "
            "a west edge east of the east edge crosses the antimeridian",
        }
    ),
]


# -- datetime -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    """An instant or an interval as asked; days stay days until the territory's zone is known."""

    start: datetime | date | None
    end: datetime | date | None

    def bounds(self, tz: str) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
        """(start, end), both included, as aware timestamps; a day covers the whole local day."""
        start = _resolve(self.start, tz, end=False)
        end = _resolve(self.end, tz, end=True)
        if start is not None and end is not None and start > end:
            raise ParamError("datetime", "the interval ends before it starts")
        return start, end


def _resolve(bound: datetime | date | None, tz: str, end: bool) -> pd.Timestamp | None:
    if bound is None:
        return None
    if isinstance(bound, datetime):
        return pd.Timestamp(bound).tz_convert("UTC")
    day = pd.Timestamp(bound).tz_localize(tz)
    return day + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1) if end else day


def _bound(text: str) -> datetime | date:
    value: datetime | date
    try:
        if _INSTANT.match(text.upper()):
            value = datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
            day = value.astimezone(UTC).date()
        elif _DAY.match(text):
            value = day = date.fromisoformat(text)
        else:
            raise ValueError
    except ValueError:
        raise ValueError(
            f"'{text[:40]}' is not an RFC 3339 date-time with its offset (2015-03-01T00:00:00Z) or a date"
        ) from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ValueError(f"must be between {FIRST_DAY.isoformat()} and {LAST_DAY.isoformat()}")
    return value


def _interval(value: Any) -> Interval:
    if isinstance(value, Interval):
        return value
    if not isinstance(value, str):
        raise ValueError("must be an instant or an interval start/end")
    if "/" not in value:
        if value in ("", ".."):
            raise ValueError("an instant cannot be open")
        bound = _bound(value)
        return Interval(bound, bound)
    parts = value.split("/")
    if len(parts) != 2:
        raise ValueError("an interval is start/end")
    start, end = (None if p in ("", "..") else _bound(p) for p in parts)
    if isinstance(start, datetime) and isinstance(end, datetime) and start > end:
        raise ValueError("the interval ends before it starts")
    if type(start) is date and type(end) is date and start > end:
        raise ValueError("the interval ends before it starts")
    return Interval(start, end)


DatetimeInterval = Annotated[
    Interval,
    PlainValidator(_interval),
    WithJsonSchema(
        {
            "type": "string",
            "description": "An RFC 3339 instant with its offset, or an interval start/end with open ends "
            "'..' (e.g. 2015-03-01T00:00:00Z/.. ); a bare date (2015-03-01) is that local day. "
            f"Between {FIRST_DAY.isoformat()} and {LAST_DAY.isoformat()}.",
        }
    ),
]


# -- the models ---------------------------------------------------------------------------------

Format = Annotated[
    Literal["json", "geojson"], BeforeValidator(lambda v: v.lower() if isinstance(v, str) else v)
]
Limit = Annotated[int, Field(ge=1, le=MAX_LIMIT)]
Level = Annotated[int, Field(ge=0, le=MAX_LEVEL)]


class OgcParams(Params):
    """Every /ogc document takes ``f`` (JSON or GeoJSON: this service speaks nothing else)."""

    f: Format | None = Field(None, description="The format of the answer: json or geojson (the only ones)")


class Filters(OgcParams):
    """What selects features: a box and an instant or interval."""

    bbox: OgcBbox | None = Field(None, description="Only the features whose geometry meets this box")
    interval: DatetimeInterval | None = Field(
        None,
        alias="datetime",
        description="Requests reported then; the evaluated period of results; ignored by quarters and zones",
    )


class Paging(Filters):
    limit: Limit = Field(DEFAULT_LIMIT, description=f"Features per page, 1 to {MAX_LIMIT}")
    offset: Offset = Field(0, description="Features to skip (follow the 'next' links rather than count)")


class QuarterProperties(Params):
    code: Code | None = Field(None, description="The quarter's code")
    level: Level | None = Field(None, description="0 for quarters, 1 for sub-quarters...")
    parent: Code | None = Field(None, description="The parent quarter's code")


class ZoneProperties(Params):
    code: Code | None = Field(None, description="The zone's code")
    kind: Code | None = Field(None, description="commercial, sensitive, black_spot, waste_land...")


class InterventionProperties(Params):
    source: Code | None = Field(None, description="The system the request came from")
    source_id: Code | None = Field(None, description="The request's id in its source")
    category: Code | None = Field(None, description="The category's code")
    status: Code | None = Field(None, description="open, closed, duplicate, cancelled...")
    quarter: Code | None = Field(None, description="The code of the request's quarter")


class ResultProperties(Params):
    code: Code | None = Field(None, description="The quarter's code")


class QuartersItems(Paging, QuarterProperties):
    pass


class ZonesItems(Paging, ZoneProperties):
    pass


class InterventionsItems(Paging, InterventionProperties):
    pass


class ResultsItems(Paging, ResultProperties):
    pass


class QuartersExport(Filters, QuarterProperties):
    pass


class ZonesExport(Filters, ZoneProperties):
    pass


class InterventionsExport(Filters, InterventionProperties):
    pass


class ResultsExport(Filters, ResultProperties, Period):
    """Results of any active deadline norm over any period (local days, both included)."""

    norm: Code | None = Field(None, description="An active deadline norm (default: the headline norm)")
    start: Day | None = Field(
        None, alias="from", description="The first local day of the period (YYYY-MM-DD)"
    )
    end: Day | None = Field(None, alias="to", description="The last local day of the period, included")


ITEMS: dict[str, type[Paging]] = {
    "quarters": QuartersItems,
    "zones": ZonesItems,
    "interventions": InterventionsItems,
    "quarter_results": ResultsItems,
}
EXPORTS: dict[str, type[Filters]] = {
    "quarters": QuartersExport,
    "zones": ZonesExport,
    "interventions": InterventionsExport,
    "quarter_results": ResultsExport,
}


def names(model: type[BaseModel]) -> list[str]:
    """The query parameters a model reads, as the client writes them."""
    return [info.alias or name for name, info in model.model_fields.items()]


def parse(model: type[M], args: Mapping[str, Any] | None = None) -> M:
    """``args`` (the request's query string by default) validated by ``model``, strictly: an unknown,
    repeated or blank parameter raises :class:`ParamError` naming it."""
    if args is None:
        from flask import request

        args = request.args
    multi = args if isinstance(args, MultiDict) else MultiDict(args)
    known = set(names(model))
    raw: dict[str, Any] = {}
    for key in multi:
        if key in ALWAYS_ALLOWED:
            continue
        if key not in known:
            allowed = ", ".join(sorted(known)) or "none"
            raise ParamError(key[:40], f"unknown query parameter (this endpoint takes: {allowed})")
        values = multi.getlist(key)
        if len(values) > 1:
            raise ParamError(key, "given more than once")
        raw[key] = values[0]
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise param_error(model, exc) from None
