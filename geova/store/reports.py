"""Published reports, frozen: their figures and renderings as they were when published.

A report is identified by its scope (a quarter code, "" for the city) and period (2015-06,
2015-H1, 2015). Publishing it again is a correction: it needs a reason and gets the next version
number; every version is kept, and nothing ever updates a stored one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select

from geova.store.schema import Report

R = Report.__table__


class PublishRefused(ValueError):
    """A publication the rules refuse (a second version without a reason); ``latest`` is the
    version already published, if any."""

    def __init__(self, message: str, latest: int | None = None):
        super().__init__(message)
        self.latest = latest


@dataclass(frozen=True)
class Published:
    id: int
    scope: str
    period: str
    version: int
    title_fr: str
    title_en: str
    reason: str | None
    published_at: datetime
    published_by: str | None

    def title(self, lang: str) -> str:
        return self.title_fr if lang == "fr" else self.title_en


LISTED = (
    R.c.id,
    R.c.scope,
    R.c.period,
    R.c.version,
    R.c.title_fr,
    R.c.title_en,
    R.c.reason,
    R.c.published_at,
    R.c.published_by,
)


def publish(
    conn: Connection,
    *,
    scope: str,
    period: str,
    titles: tuple[str, str],
    figures: dict[str, Any],
    html: tuple[str, str],
    by: str | None,
    reason: str | None = None,
) -> Published:
    """Store a new version (1 for the first); a later one needs ``reason``."""
    latest = conn.execute(
        select(func.max(R.c.version)).where(R.c.scope == scope, R.c.period == period)
    ).scalar()
    reason = (reason or "").strip() or None
    if latest is not None and reason is None:
        raise PublishRefused(
            f"version {latest} of this report is already published: a corrected version needs a reason",
            latest,
        )
    version = (latest or 0) + 1
    new_id = conn.execute(
        insert(Report)
        .values(
            scope=scope,
            period=period,
            version=version,
            title_fr=titles[0],
            title_en=titles[1],
            figures=figures,
            html_fr=html[0],
            html_en=html[1],
            reason=reason,
            published_at=datetime.now(UTC),
            published_by=by,
        )
        .returning(R.c.id)
    ).scalar_one()
    found = get(conn, new_id)
    assert found is not None
    return found[0]


def listing(conn: Connection) -> list[Published]:
    """Every published version, the latest period first, then the city before quarters."""
    rows = conn.execute(select(*LISTED).order_by(R.c.period.desc(), R.c.scope, R.c.version.desc()))
    return [Published(*r) for r in rows]


def versions(conn: Connection, scope: str, period: str) -> list[Published]:
    rows = conn.execute(
        select(*LISTED).where(R.c.scope == scope, R.c.period == period).order_by(R.c.version.desc())
    )
    return [Published(*r) for r in rows]


def get(conn: Connection, report_id: int) -> tuple[Published, dict[str, Any], str, str] | None:
    """A published version, its figures and its HTML in French and English."""
    row = conn.execute(
        select(*LISTED, R.c.figures, R.c.html_fr, R.c.html_en).where(R.c.id == report_id)
    ).first()
    if row is None:
        return None
    return Published(*row[:9]), row.figures, row.html_fr, row.html_en
