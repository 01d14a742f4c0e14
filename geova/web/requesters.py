"""Requesters' contacts and the mail outbox, for the service and admin roles only.

``/services/requests/<id>/requester`` shows who asked for a request (the partial
``services/_requester.html`` takes the contact dict, so a request page may include it) with an
"erase" button; ``/services/outbox`` lists the e-mails to requesters (state, kind, request, attempts,
last error, times; never their body) with a "retry now" button. After a resolving write, the web
paths call :func:`notify_resolved`, which sends the notice at once in a background thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from math import ceil
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm

from geova import mailing
from geova.settings import Settings
from geova.settings import load as load_settings
from geova.store import outbox, request_details, requesters
from geova.store.db import write
from geova.web import engine
from geova.web.access import RESOLVERS
from geova.web.auth import roles_required
from geova.web.params import MAX_ROW_ID

bp = Blueprint("requesters", __name__)
PAGE_SIZE = 50
MAX_PAGE = 10_000


def state_label(state: str) -> str:
    return {"pending": _("pending"), "sent": _("sent"), "failed": _("failed")}.get(state, state)


def kind_label(kind: str) -> str:
    return {
        "resolved": _("request resolved"),
        "contact_15d": _("follow-up at 15 days"),
        "contact_1m": _("follow-up at 1 month"),
        "validation_2m": _("validation at 2 months"),
    }.get(kind, kind)


def app_settings() -> Settings:
    settings = current_app.config.get("GEOVA_SETTINGS")
    return settings if isinstance(settings, Settings) else load_settings()


def notify_resolved(intervention_ids: Sequence[int]) -> None:
    """Send the resolution notices of these requests now (committed just before), in the background."""
    mailing.send_soon(engine(), app_settings(), list(intervention_ids))


def _source_id(intervention_id: int) -> str:
    if not 1 <= intervention_id <= MAX_ROW_ID:
        abort(404)
    with engine().connect() as conn:
        sid = request_details.source_id(conn, intervention_id)
    if sid is None:
        abort(404)
    return sid


@bp.get("/services/requests/<int:intervention_id>/requester")
@roles_required(*RESOLVERS)
def requester(intervention_id: int) -> Any:
    sid = _source_id(intervention_id)
    with engine().connect() as conn:
        contact = requesters.requester_of(conn, intervention_id)
    return render_template(
        "services/requester.html",
        source_id=sid,
        intervention_id=intervention_id,
        contact=contact,
        form=FlaskForm(),
    )


@bp.post("/services/requests/<int:intervention_id>/requester/erase")
@roles_required(*RESOLVERS)
def erase(intervention_id: int) -> Any:
    sid = _source_id(intervention_id)
    form = FlaskForm()
    if not form.validate_on_submit():
        flash(_("The form expired; try again."), "error")
    else:
        with write(engine()) as conn:
            done = requesters.erase(conn, intervention_id, current_user.username)
        if done:
            flash(_("The requester's contact of %(id)s is erased.", id=sid), "success")
        else:
            flash(_("Request %(id)s has no contact to erase.", id=sid), "info")
    return redirect(url_for(".requester", intervention_id=intervention_id))


@bp.get("/services/outbox")
@roles_required(*RESOLVERS)
def outbox_page() -> Any:
    state = request.args.get("state", "")
    if state not in ("", *outbox.STATES):
        abort(400, f"state: one of {', '.join(outbox.STATES)}")
    try:
        page = int(request.args.get("page", "1"))
    except ValueError:
        abort(400, "page: a whole number")
    if not 1 <= page <= MAX_PAGE:
        abort(400, f"page: between 1 and {MAX_PAGE}")
    with engine().connect() as conn:
        total, rows = outbox.page(conn, PAGE_SIZE, (page - 1) * PAGE_SIZE, state or None)
        counts = outbox.counts(conn)
    return render_template(
        "services/outbox.html",
        rows=rows,
        total=total,
        page=page,
        pages=max(1, ceil(total / PAGE_SIZE)),
        state=state,
        states=outbox.STATES,
        counts=counts,
        configured=mailing.configured(app_settings()),
        form=FlaskForm(),
        state_label=state_label,
        kind_label=kind_label,
    )


@bp.post("/services/outbox/<int:mail_id>/retry")
@roles_required(*RESOLVERS)
def retry(mail_id: int) -> Any:
    if not 1 <= mail_id <= MAX_ROW_ID:
        abort(404)
    form = FlaskForm()
    if not form.validate_on_submit():
        flash(_("The form expired; try again."), "error")
        return redirect(url_for(".outbox_page"))
    with write(engine()) as conn:
        mail = outbox.mail_of(conn, mail_id)
        if mail is None:
            abort(404)
        done = outbox.retry_now(conn, mail_id, datetime.now(UTC))
    if not done:
        flash(_("Mail %(id)s cannot be sent again.", id=mail_id), "error")
    elif mail["intervention_id"] is not None and mailing.configured(app_settings()):
        notify_resolved([mail["intervention_id"]])
        flash(_("Mail %(id)s is being sent again.", id=mail_id), "success")
    else:
        flash(_("Mail %(id)s will be sent at the next run of geova mail send.", id=mail_id), "info")
    return redirect(url_for(".outbox_page"))
