"""Security headers on pages, feeds and APIs: a strict Content-Security-Policy whose nonce every
inline script carries, no sniffing, no framing, a referrer policy, and SameSite cookies that are
Secure over HTTPS without HTTPS being forced."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from app import create_app
from tests.test_web_correspondent import DORCHESTER, NORM, login

PERIOD = f"norm={NORM}&from=2015-01-01&to=2015-12-31"
SCRIPT = re.compile(r"<script\b([^>]*)>", re.IGNORECASE)


@pytest.fixture
def app(boston_app: Any) -> Any:
    return boston_app


def bare_app(tmp_path: Path, **config: Any) -> Any:
    """The app on an empty store: enough for headers, the login page and /health."""
    return create_app(
        {"GEOVA_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite'}", "SECRET_KEY": "t", **config}
    )


def policy(response: Any) -> dict[str, list[str]]:
    """The Content-Security-Policy as directive -> sources."""
    out = {}
    for part in response.headers["Content-Security-Policy"].split(";"):
        name, *sources = part.split()
        out[name] = sources
    return out


def assert_common_headers(response: Any) -> dict[str, list[str]]:
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    csp = policy(response)
    assert csp["default-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["object-src"] == ["'none'"]
    scripts = csp["script-src"]
    assert (
        scripts[0] == "'self'"
        and re.fullmatch(r"'nonce-[A-Za-z0-9_-]{20,}'", scripts[1])
        and len(scripts) == 2
    )
    assert "unsafe" not in response.headers["Content-Security-Policy"].replace(
        "style-src 'self' 'unsafe-inline'", ""
    )
    return csp


@pytest.mark.parametrize(
    ("who", "path"),
    [
        (None, f"/?{PERIOD}"),
        ("corr", f"/quarters/{DORCHESTER}?{PERIOD}"),
        ("agent", f"/worklist?{PERIOD}"),
        ("elu", f"/compare?{PERIOD}"),
    ],
)
def test_every_inline_script_of_a_page_carries_the_responses_nonce(app, who, path):
    client = login(app, who) if who else app.test_client()
    response = client.get(path)
    assert response.status_code == 200
    csp = assert_common_headers(response)
    nonce = csp["script-src"][1].removeprefix("'nonce-").removesuffix("'")
    tags = SCRIPT.findall(response.get_data(as_text=True))
    inline = [t for t in tags if "src=" not in t]
    for attributes in tags:
        if "src=" in attributes:  # files: from the app itself only
            assert re.search(r'src="/static/', attributes), attributes
        else:
            assert f'nonce="{nonce}"' in attributes, attributes
    if path.startswith(("/?", "/quarters", "/worklist")):  # the map pages: folium's scripts
        assert len(inline) >= 2
    assert not re.search(r"\son[a-z]+=", response.get_data(as_text=True))  # no inline event handler
    # a new response, a new nonce
    again = policy(client.get(path))["script-src"][1]
    assert again != csp["script-src"][1]


def test_feeds_apis_and_error_pages_carry_the_headers_too(app):
    client = login(app, "corr")
    for path, kind in [
        ("/health", "application/json"),
        (f"/geo/quarters.geojson?{PERIOD}", "application/json"),
        ("/api/v1/quarters", "application/json"),
        ("/open311/v2/discovery.json", "application/json"),
        ("/no-such-page", "text/html"),
    ]:
        response = client.get(path)
        assert response.content_type.startswith(kind), (path, response.content_type)
        assert_common_headers(response)


def test_images_come_from_the_app_and_the_configured_tile_server_only(tmp_path):
    default = bare_app(tmp_path).test_client().get("/health")
    assert policy(default)["img-src"] == ["'self'", "https://tile.openstreetmap.org"]
    subdomains = bare_app(tmp_path, GEOVA_TILES_URL="https://{s}.tiles.example.org/osm/{z}/{x}/{y}.png")
    assert policy(subdomains.test_client().get("/health"))["img-src"] == [
        "'self'",
        "https://*.tiles.example.org",
    ]
    intranet = bare_app(tmp_path, GEOVA_TILES_URL="http://10.1.2.3:8080/{z}/{x}/{y}.png")
    assert policy(intranet.test_client().get("/health"))["img-src"] == ["'self'", "http://10.1.2.3:8080"]
    none = bare_app(tmp_path, GEOVA_TILES_URL="none")
    assert policy(none.test_client().get("/health"))["img-src"] == ["'self'"]


def session_cookie(response: Any) -> list[str]:
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert len(cookies) == 1, response.headers.getlist("Set-Cookie")
    return [a.strip().lower() for a in cookies[0].split(";")[1:]]


def test_cookies_are_samesite_lax_and_secure_over_https_without_forcing_https(tmp_path):
    app = bare_app(tmp_path)
    plain = app.test_client().get("/login")  # the login form puts its CSRF token in the session
    assert plain.status_code == 200  # served over http as asked: no redirect
    attributes = session_cookie(plain)
    assert "samesite=lax" in attributes and "httponly" in attributes and "secure" not in attributes
    assert "Strict-Transport-Security" not in plain.headers
    secure = app.test_client().get("/login", base_url="https://geova.example.org")
    assert secure.status_code == 200
    attributes = session_cookie(secure)
    assert "secure" in attributes and "samesite=lax" in attributes
    assert attributes.count("secure") == 1


def test_force_https_redirects_and_sends_hsts(tmp_path):
    app = bare_app(tmp_path, GEOVA_FORCE_HTTPS=True)
    plain = app.test_client().get("/login?lang=en")
    assert plain.status_code == 302
    assert plain.headers["Location"] == "https://localhost/login?lang=en"
    secure = app.test_client().get("/login", base_url="https://geova.example.org")
    assert secure.status_code == 200
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=")
    assert "secure" in session_cookie(secure)
