"""The referential file (data/referential.toml, or a city's extra norms): read and validated whole.

A data officer edits this file by hand, so every mistake is reported at once, each with the
table, its code, the key and the line (``[[norm]] 'x' (line 12), key 'kind': ...``), instead of
the first Python exception met. TOML parsers keep no line numbers once parsed, so the line of a
table is found again in the text: the n-th ``[[norm]]`` header is the n-th norm.
"""

from __future__ import annotations

import re
import tomllib
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from geova.core.indicators import (
    ATTRIBUTES,
    FormulaError,
    IndicatorDef,
    IndicatorKind,
    MeasureDef,
    derived_names,
    formula_names,
)
from geova.core.lifecycle import FIXMYSTREET_VALUES, LIFECYCLE, OPEN311_VALUES, fixmystreet_status
from geova.core.norms import Basis, Calendar, NormKind, Period, norm_from_dict
from geova.core.referential import CategoryDef, FieldDef, Referential, TaskDef
from geova.core.routing import RouteRule, ServiceDef
from geova.core.surveys import ANY, DEFAULT_GRID, Grid, SurveyNorm, grid_from_dict, survey_norm_from_dict
from geova.io.errors import ImportFailure
from geova.io.toml_text import pydantic_message, read_toml_text

Loc = tuple[str | int, ...]  # a key's path in the file, as pydantic gives it: ("norm", 3, "kind")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class TaskModel(_Strict):
    code: str = Field(min_length=1, max_length=64)
    label_fr: str
    label_en: str


class FieldModel(_Strict):
    code: str = Field(min_length=1, max_length=64)
    label_fr: str
    label_en: str
    task: list[TaskModel] = Field(default_factory=list)


class CategoryModel(_Strict):
    code: str = Field(min_length=1, max_length=64)
    label_fr: str
    label_en: str
    task: str | None = None  # a task of this file or one already in the store


class ScopeModel(_Strict):
    categories: list[str] = Field(default_factory=list)
    insulting: bool | None = None
    severities: list[str] = Field(default_factory=list)
    zone_kinds: list[str] = Field(default_factory=list)
    exclude_zone_kinds: list[str] = Field(default_factory=list)
    zones: list[str] = Field(default_factory=list)
    quarters: list[str] = Field(default_factory=list)


class TargetModel(_Strict):
    from_: date = Field(alias="from")
    value: float | None = None
    quarter: str | None = None
    zone: str | None = None


class NormModel(_Strict):
    code: str = Field(min_length=1, max_length=64)
    kind: NormKind
    task: str = ""
    set: str = ""
    label_fr: str | None = None
    label_en: str | None = None
    calendar: Calendar = Calendar.CALENDAR
    deadline: Basis = Basis.RULE
    period: Period | None = None
    active: bool = True
    value: float | None = None
    from_: date | None = Field(None, alias="from")
    scope: list[ScopeModel] = Field(default_factory=list)
    target: list[TargetModel] = Field(default_factory=list)

    @model_validator(mode="after")
    def _complete(self) -> NormModel:
        if self.kind is not NormKind.SHARE and not self.scope:
            raise ValueError("no [[norm.scope]] saying what the norm covers")
        if self.kind is not NormKind.DEADLINE and self.period is None:
            raise ValueError(
                f"a {self.kind} norm needs a period (week, fortnight, month, quarter_year, year)"
            )
        return self


MEASURE_CODE = r"^[A-Za-z_][A-Za-z0-9_]*$"  # a name a formula can use


class MeasureModel(_Strict):
    code: str = Field(min_length=1, max_length=64, pattern=MEASURE_CODE)
    label_fr: str
    label_en: str
    unit: str | None = None


class IndicatorModel(_Strict):
    code: str = Field(min_length=1, max_length=64)
    kind: IndicatorKind
    label_fr: str
    label_en: str
    formula: str = Field(min_length=1)
    unit: str | None = None

    @field_validator("formula")
    @classmethod
    def _safe(cls, value: str) -> str:
        try:
            formula_names(value)
        except FormulaError as exc:
            raise ValueError(str(exc)) from None
        return value


class ElementModel(_Strict):
    code: str = Field(min_length=1, max_length=64)
    label_fr: str
    label_en: str


class SurveyGridModel(_Strict):
    """A field-survey grid: grades from best to worst, the acceptable grade, the elements graded."""

    code: str = Field(min_length=1, max_length=64)
    label_fr: str
    label_en: str
    grades: list[str] = Field(min_length=2, max_length=20)
    acceptable: str
    element: list[ElementModel] = Field(min_length=1)

    @field_validator("grades")
    @classmethod
    def _distinct_grades(cls, grades: list[str]) -> list[str]:
        if len(set(grades)) != len(grades) or any(not g for g in grades):
            raise ValueError("each grade once, none empty")
        return grades

    @field_validator("acceptable")
    @classmethod
    def _known_grade(cls, acceptable: str, info: ValidationInfo) -> str:
        grades = info.data.get("grades")
        if grades is not None and acceptable not in grades:
            raise ValueError(f"'{acceptable}' is not one of the grades {', '.join(grades)}")
        return acceptable

    @field_validator("element")
    @classmethod
    def _distinct_elements(cls, elements: list[ElementModel]) -> list[ElementModel]:
        codes = [e.code for e in elements]
        if len(set(codes)) != len(codes) or ANY in codes:
            raise ValueError(f"element codes must be distinct and not '{ANY}'")
        return elements


class SurveyNormModel(_Strict):
    """A survey norm: at most ``max_share`` % of transects below the acceptable grade."""

    code: str = Field(min_length=1, max_length=96)
    grid: str = Field(min_length=1)
    label_fr: str
    label_en: str
    max_share: float = Field(ge=0, le=100)
    element: str = ANY
    zone_kinds: list[str] = Field(default_factory=list)
    quarters: list[str] = Field(default_factory=list)
    min_transects: int = Field(10, ge=1)


class ServiceModel(_Strict):
    """A service requests are routed to: its display names and contact, and the codes source
    systems give it (Boston's QUEUE values), which imports map onto its code."""

    code: str = Field(min_length=1, max_length=64)
    label_fr: str = Field(min_length=1)
    label_en: str = Field(min_length=1)
    email: str | None = Field(None, pattern=r"^[^@\s]+@[^@\s]+$")
    queues: list[str] = Field(default_factory=list)


class RouteModel(_Strict):
    """Requests of ``category`` (any when absent) in one place (a zone, a zone kind or a quarter;
    anywhere when none) go to ``service``."""

    service: str = Field(min_length=1)
    category: str | None = None
    quarter: str | None = None
    zone_kind: str | None = None
    zone: str | None = None

    @model_validator(mode="after")
    def _one_place(self) -> RouteModel:
        if sum(v is not None for v in (self.quarter, self.zone_kind, self.zone)) > 1:
            raise ValueError("a route names at most one of quarter, zone_kind, zone")
        return self


class RoutingModel(_Strict):
    default: str | None = None  # the service of a request no route matches


class SystemStatuses(_Strict):
    open311: str | None = None
    fixmystreet: str | None = None

    @field_validator("open311")
    @classmethod
    def _open311(cls, value: str | None) -> str | None:
        if value is not None and value not in OPEN311_VALUES:
            raise ValueError(f"open311 must be one of {', '.join(OPEN311_VALUES)}, not '{value}'")
        return value

    @field_validator("fixmystreet")
    @classmethod
    def _fixmystreet(cls, value: str | None) -> str | None:
        """One of FixMyStreet's extended statuses (any case; its older problem-state names too)."""
        if value is None:
            return None
        code = fixmystreet_status(value)
        if code is None or code not in FIXMYSTREET_VALUES:
            raise ValueError(
                f"'{value}' is not one of FixMyStreet's statuses {', '.join(FIXMYSTREET_VALUES)}"
            )
        return code


class ReferentialFile(_Strict):
    field: list[FieldModel] = Field(default_factory=list)
    category: list[CategoryModel] = Field(default_factory=list)
    norm: list[NormModel] = Field(default_factory=list)
    measure: list[MeasureModel] = Field(default_factory=list)
    indicator: list[IndicatorModel] = Field(default_factory=list)
    survey_grid: list[SurveyGridModel] = Field(default_factory=list)
    survey_norm: list[SurveyNormModel] = Field(default_factory=list)
    service: list[ServiceModel] = Field(default_factory=list)
    route: list[RouteModel] = Field(default_factory=list)
    routing: RoutingModel = Field(default_factory=RoutingModel)
    status_mapping: dict[str, SystemStatuses] = Field(default_factory=dict)

    @field_validator("status_mapping")
    @classmethod
    def _statuses(cls, value: dict[str, SystemStatuses]) -> dict[str, SystemStatuses]:
        unknown = sorted(set(value) - {s.value for s in LIFECYCLE})
        if unknown:
            raise ValueError(
                f"unknown status {', '.join(unknown)} (statuses: {', '.join(s.value for s in LIFECYCLE)})"
            )
        return value


def read_referential(path: Path, known_names: frozenset[str] | set[str] = frozenset()) -> Referential:
    """The file's fields, tasks, categories, norms, measures and indicators, or an ImportFailure
    listing every problem.

    Codes that must exist elsewhere (a category's task may be one already stored) are checked
    against the store by the caller (geova.store.referential.unknown_codes). An indicator's formula
    may name the file's measures, the measures counted from requests (also per category of the
    file), the quarter attributes, and ``known_names`` (the store's measures and categories' names).
    """
    raw = read_toml_text(path, "referential file")[1]
    try:
        model = ReferentialFile.model_validate(raw)
    except ValidationError as exc:
        raise refusal(path, [(tuple(e["loc"]), pydantic_message(e)) for e in exc.errors()]) from exc
    fields: list[FieldDef] = []
    tasks: list[TaskDef] = []
    for fpos, f in enumerate(model.field, start=1):
        fields.append(FieldDef(f.code, f.label_fr, f.label_en, fpos))
        tasks.extend(TaskDef(t.code, f.code, t.label_fr, t.label_en, pos) for pos, t in enumerate(f.task, 1))
    categories = [CategoryDef(c.code, c.task, c.label_fr, c.label_en) for c in model.category]
    norms = []
    for i, n in enumerate(model.norm):
        try:
            norms.append(norm_from_dict(n.model_dump(by_alias=True, exclude_unset=True), str(path)))
        except ValueError as exc:  # what the model let through and the norm engine refuses
            raise refusal(path, [(("norm", i), str(exc).removeprefix(f"{path}: "))]) from exc
    measures = [MeasureDef(m.code, m.label_fr, m.label_en, m.unit) for m in model.measure]
    indicators = [
        IndicatorDef(i.code, i.kind, i.label_fr, i.label_en, i.formula, i.unit, pos)
        for pos, i in enumerate(model.indicator, start=1)
    ]
    services = [ServiceDef(v.code, v.label_fr, v.label_en, v.email, tuple(v.queues)) for v in model.service]
    routes = [
        RouteRule(r.service, r.category, r.quarter, r.zone_kind, r.zone, position)
        for position, r in enumerate(model.route)
    ]
    mapping = {k: v.model_dump(exclude_none=True) for k, v in model.status_mapping.items()}
    problems: list[tuple[Loc, str]] = []
    allowed = {m.code for m in measures} | derived_names(c.code for c in categories) | set(ATTRIBUTES)
    allowed |= set(known_names)
    for i, ind in enumerate(indicators):
        unknown = [n for n in formula_names(ind.formula) if n not in allowed]
        if unknown:
            problems.append(
                (("indicator", i, "formula"), f"unknown measure {', '.join(repr(n) for n in unknown)}")
            )
    grids: list[Grid] = [grid_from_dict(g.model_dump()) for g in model.survey_grid]
    survey_norms: list[SurveyNorm] = [survey_norm_from_dict(n.model_dump()) for n in model.survey_norm]
    problems.extend(_survey_problems(grids, survey_norms))
    for table, codes in (
        ("service", [v.code for v in services]),
        ("field", [f.code for f in fields]),
        ("field.task", [t.code for t in tasks]),
        ("category", [c.code for c in categories]),
        ("norm", [n.code for n in norms]),
        ("measure", [m.code for m in measures]),
        ("indicator", [i.code for i in indicators]),
        ("survey_grid", [g.code for g in grids]),
        ("survey_norm", [n.code for n in survey_norms]),
    ):
        seen: set[str] = set()
        for i, code in enumerate(codes):
            if code in seen:
                problems.append((_dupe_loc(table, i, raw), f"code '{code}' used twice"))
            seen.add(code)
    if problems:
        raise refusal(path, problems)
    return Referential(
        fields,
        tasks,
        categories,
        norms,
        measures,
        indicators,
        grids=grids,
        survey_norms=survey_norms,
        services=services,
        routes=routes,
        default_service=model.routing.default,
        status_mapping=mapping,
        origin=path.name,
    )


def _survey_problems(grids: list[Grid], norms: list[SurveyNorm]) -> list[tuple[Loc, str]]:
    """A survey norm's grid must be a grid of this file or the default ('cop'), its element one
    of that grid's."""

    known = {DEFAULT_GRID.code: DEFAULT_GRID} | {g.code: g for g in grids}
    problems: list[tuple[Loc, str]] = []
    for i, n in enumerate(norms):
        grid = known.get(n.grid)
        if grid is None:
            problems.append(
                (("survey_norm", i, "grid"), f"unknown grid '{n.grid}' (one of {', '.join(known)})")
            )
        elif n.element != ANY and n.element not in {e.code for e in grid.elements}:
            problems.append((("survey_norm", i, "element"), f"grid '{n.grid}' has no element '{n.element}'"))
    return problems


def _dupe_loc(table: str, index: int, raw: dict[str, Any]) -> Loc:
    if table != "field.task":
        return (table, index, "code")
    for f_index, f in enumerate(raw.get("field", [])):  # the index-th task across every field
        if index < len(f.get("task", [])):
            return ("field", f_index, "task", index, "code")
        index -= len(f.get("task", []))
    return ("field",)


def refusal(path: Path, problems: list[tuple[Loc, str]]) -> ImportFailure:
    """One ImportFailure naming every problem with its table, code, line and key."""
    try:
        text = path.read_text(encoding="utf-8")
        raw = tomllib.loads(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        text, raw = "", {}
    lines = text.splitlines()
    said = "; ".join(f"{where(loc, raw, lines)}: {msg}" for loc, msg in problems)
    return ImportFailure(str(path), f"invalid referential: {said}")


def where(loc: Loc, raw: dict[str, Any], lines: list[str]) -> str:
    """``[[norm]] 'code' (line 12), key 'kind'`` for ("norm", 3, "kind"); ``[status_mapping]
    (line 40), key 'rejected.fixmystreet' (line 45)`` for a key of a plain table."""
    if loc and isinstance(loc[0], str) and isinstance(raw.get(loc[0]), dict):
        return _in_table(loc, lines)
    parts: list[str] = []
    header = ""
    start = 0  # the line (0-based) of the table met so far
    node: Any = raw
    i = 0
    found = True
    while i + 1 < len(loc) and isinstance(loc[i], str) and isinstance(loc[i + 1], int):
        name, index = str(loc[i]), int(loc[i + 1])
        header = f"{header}.{name}" if header else name
        node = node.get(name, []) if isinstance(node, dict) else []
        node = node[index] if index < len(node) else {}
        line = _nth_header(lines, header, index, start) if found else None
        found = line is not None
        start = line if line is not None else start
        code = node.get("code") if isinstance(node, dict) else None
        label = f"[[{header}]] " + (f"'{code}'" if code else f"#{index + 1}")
        parts.append(label + (f" (line {start + 1})" if found else ""))
        i += 2
    keys = [str(k) for k in loc[i:]]
    if keys:
        key = ".".join(keys)
        line = _key_line(lines, keys[0], start) if found and parts else None
        parts.append(f"key '{key}'" + (f" (line {line + 1})" if line is not None else ""))
    return ", ".join(parts) or "(top)"


def _in_table(loc: Loc, lines: list[str]) -> str:
    """Where a key of a plain table (``[routing]``, ``[status_mapping]``) is, with its lines."""
    name = str(loc[0])
    pattern = re.compile(rf"^\s*\[\s*{re.escape(name)}\s*\]")
    start = next((n for n, text in enumerate(lines) if pattern.match(text)), None)
    said = f"[{name}]" + (f" (line {start + 1})" if start is not None else "")
    keys = [str(k) for k in loc[1:]]
    if not keys:
        return said
    line = _key_line(lines, keys[0], start) if start is not None else None
    return f"{said}, key '{'.'.join(keys)}'" + (f" (line {line + 1})" if line is not None else "")


def _nth_header(lines: list[str], header: str, index: int, start: int) -> int | None:
    """The line of the index-th ``[[header]]`` after ``start``, or None (inline tables)."""
    pattern = re.compile(rf"^\s*\[\[\s*{re.escape(header)}\s*\]\]")
    seen = -1
    parent = header.rsplit(".", 1)[0] if "." in header else None
    parent_pattern = re.compile(rf"^\s*\[\[\s*{re.escape(parent)}\s*\]\]") if parent else None
    for n in range(start, len(lines)):
        if parent_pattern is not None and n > start and parent_pattern.match(lines[n]):
            return None  # past the parent table: its sub-tables are not written as headers
        if pattern.match(lines[n]):
            seen += 1
            if seen == index:
                return n
    return None


def _key_line(lines: list[str], key: str, start: int) -> int | None:
    """The line of ``key = ...`` in the table starting at ``start`` (before the next header)."""
    pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
    for n in range(start + 1, len(lines)):
        if lines[n].lstrip().startswith("["):
            return None
        if pattern.match(lines[n]):
            return n
    return None
