"""Request parameters, written once: bounded types and the models every entry point parses with.

Pages, map feeds, /api/v1, /open311 and /ogc read their query strings through :func:`parse` with a
pydantic model built from the types below, so a bounding box, a date, an id or a zoom obeys one rule
everywhere, and a bad value is a :class:`~geova.web.errors.ParamError` naming the parameter (400 in
the path's own error format), never a 500 and never a value formatted into SQL.

The bounds are what keeps every request's cost bounded: instants within 1970–2100, periods of at
most ``MAX_PERIOD_YEARS``, a zoom within the map's range (the map feed's grid has 2**zoom cells per
turn), ids within 64 bits, finite coordinates inside ±180/±90, texts of bounded length without NUL.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, TypeVar

import pandas as pd
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from werkzeug.datastructures import MultiDict

from geova.web.errors import ParamError

FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(2100, 12, 31)
MAX_PERIOD_YEARS = 10
MAX_ID = 2**63 - 1
# the ids of geova's own rows (reports, import jobs, walk observations) are INTEGER columns:
# PostgreSQL refuses a larger number outright ("integer out of range"), so none is ever looked up
MAX_ROW_ID = 2**31 - 1
MIN_ZOOM, MAX_ZOOM = 0, 22  # Leaflet's range; the feed's grid cell is 360° / 2**zoom
MAX_TEXT = 200  # a code, a name, a search text: anything longer is not a filter
MAX_OFFSET = 10**9
MAX_LIST = 100  # values in one list parameter

M = TypeVar("M", bound=BaseModel)


# -- single values --------------------------------------------------------------------------------


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("NUL characters are not allowed")
    return value


def _split(value: Any) -> Any:
    """A repeatable, comma-separated parameter (``a,b`` or ``x=a&x=b``) as a tuple without blanks."""
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else list(value)
    out: list[str] = []
    for item in items:
        if not isinstance(item, str):
            return value  # let pydantic say what is wrong
        out.extend(v.strip() for v in item.split(",") if v.strip())
    return tuple(dict.fromkeys(out))


def _in_range(day: date) -> None:
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ValueError(f"must be between {FIRST_DAY.isoformat()} and {LAST_DAY.isoformat()}")


def _day(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        try:
            value = date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"'{text[:40]}' is not a date (YYYY-MM-DD)") from None
    if isinstance(value, date):
        _in_range(value)
    return value


def _instant(value: Any) -> Any:
    """An ISO 8601 date (its midnight) or date-time; without offset it is local time (the caller
    localises it in the territory's zone)."""
    if isinstance(value, str):
        text = value.strip()
        try:
            value = (
                datetime.combine(date.fromisoformat(text), time())
                if len(text) == 10
                else datetime.fromisoformat(text.replace("z", "Z"))
            )
        except ValueError:
            raise ValueError(f"'{text[:40]}' is not an ISO 8601 date or date-time") from None
    if isinstance(value, datetime):
        _in_range(value.date())
    return value


def _bbox(value: Any) -> Any:
    if isinstance(value, str):
        parts = value.split(",")
        if len(parts) != 4:
            raise ValueError("must be four numbers minlon,minlat,maxlon,maxlat")
        try:
            value = tuple(float(p) for p in parts)
        except ValueError:
            raise ValueError("must be four numbers minlon,minlat,maxlon,maxlat") from None
    if isinstance(value, tuple | list) and len(value) == 4:
        minx, miny, maxx, maxy = (float(v) for v in value)
        if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)):
            raise ValueError("must be finite numbers")
        if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
            raise ValueError("needs -180 <= minlon <= maxlon <= 180 and -90 <= minlat <= maxlat <= 90")
        return (minx, miny, maxx, maxy)
    return value


Text = Annotated[str, Field(max_length=MAX_TEXT), AfterValidator(_no_nul)]
Code = Annotated[str, Field(min_length=1, max_length=MAX_TEXT), AfterValidator(_no_nul)]
Codes = Annotated[
    tuple[Annotated[str, Field(max_length=MAX_TEXT), AfterValidator(_no_nul)], ...],
    BeforeValidator(_split),
    Field(max_length=MAX_LIST),
]


def codes_of(item: Any) -> Any:
    """A repeatable, comma-separated parameter whose values are ``item`` (e.g. a ``Literal`` of the
    accepted names, so that the OpenAPI document lists them too)."""
    return Annotated[tuple[item, ...], BeforeValidator(_split), Field(max_length=MAX_LIST)]


Day = Annotated[date, BeforeValidator(_day)]
Instant = Annotated[datetime, BeforeValidator(_instant)]
Bbox = Annotated[tuple[float, float, float, float], BeforeValidator(_bbox)]
Zoom = Annotated[int, Field(ge=MIN_ZOOM, le=MAX_ZOOM)]
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Offset = Annotated[int, Field(ge=0, le=MAX_OFFSET)]
Hours = Annotated[float, Field(ge=0, le=24 * 90, allow_inf_nan=False)]


def local(value: datetime | date | None, tz: str, end_of_day: bool = False) -> pd.Timestamp | None:
    """A parsed day or instant as an aware timestamp: naive values are the territory's local time;
    ``end_of_day`` turns a day into the start of the next one (periods are half-open)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        ts = pd.Timestamp(value)
    else:
        ts = pd.Timestamp(value) + (pd.Timedelta(days=1) if end_of_day else pd.Timedelta(0))
    if ts.tzinfo is None:
        return ts.tz_localize(tz, ambiguous=True, nonexistent="shift_forward")
    return ts.tz_convert(tz)


# -- models ---------------------------------------------------------------------------------------


class Params(BaseModel):
    """Base of every parameter model: unknown parameters are ignored (pages carry ``lang``, links
    carry tracking), values are validated, the model is immutable."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class Period(Params):
    """``from`` and ``to`` days (inclusive), at most ``MAX_PERIOD_YEARS`` apart."""

    start: Day | None = Field(None, alias="from")
    end: Day | None = Field(None, alias="to")

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.start and self.end:
            if self.start > self.end:
                raise ValueError("to: the period ends before it starts")
            if self.end - self.start > timedelta(days=366 * MAX_PERIOD_YEARS):
                raise ValueError(f"from: a period covers {MAX_PERIOD_YEARS} years at most")
        return self


class ViewParams(Period):
    """What a page shows: a norm, a period, filters and the instant of the verdicts."""

    norm: Code | None = None
    as_of: Instant | None = None
    category: Code | None = None
    service: Text | None = None
    quarter: Code | None = None
    zone: Code | None = None
    state: Codes = ()


class MapFeedParams(ViewParams):
    bbox: Bbox | None = None
    zoom: Zoom = 13


class Paging(Params):
    limit: Annotated[int, Field(ge=1, le=1000)] = 100
    offset: Offset = 0


# -- parsing --------------------------------------------------------------------------------------


def _is_list(annotation: Any) -> bool:
    origin = getattr(annotation, "__origin__", None)
    return origin in (tuple, list) or annotation in (tuple, list)


def _raw(model: type[BaseModel], args: Mapping[str, Any]) -> dict[str, Any]:
    """The query string as the model's input: lists for list fields, else the first value; blank
    values are absent (an empty form field means "no filter")."""
    multi = args if isinstance(args, MultiDict) else MultiDict(args)
    out: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        key = info.alias or name
        if key not in multi:
            continue
        values = [v for v in multi.getlist(key) if not (isinstance(v, str) and v.strip() == "")]
        if not values:
            continue
        out[key] = values if _is_list(info.annotation) else values[0]
    return out


def parse(model: type[M], args: Mapping[str, Any] | None = None) -> M:
    """``args`` (the request's query string by default) validated by ``model``; a bad value raises
    :class:`ParamError` naming the parameter."""
    if args is None:
        from flask import request

        args = request.args
    try:
        return model.model_validate(_raw(model, args))
    except ValidationError as exc:
        raise param_error(model, exc) from None


def param_error(model: type[BaseModel], exc: ValidationError) -> ParamError:
    first = exc.errors(include_url=False)[0]
    loc = [str(p) for p in first.get("loc", ()) if not isinstance(p, int)]
    message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    if loc:
        info = model.model_fields.get(loc[0])
        name = (info.alias if info and info.alias else loc[0]) if info else loc[0]
    else:  # a model-level check says which parameter it is about ("to: ...")
        name, _, rest = message.partition(": ")
        message = rest or message
    return ParamError(name, message)
