"""What /api/v1 reads and answers, as pydantic models: query parameters (built from the bounded
types of geova.web.params), JSON bodies, responses and problem details.

The views parse with these models and serialise through them, and geova.web.api_openapi builds the
OpenAPI document from the same models, so the document cannot drift from the code.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
)

from geova.core import requesters as contacts
from geova.core.evaluate import DEFAULT_RISK_HOURS, DIMENSIONS, State
from geova.core.norms import Basis
from geova.store import edits
from geova.web.params import (
    FIRST_DAY,
    LAST_DAY,
    MAX_PERIOD_YEARS,
    Bbox,
    Code,
    Codes,
    Day,
    Hours,
    Instant,
    Paging,
    Params,
    Period,
    codes_of,
)

StateName = Literal[tuple(s.value for s in State)]  # type: ignore[valid-type]
Dimension = Literal[DIMENSIONS]  # type: ignore[valid-type]
BasisName = Literal[tuple(b.value for b in Basis)]  # type: ignore[valid-type]
MAX_CHANNEL = 100
MAX_SEVERITY = 32
MAX_CATEGORY = 64

# A date is a whole local day (``to`` includes it); a date-time is an instant (local time without an
# offset). Days are tried first so that ``to=2015-03-31`` keeps meaning "through the 31st".
DayOrInstant = Annotated[Day | Instant, Field(union_mode="left_to_right")]


# -- query parameters -----------------------------------------------------------------------------


class Filters(Params):
    """Which requests: codes are repeatable (``quarter=6&quarter=7``) or comma-separated."""

    quarter: Codes = Field((), description="quarter or sub-quarter codes")
    zone: Codes = Field((), description="zone codes")
    category: Codes = Field((), description="category codes")
    service: Codes = Field((), description="services (as the source systems name them)")
    bbox: Bbox | None = Field(None, description="minlon,minlat,maxlon,maxlat (WGS 84)")


class InterventionsQuery(Filters, Paging):
    """GET /interventions. The period filters the report time; the list itself is paged, so a long
    period costs no more than the whole store."""

    start: DayOrInstant | None = Field(None, alias="from", description="reported at or after")
    end: DayOrInstant | None = Field(None, alias="to", description="reported before (a day: through it)")
    as_of: Instant | None = Field(None, description="the instant of the verdicts (default: now)")
    norm: Code | None = Field(None, description="a deadline norm (default: the headline norm)")
    state: codes_of(StateName) = Field((), description="verdicts under the norm")  # type: ignore[valid-type]


class InterventionQuery(Params):
    as_of: Instant | None = Field(None, description="the instant of the verdicts (default: now)")
    norm: Code | None = Field(None, description="the main deadline norm (default: the headline norm)")


class NormsQuery(Params):
    all: bool = Field(False, description="also inactive norms (proposals, old sets)")


class EvaluationsQuery(Filters, Period, Paging):
    """GET /evaluations: ``from``/``to`` are the days over which periodic norms are evaluated (at most
    ``MAX_PERIOD_YEARS`` years, checked against ``as_of`` when one of them is missing)."""

    as_of: Instant | None = Field(None, description="the instant of the evaluation (default: now)")
    norm: Codes = Field((), description="norm codes (default: every active norm)")
    by: codes_of(Dimension) = Field(("norm",), description="grouping of the aggregates")  # type: ignore[valid-type]
    deadline: BasisName | None = Field(None, description="judge on the norm's rule or the source's due date")  # type: ignore[valid-type]
    risk_hours: Hours = Field(DEFAULT_RISK_HOURS, description="open requests due within it are at risk")
    per_intervention: bool = Field(False, description="add the verdict on each request (paged)")


class AuditQuery(Params):
    year: Annotated[int, Field(ge=FIRST_DAY.year, le=LAST_DAY.year)] | None = None
    quarter: Annotated[Codes, Field(max_length=1)] = Field((), description="one quarter code")


# -- JSON bodies ----------------------------------------------------------------------------------


def _clean(value: str) -> str:
    if "\x00" in value:
        raise ValueError("NUL characters are not allowed")
    if any(unicodedata.category(c) == "Cs" for c in value):
        raise ValueError("is not valid Unicode text")
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("is required")
    return value


def _past(value: datetime) -> datetime:
    if not FIRST_DAY.year <= value.year <= LAST_DAY.year:
        raise ValueError(f"must be between {FIRST_DAY.year} and {LAST_DAY.year}")
    utc = value.astimezone(UTC)
    if utc > datetime.now(UTC) + edits.CLOCK_SKEW:
        raise ValueError("cannot be in the future")
    return utc


def _text(limit: int, required: bool = False) -> Any:
    checks = [AfterValidator(_clean), *([AfterValidator(_not_blank)] if required else [])]
    return Annotated[StrictStr, Field(max_length=limit), *checks]


Longitude = Annotated[float, Field(strict=True, ge=-180, le=180, allow_inf_nan=False)]
Latitude = Annotated[float, Field(strict=True, ge=-90, le=90, allow_inf_nan=False)]
PastInstant = Annotated[AwareDatetime, AfterValidator(_past)]


class Body(BaseModel):
    """A JSON object; members the API does not know are ignored (clients may send more)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


def _email(value: str) -> str:
    checked = contacts.check_email(value)
    if checked is None:
        raise ValueError("is empty (leave it out instead)")
    return checked


def _phone(value: str) -> str:
    checked = contacts.check_phone(value)
    if checked is None:
        raise ValueError("is empty (leave it out instead)")
    return checked


def _unprefixed(check: Any) -> Any:
    """A geova.core.requesters check whose error names no field (pydantic's location does)."""

    def run(value: str) -> Any:
        try:
            return check(value)
        except contacts.ContactRefused as exc:
            raise ValueError(str(exc).split(": ", 1)[1]) from None

    return run


class RequesterBody(Body):
    """Who asked (often a resident a correspondent reports for): kept apart from the request, read
    only by the service and admin roles, used for the e-mails of the follow-up and the resolution."""

    name: _text(contacts.MAX_NAME) | None = None  # type: ignore[valid-type]
    email: (
        Annotated[StrictStr, Field(max_length=contacts.MAX_EMAIL), AfterValidator(_unprefixed(_email))] | None
    ) = None
    phone: (
        Annotated[StrictStr, Field(max_length=contacts.MAX_PHONE), AfterValidator(_unprefixed(_phone))] | None
    ) = None
    lang: Literal["fr", "en"] = Field("fr", description="the language of the e-mails")

    def contact(self) -> contacts.Contact:
        return contacts.contact(self.name, self.email, self.phone, self.lang)


class ReportBody(Body):
    """POST /interventions: a new request, placed in its quarter and zones like an imported one."""

    category: _text(MAX_CATEGORY, required=True)  # type: ignore[valid-type]
    description: _text(edits.MAX_TEXT, required=True)  # type: ignore[valid-type]
    address: _text(edits.MAX_SHORT_TEXT) | None = None  # type: ignore[valid-type]
    lon: Longitude = Field(validation_alias=AliasChoices("lon", "long"), description="or `long` (Open311)")
    lat: Latitude
    insulting: StrictBool = False
    severity: _text(MAX_SEVERITY) | None = None  # type: ignore[valid-type]
    channel: _text(MAX_CHANNEL) | None = Field(None, description="default: geova")  # type: ignore[valid-type]
    reported_at: PastInstant | None = Field(None, description="with its offset; default: now")
    requester: RequesterBody | None = Field(
        None, description="the requester's contact (service and admin roles read it; never published)"
    )


class ResolveBody(Body):
    """POST /interventions/{id}/resolve (an empty body resolves it now)."""

    note: _text(edits.MAX_TEXT) | None = None  # type: ignore[valid-type]
    resolved_at: PastInstant | None = Field(None, description="with its offset; default: now")


class StatusBody(Body):
    """POST /interventions/{id}/status: one step of the life cycle (geova.core.lifecycle)."""

    status: Literal[
        "acknowledged", "in_progress", "resolved", "closed", "rejected", "duplicate", "cancelled"
    ] = Field(description="the new status")
    note: _text(edits.MAX_TEXT) | None = None  # type: ignore[valid-type]
    public: bool = Field(False, description="whether the requester and Open311 may read the note")
    resolved_at: PastInstant | None = Field(None, description="when resolving: with its offset; default now")
    reason: _text(edits.MAX_SHORT_TEXT) | None = Field(None, description="when rejecting: required")  # type: ignore[valid-type]
    duplicate_of: int | None = Field(
        None, ge=1, le=2**63 - 1, description="when a duplicate: the id it repeats"
    )


# -- responses ------------------------------------------------------------------------------------


class Out(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


class Links(Out):
    self: str
    next: str | None = None
    prev: str | None = None


class Index(Out):
    name: str
    version: str
    links: dict[str, str]


class QuarterOut(Out):
    code: str
    name: str
    level: int
    parent: str | None


class ZoneOut(Out):
    code: str
    name: str
    kind: str | None


class CategoryOut(Out):
    code: str
    label_fr: str | None
    label_en: str | None
    task: str | None
    field: str | None


class ScopeOut(Out):
    categories: list[str]
    insulting: bool | None
    severities: list[str]
    zone_kinds: list[str]
    exclude_zone_kinds: list[str]
    zones: list[str]
    quarters: list[str]


class TargetOut(Out):
    valid_from: date = Field(alias="from")
    value: float | None
    quarter: str | None
    zone: str | None


class NormOut(Out):
    code: str
    kind: Literal["deadline", "frequency", "count", "share"]
    task: str | None
    norm_set: str | None = Field(alias="set")
    label_fr: str | None
    label_en: str | None
    active: bool
    calendar: Literal["calendar", "working"]
    deadline: BasisName | None  # type: ignore[valid-type]
    period: str | None
    scopes: list[ScopeOut]
    targets: list[TargetOut]
    unit: Literal["hours", "passages", "events", "percent"]


class VerdictOut(Out):
    norm: str
    state: StateName  # type: ignore[valid-type]
    excluded: bool
    applied: str | None
    target_hours: float | None
    due_at: datetime | None
    hours_taken: float | None
    hours_overdue: float | None


class EventOut(Out):
    kind: str
    at: datetime
    username: str | None = Field(description="null when the caller may not read personal details")
    note: str | None
    detail: dict[str, Any] | None


class InterventionOut(Out):
    id: int
    source: str
    source_id: str
    category: str
    status: str
    reported_at: datetime
    resolved_at: datetime | None
    source_due_at: datetime | None
    quarter: str | None
    subquarter: str | None
    zones: list[str]
    service: str | None
    channel: str | None
    address: str | None = Field(description="null when the caller may not read personal details")
    description: str | None = Field(description="null when the caller may not read personal details")
    insulting: bool
    severity: str | None
    lon: float
    lat: float
    flags: list[str]
    verdict: VerdictOut | None = Field(description="under the main norm")
    links: dict[str, str]


class InterventionDetail(InterventionOut):
    verdicts: list[VerdictOut] = Field(description="under every active deadline norm")
    events: list[EventOut] = Field(description="its history in geova, oldest first")


class InterventionPage(Out):
    total: int
    limit: int
    offset: int
    norm: str | None
    as_of: datetime
    items: list[InterventionOut]
    links: Links


class QuarterList(Out):
    items: list[QuarterOut]


class ZoneList(Out):
    items: list[ZoneOut]


class CategoryList(Out):
    items: list[CategoryOut]


class NormList(Out):
    items: list[NormOut]


class Row(Out):
    """A row of an evaluation table; the grouping columns (and their ``_name``) vary with ``by``."""

    model_config = ConfigDict(extra="allow")


class AggregateRow(Row):
    requests: int
    on_time: int
    late: int
    open_overdue: int
    open_at_risk: int
    open_in_time: int
    no_deadline: int
    excluded: int
    rated: int
    backlog: int
    on_time_rate: float | None
    median_hours: float | None
    p90_hours: float | None


class PeriodicRow(Row):
    norm: str
    unit: str | None
    unit_name: str | None
    period: str
    period_start: date
    period_end: date
    achieved: float | None
    target: float | None
    met: bool | None
    complete: bool


class VerdictRow(Row):
    norm: str
    id: int
    source_id: str | None
    applied: str | None
    target_hours: float | None
    reported_at: datetime | None
    due_at: datetime | None
    resolved_at: datetime | None
    state: StateName  # type: ignore[valid-type]
    excluded: bool
    hours_taken: float | None
    hours_overdue: float | None


class VerdictPage(Out):
    total: int
    limit: int
    offset: int
    items: list[VerdictRow]


class EvaluationOut(Out):
    as_of: datetime
    timezone: str
    norms: list[str]
    by: list[Dimension]
    aggregates: list[AggregateRow]
    periodic: list[PeriodicRow]
    per_intervention: VerdictPage | None = Field(None, description="with per_intervention=true")


class AuditRow(Row):
    quarter: str
    year: int
    task: str
    commitment: str | None
    respected: str | None
    comment: str | None
    recorded_at: datetime | None
    quarter_name: str | None
    task_label: str | None


class AuditOut(Out):
    year: int | None
    items: list[AuditRow]


class ProblemError(Out):
    detail: str
    parameter: str | None = Field(None, description="the query parameter at fault")
    pointer: str | None = Field(None, description="the body member at fault (JSON Pointer)")


class Problem(Out):
    """RFC 9457 problem details, with ``code`` (a machine name) and, for a bad parameter or body
    member, ``param`` and ``errors``."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    code: str
    param: str | None = None
    errors: list[ProblemError] | None = None


MAX_PERIOD_DAYS = 366 * MAX_PERIOD_YEARS
