"""The web app's blueprints, one per audience, all calling the core and the store."""

from __future__ import annotations

from flask import Flask, current_app
from sqlalchemy import Engine

from geova.store.db import make_engine


def engine() -> Engine:
    """The app's engine, created once per app (not per request)."""
    eng = current_app.extensions.get("geova_engine")
    if eng is None:
        eng = make_engine(current_app.config["GEOVA_DATABASE_URL"])
        current_app.extensions["geova_engine"] = eng
    return eng


def init_app(app: Flask) -> None:
    from geova.web.public import bp as public

    app.register_blueprint(public)
