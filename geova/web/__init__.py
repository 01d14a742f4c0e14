"""The web app: one blueprint per audience, all calling geova's evaluation API and the store.

- ``public``: city overview, published results, guide of services (no login);
- ``correspondent``: a quarter's map, requests, scorecard, audit grid, and the report form;
- ``services``: the overdue worklist, resolve and reassign, exports;
- ``officials``: quarters compared, trends, the audit grid of all quarters;
- ``geo``: GeoJSON feeds the maps load (bbox- and filter-aware);
- ``surveys``: field cleanliness surveys (the surveyor's mobile page, results) and exploratory walks;
- ``voice``: the public perception questionnaire (link, QR code) and its results beside the measures;
- ``auth``: login and logout.
"""

from __future__ import annotations

import logging
import os
import secrets
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from flask import Flask, current_app, request, session
from flask_babel import Babel
from flask_login import LoginManager
from flask_wtf import CSRFProtect
from sqlalchemy import Engine

from geova.config import database_url
from geova.settings import Settings, as_config
from geova.settings import load as load_settings
from geova.store.db import make_engine
from geova.web import compression, proxies, security

ROOT = Path(__file__).resolve().parents[2]  # templates/ and static/ sit beside the package
LANGUAGES = ("fr", "en")
csrf = CSRFProtect()
babel = Babel()
login_manager = LoginManager()


_ENGINE_LOCK = threading.Lock()


def engine() -> Engine:
    """The app's engine, created once per app (not per request, nor twice by two threads)."""
    eng = current_app.extensions.get("geova_engine")
    if eng is None:
        with _ENGINE_LOCK:
            eng = current_app.extensions.get("geova_engine")
            if eng is None:
                eng = make_engine(current_app.config["GEOVA_DATABASE_URL"])
                current_app.extensions["geova_engine"] = eng
    return eng


def warm_up(app: Flask) -> None:
    """Load the verdicts' replica of ``app``'s store before the first page needs it (run in a
    background thread by each gunicorn worker as it starts: geova.gunicorn_conf.post_worker_init).

    Why in the background: gunicorn kills a worker that has not reported for ``timeout`` seconds,
    and loading a large city's replica may take longer; meanwhile the worker already serves, and a
    page that needs the replica waits for it rather than loading a second copy. A failure here (the
    store unreachable) is logged and left to the first request, which reports it properly."""
    from geova.store.verdict_replica import warm

    if not isinstance(app, Flask):  # gunicorn serving something else than geova's app factory
        return
    started = time.monotonic()
    try:
        with app.app_context():
            rows = warm(engine())
    except Exception:  # logged; the first request meets the same error and answers it
        logging.getLogger("geova.web").warning("verdict replica not warmed", exc_info=True)
        return
    logging.getLogger("geova.web").info(
        "verdict replica warmed: %d rows in %.1f s", rows, time.monotonic() - started
    )


def select_locale() -> str:
    """The language asked for (?lang=, remembered in the session), else the browser's."""
    asked = request.args.get("lang")
    if asked in LANGUAGES:
        session["lang"] = asked
        return asked
    if session.get("lang") in LANGUAGES:
        return session["lang"]
    return request.accept_languages.best_match(LANGUAGES) or "fr"


def _secret_key(app: Flask, settings: Settings) -> str:
    """GEOVA_SECRET_KEY, else a random key kept in the instance folder (never in the repository)."""
    if app.config.get("SECRET_KEY"):
        return str(app.config["SECRET_KEY"])
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    path = Path(app.instance_path) / "secret_key"
    if not path.exists():
        # Written whole to a private temporary file, then linked into place: workers starting at
        # once agree on the first key linked, and none reads a half-written file.
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".secret_key.")  # mode 0600
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process linked its key first: use that one
        finally:
            os.unlink(temporary)
    return path.read_text().strip()


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """The app factory (Flask's tutorial pattern), so that tests build an app per database.

    Settings come from the environment (``geova.settings``); ``config`` overrides them under the
    same ``GEOVA_*`` names and may set Flask's own keys (``TESTING``, ``SECRET_KEY``...)."""
    config = dict(config or {})
    settings = load_settings(config)
    app = Flask(
        "geova",
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        instance_path=str(settings.instance),
    )
    app.config.update({k: v for k, v in config.items() if not k.startswith("GEOVA_")})
    app.config["GEOVA_SETTINGS"] = settings
    app.config.update(as_config(settings))
    app.config["GEOVA_DATABASE_URL"] = database_url(settings.database_url)
    app.config["GEOVA_TILES_URL"] = settings.tiles
    app.config["GEOVA_TILES_ATTRIBUTION"] = settings.tiles_attribution
    init_app(app)
    return app


def init_app(app: Flask) -> None:
    settings: Settings = app.config.get("GEOVA_SETTINGS") or load_settings()
    app.config["SECRET_KEY"] = _secret_key(app, settings)
    compression.init_app(app)  # first: its after_request hook then runs last, on the final body
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(Path(__file__).parent / "translations"))
    csrf.init_app(app)
    security.init_app(app)  # CSP with nonces, nosniff, no framing, referrer policy, SameSite cookies
    babel.init_app(app, locale_selector=select_locale)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"

    from geova.web import (
        auth,
        correspondent,
        economy,
        geo,
        imports,
        officials,
        ogc,
        public,
        reports,
        request_page,
        requesters,
        services,
        surveys,
        voice,
    )
    from geova.web.format import register_filters

    for bp in (
        public.bp,
        auth.bp,
        geo.bp,
        correspondent.bp,
        request_page.bp,  # one request's page and its photos
        services.bp,
        officials.bp,
        ogc.bp,
        imports.bp,
        reports.bp,  # the monthly committee: reports, publication, indicators
        reports.published_bp,
        surveys.bp,
        voice.bp,
        economy.bp,  # economic effect of quality (commercial zones)
        requesters.bp,  # requesters' contacts and the mail outbox (services)
    ):
        app.register_blueprint(bp)
    from geova.web import api, open311  # JSON API and Open311 GeoReport v2 (CSRF-exempt: keys authenticate)

    for bp in (api.bp, open311.bp):
        app.register_blueprint(bp)
    register_filters(app)
    from geova.web import access, errors, page_cache

    page_cache.init_app(app)

    access.init_app(app)
    errors.register(app)
    from geova.logs import init_web

    init_web(app)
    proxies.init_app(app, settings.trusted_proxies)  # last: the outermost WSGI middleware
