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

# Open311 GeoReport v2 knows "open" and "closed"; FixMyStreet's states (its problem states, as
# its Open311 updates extension carries them) are finer.
# The referential's [status_mapping] table may change any of them.
DEFAULT_MAPPING: dict[str, dict[str, str]] = {
    "new": {"open311": "open", "fixmystreet": "confirmed"},
    "open": {"open311": "open", "fixmystreet": "confirmed"},
    "acknowledged": {"open311": "open", "fixmystreet": "investigating"},
    "in_progress": {"open311": "open", "fixmystreet": "in progress"},
    "resolved": {"open311": "closed", "fixmystreet": "fixed"},
    "closed": {"open311": "closed", "fixmystreet": "closed"},
    "rejected": {"open311": "closed", "fixmystreet": "not responsible"},
    "duplicate": {"open311": "closed", "fixmystreet": "duplicate"},
    "cancelled": {"open311": "closed", "fixmystreet": "closed"},
}
OPEN311_VALUES = ("open", "closed")
FIXMYSTREET_VALUES = (
    "confirmed",
    "investigating",
    "in progress",
    "action scheduled",
    "fixed",
    "closed",
    "duplicate",
    "not responsible",
    "unable to fix",
    "internal referral",
    "no further action",
)


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
    out["open"] = dict(out["new"])
    return out


def external_status(mapping: Mapping[str, Mapping[str, str]], status: str, system: str) -> str:
    """How ``system`` (open311, fixmystreet) names a stored status."""
    fallback = "open" if is_open(status) else "closed"
    return mapping.get(status, {}).get(system, fallback)
