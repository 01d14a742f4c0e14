"""The OVA referential as plain data: fields of action, standard tasks, categories, norms.

Read from a TOML file that a city can edit (geova.io.referential_file validates it); the codes are
the stable keys that keep quarters and cities comparable when labels change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from geova.core.indicators import IndicatorDef, MeasureDef
from geova.core.norms import Norm
from geova.core.routing import RouteRule, ServiceDef
from geova.core.surveys import Grid, SurveyNorm

DEFAULT_REFERENTIAL = Path(__file__).resolve().parents[2] / "data" / "referential.toml"


@dataclass(frozen=True)
class TaskDef:
    code: str
    field_code: str
    label_fr: str
    label_en: str
    position: int


@dataclass(frozen=True)
class FieldDef:
    code: str
    label_fr: str
    label_en: str
    position: int


@dataclass(frozen=True)
class CategoryDef:
    code: str
    task_code: str | None
    label_fr: str
    label_en: str


@dataclass(frozen=True)
class Referential:
    fields: list[FieldDef]
    tasks: list[TaskDef]
    categories: list[CategoryDef]
    norms: list[Norm] = field(default_factory=list)
    measures: list[MeasureDef] = field(default_factory=list)
    indicators: list[IndicatorDef] = field(default_factory=list)
    grids: list[Grid] = field(default_factory=list)  # field-survey grading grids
    survey_norms: list[SurveyNorm] = field(default_factory=list)
    services: list[ServiceDef] = field(default_factory=list)
    routes: list[RouteRule] = field(default_factory=list)
    default_service: str | None = None
    # per status, how Open311 and FixMyStreet name it (geova.core.lifecycle.DEFAULT_MAPPING's overrides)
    status_mapping: dict[str, dict[str, str]] = field(default_factory=dict)
    origin: str = ""  # the file's name: its routing rules replace those it loaded before
