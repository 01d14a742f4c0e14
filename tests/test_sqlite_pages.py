"""SQLite stores' page size. A new store is made with 32 KiB pages (a million-request first load
then writes its gigabyte through eight times fewer pages: geova.store.db.NEW_STORE_PAGE_BYTES); a
store made before, with SQLite's 4 KiB pages, keeps them and works as before. The page size is read
by SQLite itself, on a plain connection, not through geova's."""

from __future__ import annotations

from pathlib import Path

from pysqlite3 import dbapi2

from geova.importing import prepare_store
from geova.store.db import make_engine
from tests.boston import load_quarters


def page_size(path: Path) -> int:
    con = dbapi2.connect(str(path))
    try:
        return int(con.execute("PRAGMA page_size").fetchone()[0])
    finally:
        con.close()


def quarters_stored(path: Path) -> int:
    con = dbapi2.connect(str(path))
    try:
        return int(con.execute("SELECT count(*) FROM quarter").fetchone()[0])
    finally:
        con.close()


def test_a_new_store_is_made_with_32_kib_pages(tmp_path):
    path = tmp_path / "new.sqlite"
    engine = make_engine(f"sqlite:///{path}")
    prepare_store(engine)
    load_quarters(engine)
    engine.dispose()
    assert page_size(path) == 32 * 1024
    assert quarters_stored(path) == 26


def test_a_store_made_with_4_kib_pages_keeps_them_and_works(tmp_path):
    path = tmp_path / "made-before.sqlite"
    con = dbapi2.connect(str(path))
    con.execute("PRAGMA page_size = 4096")
    con.execute("CREATE TABLE made_before (x)")
    con.commit()
    con.close()
    engine = make_engine(f"sqlite:///{path}")
    prepare_store(engine)
    report = load_quarters(engine)
    engine.dispose()
    assert report.inserted == 26
    assert page_size(path) == 4096
    assert quarters_stored(path) == 26
