"""Schemathesis drives the JSON API from its own OpenAPI document (/api/v1/openapi.json, generated
from the pydantic models) through the WSGI app, no network: whatever it generates, geova never
answers with a server error, no answer costs more than MAX_SECONDS of processor time on the Boston
store (processor rather than wall-clock time: the test machine is shared), and its status, content
type and body are those the document declares.

One store per backend for the whole module (the generated writes only add requests to it), an
admin key for every call so that writes are reached too.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from app import create_app
from geova.store.db import make_engine
from tests.conftest import BACKENDS, _truncate_postgis
from tests.test_api import build_store

MAX_EXAMPLES = 12
MAX_SECONDS = 2.0
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module", params=BACKENDS)
def api_app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    folder = tmp_path_factory.mktemp("schemathesis")
    if request.param == "spatialite":
        from geova.store.migrate import upgrade

        url = f"sqlite:///{folder / 'geova.sqlite'}"
        engine = make_engine(url)
        upgrade(engine)
    else:
        url = request.getfixturevalue("postgis_url")
        engine = make_engine(url)
        _truncate_postgis(engine)
    tokens = build_store(engine, folder / "rejects.csv")
    engine.dispose()
    app = create_app({"GEOVA_DATABASE_URL": url, "TESTING": True, "SECRET_KEY": "schemathesis"})
    yield app, tokens["admin"]
    app_engine = app.extensions.get("geova_engine")
    if app_engine is not None:
        app_engine.dispose()


def operations(app: Any) -> list[Any]:
    """Every operation of the document the app serves (a schema error fails the test)."""
    loaded = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    return [result.ok() for result in loaded.get_all_operations()]


def test_the_api_never_fails_with_a_server_error(api_app: tuple) -> None:
    """Each operation, with up to MAX_EXAMPLES generated cases: no 5xx, no slow answer, and what the
    document says. (Schemathesis's own pytest plugin, ``from_fixture``, does not run under pytest 9
    yet; its strategies are used directly.)"""
    app, token = api_app
    found = operations(app)
    assert len(found) == 13, [f"{o.method} {o.path}" for o in found]
    # plain bodies: Schemathesis asks for compressed ones (its requests-like default headers), but
    # its WSGI transport hands the body over undecoded; compression is tests/test_compression.py's
    headers = {"Authorization": f"Bearer {token}", "Accept-Encoding": "identity"}
    app.test_client().get("/api/v1/evaluations")  # the first evaluation warms the caches up
    slow: list[tuple[str, float]] = []
    for operation in found:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def check(case: Any) -> None:
            started = time.process_time()  # the work the call costs, whatever else the machine runs
            case.call_and_validate(headers=headers, checks=CHECKS)
            took = time.process_time() - started
            if took > MAX_SECONDS:
                slow.append((f"{case.method} {case.formatted_path} {case.query}", took))

        check()
    assert slow == [], slow
