"""The JSON API, /api/v1: the territory, the referential, requests, evaluations and the audit grid
for other systems, described by the OpenAPI document generated at /api/v1/openapi.json.

It runs on the shared HTTP layer: query strings are parsed by the models of geova.web.api_models
(built from geova.web.params' bounded types), JSON bodies by body models, failures are RFC 9457
problem details (geova.web.api_problems, registered with geova.web.errors), and callers are
authenticated once by geova.web.access (session, else ``Authorization: Bearer KEY``).

Who may do what (the access rule of geova.web.access):

- the referential (quarters, zones, categories, norms), the documents and aggregated evaluations
  are public;
- requests one by one (the list, one request, the verdicts per request of an evaluation) need a key
  or a session, unless the territory publishes them (then without description, address or the
  names in their history); a correspondent reads the requests of their quarter only;
- the audit grid needs a key or a session (it names the people responsible);
- reporting a request needs the role correspondent, service or admin; resolving one or moving it
  along its life cycle (``POST /interventions/{id}/status``), service or
  admin. Writes take a JSON body (``Content-Type: application/json``), which a page of another site
  cannot send with a visitor's session cookie: the API needs no CSRF token.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from flask import Blueprint, Response, abort, jsonify, request, url_for
from flask_login import current_user, login_required
from pydantic import BaseModel, ValidationError
from sqlalchemy import Connection
from werkzeug.exceptions import BadRequest

from geova.core.evaluate import DEFAULT_RISK_HOURS
from geova.core.norms import Basis, Norm
from geova.evaluation import evaluate
from geova.store import edits
from geova.store.audit import current_grid
from geova.store.catalogue import category_rows
from geova.store.db import write
from geova.store.records import RecordFilter
from geova.store.referential import deadline_norms, headline_norm, load_norms
from geova.store.request_reads import (
    count_requests,
    quarter_rows,
    request_ids,
    request_rows,
    storable_id,
    unknown_codes,
    zone_rows,
)
from geova.web import csrf, engine
from geova.web.access import REPORTERS, RESOLVERS, RequestAccess, request_access
from geova.web.api_models import (
    MAX_PERIOD_DAYS,
    AuditOut,
    AuditQuery,
    CategoryList,
    EvaluationOut,
    EvaluationsQuery,
    Filters,
    Index,
    InterventionDetail,
    InterventionPage,
    InterventionQuery,
    InterventionsQuery,
    NormList,
    NormOut,
    NormsQuery,
    QuarterList,
    ReportBody,
    ResolveBody,
    StatusBody,
    ZoneList,
)
from geova.web.api_openapi import document, documented
from geova.web.api_problems import InvalidBody, InvalidField, Refused, UnknownCode
from geova.web.api_values import event_json, frame_records, iso, norm_json, request_json, verdict_json
from geova.web.auth import roles_required
from geova.web.errors import ParamError
from geova.web.format import territory_tz
from geova.web.params import MAX_TEXT, local, parse
from geova.web.requesters import notify_resolved

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # keys, not cookies, authenticate writes; session writes need a JSON body (see above)

MAX_BODY = 64 * 1024  # the longest valid report is a few kilobytes


# -- reading the request -------------------------------------------------------------------------


def readable() -> RequestAccess:
    """The caller's access to requests one by one; 401 when they may read none."""
    access = request_access()
    if not access.allowed:
        abort(401, "an API key or a logged-in session is needed (this city does not publish its requests)")
    return access


NESTED = ("requester",)  # body members that are objects: an error names their member too


def json_body(model: type[BaseModel]) -> Any:
    """The JSON object sent, validated by ``model``; an empty body is an empty object. Other content
    types are refused (a form of another site could otherwise post with a visitor's session)."""
    if request.mimetype != "application/json":
        raise InvalidBody("send a JSON object with Content-Type: application/json")
    request.max_content_length = MAX_BODY
    data = request.get_data() or b"{}"
    try:
        return model.model_validate_json(data, strict=True)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        loc = [str(p) for p in first["loc"] if not isinstance(p, int)]
        if first["type"] == "json_invalid":
            raise InvalidBody("the body is not valid JSON") from None
        if not loc:
            raise InvalidBody("the body is not a JSON object") from None
        name = "/".join(loc[:2]) if loc[0] in NESTED and len(loc) > 1 else loc[0]  # requester/email
        raise InvalidField(name, str(first["msg"]).removeprefix("Value error, ")) from None


def as_of_of(value: datetime | None, tz: str) -> pd.Timestamp:
    found = local(value, tz)
    return found if found is not None else pd.Timestamp(datetime.now(UTC))


def check_codes(conn: Connection, query: Filters) -> None:
    for kind in ("quarter", "zone", "category"):
        unknown = unknown_codes(conn, kind, getattr(query, kind))
        if unknown:
            raise UnknownCode(kind, f"unknown code(s) {', '.join(unknown)}")


def record_filter(conn: Connection, query: Filters, tz: str, period: Any = None) -> RecordFilter:
    """The request filters of ``query`` (codes checked against the store); ``period`` is the
    report period, a model with ``start`` and ``end`` (a day ``to`` includes that day)."""
    check_codes(conn, query)
    start = end = None
    if period is not None:
        start, end = local(period.start, tz), local(period.end, tz, end_of_day=True)
        if start is not None and end is not None and start >= end:
            raise ParamError("to", "the period ends before it starts")
    return RecordFilter(
        categories=query.category or None,
        quarters=query.quarter or None,
        services=query.service or None,
        zones=query.zone or None,
        reported_from=start,
        reported_to=end,
        bbox=query.bbox,
    )


def restricted(conn: Connection, where: RecordFilter, access: RequestAccess) -> RecordFilter | None:
    """``where`` within the quarters the caller may read; None when that leaves nothing."""
    if access.quarters is None:
        return where
    if where.quarters is None:
        return replace(where, quarters=access.quarters)
    parents = {r["code"]: r["parent"] for r in quarter_rows(conn)}
    kept = tuple(c for c in where.quarters if c in access.quarters or parents.get(c) in access.quarters)
    return replace(where, quarters=kept) if kept else None


def norm_of(conn: Connection, code: str | None) -> Norm | None:
    """The deadline norm ``code`` (active or not), else the headline norm."""
    if not code:
        return headline_norm(conn)
    norms = {n.code: n for n in deadline_norms(conn, active_only=False)}
    if code not in norms:
        raise UnknownCode("norm", f"'{code}' is not a deadline norm")
    return norms[code]


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


def reply(model: type[BaseModel], data: dict[str, Any], status: int = 200) -> Response:
    """``data`` serialised through its response model: what the document says is what is sent."""
    response = jsonify(model.model_validate(data).model_dump(mode="json", by_alias=True))
    response.status_code = status
    return response


# -- routes: documents and referential -----------------------------------------------------------


@bp.get("")
@bp.get("/")
@documented("Links to every resource", Index)
def index() -> Any:
    return reply(
        Index,
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
        },
    )


@bp.get("/openapi.json")
def openapi() -> Any:
    return jsonify(document())


@bp.get("/quarters")
@documented("Quarters and sub-quarters", QuarterList, errors=(503,))
def quarters() -> Any:
    with engine().connect() as conn:
        return reply(QuarterList, {"items": quarter_rows(conn)})


@bp.get("/zones")
@documented("Zones", ZoneList, errors=(503,))
def zones() -> Any:
    with engine().connect() as conn:
        return reply(ZoneList, {"items": zone_rows(conn)})


@bp.get("/categories")
@documented("Request categories with their standard task and field", CategoryList, errors=(503,))
def categories() -> Any:
    with engine().connect() as conn:
        rows = category_rows(conn)
    return reply(CategoryList, {"items": rows})


@bp.get("/norms")
@documented("Active norms (all=true: every norm) with their targets", NormList, query=NormsQuery)
def norms() -> Any:
    query = parse(NormsQuery)
    with engine().connect() as conn:
        found = load_norms(conn, active_only=not query.all)
    return reply(NormList, {"items": [norm_json(n) for n in found]})


@bp.get("/norms/<code>")
@documented("One norm", NormOut, errors=(503,))
def norm(code: str) -> Any:
    if len(code) > MAX_TEXT or "\x00" in code:
        abort(404, "no such norm")
    with engine().connect() as conn:
        found = load_norms(conn, codes=[code])
    if not found:
        abort(404, f"no norm '{code}'")
    return reply(NormOut, norm_json(found[0]))


# -- routes: requests ----------------------------------------------------------------------------


@bp.get("/interventions")
@documented(
    "Requests, filtered and paged, with their verdict under a deadline norm",
    InterventionPage,
    query=InterventionsQuery,
    optional_auth=True,
    description="Anonymous callers are answered only if the city publishes its requests (then without "
    "description or address); a correspondent sees the requests of their quarter.",
)
def interventions() -> Any:
    access = readable()
    query = parse(InterventionsQuery)
    tz = territory_tz()
    as_of = as_of_of(query.as_of, tz)
    with engine().connect() as conn:
        where = restricted(conn, record_filter(conn, query, tz, period=query), access)
        norm = norm_of(conn, query.norm)
        if not query.state:
            total = count_requests(conn, where) if where else 0
            ids = request_ids(conn, where, query.limit, query.offset) if where else []
    if query.state:
        if norm is None:
            raise ParamError("state", "there is no deadline norm to judge requests by")
        chosen: list[int] = []
        if where is not None:
            per = evaluate(engine(), as_of=as_of, norm_codes=[norm.code], where=where).per_intervention
            chosen = sorted(int(i) for i in per.loc[per["state"].isin(query.state), "id"])
        total, ids = len(chosen), chosen[query.offset : query.offset + query.limit]
    return reply(
        InterventionPage,
        {
            "total": total,
            "limit": query.limit,
            "offset": query.offset,
            "norm": norm.code if norm else None,
            "as_of": iso(as_of, tz),
            "items": requests_json(ids, norm, as_of, tz, access.personal),
            "links": page_links(total, query.limit, query.offset),
        },
    )


def requests_json(
    ids: Sequence[int], norm: Norm | None, as_of: pd.Timestamp, tz: str, personal: bool
) -> list[dict[str, Any]]:
    with engine().connect() as conn:
        rows = request_rows(conn, ids)
    judged = verdicts(ids, [norm] if norm else [], as_of)
    by_id = {int(r["id"]): verdict_json(r, tz) for _, r in judged.iterrows()}
    return [request_json(rows[i], by_id.get(i), tz, personal) for i in ids if i in rows]


def page_links(total: int, limit: int, offset: int) -> dict[str, str | None]:
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


def one(intervention_id: int, as_of: pd.Timestamp, norm: Norm | None, tz: str, access: RequestAccess) -> Any:
    """One request with its verdict under every active deadline norm and its history."""
    with engine().connect() as conn:
        rows = request_rows(conn, [intervention_id])
        if intervention_id not in rows:
            abort(404, f"no request with id {intervention_id}")
        row = rows[intervention_id]
        if not (access.quarter_allowed(row["quarter"]) or access.quarter_allowed(row["subquarter"])):
            abort(403, "this request is outside the quarters you may read")
        history = edits.events(conn, intervention_id)
        every = deadline_norms(conn)
    if norm is not None and norm.code not in {n.code for n in every}:
        every.append(norm)
    judged = verdicts([intervention_id], every, as_of)
    all_verdicts = [verdict_json(r, tz) for _, r in judged.iterrows()]
    main = next((v for v in all_verdicts if norm and v["norm"] == norm.code), None)
    out = request_json(row, main, tz, access.personal)
    out["verdicts"] = all_verdicts
    out["events"] = [event_json(e, tz, access.personal) for e in history]
    return out


@bp.get("/interventions/<int:intervention_id>")
@documented(
    "One request, its verdict under every deadline norm and its history",
    InterventionDetail,
    query=InterventionQuery,
    optional_auth=True,
    errors=(400, 403, 503),
)
def intervention(intervention_id: int) -> Any:
    access = readable()
    query = parse(InterventionQuery)
    tz = territory_tz()
    with engine().connect() as conn:
        norm = norm_of(conn, query.norm)
    return reply(InterventionDetail, one(intervention_id, as_of_of(query.as_of, tz), norm, tz, access))


@bp.post("/interventions")
@documented(
    "Report a request (roles correspondent, service, admin)",
    InterventionDetail,
    status=201,
    body=ReportBody,
    auth=True,
    errors=(400, 403, 413, 422, 503),
    description="A point outside every quarter of the territory is refused (422 naming lon and lat).",
)
@roles_required(*REPORTERS)
def report() -> Any:
    body: ReportBody = json_body(ReportBody)
    with write(engine()) as conn:
        if unknown_codes(conn, "category", [body.category]):
            raise InvalidField("category", f"unknown category '{body.category}'")
        try:
            new_id = edits.report_intervention(
                conn,
                body.category,
                body.description,
                body.address,
                body.lon,
                body.lat,
                current_user.username,
                body.reported_at or datetime.now(UTC),
                insulting=body.insulting,
                severity=body.severity,
                channel=body.channel,
                requester=body.requester.contact() if body.requester else None,
            )
        except edits.OutsideTerritory as exc:
            raise InvalidField("lon,lat", str(exc)) from None
        except ValueError as exc:
            raise Refused(str(exc)) from None
    response = written(new_id, 201)
    response.headers["Location"] = url_for("api.intervention", intervention_id=new_id)
    return response


def written(intervention_id: int, status: int = 200) -> Response:
    """The request a write just changed, in full (the writer reads what they wrote), judged now."""
    tz = territory_tz()
    with engine().connect() as conn:
        norm = headline_norm(conn)
    now = pd.Timestamp(datetime.now(UTC))
    return reply(
        InterventionDetail, one(intervention_id, now, norm, tz, RequestAccess(True, None, True)), status
    )


@bp.post("/interventions/<int:intervention_id>/resolve")
@documented(
    "Resolve an open request (roles service, admin)",
    InterventionDetail,
    body=ResolveBody,
    auth=True,
    errors=(400, 403, 413, 422, 503),
)
@roles_required(*RESOLVERS)
def resolve(intervention_id: int) -> Any:
    if not storable_id(intervention_id):
        abort(404, f"no request with id {intervention_id}")
    body: ResolveBody = json_body(ResolveBody)
    try:
        with write(engine()) as conn:
            edits.resolve(
                conn, intervention_id, body.resolved_at or datetime.now(UTC), body.note, current_user.username
            )
    except LookupError:
        abort(404, f"no request with id {intervention_id}")
    except ValueError as exc:
        raise Refused(str(exc)) from None
    notify_resolved([intervention_id])
    return written(intervention_id)


@bp.post("/interventions/<int:intervention_id>/status")
@documented(
    "Move a request along its life cycle: acknowledge, start, resolve, close, reject, mark as a "
    "duplicate, cancel (roles service, admin)",
    InterventionDetail,
    body=StatusBody,
    auth=True,
    errors=(400, 403, 413, 422, 503),
)
@roles_required(*RESOLVERS)
def change_status(intervention_id: int) -> Any:
    if not storable_id(intervention_id):
        abort(404, f"no request with id {intervention_id}")
    body: StatusBody = json_body(StatusBody)
    try:
        with write(engine()) as conn:
            edits.transition(
                conn,
                intervention_id,
                body.status,
                current_user.username,
                body.note,
                public=body.public,
                when=body.resolved_at,
                reason=body.reason,
                duplicate_of=body.duplicate_of,
            )
    except LookupError as exc:
        abort(404, str(exc).strip("'"))
    except ValueError as exc:
        raise Refused(str(exc)) from None
    if body.status == "resolved":
        notify_resolved([intervention_id])
    return written(intervention_id)


# -- routes: evaluations and audit ---------------------------------------------------------------


def periodic_span(query: EvaluationsQuery, as_of: pd.Timestamp, tz: str) -> None:
    """Periodic norms cost one row per unit and period: at most ``MAX_PERIOD_YEARS`` years, counted
    from the defaults (1 January of ``as_of``'s year, ``as_of``) when a bound is missing."""
    local_as_of = as_of.tz_convert(tz).tz_localize(None)
    start = pd.Timestamp(query.start) if query.start else pd.Timestamp(year=local_as_of.year, month=1, day=1)
    end = pd.Timestamp(query.end) if query.end else local_as_of
    if end - start > timedelta(days=MAX_PERIOD_DAYS):
        raise ParamError("from", f"periodic norms are evaluated over {MAX_PERIOD_DAYS // 366} years at most")


@bp.get("/evaluations")
@documented(
    "What `geova evaluate` says: aggregates, periodic norms and, optionally, the verdict per request",
    EvaluationOut,
    query=EvaluationsQuery,
    optional_auth=True,
    description="Aggregates are public. per_intervention=true needs the right to read requests one by "
    "one (a correspondent gets the verdicts of their quarter's requests).",
)
def evaluations() -> Any:
    query = parse(EvaluationsQuery)
    access = readable() if query.per_intervention else None
    tz = territory_tz()
    as_of = as_of_of(query.as_of, tz)
    periodic_span(query, as_of, tz)
    with engine().connect() as conn:
        where = record_filter(conn, query, tz)  # from/to bound the periods of periodic norms here
        if query.norm:
            known = {n.code for n in load_norms(conn)}
            unknown = [c for c in query.norm if c not in known]
            if unknown:
                raise UnknownCode("norm", f"unknown code(s) {', '.join(unknown)}")
    try:
        result = evaluate(
            engine(),
            as_of=as_of,
            norm_codes=list(query.norm) or None,
            by=list(query.by),
            basis=Basis(query.deadline) if query.deadline else None,
            risk_hours=query.risk_hours,
            period_start=pd.Timestamp(query.start) if query.start else None,
            period_end=pd.Timestamp(query.end) if query.end else None,
            where=where if where != RecordFilter() else None,
        )
    except (LookupError, ValueError) as exc:
        raise BadRequest(str(exc)) from None
    out: dict[str, Any] = {
        "as_of": iso(result.as_of, tz),
        "timezone": tz,
        "norms": [n.code for n in result.norms],
        "by": list(query.by),
        "aggregates": frame_records(result.aggregates, tz),
        "periodic": frame_records(result.periodic, tz),
    }
    if access is not None:
        per = result.per_intervention
        if access.quarters is not None and not per.empty:
            records = result.records
            mine = records["quarter"].isin(access.quarters) | records["subquarter"].isin(access.quarters)
            per = per[per["id"].isin(records.loc[mine, "id"])]
        per = per.sort_values(["norm", "id"], kind="stable") if not per.empty else per
        out["per_intervention"] = {
            "total": len(per),
            "limit": query.limit,
            "offset": query.offset,
            "items": frame_records(per.iloc[query.offset : query.offset + query.limit], tz),
        }
    body = EvaluationOut.model_validate(out).model_dump(mode="json", by_alias=True)
    if access is None:
        del body["per_intervention"]
    return jsonify(body)


@bp.get("/audit")
@documented(
    "The audit grid: the latest answer per quarter, year and standard task",
    AuditOut,
    query=AuditQuery,
    auth=True,
)
@login_required
def audit() -> Any:
    query = parse(AuditQuery)
    tz = territory_tz()
    with engine().connect() as conn:
        unknown = unknown_codes(conn, "quarter", query.quarter)
        if unknown:
            raise UnknownCode("quarter", f"unknown code(s) {', '.join(unknown)}")
        grid = current_grid(conn, year=query.year, quarter=query.quarter[0] if query.quarter else None)
    return reply(AuditOut, {"year": query.year, "items": frame_records(grid, tz)})
