"""The audit of standard tasks (OVA report L1309, L4003, L4493-4497).

For each quarter, year and standard task two questions are answered OUI / NON / PARTIELLEMENT:
is there a clear sharing of responsibilities and a public commitment for this task, and is it
respected in this quarter. Each answer carries a comment ("NON (marché en cours)"), the services
involved, the person responsible, the resource persons (the information producers the task depends
on), the obstacles and how to lift them. Answers are never overwritten: each change is a new entry,
the latest one is the current answer, and the history stays.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Answer(StrEnum):
    OUI = "OUI"
    NON = "NON"
    PARTIELLEMENT = "PARTIELLEMENT"


ANSWER_ALIASES = {
    "oui": Answer.OUI,
    "yes": Answer.OUI,
    "o": Answer.OUI,
    "y": Answer.OUI,
    "non": Answer.NON,
    "no": Answer.NON,
    "n": Answer.NON,
    "partiellement": Answer.PARTIELLEMENT,
    "partially": Answer.PARTIELLEMENT,
    "partial": Answer.PARTIELLEMENT,
    "p": Answer.PARTIELLEMENT,
}


def parse_answer(text: str) -> Answer | None:
    """OUI / NON / PARTIELLEMENT in French or English, any case; blank means not answered."""
    t = text.strip().casefold()
    if not t:
        return None
    if t in ANSWER_ALIASES:
        return ANSWER_ALIASES[t]
    raise ValueError(f"'{text}' is not OUI, NON or PARTIELLEMENT")


@dataclass(frozen=True)
class AuditEntry:
    quarter: str  # quarter code
    year: int
    task: str  # standard task code
    commitment: Answer | None  # clear responsibilities and a public commitment?
    respected: Answer | None  # respected in this quarter?
    comment: str = ""
    services: str = ""
    responsible: str = ""
    resource_persons: str = ""  # information producers
    obstacles: str = ""
    remedies: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def key(self) -> tuple[str, int, str]:
        return (self.quarter, self.year, self.task)

    def same_answers(self, other: AuditEntry) -> bool:
        fields = (
            "commitment",
            "respected",
            "comment",
            "services",
            "responsible",
            "resource_persons",
            "obstacles",
            "remedies",
        )
        return all(getattr(self, f) == getattr(other, f) for f in fields)
