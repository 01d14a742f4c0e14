"""Verdicts maintained at every write: evaluate when the data changes, aggregate when it is read.

What a deadline verdict depends on, apart from the instant, is known when a request, a norm or the
territory changes (geova.core.evaluate.deadline_facts). :func:`settle` keeps the ``verdict`` table
equal to those facts; :func:`geova.store.db.write` calls it before every commit, so a write and the
verdicts it changes land together and no reader ever sees one without the other.

What is recomputed, and why that is enough:

- requests queued in ``verdict_stale``: triggers on ``intervention`` and ``intervention_zone`` queue
  every inserted, updated or re-zoned request, whichever code path wrote it (imports, web forms,
  /api/v1, Open311, layer re-imports reassigning quarters and zones);
- norms whose fingerprint changed (a new target, override, scope, calendar or basis): that norm alone,
  over every request;
- every norm, when the territory's fingerprint changes (time zone, holidays, the codes of quarters
  and the codes and kinds of zones, which scopes and overrides name).

Each settle also bumps the store's data version, which keys caches of aggregates: a cached figure is
never served after a write.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, delete, func, inspect, literal, select, text

from geova.core.evaluate import Territory, deadline_facts
from geova.core.norms import Norm, NormKind
from geova.store.bulk import (
    DEFERRED_INDEX_ROWS,
    copy_frame,
    copy_frames,
    deferred_structures,
    insert_frame,
)
from geova.store.records import RecordFilter, load_records
from geova.store.referential import load_norms
from geova.store.schema import Quarter, Verdict, VerdictLog, VerdictNorm, VerdictStale, Zone
from geova.store.staging import Staging
from geova.store.status import set_setting, settings

log = logging.getLogger(__name__)
DATA_VERSION = "data_version"
DEFAULT_TIMEZONE = "Europe/Paris"  # geova.config's default, read here without importing the app's config

V = Verdict.__table__
STALE = VerdictStale.__table__
FINGERPRINTS = VerdictNorm.__table__
LOG = VerdictLog.__table__
# A settle that recomputed more requests than this logs "reload everything" rather than each id
LOGGED_REQUESTS = 20_000
SETTLE_LOCK = 0x67656F76  # "geov": the advisory lock key of settle on PostgreSQL
FEW_REQUESTS = 5_000  # queued requests read by id rather than through the queue table
KEPT_VERSIONS = 5_000  # data versions the log keeps; a replica further behind reloads
LOADED_KEY = "geova.verdicts.loaded"  # conn.info: finish_loaded ran in this transaction


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:32]


def norm_fingerprint(norm: Norm) -> Any:
    """What of a norm its verdicts depend on, in a canonical form (sets sorted: their order varies
    between processes)."""
    return {
        "scopes": [s.as_dict() for s in norm.scopes],
        "targets": sorted(
            [t.valid_from.isoformat(), t.value, t.quarter or "", t.zone or ""] for t in norm.targets
        ),
        "calendar": norm.calendar.value,
        "basis": norm.basis.value,
    }


def territory(conn: Connection) -> Territory:
    s = settings(conn)
    return Territory(timezone=s.get("timezone", DEFAULT_TIMEZONE), holidays=s.get("holidays", "FR"))


def territory_fingerprint(conn: Connection, where: Territory) -> Any:
    q, z = Quarter.__table__, Zone.__table__
    return {
        "timezone": where.timezone,
        "holidays": where.holidays,
        "quarters": [list(r) for r in conn.execute(select(q.c.id, q.c.code).order_by(q.c.id))],
        "zones": [list(r) for r in conn.execute(select(z.c.id, z.c.code, z.c.kind).order_by(z.c.id))],
    }


def data_version(conn: Connection) -> str:
    """``"<n>:<token>"``, changed by every write (see :func:`settle`): ``n`` counts the writes and
    ``token`` is random, so that a store emptied, replaced or restored from a backup never shows a
    reader a version it already knows for other data. Keys caches of what is read from the store."""
    return settings(conn).get(DATA_VERSION, "0:")


def settled_version(conn: Connection) -> str | None:
    """The data version, or None while a change made around geova.store.db.write waits in the
    queue to be settled (a cache keyed by the version must then not be read: the change is not
    counted in the version yet)."""
    if conn.execute(select(STALE.c.intervention_id).limit(1)).first() is not None:
        return None
    return data_version(conn)


def version_number(version: str) -> int:
    return int(version.split(":", 1)[0] or 0)


def maintained(conn: Connection) -> bool:
    """Whether this store keeps verdicts (false while migrating from before revision 0006)."""
    return bool(inspect(conn).has_table(STALE.name))


def _plan(conn: Connection) -> tuple[Territory, list[Norm], dict[str, str], dict[str, str]]:
    """(territory, deadline norms, their current fingerprints, the fingerprints stored)."""
    where = territory(conn)
    norms = [n for n in load_norms(conn) if n.kind is NormKind.DEADLINE]
    base = _digest(territory_fingerprint(conn, where))
    wanted = {n.code: _digest([base, norm_fingerprint(n)]) for n in norms}
    stored = dict(conn.execute(select(FINGERPRINTS.c.norm_code, FINGERPRINTS.c.fingerprint)).all())
    return where, norms, wanted, stored


def current(conn: Connection) -> bool:
    """Whether the stored verdicts are those of the stored requests, norms and territory. Always
    true after a write through geova.store.db.write; a reader checks it so that a change made
    around that path (a maintenance script, a test's raw transaction) is never read stale."""
    if not maintained(conn):
        return False
    _where, _norms, wanted, stored = _plan(conn)
    return wanted == stored and conn.execute(select(STALE.c.intervention_id).limit(1)).first() is None


def settle(conn: Connection) -> dict[str, int]:
    """Bring the stored verdicts up to date inside the caller's write transaction; returns counts
    of what was recomputed (for logs and tests)."""
    if not maintained(conn):
        return {}
    began = time.perf_counter()
    if conn.dialect.name == "postgresql":
        # One settle at a time (SQLite's BEGIN IMMEDIATE already serialises writers): a settle then
        # plans after the previous one committed, and two never insert the same verdict rows (a
        # norm recomputed whole beside a report's own rows). Bounded by the lock timeout like any
        # write (StoreBusy).
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SETTLE_LOCK})
    where, norms, wanted, stored = _plan(conn)
    gone = sorted(set(stored) - set(wanted))
    changed = [n for n in norms if stored.get(n.code) != wanted[n.code]]
    kept = [n for n in norms if stored.get(n.code) == wanted[n.code]]
    counts = {"norms": len(changed), "requests": 0, "rows": 0}
    version = version_number(data_version(conn)) + 1
    token = secrets.token_hex(8)
    # one row marks the version itself (how a replica recognises the history it has seen)
    changes = [
        {"version": version, "token": token, "intervention_id": None, "norm_code": None, "everything": False}
    ]
    changes += [_whole(version, token, c) for c in gone]
    if gone:
        conn.execute(delete(V).where(V.c.norm_code.in_(gone)))
        conn.execute(delete(FINGERPRINTS).where(FINGERPRINTS.c.norm_code.in_(gone)))
    if changed:
        codes = [n.code for n in changed]
        conn.execute(delete(V).where(V.c.norm_code.in_(codes)))
        counts["rows"] += _store(conn, changed, where, RecordFilter())
        conn.execute(delete(FINGERPRINTS).where(FINGERPRINTS.c.norm_code.in_(codes)))
        conn.execute(FINGERPRINTS.insert(), [{"norm_code": c, "fingerprint": wanted[c]} for c in codes])
        changes += [_whole(version, token, c) for c in codes]
    queued = conn.execute(select(STALE.c.intervention_id).limit(1)).first() is not None
    if queued:
        counts["requests"] = int(conn.execute(select(func.count()).select_from(STALE)).scalar_one())
        if kept:
            # the first import into an empty store: the verdict rows' indexes are built once, after
            first_load = (
                counts["requests"] >= DEFERRED_INDEX_ROWS
                and conn.execute(select(V.c.norm_code).limit(1)).first() is None
            )
            if not first_load:
                stale = select(STALE.c.intervention_id).scalar_subquery()
                conn.execute(
                    delete(V).where(V.c.intervention_id.in_(stale), V.c.norm_code.in_([n.code for n in kept]))
                )
            few = counts["requests"] <= FEW_REQUESTS
            # a few ids are looked up by key; a large import's are joined to the queue
            ids = tuple(conn.execute(select(STALE.c.intervention_id)).scalars()) if few else None
            with deferred_structures(conn, V, first_load):
                counts["rows"] += _store(
                    conn, kept, where, RecordFilter(ids=ids) if few else RecordFilter(stale=True)
                )
        if counts["requests"] > LOGGED_REQUESTS:
            changes.append({**_whole(version, token, None), "everything": True})  # replicas reload
        else:
            conn.execute(
                LOG.insert().from_select(
                    ["version", "token", "intervention_id", "everything"],
                    select(literal(version), literal(token), STALE.c.intervention_id, literal(False)),
                )
            )
        conn.execute(delete(STALE))
    if conn.info.pop(LOADED_KEY, False):
        # a first load settled its own verdicts (finish_loaded): nothing was queued, and every
        # replica reloads
        changes.append({**_whole(version, token, None), "everything": True})
    conn.execute(LOG.insert(), changes)
    conn.execute(delete(LOG).where(LOG.c.version <= version - KEPT_VERSIONS))
    set_setting(conn, DATA_VERSION, f"{version}:{token}")
    if counts["norms"] or counts["requests"]:
        ms = round((time.perf_counter() - began) * 1000)
        log.info(
            "verdicts settled: %d norms recomputed, %d requests, %d rows in %d ms",
            counts["norms"],
            counts["requests"],
            counts["rows"],
            ms,
            extra={**counts, "duration_ms": ms},
        )
    return counts


@dataclass
class LoadedVerdicts:
    """The verdicts of a first load being computed in a worker thread, a part of the load at a
    time (:func:`start_loaded`, :meth:`add`)."""

    norms: list[Norm]
    wanted: dict[str, str]
    where: Territory
    pool: ThreadPoolExecutor
    # SQLite: the worker also writes them to a staging file (geova.store.staging) as they come,
    # while SQLite builds the requests' indexes on the other core; finish_loaded copies them
    stage: Staging | None = None
    frames: list[Future[list[pd.DataFrame]]] = field(default_factory=list)

    def add(self, records_of: Callable[[], tuple[pd.DataFrame, pd.DataFrame]]) -> None:
        """Compute the verdicts of the requests (and their zones) ``records_of`` gives, shaped as
        load_records gives them; it is called in the worker. A request's verdicts depend on the
        request and its zones alone, so a load's parts may come one by one."""
        norms, where, stage = self.norms, self.where, self.stage

        def computed() -> list[pd.DataFrame]:
            frames = _fact_frames(norms, where, *records_of())
            if stage is None:
                return frames
            for frame in frames:
                stage.add(frame)
            return []

        self.frames.append(self.pool.submit(computed))

    def discard(self) -> None:
        """Remove the staging file, if any (once stored, or when the load failed)."""
        if self.stage is not None:
            self.stage.discard()


def start_loaded(conn: Connection, pool: ThreadPoolExecutor) -> LoadedVerdicts:
    """Start computing the verdicts of a first load from its rows in memory, in ``pool``, as the
    parts come (:meth:`LoadedVerdicts.add`); :func:`finish_loaded` stores them.

    For a load into an empty request table whose rows are written with the queue's triggers
    suspended (geova.store.interventions): the store then holds exactly the records and zones
    the parts give, so every current deadline norm over them is what :func:`settle` would
    compute, whichever norms it would find changed. Reading a million requests back cost a third
    of a first import; and computed in ``pool`` the verdicts take no time of their own, since
    the server is meanwhile busy storing the requests and building their indexes (the caller's
    thread only waits for it)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SETTLE_LOCK})
    where, norms, wanted, _stored = _plan(conn)
    return LoadedVerdicts(
        norms, wanted, where, pool, Staging(conn) if conn.dialect.name == "sqlite" else None
    )


def finish_loaded(conn: Connection, loaded: LoadedVerdicts) -> int:
    """Store the verdicts :func:`start_loaded` computed, and the norms' fingerprints as settle
    would; the next settle of the transaction bumps the version and tells replicas to reload.
    Returns the rows written."""
    frames = [frame for part in loaded.frames for frame in part.result()]
    many = sum(map(len, frames)) + (loaded.stage.rows if loaded.stage else 0) >= DEFERRED_INDEX_ROWS
    empty = conn.execute(select(V.c.norm_code).limit(1)).first() is None
    with deferred_structures(conn, V, empty and many):
        # every part's, norm by norm, in one COPY (PostgreSQL) or one INSERT ... SELECT (SQLite)
        rows = copy_frames(conn, V, frames) if loaded.stage is None else loaded.stage.insert_into(conn, V)
    codes = [n.code for n in loaded.norms]
    conn.execute(delete(FINGERPRINTS).where(FINGERPRINTS.c.norm_code.in_(codes)))
    if codes:
        conn.execute(
            FINGERPRINTS.insert(), [{"norm_code": c, "fingerprint": loaded.wanted[c]} for c in codes]
        )
    conn.info[LOADED_KEY] = True
    return rows


def _whole(version: int, token: str, norm_code: str | None) -> dict[str, Any]:
    return {
        "version": version,
        "token": token,
        "intervention_id": None,
        "norm_code": norm_code,
        "everything": False,
    }


def _store(conn: Connection, norms: list[Norm], where: Territory, which: RecordFilter) -> int:
    """Compute and insert the verdict rows of ``norms`` over the requests ``which`` selects."""
    categories = set().union(*(n.categories for n in norms))
    records, zones = load_records(conn, categories, where=which)
    return _write_facts(conn, norms, where, records, zones)


def _write_facts(
    conn: Connection, norms: list[Norm], where: Territory, records: pd.DataFrame, zones: pd.DataFrame
) -> int:
    """Insert the verdict rows of ``norms`` over ``records`` and ``zones`` (as load_records gives them)."""
    return sum(_insert_facts(conn, frame) for frame in _fact_frames(norms, where, records, zones))


def _insert_facts(conn: Connection, frame: pd.DataFrame) -> int:
    if conn.dialect.name == "postgresql" and len(frame) > FEW_REQUESTS:
        copy_frame(conn, V, frame)  # COPY pays off for many rows, not for one report
    else:
        insert_frame(conn, V, frame)
    return len(frame)


def _fact_frames(
    norms: list[Norm], where: Territory, records: pd.DataFrame, zones: pd.DataFrame
) -> list[pd.DataFrame]:
    """The verdict rows of ``norms`` over ``records`` and ``zones``, a frame per norm with rows,
    shaped as the ``verdict`` table (no database: a worker thread may compute them)."""
    if records.empty:
        return []
    # the grouping keys as pandas' text arrays, taken by row position for each norm: the rows
    # listed as Python strings per norm, for the frame to turn them back into Arrow, took 3 of
    # the 5.7 s this took for a million requests
    keys = {
        name: records[name].astype("str").array
        for name in ("quarter", "subquarter", "category", "service", "channel")
    }
    row_of = pd.Index(records["id"].to_numpy())
    # the local month of each report, "YYYY-MM", through numpy's month unit (strftime over a
    # million timestamps took seconds)
    local = records["reported_at"].dt.tz_convert(where.timezone).dt.tz_localize(None)
    keys["month"] = pd.array(
        np.datetime_as_string(local.to_numpy(dtype="datetime64[M]"), unit="M"), dtype="str"
    )
    present = set(records["category"].dropna().unique())  # not a million Python strings
    frames = []
    for norm in norms:
        if all(s.categories and not (s.categories & present) for s in norm.scopes):
            continue  # no request here is of a category the norm covers (a web report: most norms)
        facts = deadline_facts(norm, records, zones, where)
        if facts.empty:
            continue
        ids = facts["id"].to_numpy()
        at = row_of.get_indexer(ids)
        frame = pd.DataFrame(
            {
                "intervention_id": ids.astype(np.int64),
                "norm_code": norm.code,
                "reported_at": facts["reported_at"].array,
                "resolved_at": facts["resolved_at"].array,
                "due_at": facts["due_at"].array,
                "target_hours": facts["target_hours"].astype(float).to_numpy(),
                "applied": facts["applied"].astype(str).to_numpy(dtype=object),
                "hours_taken": facts["hours_taken"].astype(float).to_numpy(),
                "excluded": facts["excluded"].astype(bool).to_numpy(),
                **{name: values.take(at) for name, values in keys.items()},
            }
        )
        frames.append(frame)
    return frames
