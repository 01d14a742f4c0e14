"""Quality norms: what a city promised, for which requests, where, and from when.

A norm has a kind (deadline, frequency, count, share), one or more *scopes* (a request is in the
norm when it matches any of them; a scope is a conjunction of conditions) and *targets*: figures
valid from a date, either the city default or an override for a quarter, a sub-quarter or a zone.
The most specific target applies (zone > sub-quarter > quarter > city); among targets of one level
the latest ``valid_from`` not after the report applies, so a figure revised in 2016 does not rewrite
2015's evaluations.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum


class NormKind(StrEnum):
    DEADLINE = "deadline"  # at most H hours from report to resolution
    FREQUENCY = "frequency"  # at least N passages per period per zone
    COUNT = "count"  # at least N events per period per quarter
    SHARE = "share"  # a percentage entered per quarter and period


class Period(StrEnum):
    WEEK = "week"
    FORTNIGHT = "fortnight"
    MONTH = "month"
    QUARTER_YEAR = "quarter_year"  # trimestre
    YEAR = "year"


class Calendar(StrEnum):
    CALENDAR = "calendar"
    WORKING = "working"  # "heures ouvrées": see geova.core.workcal


class Basis(StrEnum):
    RULE = "rule"  # due = report + the norm's hours
    SOURCE = "source"  # due = the date the source system gave the request


@dataclass(frozen=True)
class Scope:
    categories: frozenset[str] = frozenset()
    insulting: bool | None = None
    severities: frozenset[str] = frozenset()
    zone_kinds: frozenset[str] = frozenset()  # inside a zone of one of these kinds
    exclude_zone_kinds: frozenset[str] = frozenset()  # and in no zone of these kinds
    zones: frozenset[str] = frozenset()  # inside one of these zones (codes)
    quarters: frozenset[str] = frozenset()  # in one of these quarters or sub-quarters (codes)

    def as_dict(self) -> dict[str, object]:
        """The scope as plain values, sets sorted (their order varies between processes): for the
        API and for the fingerprints that say when stored verdicts must be recomputed."""
        return {
            "categories": sorted(self.categories),
            "insulting": self.insulting,
            "severities": sorted(self.severities),
            "zone_kinds": sorted(self.zone_kinds),
            "exclude_zone_kinds": sorted(self.exclude_zone_kinds),
            "zones": sorted(self.zones),
            "quarters": sorted(self.quarters),
        }


@dataclass(frozen=True)
class Target:
    valid_from: date
    value: float | None  # hours, passages, events or percent; None = figure not set by the city
    quarter: str | None = None  # override for this quarter or sub-quarter (code)
    zone: str | None = None  # override for this zone (code)

    def describe(self) -> str:
        if self.zone:
            where = f"zone {self.zone}"
        else:
            where = f"quarter {self.quarter}" if self.quarter else "city default"
        return f"{where} from {self.valid_from.isoformat()}"


@dataclass(frozen=True)
class Norm:
    code: str
    kind: NormKind
    task: str
    label_fr: str
    label_en: str
    scopes: tuple[Scope, ...]
    targets: tuple[Target, ...]
    calendar: Calendar = Calendar.CALENDAR
    basis: Basis = Basis.RULE
    period: Period | None = None
    norm_set: str = ""
    active: bool = True
    categories: frozenset[str] = field(default=frozenset())

    def __post_init__(self) -> None:
        cats = frozenset().union(*(s.categories for s in self.scopes)) if self.scopes else frozenset()
        object.__setattr__(self, "categories", cats)

    def city_targets(self) -> list[Target]:
        return sorted((t for t in self.targets if not t.zone and not t.quarter), key=lambda t: t.valid_from)


@dataclass
class ScopeAttributes:
    """What the deadline of a category's requests may depend on besides place and time: whether
    a report is insulting, and its severity class (the values the norms' scopes name)."""

    insulting: bool = False
    severities: set[str] = field(default_factory=set)


def scope_attributes(norms: Iterable[Norm]) -> dict[str, ScopeAttributes]:
    """Per category, what its norms' scopes depend on: the report form's insulting box and
    severity list, and Open311's service definitions, both come from here."""
    out: dict[str, ScopeAttributes] = {}
    for norm in norms:
        for scope in norm.scopes:
            for category in scope.categories:
                entry = out.setdefault(category, ScopeAttributes())
                if scope.insulting is not None:
                    entry.insulting = True
                entry.severities |= set(scope.severities)
    return out


def _dates(value: object) -> date:
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def norm_from_dict(raw: dict, origin: str = "referential") -> Norm:
    """Build a norm from its TOML table (see data/referential.toml for the documented format)."""
    code = raw.get("code")
    if not code:
        raise ValueError(f"{origin}: a norm without a code")
    try:
        kind = NormKind(raw["kind"])
        scopes = tuple(
            Scope(
                categories=frozenset(s.get("categories", [])),
                insulting=s.get("insulting"),
                severities=frozenset(s.get("severities", [])),
                zone_kinds=frozenset(s.get("zone_kinds", [])),
                exclude_zone_kinds=frozenset(s.get("exclude_zone_kinds", [])),
                zones=frozenset(s.get("zones", [])),
                quarters=frozenset(s.get("quarters", [])),
            )
            for s in raw.get("scope", [])
        )
        targets = [
            Target(_dates(t["from"]), t.get("value"), t.get("quarter"), t.get("zone"))
            for t in raw.get("target", [])
        ]
        if "value" in raw or not targets:
            targets.insert(0, Target(_dates(raw.get("from", "2000-01-01")), raw.get("value")))
        period = Period(raw["period"]) if raw.get("period") else None
    except (KeyError, ValueError) as exc:
        raise ValueError(f"{origin}: norm '{code}': {exc}") from exc
    if kind is not NormKind.SHARE and not scopes:
        raise ValueError(f"{origin}: norm '{code}' has no [[norm.scope]] saying what it covers")
    if kind in (NormKind.FREQUENCY, NormKind.COUNT, NormKind.SHARE) and period is None:
        raise ValueError(f"{origin}: norm '{code}' ({kind}) needs a period")
    return Norm(
        code=code,
        kind=kind,
        task=raw.get("task", ""),
        label_fr=raw.get("label_fr", code),
        label_en=raw.get("label_en", raw.get("label_fr", code)),
        scopes=scopes,
        targets=tuple(targets),
        calendar=Calendar(raw.get("calendar", "calendar")),
        basis=Basis(raw.get("deadline", "rule")),
        period=period,
        norm_set=raw.get("set", ""),
        active=bool(raw.get("active", True)),
    )
