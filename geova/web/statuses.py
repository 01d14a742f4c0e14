"""The life cycle in the reader's language: status names, actions, and why a change was refused."""

from __future__ import annotations

from flask import g
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from geova.core.lifecycle import TransitionRefused, allowed_from
from geova.store import edits
from geova.store.routing import service_labels
from geova.web import engine

STATUS_LABELS = {
    "new": _l("new"),
    "open": _l("new"),  # the value imports stored before the life cycle (read as new)
    "acknowledged": _l("acknowledged"),
    "in_progress": _l("in progress"),
    "resolved": _l("resolved"),
    "closed": _l("closed"),
    "rejected": _l("rejected"),
    "duplicate": _l("duplicate"),
    "cancelled": _l("cancelled"),
}
# What the button moving a request to each status says
ACTION_LABELS = {
    "acknowledged": _l("Acknowledge"),
    "in_progress": _l("Start work"),
    "resolved": _l("Mark resolved"),
    "closed": _l("Close (follow-up validated)"),
    "rejected": _l("Reject"),
    "duplicate": _l("Mark as duplicate"),
    "cancelled": _l("Cancel"),
}


def status_label(status: str | None) -> str:
    return "" if not status else str(STATUS_LABELS.get(status, status))


def actions(status: str) -> list[tuple[str, str]]:
    """(status, button label) of the changes the life cycle allows from ``status``; translated
    once per status and request (a worklist of 200 rows spent 0.2 s translating the same labels)."""
    known: dict[str, list[tuple[str, str]]] = g.setdefault("geova_actions", {})
    if status not in known:
        known[status] = [(s, str(ACTION_LABELS[s])) for s in allowed_from(status) if s in ACTION_LABELS]
    return known[status]


def refusal_text(exc: Exception) -> str:
    """Why a change was refused, in the page's language (the store's own message otherwise)."""
    if isinstance(exc, TransitionRefused):
        if exc.why == "reason":
            return _("a rejection needs a reason")
        if exc.why == "duplicate_of":
            return _("a duplicate needs the id of the request it repeats")
        possible = ", ".join(status_label(s) for s in allowed_from(exc.current)) or _("none")
        return _(
            "a request %(current)s cannot become %(wanted)s (possible: %(possible)s)",
            current=status_label(exc.current),
            wanted=status_label(exc.wanted),
            possible=possible,
        )
    if isinstance(exc, edits.ResolvedBeforeReport):
        return _("a request cannot be resolved before it was reported")
    if isinstance(exc, edits.ResolvedInFuture):
        return _("a resolution time cannot be in the future")
    if isinstance(exc, edits.UnknownService):
        return _("unknown service '%(service)s'", service=exc.service)
    return str(exc)


def service_names() -> dict[str, str]:
    """Each service code (and source queue code) to its display name in the page's language."""
    if "geova_service_names" not in g:
        lang = str(get_locale() or "fr")
        with engine().connect() as conn:
            g.geova_service_names = service_labels(conn, "fr" if lang == "fr" else "en")
    names: dict[str, str] = g.geova_service_names
    return names


def service_name(code: str | None) -> str:
    """A service's display name; a code the referential does not name is shown as stored."""
    return "" if not code else service_names().get(code, code)
