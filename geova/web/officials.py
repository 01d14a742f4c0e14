"""Elected officials: quarters compared, trends, and the audit grid of all quarters."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("officials", __name__)


@bp.get("/compare")
def compare() -> str:
    return "todo"
