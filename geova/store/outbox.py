"""The outbox of the e-mails sent to requesters: the resolution notice and the follow-up steps.

A mail is written here, rendered (geova.core.mails), in the transaction that makes it due (the
resolution, or `geova mail followups`), then sent by geova.mailing with retries: each attempt is
claimed first (attempts + 1 and the next attempt pushed back, exponentially), so two senders never
send the same mail and a sender that dies leaves the mail to be retried later. One mail per request
and kind (unique constraint): a request resolved, reopened and resolved again is notified once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Connection, func, insert, select, true, update
from sqlalchemy.exc import IntegrityError

from geova.core.followups import STEPS, followups
from geova.core.lifecycle import status_of
from geova.core.mails import RESOLVED, local_time, render
from geova.store.followups import load_done
from geova.store.open311 import latest_public_notes
from geova.store.records import time_expr, to_utc
from geova.store.routing import DEFAULT_TIMEZONE
from geova.store.schema import Category, FollowUp, Intervention, MailOutbox, Quarter, Requester, Setting
from geova.store.status import AS_OF

MO = MailOutbox.__table__
R = Requester.__table__
IV = Intervention.__table__
CAT = Category.__table__
F = FollowUp.__table__
Q = Quarter.__table__
PENDING, SENT, FAILED = "pending", "sent", "failed"
STATES = (PENDING, SENT, FAILED)
RETRY_BASE = timedelta(minutes=1)  # then 2, 4, 8... minutes
RETRY_CAP = timedelta(hours=6)
MAX_ERROR = 500
MAIL_RECORDER = "mail"  # recorded_by of a follow-up contact made by a sent mail

STATUS_TEXT = {
    "fr": {
        "new": "reçue",
        "acknowledged": "prise en compte",
        "in_progress": "en cours de traitement",
        "resolved": "résolue",
        "closed": "close",
        "rejected": "rejetée",
        "duplicate": "doublon d'une autre demande",
        "cancelled": "annulée",
    },
    "en": {
        "new": "received",
        "acknowledged": "acknowledged",
        "in_progress": "in progress",
        "resolved": "resolved",
        "closed": "closed",
        "rejected": "rejected",
        "duplicate": "a duplicate of another request",
        "cancelled": "cancelled",
    },
}


def backoff(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th attempt: 1, 2, 4, 8... minutes, at most 6 hours."""
    return min(RETRY_BASE * (2 ** max(attempts - 1, 0)), RETRY_CAP)


def _settings(conn: Connection) -> dict[str, str]:
    return dict(conn.execute(select(Setting.key, Setting.value)).all())


def _context(conn: Connection, intervention_id: int, lang: str, name: str | None) -> dict[str, Any] | None:
    """What the templates say of a request: its id, category, address, status, latest public note."""
    row = conn.execute(
        select(
            IV.c.id,
            IV.c.source_id,
            IV.c.address,
            IV.c.status,
            IV.c.reported_at,
            IV.c.resolved_at,
            CAT.c.label_fr,
            CAT.c.label_en,
        )
        .join(CAT, CAT.c.code == IV.c.category_code)
        .where(IV.c.id == intervention_id)
    ).first()
    if row is None:
        return None
    s = _settings(conn)
    tz = s.get("timezone", DEFAULT_TIMEZONE)
    status = status_of(row.status).value
    return {
        "request_id": row.source_id or str(row.id),
        "id": row.id,
        "category": row.label_fr if lang == "fr" else row.label_en,
        "address": row.address,
        "status": STATUS_TEXT[lang].get(status, status),
        "note": latest_public_notes(conn, [intervention_id]).get(intervention_id),
        "reported_at": local_time(row.reported_at, tz, lang),
        "resolved_at": local_time(row.resolved_at, tz, lang) if row.resolved_at else "",
        "territory": s.get("territory_name", "geova"),
        "name": name,
    }


def _insert_once(conn: Connection, values: dict[str, Any]) -> int | None:
    """Insert a mail unless its request already has one of this kind; None when it had."""
    where = (MO.c.intervention_id == values["intervention_id"]) & (MO.c.kind == values["kind"])
    if conn.execute(select(MO.c.id).where(where)).first() is not None:
        return None
    try:
        with conn.begin_nested():  # a concurrent writer (PostgreSQL) may have inserted it meanwhile
            return int(conn.execute(insert(MO).values(**values).returning(MO.c.id)).scalar_one())
    except IntegrityError:
        return None


def enqueue(conn: Connection, intervention_id: int, kind: str, now: datetime | None = None) -> int | None:
    """Write the mail of ``kind`` for a request to its requester's address, rendered in their
    language; None when the request has no address (none given, or erased) or already has it."""
    contact = conn.execute(
        select(R.c.name, R.c.email, R.c.lang).where(
            R.c.intervention_id == intervention_id, R.c.erased_at.is_(None), R.c.email.is_not(None)
        )
    ).first()
    if contact is None or not contact.email:
        return None
    lang = contact.lang if contact.lang in STATUS_TEXT else "fr"
    context = _context(conn, intervention_id, lang, contact.name)
    if context is None:
        return None
    mail = render(kind, lang, context)
    now = now or datetime.now(UTC)
    return _insert_once(
        conn,
        {
            "intervention_id": intervention_id,
            "kind": kind,
            "to_addr": contact.email,
            "subject": mail.subject,
            "body": mail.body,
            "lang": lang,
            "state": PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "last_error": None,
            "created_at": now,
            "sent_at": None,
        },
    )


def enqueue_resolution_notice(conn: Connection, intervention_id: int) -> int | None:
    """The "your request is resolved" mail, in the transaction of the resolution (every path that
    resolves goes through geova.store.edits.transition, which calls this); its id, or None."""
    return enqueue(conn, intervention_id, RESOLVED)


def _territory_clock(conn: Connection) -> datetime:
    value = conn.execute(select(Setting.value).where(Setting.key == AS_OF)).scalar()
    return pd.Timestamp(value).tz_convert("UTC").to_pydatetime() if value else datetime.now(UTC)


def enqueue_followups(conn: Connection, as_of: datetime | None = None) -> list[tuple[int, str]]:
    """Write the follow-up mails due at ``as_of`` (default: the territory's clock, ``as_of``
    setting, else now) for the requests whose requester left an e-mail.

    A step is due at report + 15 days, 1 month, 2 months on the territory's calendar
    (geova.core.followups). Only the latest step due is written: a step whose time passed while a
    later one is already due is skipped (a "15 days" mail at 40 days would be wrong), and so is a
    step someone already recorded as done. Returns (request id, step) of the mails written."""
    when = pd.Timestamp(as_of if as_of is not None else _territory_clock(conn)).tz_convert("UTC")
    rows = conn.execute(
        select(
            IV.c.id,
            IV.c.source_id,
            time_expr(conn, IV.c.reported_at).label("reported_at"),
            IV.c.category_code,
            IV.c.status,
            Q.c.code.label("quarter"),
        )
        .join(R, R.c.intervention_id == IV.c.id)
        .outerjoin(Q, Q.c.id == IV.c.quarter_id)
        .where(R.c.erased_at.is_(None), R.c.email.is_not(None))
    ).all()
    if not rows:
        return []
    cols = list(zip(*rows, strict=True))
    records = pd.DataFrame(
        {
            "id": pd.Series(cols[0], dtype="int64"),
            "source_id": list(cols[1]),
            "reported_at": to_utc(conn, list(cols[2])),
            "category": list(cols[3]),
            "status": list(cols[4]),
            "quarter": list(cols[5]),
        }
    )
    done = load_done(conn)
    tz = _settings(conn).get("timezone", DEFAULT_TIMEZONE)
    steps = followups(records, done[done["id"].isin(records["id"])], when, tz)
    due = steps[steps["due_at"] <= when]
    order = {s.code: i for i, s in enumerate(STEPS)}
    written = []
    latest: dict[int, tuple[str, str]] = {}  # request -> (step, state) of its latest step due
    for iv_id, step, state in zip(
        due["id"].tolist(), due["step"].tolist(), due["state"].tolist(), strict=True
    ):
        if iv_id not in latest or order[step] > order[latest[iv_id][0]]:
            latest[iv_id] = (step, state)
    for iv_id, (step, state) in sorted(latest.items()):
        if state in ("done", "done_late"):
            continue
        if enqueue(conn, int(iv_id), step) is not None:
            written.append((int(iv_id), step))
    return written


@dataclass(frozen=True)
class Claimed:
    id: int
    intervention_id: int | None
    kind: str
    to_addr: str
    subject: str
    body: str
    attempts: int


def due_ids(
    conn: Connection, now: datetime, limit: int = 100, intervention_ids: Sequence[int] | None = None
) -> list[int]:
    """Pending mails whose next attempt has come, oldest first."""
    query = select(MO.c.id).where(MO.c.state == PENDING, MO.c.next_attempt_at <= now)
    if intervention_ids is not None:
        query = query.where(MO.c.intervention_id.in_(list(intervention_ids)))
    return [
        int(i) for i in conn.execute(query.order_by(MO.c.next_attempt_at, MO.c.id).limit(limit)).scalars()
    ]


def claim(conn: Connection, mail_id: int, now: datetime) -> Claimed | None:
    """Take one attempt at a pending mail: attempts + 1 and the next attempt pushed back, in one
    conditional update, so that of two senders only one gets it. None when it is not due (sent,
    failed, taken by another sender, or not yet time)."""
    row = conn.execute(
        select(MO).where(MO.c.id == mail_id, MO.c.state == PENDING, MO.c.next_attempt_at <= now)
    ).first()
    if row is None:
        return None
    attempts = int(row.attempts) + 1
    taken = conn.execute(
        update(MO)
        .where(MO.c.id == mail_id, MO.c.state == PENDING, MO.c.attempts == row.attempts)
        .values(attempts=attempts, next_attempt_at=now + backoff(attempts))
    ).rowcount
    if taken != 1:
        return None
    return Claimed(int(row.id), row.intervention_id, row.kind, row.to_addr, row.subject, row.body, attempts)


def mark_sent(conn: Connection, mail: Claimed, now: datetime) -> None:
    """A mail the server accepted; a follow-up step's mail also records the step's contact."""
    conn.execute(update(MO).where(MO.c.id == mail.id).values(state=SENT, sent_at=now, last_error=None))
    if mail.kind in {s.code for s in STEPS} and mail.intervention_id is not None:
        where = (F.c.intervention_id == mail.intervention_id) & (F.c.step == mail.kind)
        if conn.execute(select(F.c.id).where(where)).first() is None:
            conn.execute(
                insert(F).values(
                    intervention_id=mail.intervention_id,
                    step=mail.kind,
                    done_at=now,
                    note=None,
                    recorded_by=MAIL_RECORDER,
                )
            )


def mark_failed(conn: Connection, mail: Claimed, error: str, max_attempts: int) -> str:
    """An attempt that failed: the error kept (the caller leaves secrets out of it); the mail stays
    pending for its next attempt, or is ``failed`` after ``max_attempts``. Returns its state."""
    state = FAILED if mail.attempts >= max_attempts else PENDING
    conn.execute(update(MO).where(MO.c.id == mail.id).values(state=state, last_error=error[:MAX_ERROR]))
    return state


def retry_now(conn: Connection, mail_id: int, now: datetime) -> bool:
    """Make a pending or failed mail due at once (a failed one gets one more attempt)."""
    return bool(
        conn.execute(
            update(MO)
            .where(MO.c.id == mail_id, MO.c.state.in_((PENDING, FAILED)), MO.c.to_addr != "")
            .values(state=PENDING, next_attempt_at=now)
        ).rowcount
    )


def page(
    conn: Connection, limit: int, offset: int = 0, state: str | None = None
) -> tuple[int, list[dict[str, Any]]]:
    """The outbox newest first (no body: the page shows what happened, not what was written)."""
    where = MO.c.state == state if state else true()
    total = conn.execute(select(func.count()).select_from(MO).where(where)).scalar_one()
    rows = conn.execute(
        select(
            MO.c.id,
            MO.c.intervention_id,
            IV.c.source_id,
            MO.c.kind,
            MO.c.to_addr,
            MO.c.lang,
            MO.c.state,
            MO.c.attempts,
            MO.c.next_attempt_at,
            MO.c.last_error,
            MO.c.created_at,
            MO.c.sent_at,
        )
        .outerjoin(IV, IV.c.id == MO.c.intervention_id)
        .where(where)
        .order_by(MO.c.created_at.desc(), MO.c.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return int(total), [dict(r._mapping) for r in rows]


def counts(conn: Connection) -> dict[str, int]:
    return {s: n for s, n in conn.execute(select(MO.c.state, func.count()).group_by(MO.c.state)).all()}


def mail_of(conn: Connection, mail_id: int) -> dict[str, Any] | None:
    row = conn.execute(select(MO).where(MO.c.id == mail_id)).first()
    return None if row is None else dict(row._mapping)
