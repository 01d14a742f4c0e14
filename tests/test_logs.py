"""Logs: one line per request with its id, secrets never written (API keys in query strings, passwords,
database passwords), errors logged with the id the error page shows, imports and evaluations logged,
text or JSON as configured."""

from __future__ import annotations

import json
import logging
import re
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from werkzeug.serving import make_server

from app import create_app
from geova import logs
from geova.evaluation import evaluate
from geova.importing import import_interventions
from geova.store import apikeys, users
from geova.store.schema import Intervention
from tests.boston import LAYERS, load_quarters

REPO = Path(__file__).resolve().parents[1]
PASSWORD = "a-password-nobody-logs"
SECRET_KEY = "the-flask-secret-key-0123456789"


@pytest.fixture
def keyed_app(db_url: str, engine: Engine) -> Iterator[tuple[Any, str]]:
    """An app with one account and one API key; yields (app, the key's token)."""
    with engine.begin() as conn:
        users.add_user(conn, "elu", PASSWORD, "official")
        _key, token = apikeys.add_key(conn, "partner-gis", "official")
    app = create_app({"GEOVA_DATABASE_URL": db_url, "SECRET_KEY": SECRET_KEY, "WTF_CSRF_ENABLED": False})
    yield app, token
    app_engine = app.extensions.get("geova_engine")
    if app_engine is not None:
        app_engine.dispose()


def request_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "geova.web" and hasattr(r, "status")]


def test_the_access_log_of_a_real_server_never_holds_an_api_key(keyed_app, caplog):
    app, token = keyed_app
    caplog.set_level(logging.INFO)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.port}/api/v1/interventions?api_key={token}&limit=5"
        with urllib.request.urlopen(url) as response:
            assert response.status == 200
    finally:
        server.shutdown()
        thread.join()
    assert token not in caplog.text
    access = [r.getMessage() for r in caplog.records if r.name == "werkzeug"]
    assert any('"GET /api/v1/interventions?api_key=***&limit=5 HTTP/1.1" 200' in line for line in access), (
        access
    )
    (line,) = request_lines(caplog)
    assert line.path == "/api/v1/interventions?api_key=***&limit=5"
    assert line.user == "key:partner-gis" and line.status == 200


def test_gunicorn_access_lines_are_scrubbed_too(keyed_app, caplog):
    """gunicorn logs its access line as a format and a dict of atoms (glogging.Logger.access)."""
    caplog.set_level(logging.INFO)
    atoms = {
        "h": "192.0.2.1",
        "r": "GET /ogc/collections/interventions/items?token=abc123&bbox=1,2,3,4&password=hunter22 HTTP/1.1",
        "s": "200",
        "q": "token=abc123&bbox=1,2,3,4&password=hunter22",
    }
    logging.getLogger("gunicorn.access").info('%(h)s "%(r)s" %(s)s %(q)s', atoms)
    (record,) = [r for r in caplog.records if r.name == "gunicorn.access"]
    assert record.getMessage() == (
        '192.0.2.1 "GET /ogc/collections/interventions/items?token=***&bbox=1,2,3,4&password=*** HTTP/1.1"'
        " 200 token=***&bbox=1,2,3,4&password=***"
    )


def test_one_line_per_request_with_user_status_duration_and_the_request_id(keyed_app, caplog):
    app, _token = keyed_app
    caplog.set_level(logging.INFO)
    client = app.test_client()
    login = client.post("/login", data={"username": "elu", "password": PASSWORD})
    assert login.status_code == 302
    page = client.get("/?lang=en", headers={"X-Request-ID": "trace-42"})
    assert page.headers["X-Request-ID"] == "trace-42"  # the caller's id is kept
    odd = client.get("/", headers={"X-Request-ID": "no spaces <allowed>"})
    assert re.fullmatch(r"[0-9a-f]{32}", odd.headers["X-Request-ID"])  # replaced by a fresh one
    lines = request_lines(caplog)
    assert [(r.method, r.path, r.status) for r in lines] == [
        ("POST", "/login", 302),
        ("GET", "/?lang=en", 200),
        ("GET", "/", 200),
    ]
    assert lines[1].user == "elu" and lines[1].request_id == "trace-42"
    assert all(isinstance(r.duration_ms, float) and r.duration_ms >= 0 for r in lines)
    assert PASSWORD not in caplog.text and SECRET_KEY not in caplog.text


def test_an_unhandled_error_is_logged_with_the_id_the_error_page_shows(keyed_app, caplog):
    app, _token = keyed_app

    @app.get("/boom")
    def boom() -> str:
        raise ZeroDivisionError("division by zero in a view")

    caplog.set_level(logging.INFO)
    page = app.test_client().get("/boom?lang=en")
    assert page.status_code == 500
    html = page.get_data(as_text=True)
    assert "The error has been logged." in html
    shown = re.search(r"Reference of this error: ([0-9a-f]{32})", html).group(1)
    assert page.headers["X-Request-ID"] == shown
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and errors[0].request_id == shown
    assert errors[0].exc_info[0] is ZeroDivisionError
    assert "division by zero in a view" in caplog.text and "Traceback" in caplog.text
    assert request_lines(caplog)[-1].status == 500


def test_json_format_and_level_come_from_the_settings(keyed_app, caplog, capsys, monkeypatch):
    app, _token = keyed_app
    monkeypatch.setenv("GEOVA_LOG_FORMAT", "json")
    monkeypatch.setenv("GEOVA_LOG_LEVEL", "INFO")
    logs.configure()
    app.test_client().get("/login?next=/x&session_token=s3cr3t", headers={"X-Request-ID": "abc"})
    entries = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    (entry,) = [e for e in entries if e["logger"] == "geova.web"]
    assert entry["level"] == "INFO" and entry["method"] == "GET" and entry["status"] == 200
    assert entry["path"] == "/login?next=/x&session_token=***" and entry["request_id"] == "abc"
    assert "s3cr3t" not in entry["message"] and isinstance(entry["duration_ms"], float)
    monkeypatch.setenv("GEOVA_LOG_LEVEL", "WARNING")
    logs.configure()
    app.test_client().get("/login")
    assert '"logger": "geova.web"' not in capsys.readouterr().err
    with pytest.raises(ValueError, match="GEOVA_LOG_FORMAT"):
        logs.configure(fmt="xml")
    logs.configure(level="INFO", fmt="text")


def test_database_passwords_are_masked(caplog, monkeypatch):
    assert logs.mask_url("postgresql+psycopg://geova:s3cret@db.example/geova") == (
        "postgresql+psycopg://geova:***@db.example/geova"
    )
    monkeypatch.setenv("GEOVA_LOG_LEVEL", "DEBUG")  # the app logs its store at debug level
    caplog.set_level(logging.DEBUG)
    create_app({"GEOVA_DATABASE_URL": "postgresql://geova:s3cret@127.0.0.1:9/geova", "SECRET_KEY": "x"})
    assert "s3cret" not in caplog.text and "geova:***@127.0.0.1:9/geova" in caplog.text
    monkeypatch.delenv("GEOVA_LOG_LEVEL")
    logs.configure()  # back to the default level for the tests that follow


def test_imports_and_evaluations_are_logged_with_counts_and_duration(engine, caplog):
    caplog.set_level(logging.INFO, logger="geova")
    load_quarters(engine)
    features = len(json.loads((LAYERS / "boston_neighborhoods.geojson").read_text())["features"])
    csv_file = REPO / "data/boston/trash-on-vacant-lot.csv"
    report = import_interventions(engine, csv_file, REPO / "data/mappings/trash-on-vacant-lot.toml")
    with engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(Intervention.__table__)).scalar_one()
    evaluate(engine, norm_codes=["nantes.friches.72h"])
    layer, requests = [r for r in caplog.records if r.name == "geova.importing"]
    assert layer.kind == "quarters" and layer.counts["features"] == features == 26
    assert requests.file == str(csv_file) and requests.counts["inserted"] == stored == report.inserted
    (evaluation,) = [r for r in caplog.records if r.name == "geova.evaluation"]
    # read from the verdicts maintained at write (the store's path), not recomputed over the rows
    assert evaluation.norms == 1 and evaluation.stored is True
    assert all(r.duration_ms >= 0 for r in (layer, requests, evaluation))
