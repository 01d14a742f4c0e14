"""Public pages: what the territory's store holds (the published results come with the norm engine)."""

from __future__ import annotations

from flask import Blueprint, render_template

from geova.store.migrate import current_revision
from geova.store.status import store_status
from geova.web import engine

bp = Blueprint("public", __name__)


@bp.get("/")
def index() -> str:
    eng = engine()
    status = None
    if current_revision(eng) is not None:
        with eng.connect() as conn:
            status = store_status(conn, last_imports=5)
    return render_template("public/index.html", status=status)


@bp.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}
