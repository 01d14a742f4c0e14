"""Accounts: a session ends everywhere at logout and password change, failed logins lock an account
and an address out, and an unknown user name costs the same password check as a known one (both
backends)."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine
from werkzeug.security import generate_password_hash

from app import create_app
from geova.cli import cli
from geova.store import users

PASSWORD = "correct-horse-battery"
NEW_PASSWORD = "another-long-passphrase"
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
LOGGED_IN = 'action="/logout"'  # the logout button every page shows to a logged-in user


@pytest.fixture(autouse=True)
def _fast_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap hashes for the accounts the tests create (scrypt's cost matters in production only)."""
    fast = functools.partial(generate_password_hash, method="pbkdf2:sha256:1000")
    monkeypatch.setattr(users, "generate_password_hash", fast)


@pytest.fixture
def app(db_url: str, engine: Engine) -> Iterator[Any]:
    with engine.begin() as conn:
        users.add_user(conn, "elu", PASSWORD, "official")
        users.add_user(conn, "agent", PASSWORD, "service")
    flask_app = create_app({"GEOVA_DATABASE_URL": db_url, "SECRET_KEY": "accounts-tests"})
    yield flask_app
    app_engine = flask_app.extensions.get("geova_engine")
    if app_engine is not None:
        app_engine.dispose()


def csrf(client: Any) -> str:
    match = CSRF.search(client.get("/login").get_data(as_text=True))
    assert match
    return match.group(1)


def try_login(client: Any, username: str, password: str) -> Any:
    return client.post(
        "/login", data={"username": username, "password": password, "csrf_token": csrf(client)}
    )


def login(app: Any, username: str = "elu", password: str = PASSWORD) -> Any:
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    assert try_login(client, username, password).status_code == 302
    return client


def logged_in(client: Any) -> bool:
    return LOGGED_IN in client.get("/").get_data(as_text=True)


def client_from(app: Any, address: str, language: str = "en") -> Any:
    """A browser at another client address."""
    client = app.test_client()
    client.environ_base.update(REMOTE_ADDR=address, HTTP_ACCEPT_LANGUAGE=language)
    return client


def replay(app: Any, cookie: str) -> Any:
    """A fresh browser given a copy of a saved session cookie."""
    other = app.test_client()
    other.set_cookie("session", cookie)
    return other


def test_a_saved_session_cookie_stops_working_at_logout_on_every_device(app):
    laptop, phone = login(app), login(app)
    saved = laptop.get_cookie("session").value
    assert logged_in(replay(app, saved)) and logged_in(phone)
    laptop.post("/logout", data={"csrf_token": csrf(laptop)})
    assert not logged_in(laptop)
    assert not logged_in(replay(app, saved)), "a copy of the cookie saved before logout still works"
    assert not logged_in(phone)
    # the protected pages send the replayed cookie to the login page
    response = replay(app, saved).get("/quarters")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert logged_in(login(app)), "logging in again works"


def test_a_password_change_ends_every_session_and_only_the_new_password_works(app, db_url):
    client = login(app)
    saved = client.get_cookie("session").value
    result = CliRunner().invoke(cli, ["--db", db_url, "user", "passwd", "elu", "--password", NEW_PASSWORD])
    assert result.exit_code == 0, result.output
    assert "password of elu changed" in result.output
    assert not logged_in(client) and not logged_in(replay(app, saved))
    assert try_login(app.test_client(), "elu", PASSWORD).status_code == 200  # the old one is refused
    assert logged_in(login(app, "elu", NEW_PASSWORD))


def test_password_change_refuses_unknown_users_and_short_passwords(app, db_url):
    runner = CliRunner()
    unknown = runner.invoke(cli, ["--db", db_url, "user", "passwd", "nobody", "--password", NEW_PASSWORD])
    assert unknown.exit_code == 2 and "unknown user 'nobody'" in unknown.output
    short = runner.invoke(cli, ["--db", db_url, "user", "passwd", "elu", "--password", "short"])
    assert short.exit_code == 2 and "at least 8 characters" in short.output
    assert logged_in(login(app)), "a refused change leaves the password as it was"


def test_five_failed_logins_lock_the_account_even_against_the_right_password(app):
    attacker = app.test_client()
    attacker.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    for _ in range(5):
        failed = try_login(attacker, "elu", "wrong-password")
        assert failed.status_code == 200 and "Unknown user or wrong password." in failed.get_data(
            as_text=True
        )
    locked = try_login(attacker, "elu", PASSWORD)
    assert locked.status_code == 429
    assert "Too many attempts for this account; try again in 15 minutes." in locked.get_data(as_text=True)
    assert not logged_in(attacker)
    # the account is locked whoever asks, from any address; the message is translated
    elsewhere = client_from(app, "198.51.100.7", "fr")
    french = try_login(elsewhere, "ELU ", PASSWORD)  # the same name, as typed differently
    assert french.status_code == 429
    assert "Trop de tentatives pour ce compte ; réessayez dans 15 minutes." in french.get_data(as_text=True)
    # other accounts from the same address still log in; nothing else is limited
    assert logged_in(login(app, "agent"))
    assert attacker.get("/").status_code == 200 and attacker.get("/login").status_code == 200
    assert attacker.get("/api/v1/openapi.json").status_code == 200


def test_failed_logins_from_one_address_lock_that_address_out(db_url, engine):
    with engine.begin() as conn:
        users.add_user(conn, "elu", PASSWORD, "official")
    app = create_app(
        {
            "GEOVA_DATABASE_URL": db_url,
            "SECRET_KEY": "accounts-tests",
            "GEOVA_LOGIN_LIMIT_ADDRESS": "3 per hour",
        }
    )
    sprayer = client_from(app, "203.0.113.9")
    for name in ("alice", "bob", "carol"):  # unknown names count like known ones
        assert try_login(sprayer, name, "guess-1234").status_code == 200
    locked = try_login(sprayer, "elu", PASSWORD)
    assert locked.status_code == 429
    assert "Too many attempts from your address; try again in 60 minutes." in locked.get_data(as_text=True)
    neighbour = client_from(app, "203.0.113.10")
    assert try_login(neighbour, "elu", PASSWORD).status_code == 302
    app.extensions["geova_engine"].dispose()


def test_unknown_and_known_users_cost_one_password_verification_each(app, monkeypatch):
    """The username oracle was timing: an unknown name answered without hashing. Count the hash
    verifications instead of timing them."""
    checked: list[str] = []
    real = users.check_password_hash

    def spy(pwhash: str, password: str) -> bool:
        checked.append(pwhash)
        return real(pwhash, password)

    monkeypatch.setattr(users, "check_password_hash", spy)
    client = app.test_client()
    costs = {}
    for label, name, password in (
        ("unknown user", "nobody", "wrong-password"),
        ("known user, wrong password", "elu", "wrong-password"),
        ("known user, right password", "agent", PASSWORD),
    ):
        before = len(checked)
        try_login(client, name, password)
        costs[label] = len(checked) - before
    assert costs == {"unknown user": 1, "known user, wrong password": 1, "known user, right password": 1}
    assert all(h.count("$") == 2 for h in checked), "every verification is against a real hash"
