"""Concurrent writes against a real server, on both backends.

A real HTTP server (werkzeug's threaded server, one thread per request, as a WSGI server runs the
app) takes Open311 and /api/v1 POSTs from many client threads while a request file is imported
with its own engine, as ``geova import-interventions`` would from another process. Every write must
succeed and be stored exactly once. When a writer holds the lock longer than the busy timeout, a
POST answers 503 with Retry-After in its API's error format, and stores nothing.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.parse import urlencode
from urllib.request import Request, urlopen

import pytest
from click.testing import CliRunner
from sqlalchemy import Connection, Engine, func, select
from werkzeug.serving import make_server

from app import create_app
from geova.cli import EXIT_BUSY, cli
from geova.importing import import_interventions
from geova.store import apikeys
from geova.store.db import make_engine, write
from geova.store.schema import Intervention, InterventionEvent
from tests.boston import load_quarters

IV = Intervention.__table__
EV = InterventionEvent.__table__
LAT, LON = 42.3601, -71.0589  # Boston City Hall, inside the Downtown quarter
CATEGORY = "graffiti"
# Open311 clients, and the POSTs each sends one after the other: the 20 x 50 (about a minute
# per backend on two cores, most of it the norms evaluated for each POST's service notice).
THREADS, POSTS = 20, 50
API_POSTS = 10  # /api/v1 reports, sent two at a time during the same run
IMPORTED = 40  # rows of the request file imported meanwhile
IMPORT_SOURCE = "concurrent-import"
MAPPING = f"""
[source]
name = "{IMPORT_SOURCE}"
timezone = "America/New_York"
date_format = "%Y-%m-%d %H:%M"

[columns]
source_id = "id"
category = "type"
reported_at = "reported"
status = "state"
description = "text"
latitude = "lat"
longitude = "lon"

[categories]
Graffiti = "graffiti"

[status]
values = {{ Open = "open" }}
"""


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def post(url: str, *, form: dict[str, str] | None = None, body: Any = None, token: str = "") -> Answer:
    """One POST over a real socket (a form, or a JSON body with a Bearer key)."""
    if form is not None:
        data, headers = urlencode(form).encode(), {"Content-Type": "application/x-www-form-urlencoded"}
    else:
        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    try:
        with urlopen(Request(url, data=data, headers=headers, method="POST"), timeout=120) as response:
            return Answer(response.status, dict(response.headers), response.read())
    except HTTPError as exc:
        return Answer(exc.code, dict(exc.headers), exc.read())


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """The app on a free port of 127.0.0.1, a thread per request; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        thread.join()


@pytest.fixture
def token(engine: Engine) -> str:
    """Boston's quarters, the referential, and a correspondent's API key."""
    load_quarters(engine)
    with write(engine) as conn:
        return apikeys.add_key(conn, "field-app", "correspondent")[1]


def open311_form(token: str, description: str) -> dict[str, str]:
    return {
        "api_key": token,
        "service_code": CATEGORY,
        "lat": str(LAT),
        "long": str(LON),
        "description": description,
    }


def api_body(description: str) -> dict[str, Any]:
    return {"category": CATEGORY, "description": description, "lat": LAT, "lon": LON}


def request_file(folder: Path) -> tuple[Path, Path]:
    rows = [
        f"I{n:03d},Graffiti,2015-06-01 10:{n % 60:02d},Open,imported {n},{LAT + n * 1e-4:.4f},{LON:.4f}"
        for n in range(IMPORTED)
    ]
    csv = folder / "requests.csv"
    csv.write_text("id,type,reported,state,text,lat,lon\n" + "\n".join(rows) + "\n", encoding="utf-8")
    mapping = folder / "requests.toml"
    mapping.write_text(MAPPING, encoding="utf-8")
    return csv, mapping


def descriptions(conn: Connection, source: str | None = None, prefix: str = "") -> Counter[str]:
    query = select(IV.c.description).where(IV.c.description.like(f"{prefix}%"))
    if source is not None:
        query = query.where(IV.c.source == source)
    return Counter(conn.execute(query).scalars())


def test_concurrent_posts_and_an_import_all_succeed_exactly_once(
    db_url, engine, token, tmp_path, monkeypatch
):
    # Writers wait as long as the queue takes: 22 writers at once on two slow cores wait longer than
    # the default busy timeout, and what is checked here is that every write lands exactly once
    # (a writer that gives up answers 503: test_a_write_that_cannot_get_the_lock_answers_503_*)
    monkeypatch.setenv("GEOVA_BUSY_TIMEOUT", "300")
    csv, mapping = request_file(tmp_path)
    app = create_app({"GEOVA_DATABASE_URL": db_url, "TESTING": True, "SECRET_KEY": "test"})
    importer = make_engine(db_url)  # the CLI's own engine, as from another process
    with serving(app) as base, ThreadPoolExecutor(max_workers=THREADS + 3) as pool:

        def open311_client(t: int) -> list[Answer]:
            url = f"{base}/open311/v2/requests.json"
            return [post(url, form=open311_form(token, f"open311 {t}-{n}")) for n in range(POSTS)]

        def api_client(first: int) -> list[Answer]:
            url = f"{base}/api/v1/interventions"
            return [post(url, body=api_body(f"api {n}"), token=token) for n in range(first, API_POSTS, 2)]

        clients = [pool.submit(open311_client, t) for t in range(THREADS)]
        apis = [pool.submit(api_client, first) for first in (0, 1)]
        time.sleep(0.5)  # the import starts while the web writes
        report = pool.submit(import_interventions, importer, csv, mapping, rejects_path=tmp_path / "r.csv")
        open311_answers = [a for c in clients for a in c.result()]
        api_answers = [a for c in apis for a in c.result()]
        imported = report.result()
    importer.dispose()

    refused = [a for a in open311_answers + api_answers if a.status != 201]
    assert not refused, (Counter(a.status for a in refused), [a.body[:200] for a in refused[:3]])
    assert imported.inserted == IMPORTED and imported.rejected == 0
    ids = [int(a.json()[0]["service_request_id"]) for a in open311_answers]
    tokens = [a.json()[0]["token"] for a in open311_answers]
    assert len(set(ids)) == len(set(tokens)) == THREADS * POSTS
    with engine.connect() as conn:
        expected_open311 = Counter(f"open311 {t}-{n}" for t in range(THREADS) for n in range(POSTS))
        assert descriptions(conn, "open311") == expected_open311
        assert descriptions(conn, prefix="api ") == Counter(f"api {n}" for n in range(API_POSTS))
        assert descriptions(conn, IMPORT_SOURCE) == Counter(f"imported {n}" for n in range(IMPORTED))
        web_numbers = conn.execute(select(IV.c.source_id).where(IV.c.source == "geova-web")).scalars().all()
        assert sorted(web_numbers) == [f"W-{n:06d}" for n in range(1, API_POSTS + 1)]
        total = conn.execute(select(func.count()).select_from(IV)).scalar_one()
        assert total == THREADS * POSTS + API_POSTS + IMPORTED
        reported = conn.execute(select(func.count()).select_from(EV).where(EV.c.kind == "reported"))
        assert reported.scalar_one() == THREADS * POSTS + API_POSTS


@contextmanager
def held_write_lock(db_url: str) -> Iterator[None]:
    """Another writer holding what a new request needs: SQLite's write lock, or PostgreSQL's lock on
    the requests table (reads go on; inserts wait)."""
    holder = make_engine(db_url)
    try:
        with write(holder) as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("LOCK TABLE intervention IN EXCLUSIVE MODE")
            yield
    finally:
        holder.dispose()


def shape(value: Any) -> Any:
    """A JSON document's structure (keys and types), to compare two errors of the same API."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(v) for v in value[:1]]
    return type(value).__name__


def test_a_write_that_cannot_get_the_lock_answers_503_and_stores_nothing(db_url, engine, token, monkeypatch):
    monkeypatch.setenv("GEOVA_BUSY_TIMEOUT", "0.2")
    app = create_app({"GEOVA_DATABASE_URL": db_url, "TESTING": True, "SECRET_KEY": "test"})
    with serving(app) as base:
        open311_url, api_url = f"{base}/open311/v2/requests.json", f"{base}/api/v1/interventions"
        # The same APIs' answers to a refused request, for the format of their errors
        api_refusal = post(api_url, body={"category": CATEGORY, "lat": LAT, "lon": LON}, token=token)
        assert 400 <= api_refusal.status < 500
        with held_write_lock(db_url):
            started = time.monotonic()
            open311 = post(open311_url, form=open311_form(token, "busy open311"))
            api = post(api_url, body=api_body("busy api"), token=token)
            waited = time.monotonic() - started
    assert waited < 10  # the busy timeout, not the default 30 s
    assert open311.status == 503 and int(open311.headers["Retry-After"]) > 0
    assert open311.headers["Content-Type"].startswith("application/json")
    (error,) = open311.json()  # GeoReport v2's error list
    assert error["code"] == 503 and error["description"]
    assert api.status == 503 and int(api.headers["Retry-After"]) > 0
    assert api.headers["Content-Type"] == api_refusal.headers["Content-Type"]
    # the same problem-details members as the API's own refusals (a refusal adds the parameter at fault)
    busy, refused = shape(api.json()), shape(api_refusal.json())
    assert busy == {k: v for k, v in refused.items() if k not in ("param", "errors")}
    assert api.json()["status"] == 503
    assert "503" in api.body.decode() or "busy" in api.body.decode().lower()
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(IV)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(EV)).scalar_one() == 0


def test_a_held_write_lock_leaves_reads_running(db_url, engine, token, monkeypatch):
    """Writes queue behind each other; reads do not queue behind writes."""
    monkeypatch.setenv("GEOVA_BUSY_TIMEOUT", "5")
    app = create_app({"GEOVA_DATABASE_URL": db_url, "TESTING": True, "SECRET_KEY": "test"})
    with serving(app) as base, held_write_lock(db_url):
        started = time.monotonic()
        with urlopen(f"{base}/open311/v2/services.json", timeout=30) as response:
            services = json.loads(response.read())
        assert time.monotonic() - started < 4.5  # well under the 5 s a queued writer would wait
    assert CATEGORY in {s["service_code"] for s in services}


def test_an_import_that_cannot_get_the_lock_fails_in_one_line(db_url, engine, token, tmp_path, monkeypatch):
    """Like the web, the command gives up after the busy timeout, says so, and stores nothing."""
    monkeypatch.setenv("GEOVA_BUSY_TIMEOUT", "0.2")
    csv, mapping = request_file(tmp_path)
    with held_write_lock(db_url):
        result = CliRunner().invoke(
            cli, ["--db", db_url, "import-interventions", str(csv), "--mapping", str(mapping)]
        )
    assert result.exit_code == EXIT_BUSY, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "store is busy" in result.stderr and "Traceback" not in result.output + result.stderr
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(IV)).scalar_one() == 0


@pytest.mark.parametrize("value", ["soon", "-1", "nan", "86400"])
def test_a_busy_timeout_that_is_not_a_number_of_seconds_is_refused(value, monkeypatch):
    monkeypatch.setenv("GEOVA_BUSY_TIMEOUT", value)
    with pytest.raises(ValueError, match=r"(?i)busy_timeout"):
        make_engine("sqlite://")
