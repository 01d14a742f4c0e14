"""The demo's example field survey and perception questionnaire: EXAMPLE DATA, not measured.

Boston publishes no cleanliness survey, so the demo draws a real sample (seed 2015) and fills it
with invented grades and answers, drawn with a seeded generator so that every demo build shows the
same figures. Both are stored with ``example = true`` and every page showing them says so.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import numpy as np
from sqlalchemy import Engine

from geova.core.surveys import DEFAULT_GRID, OTHER
from geova.store import surveys, voice
from geova.store.db import write

SURVEY = "demo-2015-q2"
QUESTIONNAIRE = "demo-voice-2015"
# Probabilities of A, B+, B, B-, C, D (invented): priority commercial zones a little cleaner.
GRADE_ODDS = {"commercial": [0.25, 0.3, 0.25, 0.1, 0.07, 0.03], OTHER: [0.15, 0.25, 0.3, 0.15, 0.1, 0.05]}


def build_example_surveys(engine: Engine) -> bool:
    """The example campaign, graded, and the example questionnaire, answered; False when present."""
    with write(engine) as conn:
        if surveys.campaign(conn, SURVEY) is not None:
            return False
        surveys.create_campaign(
            conn,
            SURVEY,
            "Spring 2015 cleanliness survey (example data)",
            DEFAULT_GRID.code,
            date(2015, 4, 1),
            date(2015, 6, 30),
            0,
            2015,
            {"commercial": 2, OTHER: 3},
            example=True,
        )
        rng = np.random.default_rng(2015)
        when = datetime(2015, 6, 15, 14, 0, tzinfo=UTC)
        elements = [e.code for e in DEFAULT_GRID.elements]
        for t in surveys.draw(conn, SURVEY):
            odds = GRADE_ODDS.get(t.zone_kind, GRADE_ODDS[OTHER])
            grades = {e: str(rng.choice(DEFAULT_GRID.grades, p=odds)) for e in elements}
            entry = str(uuid.UUID(bytes=rng.bytes(16), version=4))
            surveys.record_entry(conn, SURVEY, entry, t.position, grades, None, "example", when)
        if voice.voice_campaign(conn, QUESTIONNAIRE) is None:
            voice.create_voice_campaign(
                conn,
                QUESTIONNAIRE,
                "How clean and safe is your neighbourhood? (example data)",
                date(2015, 4, 1),
                date(2015, 6, 30),
                example=True,
            )
            for quarter in ("6", "7", "15"):  # Dorchester, Downtown, Roslindale
                for _ in range(12):
                    voice.record_answer(
                        conn,
                        QUESTIONNAIRE,
                        uuid.UUID(bytes=rng.bytes(16)).hex,
                        int(rng.integers(1, 6)),
                        int(rng.integers(1, 6)),
                        None,
                        when,
                        quarter=quarter,
                    )
    return True
