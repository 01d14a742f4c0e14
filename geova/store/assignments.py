"""Who works which requests: a service account's services, and the agent a request is assigned to.

A service account linked to services (``account_service``) finds their open requests in its
worklist by default; one linked to none sees every service's, as before the links existed. A
request is assigned to an agent of its service (``intervention_assignee``), with an event saying
who assigned it to whom and when, like a reassignment to another service (geova.store.edits).
Bad input raises ``ValueError`` naming what is wrong; an unknown account or request ``LookupError``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Connection, delete, insert, select, update

from geova.store.edits import MAX_TEXT
from geova.store.events import record_event
from geova.store.referential import services
from geova.store.schema import AccountService, Intervention, InterventionAssignee, User

AS = AccountService.__table__
IA = InterventionAssignee.__table__
IV = Intervention.__table__
UT = User.__table__
AGENT_ROLE = "service"
ASSIGNED = "assigned"  # the event's kind


def account_services(conn: Connection, user_id: int) -> tuple[str, ...]:
    """The services an account is linked to, by code (none: it sees every service's requests)."""
    rows = conn.execute(select(AS.c.service_code).where(AS.c.user_id == user_id).order_by(AS.c.service_code))
    return tuple(r.service_code for r in rows)


def _account(conn: Connection, username: str) -> Any:
    row = conn.execute(select(UT.c.id, UT.c.role, UT.c.active).where(UT.c.username == username)).first()
    if row is None:
        raise LookupError(f"unknown user '{username}'")
    return row


def check_services(conn: Connection, codes: Iterable[str]) -> tuple[str, ...]:
    """The codes, each one of the referential's services (ValueError naming the unknown ones)."""
    wanted = tuple(dict.fromkeys(c.strip() for c in codes if c and c.strip()))
    known = {s.code for s in services(conn)}
    unknown = [c for c in wanted if c not in known]
    if unknown:
        listed = ", ".join(sorted(known)) or "none"
        raise ValueError(f"unknown service {', '.join(unknown)} (the referential's: {listed})")
    return wanted


def set_account_services(conn: Connection, username: str, codes: Sequence[str]) -> tuple[str, ...]:
    """Link a service account to exactly these services (none: it sees every service's)."""
    account = _account(conn, username)
    wanted = check_services(conn, codes)
    if wanted and account.role != AGENT_ROLE:
        raise ValueError(f"only a service account can be linked to services ('{username}' is {account.role})")
    conn.execute(delete(AS).where(AS.c.user_id == account.id))
    if wanted:
        conn.execute(insert(AS), [{"user_id": account.id, "service_code": c} for c in wanted])
    return wanted


def agents(conn: Connection) -> list[tuple[str, tuple[str, ...]]]:
    """(username, services) of the active service accounts, by name: whom a request may go to."""
    rows = conn.execute(
        select(UT.c.id, UT.c.username)
        .where(UT.c.role == AGENT_ROLE, UT.c.active.is_(True))
        .order_by(UT.c.username)
    ).all()
    links: dict[int, list[str]] = {}
    for r in conn.execute(select(AS.c.user_id, AS.c.service_code).order_by(AS.c.service_code)):
        links.setdefault(r.user_id, []).append(r.service_code)
    return [(r.username, tuple(links.get(r.id, ()))) for r in rows]


def assignees(conn: Connection, ids: Sequence[int]) -> dict[int, str]:
    """The agent each of these requests is assigned to (those assigned only)."""
    if not ids:
        return {}
    rows = conn.execute(
        select(IA.c.intervention_id, IA.c.assignee).where(IA.c.intervention_id.in_(list(ids)))
    )
    return {int(r.intervention_id): r.assignee for r in rows}


def assign(
    conn: Connection, intervention_id: int, assignee: str, username: str | None, note: str | None
) -> None:
    """Assign a request to an agent of its service, with an event saying who did it and when. The
    agent is an active service account; when it is linked to services, the request's is one."""
    name = (assignee or "").strip()
    note = (note or "").strip() or None
    if note is not None and len(note) > MAX_TEXT:
        raise ValueError(f"note: at most {MAX_TEXT} characters")
    if not name:
        raise ValueError("assignee: choose an agent")
    row = conn.execute(select(IV.c.service).where(IV.c.id == intervention_id)).first()
    if row is None:
        raise LookupError(f"no request with id {intervention_id}")
    try:
        account = _account(conn, name)
    except LookupError:
        raise ValueError(f"assignee: unknown agent '{name}'") from None
    if account.role != AGENT_ROLE or not account.active:
        raise ValueError(f"assignee: '{name}' is not an active service account")
    theirs = account_services(conn, account.id)
    if theirs and row.service not in theirs:
        raise ValueError(f"assignee: '{name}' is not an agent of the service {row.service or '(none)'}")
    old = conn.execute(select(IA.c.assignee).where(IA.c.intervention_id == intervention_id)).scalar()
    if old == name:
        raise ValueError(f"request {intervention_id} is already assigned to {name}")
    now = datetime.now(UTC)
    values = {"assignee": name, "assigned_at": now, "assigned_by": username}
    if old is None:
        conn.execute(insert(IA).values(intervention_id=intervention_id, **values))
    else:
        conn.execute(update(IA).where(IA.c.intervention_id == intervention_id).values(**values))
    record_event(
        conn, intervention_id, ASSIGNED, now, username, note, {"from": old, "to": name, "public": False}
    )


def unassign(conn: Connection, intervention_id: int) -> str | None:
    """Drop a request's agent (it went to another service, whose agents are others); the agent
    it had, if any (the reassignment's event records the move)."""
    old = conn.execute(select(IA.c.assignee).where(IA.c.intervention_id == intervention_id)).scalar()
    conn.execute(delete(IA).where(IA.c.intervention_id == intervention_id))
    return cast(str | None, old)
