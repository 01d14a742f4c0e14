"""Real-browser tests: Debian's Chromium driven by Playwright against a live geova server.

The server runs in a thread on a free loopback port, on a store built once for the session (the
Boston quarters and zones, two real request files, one account per role). Every request the page
makes outside 127.0.0.1 is aborted and counted, every console error is collected, and a
screenshot of each test's page is saved under tests/artifacts/.

Pages run under the app's Content-Security-Policy (no 'unsafe-eval'): give ``wait_for_function``
an arrow function (``"() => ..."``), which Playwright evaluates once; a bare expression is
evaluated again on every poll, which the policy refuses (and reports as a console error).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.boston import load_quarters, load_zones
from tests.smtp import smtp_server  # noqa: F401 (a fixture: a real SMTP server, for the loop)

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "tests" / "artifacts"
CHROMIUM = os.environ.get("GEOVA_CHROMIUM", "/usr/bin/chromium")
PASSWORD = "browser-test-password"
ACCOUNTS = {"correspondent": "corr", "service": "agent", "official": "elu", "admin": "admin"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def browser_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    from geova.importing import import_interventions, load_extra_referential
    from geova.store.db import make_engine
    from geova.store.status import set_setting
    from geova.store.users import add_user

    folder = tmp_path_factory.mktemp("browser-store")
    os.environ["GEOVA_INSTANCE_PATH"] = str(folder / "instance")
    url = f"sqlite:///{folder / 'geova.sqlite'}"
    engine = make_engine(url)
    load_quarters(engine)
    load_zones(engine)
    load_extra_referential(engine, REPO / "data/boston/norms.toml")
    for name in ("graffiti-removal", "trash-on-vacant-lot"):
        import_interventions(engine, REPO / f"data/boston/{name}.csv", REPO / f"data/mappings/{name}.toml")
    with engine.begin() as conn:
        set_setting(conn, "territory_name", "Boston (test)")
        set_setting(conn, "timezone", "America/New_York")
        set_setting(conn, "headline_norm", "boston.target")
        for role, username in ACCOUNTS.items():
            add_user(conn, username, PASSWORD, role, "6" if role == "correspondent" else None)
    engine.dispose()
    return url


@contextmanager
def serving(config: dict[str, object]) -> Iterator[str]:
    """The app made from ``config``, served on a free loopback port in a thread, for as long as
    the block lasts; its engine is closed afterwards (PostGIS connections)."""
    from werkzeug.serving import make_server

    from app import create_app

    app = create_app({"GEOVA_TILES_URL": "none", **config})
    port = _free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        engine = app.extensions.get("geova_engine")
        if engine is not None:
            engine.dispose()


@pytest.fixture(scope="session")
def live_server(browser_store: str) -> Iterator[str]:
    with serving({"GEOVA_DATABASE_URL": browser_store, "SECRET_KEY": "browser-tests"}) as base:
        yield base


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("GEOVA_REQUIRE_BROWSER") == "1":
            pytest.fail(f"Chromium not found at {CHROMIUM}: run `make install`", pytrace=False)
        pytest.skip(f"Chromium not found at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield b
        b.close()


class Watched:
    """A page with the outside network blocked and its console errors collected."""

    def __init__(self, page: object, base: str):
        self.page = page
        self.base = base
        self.errors: list[str] = []
        self.blocked: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)  # type: ignore[attr-defined]
        page.on("pageerror", lambda e: self.errors.append(str(e)))  # type: ignore[attr-defined]
        page.route("**/*", self._route)  # type: ignore[attr-defined]

    def _route(self, route: object) -> None:
        url = route.request.url  # type: ignore[attr-defined]
        if url.startswith(self.base) or url.startswith("data:"):
            route.continue_()  # type: ignore[attr-defined]
        else:
            self.blocked.append(url)
            route.abort()  # type: ignore[attr-defined]

    def goto(self, path: str) -> None:
        self.page.goto(self.base + path)  # type: ignore[attr-defined]

    def login(self, role: str) -> None:
        self.goto("/login?lang=en")
        self.page.fill("input[name=username]", ACCOUNTS[role])  # type: ignore[attr-defined]
        self.page.fill("input[name=password]", PASSWORD)  # type: ignore[attr-defined]
        self.page.click("form.stack button[type=submit]")  # type: ignore[attr-defined]
        self.page.wait_for_load_state("networkidle")  # type: ignore[attr-defined]


@contextmanager
def watched_page(
    browser: object, base: str, name: str, width: int = 1400, height: int = 950
) -> Iterator[Watched]:
    """A fresh browser context on ``base`` (its own cookies): a screenshot of its last page is
    saved as ``name``.png, and any JavaScript error fails the test."""
    context = browser.new_context(viewport={"width": width, "height": height})  # type: ignore[attr-defined]
    watched = Watched(context.new_page(), base)
    try:
        yield watched
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        watched.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]
        context.close()
    assert not watched.errors, f"JavaScript errors: {watched.errors}"


@pytest.fixture
def web(browser: object, live_server: str, request: pytest.FixtureRequest) -> Iterator[Watched]:
    name = request.node.name.replace("/", "_").replace("[", "-").replace("]", "")
    with watched_page(browser, live_server, name) as watched:
        yield watched


@pytest.fixture(scope="session", autouse=True)
def _clean_artifacts() -> None:
    if ARTIFACTS.exists():
        shutil.rmtree(ARTIFACTS)
