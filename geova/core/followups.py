"""Follow-up of requesters (the Dunkerque practice): contact the requester 15 days after the report,
again after one month, and validate the case after two months.

Each step is due at report + delay on the territory's calendar (a month is a calendar month); it is
``done`` when recorded by its due date, ``done_late`` after it, ``missed`` when the due date passed
with no contact, ``due`` while it is still ahead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from geova.core.model import EXCLUDED_STATUSES


@dataclass(frozen=True)
class Step:
    code: str
    label_fr: str
    label_en: str
    offset: pd.DateOffset


STEPS = (
    Step(
        "contact_15d",
        "Contact du demandeur à 15 jours",
        "Contact the requester at 15 days",
        pd.DateOffset(days=15),
    ),
    Step("contact_1m", "Nouveau contact à 1 mois", "Contact again at 1 month", pd.DateOffset(months=1)),
    Step("validation_2m", "Validation à 2 mois", "Validate the case at 2 months", pd.DateOffset(months=2)),
)
STEP_CODES = tuple(s.code for s in STEPS)


def followups(
    records: pd.DataFrame, done: pd.DataFrame, as_of: pd.Timestamp, tz: str, soon_days: int = 7
) -> pd.DataFrame:
    """One row per (request, step) for requests reported by ``as_of`` and not duplicate/cancelled.

    ``done``: columns id, step, done_at (UTC); a contact recorded after ``as_of`` is not yet done.
    """
    as_of = pd.Timestamp(as_of).tz_convert("UTC")
    keep = (records["reported_at"] <= as_of) & ~records["status"].isin(list(EXCLUDED_STATUSES))
    recs = records.loc[keep, ["id", "source_id", "reported_at", "category", "quarter"]]
    local = recs["reported_at"].dt.tz_convert(tz).dt.tz_localize(None)
    frames = []
    for step in STEPS:
        due_local = local + step.offset
        due = due_local.dt.tz_localize(
            tz, ambiguous=np.ones(len(due_local), dtype=bool), nonexistent="shift_forward"
        )
        frames.append(recs.assign(step=step.code, due_at=due.dt.tz_convert("UTC")))
    out = pd.concat(frames, ignore_index=True) if frames else recs.assign(step=[], due_at=[])
    d = done[done["done_at"] <= as_of].groupby(["id", "step"], as_index=False)["done_at"].min()
    out = out.merge(d, on=["id", "step"], how="left")
    is_done = out["done_at"].notna()
    out["state"] = np.select(
        [is_done & (out["done_at"] <= out["due_at"]), is_done, out["due_at"] < as_of],
        ["done", "done_late", "missed"],
        default="due",
    )
    out["due_soon"] = (out["state"] == "due") & (out["due_at"] <= as_of + pd.Timedelta(days=soon_days))
    return out.sort_values(["due_at", "id", "step"]).reset_index(drop=True)
