"""Open311 GeoReport v2 (https://wiki.open311.org/GeoReport_v2), under /open311/v2.

Every resource answers in XML (``.xml``, the spec's required format) and JSON (``.json``), UTF-8,
dates in ISO 8601 with the territory's offset. Errors use the spec's format (``[{"code": 400,
"description": ...}]`` / ``<errors><error>...``) with the HTTP codes 400, 403 and 404.

- discovery: the service discovery document;
- services: one service per category that takes requests (a category an active deadline norm covers
  or one stored requests already use), grouped by field of action; a category whose norms depend on
  whether the report is insulting or on its severity has metadata, and its definition lists those
  attributes (``insulting``, ``severity``) as single-value lists;
- requests (GET): by ``service_request_id`` (comma list, overrides the rest) or by ``service_code``,
  ``start_date``/``end_date`` (90 days at most; the last 90 days by default) and ``status``
  (open, closed), most recent first, paged by the common extension parameters ``page`` and
  ``page_size``. ``expected_datetime`` is the earliest deadline the active deadline norms set;
- requests (POST): needs ``api_key`` (a geova API key of role correspondent, service or admin; 403
  otherwise), ``service_code``, ``lat`` and ``long`` (geova has no geocoder: an ``address_string``
  alone is refused, with it the address is kept), ``description`` (the service name when absent)
  and ``attribute[...]``; ``email``, ``first_name``, ``last_name``, ``phone``, ``device_id``,
  ``account_id`` and ``media_url`` are accepted and not stored. The request is stored with source
  ``open311``, its token as source id and the key's name (the app) as channel, assigned to its
  quarter, sub-quarter and zones and judged by the norms like any other;
- requests/{id}: one request; tokens/{token}: the request id of a token a POST returned.

``jurisdiction_id`` is accepted and ignored (geova serves one territory).
"""

from __future__ import annotations

import json
import re
import secrets
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from flask import Blueprint, Response, request
from flask_babel import get_locale
from sqlalchemy import Connection, func, select
from werkzeug.exceptions import HTTPException

from geova.core.norms import Norm
from geova.store import edits
from geova.store.db import write
from geova.store.records import RecordFilter, _filtered
from geova.store.schema import ImportRun, Intervention, InterventionEvent, Quarter
from geova.store.status import settings
from geova.web import api, csrf, engine
from geova.web.errors import Failure, register_format

bp = Blueprint("open311", __name__, url_prefix="/open311/v2")
csrf.exempt(bp)  # Open311 clients authenticate by api_key

IV = Intervention.__table__
SPEC = "http://wiki.open311.org/GeoReport_v2"
FMT = "<any(json, xml):fmt>"
SOURCE = "open311"
TOKEN_PREFIX = "O311-"
TOKEN_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base 32: no I, L, O, U
MAX_SPAN = timedelta(days=90)
DEFAULT_PAGE_SIZE = 1000
MAX_PAGE_SIZE = 1000
MAX_DESCRIPTION = edits.MAX_TEXT
REPORTERS = api.REPORTERS
IGNORED = ("email", "device_id", "account_id", "first_name", "last_name", "phone", "media_url")
PLURALS = {"endpoints": "endpoint", "formats": "format", "attributes": "attribute", "values": "value"}
TEXTS = {
    "en": {
        "yes": "Yes",
        "no": "No",
        "insulting": "Is it insulting?",
        "insulting_help": "Insulting reports are handled under stricter deadlines.",
        "severity": "Severity",
        "severity_help": "The severity class the deadline depends on.",
        "commitments": "Commitments",
        "expected": "Expected by {due} ({norm}).",
        "no_deadline": "No deadline applies to this request.",
        "cancelled": "Cancelled.",
        "duplicate": "Closed as a duplicate.",
        "contact": "The services of {name}",
        "key_service": "API keys are issued by the administrators of geova "
        "(geova apikey add NAME --role ...).",
    },
    "fr": {
        "yes": "Oui",
        "no": "Non",
        "insulting": "Est-il injurieux ?",
        "insulting_help": "Les signalements injurieux sont traités dans des délais plus courts.",
        "severity": "Gravité",
        "severity_help": "La classe de gravité dont dépend le délai.",
        "commitments": "Engagements",
        "expected": "Prévu au plus tard le {due} ({norm}).",
        "no_deadline": "Aucun délai ne s'applique à cette demande.",
        "cancelled": "Annulée.",
        "duplicate": "Close comme doublon.",
        "contact": "Les services de {name}",
        "key_service": "Les clés d'API sont délivrées par les administrateurs de geova "
        "(geova apikey add NOM --role ...).",
    },
}


class Open311Error(Exception):
    def __init__(self, status: int, description: str):
        super().__init__(description)
        self.status, self.description = status, description


def _lang() -> str:
    lang = str(get_locale() or "fr")
    return lang if lang in TEXTS else "en"


def _text(key: str, **values: Any) -> str:
    return TEXTS[_lang()][key].format(**values)


# -- rendering -----------------------------------------------------------------------------------


NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")  # characters XML 1.0 cannot carry


def _xml_value(parent: ET.Element, tag: str, value: Any) -> None:
    element = ET.SubElement(parent, tag)
    if isinstance(value, dict):
        for key, inner in value.items():
            _xml_value(element, key, inner)
    elif isinstance(value, list):
        for inner in value:
            _xml_value(element, PLURALS.get(tag, "item"), inner)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif value is not None:
        element.text = NOT_XML.sub("", str(value))


def render(fmt: str, data: Any, root: str, item: str | None = None, status: int = 200) -> Response:
    """``data`` (a list of objects under ``root``/``item``, or one object named ``root``) as JSON or
    as XML with its UTF-8 declaration."""
    if fmt == "json":
        body = json.dumps(data, ensure_ascii=False)
        return Response(body.encode("utf-8"), status=status, content_type="application/json; charset=utf-8")
    top = ET.Element(root)
    if isinstance(data, list):
        for entry in data:
            _xml_value(top, item or "item", entry)
    else:
        for key, value in data.items():
            _xml_value(top, key, value)
    text = ET.tostring(top, encoding="unicode")
    body = '<?xml version="1.0" encoding="UTF-8"?>\n' + text
    return Response(body.encode("utf-8"), status=status, content_type="text/xml; charset=utf-8")


def _format_of_path() -> str:
    fmt = (request.view_args or {}).get("fmt")
    if fmt in ("json", "xml"):
        return fmt
    return "json" if request.path.endswith(".json") else "xml"


def error(status: int, description: str) -> Response:
    return render(
        _format_of_path(), [{"code": status, "description": description}], "errors", "error", status
    )


def _failure(failure: Failure) -> Response:
    """What the app-wide error policy answers under /open311 (e.g. the store busy: 503 + Retry-After),
    in the spec's error list."""
    response = error(failure.status, failure.message)
    response.headers.update(failure.headers)
    return response


register_format("/open311", _failure)


@bp.errorhandler(Open311Error)
def _open311_error(exc: Open311Error) -> Response:
    return error(exc.status, exc.description)


@bp.errorhandler(api.ApiError)
def _api_error(exc: api.ApiError) -> Response:
    return error(exc.status if exc.status in (400, 403, 404) else 400, exc.message)


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response:
    return error(exc.code or 400, exc.description or exc.name)


def routing_error(exc: HTTPException) -> Response:
    """An unknown path, format or method under /open311 (called by the app's 404/405 handler)."""
    if exc.code == 405:
        return error(405, "method not allowed for this resource")
    return error(404, "no such resource (formats: .json and .xml)")


@bp.before_request
def _refuse_nul() -> None:
    values = request.values if request.method == "POST" else request.args
    for key, items in values.lists():
        if "\x00" in key or any("\x00" in v for v in items):
            raise Open311Error(400, "NUL characters are not allowed")


# -- values --------------------------------------------------------------------------------------


def w3(value: Any, tz: str) -> str | None:
    """An instant in the w3 subset of ISO 8601, seconds, with the territory's offset."""
    if value is None or value is pd.NaT:
        return None
    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return ts.tz_convert(tz).floor("s").isoformat()


def _parse_date(text: str, name: str, tz: str) -> pd.Timestamp:
    try:
        return api.parse_instant(text, name, tz)
    except api.ApiError as exc:
        raise Open311Error(400, exc.message) from exc


def _int(text: str | None, name: str, default: int, low: int, high: int) -> int:
    if text is None or text == "":
        return default
    if not api.INTEGER.match(text.strip()) or not low <= int(text.strip()) <= high:
        raise Open311Error(400, f"{name} must be a whole number between {low} and {high}")
    return int(text.strip())


def _list(text: str | None) -> list[str]:
    return list(dict.fromkeys(v.strip() for v in (text or "").split(",") if v.strip()))


# -- services ------------------------------------------------------------------------------------


def _attributes(norms: list[Norm]) -> dict[str, dict[str, set[str] | bool]]:
    """Per category, what its norms' scopes depend on: insulting, severities."""
    out: dict[str, dict[str, set[str] | bool]] = {}
    for norm in norms:
        for scope in norm.scopes:
            for category in scope.categories:
                entry = out.setdefault(category, {"insulting": False, "severities": set()})
                if scope.insulting is not None:
                    entry["insulting"] = True
                entry["severities"] |= set(scope.severities)  # type: ignore[operator]
    return out


def attribute_list(category: str, attrs: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    entry = attrs.get(category, {})
    out: list[dict[str, Any]] = []
    if entry.get("insulting"):
        out.append(
            {
                "variable": True,
                "code": "insulting",
                "datatype": "singlevaluelist",
                "required": False,
                "datatype_description": _text("insulting_help"),
                "order": len(out) + 1,
                "description": _text("insulting"),
                "values": [{"key": "true", "name": _text("yes")}, {"key": "false", "name": _text("no")}],
            }
        )
    if entry.get("severities"):
        out.append(
            {
                "variable": True,
                "code": "severity",
                "datatype": "singlevaluelist",
                "required": False,
                "datatype_description": _text("severity_help"),
                "order": len(out) + 1,
                "description": _text("severity"),
                "values": [{"key": s, "name": s} for s in sorted(entry["severities"])],
            }
        )
    return out


def catalogue(conn: Connection) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(services, attributes by category) of the categories that take requests."""
    norms = api.deadline_norms(conn)
    used = set().union(*(n.categories for n in norms)) if norms else set()
    used |= set(conn.execute(select(IV.c.category_code).distinct()).scalars())
    attrs = _attributes(norms)
    lang = _lang()
    services = []
    for row in api.category_rows(conn):
        if row["code"] not in used:
            continue
        label = row[f"label_{lang}"] or row["code"]
        task = row[f"task_label_{lang}"]
        commitments = [
            n.label_fr if lang == "fr" else n.label_en for n in norms if row["code"] in n.categories
        ]
        description = " ".join(
            p
            for p in (
                f"{task}." if task else "",
                f"{_text('commitments')}: {'; '.join(commitments)}." if commitments else "",
            )
            if p
        )
        services.append(
            {
                "service_code": row["code"],
                "service_name": label,
                "description": description or label,
                "metadata": bool(attribute_list(row["code"], attrs)),
                "type": "realtime",
                "keywords": ", ".join(k for k in (row["code"], row["task"], row["field"]) if k),
                "group": row[f"field_label_{lang}"] or "",
            }
        )
    return services, attrs


@bp.get(f"/discovery.{FMT}")
def discovery(fmt: str) -> Response:
    with engine().connect() as conn:
        name = settings(conn).get("territory_name") or "geova"
        # services change with the referential and the categories imports bring
        changed = conn.execute(select(func.max(ImportRun.__table__.c.finished_at))).scalar()
    tz = api.territory_tz()
    changeset = w3(changed, tz) if changed else w3(datetime(2008, 1, 1, tzinfo=UTC), tz)
    data = {
        "changeset": changeset,
        "contact": _text("contact", name=name),
        "key_service": _text("key_service"),
        "endpoints": [
            {
                "specification": SPEC,
                "url": request.host_url.rstrip("/") + (bp.url_prefix or ""),
                "changeset": changeset,
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }
        ],
    }
    return render(fmt, data, "discovery")


@bp.get(f"/services.{FMT}")
def services(fmt: str) -> Response:
    with engine().connect() as conn:
        found, _ = catalogue(conn)
    return render(fmt, found, "services", "service")


@bp.get(f"/services/<code>.{FMT}")
def service_definition(code: str, fmt: str) -> Response:
    with engine().connect() as conn:
        found, attrs = catalogue(conn)
    if code not in {s["service_code"] for s in found}:
        raise Open311Error(404, f"no service with service_code '{code}'")
    return render(
        fmt, {"service_code": code, "attributes": attribute_list(code, attrs)}, "service_definition"
    )


# -- requests ------------------------------------------------------------------------------------


def _labels(conn: Connection) -> dict[str, str]:
    lang = _lang()
    return {r["code"]: r[f"label_{lang}"] or r["code"] for r in api.category_rows(conn)}


def requests_data(ids: list[int]) -> list[dict[str, Any]]:
    """The spec's request objects for these ids, in this order."""
    if not ids:
        return []
    tz = api.territory_tz()
    with engine().connect() as conn:
        rows = api.request_rows(conn, ids)
        labels = _labels(conn)
        ev = InterventionEvent.__table__
        last_event = dict(
            conn.execute(
                select(ev.c.intervention_id, func.max(ev.c.at))
                .where(ev.c.intervention_id.in_(ids))
                .group_by(ev.c.intervention_id)
            ).all()
        )
        norms = api.deadline_norms(conn)
    judged = api.verdicts(ids, norms, pd.Timestamp(datetime.now(UTC)))
    due = judged.dropna(subset=["due_at"]).groupby("id")["due_at"].min() if len(judged) else pd.Series()
    out = []
    for i in ids:
        row = rows.get(i)
        if row is None:
            continue
        stamps = [pd.Timestamp(t) for t in (row["reported_at"], row["resolved_at"]) if t is not None]
        if last_event.get(i) is not None:
            stamps.append(pd.Timestamp(last_event[i]).tz_convert("UTC"))
        open_ = row["status"] == "open" and row["resolved_at"] is None
        notes = _text(row["status"]) if row["status"] in ("cancelled", "duplicate") else None
        out.append(
            {
                "service_request_id": str(i),
                "status": "open" if open_ else "closed",
                "status_notes": notes,
                "service_name": labels.get(row["category_code"], row["category_code"]),
                "service_code": row["category_code"],
                "description": row["description"],
                "agency_responsible": row["service"],
                "service_notice": None,
                "requested_datetime": w3(row["reported_at"], tz),
                "updated_datetime": w3(max(t.tz_convert("UTC") for t in stamps), tz),
                "expected_datetime": w3(due.get(i), tz) if i in due.index else None,
                "address": row["address"],
                "address_id": None,
                "zipcode": None,
                "lat": float(row["lat"]),
                "long": float(row["lon"]),
                "media_url": None,
            }
        )
    return out


def _ids_arg(text: str) -> list[int]:
    ids = _list(text)
    if not ids or not all(api.INTEGER.match(i) and int(i) <= api.MAX_ID for i in ids):
        raise Open311Error(400, "service_request_id must be request ids separated by commas")
    if len(ids) > MAX_PAGE_SIZE:
        raise Open311Error(400, f"at most {MAX_PAGE_SIZE} service_request_id at once")
    return [int(i) for i in ids]


def _search(args: Any) -> list[int]:
    """Ids matching GET requests' parameters, most recent first."""
    tz = api.territory_tz()
    page = _int(args.get("page"), "page", 1, 1, 10**6)
    size = _int(args.get("page_size"), "page_size", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
    if args.get("service_request_id"):
        ids = _ids_arg(args["service_request_id"])
        with engine().connect() as conn:
            found = set(conn.execute(select(IV.c.id).where(IV.c.id.in_(ids))).scalars())
        return [i for i in ids if i in found][(page - 1) * size : page * size]
    codes = _list(args.get("service_code"))
    with engine().connect() as conn:
        known = set(api._known(conn, IV.c.category_code)) | {r["code"] for r in api.category_rows(conn)}
    unknown = [c for c in codes if c not in known]
    if unknown:
        raise Open311Error(400, f"unknown service_code {', '.join(unknown)}")
    statuses = _list(args.get("status"))
    if any(s not in ("open", "closed") for s in statuses):
        raise Open311Error(400, "status must be open or closed (comma-separated)")
    start = _parse_date(args["start_date"], "start_date", tz) if args.get("start_date") else None
    end = _parse_date(args["end_date"], "end_date", tz) if args.get("end_date") else None
    if start is None and end is None:
        end = pd.Timestamp(datetime.now(UTC))
    if start is None:
        start = end - MAX_SPAN
    if end is None:
        end = start + MAX_SPAN
    if start > end:
        raise Open311Error(400, "end_date is before start_date")
    if end - start > MAX_SPAN:
        raise Open311Error(400, "start_date and end_date may not span more than 90 days")
    where = RecordFilter(categories=tuple(codes) or None, reported_from=start)
    q1 = Quarter.__table__.alias("q1")
    q2 = Quarter.__table__.alias("q2")
    with engine().connect() as conn:
        query = _filtered(conn, select(IV.c.id).select_from(IV), where, q1, q2)
        query = _upto(conn, query, end)  # end_date is inclusive
        if statuses == ["open"]:
            query = query.where((IV.c.status == "open") & IV.c.resolved_at.is_(None))
        elif statuses == ["closed"]:
            query = query.where((IV.c.status != "open") | IV.c.resolved_at.isnot(None))
        query = query.order_by(IV.c.reported_at.desc(), IV.c.id.desc()).limit(size).offset((page - 1) * size)
        return [int(i) for i in conn.execute(query).scalars()]


def _upto(conn: Connection, query: Any, end: pd.Timestamp) -> Any:
    from geova.store.records import _time_expr, _time_value

    return query.where(_time_expr(conn, IV.c.reported_at) <= _time_value(conn, end))


@bp.get(f"/requests.{FMT}")
def get_requests(fmt: str) -> Response:
    return render(fmt, requests_data(_search(request.args)), "service_requests", "request")


@bp.get(f"/requests/<request_id>.{FMT}")
def get_request(request_id: str, fmt: str) -> Response:
    if not api.INTEGER.match(request_id) or int(request_id) > api.MAX_ID:
        raise Open311Error(404, f"no service request '{request_id}'")
    found = requests_data([int(request_id)])
    if not found:
        raise Open311Error(404, f"no service request '{request_id}'")
    return render(fmt, found, "service_requests", "request")


@bp.get(f"/tokens/<token>.{FMT}")
def get_token(token: str, fmt: str) -> Response:
    with engine().connect() as conn:
        found = conn.execute(
            select(IV.c.id).where((IV.c.source == SOURCE) & (IV.c.source_id == token))
        ).scalar()
    if found is None:
        raise Open311Error(404, f"no token '{token}'")
    return render(fmt, [{"service_request_id": str(found), "token": token}], "service_requests", "request")


def _new_token(conn: Connection) -> str:
    while True:
        token = TOKEN_PREFIX + "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(10))
        taken = conn.execute(select(IV.c.id).where((IV.c.source == SOURCE) & (IV.c.source_id == token)))
        if taken.first() is None:
            return token


def _reporter() -> api.Principal:
    """The key of a POST: api_key (form or query) or a Bearer header; 403 in the spec's format."""
    try:
        token = api.presented_key()
    except api.ApiError as exc:
        raise Open311Error(403, exc.message) from exc
    if token is None and "api_key" in request.form:
        token = request.form["api_key"]
    if not token:
        raise Open311Error(403, "api_key is required")
    key = api.key_principal(token)
    if key is None:
        raise Open311Error(403, "invalid api_key")
    if not key.allowed(*REPORTERS):
        raise Open311Error(403, f"this api_key (role {key.role}) may not post requests")
    return key


ATTRIBUTE = re.compile(r"^attribute\[([^\]]+)\](\[\])?$")
TRUE, FALSE = ("true", "1", "yes"), ("false", "0", "no")


def _attribute_values(values: Any, category: str, attrs: dict[str, Any]) -> tuple[bool, str | None]:
    """(insulting, severity) from ``attribute[...]``; attributes a service does not define are ignored."""
    defined = {a["code"]: a for a in attribute_list(category, attrs)}
    insulting, severity = False, None
    for key in values:
        match = ATTRIBUTE.match(key)
        if not match or match.group(1) not in defined:
            continue
        code, value = match.group(1), (values.get(key) or "").strip()
        if code == "insulting":
            if value.lower() not in TRUE + FALSE:
                raise Open311Error(400, "attribute[insulting] must be true or false")
            insulting = value.lower() in TRUE
        elif code == "severity" and value:
            allowed = [v["key"] for v in defined["severity"]["values"]]
            if value not in allowed:
                raise Open311Error(400, f"attribute[severity] must be one of {', '.join(allowed)}")
            severity = value
    return insulting, severity


def _coordinate(values: Any, name: str) -> float:
    try:
        value = float(values.get(name, ""))
    except ValueError as exc:
        raise Open311Error(400, f"{name} must be a number") from exc
    return value


def _notice(new_id: int, tz: str) -> str:
    with engine().connect() as conn:
        norms = api.deadline_norms(conn)
    judged = api.verdicts([new_id], norms, pd.Timestamp(datetime.now(UTC)))
    judged = judged.dropna(subset=["due_at"]).sort_values("due_at") if len(judged) else judged
    if not len(judged):
        return _text("no_deadline")
    first = judged.iloc[0]
    norm = next(n for n in norms if n.code == first["norm"])
    label = norm.label_fr if _lang() == "fr" else norm.label_en
    return _text("expected", due=w3(first["due_at"], tz), norm=label)


@bp.post(f"/requests.{FMT}")
def post_request(fmt: str) -> Response:
    key = _reporter()
    values = request.values
    code = (values.get("service_code") or "").strip()
    if not code:
        raise Open311Error(400, "service_code is required")
    with engine().connect() as conn:
        found, attrs = catalogue(conn)
    service = next((s for s in found if s["service_code"] == code), None)
    if service is None:
        raise Open311Error(400, f"service_code '{code}' not found")
    address = values.get("address_string") or None
    if not values.get("lat") or not values.get("long"):
        if address or values.get("address_id"):
            raise Open311Error(400, "lat and long are required: this server cannot locate an address")
        raise Open311Error(400, "lat and long are required")
    lat, lon = _coordinate(values, "lat"), _coordinate(values, "long")
    insulting, severity = _attribute_values(values, code, attrs)
    description = values.get("description") or service["service_name"]
    tz = api.territory_tz()
    try:
        with write(engine()) as conn:
            token = _new_token(conn)
            new_id = api.create_request(
                conn,
                category=code,
                description=description,
                address=address,
                lon=lon,
                lat=lat,
                username=f"key:{key.name}",
                when=datetime.now(UTC),
                insulting=insulting,
                severity=severity,
                channel=key.name,
                source=SOURCE,
                source_id=token,
            )
    except ValueError as exc:
        raise Open311Error(400, str(exc)) from exc
    data = [
        {
            "service_request_id": str(new_id),
            "token": token,
            "service_notice": _notice(new_id, tz),
            "account_id": None,
        }
    ]
    return render(fmt, data, "service_requests", "request", status=201)
