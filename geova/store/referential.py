"""The referential in the store: upsert by code, so a city's own additions are never deleted.

Norm targets are versioned history: reloading a referential adds new targets and corrects the
figure of an existing one (same date, same quarter or zone) but never removes one, so past
evaluations can always be reproduced.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import date

from sqlalchemy import Connection, delete, select

from geova.core.indicators import derived_names
from geova.core.lifecycle import mapping_with
from geova.core.model import ZoneKind
from geova.core.norms import Norm, NormKind, Scope, Target, norm_from_dict
from geova.core.referential import Referential
from geova.core.routing import RouteRule, ServiceDef
from geova.store.schema import (
    Category,
    FieldOfAction,
    IndicatorDef,
    MeasureDef,
    NormTarget,
    Quarter,
    RoutingRule,
    Service,
    StandardTask,
    Zone,
)
from geova.store.schema import Norm as NormRow
from geova.store.status import set_setting, settings
from geova.store.survey_grids import store_survey_referential

DEFAULT_SERVICE = "default_service"  # a city file's [routing] default (the last loaded)
BASE_DEFAULT_SERVICE = "base_default_service"  # the referential's own, used when no city file names one
BASE_ORIGIN = ""  # the routing rules of the referential itself (GEOVA_REFERENTIAL)
STATUS_MAPPING = "status_mapping"  # a city file's entries (over the base's)
BASE_STATUS_MAPPING = "base_status_mapping"


def _upsert(conn: Connection, table, key: str, values: dict) -> bool:
    """Insert or update one row by its code; True when inserted."""
    if conn.execute(select(table.c[key]).where(table.c[key] == values[key])).first():
        conn.execute(table.update().where(table.c[key] == values[key]).values(**values))
        return False
    conn.execute(table.insert().values(**values))
    return True


def _scope_json(scope: Scope) -> dict:
    return {
        k: (sorted(v) if isinstance(v, frozenset) else v)
        for k, v in asdict(scope).items()
        if v not in (None, frozenset())
    }


def store_referential(conn: Connection, ref: Referential, *, base: bool = False) -> dict[str, int]:
    """Store a referential file: the city's referential itself (``base``, GEOVA_REFERENTIAL) or a
    city's own additions (e.g. data/boston/norms.toml), whose routing wins over the base's."""
    counts = {"fields": 0, "tasks": 0, "categories": 0, "norms": 0, "targets": 0, "indicators": 0}
    for key, model, items in (
        ("fields", FieldOfAction, ref.fields),
        ("tasks", StandardTask, ref.tasks),
        ("categories", Category, ref.categories),
    ):
        for item in items:
            counts[key] += _upsert(conn, model.__table__, "code", dict(item.__dict__))
    for norm in ref.norms:
        counts["norms"] += _upsert(
            conn,
            NormRow.__table__,
            "code",
            {
                "code": norm.code,
                "kind": norm.kind.value,
                "task_code": norm.task or None,
                "norm_set": norm.norm_set,
                "label_fr": norm.label_fr,
                "label_en": norm.label_en,
                "calendar": norm.calendar.value,
                "basis": norm.basis.value,
                "period": norm.period.value if norm.period else None,
                "active": norm.active,
                "scopes": [_scope_json(s) for s in norm.scopes],
            },
        )
        for target in norm.targets:
            counts["targets"] += add_target(conn, norm.code, target)
    for m in ref.measures:
        _upsert(conn, MeasureDef.__table__, "code", dict(m.__dict__))
    for ind in ref.indicators:
        counts["indicators"] += _upsert(
            conn, IndicatorDef.__table__, "code", {**ind.__dict__, "kind": ind.kind.value}
        )
    if ref.grids or ref.survey_norms:
        counts["survey"] = store_survey_referential(conn, ref.grids, ref.survey_norms)
    counts.update(_store_routing(conn, ref, base))
    return counts


def formula_names_known(conn: Connection) -> set[str]:
    """The measure names an indicator of a city's extra file may use besides its own: the stored
    measures, and the counts of the stored categories."""
    measures = set(conn.execute(select(MeasureDef.__table__.c.code)).scalars())
    return measures | derived_names(category_codes(conn))


def _store_routing(conn: Connection, ref: Referential, base: bool) -> dict[str, int]:
    """The file's services (upserted by code), its routing rules (replacing those the same file
    loaded before), its default service and its status mapping (merged over the stored one; the
    base's entries never override a city file's)."""
    counts = {"services": 0, "routes": 0}
    for position, svc in enumerate(ref.services):
        values = {
            "code": svc.code,
            "label_fr": svc.label_fr,
            "label_en": svc.label_en,
            "email": svc.email,
            "queues": list(svc.queues),
            "position": position,
        }
        counts["services"] += _upsert(conn, Service.__table__, "code", values)
    rt = RoutingRule.__table__
    origin = BASE_ORIGIN if base else ref.origin or "city"
    conn.execute(delete(rt).where(rt.c.origin == origin))
    if ref.routes:
        conn.execute(
            rt.insert(),
            [
                {
                    "origin": origin,
                    "position": r.position,
                    "service_code": r.service,
                    "category_code": r.category,
                    "quarter_code": r.quarter,
                    "zone_kind": r.zone_kind,
                    "zone_code": r.zone,
                }
                for r in ref.routes
            ],
        )
        counts["routes"] = len(ref.routes)
    if ref.default_service:
        set_setting(conn, BASE_DEFAULT_SERVICE if base else DEFAULT_SERVICE, ref.default_service)
    if ref.status_mapping:
        key = BASE_STATUS_MAPPING if base else STATUS_MAPPING
        stored = json.loads(settings(conn).get(key) or "{}")
        for status, systems in ref.status_mapping.items():
            stored.setdefault(status, {}).update(systems)
        set_setting(conn, key, json.dumps(stored, sort_keys=True))
    return counts


def services(conn: Connection) -> list[ServiceDef]:
    """The referential's services, in the order their files list them."""
    t = Service.__table__
    return [
        ServiceDef(r.code, r.label_fr, r.label_en, r.email, tuple(r.queues or ()))
        for r in conn.execute(select(t).order_by(t.c.position, t.c.code))
    ]


def routing(conn: Connection) -> tuple[list[RouteRule], str | None]:
    """(the routing rules, the default service)."""
    t = Service.__table__
    rt = RoutingRule.__table__
    # several files' rules: at equal specificity, a city's own files' first (the one loaded last
    # first), the referential's own last, each file's in its own order
    rows = list(conn.execute(select(rt).order_by(rt.c.id)).all())
    loaded = {r.origin: r.id for r in rows}  # the last id of each file's rules
    rows.sort(key=lambda r: (r.origin == BASE_ORIGIN, -loaded[r.origin], r.position, r.id))
    rules = [
        RouteRule(r.service_code, r.category_code, r.quarter_code, r.zone_kind, r.zone_code, n)
        for n, r in enumerate(rows)
    ]
    stored = settings(conn)
    default = stored.get(DEFAULT_SERVICE) or stored.get(BASE_DEFAULT_SERVICE) or None
    if default is None:  # no default named: the first service listed
        default = conn.execute(select(t.c.code).order_by(t.c.position, t.c.code).limit(1)).scalar()
    return rules, default


def status_mapping(conn: Connection) -> dict[str, dict[str, str]]:
    """How Open311 and FixMyStreet name each status (defaults with the referential's overrides)."""
    stored = settings(conn)
    merged = json.loads(stored.get(BASE_STATUS_MAPPING) or "{}")
    for status, systems in json.loads(stored.get(STATUS_MAPPING) or "{}").items():
        merged.setdefault(status, {}).update(systems)
    return mapping_with(merged)


def add_target(conn: Connection, norm_code: str, target: Target) -> bool:
    """Record a figure from a date (city default or override); True when it is a new version."""
    t = NormTarget.__table__
    where = (
        (t.c.norm_code == norm_code)
        & (t.c.valid_from == target.valid_from)
        & (t.c.quarter_code.is_(None) if target.quarter is None else t.c.quarter_code == target.quarter)
        & (t.c.zone_code.is_(None) if target.zone is None else t.c.zone_code == target.zone)
    )
    if conn.execute(select(t.c.id).where(where)).first():
        conn.execute(t.update().where(where).values(value=target.value))
        return False
    conn.execute(
        t.insert().values(
            norm_code=norm_code,
            valid_from=target.valid_from,
            value=target.value,
            quarter_code=target.quarter,
            zone_code=target.zone,
        )
    )
    return True


def load_norms(conn: Connection, codes: list[str] | None = None, active_only: bool = False) -> list[Norm]:
    n, t = NormRow.__table__, NormTarget.__table__
    q = select(n).order_by(n.c.code)
    if codes:
        q = q.where(n.c.code.in_(codes))
    if active_only:
        q = q.where(n.c.active.is_(True))
    rows = conn.execute(q).all()
    targets: dict[str, list[Target]] = {}
    for r in conn.execute(select(t).order_by(t.c.valid_from, t.c.id)):
        vf = r.valid_from if isinstance(r.valid_from, date) else date.fromisoformat(str(r.valid_from))
        targets.setdefault(r.norm_code, []).append(Target(vf, r.value, r.quarter_code, r.zone_code))
    norms = []
    for r in rows:
        raw = {
            "code": r.code,
            "kind": r.kind,
            "task": r.task_code or "",
            "set": r.norm_set,
            "label_fr": r.label_fr,
            "label_en": r.label_en,
            "calendar": r.calendar,
            "deadline": r.basis,
            "period": r.period,
            "active": r.active,
            "scope": r.scopes,
            "target": [
                {"from": x.valid_from, "value": x.value, "quarter": x.quarter, "zone": x.zone}
                for x in targets.get(r.code, [])
            ],
        }
        norms.append(norm_from_dict(raw, origin="store"))
    return norms


def unknown_codes(
    conn: Connection, ref: Referential, *, places: bool = True
) -> list[tuple[tuple[str | int, ...], str]]:
    """What ``ref`` names that neither it nor the store defines, each with its key's path in the file
    (("norm", 3, "scope", 0, "categories"), message), so that nothing is stored that covers nothing.

    Tasks and categories may come from the file or the store. Zone kinds are the OVA's own
    (geova.core.model.ZoneKind) or those of stored zones. With ``places``, quarters and zones named
    by scopes and overrides must be stored: true for a city's extra norms, loaded after its layers;
    false for the main referential, loaded before any layer exists.
    """
    tasks = {t.code for t in ref.tasks} | set(conn.execute(select(StandardTask.__table__.c.code)).scalars())
    cats = {c.code for c in ref.categories} | category_codes(conn)
    zone_table, quarter_table = Zone.__table__, Quarter.__table__
    zone_kinds = {k.value for k in ZoneKind} | set(
        conn.execute(select(zone_table.c.kind).distinct()).scalars()
    )
    quarters = set(conn.execute(select(quarter_table.c.code)).scalars())
    zones = set(conn.execute(select(zone_table.c.code)).scalars())
    problems: list[tuple[tuple[str | int, ...], str]] = []
    service_codes = {v.code for v in ref.services} | set(
        conn.execute(select(Service.__table__.c.code)).scalars()
    )
    for i, r in enumerate(ref.routes):
        if r.service not in service_codes:
            problems.append((("route", i, "service"), f"unknown service '{r.service}'"))
        if r.category is not None and r.category not in cats:
            problems.append((("route", i, "category"), f"unknown category '{r.category}'"))
        if r.zone_kind is not None and r.zone_kind not in zone_kinds:
            problems.append((("route", i, "zone_kind"), f"unknown zone kind '{r.zone_kind}'"))
        if places and r.quarter is not None and r.quarter not in quarters:
            problems.append((("route", i, "quarter"), f"unknown quarter '{r.quarter}'"))
        if places and r.zone is not None and r.zone not in zones:
            problems.append((("route", i, "zone"), f"unknown zone '{r.zone}'"))
    if ref.default_service and ref.default_service not in service_codes:
        problems.append((("routing", "default"), f"unknown service '{ref.default_service}'"))
    for i, c in enumerate(ref.categories):
        if c.task_code is not None and c.task_code not in tasks:
            problems.append((("category", i, "task"), f"unknown task '{c.task_code}'"))
    for i, n in enumerate(ref.norms):
        if n.task and n.task not in tasks:
            problems.append((("norm", i, "task"), f"unknown task '{n.task}'"))
        for j, s in enumerate(n.scopes):
            checks = [
                ("categories", s.categories, cats, "category"),
                ("zone_kinds", s.zone_kinds, zone_kinds, "zone kind"),
            ]
            checks.append(("exclude_zone_kinds", s.exclude_zone_kinds, zone_kinds, "zone kind"))
            if places:
                checks += [("quarters", s.quarters, quarters, "quarter"), ("zones", s.zones, zones, "zone")]
            for key, named, known, what in checks:
                missing = sorted(set(named) - known)
                if missing:
                    problems.append(
                        (
                            ("norm", i, "scope", j, key),
                            f"unknown {what} " + ", ".join(f"'{m}'" for m in missing),
                        )
                    )
        if places:
            for t in n.targets:
                if t.quarter is not None and t.quarter not in quarters:
                    problems.append((("norm", i, "target"), f"override for unknown quarter '{t.quarter}'"))
                if t.zone is not None and t.zone not in zones:
                    problems.append((("norm", i, "target"), f"override for unknown zone '{t.zone}'"))
    return problems


def category_codes(conn: Connection) -> set[str]:
    return set(conn.execute(select(Category.__table__.c.code)).scalars())


def deadline_norms(conn: Connection, active_only: bool = True) -> list[Norm]:
    """The deadline norms (active ones only, by default), by code."""
    return [n for n in load_norms(conn, active_only=active_only) if n.kind is NormKind.DEADLINE]


def headline_norm(conn: Connection) -> Norm | None:
    """The norm pages, feeds and APIs judge by when none is asked for: the territory's setting
    ``headline_norm`` when it names an active deadline norm, else the first one by code."""
    norms = {n.code: n for n in deadline_norms(conn)}
    if not norms:
        return None
    return norms.get(settings(conn).get("headline_norm") or "") or norms[sorted(norms)[0]]
