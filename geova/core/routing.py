"""Which service a request goes to: the referential's routing rules, the most specific first.

A rule names a service and the conditions a request must meet: its category (or any category),
and at most one place: a zone (by code), a zone kind, or a quarter (or sub-quarter). The rule that
matches with the most specific place wins (zone > zone kind > quarter > no place); between two
such rules, one that names the category wins over one that does not, then the one listed first.
A request no rule matches goes to the default service.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceDef:
    code: str
    label_fr: str
    label_en: str
    email: str | None = None
    # the source systems' own codes for this service (Boston's QUEUE); "PWDx_*" names every code
    # starting with "PWDx_"
    queues: tuple[str, ...] = ()


@dataclass(frozen=True)
class RouteRule:
    service: str
    category: str | None = None
    quarter: str | None = None
    zone_kind: str | None = None
    zone: str | None = None
    position: int = 0

    @property
    def specificity(self) -> tuple[int, int]:
        place = 3 if self.zone else 2 if self.zone_kind else 1 if self.quarter else 0
        return place, 1 if self.category else 0

    def matches(
        self, category: str, quarters: Sequence[str | None], zones: Sequence[tuple[str, str]]
    ) -> bool:
        if self.category and self.category != category:
            return False
        if self.zone and self.zone not in {code for code, _ in zones}:
            return False
        if self.zone_kind and self.zone_kind not in {kind for _, kind in zones}:
            return False
        return not (self.quarter and self.quarter not in quarters)


def ordered(rules: Sequence[RouteRule]) -> list[RouteRule]:
    """The rules in the order they are tried: the most specific first, then as listed."""
    return sorted(rules, key=lambda r: (-r.specificity[0], -r.specificity[1], r.position))


def route(
    rules: Sequence[RouteRule],
    default: str | None,
    category: str,
    quarters: Sequence[str | None] = (),
    zones: Sequence[tuple[str, str]] = (),
) -> str | None:
    """The service of a request of ``category`` in ``quarters`` (its quarter and sub-quarter codes)
    and ``zones`` ((code, kind) of each zone it falls in)."""
    for rule in ordered(rules):
        if rule.matches(category, quarters, zones):
            return rule.service
    return default


def queue_mapper(services: Sequence[ServiceDef]) -> Callable[[str], str]:
    """A function giving each source queue code (or service code) its service's code; a code no
    service claims is returned as given. Exact codes win over prefixes, longer prefixes over
    shorter ones."""
    exact = {s.code: s.code for s in services}
    prefixes: list[tuple[str, str]] = []
    for s in services:
        for q in s.queues:
            if q.endswith("*"):
                prefixes.append((q[:-1], s.code))
            else:
                exact[q] = s.code
    prefixes.sort(key=lambda p: -len(p[0]))

    def mapped(value: str) -> str:
        if value in exact:
            return exact[value]
        return next((code for prefix, code in prefixes if value.startswith(prefix)), value)

    return mapped
