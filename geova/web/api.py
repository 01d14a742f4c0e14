"""The JSON API, /api/v1: the territory, the referential, requests, evaluations and the audit grid
for other systems, described by an OpenAPI 3 document at /api/v1/openapi.json.

Who may do what:

- the referential (quarters, zones, categories, norms) and the documents are public;
- requests, evaluations and the audit grid need an API key (``Authorization: Bearer <key>`` or the
  ``api_key`` parameter) or a logged-in session, whatever the role;
- reporting a request needs the role correspondent, service or admin; resolving one, service or
  admin. Writes take a JSON body (``Content-Type: application/json``), which a page of another site
  cannot send with a visitor's session cookie: the API needs no CSRF token.

Every error is ``{"error": {"code": ..., "message": ...}}`` with 400 (malformed parameter or body),
401 (no or unknown key), 403 (role), 404 (no such resource) or 422 (a well-formed body the store
refuses); a refused write changes nothing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import wraps
from typing import Any

import pandas as pd
from flask import Blueprint, Response, g, jsonify, request, url_for
from flask_login import current_user
from sqlalchemy import Connection, func, select
from werkzeug.exceptions import HTTPException

from geova.core.evaluate import DEFAULT_RISK_HOURS, DIMENSIONS, State
from geova.core.norms import Basis, Norm, NormKind
from geova.evaluation import evaluate
from geova.store import apikeys, edits
from geova.store.audit import current_grid
from geova.store.db import write
from geova.store.records import RecordFilter, _filtered
from geova.store.referential import load_norms
from geova.store.schema import (
    Category,
    FieldOfAction,
    Intervention,
    InterventionFlag,
    InterventionZone,
    Quarter,
    StandardTask,
    Zone,
)
from geova.store.status import settings
from geova.web import csrf, engine
from geova.web.errors import Failure, register_format

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # keys, not cookies, authenticate writes; session writes need a JSON body (see above)

IV = Intervention.__table__
REPORTERS = ("correspondent", "service")  # admin always passes
RESOLVERS = ("service",)
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_OFFSET = 10**9
MAX_ID = 2**31 - 1  # ids are 32-bit integers in the store
MAX_RISK_HOURS = 24 * 90
MAX_PERIODIC_DAYS = 366 * 10
FIRST_YEAR, LAST_YEAR = 1970, 2100  # instants outside are refused (and out of pandas' range anyway)
STATES = tuple(s.value for s in State)
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
INTEGER = re.compile(r"^[0-9]{1,10}$")
TRUE, FALSE = ("true", "1", "yes"), ("false", "0", "no")
MAX_CHANNEL = 100
MAX_SEVERITY = 32


# -- errors --------------------------------------------------------------------------------------


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_response(status: int, code: str, message: str) -> Response:
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="geova"'
    return response


def _failure(failure: Failure) -> Response:
    """What the app-wide error policy answers under /api/v1 (e.g. the store busy: 503 + Retry-After),
    in this API's error format."""
    response = error_response(failure.status, failure.code, failure.message)
    response.headers.update(failure.headers)
    return response


register_format("/api/v1", _failure)


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError) -> Response:
    return error_response(exc.status, exc.code, exc.message)


def _http_code(exc: HTTPException) -> str:
    return re.sub(r"[^a-z]+", "_", (exc.name or "error").lower()).strip("_")


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response:
    return error_response(exc.code or 500, _http_code(exc), exc.description or exc.name)


@bp.app_errorhandler(404)
@bp.app_errorhandler(405)
def _routing_error(exc: HTTPException) -> Any:
    """Unknown paths and methods under /api/v1 and /open311 answer in their API's error format;
    elsewhere, the app's usual page."""
    if request.path == bp.url_prefix or request.path.startswith(f"{bp.url_prefix}/"):
        response = error_response(exc.code or 404, _http_code(exc), exc.description or exc.name)
        if exc.code == 405 and isinstance(exc.valid_methods, Iterable):  # type: ignore[attr-defined]
            response.headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
        return response
    if request.path.startswith("/open311/"):
        from geova.web.open311 import routing_error

        return routing_error(exc)
    from geova.web.errors import from_http

    return from_http(exc)


def bad(name: str, message: str) -> ApiError:
    return ApiError(400, "invalid_parameter", f"{name}: {message}")


@bp.before_request
def _refuse_nul() -> None:
    """NUL characters cannot be stored or compared in PostgreSQL text: refused for every API."""
    for key, values in request.args.lists():
        if "\x00" in key or any("\x00" in v for v in values):
            raise bad(key.replace("\x00", ""), "NUL characters are not allowed")


# -- who is calling ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Principal:
    name: str
    role: str
    kind: str  # "key" or "user"

    @property
    def username(self) -> str:
        """The name written in a request's history: the account, or ``key:NAME``."""
        return self.name if self.kind == "user" else f"key:{self.name}"

    def allowed(self, *roles: str) -> bool:
        return self.role == "admin" or self.role in roles


def presented_key() -> str | None:
    """The key in the Authorization header (Bearer) or the ``api_key`` parameter (query or form)."""
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, value = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise ApiError(401, "unauthorized", "the Authorization header must be 'Bearer <API key>'")
        return value.strip()
    if "api_key" in request.args:
        return request.args["api_key"]
    form = request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data")
    if form and "api_key" in request.form:
        return request.form["api_key"]
    return None


def key_principal(token: str | None) -> Principal | None:
    with engine().connect() as conn:
        key = apikeys.authenticate(conn, token)
    return Principal(key.name, key.role, "key") if key else None


def principal() -> Principal | None:
    """The caller: a key when one is presented (an unknown one is an error), else the session's user."""
    if "geova_principal" not in g:
        token = presented_key()
        if token is not None:
            found = key_principal(token)
            if found is None:
                raise ApiError(401, "invalid_key", "unknown or revoked API key")
            g.geova_principal = found
        elif current_user.is_authenticated:
            g.geova_principal = Principal(current_user.username, current_user.role, "user")
        else:
            g.geova_principal = None
    return g.geova_principal


def requires(*roles: str) -> Callable:
    """An authenticated caller (key or session); with ``roles``, one of them (admin always passes)."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            who = principal()
            if who is None:
                raise ApiError(401, "unauthorized", "an API key or a logged-in session is needed")
            if roles and not who.allowed(*roles):
                needs = " or ".join((*roles, "admin"))
                raise ApiError(403, "forbidden", f"the role '{who.role}' may not do this (needs {needs})")
            return view(*args, **kwargs)

        return wrapped

    return decorator


# -- parameters ----------------------------------------------------------------------------------


def territory_tz() -> str:
    from geova.web.format import territory_tz as tz

    return tz()


def _in_range(ts: pd.Timestamp, name: str, text: str) -> pd.Timestamp:
    if not FIRST_YEAR <= ts.year <= LAST_YEAR:
        raise bad(name, f"'{text}' is outside {FIRST_YEAR}..{LAST_YEAR}")
    return ts.tz_convert("UTC")


def parse_instant(text: str, name: str, tz: str, end_of_day: bool = False) -> pd.Timestamp:
    """An ISO 8601 date (the local day: its start, or its end with ``end_of_day``) or date-time (a
    time without offset is read in the territory's time zone), as a UTC timestamp."""
    text = text.strip()
    try:
        if DATE.match(text):
            day = pd.Timestamp(date.fromisoformat(text))
            if end_of_day:
                day += pd.Timedelta(days=1)
            ts = day.tz_localize(tz, ambiguous=True, nonexistent="shift_forward")
        else:
            ts = pd.Timestamp(datetime.fromisoformat(text))
            if ts.tzinfo is None:
                ts = ts.tz_localize(tz, ambiguous=True, nonexistent="shift_forward")
    except (ValueError, OverflowError, TypeError) as exc:
        raise bad(name, f"'{text}' is not an ISO 8601 date or date-time") from exc
    return _in_range(ts, name, text)


def as_of_arg(tz: str) -> pd.Timestamp:
    text = request.args.get("as_of")
    if not text:
        return pd.Timestamp(datetime.now(UTC))
    return parse_instant(text, "as_of", tz)


def integer_arg(name: str, default: int, low: int, high: int) -> int:
    text = request.args.get(name)
    if text is None or text == "":
        return default
    if not INTEGER.match(text.strip()):
        raise bad(name, f"'{text}' is not a whole number")
    value = int(text.strip())
    if not low <= value <= high:
        raise bad(name, f"must be between {low} and {high}")
    return value


def paging() -> tuple[int, int]:
    return (
        integer_arg("limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
        integer_arg("offset", 0, 0, MAX_OFFSET),
    )


def bool_arg(name: str, default: bool = False) -> bool:
    text = request.args.get(name)
    if text is None or text == "":
        return default
    if text.lower() in TRUE:
        return True
    if text.lower() in FALSE:
        return False
    raise bad(name, f"'{text}' is not true or false")


def float_arg(name: str, default: float, low: float, high: float) -> float:
    text = request.args.get(name)
    if text is None or text == "":
        return default
    try:
        value = float(text)
    except ValueError as exc:
        raise bad(name, f"'{text}' is not a number") from exc
    if not math.isfinite(value) or not low <= value <= high:
        raise bad(name, f"must be a number between {low:g} and {high:g}")
    return value


def list_arg(name: str) -> list[str]:
    """A repeatable, comma-separated parameter."""
    out: list[str] = []
    for value in request.args.getlist(name):
        out.extend(v.strip() for v in value.split(",") if v.strip())
    return list(dict.fromkeys(out))


def codes_arg(name: str, known: set[str]) -> tuple[str, ...] | None:
    values = list_arg(name)
    if not values:
        return None
    unknown = [v for v in values if v not in known]
    if unknown:
        raise ApiError(400, "unknown_code", f"{name}: unknown code(s) {', '.join(unknown)}")
    return tuple(values)


def bbox_arg() -> tuple[float, float, float, float] | None:
    text = request.args.get("bbox")
    if not text:
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError as exc:
        raise bad("bbox", "must be minlon,minlat,maxlon,maxlat") from exc
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise bad("bbox", "must be four numbers minlon,minlat,maxlon,maxlat")
    minx, miny, maxx, maxy = values
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise bad("bbox", "needs -180 <= minlon <= maxlon <= 180 and -90 <= minlat <= maxlat <= 90")
    return (minx, miny, maxx, maxy)


def _known(conn: Connection, column: Any) -> set[str]:
    return set(conn.execute(select(column)).scalars())


def record_filter(tz: str, with_period: bool = True) -> RecordFilter:
    """The request filters: quarter, zone, category, service (codes, repeatable or comma-separated),
    bbox and, ``with_period``, the report period from/to."""
    q, z, c = Quarter.__table__, Zone.__table__, Category.__table__
    with engine().connect() as conn:
        quarters = codes_arg("quarter", _known(conn, q.c.code))
        zones = codes_arg("zone", _known(conn, z.c.code))
        categories = codes_arg("category", _known(conn, c.c.code))
    services = tuple(list_arg("service")) or None
    start = end = None
    if with_period and request.args.get("from"):
        start = parse_instant(request.args["from"], "from", tz)
    if with_period and request.args.get("to"):
        end = parse_instant(request.args["to"], "to", tz, end_of_day=True)
    if start is not None and end is not None and start >= end:
        raise bad("to", "the period ends before it starts")
    return RecordFilter(
        categories=categories,
        quarters=quarters,
        services=services,
        zones=zones,
        reported_from=start,
        reported_to=end,
        bbox=bbox_arg(),
    )


def deadline_norms(conn: Connection, active_only: bool = True) -> list[Norm]:
    return [n for n in load_norms(conn, active_only=active_only) if n.kind is NormKind.DEADLINE]


def headline_norm(conn: Connection) -> Norm | None:
    """The setting ``headline_norm`` when it is an active deadline norm, else the first one by code."""
    norms = {n.code: n for n in deadline_norms(conn)}
    if not norms:
        return None
    code = settings(conn).get("headline_norm")
    return norms.get(code or "") or norms[sorted(norms)[0]]


def norm_arg(conn: Connection) -> Norm | None:
    """The deadline norm of ``?norm=`` (any, active or not), else the headline norm."""
    code = request.args.get("norm")
    if not code:
        return headline_norm(conn)
    norms = {n.code: n for n in deadline_norms(conn, active_only=False)}
    if code not in norms:
        raise ApiError(400, "unknown_code", f"norm: '{code}' is not a deadline norm")
    return norms[code]


# -- values --------------------------------------------------------------------------------------


def iso(value: Any, tz: str) -> str | None:
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return ts.tz_convert(tz).isoformat()


def plain(value: Any, tz: str) -> Any:
    """A value of a pandas frame as JSON: ISO 8601 instants in the territory's zone, None for NaN."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp | datetime):
        return iso(value, tz)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, pd.Period):
        return str(value)
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def frame_records(frame: pd.DataFrame, tz: str) -> list[dict[str, Any]]:
    if frame is None or frame.empty:
        return []
    return [{str(k): plain(v, tz) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def norm_json(norm: Norm) -> dict[str, Any]:
    return {
        "code": norm.code,
        "kind": norm.kind.value,
        "task": norm.task or None,
        "set": norm.norm_set,
        "label_fr": norm.label_fr,
        "label_en": norm.label_en,
        "active": norm.active,
        "calendar": norm.calendar.value,
        "deadline": norm.basis.value if norm.kind is NormKind.DEADLINE else None,
        "period": norm.period.value if norm.period else None,
        "scopes": [
            {
                "categories": sorted(s.categories),
                "insulting": s.insulting,
                "severities": sorted(s.severities),
                "zone_kinds": sorted(s.zone_kinds),
                "exclude_zone_kinds": sorted(s.exclude_zone_kinds),
                "zones": sorted(s.zones),
                "quarters": sorted(s.quarters),
            }
            for s in norm.scopes
        ],
        "targets": [
            {"from": t.valid_from.isoformat(), "value": t.value, "quarter": t.quarter, "zone": t.zone}
            for t in norm.targets
        ],
        "unit": {"deadline": "hours", "frequency": "passages", "count": "events", "share": "percent"}[
            norm.kind.value
        ],
    }


# -- requests ------------------------------------------------------------------------------------


def _base(columns: Sequence[Any], where: RecordFilter, conn: Connection) -> Any:
    q1 = Quarter.__table__.alias("q1")
    q2 = Quarter.__table__.alias("q2")
    query = (
        select(*columns)
        .select_from(IV)
        .outerjoin(q1, q1.c.id == IV.c.quarter_id)
        .outerjoin(q2, q2.c.id == IV.c.subquarter_id)
    )
    return _filtered(conn, query, where, q1, q2)


def count_requests(conn: Connection, where: RecordFilter) -> int:
    return int(conn.execute(_base([func.count()], where, conn)).scalar_one())


def request_ids(conn: Connection, where: RecordFilter, limit: int, offset: int) -> list[int]:
    query = _base([IV.c.id], where, conn).order_by(IV.c.id).limit(limit).offset(offset)
    return [int(i) for i in conn.execute(query).scalars()]


def verdicts(
    ids: Sequence[int], norms: Sequence[Norm], as_of: pd.Timestamp, risk_hours: float = DEFAULT_RISK_HOURS
) -> pd.DataFrame:
    """The verdicts of ``norms`` on these requests (one row per request a norm applies to)."""
    if not ids or not norms:
        return pd.DataFrame(columns=["norm", "id", "state", "due_at"])
    result = evaluate(
        engine(),
        as_of=as_of,
        norm_codes=[n.code for n in norms],
        where=RecordFilter(ids=tuple(int(i) for i in ids)),
        risk_hours=risk_hours,
    )
    return result.per_intervention


def verdict_json(row: Any, tz: str) -> dict[str, Any]:
    return {
        "norm": row["norm"],
        "state": row["state"],
        "excluded": bool(row["excluded"]),
        "applied": row["applied"] or None,
        "target_hours": plain(row["target_hours"], tz),
        "due_at": iso(row["due_at"], tz),
        "hours_taken": plain(row["hours_taken"], tz),
        "hours_overdue": plain(row["hours_overdue"], tz),
    }


def request_rows(conn: Connection, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Stored fields, quarter codes, zones, flags and location of these requests, by id."""
    if not ids:
        return {}
    q1 = Quarter.__table__.alias("q1")
    q2 = Quarter.__table__.alias("q2")
    rows = conn.execute(
        select(
            IV.c.id,
            IV.c.source,
            IV.c.source_id,
            IV.c.category_code,
            IV.c.status,
            IV.c.reported_at,
            IV.c.resolved_at,
            IV.c.due_at,
            IV.c.service,
            IV.c.channel,
            IV.c.address,
            IV.c.description,
            IV.c.insulting,
            IV.c.severity,
            q1.c.code.label("quarter"),
            q2.c.code.label("subquarter"),
            func.ST_X(IV.c.geom).label("lon"),
            func.ST_Y(IV.c.geom).label("lat"),
        )
        .select_from(IV)
        .outerjoin(q1, q1.c.id == IV.c.quarter_id)
        .outerjoin(q2, q2.c.id == IV.c.subquarter_id)
        .where(IV.c.id.in_(list(ids)))
    )
    out = {int(r.id): {**r._mapping, "zones": [], "flags": []} for r in rows}
    zt, iz = Zone.__table__, InterventionZone.__table__
    for rid, code in conn.execute(
        select(iz.c.intervention_id, zt.c.code)
        .join(zt, zt.c.id == iz.c.zone_id)
        .where(iz.c.intervention_id.in_(list(ids)))
        .order_by(zt.c.code)
    ):
        out[int(rid)]["zones"].append(code)
    fl = InterventionFlag.__table__
    for rid, code in conn.execute(
        select(fl.c.intervention_id, fl.c.code).where(fl.c.intervention_id.in_(list(ids))).order_by(fl.c.code)
    ):
        out[int(rid)]["flags"].append(code)
    return out


def request_json(row: dict[str, Any], verdict: dict[str, Any] | None, tz: str) -> dict[str, Any]:
    return {
        "id": int(row["id"]),
        "source": row["source"],
        "source_id": row["source_id"],
        "category": row["category_code"],
        "status": row["status"],
        "reported_at": iso(row["reported_at"], tz),
        "resolved_at": iso(row["resolved_at"], tz),
        "source_due_at": iso(row["due_at"], tz),
        "quarter": row["quarter"],
        "subquarter": row["subquarter"],
        "zones": row["zones"],
        "service": row["service"],
        "channel": row["channel"],
        "address": row["address"],
        "description": row["description"],
        "insulting": bool(row["insulting"]),
        "severity": row["severity"],
        "lon": float(row["lon"]),
        "lat": float(row["lat"]),
        "flags": row["flags"],
        "verdict": verdict,
        "links": {"self": url_for("api.intervention", intervention_id=int(row["id"]))},
    }


def requests_json(
    ids: Sequence[int], norm: Norm | None, as_of: pd.Timestamp, tz: str
) -> list[dict[str, Any]]:
    with engine().connect() as conn:
        rows = request_rows(conn, ids)
    judged = verdicts(ids, [norm] if norm else [], as_of)
    by_id = {int(r["id"]): verdict_json(r, tz) for _, r in judged.iterrows()}
    return [request_json(rows[i], by_id.get(i), tz) for i in ids if i in rows]


def _page_links(total: int, limit: int, offset: int) -> dict[str, str | None]:
    def link(at: int) -> str:
        args = request.args.to_dict(flat=False)
        args.pop("api_key", None)  # links may be logged: the key stays with the caller
        args.update(limit=[str(limit)], offset=[str(at)])
        return url_for(request.endpoint or "api.interventions", **(request.view_args or {}), **args)

    return {
        "self": link(offset),
        "next": link(offset + limit) if offset + limit < total else None,
        "prev": link(max(offset - limit, 0)) if offset > 0 else None,
    }


# -- creating requests (the JSON API and Open311) -------------------------------------------------


def create_request(
    conn: Connection,
    *,
    category: str,
    description: str | None,
    address: str | None,
    lon: Any,
    lat: Any,
    username: str,
    when: datetime | pd.Timestamp,
    insulting: bool = False,
    severity: str | None = None,
    channel: str | None = None,
    source: str | None = None,
    source_id: str | None = None,
) -> int:
    """A request reported through an API: geova.store.edits.report_intervention with the fields
    only an API passes (insulting, severity, channel, and Open311's own source and source id)."""
    return edits.report_intervention(
        conn,
        category,
        description,
        address,
        lon,
        lat,
        username,
        when,
        insulting=insulting,
        severity=severity,
        channel=channel,
        source=source,
        source_id=source_id,
    )


def clean_text(value: Any, name: str, limit: int, required: bool = False) -> str | None:
    """A text field of a body: a string without NUL, within ``limit`` characters."""
    if value is None or value == "":
        if required:
            raise ApiError(422, "invalid_field", f"{name} is required")
        return None
    if not isinstance(value, str):
        raise ApiError(422, "invalid_field", f"{name} must be a string")
    if "\x00" in value:
        raise ApiError(422, "invalid_field", f"{name}: NUL characters are not allowed")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ApiError(422, "invalid_field", f"{name} is not valid Unicode text") from exc
    if len(value) > limit:
        raise ApiError(422, "invalid_field", f"{name} is longer than {limit} characters")
    if required and not value.strip():
        raise ApiError(422, "invalid_field", f"{name} is required")
    return value


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ApiError(422, "invalid_field", f"{name} must be a number")
    try:
        number = float(value)
    except OverflowError as exc:
        raise ApiError(422, "invalid_field", f"{name} is out of range") from exc
    if not math.isfinite(number):
        raise ApiError(422, "invalid_field", f"{name} must be a finite number")
    return number


def json_body() -> dict[str, Any]:
    """The JSON object sent; an empty body is an empty object. Other content types are refused (a
    form of another site could otherwise post with a visitor's session)."""
    if request.mimetype != "application/json":
        raise ApiError(400, "invalid_body", "send a JSON object with Content-Type: application/json")
    if not request.get_data():
        return {}
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_body", "the body is not a JSON object")
    return data


def body_instant(value: Any, name: str) -> datetime:
    text = clean_text(value, name, 64, required=True)
    assert text is not None
    try:
        ts = pd.Timestamp(datetime.fromisoformat(text.strip()))
    except (ValueError, OverflowError, TypeError) as exc:
        raise ApiError(422, "invalid_field", f"{name}: '{text}' is not an ISO 8601 date-time") from exc
    if ts.tzinfo is None:
        raise ApiError(422, "invalid_field", f"{name}: a time zone offset is needed (e.g. +01:00 or Z)")
    if not FIRST_YEAR <= ts.year <= LAST_YEAR:
        raise ApiError(422, "invalid_field", f"{name}: '{text}' is outside {FIRST_YEAR}..{LAST_YEAR}")
    if ts.tz_convert("UTC").to_pydatetime() > datetime.now(UTC) + edits.CLOCK_SKEW:
        raise ApiError(422, "invalid_field", f"{name} cannot be in the future")
    return ts.tz_convert("UTC").to_pydatetime()


# -- routes: documents and referential -----------------------------------------------------------


@bp.get("")
@bp.get("/")
def index() -> Any:
    return jsonify(
        {
            "name": "geova JSON API",
            "version": "v1",
            "links": {
                "openapi": url_for("api.openapi"),
                "quarters": url_for("api.quarters"),
                "zones": url_for("api.zones"),
                "categories": url_for("api.categories"),
                "norms": url_for("api.norms"),
                "interventions": url_for("api.interventions"),
                "evaluations": url_for("api.evaluations"),
                "audit": url_for("api.audit"),
                "open311": "/open311/v2/discovery.json",
            },
        }
    )


@bp.get("/openapi.json")
def openapi() -> Any:
    from geova.web.openapi import document

    return jsonify(document())


@bp.get("/quarters")
def quarters() -> Any:
    q = Quarter.__table__
    parent = Quarter.__table__.alias("parent")
    with engine().connect() as conn:
        rows = conn.execute(
            select(q.c.code, q.c.name, q.c.level, parent.c.code.label("parent"))
            .outerjoin(parent, parent.c.id == q.c.parent_id)
            .order_by(q.c.level, q.c.code)
        ).all()
    return jsonify({"items": [dict(r._mapping) for r in rows]})


@bp.get("/zones")
def zones() -> Any:
    z = Zone.__table__
    with engine().connect() as conn:
        rows = conn.execute(select(z.c.code, z.c.name, z.c.kind).order_by(z.c.code)).all()
    return jsonify({"items": [dict(r._mapping) for r in rows]})


def category_rows(conn: Connection) -> list[dict[str, Any]]:
    c, t, f = Category.__table__, StandardTask.__table__, FieldOfAction.__table__
    rows = conn.execute(
        select(
            c.c.code,
            c.c.label_fr,
            c.c.label_en,
            c.c.task_code.label("task"),
            t.c.label_fr.label("task_label_fr"),
            t.c.label_en.label("task_label_en"),
            f.c.code.label("field"),
            f.c.label_fr.label("field_label_fr"),
            f.c.label_en.label("field_label_en"),
        )
        .outerjoin(t, t.c.code == c.c.task_code)
        .outerjoin(f, f.c.code == t.c.field_code)
        .order_by(c.c.code)
    ).all()
    return [dict(r._mapping) for r in rows]


@bp.get("/categories")
def categories() -> Any:
    with engine().connect() as conn:
        rows = category_rows(conn)
    keep = ("code", "label_fr", "label_en", "task", "field")
    return jsonify({"items": [{k: r[k] for k in keep} for r in rows]})


@bp.get("/norms")
def norms() -> Any:
    """Active norms with their figures; ``all=true`` adds inactive ones (proposals, old sets)."""
    show_all = bool_arg("all")
    with engine().connect() as conn:
        found = load_norms(conn, active_only=not show_all)
    return jsonify({"items": [norm_json(n) for n in found]})


@bp.get("/norms/<code>")
def norm(code: str) -> Any:
    with engine().connect() as conn:
        found = load_norms(conn, codes=[code])
    if not found:
        raise ApiError(404, "not_found", f"no norm '{code}'")
    return jsonify(norm_json(found[0]))


# -- routes: requests ----------------------------------------------------------------------------


@bp.get("/interventions")
@requires()
def interventions() -> Any:
    tz = territory_tz()
    where = record_filter(tz)
    as_of = as_of_arg(tz)
    limit, offset = paging()
    states = list_arg("state")
    wrong = [s for s in states if s not in STATES]
    if wrong:
        raise bad("state", f"unknown state(s) {', '.join(wrong)}; one of {', '.join(STATES)}")
    with engine().connect() as conn:
        norm = norm_arg(conn)
        if not states:
            total = count_requests(conn, where)
            ids = request_ids(conn, where, limit, offset)
    if states:
        if norm is None:
            raise bad("state", "there is no deadline norm to judge requests by")
        result = evaluate(engine(), as_of=as_of, norm_codes=[norm.code], where=where)
        per = result.per_intervention
        chosen = sorted(int(i) for i in per.loc[per["state"].isin(states), "id"])
        total = len(chosen)
        ids = chosen[offset : offset + limit]
    return jsonify(
        {
            "total": total,
            "limit": limit,
            "offset": offset,
            "norm": norm.code if norm else None,
            "as_of": iso(as_of, tz),
            "items": requests_json(ids, norm, as_of, tz),
            "links": _page_links(total, limit, offset),
        }
    )


def _not_found(intervention_id: int) -> ApiError:
    return ApiError(404, "not_found", f"no request with id {intervention_id}")


def _one(intervention_id: int, as_of: pd.Timestamp, norm: Norm | None, tz: str) -> dict[str, Any]:
    if intervention_id > MAX_ID:
        raise _not_found(intervention_id)
    with engine().connect() as conn:
        rows = request_rows(conn, [intervention_id])
        if intervention_id not in rows:
            raise _not_found(intervention_id)
        history = edits.events(conn, intervention_id)
        every = deadline_norms(conn)
    if norm is not None and norm.code not in {n.code for n in every}:
        every.append(norm)
    judged = verdicts([intervention_id], every, as_of)
    all_verdicts = [verdict_json(r, tz) for _, r in judged.iterrows()]
    main = next((v for v in all_verdicts if norm and v["norm"] == norm.code), None)
    out = request_json(rows[intervention_id], main, tz)
    out["verdicts"] = all_verdicts
    out["events"] = [
        {
            "kind": e["kind"],
            "at": iso(e["at"], tz),
            "username": e["username"],
            "note": e["note"],
            "detail": e["detail"],
        }
        for e in history
    ]
    return out


@bp.get("/interventions/<int:intervention_id>")
@requires()
def intervention(intervention_id: int) -> Any:
    tz = territory_tz()
    as_of = as_of_arg(tz)
    with engine().connect() as conn:
        norm = norm_arg(conn)
    return jsonify(_one(intervention_id, as_of, norm, tz))


@bp.post("/interventions")
@requires(*REPORTERS)
def report() -> Any:
    body = json_body()
    who = principal()
    assert who is not None
    category = clean_text(body.get("category"), "category", 64, required=True)
    description = clean_text(body.get("description"), "description", edits.MAX_TEXT, required=True)
    address = clean_text(body.get("address"), "address", edits.MAX_SHORT_TEXT)
    lon_value = body.get("lon", body.get("long"))
    if lon_value is None or body.get("lat") is None:
        raise ApiError(422, "invalid_field", "lat and lon (or long) are required")
    lon, lat = _number(lon_value, "lon"), _number(body.get("lat"), "lat")
    insulting = body.get("insulting", False)
    if not isinstance(insulting, bool):
        raise ApiError(422, "invalid_field", "insulting must be true or false")
    severity = clean_text(body.get("severity"), "severity", MAX_SEVERITY)
    channel = clean_text(body.get("channel"), "channel", MAX_CHANNEL)
    when = body_instant(body["reported_at"], "reported_at") if "reported_at" in body else datetime.now(UTC)
    try:
        with write(engine()) as conn:
            new_id = create_request(
                conn,
                category=category or "",
                description=description,
                address=address,
                lon=lon,
                lat=lat,
                username=who.username,
                when=when,
                insulting=insulting,
                severity=severity,
                channel=channel,
            )
    except ValueError as exc:
        raise ApiError(422, "invalid_field", str(exc)) from exc
    tz = territory_tz()
    with engine().connect() as conn:
        norm = headline_norm(conn)
    response = jsonify(_one(new_id, pd.Timestamp(datetime.now(UTC)), norm, tz))
    response.status_code = 201
    response.headers["Location"] = url_for("api.intervention", intervention_id=new_id)
    return response


@bp.post("/interventions/<int:intervention_id>/resolve")
@requires(*RESOLVERS)
def resolve(intervention_id: int) -> Any:
    body = json_body()
    who = principal()
    assert who is not None
    if intervention_id > MAX_ID:
        raise _not_found(intervention_id)
    note = clean_text(body.get("note"), "note", edits.MAX_TEXT)
    when = body_instant(body["resolved_at"], "resolved_at") if "resolved_at" in body else datetime.now(UTC)
    try:
        with write(engine()) as conn:
            edits.resolve(conn, intervention_id, when, note, who.username)
    except LookupError as exc:
        raise _not_found(intervention_id) from exc
    except ValueError as exc:
        raise ApiError(422, "invalid_field", str(exc)) from exc
    tz = territory_tz()
    with engine().connect() as conn:
        norm = headline_norm(conn)
    return jsonify(_one(intervention_id, pd.Timestamp(datetime.now(UTC)), norm, tz))


# -- routes: evaluations and audit ---------------------------------------------------------------


def _periodic_bound(name: str) -> pd.Timestamp | None:
    text = request.args.get(name)
    if not text:
        return None
    if not DATE.match(text.strip()):
        raise bad(name, f"'{text}' is not a date (YYYY-MM-DD)")
    try:
        day = pd.Timestamp(date.fromisoformat(text.strip()))
    except ValueError as exc:
        raise bad(name, f"'{text}' is not a date (YYYY-MM-DD)") from exc
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise bad(name, f"'{text}' is outside {FIRST_YEAR}..{LAST_YEAR}")
    return day


@bp.get("/evaluations")
@requires()
def evaluations() -> Any:
    """What ``geova evaluate`` says: aggregates of the deadline norms grouped ``by``, periodic norms
    per unit and period, and optionally the verdict on each request (paged)."""
    tz = territory_tz()
    as_of = as_of_arg(tz)
    codes = list_arg("norm")
    by = list_arg("by") or ["norm"]
    wrong = [d for d in by if d not in DIMENSIONS]
    if wrong:
        raise bad("by", f"cannot group by {', '.join(wrong)}; choose among {', '.join(DIMENSIONS)}")
    deadline = request.args.get("deadline")
    if deadline and deadline not in (b.value for b in Basis):
        raise bad("deadline", "must be rule or source")
    risk = float_arg("risk_hours", DEFAULT_RISK_HOURS, 0, MAX_RISK_HOURS)
    start, end = _periodic_bound("from"), _periodic_bound("to")
    if start is not None and end is not None and start > end:
        raise bad("to", "the period ends before it starts")
    local_as_of = as_of.tz_convert(tz).tz_localize(None)
    span_start = start if start is not None else pd.Timestamp(year=local_as_of.year, month=1, day=1)
    span_end = end if end is not None else local_as_of
    if (span_end - span_start) > timedelta(days=MAX_PERIODIC_DAYS):
        raise bad("from", f"periodic norms are evaluated over {MAX_PERIODIC_DAYS // 366} years at most")
    with_detail = bool_arg("per_intervention")
    limit, offset = paging()
    where = record_filter(tz, with_period=False)  # from/to bound the periods of periodic norms here
    if codes:
        with engine().connect() as conn:
            known = {n.code for n in load_norms(conn)}
        unknown = [c for c in codes if c not in known]
        if unknown:
            raise ApiError(400, "unknown_code", f"norm: unknown code(s) {', '.join(unknown)}")
    try:
        result = evaluate(
            engine(),
            as_of=as_of,
            norm_codes=codes or None,
            by=by,
            basis=Basis(deadline) if deadline else None,
            risk_hours=risk,
            period_start=start,
            period_end=end,
            where=where if where != RecordFilter() else None,
        )
    except (LookupError, ValueError) as exc:
        raise ApiError(400, "invalid_parameter", str(exc)) from exc
    out: dict[str, Any] = {
        "as_of": iso(result.as_of, tz),
        "timezone": tz,
        "norms": [n.code for n in result.norms],
        "by": by,
        "aggregates": frame_records(result.aggregates, tz),
        "periodic": frame_records(result.periodic, tz),
    }
    if with_detail:
        per = result.per_intervention.sort_values(["norm", "id"], kind="stable")
        out["per_intervention"] = {
            "total": len(per),
            "limit": limit,
            "offset": offset,
            "items": frame_records(per.iloc[offset : offset + limit], tz),
        }
    return jsonify(out)


@bp.get("/audit")
@requires()
def audit() -> Any:
    """The audit grid: the latest answer per quarter, year and standard task."""
    year = integer_arg("year", 0, FIRST_YEAR, LAST_YEAR) or None
    tz = territory_tz()
    with engine().connect() as conn:
        quarter = codes_arg("quarter", _known(conn, Quarter.__table__.c.code))
        if quarter and len(quarter) > 1:
            raise bad("quarter", "one quarter code at a time")
        grid = current_grid(conn, year=year, quarter=quarter[0] if quarter else None)
    return jsonify({"year": year, "items": frame_records(grid, tz)})
