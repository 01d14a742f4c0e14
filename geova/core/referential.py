"""The OVA referential as plain data: fields of action, standard tasks, categories, norms.

Parsed from a TOML file that a city can edit; the codes are the stable keys that keep quarters and
cities comparable when labels change.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from geova.core.norms import Norm, norm_from_dict

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


def parse_referential(text: str, origin: str = "referential") -> Referential:
    raw = tomllib.loads(text)
    fields, tasks, categories = [], [], []
    for fpos, f in enumerate(raw.get("field", []), start=1):
        fields.append(FieldDef(f["code"], f["label_fr"], f["label_en"], fpos))
        for tpos, t in enumerate(f.get("task", []), start=1):
            tasks.append(TaskDef(t["code"], f["code"], t["label_fr"], t["label_en"], tpos))
    task_codes = {t.code for t in tasks}
    for c in raw.get("category", []):
        task = c.get("task")
        if task is not None and task not in task_codes:
            raise ValueError(f"{origin}: category '{c['code']}' names unknown task '{task}'")
        categories.append(CategoryDef(c["code"], task, c["label_fr"], c["label_en"]))
    norms = [norm_from_dict(n, origin) for n in raw.get("norm", [])]
    for kind, items in (("field", fields), ("task", tasks), ("category", categories), ("norm", norms)):
        codes = [i.code for i in items]
        dupes = {c for c in codes if codes.count(c) > 1}
        if dupes:
            raise ValueError(f"{origin}: {kind} codes used twice: {', '.join(sorted(dupes))}")
    return Referential(fields, tasks, categories, norms)


def load_referential(path: Path = DEFAULT_REFERENTIAL) -> Referential:
    return parse_referential(path.read_text(encoding="utf-8"), origin=str(path))
