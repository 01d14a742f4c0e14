"""Stored values and evaluation frames as the JSON /api/v1 answers: instants in ISO 8601 with the
territory's offset, None for missing numbers, and personal fields left out for callers the access
policy does not let read them (geova.web.access)."""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any

import pandas as pd
from flask import url_for

from geova.core.norms import Norm, NormKind
from geova.store.assignments import ASSIGNED

UNITS = {"deadline": "hours", "frequency": "passages", "count": "events", "share": "percent"}


def iso(value: Any, tz: str) -> str | None:
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return ts.tz_convert(tz).isoformat()


def plain(value: Any, tz: str) -> Any:
    """A value of a pandas frame as JSON: ISO 8601 instants in the territory's zone, None for NaN."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp | datetime):
        return iso(value, tz)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, pd.Period):
        return str(value)
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def frame_records(frame: pd.DataFrame | None, tz: str) -> list[dict[str, Any]]:
    if frame is None or frame.empty:
        return []
    return [{str(k): plain(v, tz) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def norm_json(norm: Norm) -> dict[str, Any]:
    return {
        "code": norm.code,
        "kind": norm.kind.value,
        "task": norm.task or None,
        "set": norm.norm_set,
        "label_fr": norm.label_fr,
        "label_en": norm.label_en,
        "active": norm.active,
        "calendar": norm.calendar.value,
        "deadline": norm.basis.value if norm.kind is NormKind.DEADLINE else None,
        "period": norm.period.value if norm.period else None,
        "scopes": [s.as_dict() for s in norm.scopes],
        "targets": [
            {"from": t.valid_from.isoformat(), "value": t.value, "quarter": t.quarter, "zone": t.zone}
            for t in norm.targets
        ],
        "unit": UNITS[norm.kind.value],
    }


def verdict_json(row: Any, tz: str) -> dict[str, Any]:
    return {
        "norm": row["norm"],
        "state": row["state"],
        "excluded": bool(row["excluded"]),
        "applied": row["applied"] or None,
        "target_hours": plain(row["target_hours"], tz),
        "due_at": iso(row["due_at"], tz),
        "hours_taken": plain(row["hours_taken"], tz),
        "hours_overdue": plain(row["hours_overdue"], tz),
    }


def request_json(
    row: dict[str, Any], verdict: dict[str, Any] | None, tz: str, personal: bool
) -> dict[str, Any]:
    """A stored request; without ``personal``, no description or address (free text may name people)."""
    return {
        "id": int(row["id"]),
        "source": row["source"],
        "source_id": row["source_id"],
        "category": row["category_code"],
        "status": row["status"],
        "reported_at": iso(row["reported_at"], tz),
        "resolved_at": iso(row["resolved_at"], tz),
        "source_due_at": iso(row["due_at"], tz),
        "quarter": row["quarter"],
        "subquarter": row["subquarter"],
        "zones": row["zones"],
        "service": row["service"],
        "channel": row["channel"],
        "address": row["address"] if personal else None,
        "description": row["description"] if personal else None,
        "insulting": bool(row["insulting"]),
        "severity": row["severity"],
        "lon": float(row["lon"]),
        "lat": float(row["lat"]),
        "flags": row["flags"],
        "verdict": verdict,
        "links": {"self": url_for("api.intervention", intervention_id=int(row["id"]))},
    }


def event_json(event: dict[str, Any], tz: str, personal: bool) -> dict[str, Any]:
    """One step of a request's history; without ``personal``, no account name and no note (nor
    the agents an assignment names: geova.store.assignments)."""
    detail = event["detail"]
    if not personal and event["kind"] == ASSIGNED and isinstance(detail, dict):
        detail = {k: v for k, v in detail.items() if k not in ("from", "to")}
    return {
        "kind": event["kind"],
        "at": iso(event["at"], tz),
        "username": event["username"] if personal else None,
        "note": event["note"] if personal else None,
        "detail": detail,
    }
