"""Residents' and businesses' voice: perception questionnaires per quarter or zone and their answers.

One answer per person and campaign: the web page gives each browser a signed token per campaign
and the store keeps only its hash, unique per campaign (no account, no name, no address).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError

from geova.core.surveys import SCALE, Perception, perception_results
from geova.store.schema import Quarter, VoiceAnswer, VoiceCampaign, Zone
from geova.store.surveys import CODE

VC, VA = VoiceCampaign.__table__, VoiceAnswer.__table__
MAX_COMMENT = 1000


@dataclass(frozen=True)
class VoiceCampaignRow:
    id: int
    code: str
    name: str
    quarter: str | None
    zone: str | None
    starts: date
    ends: date
    example: bool

    def open_on(self, day: date) -> bool:
        return self.starts <= day <= self.ends


def _row(r: Any) -> VoiceCampaignRow:
    return VoiceCampaignRow(
        r.id, r.code, r.name, r.quarter_code, r.zone_code, r.starts, r.ends, bool(r.example)
    )


def create_voice_campaign(
    conn: Connection,
    code: str,
    name: str,
    starts: date,
    ends: date,
    quarter: str | None = None,
    zone: str | None = None,
    *,
    example: bool = False,
) -> VoiceCampaignRow:
    if not CODE.match(code or ""):
        raise ValueError(f"code '{code}': letters, digits, '.', '_' or '-', at most 64")
    if not name or len(name) > 200:
        raise ValueError("name: between 1 and 200 characters")
    if ends < starts:
        raise ValueError("period: the end is before the start")
    if quarter and zone:
        raise ValueError("give a quarter or a zone, not both")
    q, z = Quarter.__table__, Zone.__table__
    if quarter and not conn.execute(select(q.c.id).where(q.c.code == quarter)).first():
        raise ValueError(f"quarter: unknown quarter '{quarter}'")
    if zone and not conn.execute(select(z.c.id).where(z.c.code == zone)).first():
        raise ValueError(f"zone: unknown zone '{zone}'")
    if conn.execute(select(VC.c.id).where(VC.c.code == code)).first():
        raise ValueError(f"questionnaire '{code}' already exists")
    conn.execute(
        insert(VoiceCampaign).values(
            code=code,
            name=name,
            quarter_code=quarter,
            zone_code=zone,
            starts=starts,
            ends=ends,
            example=example,
        )
    )
    found = voice_campaign(conn, code)
    assert found is not None
    return found


def voice_campaign(conn: Connection, code: str) -> VoiceCampaignRow | None:
    r = conn.execute(select(VC).where(VC.c.code == code)).first()
    return _row(r) if r else None


def voice_campaigns(conn: Connection) -> list[VoiceCampaignRow]:
    return [_row(r) for r in conn.execute(select(VC).order_by(VC.c.starts.desc(), VC.c.code))]


def has_answered(conn: Connection, campaign_id: int, respondent: str) -> bool:
    return (
        conn.execute(
            select(VA.c.id).where(VA.c.campaign_id == campaign_id, VA.c.respondent == respondent)
        ).first()
        is not None
    )


def record_answer(
    conn: Connection,
    code: str,
    respondent: str,
    cleanliness: int | None,
    safety: int | None,
    comment: str | None,
    when: datetime,
    quarter: str | None = None,
) -> bool:
    """Store one person's answer; False when this respondent already answered this campaign.
    A campaign for the city takes the quarter the person chose; one for a quarter or zone, its own."""
    c = voice_campaign(conn, code)
    if c is None:
        raise LookupError(f"no questionnaire '{code}'")
    for name, score in (("cleanliness", cleanliness), ("safety", safety)):
        if score is not None and score not in SCALE:
            raise ValueError(f"{name}: a score from 1 to 5")
    if cleanliness is None and safety is None:
        raise ValueError("answer at least one question")
    if comment is not None and (len(comment) > MAX_COMMENT or "\x00" in comment):
        raise ValueError(f"comment: at most {MAX_COMMENT} characters")
    if c.quarter or c.zone:
        quarter = c.quarter
    elif quarter:
        q = Quarter.__table__
        if not conn.execute(select(q.c.id).where(q.c.code == quarter)).first():
            raise ValueError(f"quarter: unknown quarter '{quarter}'")
    if has_answered(conn, c.id, respondent):
        return False
    try:
        with conn.begin_nested():
            conn.execute(
                insert(VoiceAnswer).values(
                    campaign_id=c.id,
                    respondent=respondent,
                    quarter_code=quarter,
                    zone_code=c.zone,
                    cleanliness=cleanliness,
                    safety=safety,
                    comment=(comment or "").strip() or None,
                    answered_at=when,
                )
            )
    except IntegrityError:  # the same person's second tab, at the same instant
        return False
    return True


def answers(conn: Connection, code: str) -> list[dict[str, Any]]:
    c = voice_campaign(conn, code)
    if c is None:
        raise LookupError(f"no questionnaire '{code}'")
    query = select(
        VA.c.quarter_code, VA.c.zone_code, VA.c.cleanliness, VA.c.safety, VA.c.comment, VA.c.answered_at
    ).where(VA.c.campaign_id == c.id)
    return [dict(r._mapping) for r in conn.execute(query.order_by(VA.c.answered_at, VA.c.id))]


def perception(conn: Connection, code: str) -> dict[str, list[Perception]]:
    """Per quarter and per zone: answers, mean and distribution of each question (1–5)."""
    rows = answers(conn, code)
    return {
        "quarter": perception_results(
            (r["quarter_code"], r["cleanliness"], r["safety"]) for r in rows if r["quarter_code"]
        ),
        "zone": perception_results(
            (r["zone_code"], r["cleanliness"], r["safety"]) for r in rows if r["zone_code"]
        ),
    }
