"""Domain vocabulary shared by every layer of geova."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import shapely


class Status(StrEnum):
    """Life cycle of an intervention request (geova.core.lifecycle says which changes are allowed).
    Duplicates, rejections and cancellations are kept, never deleted, because norm rates must say
    how many requests they excluded. ``open`` is the value imports wrote before revision 0008: a
    mapping file may still name it, and it is read as ``new``."""

    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"
    CANCELLED = "cancelled"
    OPEN = "open"  # legacy: read as NEW


# Statuses of a request still to be handled; excluded from the norms' rates.
OPEN_STATUSES = (Status.NEW.value, Status.ACKNOWLEDGED.value, Status.IN_PROGRESS.value, Status.OPEN.value)
EXCLUDED_STATUSES = (Status.DUPLICATE.value, Status.CANCELLED.value, Status.REJECTED.value)


class ZoneKind(StrEnum):
    """The priority-zone kinds the OVA report names. Cities may add their own (any slug)."""

    COMMERCIAL = "commercial"  # zone prioritaire commerciale
    SENSITIVE = "sensitive"  # zone sensible
    BLACK_SPOT = "black_spot"  # point noir
    WASTE_LAND = "waste_land"  # friche


class Flag(StrEnum):
    """Why a stored record is suspicious. Flagged rows are kept and counted, not silently trusted."""

    OUTSIDE_EXTENT = "outside_extent"  # coordinates far from the territory
    RESOLVED_BEFORE_REPORT = "resolved_before_report"
    REPEATED_LOCATION = "repeated_location"  # a geocoder default, e.g. Boston City Hall
    NONEXISTENT_LOCAL_TIME = "nonexistent_local_time"  # a local time the spring DST change skips
    AMBIGUOUS_LOCAL_TIME = "ambiguous_local_time"  # a local time the autumn DST change repeats


FLAG_LABELS = {
    Flag.OUTSIDE_EXTENT: "coordinates outside the territory's extent",
    Flag.RESOLVED_BEFORE_REPORT: "resolved before it was reported",
    Flag.REPEATED_LOCATION: "location repeated on many rows (geocoder default?)",
    Flag.NONEXISTENT_LOCAL_TIME: "a local time that does not exist (skipped by the change to summer time)",
    Flag.AMBIGUOUS_LOCAL_TIME: "an ambiguous local time (repeated by the change to winter time)",
}


@dataclass
class LayerFeature:
    code: str
    name: str
    geom: shapely.MultiPolygon
    parent_code: str | None = None
    kind: str | None = None
    properties: dict[str, object] = field(default_factory=dict)
