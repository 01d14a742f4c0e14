"""The referential in the store: upsert by code, so a city's own additions are never deleted.

Norm targets are versioned history: reloading a referential adds new targets and corrects the
figure of an existing one (same date, same quarter or zone) but never removes one, so past
evaluations can always be reproduced.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date

from sqlalchemy import Connection, select

from geova.core.indicators import derived_names
from geova.core.model import ZoneKind
from geova.core.norms import Norm, NormKind, Scope, Target, norm_from_dict
from geova.core.referential import Referential
from geova.store.schema import (
    Category,
    FieldOfAction,
    IndicatorDef,
    MeasureDef,
    NormTarget,
    Quarter,
    StandardTask,
    Zone,
)
from geova.store.schema import Norm as NormRow
from geova.store.status import settings
from geova.store.survey_grids import store_survey_referential


def _upsert(conn: Connection, table, key: str, values: dict) -> bool:  # type: ignore[no-untyped-def]
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


def store_referential(conn: Connection, ref: Referential) -> dict[str, int]:
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
    return counts


def formula_names_known(conn: Connection) -> set[str]:
    """The measure names an indicator of a city's extra file may use besides its own: the stored
    measures, and the counts of the stored categories."""
    measures = set(conn.execute(select(MeasureDef.__table__.c.code)).scalars())
    return measures | derived_names(category_codes(conn))


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
