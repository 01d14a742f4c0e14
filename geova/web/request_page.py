"""One request's page: what it is, what happened to it, which promise applies and how it is kept.

For people logged in whose role reads requests in detail (correspondents, services, officials,
administrators). The public has no such page: it reads aggregates, and at most the published
requests' bare facts (README, "Who sees what"). The access rule is the feeds' one
(geova.web.access): a correspondent with a quarter reads the requests of that quarter (and its
sub-quarters) only; any other request answers 404 as if it did not exist, like an unknown id or
one no stored row can have (ids are bounded by ``MAX_ROW_ID``).

What each role reads of the history:

- every event (reported, acknowledged, resolved, reassigned, a note...) with its time in the
  territory's time zone and its label in the reader's language;
- notes marked public to everybody; internal notes, rejection reasons given without a public note,
  and the photo links' authors to the service and admin roles only;
- who did it: usernames name colleagues of the services, which correspondents and officials
  have no use for (and which tell who is on duty); they read "you" for their own acts and the
  service's name otherwise; the service and admin roles read usernames.

The norms: every active deadline norm whose scope holds the request, with the target applied,
the due date and the verdict judged at the territory's clock (its ``as_of`` setting when the
request was reported before it, else now: geova.web.queries.judging_instant), the same rules as
the worklist and the quarter page.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pandas as pd
from flask import Blueprint, abort, make_response, render_template, send_file, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm

from geova.core.evaluate import State, evaluate_deadline
from geova.evaluation import territory_of
from geova.store import edits, request_details, request_reads, requesters
from geova.store.records import RecordFilter, load_records
from geova.web import engine
from geova.web.access import request_access
from geova.web.auth import has_role
from geova.web.format import territory_tz
from geova.web.params import MAX_ROW_ID
from geova.web.photos import photo_path
from geova.web.queries import (
    STATE_LABELS,
    category_label,
    deadline_norms,
    judging_instant,
    norm_label,
    territory_clock,
)
from geova.web.statuses import service_name, status_label

bp = Blueprint("request_page", __name__)

INTERNAL_ROLES = ("service",)  # and admin, which passes every role check
EVENT_LABELS = {
    "reported": _l("Request reported"),
    "reassigned": _l("Handed to another service"),
    "note": _l("Note added"),
    "new": _l("Back to new"),
    "acknowledged": _l("Acknowledged"),
    "in_progress": _l("Work started"),
    "resolved": _l("Request resolved"),
    "closed": _l("Closed (follow-up validated)"),
    "rejected": _l("Request rejected"),
    "duplicate": _l("Marked as duplicate"),
    "cancelled": _l("Cancelled"),
    "assigned": _l("Assigned to an agent"),
    "contact_erased": _l("Requester's contact erased"),
}


def event_label(kind: str) -> str:
    """An event's kind in the reader's language (a kind this table does not know: as stored)."""
    return str(EVENT_LABELS.get(kind, kind))


def duration_text(hours: Any) -> str:
    """Hours as days and hours ("3 d 5 h"; "5 h" under a day; "0 h" under an hour)."""
    if hours is None or hours != hours:
        return ""
    whole = max(int(hours), 0)
    days, rest = divmod(whole, 24)
    return _("%(d)s d %(h)s h", d=days, h=rest) if days else _("%(h)s h", h=rest)


def _found_or_404(intervention_id: int) -> tuple[request_details.RequestRow, dict[str, Any]]:
    """The request, if the caller may read it one by one; 404 otherwise (unknown, out of range, or
    another quarter's for a correspondent: the page does not reveal which)."""
    if not 1 <= intervention_id <= MAX_ROW_ID:
        abort(404)
    access = request_access()
    with engine().connect() as conn:
        row = request_details.request_row(conn, intervention_id)
        if row is None or not access.personal:
            abort(404)
        if not (access.quarter_allowed(row.quarter) or access.quarter_allowed(row.subquarter)):
            abort(404)
        extra = request_reads.request_rows(conn, [intervention_id]).get(intervention_id, {})
    return row, extra


def judged_at(reported_at: datetime) -> pd.Timestamp:
    """The instant the page judges the request at: the territory's clock when it was reported
    before it (the demo's 2015 requests are judged at Boston's extract instant), else now."""
    tz = territory_tz()
    now = pd.Timestamp(datetime.now(UTC)).tz_convert(tz)
    reported = pd.Timestamp(reported_at)
    reported = reported.tz_localize("UTC") if reported.tzinfo is None else reported
    return judging_instant(None, territory_clock(tz), now, reported.tz_convert(tz))


def norm_verdicts(intervention_id: int, as_of: pd.Timestamp) -> list[dict[str, Any]]:
    """Each active deadline norm whose scope holds the request: target, due date and verdict."""
    lang = str(get_locale() or "fr")
    with engine().connect() as conn:
        records, zones = load_records(conn, where=RecordFilter(ids=(intervention_id,)))
    territory = territory_of(engine())
    out = []
    for norm in deadline_norms():
        judged = evaluate_deadline(norm, records, zones, as_of, territory)
        if judged.empty:
            continue
        v = judged.iloc[0]
        state = str(v["state"])
        due = v["due_at"] if pd.notna(v["due_at"]) else None
        out.append(
            {
                "code": norm.code,
                "label": norm_label(norm, lang),
                "target_hours": None if pd.isna(v["target_hours"]) else float(v["target_hours"]),
                "working": norm.calendar.value == "working",
                "applied": str(v["applied"] or ""),
                "due_at": due,
                "state": state,
                "state_label": str(STATE_LABELS.get(state, state)),
                "excluded": bool(v["excluded"]),
                "verdict": verdict_text(state, v, due, as_of),
            }
        )
    return out


def verdict_text(state: str, v: pd.Series, due: Any, as_of: pd.Timestamp) -> str:
    """How late the request is, in words: on time, late by, overdue by, due in."""
    if state == State.ON_TIME:
        return _("on time")
    if state == State.LATE:
        return _("late by %(time)s", time=duration_text(v["hours_overdue"]))
    if state == State.OPEN_OVERDUE:
        return _("open, overdue by %(time)s", time=duration_text(v["hours_overdue"]))
    if state in (State.OPEN_AT_RISK, State.OPEN_IN_TIME) and due is not None:
        left = (pd.Timestamp(due) - pd.Timestamp(as_of).tz_convert("UTC")).total_seconds() / 3600
        return _("open, due in %(time)s", time=duration_text(left))
    return _("no deadline")


def history(intervention_id: int, internal: bool) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(events as the caller may read them, photos kept for the request)."""
    with engine().connect() as conn:
        events = edits.events(conn, intervention_id)
    me = current_user.username
    rows, photos = [], []
    for e in events:
        detail = e["detail"] or {}
        public = bool(detail.get("public"))
        note = e["note"] if e["note"] and (internal or public) else None
        if internal:
            author = e["username"] or ""
        elif e["username"] and e["username"] == me:
            author = _("you")
        else:
            author = ""
        what = []
        if e["kind"] == "reassigned":
            what.append(
                _(
                    "from %(old)s to %(new)s",
                    old=service_name(detail.get("from")) or "—",
                    new=service_name(detail.get("to")) or "—",
                )
            )
        if detail.get("reason") and (internal or public):
            what.append(_("reason: %(reason)s", reason=detail["reason"]))
        if detail.get("duplicate_of"):
            what.append(_("duplicate of request %(id)s", id=detail["duplicate_of"]))
        photo = detail.get("photo")
        if isinstance(photo, dict) and photo.get("file"):
            photos.append({"file": str(photo["file"]), "at": e["at"]})
        media = detail.get("media_url")
        rows.append(
            {
                "kind": e["kind"],
                "label": event_label(e["kind"]),
                "at": e["at"],
                "author": author,
                "note": note,
                "public": public,
                "internal_note": bool(e["note"]) and not public,
                "what": what,
                "media_url": media if isinstance(media, str) and _web_link(media) else None,
            }
        )
    return rows, photos


def _web_link(url: str) -> bool:
    """An http(s) link (a client's media_url): shown as a link; anything else not at all."""
    try:
        return urlsplit(url).scheme in ("http", "https")
    except ValueError:
        return False


@bp.get("/requests/<int:intervention_id>")
@login_required
def show(intervention_id: int) -> Any:
    row, extra = _found_or_404(intervention_id)
    internal = has_role(*INTERNAL_ROLES)
    lang = str(get_locale() or "fr")
    as_of = judged_at(row.reported_at)
    events, photos = history(intervention_id, internal)
    contact = None
    if internal:  # the requester's contact: services and admin only (services/_requester.html)
        with engine().connect() as conn:
            contact = requesters.requester_of(conn, intervention_id)
    return render_template(
        "correspondent/request.html",
        request_row=row,
        category=category_label(row.category, lang),
        status=status_label(row.status),
        service=service_name(row.service),
        insulting=bool(extra.get("insulting")),
        severity=extra.get("severity"),
        zones=extra.get("zones", []),
        as_of=as_of,
        norms=norm_verdicts(intervention_id, as_of),
        events=events,
        public_notes=[e for e in events if e["note"] and e["public"]],
        photos=photos,
        internal=internal,
        contact=contact,
        erase_url=url_for("requesters.erase", intervention_id=intervention_id) if internal else None,
        form=FlaskForm() if internal else None,
    )


@bp.get("/requests/<int:intervention_id>/photos/<name>")
@login_required
def photo(intervention_id: int, name: str) -> Any:
    """A photo of this request, to those who may read the request; 404 for a name that is not
    one of its photos."""
    _found_or_404(intervention_id)
    _events, photos = history(intervention_id, internal=False)
    found = photo_path(name) if any(p["file"] == name for p in photos) else None
    if found is None:
        abort(404)
    path, content_type = found
    response = make_response(send_file(path, mimetype=content_type, max_age=0))
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Content-Disposition"] = f'inline; filename="{name}"'
    return response
