"""A columnar replica of the verdicts, in each process, that aggregates are counted in.

Why not count in the store: a city-wide aggregate reads every verdict row (two million for a
million requests under the demo's norms) and takes a median and a 90th percentile per group.
Measured on the 2-core bench machine (bench/README.md, "City scale"), PostgreSQL needs about 1 s for
the counts and 2.5 s more for the percentiles (``percentile_cont`` sorts each group), SpatiaLite has
no percentile at all; DuckDB, a vectorised columnar engine, does both over the same rows in about
0.2 s. So the store stays the one source of truth, and each process keeps a DuckDB copy of the
``verdict`` table, of the zone memberships and of every request's location and keys, in memory.
The last serves the map's clusters: counting the requests of a whole city's view cell by cell read
each of them from the store (584,839 at a million requests: about 1 s on PostgreSQL, 0.45 s of it
reading the rows), where DuckDB counts them from its columns (bench/README.md, Session 11).

Never stale: before each read the replica compares its data version with the store's (one indexed
read); if the store moved on, it replays ``verdict_log`` (geova.store.verdicts.settle writes there
what each write recomputed): the requests recomputed are re-read by id, a norm recomputed whole is
re-read by code, and "everything" (a large import, a new territory) reloads. A replica further
behind than the log reaches reloads too.
"""

from __future__ import annotations

import tempfile
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, func, select

from geova.core import validity
from geova.core.evaluate import State
from geova.store.records import RecordFilter, fetch_chunks, fetch_raw, time_expr, to_utc
from geova.store.schema import Intervention, InterventionZone, Quarter, Verdict, VerdictLog, Zone
from geova.store.verdicts import data_version, version_number

V = Verdict.__table__
IV = Intervention.__table__
LOG = VerdictLog.__table__
NONE = "(none)"
KEYS = ("quarter", "subquarter", "category", "service", "channel", "month")
TIMES = ("reported_at", "resolved_at", "due_at")
VERDICT_DDL = """
CREATE TABLE v (
  intervention_id BIGINT, norm_code VARCHAR, reported_at BIGINT, resolved_at BIGINT, due_at BIGINT,
  hours_taken DOUBLE, excluded BOOLEAN, quarter VARCHAR, subquarter VARCHAR, category VARCHAR,
  service VARCHAR, channel VARCHAR, month VARCHAR
)"""
ZONES_DDL = "CREATE TABLE iz (intervention_id BIGINT, zone VARCHAR, kind VARCHAR)"
# every request (judged or not: the map shows those without a deadline too), by quarter id: a
# quarter's code can change without its requests changing, and ``q`` maps codes to ids at read time
REQUESTS_DDL = """
CREATE TABLE r (
  intervention_id BIGINT, x DOUBLE, y DOUBLE, category VARCHAR, service VARCHAR, quarter_id BIGINT,
  subquarter_id BIGINT, reported_at BIGINT
)"""
QUARTERS_DDL = "CREATE TABLE q (id BIGINT, code VARCHAR)"
REQUEST_NAMES = [
    "intervention_id",
    "x",
    "y",
    "category",
    "service",
    "quarter_id",
    "subquarter_id",
    "reported_at",
]
REQUEST_CSV_COLUMNS = (
    "{'intervention_id': 'BIGINT', 'x': 'DOUBLE', 'y': 'DOUBLE', 'category': 'VARCHAR', "
    "'service': 'VARCHAR', 'quarter_id': 'BIGINT', 'subquarter_id': 'BIGINT', 'reported_at': 'BIGINT'}"
)
# by category first: a map reads the categories of one norm
REQUESTS_SORTED_BY = "category, reported_at"
NAMES = ["intervention_id", "norm_code", *TIMES, "hours_taken", "excluded", *KEYS]
CSV_COLUMNS = (
    "{'intervention_id': 'BIGINT', 'norm_code': 'VARCHAR', 'reported_at': 'BIGINT', 'resolved_at': 'BIGINT', "
    "'due_at': 'BIGINT', 'hours_taken': 'DOUBLE', 'excluded': 'INTEGER', "
    + ", ".join(f"'{k}': 'VARCHAR'" for k in KEYS)
    + "}"
)
# sorted by norm and report date, so that DuckDB's per-block min/max skip the blocks of other norms
# and periods (a page reads one norm over a year)
SORTED_BY = "norm_code, reported_at"
RELOAD_CHUNK = 200_000  # SQLite rows read at once on a reload (memory stays bounded)
MAX_REPLAYED = 50_000  # log rows replayed one by one; beyond, a reload is cheaper
_CLOSED = "v.resolved_at IS NOT NULL AND v.resolved_at <= $now"
# a verdict row's state at $now, with $risk the end of the risk window: the rules of
# geova.store.verdict_reads.state_expr, in DuckDB's SQL
STATE = f"""CASE
  WHEN v.due_at IS NULL THEN '{State.NO_DEADLINE.value}'
  WHEN {_CLOSED} AND v.resolved_at <= v.due_at THEN '{State.ON_TIME.value}'
  WHEN {_CLOSED} THEN '{State.LATE.value}'
  WHEN v.due_at < $now THEN '{State.OPEN_OVERDUE.value}'
  WHEN v.due_at <= $risk THEN '{State.OPEN_AT_RISK.value}'
  ELSE '{State.OPEN_IN_TIME.value}' END"""
CACHED_RESULTS = 256  # aggregates remembered per data version (the oldest goes first)
MAX_GRID = 128  # map cells across the requests' extent, at most (Replica.cells)


def micros(ts: pd.Timestamp) -> int:
    """An instant as the replica stores it: microseconds since the epoch, UTC."""
    return int(pd.Timestamp(ts).tz_convert("UTC").value // 1000)


class Replica:
    """The verdicts of one store, in a DuckDB database in this process."""

    def __init__(self) -> None:
        self.db = duckdb.connect(":memory:")
        self.db.execute("SET threads = 2")
        self.db.execute(VERDICT_DDL)
        self.db.execute(ZONES_DDL)
        self.db.execute(REQUESTS_DDL)
        self.db.execute(QUARTERS_DDL)
        self.version: str | None = None  # the store's data version the replica holds
        # aggregates at this version: key -> [(low, high, frame)], valid for low < as_of < high
        self.cache: dict[tuple[Any, ...], list[tuple[int, int, pd.DataFrame]]] = {}
        self.lock = threading.Lock()

    # --- keeping up with the store --------------------------------------------------------------

    def sync(self, conn: Connection) -> None:
        """Bring the replica to the store's data version (read first: rows read afterwards are at
        least that recent, and replaying a change twice is harmless). The log is replayed only if
        it still holds the version the replica is at, with the same random token: a store
        emptied, replaced or restored from a backup is reloaded, never patched."""
        current = data_version(conn)
        if current == self.version:
            return
        mine = None if self.version is None else self.version.split(":", 1)
        replayable = False
        changes: Sequence[Any] = []
        if mine is not None:
            seen = conn.execute(
                select(LOG.c.token)
                .where(LOG.c.version == int(mine[0]), LOG.c.intervention_id.is_(None))
                .limit(1)
            ).first()
            if seen is not None and seen.token == mine[1]:
                changes = conn.execute(
                    select(LOG.c.intervention_id, LOG.c.norm_code, LOG.c.everything)
                    .where(LOG.c.version > int(mine[0]), LOG.c.version <= version_number(current))
                    .limit(MAX_REPLAYED + 1)
                ).all()
                replayable = len(changes) <= MAX_REPLAYED and not any(r.everything for r in changes)
        if replayable:
            self._replay(conn, changes)
        else:
            self._reload(conn)
        self._load_quarters(conn)
        self.version = current
        self.cache = {}

    def _reload(self, conn: Connection) -> None:
        """Every verdict again, streamed: never the whole table as Python objects.

        Reading 2.2 million rows (a million requests) through the driver as tuples took 15 s and
        3.3 GB at peak. PostgreSQL instead writes them as CSV (``COPY ... TO STDOUT``, its fastest
        way out) into a temporary file that DuckDB parses vectorised; SQLite's rows come in chunks
        of RELOAD_CHUNK into a staging table. Either way they are sorted into ``v`` by DuckDB."""
        self.db.execute("DELETE FROM v")
        self.db.execute("DELETE FROM iz")
        self.db.execute("DELETE FROM r")
        if conn.dialect.name == "postgresql":
            self._load_copied(conn)
            self._load_requests_copied(conn)
        else:
            self.db.execute("CREATE OR REPLACE TEMP TABLE v_load AS SELECT * FROM v LIMIT 0")
            self.db.execute("CREATE OR REPLACE TEMP TABLE r_load AS SELECT * FROM r LIMIT 0")
            try:
                for rows in fetch_chunks(conn, select(*self._columns(conn)), RELOAD_CHUNK):
                    self._insert_rows(conn, rows, into="v_load")
                self.db.execute(f"INSERT INTO v SELECT * FROM v_load ORDER BY {SORTED_BY}")
                for rows in fetch_chunks(conn, select(*self._request_columns(conn)), RELOAD_CHUNK):
                    self._insert_requests(conn, rows, into="r_load")
                self.db.execute(f"INSERT INTO r SELECT * FROM r_load ORDER BY {REQUESTS_SORTED_BY}")
            finally:
                self.db.execute("DROP TABLE IF EXISTS v_load")
                self.db.execute("DROP TABLE IF EXISTS r_load")
        self._insert_zones(conn, None)

    def _load_copied(self, conn: Connection) -> None:
        micros_of = "(extract(epoch FROM {0}) * 1000000)::bigint"
        columns = [
            "intervention_id",
            "norm_code",
            *(micros_of.format(t) for t in TIMES),
            "hours_taken",
            "CASE WHEN excluded THEN 1 ELSE 0 END",
            *KEYS,
        ]
        self._copy_into(
            conn, f"SELECT {', '.join(columns)} FROM {Verdict.__tablename__}", "v", CSV_COLUMNS, SORTED_BY
        )

    def _load_requests_copied(self, conn: Connection) -> None:
        columns = [
            "id",
            "ST_X(geom)",
            "ST_Y(geom)",
            "category_code",
            "service",
            "quarter_id",
            "subquarter_id",
            "(extract(epoch FROM reported_at) * 1000000)::bigint",
        ]
        select_sql = f"SELECT {', '.join(columns)} FROM {Intervention.__tablename__}"
        self._copy_into(conn, select_sql, "r", REQUEST_CSV_COLUMNS, REQUESTS_SORTED_BY)

    def _copy_into(self, conn: Connection, select_sql: str, table: str, types: str, sorted_by: str) -> None:
        """PostgreSQL: the rows of ``select_sql`` into the replica's ``table``, by way of COPY's CSV
        in a temporary file. Coordinates keep every bit: PostgreSQL writes the shortest text that
        reads back as the same double (its default since version 12)."""
        raw: Any = conn.connection.dbapi_connection  # psycopg's own connection (COPY)
        with tempfile.TemporaryDirectory(prefix="geova-replica-") as folder:
            path = Path(folder) / f"{table}.csv"
            sql = f"COPY ({select_sql}) TO STDOUT (FORMAT csv)"
            with raw.cursor() as cur, cur.copy(sql) as copy, path.open("wb") as out:
                for block in copy:
                    out.write(block)
            if path.stat().st_size == 0:  # nothing stored yet
                return
            # PostgreSQL's CSV (RFC 4180) writes NULL unquoted and an empty text as "": keep the
            # difference; nothing is guessed from the data
            self.db.execute(
                f"""INSERT INTO {table} SELECT * FROM read_csv($path, header = false, auto_detect = false,
                    delim = ',', quote = '"', escape = '"', allow_quoted_nulls = false,
                    columns = {types}) ORDER BY {sorted_by}""",
                {"path": str(path)},
            )

    def _replay(self, conn: Connection, changes: Sequence[Any]) -> None:
        norms = sorted({r.norm_code for r in changes if r.norm_code is not None})
        ids = sorted({int(r.intervention_id) for r in changes if r.intervention_id is not None})
        if norms:
            self.db.execute("DELETE FROM v WHERE list_contains($1, norm_code)", [norms])
            self._insert(conn, select(*self._columns(conn)).where(V.c.norm_code.in_(norms)))
            # a norm recomputed whole may follow new zones: the memberships are reloaded with it
            self.db.execute("DELETE FROM iz")
            self._insert_zones(conn, None)
        if ids:
            # the norms re-read whole above already hold these requests' rows: only the others go
            self.db.execute(
                "DELETE FROM v WHERE intervention_id IN (SELECT unnest($1)) "
                "AND NOT list_contains($2, norm_code)",
                [ids, norms],
            )
            query = select(*self._columns(conn)).where(V.c.intervention_id.in_(ids))
            if norms:
                query = query.where(V.c.norm_code.not_in(norms))
            self._insert(conn, query)
            if not norms:
                self.db.execute("DELETE FROM iz WHERE intervention_id IN (SELECT unnest($1))", [ids])
                self._insert_zones(conn, ids)
            self.db.execute("DELETE FROM r WHERE intervention_id IN (SELECT unnest($1))", [ids])
            self._insert_requests(
                conn, fetch_raw(conn, select(*self._request_columns(conn)).where(IV.c.id.in_(ids)))
            )

    @staticmethod
    def _columns(conn: Connection) -> list[Any]:
        return [
            V.c.intervention_id,
            V.c.norm_code,
            *(time_expr(conn, V.c[t]).label(t) for t in TIMES),
            V.c.hours_taken,
            V.c.excluded,
            *(V.c[k] for k in KEYS),
        ]

    @staticmethod
    def _request_columns(conn: Connection) -> list[Any]:
        return [
            IV.c.id,
            func.ST_X(IV.c.geom),
            func.ST_Y(IV.c.geom),
            IV.c.category_code,
            IV.c.service,
            IV.c.quarter_id,
            IV.c.subquarter_id,
            time_expr(conn, IV.c.reported_at),
        ]

    def _insert_requests(self, conn: Connection, rows: list[tuple], into: str = "r") -> None:
        """Add requests as ``_request_columns`` reads them."""
        frame = pd.DataFrame.from_records(rows, columns=REQUEST_NAMES, coerce_float=False)
        if frame.empty:
            return
        stamps = to_utc(conn, frame["reported_at"].tolist())
        frame["reported_at"] = stamps.to_numpy(dtype="datetime64[ns]").astype(np.int64) // 1000
        frame = frame.astype(
            {
                "intervention_id": np.int64,
                "x": float,
                "y": float,
                "quarter_id": "Int64",
                "subquarter_id": "Int64",
            }
        )
        self._append(into, frame, REQUEST_NAMES, REQUESTS_SORTED_BY)

    def _load_quarters(self, conn: Connection) -> None:
        """The quarters' codes by id (a few hundred rows), read again at every new data version."""
        qt = Quarter.__table__
        frame = pd.DataFrame(fetch_raw(conn, select(qt.c.id, qt.c.code)), columns=["id", "code"])
        frame["id"] = frame["id"].astype(np.int64)
        self.db.execute("DELETE FROM q")
        self._append("q", frame, ["id", "code"])

    def _insert(self, conn: Connection, query: Any) -> None:
        """Add the verdicts ``query`` reads (the columns of ``_columns``)."""
        self._insert_rows(conn, fetch_raw(conn, query))

    def _insert_rows(self, conn: Connection, rows: list[tuple], into: str = "v") -> None:
        frame = pd.DataFrame.from_records(rows, columns=NAMES, coerce_float=False)
        if frame.empty:
            return
        for t in TIMES:
            stamps = to_utc(conn, frame[t].tolist())
            values = pd.array(stamps.to_numpy(dtype="datetime64[ns]").astype(np.int64) // 1000, dtype="Int64")
            values[stamps.isna().to_numpy()] = pd.NA
            frame[t] = values
        frame["intervention_id"] = frame["intervention_id"].astype(np.int64)
        frame["hours_taken"] = frame["hours_taken"].astype(float)
        frame["excluded"] = frame["excluded"].astype(bool)
        self._append(into, frame, NAMES, SORTED_BY)

    def _insert_zones(self, conn: Connection, ids: list[int] | None) -> None:
        zt, iz = Zone.__table__, InterventionZone.__table__
        query = select(iz.c.intervention_id, zt.c.code, zt.c.kind).join(zt, zt.c.id == iz.c.zone_id)
        if ids is not None:
            query = query.where(iz.c.intervention_id.in_(ids))
        frame = pd.DataFrame(fetch_raw(conn, query), columns=["intervention_id", "zone", "kind"])
        frame["intervention_id"] = frame["intervention_id"].astype(np.int64)
        self._append("iz", frame, ["intervention_id", "zone", "kind"])

    def _append(self, table: str, frame: pd.DataFrame, columns: Sequence[str], order: str = "") -> None:
        """Add ``frame``'s ``columns`` to the replica's ``table`` (sorted by ``order``): DuckDB scans
        the frame in place, no row passes through Python."""
        if frame.empty:
            return
        self.db.register("incoming", frame)
        try:
            sort = f" ORDER BY {order}" if order else ""
            self.db.execute(f"INSERT INTO {table} SELECT {', '.join(columns)} FROM incoming{sort}")
        finally:
            self.db.unregister("incoming")

    # --- reading --------------------------------------------------------------------------------

    @staticmethod
    def _conditions(
        as_of: pd.Timestamp, norm_codes: Sequence[str], where: RecordFilter | None
    ) -> tuple[dict[str, Any], list[str]]:
        """The bound parameters and the WHERE conditions of a read (what ``where`` selects, reported
        by ``as_of``, under ``norm_codes``). The replica holds no locations: a bounding box is read
        from the store (geova.store.verdict_reads)."""
        if where is not None and (where.bbox is not None or where.stale):
            raise ValueError("the verdicts' replica cannot select by bounding box")
        now = micros(as_of)
        params: dict[str, Any] = {
            "now": now,
            **{f"norm{i}": code for i, code in enumerate(norm_codes)},
        }
        # constants compared one by one (not a list): the form DuckDB pushes down to its block filters
        named = ", ".join(f"$norm{i}" for i in range(len(norm_codes))) or "NULL"
        conditions = [f"v.norm_code IN ({named})", "v.reported_at <= $now"]
        w = where or RecordFilter()
        for name, column, values in (
            ("categories", "v.category", w.categories),
            ("services", "v.service", w.services),
            ("ids", "v.intervention_id", w.ids),
        ):
            if values is not None:
                params[name] = list(values)
                # short lists (codes) are scanned; a list of ids is hashed
                test = (
                    f"{column} IN (SELECT unnest(${name}))"
                    if name == "ids"
                    else f"list_contains(${name}, {column})"
                )
                conditions.append(test)
        if w.quarters is not None:
            params["quarters"] = list(w.quarters)
            conditions.append(
                "(list_contains($quarters, v.quarter) OR list_contains($quarters, v.subquarter))"
            )
        if w.zones is not None:
            params["zones"] = list(w.zones)
            conditions.append(
                "v.intervention_id IN (SELECT intervention_id FROM iz WHERE list_contains($zones, zone))"
            )
        if w.reported_from is not None:
            params["start"] = micros(w.reported_from)
            conditions.append("v.reported_at >= $start")
        if w.reported_to is not None:
            params["end"] = micros(w.reported_to)
            conditions.append("v.reported_at < $end")
        return params, conditions

    def requests_by(
        self,
        as_of: pd.Timestamp,
        norm_codes: Sequence[str],
        where: RecordFilter | None,
        columns: Sequence[str],
    ) -> pd.DataFrame:
        """How many requests (each once, whatever the norms judging it) per value of ``columns``
        (among category, service, channel, quarter, subquarter, month)."""
        unknown = [c for c in columns if c not in KEYS]
        if unknown:
            raise ValueError(f"cannot count requests by {', '.join(unknown)}")
        key = ("requests_by", tuple(norm_codes), tuple(columns), where)
        if (cached := self._recall(key, as_of)) is not None:
            return cached
        params, conditions = self._conditions(as_of, norm_codes, where)
        keys = ", ".join(columns)
        # under one norm a request has one row: a plain count, without the hashing DISTINCT needs
        counted = "count(*)" if len(norm_codes) == 1 else "count(DISTINCT v.intervention_id)"
        sql = f"""SELECT {keys}, {counted} AS requests FROM v
                  WHERE {" AND ".join(conditions)} GROUP BY {keys} ORDER BY requests DESC, {keys}"""
        with self.lock:
            frame = self.db.execute(sql, params).df()
        self._remember(key, as_of, self._stable(as_of, norm_codes, where, 0.0), frame)
        return frame.copy()

    def _recall(self, key: tuple[Any, ...], as_of: pd.Timestamp) -> pd.DataFrame | None:
        """A copy of the result remembered for ``key`` that holds at ``as_of`` (see :meth:`_stable`)."""
        now = micros(as_of)
        for low, high, cached in self.cache.get(key, []):
            if now == low or low < now < high:
                _note(now, low, high)
                return cached.copy()
        return None

    def _remember(
        self, key: tuple[Any, ...], as_of: pd.Timestamp, valid: tuple[int, int], frame: pd.DataFrame
    ) -> None:
        _note(micros(as_of), *valid)
        with self.lock:
            self.cache.setdefault(key, []).append((*valid, frame))
            if len(self.cache) > CACHED_RESULTS:
                self.cache.pop(next(iter(self.cache)))

    def aggregate(
        self,
        as_of: pd.Timestamp,
        norm_codes: Sequence[str],
        by: list[str],
        where: RecordFilter | None,
        risk_hours: float,
    ) -> pd.DataFrame:
        """The counts and quantiles of geova.store.verdict_reads.aggregate (before ``_finish``).

        Remembered until the data version moves: a result holds for every instant between the
        stored instants around ``as_of`` (reports, resolutions, due dates and the starts of their
        risk windows), since states change only there; a page "as of now" is counted once, then
        served again until a write, or a due date passing, changes what it shows."""
        key = (tuple(norm_codes), tuple(by), where, float(risk_hours))
        if (cached := self._recall(key, as_of)) is not None:
            return cached
        frame = self._aggregate(as_of, norm_codes, by, where, risk_hours)
        self._remember(key, as_of, self._stable(as_of, norm_codes, where, risk_hours), frame)
        return frame.copy()

    def _stable(
        self, as_of: pd.Timestamp, norm_codes: Sequence[str], where: RecordFilter | None, risk_hours: float
    ) -> tuple[int, int]:
        """(the latest stored instant at or before ``as_of``, the first after it) among the rows the
        aggregate reads; with ``as_of`` itself as the low end when an instant falls on it (a strict
        comparison, such as overdue, changes just after it)."""
        params, conditions = self._conditions(as_of, norm_codes, where)
        conditions = [c for c in conditions if c != "v.reported_at <= $now"]
        params["lead"] = round(risk_hours * 3_600_000_000)
        sql = f"""SELECT max(t) FILTER (WHERE t <= $now), min(t) FILTER (WHERE t > $now) FROM (
                    SELECT unnest([v.reported_at, v.resolved_at, v.due_at, v.due_at - $lead]) AS t
                    FROM v WHERE {" AND ".join(conditions)})"""
        with self.lock:
            low, high = self.db.execute(sql, params).fetchone() or (None, None)
        now = micros(as_of)
        low = now if low is None or low == now else int(low)
        return low, (2**63 - 1 if high is None else int(high))

    def _aggregate(
        self,
        as_of: pd.Timestamp,
        norm_codes: Sequence[str],
        by: list[str],
        where: RecordFilter | None,
        risk_hours: float,
    ) -> pd.DataFrame:
        params, conditions = self._conditions(as_of, norm_codes, where)
        params["risk"] = micros(pd.Timestamp(as_of) + pd.Timedelta(hours=risk_hours))
        state = STATE
        zones = "zone" in by or "zone_kind" in by
        keys = []
        for d in by:
            if d == "norm":
                keys.append("v.norm_code AS norm")
            elif d == "zone":
                keys.append(f"coalesce(z.zone, '{NONE}') AS zone")
            elif d == "zone_kind":
                keys.append(f"coalesce(z.kind, '{NONE}') AS zone_kind")
            else:
                keys.append(f"coalesce(v.{d}, '{NONE}') AS {d}")
        source = "v"
        if zones:
            zone_rows = (
                "SELECT DISTINCT intervention_id, kind FROM iz" if "zone" not in by else "SELECT * FROM iz"
            )
            source = f"v LEFT JOIN ({zone_rows}) z ON z.intervention_id = v.intervention_id"
        rows = f"""SELECT {", ".join(keys)}, {state} AS state, v.excluded, v.hours_taken
                   FROM {source} WHERE {" AND ".join(conditions)}"""
        counts = ", ".join(
            f"count(*) FILTER (WHERE NOT excluded AND state = '{s.value}') AS {s.value}" for s in State
        )
        done = f"NOT excluded AND state IN ('{State.ON_TIME.value}', '{State.LATE.value}')"
        grouped = f"""SELECT {", ".join(by)}, {counts}, count(*) FILTER (WHERE excluded) AS excluded,
                  quantile_cont(hours_taken, [0.5, 0.9]) FILTER (WHERE {done}) AS q
                  FROM ({rows}) GROUP BY {", ".join(by)}"""
        sql = f"""SELECT * EXCLUDE (q), q[1] AS median_hours, q[2] AS p90_hours FROM ({grouped})
                  ORDER BY {", ".join(by)}"""
        with self.lock:
            frame = self.db.execute(sql, params).df()
        return frame

    def cells(
        self,
        as_of: pd.Timestamp,
        norm_code: str,
        wheres: Sequence[RecordFilter],
        states: Sequence[str],
        risk_hours: float,
        size: float,
    ) -> pd.DataFrame:
        """geova.store.verdict_reads.cells, counted here: (x, y, n, o) per square cell of ``size``
        degrees, ordered by cell column then row. The requests are those every filter of ``wheres``
        selects, each with its verdict under ``norm_code`` if it was reported by ``as_of``, as
        geova.store.verdict_reads.points reads them from the store.

        The cell is at least 1 / MAX_GRID of the selected requests' extent, so that the answer
        never holds more than (MAX_GRID + 1)² cells: a map asks for cells of 60 pixels over its
        own view, far fewer, but zoom 22 over the whole world made every request a cell of its
        own (612,125 features, 65 MB, 6-7 s at a million requests)."""
        now = micros(as_of)
        validity.moment(now)  # counted at this instant only (no window computed, as in SQL)
        params: dict[str, Any] = {
            "norm": norm_code,
            "now": now,
            "size": float(size),
        }
        conditions = ["TRUE"]
        for i, where in enumerate(wheres):
            conditions += _request_conditions(where, f"w{i}_", params)
        judged = "v.norm_code = $norm AND v.reported_at <= $now"
        if states:
            # the state of each request, as geova.store.verdict_reads.state_expr says it
            params["states"] = list(states)
            params["risk"] = micros(pd.Timestamp(as_of) + pd.Timedelta(hours=risk_hours))
            state = STATE
            rows = f"""SELECT r.x, r.y, {state} = '{State.OPEN_OVERDUE.value}' AS late
                       FROM r LEFT JOIN v ON v.intervention_id = r.intervention_id AND {judged}
                       WHERE {" AND ".join(conditions)} AND list_contains($states, {state})"""
        else:
            # only the open overdue verdicts are joined: a fraction of the norm's
            overdue = f"""SELECT intervention_id FROM v WHERE {judged} AND v.due_at < $now
                          AND (v.resolved_at IS NULL OR v.resolved_at > $now)"""
            rows = f"""SELECT r.x, r.y, o.intervention_id IS NOT NULL AS late
                       FROM r LEFT JOIN ({overdue}) o ON o.intervention_id = r.intervention_id
                       WHERE {" AND ".join(conditions)}"""
        # the cell grows with the requests' extent so that at most MAX_GRID cells span it
        params["grid"] = MAX_GRID
        sql = f"""WITH sel AS MATERIALIZED ({rows}),
                  grid AS (SELECT greatest($size, (max(x) - min(x)) / $grid, (max(y) - min(y)) / $grid) AS s
                           FROM sel)
                  SELECT avg(x) AS x, avg(y) AS y, count(*) AS n, count(*) FILTER (WHERE late) AS o
                  FROM sel, grid GROUP BY floor(x / grid.s), floor(y / grid.s)
                  ORDER BY floor(x / grid.s), floor(y / grid.s)"""
        with self.lock:
            frame = self.db.execute(sql, params).df()
        return frame.astype({"x": float, "y": float, "n": np.int64, "o": np.int64})


def _request_conditions(where: RecordFilter, prefix: str, params: dict[str, Any]) -> list[str]:
    """The conditions on the replica's requests ``r`` that select what ``where`` selects (the
    meaning geova.store.records.filter_query gives it), their parameters added to ``params``."""
    if where.stale:
        raise ValueError("the replica does not hold the queue of stale requests")
    conditions = []
    for name, column, values in (
        ("categories", "r.category", where.categories),
        ("services", "r.service", where.services),
    ):
        if values is not None:
            params[prefix + name] = list(values)
            conditions.append(f"list_contains(${prefix}{name}, {column})")
    if where.ids is not None:
        params[prefix + "ids"] = list(where.ids)
        conditions.append(f"r.intervention_id IN (SELECT unnest(${prefix}ids))")
    if where.quarters is not None:
        # a code names a quarter (its requests' quarter_id) or a sub-quarter (their subquarter_id)
        params[prefix + "quarters"] = list(where.quarters)
        ids = f"(SELECT id FROM q WHERE list_contains(${prefix}quarters, code))"
        conditions.append(f"(r.quarter_id IN {ids} OR r.subquarter_id IN {ids})")
    if where.zones is not None:
        params[prefix + "zones"] = list(where.zones)
        conditions.append(
            f"r.intervention_id IN (SELECT intervention_id FROM iz WHERE list_contains(${prefix}zones, zone))"
        )
    if where.reported_from is not None:
        params[prefix + "start"] = micros(where.reported_from)
        conditions.append(f"r.reported_at >= ${prefix}start")
    if where.reported_to is not None:
        params[prefix + "end"] = micros(where.reported_to)
        conditions.append(f"r.reported_at < ${prefix}end")
    if where.bbox is not None:
        minx, miny, maxx, maxy = (float(v) for v in where.bbox)
        params.update(
            {prefix + "minx": minx, prefix + "miny": miny, prefix + "maxx": maxx, prefix + "maxy": maxy}
        )
        conditions.append(
            f"r.x BETWEEN ${prefix}minx AND ${prefix}maxx AND r.y BETWEEN ${prefix}miny AND ${prefix}maxy"
        )
    return conditions


def _note(now: int, low: int, high: int) -> None:
    """Tell whoever collects it (geova.core.validity) for which instants a result read at ``now``
    holds: ``low`` itself only when it is ``now`` (see Replica._stable), then up to ``high``."""
    validity.stable(now, now if low == now else low + 1, high)


_REPLICAS: OrderedDict[str, Replica] = OrderedDict()
_REPLICAS_LOCK = threading.Lock()
KEPT_REPLICAS = 4  # stores a process keeps replicas of (one in production; tests open many)


def warm(engine: Engine) -> int:
    """Load this process's replica of ``engine``'s store now, rather than on the first page that
    counts an aggregate (seconds for a million requests: a gunicorn worker calls it as it starts,
    geova.gunicorn_conf). Returns how many verdict rows the replica holds."""
    with engine.connect() as conn:
        held = replica(engine, conn)
    with held.lock:
        row = held.db.execute("SELECT count(*) FROM v").fetchone()
    return int(row[0]) if row else 0


def replica(engine: Engine, conn: Connection) -> Replica:
    """This process's replica of the store ``engine`` points at, brought up to date."""
    key = engine.url.render_as_string(hide_password=True)
    with _REPLICAS_LOCK:
        found = _REPLICAS.get(key)
        if found is None:
            found = _REPLICAS[key] = Replica()
            while len(_REPLICAS) > KEPT_REPLICAS:  # the least recently used goes (closed when unused)
                _REPLICAS.popitem(last=False)
        _REPLICAS.move_to_end(key)
    with found.lock:
        found.sync(conn)
    return found
