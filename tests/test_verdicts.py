"""The maintained verdicts equal a full recomputation, whatever was written and however.

The oracle is the in-memory engine run from scratch over what the store holds (the requests, their
zones, the norms, the territory): geova.core.evaluate.evaluate_deadline and aggregate over
load_records, exactly what every page computed before verdicts were stored. The system under test is
geova.evaluation.evaluate, which reads the ``verdict`` table that geova.store.verdicts maintains at
each write and counts it in SQL.

A Hypothesis state machine writes through every path (imports of new and changed rows, web reports,
resolutions and reassignments, new norm targets and scopes, zone layers re-imported with other
kinds, shapes and codes, the territory's time zone) and, after each step, compares both at several
instants and groupings, on SpatiaLite and on PostGIS.
"""

from __future__ import annotations

import csv
import json
import shutil
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlalchemy import Engine, text

from geova import importing
from geova.core.evaluate import (
    DEFAULT_RISK_HOURS,
    PER_REQUEST_COLUMNS,
    State,
    Territory,
    aggregate,
    evaluate_deadline,
)
from geova.core.norms import NormKind, Target
from geova.evaluation import ensure_current, evaluate
from geova.store import edits, verdict_reads
from geova.store.db import make_engine, write
from geova.store.records import RecordFilter, load_records
from geova.store.referential import add_target, deadline_norms, load_norms
from geova.store.schema import Base
from geova.store.status import set_setting
from geova.store.status import settings as store_settings
from geova.store.verdict_replica import Replica, replica
from tests.boston import LAYERS, load_quarters, load_zones
from tests.test_map_cells import expected_cells

FIX = Path(__file__).parent / "fixtures" / "norms"
BOSTON = "America/New_York"
INSTANTS = (
    pd.Timestamp("2015-06-01 00:00", tz=BOSTON),
    pd.Timestamp("2015-06-10 12:00", tz=BOSTON),
    pd.Timestamp("2015-08-01 00:00", tz=BOSTON),
)
CLUSTER = 0.005  # degrees: the map's cells at about zoom 12, several per quarter
GROUPINGS = (
    ["norm"],
    ["norm", "quarter"],
    ["norm", "subquarter", "category"],
    ["norm", "zone"],
    ["norm", "zone_kind"],
    ["zone_kind"],
    ["norm", "month", "service", "channel"],
)
# points: inside ZPC-01 (Downtown Crossing), ZPC-01 and ZPC-02, Chinatown, Dorchester, Fields
# Corner (ZPC-08), outside Boston
POINTS = (
    (-71.0602, 42.3551),
    (-71.0621, 42.3524),
    (-71.0616, 42.3505),
    (-71.0650, 42.2900),
    (-71.0617, 42.3003),
    (-71.2000, 42.4500),
)
EXTRA_NORMS = """
[[norm]]
code = "t.commercial.working"
task = "proprete.graffiti"
kind = "deadline"
set = "test"
label_fr = "Graffitis en zone commerciale, 16 heures ouvrées"
calendar = "working"
value = 16
from = 2008-01-01
  [[norm.scope]]
  categories = ["graffiti"]
  zone_kinds = ["commercial"]

[[norm]]
code = "t.needles.source"
task = "proprete.graffiti"
kind = "deadline"
set = "test"
label_fr = "Seringues, à la date promise par la source"
deadline = "source"
  [[norm.scope]]
  categories = ["seringue"]
"""
SCOPE_CHANGE = """
[[norm]]
code = "t.commercial.working"
task = "proprete.graffiti"
kind = "deadline"
set = "test"
label_fr = "Graffitis et seringues hors zone sensible, 16 heures ouvrées"
calendar = "working"
value = 16
from = 2008-01-01
  [[norm.scope]]
  categories = ["graffiti", "seringue"]
  exclude_zone_kinds = ["sensitive"]
"""


def recomputed(engine: Engine, as_of: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, str]:
    """The oracle: every deadline norm evaluated from scratch over the stored requests."""
    with engine.connect() as conn:
        norms = [n for n in load_norms(conn, active_only=True) if n.kind is NormKind.DEADLINE]
        s = store_settings(conn)
        recs, zones = load_records(conn, set().union(*(n.categories for n in norms)))
    where = Territory(timezone=s.get("timezone", "Europe/Paris"), holidays=s.get("holidays", "FR"))
    per = pd.concat([evaluate_deadline(n, recs, zones, as_of, where) for n in norms], ignore_index=True)
    return per, recs, zones, where.timezone


def same_frames(got: pd.DataFrame, want: pd.DataFrame, keys: list[str], what: str) -> None:
    got = got.sort_values(keys).reset_index(drop=True)
    want = want.sort_values(keys).reset_index(drop=True)
    assert list(got[keys].itertuples(index=False)) == list(want[keys].itertuples(index=False)), what
    for column in want.columns:
        a, b = got[column], want[column]
        if pd.api.types.is_float_dtype(b) or pd.api.types.is_float_dtype(a):
            pd.testing.assert_series_equal(
                a.astype(float),
                b.astype(float),
                check_names=False,
                rtol=1e-9,
                atol=1e-9,
                obj=f"{what} {column}",
            )
        else:
            assert (
                a.astype(object).where(a.notna(), None).tolist()
                == b.astype(object).where(b.notna(), None).tolist()
            ), f"{what}: column {column}"


def check_clusters(engine: Engine, as_of: pd.Timestamp) -> None:
    """The map's clusters, counted in this process's replica (replayed write after write), against
    the requests read one by one from the store (tests/test_map_cells.py's oracle). Settled first,
    as the map's feed does (a raw write is queued until then)."""
    ensure_current(engine)
    with engine.connect() as conn:
        for norm in deadline_norms(conn):
            judged = [RecordFilter(categories=tuple(sorted(norm.categories)))]
            for states in [(), (State.OPEN_OVERDUE.value, State.NO_DEADLINE.value)]:
                args = (conn, as_of, norm.code, judged, states, DEFAULT_RISK_HOURS)
                want = expected_cells(verdict_reads.points(*args), CLUSTER)
                got = verdict_reads.cells(*args, CLUSTER)
                what = f"clusters of {norm.code} {states} at {as_of}"
                assert got[["n", "o"]].values.tolist() == want[["n", "o"]].values.tolist(), what
                assert np.allclose(got[["x", "y"]], want[["x", "y"]], rtol=0, atol=1e-9), what


def check_replayed(engine: Engine) -> None:
    """This process's replica, which replays each write's log, holds what a replica loaded afresh
    from the store holds: the verdicts, the requests' locations and keys, the zone memberships."""
    ensure_current(engine)
    with engine.connect() as conn:
        replayed = replica(engine, conn)
        fresh = Replica()
        fresh.sync(conn)
    for table in ("v", "r", "iz"):
        got = replayed.db.execute(f"SELECT * FROM {table} ORDER BY ALL").df()
        want = fresh.db.execute(f"SELECT * FROM {table} ORDER BY ALL").df()
        pd.testing.assert_frame_equal(got, want, obj=f"the replica's table {table}")


def check_maintained(engine: Engine) -> None:
    check_replayed(engine)
    for as_of in INSTANTS:
        check_clusters(engine, as_of)
        per, recs, zones, tz = recomputed(engine, as_of)
        result = evaluate(engine, as_of=as_of)
        assert result.stored, "the evaluation should read the maintained verdicts"
        same_frames(
            result.per_intervention[list(PER_REQUEST_COLUMNS)],
            per[list(PER_REQUEST_COLUMNS)],
            ["norm", "id"],
            f"verdicts at {as_of}",
        )
        for by in GROUPINGS:
            want = aggregate(per, recs, zones, by=by, tz=tz)
            got = result.group(by)
            got = got[[c for c in got.columns if not c.endswith("_name")]]
            if want.empty:
                assert got.empty, by
                continue
            assert list(got.columns) == list(want.columns), by
            same_frames(got, want, by, f"grouped by {by} at {as_of}")
            # the same counts taken by the database itself, without the columnar replica
            with engine.connect() as conn:
                codes = sorted(set(per["norm"]))
                in_store = verdict_reads.aggregate(conn, as_of, codes, by=by, counted_in="store")
            same_frames(in_store, want, by, f"grouped by {by} at {as_of}, counted in the store")


# --- a store on each backend, fresh for each run of the state machine -------------------------------


def fresh_store(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Engine:
    if backend == "spatialite":
        path = tmp_path / f"{uuid.uuid4().hex[:8]}.sqlite"
        shutil.copy(request.getfixturevalue("spatialite_template"), path)
        return make_engine(f"sqlite:///{path}")
    engine = make_engine(request.getfixturevalue("postgis_url"))
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    return engine


def zone_variant(folder: Path, variant: int) -> Path:
    """The demo's zones re-drawn: 0 as shipped; 1 ZPC-01 becomes a sensitive zone and ZPC-02 goes;
    2 ZPC-03 grows to cover Chinatown's points and ZPC-01 is renamed ZPC-01b."""
    data = json.loads((LAYERS / "boston_priority_zones.geojson").read_text())
    features = []
    for f in data["features"]:
        p = f["properties"]
        if variant == 1 and p["code"] == "ZPC-02":
            continue
        if variant == 1 and p["code"] == "ZPC-01":
            p["kind"] = "sensitive"
        if variant == 2 and p["code"] == "ZPC-01":
            p["code"] = "ZPC-01b"
        if variant == 2 and p["code"] == "ZPC-03":
            f["geometry"] = {
                "type": "Polygon",
                "coordinates": [
                    [[-71.07, 42.345], [-71.05, 42.345], [-71.05, 42.36], [-71.07, 42.36], [-71.07, 42.345]]
                ],
            }
        features.append(f)
    data["features"] = features
    path = folder / f"zones-{variant}-{uuid.uuid4().hex[:6]}.geojson"
    path.write_text(json.dumps(data))
    return path


def fixture_store(engine: Engine) -> None:
    """The Boston quarters and zones, the fixture norms and requests, in Boston's time zone."""
    load_quarters(engine)
    load_zones(engine)
    importing.load_extra_referential(engine, FIX / "norms.toml")
    with write(engine) as conn:
        set_setting(conn, "timezone", BOSTON)
    importing.import_interventions(engine, FIX / "requests.csv", FIX / "requests.toml")


def reimport_zones(engine: Engine, folder: Path, variant: int) -> None:
    importing.import_layer(
        engine,
        zone_variant(folder, variant),
        as_="zones",
        code_field="code",
        name_field="name",
        kind_field="kind",
        layer_name="boston_priority_zones",
    )


class Writes(RuleBasedStateMachine):
    """Random sequences of writes through every path geova has."""

    backend = "spatialite"
    request: pytest.FixtureRequest
    tmp_path: Path

    def __init__(self) -> None:
        super().__init__()
        self.engine = fresh_store(self.backend, self.request, self.tmp_path)
        load_quarters(self.engine)
        load_zones(self.engine)
        importing.load_extra_referential(self.engine, FIX / "norms.toml")
        extra = self.tmp_path / f"extra-{uuid.uuid4().hex[:6]}.toml"
        extra.write_text(EXTRA_NORMS)
        importing.load_extra_referential(self.engine, extra)
        with write(self.engine) as conn:
            set_setting(conn, "timezone", BOSTON)
        self.ids: list[int] = []

    def teardown(self) -> None:
        self.engine.dispose()

    def _refresh_ids(self) -> None:
        with self.engine.connect() as conn:
            self.ids = [r[0] for r in conn.execute(text("SELECT id FROM intervention ORDER BY id"))]

    @rule(
        rows=st.lists(
            st.tuples(
                st.integers(0, 11),  # source id: a pool, so that later imports change earlier rows
                st.sampled_from(["Graffiti", "Needle"]),
                st.integers(0, 21 * 24),  # hours after 2015-05-25 00:00, Boston time
                st.one_of(st.none(), st.integers(0, 200)),  # hours to resolution
                st.one_of(st.none(), st.integers(1, 96)),  # the source's own deadline, hours
                st.sampled_from(["Open", "Closed", "Duplicate", "Cancelled"]),
                st.sampled_from(POINTS),
                st.sampled_from(["PWD", "Parks"]),
            ),
            min_size=1,
            max_size=8,
            unique_by=lambda r: r[0],
        )
    )
    def import_rows(self, rows):
        path = self.tmp_path / f"requests-{uuid.uuid4().hex[:6]}.csv"
        start = datetime(2015, 5, 25)
        fmt = "%Y-%m-%d %H:%M"
        with path.open("w", newline="") as f:
            out = csv.writer(f)
            out.writerow(
                ["id", "type", "opened", "closed", "target", "status", "channel", "service", "lat", "lon"]
            )
            for sid, kind, at, taken, due, status, (lon, lat), service in rows:
                opened = start + timedelta(hours=at)
                closed = "" if taken is None else (opened + timedelta(hours=taken)).strftime(fmt)
                target = "" if due is None else (opened + timedelta(hours=due)).strftime(fmt)
                status = "Closed" if closed and status == "Open" else status
                status = "Open" if not closed and status == "Closed" else status
                out.writerow(
                    [f"R{sid}", kind, opened.strftime(fmt), closed, target, status, "App", service, lat, lon]
                )
        importing.import_interventions(self.engine, path, FIX / "requests.toml")
        self._refresh_ids()

    @rule(point=st.sampled_from(POINTS[:-1]), at=st.integers(0, 21 * 24), insulting=st.booleans())
    def report_on_the_web(self, point, at, insulting):
        when = datetime(2015, 5, 25, tzinfo=ZoneInfo(BOSTON)) + timedelta(hours=at)
        with write(self.engine) as conn:
            edits.report_intervention(
                conn, "graffiti", "tag", "1 Main St", point[0], point[1], "corr", when, insulting=insulting
            )
        self._refresh_ids()

    @rule(k=st.integers(0, 50), hours=st.integers(1, 120))
    def resolve_on_the_web(self, k, hours):
        if not self.ids:
            return
        with self.engine.connect() as conn:
            row = conn.execute(
                text(
                    "SELECT reported_at FROM intervention"
                    " WHERE id = :i AND status IN ('new', 'acknowledged', 'in_progress')"
                    " AND resolved_at IS NULL"
                ),
                {"i": self.ids[k % len(self.ids)]},
            ).first()
        if row is None:
            return
        reported = pd.Timestamp(row[0])
        reported = reported.tz_localize("UTC") if reported.tzinfo is None else reported
        with write(self.engine) as conn:
            edits.resolve(
                conn, self.ids[k % len(self.ids)], reported + pd.Timedelta(hours=hours), "done", "svc"
            )

    @rule(k=st.integers(0, 50), service=st.sampled_from(["PWD", "Parks", "Graffiti team"]))
    def reassign(self, k, service):
        if not self.ids:
            return
        try:
            with write(self.engine) as conn:
                edits.reassign(conn, self.ids[k % len(self.ids)], service, None, "svc")
        except ValueError:
            pass  # already assigned to that service: refused, nothing written

    @rule(
        where=st.sampled_from([(None, None), ("26", None), ("7", None), (None, "ZPC-02"), (None, "ZPC-08")]),
        day=st.sampled_from([date(2015, 5, 1), date(2015, 6, 3), date(2015, 6, 8)]),
        value=st.sampled_from([6.0, 12.0, 60.0, None]),
    )
    def new_target(self, where, day, value):
        with write(self.engine) as conn:
            add_target(conn, "test.graffiti.48h", Target(day, value, where[0], where[1]))

    @rule()
    def change_a_scope(self):
        path = self.tmp_path / f"scope-{uuid.uuid4().hex[:6]}.toml"
        path.write_text(SCOPE_CHANGE)
        importing.load_extra_referential(self.engine, path)

    @rule(variant=st.sampled_from([0, 1, 2]))
    def reimport_zones(self, variant):
        reimport_zones(self.engine, self.tmp_path, variant)

    @rule(tz=st.sampled_from([BOSTON, "America/Chicago"]))
    def move_the_territory(self, tz):
        with write(self.engine) as conn:
            set_setting(conn, "timezone", tz)

    @invariant()
    def maintained_equals_recomputed(self):
        check_maintained(self.engine)


@pytest.mark.parametrize("backend", ["spatialite", "postgis"])
def test_maintained_verdicts_equal_a_full_recomputation(backend, request, tmp_path):
    machine = type(
        f"Writes_{backend}", (Writes,), {"backend": backend, "request": request, "tmp_path": tmp_path}
    )
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=6,
            stateful_step_count=6,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            # each step writes a store: shrinking a failure would take minutes; the failing
            # sequence is printed as it was found
            phases=[Phase.explicit, Phase.reuse, Phase.generate],
        ),
    )


def test_a_write_around_the_write_path_is_never_read_stale(engine):
    """A raw transaction (a maintenance script) changes a request: the next evaluation notices the
    queued request and settles it before reading."""
    fixture_store(engine)
    as_of = pd.Timestamp("2015-06-10 12:00", tz=BOSTON)
    before = evaluate(engine, as_of=as_of, norm_codes=["test.graffiti.48h"]).per_intervention
    assert before.set_index("source_id").loc["G3", "state"] == "open_overdue"
    with engine.begin() as conn:  # not through geova.store.db.write
        conn.execute(
            text(
                "UPDATE intervention SET resolved_at = reported_at, status = 'closed' WHERE source_id = 'G3'"
            )
        )
    after = evaluate(engine, as_of=as_of, norm_codes=["test.graffiti.48h"]).per_intervention
    assert after.set_index("source_id").loc["G3", "state"] == "on_time"
    check_maintained(engine)
    # moved by hand, to the other side of the territory: the map's clusters follow
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE intervention SET geom = ST_GeomFromText('POINT(-71.03 42.38)', 4326), "
                "quarter_id = NULL WHERE source_id = 'G3'"
            )
        )
    check_clusters(engine, as_of)
    check_replayed(engine)
    # and deleted by hand: gone from the replica's requests and verdicts too
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM intervention WHERE source_id = 'G3'"))
    check_clusters(engine, as_of)
    check_replayed(engine)
    with engine.connect() as conn:
        assert replica(engine, conn).db.execute("SELECT count(*) FROM r").fetchone() == (
            conn.execute(text("SELECT count(*) FROM intervention")).scalar_one(),
        )


def test_reimporting_an_unchanged_file_is_answered_from_the_journal(engine, tmp_path):
    """The same bytes with the same mapping change nothing, so they are not parsed again; a request
    of the source changed in geova since, or another mapping, brings the full import back."""
    load_quarters(engine)
    load_zones(engine)
    importing.load_extra_referential(engine, FIX / "norms.toml")
    first = importing.import_interventions(engine, FIX / "requests.csv", FIX / "requests.toml")
    with (FIX / "requests.csv").open(newline="") as f:
        rows = len(list(csv.DictReader(f)))
    assert first.inserted == rows and not any("nothing to change" in n for n in first.notes)
    again = importing.import_interventions(engine, FIX / "requests.csv", FIX / "requests.toml")
    assert again.unchanged == first.read - first.rejected and again.inserted == again.updated == 0
    assert any("nothing to change" in n for n in again.notes)
    with engine.connect() as conn:
        runs = conn.execute(text("SELECT count(*) FROM import_run WHERE kind = 'interventions'")).scalar_one()
        g3 = conn.execute(text("SELECT id FROM intervention WHERE source_id = 'G3'")).scalar_one()
    assert runs == 2  # the quick run is journalled too
    # a service resolves G3 in geova: the source's file, imported again, is authoritative once more
    with write(engine) as conn:
        edits.resolve(conn, g3, datetime(2015, 6, 6, 12, tzinfo=ZoneInfo(BOSTON)), "done", "svc")
    full = importing.import_interventions(engine, FIX / "requests.csv", FIX / "requests.toml")
    assert full.updated == 1 and not any("nothing to change" in n for n in full.notes)
    # the same file under an edited mapping is read again
    mapping = tmp_path / "requests.toml"
    mapping.write_text((FIX / "requests.toml").read_text() + "\n# edited\n")
    edited = importing.import_interventions(engine, FIX / "requests.csv", mapping)
    assert (
        not any("nothing to change" in n for n in edited.notes)
        and edited.unchanged == full.read - full.rejected
    )


def test_a_replica_loaded_afresh_keeps_empty_texts_nulls_and_punctuation(engine):
    """A worker's replica is loaded in bulk (CSV from PostgreSQL, chunks from SQLite): a service
    left empty, one missing and one with a comma and quotes stay three different groups, with the
    counts the database itself takes."""
    fixture_store(engine)
    with write(engine) as conn:
        ids = [r[0] for r in conn.execute(text("SELECT id FROM intervention ORDER BY id")).all()]
        assert len(ids) >= 3
        for value, rid in (("", ids[0]), (None, ids[1]), ('Parks, "North"\nteam', ids[2])):
            conn.execute(text("UPDATE intervention SET service = :s WHERE id = :i"), {"s": value, "i": rid})
    as_of = pd.Timestamp("2015-08-01 00:00", tz=BOSTON)
    with engine.connect() as conn:
        codes = sorted(r[0] for r in conn.execute(text("SELECT DISTINCT norm_code FROM verdict")))
        fresh = Replica()
        fresh.sync(conn)
        got = fresh.aggregate(as_of, codes, ["norm", "service"], None, 24.0)
        want = verdict_reads.aggregate(conn, as_of, codes, by=["norm", "service"], counted_in="store")
    states = ["on_time", "late", "open_overdue", "open_at_risk", "open_in_time", "no_deadline", "excluded"]
    key = ["norm", "service"]
    got = got.set_index(key)[states].sort_index()
    want = want.set_index(key)[states].sort_index()
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    services = set(got.index.get_level_values("service"))
    assert {"", "(none)", 'Parks, "North"\nteam'} <= services


def test_a_replica_replays_a_zone_renamed_while_its_requests_move(engine, tmp_path):
    """One write recomputes every norm (a zone's code changed: the territory's fingerprint) and
    re-zones requests: the replica replaying it keeps those requests' verdicts (it once deleted
    them after re-reading the norms whole)."""
    fixture_store(engine)
    check_replayed(engine)  # this process's replica is now loaded, and replays what follows
    reimport_zones(engine, tmp_path, 2)
    check_replayed(engine)
    check_clusters(engine, pd.Timestamp("2015-06-10 12:00", tz=BOSTON))
