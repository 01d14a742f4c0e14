"""Open311 GeoReport v2 (https://wiki.open311.org/GeoReport_v2), under /open311/v2.

Every resource answers in XML (``.xml``, the spec's required format) and JSON (``.json``), UTF-8,
dates in ISO 8601 with the territory's offset. Errors, whatever raised them (a parameter model, the
access rule, routing, the store being busy), are the spec's list (``[{"code": 400, "description":
...}]`` / ``<errors><error>...``) in the format of the path: this module registers that format for
``/open311`` with the app's error policy (geova.web.errors).

- discovery: the service discovery document;
- services: one service per category that takes requests (a category an active deadline norm covers
  or one stored requests already use), grouped by field of action; a category whose norms depend on
  whether the report is insulting or on its severity has metadata, and its definition lists those
  attributes (``insulting``, ``severity``) as single-value lists;
- requests (GET): by ``service_request_id`` (comma list, overrides the rest) or by ``service_code``,
  ``start_date``/``end_date`` (90 days at most; the last 90 days by default) and ``status``
  (open, closed), most recent first, paged by the common extension parameters ``page`` and
  ``page_size``. ``expected_datetime`` is the due date geova stores (routing's, or the source's;
  the earliest deadline the active deadline norms set when it has none), ``status_notes`` the
  latest public note (never an internal one), ``agency_responsible`` and ``service_notice`` the
  service's name and contact, ``media_url`` the link the request was posted with.
  Who reads what follows geova's one access rule (geova.web.access): anonymous callers only when
  the territory publishes its requests, and then without description and address; correspondents
  their quarter's requests; API keys and the other roles every request;
- requests (POST): needs ``api_key`` (a geova API key of role correspondent, service or admin; 403
  otherwise, as the spec says), ``service_code``, ``lat`` and ``long`` inside the territory (geova
  has no geocoder: an ``address_string`` alone is refused, with it the address is kept),
  ``description`` (4,000 characters at most; the service name when absent) and ``attribute[...]``;
  ``media_url`` (an http(s) URL, kept in the ``reported`` event's detail: the request table has no
  column for it); ``email``, ``first_name``, ``last_name`` and ``phone`` are the requester's contact,
  kept apart from the request (geova.store.requesters: never in any GET; a malformed ``email`` is
  refused, 400 naming it) for the e-mails of the follow-up and the resolution; ``device_id`` and
  ``account_id`` are accepted and not stored. The request is stored with source ``open311``, its
  token as source id and the key's name (the app) as channel, assigned to its quarter, sub-quarter
  and zones and judged by the norms like any other;
- requests/{id}: one request (the same rule); tokens/{token}: the request id of a token a POST
  returned (public: it tells nothing but an id).

- servicerequestupdates (FixMyStreet's extension; GET by ``start_date``/``end_date``, the same
  window, paging and access rule as requests; POST of a client's update, idempotent on its
  ``update_id``): see get_updates and post_update. Their ``status`` is one of FixMyStreet's
  extended statuses (OPEN, INVESTIGATING, IN_PROGRESS, FIXED...), as the referential's
  ``[status_mapping]`` names each status of the life cycle (geova.core.lifecycle).

``jurisdiction_id`` is accepted and ignored (geova serves one territory).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import pandas as pd
import xmltodict
from flask import Blueprint, Response, abort, request
from flask_babel import get_locale
from flask_babel import gettext as _
from pydantic import AfterValidator, Field, field_validator, model_validator
from sqlalchemy import Connection
from werkzeug.exceptions import HTTPException

from geova.core.lifecycle import (
    FIXMYSTREET_UPDATES,
    TransitionRefused,
    allowed_from,
    external_status,
    fixmystreet_status,
    from_fixmystreet,
    is_open,
)
from geova.core.norms import Norm, ScopeAttributes, scope_attributes
from geova.core.requesters import ContactRefused, contact
from geova.evaluation import evaluate
from geova.store import edits
from geova.store import open311 as store
from geova.store.catalogue import category_rows
from geova.store.db import write
from geova.store.records import RecordFilter
from geova.store.referential import deadline_norms, status_mapping
from geova.store.referential import services as referential_services
from geova.store.routing import service_labels
from geova.store.status import settings
from geova.web import csrf, engine
from geova.web.access import REPORTERS, key_user, request_access
from geova.web.errors import Failure, ParamError, from_http, register_format
from geova.web.format import territory_tz
from geova.web.params import MAX_ID, Code, Codes, Instant, Params, Text, local, parse
from geova.web.requesters import notify_resolved

PREFIX = "/open311"
bp = Blueprint("open311", __name__, url_prefix=f"{PREFIX}/v2")
csrf.exempt(bp)  # Open311 clients authenticate by api_key; a session cookie never posts (see post_request)

SPEC = "http://wiki.open311.org/GeoReport_v2"
FMT = "<any(json, xml):fmt>"
MAX_SPAN = timedelta(days=90)
DEFAULT_PAGE_SIZE = 1000
MAX_PAGE_SIZE = 1000
MAX_PAGE = 10**6
MAX_DESCRIPTION = edits.MAX_DESCRIPTION  # the spec: "free form text limited to 4,000 characters"
MAX_FIELD = 2000  # any other form field (an e-mail, a media URL...): accepted, bounded
STATUSES = ("open", "closed")
REQUEST_ID = re.compile(r"^[0-9]{1,19}$")
TOKEN = re.compile(rf"^{store.TOKEN_PREFIX}[0-9A-Z]{{1,40}}$")
PLURALS = {"endpoints": "endpoint", "formats": "format", "attributes": "attribute", "values": "value"}
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")  # not XML 1.0 characters


def _lang() -> str:
    return "fr" if str(get_locale() or "fr") == "fr" else "en"


# -- rendering -----------------------------------------------------------------------------------


def _xml_ready(value: Any, tag: str) -> Any:
    """``value`` as xmltodict writes it: a list becomes the spec's repeated child elements (an
    ``attributes`` list holds ``attribute`` elements), booleans are ``true``/``false``, and the
    characters XML 1.0 cannot carry (a control character from an imported file) are left out, since
    no escaping can represent them and a client's parser would refuse the whole document."""
    if isinstance(value, dict):
        return {key: _xml_ready(inner, key) for key, inner in value.items()}
    if isinstance(value, list):
        child = PLURALS.get(tag, "item")
        return {child: [_xml_ready(inner, child) for inner in value]} if value else None
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return None
    return NOT_XML.sub("", str(value))


def render(
    fmt: str,
    data: Any,
    root: str,
    item: str | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """``data`` (a list of objects under ``root``/``item``, or one object named ``root``) as JSON,
    or as XML with its UTF-8 declaration.

    The XML is written by xmltodict (a maintained library, and the one the published GeoReport
    clients read it back with, so both sides agree on how lists and empty values map to elements);
    it escapes markup through the standard library's XMLGenerator."""
    if fmt == "json":
        body = json.dumps(data, ensure_ascii=False).encode("utf-8")
        mimetype = "application/json"
    else:
        if isinstance(data, list):
            tag = item or "item"
            content = {tag: [_xml_ready(entry, tag) for entry in data]} if data else None
        else:
            content = _xml_ready(data, root)
        body = xmltodict.unparse({root: content}, encoding="UTF-8").encode("utf-8")
        mimetype = "text/xml"
    response = Response(body, status=status, headers=headers, content_type=f"{mimetype}; charset=utf-8")
    return response


def path_format() -> str:
    """The format the path asks for; the spec's own (XML) for a path that names none."""
    return "json" if request.path.endswith(".json") else "xml"


def spec_errors(failure: Failure) -> Response:
    """Any failure under /open311 as the spec's error list. A POST whose api_key is missing,
    unknown or revoked is a 403, as the spec says (the shared authentication answers 401)."""
    status, headers = failure.status, dict(failure.headers)
    if status == 401 and request.method == "POST":
        status = 403
        headers.pop("WWW-Authenticate", None)
    errors = [{"code": status, "description": failure.message}]
    return render(path_format(), errors, "errors", "error", status, headers)


register_format(PREFIX, spec_errors)


def routing_error(exc: HTTPException) -> Response:
    """An unknown path, format or method under /open311: geova.web.api's routing handler still calls
    this; the app's error policy answers it in the spec's format like any other failure."""
    return from_http(exc)


def w3(value: Any, tz: str) -> str | None:
    """An instant in the w3 subset of ISO 8601, seconds, with the territory's offset."""
    if value is None or value is pd.NaT:
        return None
    # datetime and zoneinfo rather than pandas: a page of 1,000 requests writes 3,000 of these
    when = value.to_pydatetime() if isinstance(value, pd.Timestamp) else value
    if not isinstance(when, datetime):
        when = pd.Timestamp(when).to_pydatetime()
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(_zone(tz)).replace(microsecond=0).isoformat()


@lru_cache(maxsize=16)
def _zone(tz: str) -> ZoneInfo:
    return ZoneInfo(tz)


# -- parameters ----------------------------------------------------------------------------------


class RequestsQuery(Params):
    """GET requests: ``service_request_id`` overrides the rest; dates in the territory's time
    zone unless they carry an offset."""

    service_request_id: Codes = ()
    service_code: Codes = ()
    start_date: Instant | None = None
    end_date: Instant | None = None
    status: Codes = ()
    page: Annotated[int, Field(ge=1, le=MAX_PAGE)] = 1
    page_size: Annotated[int, Field(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE
    jurisdiction_id: Text | None = None

    @field_validator("service_request_id")
    @classmethod
    def _ids(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        for value in values:
            if not REQUEST_ID.match(value) or not 1 <= int(value) <= MAX_ID:
                raise ValueError(f"'{value[:40]}' is not a request id (1 to {MAX_ID}, separated by commas)")
        return values

    @field_validator("status")
    @classmethod
    def _statuses(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        if any(v not in STATUSES for v in values):
            raise ValueError("must be open or closed (comma-separated)")
        return values

    @property
    def ids(self) -> list[int]:
        return [int(v) for v in self.service_request_id]

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size


Latitude = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
Longitude = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
Other = Annotated[str, Field(max_length=MAX_FIELD)]
MEDIA_URL = re.compile(r"^https?://[^\s<>\"]+$", re.IGNORECASE)


def _media_url(value: str | None) -> str | None:
    """A photo link: an http(s) URL, or nothing."""
    value = (value or "").strip()
    if not value:
        return None
    if not MEDIA_URL.match(value):
        raise ValueError("must be an http:// or https:// URL")
    return value


MediaUrl = Annotated[str | None, Field(max_length=MAX_FIELD), AfterValidator(_media_url)]


def no_nul(data: Any) -> Any:
    """NUL cannot be stored (PostgreSQL text refuses it) and is no part of any real field."""
    for key, value in dict(data).items():
        if isinstance(value, str) and "\x00" in value:
            raise ValueError(f"{key}: NUL characters are not allowed")
    return data


class NewRequest(Params):
    """POST requests' form (or query) fields; ``api_key`` is read by the shared authentication."""

    service_code: Code
    lat: Latitude | None = None
    long: Longitude | None = None
    address_string: Annotated[str, Field(max_length=edits.MAX_SHORT_TEXT)] | None = None
    address_id: Other | None = None
    description: Annotated[str, Field(max_length=MAX_DESCRIPTION)] | None = None
    insulting: bool | None = Field(None, alias="attribute[insulting]")
    severity: Code | None = Field(None, alias="attribute[severity]")
    jurisdiction_id: Text | None = None
    email: Other | None = None
    device_id: Other | None = None
    account_id: Other | None = None
    first_name: Other | None = None
    last_name: Other | None = None
    phone: Other | None = None
    media_url: MediaUrl = None

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        return no_nul(data)


def window(query: RequestsQuery | UpdatesQuery, tz: str, now: datetime) -> tuple[datetime, datetime]:
    """[start, end] of a search: the last 90 days by default, 90 days from a lone start or up to a
    lone end, never more than 90 days."""
    start, end = local(query.start_date, tz), local(query.end_date, tz)
    if start is None and end is None:
        end = pd.Timestamp(now)
    if start is None:
        assert end is not None
        start = end - MAX_SPAN
    if end is None:
        end = start + MAX_SPAN
    if start > end:
        raise ParamError("end_date", "is before start_date")
    if end - start > MAX_SPAN:
        raise ParamError("end_date", "start_date and end_date may not span more than 90 days")
    return start.to_pydatetime(), end.to_pydatetime()


# -- services ------------------------------------------------------------------------------------


def attribute_list(category: str, attrs: dict[str, ScopeAttributes]) -> list[dict[str, Any]]:
    entry = attrs.get(category, ScopeAttributes())
    out: list[dict[str, Any]] = []
    if entry.insulting:
        out.append(
            {
                "variable": True,
                "code": "insulting",
                "datatype": "singlevaluelist",
                "required": False,
                "datatype_description": _("Insulting reports are handled under stricter deadlines."),
                "order": len(out) + 1,
                "description": _("Is it insulting?"),
                "values": [{"key": "true", "name": _("Yes")}, {"key": "false", "name": _("No")}],
            }
        )
    if entry.severities:
        out.append(
            {
                "variable": True,
                "code": "severity",
                "datatype": "singlevaluelist",
                "required": False,
                "datatype_description": _("The severity class the deadline depends on."),
                "order": len(out) + 1,
                "description": _("Severity"),
                "values": [{"key": s, "name": s} for s in sorted(entry.severities)],
            }
        )
    return out


def catalogue(conn: Connection) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(services, attributes by category) of the categories that take requests."""
    norms = deadline_norms(conn)
    used = set().union(*(n.categories for n in norms)) if norms else set()
    used |= store.used_categories(conn)
    attrs = scope_attributes(norms)
    lang = _lang()
    services = []
    for row in category_rows(conn):
        if row["code"] not in used:
            continue
        label = row[f"label_{lang}"] or row["code"]
        task = row[f"task_label_{lang}"]
        commitments = [
            n.label_fr if lang == "fr" else n.label_en for n in norms if row["code"] in n.categories
        ]
        parts = [f"{task}." if task else ""]
        if commitments:
            parts.append(_("Commitments: %(list)s.", list="; ".join(commitments)))
        description = " ".join(p for p in parts if p)
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
        changed = store.last_import(conn)  # services change with the referential and imports
    tz = territory_tz()
    changeset = w3(changed or datetime(2008, 1, 1, tzinfo=UTC), tz)
    data = {
        "changeset": changeset,
        "contact": _("The services of %(name)s", name=name),
        "key_service": _(
            "API keys are issued by the administrators of geova (geova apikey add NAME --role ...)."
        ),
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
        found, _attrs = catalogue(conn)
    return render(fmt, found, "services", "service")


@bp.get(f"/services/<code>.{FMT}")
def service_definition(code: str, fmt: str) -> Response:
    with engine().connect() as conn:
        found, attrs = catalogue(conn)
    if code not in {s["service_code"] for s in found}:
        abort(404, f"no service with service_code '{code[:100]}'")
    return render(
        fmt, {"service_code": code, "attributes": attribute_list(code, attrs)}, "service_definition"
    )


# -- requests ------------------------------------------------------------------------------------


def due_dates(ids: Sequence[int], norms: Sequence[Norm]) -> pd.DataFrame:
    """The active deadline norms' verdicts on these requests, earliest due date first."""
    if not ids or not norms:
        return pd.DataFrame(columns=["norm", "id", "due_at"])
    result = evaluate(
        engine(),
        as_of=pd.Timestamp(datetime.now(UTC)),
        norm_codes=[n.code for n in norms],
        where=RecordFilter(ids=tuple(ids)),
    )
    judged = result.per_intervention
    if not len(judged):
        return pd.DataFrame(columns=["norm", "id", "due_at"])
    return judged.dropna(subset=["due_at"]).sort_values("due_at")[["norm", "id", "due_at"]]


def service_notices(conn: Connection, lang: str) -> dict[str, str]:
    """Each service code (and each queue code a source gives one) to what Open311 tells of it: its
    display name and, when the referential gives one, its contact."""
    out: dict[str, str] = {}
    for svc in referential_services(conn):
        label = svc.label_fr if lang == "fr" else svc.label_en
        notice = _("Handled by %(service)s.", service=label)
        if svc.email:
            notice += " " + _("Contact: %(contact)s.", contact=svc.email)
        out[svc.code] = notice
        out.update({q: notice for q in svc.queues if not q.endswith("*")})
    return out


def requests_data(ids: list[int], personal: bool) -> list[dict[str, Any]]:
    """The spec's request objects for these ids, in this order; without description and address
    unless the caller may read ``personal`` fields."""
    if not ids:
        return []
    tz = territory_tz()
    lang = _lang()
    with engine().connect() as conn:
        rows = store.request_rows(conn, ids)
        labels = {r["code"]: r[f"label_{lang}"] or r["code"] for r in category_rows(conn)}
        norms = deadline_norms(conn)
        mapping = status_mapping(conn)
        agencies = service_labels(conn, lang)
        public_notes = store.latest_public_notes(conn, ids)
        photos = store.media_urls(conn, ids)
        notices = service_notices(conn, lang)
    # the due date geova stores (routing's, or the source's); the norms' earliest when it has none
    undated = [i for i in ids if i in rows and rows[i]["due_at"] is None]
    due = due_dates(undated, norms).groupby("id")["due_at"].min()
    notes = {"cancelled": _("Cancelled."), "duplicate": _("Closed as a duplicate.")}
    out = []
    for i in ids:
        row = rows.get(i)
        if row is None:
            continue
        times = (row["reported_at"], row["resolved_at"], row["last_event"])
        expected = row["due_at"] if row["due_at"] is not None else due.get(i)
        stamps = [pd.Timestamp(t) for t in times if t is not None]
        out.append(
            {
                "service_request_id": str(i),
                "status": external_status(mapping, row["status"], "open311"),
                "status_notes": public_notes.get(i, notes.get(row["status"])),
                "service_name": labels.get(row["category_code"], row["category_code"]),
                "service_code": row["category_code"],
                "description": row["description"] if personal else None,
                "agency_responsible": agencies.get(row["service"], row["service"]),
                "service_notice": notices.get(row["service"]),
                "requested_datetime": w3(row["reported_at"], tz),
                "updated_datetime": w3(max(t.tz_convert("UTC") for t in stamps), tz),
                "expected_datetime": w3(expected, tz),
                "address": row["address"] if personal else None,
                "address_id": None,
                "zipcode": None,
                "lat": float(row["lat"]),
                "long": float(row["lon"]),
                "media_url": photos.get(i),
            }
        )
    return out


def _readable() -> tuple[tuple[str, ...] | None, bool]:
    """(quarters, personal) the caller may read requests of; 401 when none at all."""
    access = request_access()
    if not access.allowed:
        abort(401, "the territory does not publish its requests: an api_key or a logged-in session is needed")
    return access.quarters, access.personal


@bp.get(f"/requests.{FMT}")
def get_requests(fmt: str) -> Response:
    quarters, personal = _readable()
    query = parse(RequestsQuery)
    if query.ids:
        with engine().connect() as conn:
            found = store.existing(conn, query.ids, quarters)
        ids = [i for i in query.ids if i in found][query.offset : query.offset + query.page_size]
    else:
        start, end = window(query, territory_tz(), datetime.now(UTC))
        with engine().connect() as conn:
            known = {r["code"] for r in category_rows(conn)}
            unknown = [c for c in query.service_code if c not in known]
            if unknown:
                raise ParamError("service_code", f"unknown service_code {', '.join(unknown)[:200]}")
            search = store.Search(
                start=start,
                end=end,
                categories=query.service_code,
                status=query.status[0] if len(query.status) == 1 else None,
                quarters=quarters,
                limit=query.page_size,
                offset=query.offset,
            )
            ids = store.search(conn, search)
    return render(fmt, requests_data(ids, personal), "service_requests", "request")


@bp.get(f"/requests/<request_id>.{FMT}")
def get_request(request_id: str, fmt: str) -> Response:
    quarters, personal = _readable()
    wanted = int(request_id) if REQUEST_ID.match(request_id) and int(request_id) <= MAX_ID else None
    if wanted is not None:
        with engine().connect() as conn:
            found = store.existing(conn, [wanted], quarters)
        if found:
            return render(fmt, requests_data([wanted], personal), "service_requests", "request")
    abort(404, f"no service request '{request_id[:40]}'")


@bp.get(f"/tokens/<token>.{FMT}")
def get_token(token: str, fmt: str) -> Response:
    found = None
    if TOKEN.match(token):
        with engine().connect() as conn:
            found = store.token_request(conn, token)
    if found is None:
        abort(404, f"no token '{token[:60]}'")
    return render(fmt, [{"service_request_id": str(found), "token": token}], "service_requests", "request")


def _notice(new_id: int, tz: str) -> str:
    with engine().connect() as conn:
        norms = deadline_norms(conn)
    judged = due_dates([new_id], norms)
    if not len(judged):
        return _("No deadline applies to this request.")
    first = judged.iloc[0]
    norm = next(n for n in norms if n.code == first["norm"])
    label = norm.label_fr if _lang() == "fr" else norm.label_en
    return _("Expected by %(due)s (%(norm)s).", due=w3(first["due_at"], tz), norm=label)


def _reporter() -> str:
    """The name of the key a POST is made with. Only a key posts: a session cookie alone could be
    sent by another site's form, and this blueprint has no CSRF token (the spec has none)."""
    key = key_user()  # an unknown or revoked key is refused there (401, a 403 on a POST here)
    if key is None:
        abort(403, "api_key is required")
    if key.role != "admin" and key.role not in REPORTERS:
        abort(403, f"this api_key (role {key.role}) may not post requests")
    return key.username.removeprefix("key:")


@bp.post(f"/requests.{FMT}")
def post_request(fmt: str) -> Response:
    app_name = _reporter()
    form = parse(NewRequest, request.values)
    with engine().connect() as conn:
        found, attrs = catalogue(conn)
    service = next((s for s in found if s["service_code"] == form.service_code), None)
    if service is None:
        raise ParamError("service_code", f"'{form.service_code}' is not a service (see services.{fmt})")
    if form.lat is None or form.long is None:
        if form.address_string or form.address_id:
            raise ParamError("lat", "lat and long are required: this server cannot locate an address")
        raise ParamError("lat", "lat and long are required")
    defined = {a["code"]: a for a in attribute_list(form.service_code, attrs)}  # others are ignored
    insulting = bool(form.insulting) if "insulting" in defined else False
    severity = form.severity if "severity" in defined else None
    if severity is not None:
        allowed = [v["key"] for v in defined["severity"]["values"]]
        if severity not in allowed:
            raise ParamError("attribute[severity]", f"must be one of {', '.join(allowed)}")
    try:
        name = " ".join(n for n in (form.first_name, form.last_name) if n and n.strip()) or None
        requester = contact(name, form.email, form.phone, _lang())
    except ContactRefused as exc:
        raise ParamError(
            exc.field if exc.field != "name" else "last_name", str(exc).split(": ", 1)[1]
        ) from None
    tz = territory_tz()
    with write(engine()) as conn:
        token = store.new_token(conn)
        try:
            new_id = edits.report_intervention(
                conn,
                form.service_code,
                form.description or service["service_name"],
                form.address_string,
                form.long,
                form.lat,
                f"key:{app_name}",
                datetime.now(UTC),
                insulting=insulting,
                severity=severity,
                channel=app_name,
                source=store.SOURCE,
                source_id=token,
                media_url=form.media_url,
                requester=requester,
            )
        except edits.OutsideTerritory as exc:
            raise ParamError("lat/long", str(exc)) from None
        except ValueError as exc:
            abort(400, str(exc))
    data = [
        {
            "service_request_id": str(new_id),
            "token": token,
            "service_notice": _notice(new_id, tz),
            "account_id": None,
        }
    ]
    return render(fmt, data, "service_requests", "request", status=201)


# -- FixMyStreet's servicerequestupdates extension ----------------------------------------------


class UpdatesQuery(Params):
    """GET servicerequestupdates: the window (90 days at most; the last 90 days by default)."""

    start_date: Instant | None = None
    end_date: Instant | None = None
    page: Annotated[int, Field(ge=1, le=MAX_PAGE)] = 1
    page_size: Annotated[int, Field(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE
    jurisdiction_id: Text | None = None


class NewUpdate(Params):
    """POST servicerequestupdates, as FixMyStreet's Open311 client sends it (its older versions
    name the client's id ``update_id_ext``). ``email``, names and the rest are accepted, not kept."""

    service_request_id: Code
    status: Code
    description: Annotated[str, Field(max_length=edits.MAX_TEXT)] | None = None
    updated_datetime: Instant | None = None
    update_id: Other | None = None
    update_id_ext: Other | None = None
    media_url: MediaUrl = None
    jurisdiction_id: Text | None = None

    @field_validator("status")
    @classmethod
    def _status(cls, value: str) -> str:
        """One of FixMyStreet's extended statuses (``open``/``closed`` too, any case)."""
        code = fixmystreet_status(value)
        if code is None:
            raise ValueError(f"must be one of {', '.join(FIXMYSTREET_UPDATES)}")
        return code

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        return no_nul(data)


def update_data(event: dict[str, Any], mapping: dict[str, dict[str, str]], tz: str) -> dict[str, Any]:
    """One public update as FixMyStreet's fetcher reads it (its ``request_update`` element)."""
    detail = event["detail"] or {}
    status = detail.get("to") or detail.get("status") or "new"
    return {
        "update_id": str(event["id"]),
        "service_request_id": str(event["intervention_id"]),
        "status": external_status(mapping, status, "fixmystreet"),
        "updated_datetime": w3(event["at"], tz),
        "description": (event["note"] or "") if detail.get("public") else "",
        "media_url": "",
    }


@bp.get(f"/servicerequestupdates.{FMT}")
def get_updates(fmt: str) -> Response:
    quarters, _personal = _readable()
    query = parse(UpdatesQuery)
    tz = territory_tz()
    start, end = window(query, tz, datetime.now(UTC))
    search = store.UpdateSearch(
        start=start,
        end=end,
        quarters=quarters,
        limit=query.page_size,
        offset=(query.page - 1) * query.page_size,
    )
    with engine().connect() as conn:
        found = store.public_updates(conn, search)
        mapping = status_mapping(conn)
    data = [update_data(event, mapping, tz) for event in found]
    return render(fmt, data, "service_request_updates", "request_update")


@bp.post(f"/servicerequestupdates.{FMT}")
def post_update(fmt: str) -> Response:
    """A client's update of a request: a public note, which moves the request to the status of
    the life cycle its extended status stands for (geova.core.lifecycle.from_fixmystreet: FIXED
    and CLOSED resolve an open request at ``updated_datetime``; INVESTIGATING acknowledges it;
    NOT_COUNCILS_RESPONSIBILITY rejects it, the description as the reason; OPEN is a note only).
    A status the request already has, or one the life cycle does not lead to from its own (a
    resolution of a request no longer open), is a note.
    Sent again with the same ``update_id``, it is recorded once."""
    app_name = _reporter()
    form = parse(NewUpdate, request.values)
    client_id = form.update_id or form.update_id_ext
    if not client_id:
        raise ParamError("update_id", "is required (the client's own id of the update)")
    wanted = form.service_request_id
    if not REQUEST_ID.match(wanted) or not 1 <= int(wanted) <= MAX_ID:
        raise ParamError("service_request_id", f"'{wanted[:40]}' is not a request id")
    request_id = int(wanted)
    quarters, _personal = _readable()
    tz = territory_tz()
    when = local(form.updated_datetime, tz)
    username = f"key:{app_name}"
    extra: dict[str, Any] = {"client": app_name, "client_update_id": client_id}
    if form.media_url:
        extra["media_url"] = form.media_url
    resolved = False
    with write(engine()) as conn:
        if not store.existing(conn, [request_id], quarters, lock=True):
            abort(404, f"no service request '{request_id}' (service_request_id)")
        done = store.client_update(conn, request_id, app_name, client_id)
        if done is None:
            current = store.request_status(conn, request_id) or ""
            target = from_fixmystreet(status_mapping(conn), form.status)
            if target is not None and target not in allowed_from(current):
                target = None  # there already, or past it (resolved, ended): what it says is a note
            try:
                if target == "resolved":
                    moment = when if when is not None else datetime.now(UTC)
                    edits.resolve(
                        conn, request_id, moment, form.description, username, public=True, extra=extra
                    )
                elif target is not None:
                    reason = (form.description or "").strip()[: edits.MAX_SHORT_TEXT] or form.status
                    edits.transition(
                        conn,
                        request_id,
                        target,
                        username,
                        form.description,
                        public=True,
                        reason=reason if target == "rejected" else None,
                        extra=extra,
                    )
                elif not (form.description or "").strip():
                    raise ParamError("description", "is required when the update changes no status")
                else:
                    edits.add_note(conn, request_id, form.description, username, public=True, extra=extra)
            except (edits.ResolvedBeforeReport, edits.ResolvedInFuture) as exc:
                raise ParamError("updated_datetime", str(exc)) from None
            except TransitionRefused as exc:
                abort(409, str(exc))
            done = store.client_update(conn, request_id, app_name, client_id)
            resolved = form.status == "closed" and is_open(current)
    if resolved:
        notify_resolved([request_id])
    data = [{"update_id": str(done), "service_request_id": str(request_id)}]
    return render(fmt, data, "service_request_updates", "request_update", status=200)
