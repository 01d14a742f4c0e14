"""The relational schema: territory layers, the referential's categories, interventions, imports.

Geometries are EPSG:4326 (what GeoJSON, Leaflet and the OGC APIs speak); files in Lambert-93 or any
other CRS are reprojected on the way in. Spatial assignments (quarter, sub-quarter, zones) are stored
on the intervention at write time so that evaluation never repeats a spatial join.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import ClassVar

from geoalchemy2 import Geometry
from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from geova.store.types import UTCDateTime

SRID = 4326


class Base(DeclarativeBase):
    """Every model maps one table of its own (no joined or single-table inheritance), so its
    ``__table__`` is a ``Table``: declared so, the store's Core statements over ``Model.__table__``
    type-check without a cast (SQLAlchemy types it as the wider ``FromClause``)."""

    __table__: ClassVar[Table]


class Setting(Base):
    """Territory-wide settings (name, time zone) kept with the data they describe."""

    __tablename__ = "setting"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class FieldOfAction(Base):
    __tablename__ = "field_of_action"
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    label_fr: Mapped[str] = mapped_column(Text)
    label_en: Mapped[str] = mapped_column(Text)
    position: Mapped[int] = mapped_column(Integer, default=0)


class StandardTask(Base):
    __tablename__ = "standard_task"
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    field_code: Mapped[str] = mapped_column(ForeignKey("field_of_action.code"))
    label_fr: Mapped[str] = mapped_column(Text)
    label_en: Mapped[str] = mapped_column(Text)
    position: Mapped[int] = mapped_column(Integer, default=0)


class Category(Base):
    __tablename__ = "category"
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    label_fr: Mapped[str] = mapped_column(Text)
    label_en: Mapped[str] = mapped_column(Text)
    task_code: Mapped[str | None] = mapped_column(ForeignKey("standard_task.code"))


class Service(Base):
    """A service requests are routed to (the referential's ``[[service]]``)."""

    __tablename__ = "service"
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    label_fr: Mapped[str] = mapped_column(Text)
    label_en: Mapped[str] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(Text)
    queues: Mapped[list] = mapped_column(JSON, default=list)  # source systems' codes for it
    position: Mapped[int] = mapped_column(Integer, default=0)


class RoutingRule(Base):
    """A routing rule of the referential (``[[route]]``); a file's rules replace those it loaded
    before (``origin``: the file's name)."""

    __tablename__ = "routing_rule"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    origin: Mapped[str] = mapped_column(String(255), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    service_code: Mapped[str] = mapped_column(String(64))
    category_code: Mapped[str | None] = mapped_column(String(64))
    quarter_code: Mapped[str | None] = mapped_column(String(64))
    zone_kind: Mapped[str | None] = mapped_column(String(64))
    zone_code: Mapped[str | None] = mapped_column(String(64))


class Quarter(Base):
    """A quarter (level 0) or a sub-quarter / îlot (level 1+), linked to its parent."""

    __tablename__ = "quarter"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(Text)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("quarter.id", ondelete="SET NULL"))
    level: Mapped[int] = mapped_column(Integer, default=0)
    layer: Mapped[str] = mapped_column(String(128))
    properties: Mapped[dict] = mapped_column(JSON, default=dict)
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=SRID, spatial_index=True), nullable=False)


class Zone(Base):
    """A priority zone drawn over the quarters: commercial, sensitive, black spot, waste land..."""

    __tablename__ = "zone"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(64), index=True)
    layer: Mapped[str] = mapped_column(String(128))
    properties: Mapped[dict] = mapped_column(JSON, default=dict)
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=SRID, spatial_index=True), nullable=False)


class Intervention(Base):
    """One intervention request, as reported by a source system and assigned to the territory."""

    __tablename__ = "intervention"
    __table_args__ = (
        UniqueConstraint("source", "source_id", name="uq_intervention_source"),
        Index("ix_intervention_category_reported", "category_code", "reported_at"),
        Index("ix_intervention_reported", "reported_at"),  # the latest report, recent requests
        Index("ix_intervention_service", "service"),  # the services named (catalogue.services)
        # a quarter's requests of some categories over a period, counted from the index alone (it
        # no longer holds the id and the point: the map feed's clusters come from the replica,
        # migration 0021)
        Index("ix_intervention_quarter_category_reported", "quarter_id", "category_code", "reported_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(128))
    source_id: Mapped[str] = mapped_column(String(128))
    category_code: Mapped[str] = mapped_column(ForeignKey("category.code"))
    source_category: Mapped[str | None] = mapped_column(Text)
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16))  # no index: no plan reads one (migration 0019)
    channel: Mapped[str | None] = mapped_column(Text)
    insulting: Mapped[bool] = mapped_column(Boolean, default=False)
    severity: Mapped[str | None] = mapped_column(String(32))
    service: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(Text)
    # by quarter: ix_intervention_quarter_category_reported, whose key starts with it (migration 0019)
    quarter_id: Mapped[int | None] = mapped_column(ForeignKey("quarter.id", ondelete="SET NULL"))
    subquarter_id: Mapped[int | None] = mapped_column(ForeignKey("quarter.id", ondelete="SET NULL"))
    content_hash: Mapped[str] = mapped_column(String(32))
    import_id: Mapped[int | None] = mapped_column(ForeignKey("import_run.id", ondelete="SET NULL"))
    geom = mapped_column(Geometry("POINT", srid=SRID, spatial_index=True), nullable=False)


class InterventionZone(Base):
    __tablename__ = "intervention_zone"
    intervention_id: Mapped[int] = mapped_column(
        ForeignKey("intervention.id", ondelete="CASCADE"), primary_key=True
    )
    zone_id: Mapped[int] = mapped_column(ForeignKey("zone.id", ondelete="CASCADE"), primary_key=True)
    __table_args__ = (Index("ix_intervention_zone_zone", "zone_id"),)


class InterventionFlag(Base):
    """A reason to doubt a record (fake location, impossible dates): flagged, never dropped."""

    __tablename__ = "intervention_flag"
    intervention_id: Mapped[int] = mapped_column(
        ForeignKey("intervention.id", ondelete="CASCADE"), primary_key=True
    )
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    __table_args__ = (Index("ix_intervention_flag_code", "code"),)


class ImportRun(Base):
    """The journal of imports: what was read, from where, and what became of it."""

    __tablename__ = "import_run"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(Text)
    file_name: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime())
    counts: Mapped[dict] = mapped_column(JSON, default=dict)


class ImportJob(Base):
    """An import run in the background (web upload or ``geova sync``) and the progress it writes."""

    __tablename__ = "import_job"
    __table_args__ = (Index("ix_import_job_source", "source", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # interventions, activities, quarters, zones
    origin: Mapped[str] = mapped_column(String(8))  # web or sync
    source: Mapped[str | None] = mapped_column(String(64))  # the sources file's name of the source
    file_name: Mapped[str] = mapped_column(Text)  # as uploaded or named: shown, never a path
    path: Mapped[str] = mapped_column(Text)  # the file geova stored and imports
    mapping: Mapped[str | None] = mapped_column(Text)
    options: Mapped[dict] = mapped_column(JSON, default=dict)  # layer options
    sha256: Mapped[str | None] = mapped_column(String(64))
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    phase: Mapped[str] = mapped_column(String(16))  # queued, running, storing, done, failed, skipped
    rows_done: Mapped[int] = mapped_column(Integer, default=0)
    rows_total: Mapped[int | None] = mapped_column(Integer)
    counts: Mapped[dict] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    rejects_path: Mapped[str | None] = mapped_column(Text)
    pid: Mapped[int | None] = mapped_column(Integer)


class Norm(Base):
    """A quality norm of the referential; its figures live in ``norm_target`` (versioned)."""

    __tablename__ = "norm"
    code: Mapped[str] = mapped_column(String(96), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    task_code: Mapped[str | None] = mapped_column(ForeignKey("standard_task.code"))
    norm_set: Mapped[str] = mapped_column(String(64), default="")
    label_fr: Mapped[str] = mapped_column(Text)
    label_en: Mapped[str] = mapped_column(Text)
    calendar: Mapped[str] = mapped_column(String(16), default="calendar")
    basis: Mapped[str] = mapped_column(String(16), default="rule")
    period: Mapped[str | None] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    scopes: Mapped[list] = mapped_column(JSON, default=list)


class NormTarget(Base):
    """A figure of a norm from a date on: the city default, or an override for a quarter or a zone."""

    __tablename__ = "norm_target"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    norm_code: Mapped[str] = mapped_column(ForeignKey("norm.code", ondelete="CASCADE"), index=True)
    valid_from: Mapped[date] = mapped_column(Date)
    value: Mapped[float | None] = mapped_column(Float)
    quarter_code: Mapped[str | None] = mapped_column(String(64))
    zone_code: Mapped[str | None] = mapped_column(String(64))


class Activity(Base):
    """A dated entry measured by frequency and count norms: a passage (sweeping round, bulky-item
    collection) with a location, or an event (meeting, cultural event, visit) in a quarter."""

    __tablename__ = "activity"
    __table_args__ = (UniqueConstraint("source", "source_id", name="uq_activity_source"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(128))
    source_id: Mapped[str] = mapped_column(String(128))
    category_code: Mapped[str] = mapped_column(ForeignKey("category.code"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    label: Mapped[str | None] = mapped_column(Text)
    quarter_id: Mapped[int | None] = mapped_column(ForeignKey("quarter.id", ondelete="SET NULL"))
    subquarter_id: Mapped[int | None] = mapped_column(ForeignKey("quarter.id", ondelete="SET NULL"))
    content_hash: Mapped[str] = mapped_column(String(32))
    geom = mapped_column(Geometry("POINT", srid=SRID, spatial_index=True), nullable=True)


class ActivityZone(Base):
    __tablename__ = "activity_zone"
    activity_id: Mapped[int] = mapped_column(ForeignKey("activity.id", ondelete="CASCADE"), primary_key=True)
    zone_id: Mapped[int] = mapped_column(ForeignKey("zone.id", ondelete="CASCADE"), primary_key=True)


class ShareMeasure(Base):
    """A percentage entered for a share norm, a quarter and a period (latest entry counts)."""

    __tablename__ = "share_measure"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    norm_code: Mapped[str] = mapped_column(ForeignKey("norm.code", ondelete="CASCADE"))
    quarter_code: Mapped[str] = mapped_column(String(64))
    period_start: Mapped[date] = mapped_column(Date)
    value: Mapped[float] = mapped_column(Float)
    note: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AuditEntryRow(Base):
    """One answer of the audit grid; a change adds a row, so the history is kept."""

    __tablename__ = "audit_entry"
    __table_args__ = (Index("ix_audit_entry_key", "quarter_code", "year", "task_code"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    quarter_code: Mapped[str] = mapped_column(String(64))
    year: Mapped[int] = mapped_column(Integer)
    task_code: Mapped[str] = mapped_column(String(64))
    commitment: Mapped[str | None] = mapped_column(String(16))
    respected: Mapped[str | None] = mapped_column(String(16))
    comment: Mapped[str] = mapped_column(Text, default="")
    services: Mapped[str] = mapped_column(Text, default="")
    responsible: Mapped[str] = mapped_column(Text, default="")
    resource_persons: Mapped[str] = mapped_column(Text, default="")
    obstacles: Mapped[str] = mapped_column(Text, default="")
    remedies: Mapped[str] = mapped_column(Text, default="")
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_by: Mapped[str | None] = mapped_column(Text)


class FollowUp(Base):
    """A contact with the requester recorded against a follow-up step."""

    __tablename__ = "followup"
    __table_args__ = (UniqueConstraint("intervention_id", "step", name="uq_followup_step"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    intervention_id: Mapped[int] = mapped_column(ForeignKey("intervention.id", ondelete="CASCADE"))
    step: Mapped[str] = mapped_column(String(32))
    done_at: Mapped[datetime] = mapped_column(UTCDateTime())
    note: Mapped[str | None] = mapped_column(Text)
    recorded_by: Mapped[str | None] = mapped_column(Text)


class User(Base):
    """An account of the web app. Roles, from least to most rights: correspondent, service,
    official, admin (the public needs no account)."""

    __tablename__ = "app_user"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(16))
    quarter_code: Mapped[str | None] = mapped_column(String(64))  # a correspondent's own quarter
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Bumped at logout and password change; a session cookie carries the version it was issued
    # under, so every older copy of the cookie stops working (migration 0005).
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class AccountService(Base):
    """A service account's services (migration 0015): its worklist lists their requests by
    default; an account linked to none sees every service's."""

    __tablename__ = "account_service"
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), primary_key=True)
    service_code: Mapped[str] = mapped_column(String(64), primary_key=True)


class InterventionAssignee(Base):
    """The agent a request is assigned to within its service (migration 0015): kept apart from
    the request's row, so that assigning never changes what its verdicts read."""

    __tablename__ = "intervention_assignee"
    intervention_id: Mapped[int] = mapped_column(
        ForeignKey("intervention.id", ondelete="CASCADE"), primary_key=True
    )
    assignee: Mapped[str] = mapped_column(String(64), index=True)  # an account's username
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime())
    assigned_by: Mapped[str | None] = mapped_column(String(64))


class InterventionEvent(Base):
    """What people did to a request in geova (reported, resolved, reassigned), for the record."""

    __tablename__ = "intervention_event"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    intervention_id: Mapped[int] = mapped_column(
        ForeignKey("intervention.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    username: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


class ApiKey(Base):
    """A key another system calls the JSON API and Open311 with. Only the SHA-256 of the token is
    kept: the token itself is shown once, when the key is created."""

    __tablename__ = "api_key"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Verdict(Base):
    """What a deadline norm's verdict on one request depends on, apart from the instant.

    Maintained at every write (geova.store.verdicts): the state at any instant is an expression over
    these columns (geova.store.verdict_reads), so no page re-evaluates the city. The grouping keys are
    copied from the request so that an aggregate reads one indexed table.
    """

    __tablename__ = "verdict"
    __table_args__ = (
        # no index by norm and report date, quarter or due date: the replica counts the aggregates,
        # and no page read them (migration 0018)
        # the worklist's open requests (unresolved, or resolved after the instant judged at): the
        # count and the first page from an index (migration 0016)
        Index(
            "ix_verdict_open_due",
            "norm_code",
            "due_at",
            "intervention_id",
            postgresql_include=["reported_at", "excluded"],
            postgresql_where=text("resolved_at IS NULL"),
            sqlite_where=text("resolved_at IS NULL"),
        ),
        Index("ix_verdict_norm_resolved", "norm_code", "resolved_at"),
        # the key alone: it held the dates a state is judged on for the map feed's SQL count
        # (migration 0017) until the replica counted the clusters (migration 0021)
        PrimaryKeyConstraint("intervention_id", "norm_code", name="verdict_pkey"),
    )
    # No foreign key to the request: a million-row COPY would pay a referential check per row. A
    # deleted request is queued by a trigger like a changed one, and settling removes its rows.
    intervention_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    norm_code: Mapped[str] = mapped_column(String(96), primary_key=True)
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    target_hours: Mapped[float | None] = mapped_column(Float)
    applied: Mapped[str] = mapped_column(Text, default="")
    hours_taken: Mapped[float | None] = mapped_column(Float)  # report to resolution (working hours if so)
    excluded: Mapped[bool] = mapped_column(Boolean, default=False)  # duplicate or cancelled
    quarter: Mapped[str | None] = mapped_column(String(64))  # codes, None outside the territory
    subquarter: Mapped[str | None] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(64))
    service: Mapped[str | None] = mapped_column(Text)
    channel: Mapped[str | None] = mapped_column(Text)
    month: Mapped[str] = mapped_column(String(7))  # local month of the report, YYYY-MM


class VerdictStale(Base):
    """Requests whose verdicts must be recomputed before the write commits: filled by triggers on
    the request and zone-membership tables (migration 0006), so no write path can forget one."""

    __tablename__ = "verdict_stale"
    intervention_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)


class VerdictNorm(Base):
    """The fingerprint of each deadline norm (and of the territory it was judged in) that the
    stored verdicts were computed from; a norm whose fingerprint changed is recomputed, alone."""

    __tablename__ = "verdict_norm"
    norm_code: Mapped[str] = mapped_column(String(96), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))


class VerdictLog(Base):
    """What each settle changed, by data version: one row marking the version, then the requests
    recomputed, the norms recomputed whole (``norm_code``), or ``everything``. Columnar replicas of
    the verdicts (geova.store.verdict_replica) replay it to catch up without reloading; it is pruned to the
    latest versions."""

    __tablename__ = "verdict_log"
    __table_args__ = (Index("ix_verdict_log_version", "version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    token: Mapped[str] = mapped_column(String(16))  # the version's random part (verdicts.data_version)
    intervention_id: Mapped[int | None] = mapped_column(Integer)
    norm_code: Mapped[str | None] = mapped_column(String(96))
    everything: Mapped[bool] = mapped_column(Boolean, default=False)  # replicas reload all


class MeasureDef(Base):
    """A measure the referential declares (``[[measure]]``): a named number entered per month and
    quarter (staff FTE, money, passages, fines...), which indicator formulas name."""

    __tablename__ = "measure_def"
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    label_fr: Mapped[str] = mapped_column(Text)
    label_en: Mapped[str] = mapped_column(Text)
    unit: Mapped[str | None] = mapped_column(Text)


class IndicatorDef(Base):
    """An activity, impact or resource indicator of the referential: a formula over measures."""

    __tablename__ = "indicator"
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    label_fr: Mapped[str] = mapped_column(Text)
    label_en: Mapped[str] = mapped_column(Text)
    formula: Mapped[str] = mapped_column(Text)
    unit: Mapped[str | None] = mapped_column(Text)
    position: Mapped[int] = mapped_column(Integer, default=0)


class MeasureValue(Base):
    """One entered figure: a measure for a month (its first day) and a quarter, optionally for one
    service (empty: all services). A later entry for the same key replaces the figure."""

    __tablename__ = "measure_value"
    __table_args__ = (
        UniqueConstraint("measure_code", "month", "quarter_code", "service", name="uq_measure_value"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    measure_code: Mapped[str] = mapped_column(String(64))
    month: Mapped[date] = mapped_column(Date)
    quarter_code: Mapped[str] = mapped_column(String(64))
    service: Mapped[str] = mapped_column(String(128), default="")
    value: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(Text, default="")
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_by: Mapped[str | None] = mapped_column(Text)


class ZoneEconomy(Base):
    """One economic figure of a priority commercial zone for a month (its first day): the vacancy
    rate of shop premises (%), the number of businesses or the footfall. A re-import replaces it."""

    __tablename__ = "zone_economy"
    __table_args__ = (UniqueConstraint("zone_code", "period", "indicator", name="uq_zone_economy"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    zone_code: Mapped[str] = mapped_column(String(64))
    period: Mapped[date] = mapped_column(Date)
    indicator: Mapped[str] = mapped_column(String(32))
    value: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(Text, default="")
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class QuarterAttribute(Base):
    """A quarter's population or street length (km), which impact indicators divide by."""

    __tablename__ = "quarter_attribute"
    quarter_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[float] = mapped_column(Float)


class Report(Base):
    """A published report, frozen: its figures (JSON) and its rendering in each language, as they
    were when published. A corrected version of the same scope and period gets the next number and
    a reason; every version is kept."""

    __tablename__ = "report"
    __table_args__ = (UniqueConstraint("scope", "period", "version", name="uq_report_version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(String(64))  # a quarter code, or "" for the city
    period: Mapped[str] = mapped_column(String(16))  # 2015-06, 2015-H1, 2015
    version: Mapped[int] = mapped_column(Integer)
    title_fr: Mapped[str] = mapped_column(Text)
    title_en: Mapped[str] = mapped_column(Text)
    figures: Mapped[dict] = mapped_column(JSON)
    html_fr: Mapped[str] = mapped_column(Text)
    html_en: Mapped[str] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime())
    published_by: Mapped[str | None] = mapped_column(Text)


# ---- field surveys, exploratory walks, residents' voice (migration 0010) ----------------------------


class SurveyGrid(Base):
    """A grading grid of the referential (geova.core.surveys.Grid as JSON)."""

    __tablename__ = "survey_grid"
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    definition: Mapped[dict] = mapped_column(JSON)


class SurveyNormRow(Base):
    """A survey norm of the referential (geova.core.surveys.SurveyNorm as JSON)."""

    __tablename__ = "survey_norm"
    code: Mapped[str] = mapped_column(String(96), primary_key=True)
    definition: Mapped[dict] = mapped_column(JSON)


class SurveyCampaign(Base):
    """A survey campaign: its grid, period, sample size per quarter and the seed of its draw."""

    __tablename__ = "survey_campaign"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(Text)
    grid_code: Mapped[str] = mapped_column(String(64))
    starts: Mapped[date] = mapped_column(Date)
    ends: Mapped[date] = mapped_column(Date)
    size: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(Integer)
    allocation: Mapped[dict | None] = mapped_column(JSON)  # zone kind -> transects per quarter
    example: Mapped[bool] = mapped_column(Boolean, default=False)  # demo data, labelled as such
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SurveyTransect(Base):
    __tablename__ = "survey_transect"
    __table_args__ = (UniqueConstraint("campaign_id", "position", name="uq_transect_position"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("survey_campaign.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    quarter_code: Mapped[str] = mapped_column(String(64))
    zone_kind: Mapped[str] = mapped_column(String(64))
    zone_code: Mapped[str | None] = mapped_column(String(64))
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)


class SurveyEntry(Base):
    """One grading of a transect, keyed by the id the surveyor's browser made (re-sent = same row)."""

    __tablename__ = "survey_entry"
    entry_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    transect_id: Mapped[int] = mapped_column(ForeignKey("survey_transect.id", ondelete="CASCADE"), index=True)
    grades: Mapped[dict] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)
    photo: Mapped[str | None] = mapped_column(String(64))  # file name under instance/survey_photos
    surveyor: Mapped[str | None] = mapped_column(String(64))
    graded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WalkObservation(Base):
    """An observation of an exploratory walk with residents; it may become a request."""

    __tablename__ = "walk_observation"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    walk: Mapped[str] = mapped_column(String(128), index=True)
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    category_code: Mapped[str] = mapped_column(ForeignKey("category.code"))
    note: Mapped[str | None] = mapped_column(Text)
    recorded_by: Mapped[str | None] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    intervention_id: Mapped[int | None] = mapped_column(ForeignKey("intervention.id", ondelete="SET NULL"))


class VoiceCampaign(Base):
    """A perception questionnaire for a quarter, a zone, or the city (the respondent picks a quarter)."""

    __tablename__ = "voice_campaign"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(Text)
    quarter_code: Mapped[str | None] = mapped_column(String(64))
    zone_code: Mapped[str | None] = mapped_column(String(64))
    starts: Mapped[date] = mapped_column(Date)
    ends: Mapped[date] = mapped_column(Date)
    example: Mapped[bool] = mapped_column(Boolean, default=False)


class VoiceAnswer(Base):
    __tablename__ = "voice_answer"
    __table_args__ = (UniqueConstraint("campaign_id", "respondent", name="uq_voice_respondent"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("voice_campaign.id", ondelete="CASCADE"), index=True)
    respondent: Mapped[str] = mapped_column(String(64))  # the hash of the person's signed token
    quarter_code: Mapped[str | None] = mapped_column(String(64))
    zone_code: Mapped[str | None] = mapped_column(String(64))
    cleanliness: Mapped[int | None] = mapped_column(Integer)
    safety: Mapped[int | None] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Requester(Base):
    """Who asked for a request (name, e-mail, phone), kept apart from the request so that no read of
    the request tables (public pages, feeds, Open311, exports) can carry it; only the service and
    admin roles read it (geova.store.requesters). Erasure blanks the contact and keeps ``erased_at``."""

    __tablename__ = "requester"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    intervention_id: Mapped[int] = mapped_column(
        ForeignKey("intervention.id", ondelete="CASCADE"), unique=True
    )
    name: Mapped[str | None] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(Text)
    lang: Mapped[str] = mapped_column(String(2))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class MailOutbox(Base):
    """An e-mail to a requester (resolution notice, follow-up step), sent with retries
    (geova.store.outbox); one per request and kind, so a notice is never sent twice."""

    __tablename__ = "mail_outbox"
    __table_args__ = (
        UniqueConstraint("intervention_id", "kind", name="uq_mail_outbox_kind"),
        Index("ix_mail_outbox_state", "state", "next_attempt_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    intervention_id: Mapped[int | None] = mapped_column(ForeignKey("intervention.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(16))
    to_addr: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    lang: Mapped[str] = mapped_column(String(2))
    state: Mapped[str] = mapped_column(String(8))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
