"""Cleanliness services: the overdue worklist, resolve and reassign, exports."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("services", __name__)


@bp.get("/worklist")
def worklist() -> str:
    return "todo"
