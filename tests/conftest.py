"""Fixtures: every store test runs twice, on SpatiaLite and on PostGIS.

PostGIS is a hard requirement of the suite: when the server cannot be reached the tests fail with
a message saying how to start it, rather than silently skipping (set GEOVA_SKIP_POSTGIS=1 to run
the SpatiaLite half alone on a machine without PostgreSQL; CI sets GEOVA_REQUIRE_POSTGIS=1, which
wins).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from geova.store.db import make_engine
from geova.store.migrate import upgrade
from geova.store.schema import Base

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"
PG_ADMIN_URL = os.environ.get(
    "GEOVA_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = ["spatialite", "postgis"]


def _skip_postgis() -> bool:
    return os.environ.get("GEOVA_SKIP_POSTGIS") == "1" and os.environ.get("GEOVA_REQUIRE_POSTGIS") != "1"


@pytest.fixture(scope="session", autouse=True)
def _catalogues() -> None:
    """Compiled translations, as `make install` leaves them (pytest may be run directly)."""
    from geova.web.translations import compile_catalogues

    compile_catalogues()


@pytest.fixture(scope="session")
def spatialite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SpatiaLite file migrated once; each test gets a copy (migrating takes longer than copying)."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite"
    eng = make_engine(f"sqlite:///{path}")
    upgrade(eng)
    with eng.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    eng.dispose()
    return path


@pytest.fixture(scope="session")
def postgis_url() -> Iterator[str]:
    """A throw-away PostGIS database for the session, migrated once."""
    if _skip_postgis():
        pytest.skip("GEOVA_SKIP_POSTGIS=1")
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"geova_test_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # pragma: no cover - environment problem, reported loudly
        pytest.fail(
            f"PostgreSQL unreachable at {PG_ADMIN_URL} ({exc.__class__.__name__}: {exc}). "
            "Run `make install` (installs PostGIS and starts the server) or set GEOVA_TEST_POSTGRES_URL.",
            pytrace=False,
        )
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    eng = make_engine(url)
    upgrade(eng)
    eng.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate_postgis(eng: Engine) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with eng.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of an empty, migrated store on each backend."""
    if request.param == "spatialite":
        template = request.getfixturevalue("spatialite_template")
        path = tmp_path / "geova.sqlite"
        shutil.copy(template, path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("postgis_url")
    eng = make_engine(url)
    _truncate_postgis(eng)
    eng.dispose()
    return url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture(autouse=True)
def _instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Runtime state (rejects files, default database) goes to the test's own folder."""
    folder = tmp_path / "instance"
    monkeypatch.setenv("GEOVA_INSTANCE_PATH", str(folder))
    monkeypatch.delenv("GEOVA_DATABASE_URL", raising=False)
    return folder


@pytest.fixture
def boston_app(db_url: str, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The app on the Boston store of tests/test_web_correspondent.py (its accounts hashed cheaply):
    the store most page tests share, declared once here rather than in each of their modules."""
    from tests.test_web_correspondent import fast_passwords, make_app

    fast_passwords(monkeypatch)
    yield from make_app(db_url, engine, tmp_path)


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's own temporary folder (``tempfile``'s), watched: SQLite's staging files
    (geova.store.staging) go there and must not outlive the transaction that wrote them."""
    folder = tmp_path / "scratch"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder
