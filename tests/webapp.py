"""What many test files need to drive the app and the command line as a user would: an app on a
test store, a client logged in under one account, the ``geova`` command on a store."""

from __future__ import annotations

from typing import Any

from click.testing import CliRunner, Result
from flask import Flask
from flask.testing import FlaskClient

from geova.cli import cli
from geova.web import create_app

PASSWORD = "a-long-password"


def make_app(db_url: str) -> Flask:
    """The app on ``db_url``, as tests use it (CSRF checked by the tests that test it)."""
    return create_app({"GEOVA_DATABASE_URL": db_url, "TESTING": True, "WTF_CSRF_ENABLED": False})


def client_as(app: Flask, username: str | None, password: str = PASSWORD) -> FlaskClient:
    """A client of ``app``, logged in as ``username`` (anonymous when None)."""
    client = app.test_client()
    if username:
        page = client.post("/login", data={"username": username, "password": password})
        assert page.status_code == 302, page.get_data(as_text=True)
    return client


def run_cli(db_url: str, *args: Any) -> Result:
    """``geova --db db_url ARGS``, exceptions let through (a traceback fails the test)."""
    return CliRunner().invoke(cli, ["--db", db_url, *map(str, args)], catch_exceptions=False)
