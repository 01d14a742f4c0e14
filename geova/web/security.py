"""Security headers on every response, pages and APIs alike, with Flask-Talisman.

- ``Content-Security-Policy``: everything from the app itself; scripts only from the app's files or
  carrying this response's nonce (folium's inline map scripts get it, see ``maps.embed``), never
  ``'unsafe-inline'`` nor ``'unsafe-eval'`` for scripts; images also from the configured tile
  server (``GEOVA_TILES_URL``, none when it is ``none``); no plugin, no framing, forms posted to the
  app only;
- ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY``,
  ``Referrer-Policy: strict-origin-when-cross-origin``;
- cookies ``HttpOnly`` and ``SameSite=Lax``, and ``Secure`` on every response to an HTTPS request.

HTTPS is not forced: the app answers on http://127.0.0.1 in tests and on intranets. The setting
``GEOVA_FORCE_HTTPS`` turns on Talisman's redirect to HTTPS, HSTS and always-Secure cookies.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, current_app
from flask_talisman import Talisman

# Leaflet writes positions and sizes into style attributes and folium's page scaffolding holds
# <style> blocks, so styles need 'unsafe-inline'; a style cannot run code. Scripts never do.
CSP: dict[str, str] = {
    "default-src": "'self'",
    "script-src": "'self'",  # + this response's nonce, added by Talisman
    "style-src": "'self' 'unsafe-inline'",
    "img-src": "'self'",  # + the tile server
    "connect-src": "'self'",
    "font-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def tile_source(tiles_url: str | None) -> str | None:
    """The CSP source that allows the tile server of ``tiles_url``, or None (no tiles, or tiles
    served by the app itself). Leaflet's ``{s}`` subdomain placeholder becomes a ``*.`` wildcard;
    a placeholder elsewhere in the host cannot be written in CSP, so the whole scheme is allowed."""
    if not tiles_url or tiles_url.strip().lower() == "none":
        return None
    parts = urlsplit(tiles_url.strip())
    if not parts.scheme or not parts.netloc:
        return None  # a path on the app itself: 'self' covers it
    host = re.sub(r"^\{[^}]*\}(?=\.)", "*", parts.netloc)
    return f"{parts.scheme}:" if "{" in host else f"{parts.scheme}://{host}"


def content_security_policy(tiles_url: str | None) -> dict[str, str]:
    policy = dict(CSP)
    source = tile_source(tiles_url)
    if source:
        policy["img-src"] += " " + source
    return policy


def script_nonce() -> str:
    """This response's CSP nonce, for inline scripts the templates cannot mark themselves."""
    return str(current_app.jinja_env.globals["csp_nonce"]())


class SecureCookiesOverHttps:
    """WSGI middleware marking every cookie ``Secure`` on a response to an HTTPS request.

    Hand-written because neither Flask nor Talisman decide it per request: Flask's
    ``SESSION_COOKIE_SECURE`` is one value for the whole app, and the same app answers
    http://127.0.0.1 and, behind a TLS proxy, https://. It sits at the WSGI layer because Flask
    saves the session cookie after every ``after_request`` hook has run, and so it covers every
    cookie whoever sets it (session, language, any later extension)."""

    def __init__(self, app: Callable[..., Iterable[bytes]]):
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("wsgi.url_scheme") != "https":
            return self.app(environ, start_response)

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            return start_response(status, [_secure(name, value) for name, value in headers], exc_info)

        return self.app(environ, start)


def _secure(name: str, value: str) -> tuple[str, str]:
    if name.lower() != "set-cookie":
        return name, value
    attributes = {a.strip().lower() for a in value.split(";")[1:]}
    return name, value if "secure" in attributes else value + "; Secure"


def init_app(app: Flask) -> None:
    """Headers on every response of ``app``; call once the tile settings are known."""
    https = bool(app.config.get("GEOVA_FORCE_HTTPS", False))
    # one Talisman per app: it keeps its options on itself, and tests build many apps in one process
    app.extensions["talisman"] = Talisman(
        app,
        force_https=https,
        strict_transport_security=https,
        session_cookie_secure=https,
        session_cookie_samesite="Lax",
        session_cookie_http_only=True,
        frame_options="DENY",
        referrer_policy="strict-origin-when-cross-origin",
        content_security_policy=content_security_policy(app.config.get("GEOVA_TILES_URL")),
        content_security_policy_nonce_in=["script-src"],
        x_content_type_options=True,
    )
    app.wsgi_app = SecureCookiesOverHttps(app.wsgi_app)  # type: ignore[method-assign]
