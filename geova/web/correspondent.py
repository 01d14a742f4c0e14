"""Neighbourhood correspondents: a quarter's map, requests, scorecard and audit grid; reporting."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("correspondent", __name__)


@bp.get("/quarters")
def quarters() -> str:
    return "todo"


@bp.get("/quarters/<code>")
def quarter(code: str) -> str:
    return "todo"
