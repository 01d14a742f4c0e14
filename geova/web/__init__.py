"""The web app: one blueprint per audience, all calling geova's evaluation API and the store.

- ``public``: city overview, published results, guide of services (no login);
- ``correspondent``: a quarter's map, requests, scorecard, audit grid, and the report form;
- ``services``: the overdue worklist, resolve and reassign, exports;
- ``officials``: quarters compared, trends, the audit grid of all quarters;
- ``geo``: GeoJSON feeds the maps load (bbox- and filter-aware);
- ``auth``: login and logout.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from flask import Flask, current_app, request, session
from flask_babel import Babel
from flask_login import LoginManager
from flask_wtf import CSRFProtect
from sqlalchemy import Engine

from geova.store.db import make_engine
from geova.web import security

LANGUAGES = ("fr", "en")
csrf = CSRFProtect()
babel = Babel()
login_manager = LoginManager()


def engine() -> Engine:
    """The app's engine, created once per app (not per request)."""
    eng = current_app.extensions.get("geova_engine")
    if eng is None:
        eng = make_engine(current_app.config["GEOVA_DATABASE_URL"])
        current_app.extensions["geova_engine"] = eng
    return eng


def select_locale() -> str:
    """The language asked for (?lang=, remembered in the session), else the browser's."""
    asked = request.args.get("lang")
    if asked in LANGUAGES:
        session["lang"] = asked
        return asked
    if session.get("lang") in LANGUAGES:
        return session["lang"]
    return request.accept_languages.best_match(LANGUAGES) or "fr"


def _secret_key(app: Flask) -> str:
    """GEOVA_SECRET_KEY, else a random key kept in instance/ (never in the repository)."""
    if app.config.get("SECRET_KEY"):
        return app.config["SECRET_KEY"]
    path = Path(app.instance_path) / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        os.chmod(path, 0o600)
    return path.read_text().strip()


def init_app(app: Flask) -> None:
    app.config.setdefault("GEOVA_TILES_URL", "https://tile.openstreetmap.org/{z}/{x}/{y}.png")
    app.config.setdefault(
        "GEOVA_TILES_ATTRIBUTION",
        '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a>',
    )
    app.config["SECRET_KEY"] = _secret_key(app)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(Path(__file__).parent / "translations"))
    csrf.init_app(app)
    security.init_app(app)  # CSP with nonces, nosniff, no framing, referrer policy, SameSite cookies
    babel.init_app(app, locale_selector=select_locale)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"

    from geova.web import auth, correspondent, geo, officials, ogc, public, services
    from geova.web.format import register_filters

    for bp in (public.bp, auth.bp, geo.bp, correspondent.bp, services.bp, officials.bp, ogc.bp):
        app.register_blueprint(bp)
    from geova.web import api, open311  # JSON API and Open311 GeoReport v2 (CSRF-exempt: keys authenticate)

    for bp in (api.bp, open311.bp):
        app.register_blueprint(bp)
    register_filters(app)
    from geova.web.errors import register as register_errors

    register_errors(app)
