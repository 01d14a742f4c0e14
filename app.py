"""Flask entry point: ``flask --app app run`` (or ``make demo``).

The app factory pattern (as in Flask's tutorial) so that tests build an app per database.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

from geova.config import database_url

HERE = Path(__file__).resolve().parent


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(
        "geova",
        template_folder=str(HERE / "templates"),
        static_folder=str(HERE / "static"),
        instance_path=str(HERE / "instance"),
        instance_relative_config=True,
    )
    app.config.from_mapping(GEOVA_DATABASE_URL=None)
    app.config.from_prefixed_env("GEOVA")  # e.g. GEOVA_SECRET_KEY, GEOVA_DATABASE_URL
    if config:
        app.config.update(config)
    app.config["GEOVA_DATABASE_URL"] = database_url(
        app.config.get("GEOVA_DATABASE_URL") or app.config.get("DATABASE_URL")
    )

    from geova.web import init_app

    init_app(app)
    return app
