"""What an import tells the person who ran it (the CLI prints it, the web's import page shows
it, the journal keeps its counts), and the log line each import leaves."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("geova.importing")


@dataclass
class InterventionReport:
    file: str
    source: str
    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    outside_territory: int = 0
    flagged: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    rejects_file: str | None = None
    timezone_note: str | None = None  # the territory's time zone set from, or differing from, the mapping's

    def counts(self) -> dict[str, int]:
        return {
            k: getattr(self, k)
            for k in ("read", "inserted", "updated", "unchanged", "rejected", "outside_territory")
        }


@dataclass
class LayerReport:
    file: str
    layer: str
    kind: str
    features: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    parents_created: int = 0
    reassigned: int = 0
    notes: list[str] = field(default_factory=list)


def log_import(kind: str, path: Path, counts: dict, began: float) -> None:
    """One line per import: what, which file, the counts, how long (geova.logs formats it)."""
    ms = round((time.perf_counter() - began) * 1000)
    log.info(
        "imported %s from %s in %d ms: %s",
        kind,
        path.name,
        ms,
        counts,
        extra={"kind": kind, "file": str(path), "counts": counts, "duration_ms": ms},
    )
