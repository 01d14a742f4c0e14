"""The life cycle of a request handled in geova, and how other systems name its statuses.

new → acknowledged → in progress → resolved (→ closed once the follow-up validates it), or at any
open step rejected (with a reason), duplicate (of another request) or cancelled. A resolved request
may be reopened (back in progress): the norm's clock, stopped at the resolution, runs again.
Every change is an event (geova.store.edits.transition); a change this table does not allow is
refused with :class:`TransitionRefused`, which the pages and APIs word in the reader's language.
"""

from __future__ import annotations

from collections.abc import Mapping

from geova.core.model import OPEN_STATUSES, Status

S = Status
_ENDINGS = (S.RESOLVED, S.REJECTED, S.DUPLICATE, S.CANCELLED)
TRANSITIONS: dict[Status, tuple[Status, ...]] = {
    S.NEW: (S.ACKNOWLEDGED, S.IN_PROGRESS, *_ENDINGS),
    S.OPEN: (S.ACKNOWLEDGED, S.IN_PROGRESS, *_ENDINGS),  # legacy value, read as new
    S.ACKNOWLEDGED: (S.IN_PROGRESS, *_ENDINGS),
    S.IN_PROGRESS: _ENDINGS,
    S.RESOLVED: (S.CLOSED, S.IN_PROGRESS),
    S.CLOSED: (),
    S.REJECTED: (),
    S.DUPLICATE: (),
    S.CANCELLED: (),
}

# The lifecycle's statuses in order (what forms and filters list); ``open`` is not one of them.
LIFECYCLE = (S.NEW, S.ACKNOWLEDGED, S.IN_PROGRESS, S.RESOLVED, S.CLOSED, S.REJECTED, S.DUPLICATE, S.CANCELLED)

# Open311 GeoReport v2 knows "open" and "closed". FixMyStreet's Open311 extension (its
# servicerequestupdates) carries finer statuses: those its client posts (perllib/Open311.pm,
# _populate_service_request_update_params) and its fetcher maps to its own problem states
# (Open311::map_state: FIXED -> "fixed - council", NOT_COUNCILS_RESPONSIBILITY -> "not
# responsible", NO_FURTHER_ACTION -> "unable to fix", OPEN -> "confirmed", CLOSED -> "closed"; the
# others, lower-cased with spaces, are states of their own).
# The referential's [status_mapping] table may change any of them. The defaults:
# - new -> OPEN: FixMyStreet's "confirmed", a report nobody has looked at yet;
# - acknowledged -> INVESTIGATING: the service has seen it and is looking into it;
# - in_progress -> IN_PROGRESS;
# - resolved -> FIXED: FixMyStreet's "fixed - council", what its users are told the council did;
# - closed -> CLOSED: the follow-up validated the resolution (FixMyStreet shows it closed);
# - rejected -> NOT_COUNCILS_RESPONSIBILITY: geova rejects what is not the city's to handle (a
#   city whose rejections mean "we will not act" maps it to NO_FURTHER_ACTION instead);
# - duplicate -> DUPLICATE;
# - cancelled -> CLOSED: withdrawn, nothing left to do, and nothing was fixed.
DEFAULT_MAPPING: dict[str, dict[str, str]] = {
    "new": {"open311": "open", "fixmystreet": "OPEN"},
    "open": {"open311": "open", "fixmystreet": "OPEN"},
    "acknowledged": {"open311": "open", "fixmystreet": "INVESTIGATING"},
    "in_progress": {"open311": "open", "fixmystreet": "IN_PROGRESS"},
    "resolved": {"open311": "closed", "fixmystreet": "FIXED"},
    "closed": {"open311": "closed", "fixmystreet": "CLOSED"},
    "rejected": {"open311": "closed", "fixmystreet": "NOT_COUNCILS_RESPONSIBILITY"},
    "duplicate": {"open311": "closed", "fixmystreet": "DUPLICATE"},
    "cancelled": {"open311": "closed", "fixmystreet": "CLOSED"},
}
OPEN311_VALUES = ("open", "closed")
FIXMYSTREET_VALUES = (
    "OPEN",
    "INVESTIGATING",
    "IN_PROGRESS",
    "ACTION_SCHEDULED",
    "FIXED",
    "NOT_COUNCILS_RESPONSIBILITY",
    "DUPLICATE",
    "INTERNAL_REFERRAL",
    "UNABLE_TO_FIX",
    "NO_FURTHER_ACTION",
    "CLOSED",
)
# FixMyStreet's own problem states, which referential files written before the extended statuses
# name: each stands for the status its fetcher maps to that state.
FIXMYSTREET_STATES = {
    "confirmed": "OPEN",
    "fixed": "FIXED",
    "not responsible": "NOT_COUNCILS_RESPONSIBILITY",
}
# What an update posted with each status does to a request when the mapping names no status for
# it (None: a note only). REOPEN is what FixMyStreet's client posts when its user reopens a report.
FIXMYSTREET_UPDATES: dict[str, str | None] = {
    "OPEN": None,
    "INVESTIGATING": "acknowledged",
    "IN_PROGRESS": "in_progress",
    "ACTION_SCHEDULED": "in_progress",
    "FIXED": "resolved",
    "NOT_COUNCILS_RESPONSIBILITY": "rejected",
    "DUPLICATE": "duplicate",
    "INTERNAL_REFERRAL": None,  # handed on inside the council: geova's reassignment is its own
    "UNABLE_TO_FIX": "rejected",
    "NO_FURTHER_ACTION": "rejected",
    "CLOSED": "resolved",  # another system's "closed" is a resolution; geova's closing is its follow-up's
    "REOPEN": "in_progress",
}


def fixmystreet_status(value: str) -> str | None:
    """The extended status ``value`` names (any case, spaces or underscores, or one of
    FixMyStreet's problem states); None when it names none."""
    text = " ".join(str(value).strip().split()).lower()
    if text in FIXMYSTREET_STATES:
        return FIXMYSTREET_STATES[text]
    code = text.upper().replace(" ", "_").replace("-", "_")
    return code if code in FIXMYSTREET_VALUES or code == "REOPEN" else None


def from_fixmystreet(mapping: Mapping[str, Mapping[str, str]], value: str) -> str | None:
    """The life-cycle status an update posted with the extended status ``value`` moves a request
    to (None: a note only): :data:`FIXMYSTREET_UPDATES`, unless the referential maps a status to
    ``value`` where the default mapping does not (a city's own choice, read backwards). New (no
    status leads back to it) and closed (the follow-up's validation alone leads to it) are never
    reached from outside."""
    for status in LIFECYCLE:
        if status in (S.NEW, S.CLOSED):
            continue
        mine = mapping.get(status.value, {}).get("fixmystreet")
        if mine == value and DEFAULT_MAPPING[status.value]["fixmystreet"] != value:
            return status.value
    return FIXMYSTREET_UPDATES.get(value)


class TransitionRefused(ValueError):
    """A status change the life cycle does not allow (or lacks what it needs: a reason, an id)."""

    def __init__(self, intervention_id: int, current: str, wanted: str, why: str = "not_allowed") -> None:
        self.intervention_id, self.current, self.wanted, self.why = intervention_id, current, wanted, why
        allowed = ", ".join(allowed_from(current)) or "none"
        texts = {
            "not_allowed": f"request {intervention_id} cannot go from {current} to {wanted} "
            f"(allowed: {allowed})",
            "reason": f"a rejection needs a reason (request {intervention_id})",
            "duplicate_of": f"a duplicate needs the id of the request it repeats (request {intervention_id})",
        }
        super().__init__(texts.get(why, why))


def status_of(value: str) -> Status:
    """The status a stored value stands for; the legacy ``open`` is ``new``."""
    status = Status(value)
    return S.NEW if status is S.OPEN else status


def allowed_from(current: str) -> tuple[str, ...]:
    try:
        return tuple(s.value for s in TRANSITIONS[Status(current)])
    except ValueError:
        return ()


def check_transition(intervention_id: int, current: str, wanted: str) -> Status:
    """The target status, or TransitionRefused when the life cycle does not allow the change."""
    try:
        target = Status(wanted)
    except ValueError as exc:
        raise TransitionRefused(intervention_id, current, wanted) from exc
    if target is S.OPEN or target not in TRANSITIONS.get(Status(current), ()):
        raise TransitionRefused(intervention_id, current, wanted)
    return target


def is_open(status: str) -> bool:
    return status in OPEN_STATUSES


def mapping_with(overrides: Mapping[str, Mapping[str, str]] | None) -> dict[str, dict[str, str]]:
    """The default mapping with the referential's overrides (per status, per system)."""
    out = {k: dict(v) for k, v in DEFAULT_MAPPING.items()}
    for status, systems in (overrides or {}).items():
        out.setdefault(status, {}).update(systems)
        named = fixmystreet_status(systems["fixmystreet"]) if "fixmystreet" in systems else None
        if named is not None:  # stored before the extended statuses: a problem state's name
            out[status]["fixmystreet"] = named
    out["open"] = dict(out["new"])
    return out


def external_status(mapping: Mapping[str, Mapping[str, str]], status: str, system: str) -> str:
    """How ``system`` (open311, fixmystreet) names a stored status."""
    fallback = "open" if is_open(status) else "closed"
    return mapping.get(status, {}).get(system, fallback)
