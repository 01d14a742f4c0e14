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

# The answer and its context, in the order a grid shows them
AUDIT_FIELDS = (
    "commitment",
    "respected",
    "comment",
    "services",
    "responsible",
    "resource_persons",
    "obstacles",
    "remedies",
)


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
    answer, _ = split_answer(text)
    return answer


def split_answer(text: str) -> tuple[Answer | None, str]:
    """An answer and the remark that may follow it, as the OVA report writes them:
    "NON (marché en cours)" is NON with the remark "marché en cours"."""
    t = text.strip()
    if not t:
        return None, ""
    head, _, rest = t.partition(" ")
    if "(" in head:
        head, _, more = head.partition("(")
        rest = "(" + more + (" " + rest if rest else "")
    answer = ANSWER_ALIASES.get(head.strip().casefold())
    if answer is None:
        raise ValueError(f"'{text}' is not OUI, NON or PARTIELLEMENT")
    remark = rest.strip()
    if remark.startswith("(") and remark.endswith(")"):
        remark = remark[1:-1].strip()
    return answer, remark


@dataclass(frozen=True)
class AuditEntry:
    quarter: str  # quarter code
    year: int
    task: str  # standard task code
    commitment: Answer | None  # clear responsibilities and a public commitment?
    respected: Answer | None  # respected in this quarter?
    # None: the file had no such column, so the stored value is kept
    comment: str | None = ""
    services: str | None = ""
    responsible: str | None = ""
    resource_persons: str | None = ""  # information producers
    obstacles: str | None = ""
    remedies: str | None = ""
    extra: dict[str, str] = field(default_factory=dict)
    line: int | None = field(default=None, compare=False)  # in the file it was read from

    def key(self) -> tuple[str, int, str]:
        return (self.quarter, self.year, self.task)
