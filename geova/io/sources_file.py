"""The sources file of ``geova sync``: where each of the city's exports is, and how to import it.

```toml
[[source]]
name = "graffiti"                       # unique; the store remembers its last content by this name
path = "/srv/exports/graffiti.csv"      # or url = "https://intranet.example/exports/graffiti.csv"
kind = "interventions"                  # interventions, activities or layer
mapping = "mappings/graffiti.toml"      # relative paths are read from the sources file's folder
max_rejects = 10                        # optional (default 0, as the CLI)

[[source]]
name = "quartiers"
url = "https://opendata.example/quartiers.geojson"
kind = "layer"
layer = { as = "quarters", code_field = "c_qu", name_field = "l_qu", crs = "EPSG:2154" }
```

Validated as a whole (pydantic): every problem is named with the file, ``[[source]]`` with its name
and line, and the key, never a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from geova.io.errors import ImportFailure
from geova.io.referential_file import where
from geova.io.toml_text import pydantic_message, read_toml_text

NAME_MAX = 64  # import_job.source


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class LayerOptions(_Strict):
    """The options of ``geova import-layer``, under the same names."""

    as_: Literal["quarters", "zones"] = Field(alias="as")
    code_field: str | None = None
    name_field: str | None = None
    parent_field: str | None = None
    parent_name: str | None = None
    kind: str | None = None
    kind_field: str | None = None
    crs: str | None = None
    layer: str | None = None  # the layer inside a GeoPackage
    layer_name: str | None = Field(None, alias="name")  # the layer's name in geova


class Source(_Strict):
    name: str = Field(min_length=1, max_length=NAME_MAX, pattern=r"^[A-Za-z0-9._-]+$")
    path: Path | None = None
    url: str | None = Field(None, pattern=r"^https?://\S+$")
    kind: Literal["interventions", "activities", "layer"]
    mapping: Path | None = None
    layer: LayerOptions | None = None
    max_rejects: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _consistent(self) -> Source:
        if (self.path is None) == (self.url is None):
            raise ValueError("give either path or url (one of them)")
        if self.kind == "layer":
            if self.layer is None:
                raise ValueError('a layer source needs its layer options: layer = { as = "quarters", ... }')
            if self.mapping is not None:
                raise ValueError("a layer source has no mapping (its options are in layer = {...})")
        else:
            if self.mapping is None:
                raise ValueError(f"a source of {self.kind} needs its mapping file")
            if self.layer is not None:
                raise ValueError('layer options are for kind = "layer" only')
        return self

    @property
    def import_kind(self) -> str:
        """The job's kind: interventions, activities, quarters or zones."""
        return self.layer.as_ if self.layer is not None else self.kind

    def layer_options(self) -> dict[str, Any]:
        if self.layer is None:
            return {}
        return self.layer.model_dump(exclude={"as_"}, exclude_none=True)


class SourcesFile(_Strict):
    source: list[Source] = Field(min_length=1)


def _where(loc: tuple[Any, ...], raw: dict[str, Any], lines: list[str]) -> str:
    """``[[source]] 'graffiti' (line 7), key 'kind' (line 9)``: the source by its name when it has one."""
    said = where(loc, raw, lines)
    if len(loc) > 1 and loc[0] == "source" and isinstance(loc[1], int):
        listed = raw.get("source")
        entry = listed[loc[1]] if isinstance(listed, list) and loc[1] < len(listed) else {}
        name = entry.get("name") if isinstance(entry, dict) else None
        if isinstance(name, str):
            said = said.replace(f"[[source]] #{loc[1] + 1}", f"[[source]] '{name}'", 1)
    return said


def read_sources(path: Path) -> list[Source]:
    """The sources, their relative paths resolved from the file's folder; ImportFailure otherwise."""
    text, raw = read_toml_text(path, "sources file")
    try:
        model = SourcesFile.model_validate(raw)
    except ValidationError as exc:
        lines = text.splitlines()
        said = "; ".join(
            f"{_where(tuple(e['loc']), raw, lines)}: {pydantic_message(e)}" for e in exc.errors()
        )
        raise ImportFailure(str(path), f"invalid sources file: {said}") from exc
    seen: set[str] = set()
    for i, s in enumerate(model.source):
        if s.name in seen:
            loc = _where(("source", i, "name"), raw, text.splitlines())
            raise ImportFailure(str(path), f"invalid sources file: {loc}: name '{s.name}' used twice")
        seen.add(s.name)
        base = path.parent
        if s.path is not None and not s.path.is_absolute():
            s.path = base / s.path
        if s.mapping is not None and not s.mapping.is_absolute():
            s.mapping = base / s.mapping
    return model.source
