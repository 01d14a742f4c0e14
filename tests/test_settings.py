"""Every setting of the README's configuration table exists, and each one has its effect in the CLI
and in the web app (the same Settings object serves both). As in datasette's test_docs.py, a setting
added to the code without a line in the README (or the other way round) fails here."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from geova.cli import cli
from geova.settings import Settings
from geova.store.db import make_engine
from geova.store.schema import Category
from geova.web import create_app
from tests.boston import load_quarters

REPO = Path(__file__).resolve().parents[1]
TEST_ONLY = {"GEOVA_TEST_POSTGRES_URL"}  # read by tests/conftest.py, not by geova


def _documented() -> set[str]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `(GEOVA_[A-Z_]+)`", table, flags=re.M))


def test_every_setting_is_documented_and_every_documented_setting_exists():
    fields = {f"GEOVA_{name.upper()}" for name in Settings.model_fields}
    documented = _documented()
    assert fields - documented == set(), "settings missing from the README's configuration table"
    assert documented - fields - TEST_ONLY == set(), "README documents settings the code does not read"


def test_database_url_is_read_by_the_cli_and_the_web_app(db_url, engine, monkeypatch):
    load_quarters(engine)
    monkeypatch.setenv("GEOVA_DATABASE_URL", db_url)
    out = CliRunner().invoke(cli, ["status", "--format", "json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["quarters"] == {"0": 26}  # level 0: the 26 neighbourhoods
    app = create_app({"TESTING": True})
    assert app.config["GEOVA_DATABASE_URL"].endswith(make_engine(db_url).url.database or "")
    assert ">Dorchester</a>" in app.test_client().get("/?lang=en").get_data(as_text=True)


def test_instance_path_holds_the_web_secret_and_the_cli_database(tmp_path, monkeypatch):
    folder = tmp_path / "elsewhere"
    monkeypatch.setenv("GEOVA_INSTANCE_PATH", str(folder))
    app = create_app({"TESTING": True})
    secret = folder / "secret_key"
    assert secret.exists() and app.config["SECRET_KEY"] == secret.read_text().strip()
    assert secret.stat().st_mode & 0o077 == 0, "the secret key must be readable by its owner only"
    assert app.config["GEOVA_DATABASE_URL"] == f"sqlite:///{folder / 'geova.sqlite'}"
    out = CliRunner().invoke(cli, ["db", "upgrade"])
    assert out.exit_code == 0, out.output
    assert (folder / "geova.sqlite").exists()


def test_secret_key_from_the_environment_is_used_and_never_written(tmp_path, monkeypatch):
    monkeypatch.setenv("GEOVA_INSTANCE_PATH", str(tmp_path / "inst"))
    monkeypatch.setenv("GEOVA_SECRET_KEY", "a-secret-from-the-vault")
    app = create_app({"TESTING": True})
    assert app.config["SECRET_KEY"] == "a-secret-from-the-vault"
    assert not (tmp_path / "inst" / "secret_key").exists()
    assert "a-secret-from-the-vault" not in repr(app.config["GEOVA_SETTINGS"])


@pytest.mark.parametrize(
    ("url", "attribution"),
    [("https://tiles.example.fr/{z}/{x}/{y}.png", "Ville de Test"), ("none", "unused")],
)
def test_tiles_url_and_attribution_reach_the_maps(db_url, engine, monkeypatch, url, attribution):
    load_quarters(engine)
    monkeypatch.setenv("GEOVA_DATABASE_URL", db_url)
    monkeypatch.setenv("GEOVA_TILES_URL", url)
    monkeypatch.setenv("GEOVA_TILES_ATTRIBUTION", attribution)
    html = create_app({"TESTING": True}).test_client().get("/?lang=en").get_data(as_text=True)
    assert "tile.openstreetmap.org" not in html
    if url == "none":
        assert "tileLayer" not in html and "tiles.example.fr" not in html
    else:
        assert "tiles.example.fr" in html and attribution in html


def test_referential_file_is_the_one_loaded(tmp_path, db_url, monkeypatch):
    own = tmp_path / "referential.toml"
    shutil.copy(REPO / "data/referential.toml", own)
    with own.open("a", encoding="utf-8") as fh:
        fh.write('\n[[category]]\ncode = "tag_mobilier"\ntask = "proprete.graffiti"\n')
        fh.write('label_fr = "Tag sur mobilier"\nlabel_en = "Tag on street furniture"\n')
    monkeypatch.setenv("GEOVA_DATABASE_URL", db_url)
    monkeypatch.setenv("GEOVA_REFERENTIAL", str(own))
    out = CliRunner().invoke(cli, ["norms"])
    assert out.exit_code == 0, out.output
    engine = make_engine(db_url)
    with engine.connect() as conn:
        codes = set(conn.execute(select(Category.__table__.c.code)).scalars())
    engine.dispose()
    assert "tag_mobilier" in codes


def test_demo_accounts_file_is_readable_by_its_owner_only(engine, tmp_path):
    from geova.demo import create_demo_accounts

    load_quarters(engine)
    created = create_demo_accounts(engine, tmp_path / "inst")
    path = tmp_path / "inst" / "demo-accounts.txt"
    assert created and path.stat().st_mode & 0o077 == 0
    assert all(password in path.read_text() for _user, _role, password in created)


def test_force_https_redirects_plain_http(tmp_path, monkeypatch):
    monkeypatch.setenv("GEOVA_INSTANCE_PATH", str(tmp_path / "inst"))
    monkeypatch.setenv("GEOVA_FORCE_HTTPS", "true")
    answer = create_app({"TESTING": True}).test_client().get("/health")
    assert answer.status_code in (301, 302) and answer.headers["Location"].startswith("https://")


def test_log_format_and_level_from_the_environment(tmp_path, monkeypatch, capsys):
    import logging

    monkeypatch.setenv("GEOVA_INSTANCE_PATH", str(tmp_path / "inst"))
    monkeypatch.setenv("GEOVA_LOG_FORMAT", "json")
    monkeypatch.setenv("GEOVA_LOG_LEVEL", "warning")
    create_app({"TESTING": True}).test_client().get("/health")
    assert logging.getLogger("geova").level == logging.WARNING
    logging.getLogger("geova.test").warning("a line for the settings test")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    assert any(line.get("message") == "a line for the settings test" for line in lines)


def test_busy_timeout_reaches_the_sqlite_connections(tmp_path, monkeypatch):
    monkeypatch.setenv("GEOVA_BUSY_TIMEOUT", "7")
    engine = make_engine(f"sqlite:///{tmp_path / 'b.sqlite'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 7000
    engine.dispose()
