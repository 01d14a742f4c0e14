"""How a SQLite first load is journalled. Alone with the store (the command line), it leaves the
WAL for a rollback journal, so that its pages go once to disk instead of twice, and puts the WAL
back after, whether it committed, failed or was killed; beside a reader (the web app) it keeps the
WAL and the reader goes on (geova.store.db.write's ``bulk``).

The journal mode and the store's state are read by SQLite itself, on plain connections, not
through geova's. SQLite only: PostgreSQL has no such choice to make.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pysqlite3 import dbapi2
from sqlalchemy import Connection

from geova.importing import import_interventions, prepare_store, streamed
from geova.io.errors import TooManyRejects
from geova.store import interventions, verdicts
from geova.store.db import make_engine
from tests.boston import load_quarters

REPO = Path(__file__).resolve().parents[1]
BOSTON_CSV = REPO / "data" / "boston" / "graffiti-removal.csv"
BOSTON_MAPPING = REPO / "data" / "mappings" / "graffiti-removal.toml"
BOSTON_REQUESTS = 4284


def sqlite(path: Path, sql: str) -> object:
    """The first value ``sql`` gives on a plain connection (SQLite's own answer)."""
    con = dbapi2.connect(str(path))
    try:
        return con.execute(sql).fetchone()[0]
    finally:
        con.close()


def left_as_it_was_with_its_wal(store: Path) -> None:
    """No request, a sound file, the WAL on and no rollback journal left."""
    assert sqlite(store, "SELECT count(*) FROM intervention") == 0
    assert sqlite(store, "PRAGMA journal_mode") == "wal"
    assert sqlite(store, "PRAGMA integrity_check") == "ok"
    assert not Path(f"{store}-journal").exists()


def loads_again(store: Path, tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{store}")
    report = import_interventions(engine, BOSTON_CSV, BOSTON_MAPPING, rejects_path=tmp_path / "r.csv")
    engine.dispose()
    assert report.inserted == BOSTON_REQUESTS


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A new SQLite store with Boston's quarters, no request, and no connection left open."""
    path = tmp_path / "geova.sqlite"
    engine = make_engine(f"sqlite:///{path}")
    prepare_store(engine)
    load_quarters(engine)
    engine.dispose()
    return path


@pytest.fixture
def modes_seen(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The store's journal mode inside each first load's transaction, as SQLite reports it."""
    seen: list[str] = []
    first_load = interventions.first_load

    def watched(conn: Connection, *args: object, **kw: object) -> object:
        seen.append(str(conn.exec_driver_sql("PRAGMA main.journal_mode").scalar_one()))
        return first_load(conn, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(interventions, "first_load", watched)
    monkeypatch.setattr(streamed, "STREAM_PART_ROWS", 700)
    monkeypatch.setattr(interventions, "DEFERRED_INDEX_ROWS", 1)  # the real file takes the first load
    monkeypatch.setattr(verdicts, "DEFERRED_INDEX_ROWS", 1)
    return seen


def test_a_first_load_alone_uses_a_rollback_journal_and_leaves_the_wal_on(store, tmp_path, modes_seen):
    engine = make_engine(f"sqlite:///{store}")
    report = import_interventions(engine, BOSTON_CSV, BOSTON_MAPPING, rejects_path=tmp_path / "r.csv")
    engine.dispose()
    assert modes_seen == ["delete"]
    assert report.inserted == BOSTON_REQUESTS
    assert sqlite(store, "PRAGMA journal_mode") == "wal"
    assert sqlite(store, "SELECT count(*) FROM intervention") == BOSTON_REQUESTS
    assert sqlite(store, "SELECT count(*) FROM idx_intervention_geom") == BOSTON_REQUESTS
    assert sqlite(store, "PRAGMA integrity_check") == "ok"
    assert not Path(f"{store}-journal").exists()


def test_the_command_line_s_first_load_is_alone_with_the_store(tmp_path, modes_seen):
    """``geova import-layer`` then ``geova import-interventions`` into a new store, as a data officer
    types them: the command's own earlier connections do not keep the load in the WAL."""
    from click.testing import CliRunner

    from geova.cli import cli

    path = tmp_path / "city.sqlite"
    url = f"sqlite:///{path}"
    quarters = REPO / "layers" / "boston_neighborhoods.geojson"
    for args in (
        ["import-layer", quarters, "--as", "quarters", "--code-field", "Neighborhood_ID"],
        ["import-interventions", BOSTON_CSV, "--mapping", BOSTON_MAPPING, "--rejects", tmp_path / "r.csv"],
    ):
        result = CliRunner().invoke(cli, ["--db", url, *map(str, args)], catch_exceptions=False)
        assert result.exit_code == 0, result.output
    assert modes_seen == ["delete"]
    assert sqlite(path, "PRAGMA journal_mode") == "wal"
    assert sqlite(path, "SELECT count(*) FROM intervention") == BOSTON_REQUESTS


def test_a_first_load_beside_a_reader_keeps_the_wal_and_the_reader_reads_on(store, tmp_path, modes_seen):
    reader = dbapi2.connect(str(store), isolation_level=None)
    try:
        assert reader.execute("SELECT count(*) FROM quarter").fetchone()[0] == 26  # the store is open
        engine = make_engine(f"sqlite:///{store}")
        report = import_interventions(engine, BOSTON_CSV, BOSTON_MAPPING, rejects_path=tmp_path / "r.csv")
        assert modes_seen == ["wal"]
        assert report.inserted == BOSTON_REQUESTS
        assert reader.execute("SELECT count(*) FROM intervention").fetchone()[0] == BOSTON_REQUESTS
        engine.dispose()
    finally:
        reader.close()
    assert sqlite(store, "PRAGMA journal_mode") == "wal"
    assert sqlite(store, "PRAGMA integrity_check") == "ok"


def test_a_failed_first_load_alone_leaves_the_store_as_it_was_with_its_wal(store, tmp_path, modes_seen):
    engine = make_engine(f"sqlite:///{store}")
    with pytest.raises(TooManyRejects):
        # the Boston file has no reject; a limit below zero refuses it all the same, at the very end
        import_interventions(
            engine, BOSTON_CSV, BOSTON_MAPPING, rejects_path=tmp_path / "r.csv", max_rejects=-1
        )
    engine.dispose()
    assert modes_seen == ["delete"]
    left_as_it_was_with_its_wal(store)
    loads_again(store, tmp_path)


KILLED_HALFWAY = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from geova.importing import import_interventions, streamed
    from geova.store import bulk, interventions, verdicts
    from geova.store.db import make_engine

    store, csv_path, mapping, rejects = (Path(a) for a in sys.argv[1:5])
    streamed.STREAM_PART_ROWS = 700
    interventions.DEFERRED_INDEX_ROWS = verdicts.DEFERRED_INDEX_ROWS = 1
    bulk.BULK_CACHE_KIB = 256  # a small page cache: the load's pages spill into the file early

    def killed(conn, tables):
        # the rows, indexes and verdicts are written; the transaction is not committed
        print(store.stat().st_size, Path(f"{store}-journal").exists(), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    interventions.refresh_statistics = killed
    import_interventions(make_engine(f"sqlite:///{store}"), csv_path, mapping, rejects_path=rejects)
    """
)


def test_a_first_load_killed_halfway_is_undone_by_the_next_connection(store, tmp_path):
    """The power cut of a rollback journal: the process dies with the load's pages half in the
    file; the next connection rolls them back from the journal, and the store works as before."""
    before = store.stat().st_size
    given = [str(store), str(BOSTON_CSV), str(BOSTON_MAPPING), str(tmp_path / "r")]
    run = subprocess.run(
        [sys.executable, "-c", KILLED_HALFWAY, *given],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=300,
    )
    assert run.returncode == -signal.SIGKILL, run.stderr
    size, journal = run.stdout.split()
    assert int(size) > before and journal == "True"  # the file had the load's pages, and a journal
    engine = make_engine(f"sqlite:///{store}")  # a connection as the web app's would be
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM intervention").scalar_one() == 0
        assert conn.exec_driver_sql("SELECT count(*) FROM quarter").scalar_one() == 26
    engine.dispose()
    left_as_it_was_with_its_wal(store)
    loads_again(store, tmp_path)
