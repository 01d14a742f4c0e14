"""The mapping file: how a city's export maps onto geova's intervention fields.

A TOML file, one per source export, because every request tool names its columns, formats its
dates and labels its categories differently. Validated with pydantic so that a typo in the mapping
is reported with the key's path, before any data is read.
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pyproj import CRS
from pyproj.exceptions import CRSError

from geova.core.model import Status
from geova.io.errors import ImportFailure
from geova.io.limits import SOURCE_MAX
from geova.io.toml_text import read_toml_text

M = TypeVar("M", bound=BaseModel)


def _compiles(pattern: str) -> None:
    """Raise ValueError (which pydantic reports with the key's path) for a broken regex."""
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression {pattern!r}: {exc}") from exc


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SourceSection(_Strict):
    name: str | None = None  # records are unique per (source name, source id); default: file stem
    timezone: str = "Europe/Paris"
    date_format: str | None = None  # strftime pattern, e.g. "%d/%m/%Y %H:%M"
    day_first: bool = True  # used when date_format is not given
    delimiter: str | None = None  # CSV only; detected when absent
    # CSV only. Absent: UTF-8 (with or without BOM), or cp1252 for a file without any UTF-8 sequence
    encoding: str | None = None
    crs: str | None = None  # CRS of x/y columns
    layer: str | None = None  # layer name inside a GeoPackage
    category: str | None = None  # the category code of every row: wins over [columns] category

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Paris)") from exc
        return value

    @field_validator("name")
    @classmethod
    def _fits(cls, value: str | None) -> str | None:
        if value is not None and len(value) > SOURCE_MAX:
            raise ValueError(f"at most {SOURCE_MAX} characters")
        return value

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                codecs.lookup(value)
            except LookupError as exc:
                raise ValueError(f"unknown encoding {value!r} (use e.g. utf-8 or cp1252)") from exc
        return value

    @field_validator("crs")
    @classmethod
    def _known_crs(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                CRS.from_user_input(value)
            except CRSError as exc:
                raise ValueError(f"unknown CRS {value!r} (use e.g. EPSG:2154): {exc}") from exc
        return value


def check_category_rule(fixed: str | None, column: str | None, table: dict[str, str]) -> None:
    """One place decides a row's category code, so that which one wins is never a question:

    - ``[source] category = "code"``: every row gets this code. ``[columns] category`` may then
      name the export's own type column, kept as the request's source label only (never mapped);
      a ``[categories]`` table would be ignored, so it is refused.
    - otherwise ``[columns] category`` names the column and ``[categories]`` maps each of its
      values onto a referential code (``"*"``: the code of every other value).
    """
    if fixed is not None and table:
        raise ValueError(
            "[source] category gives every row its code, so the [categories] table would be ignored: "
            "keep one of them (see the README, 'Mapping files')"
        )
    if fixed is None and (column is None or not table):
        raise ValueError("set [source] category, or [columns] category with a [categories] table")


class ColumnsSection(_Strict):
    source_id: str
    reported_at: str
    category: str | None = None  # mapped by [categories]; with [source] category, kept as a label only
    resolved_at: str | None = None
    due_at: str | None = None
    status: str | None = None
    channel: str | None = None
    service: str | None = None
    description: str | None = None
    address: str | None = None
    severity: str | None = None
    latitude: str | None = None
    longitude: str | None = None
    x: str | None = None
    y: str | None = None

    @model_validator(mode="after")
    def _one_way_to_locate(self) -> ColumnsSection:
        latlon = (self.latitude is not None, self.longitude is not None)
        xy = (self.x is not None, self.y is not None)
        if latlon[0] != latlon[1] or xy[0] != xy[1]:
            raise ValueError("give both latitude and longitude, or both x and y")
        if all(latlon) and all(xy):
            raise ValueError("give latitude/longitude or x/y, not both")
        return self


class StatusRule(_Strict):
    """Overrides the status when another column says so (e.g. a closure reason 'Duplicate of...')."""

    column: str
    status: Status
    contains: str | None = None  # case-insensitive substring
    pattern: str | None = None  # regular expression

    @model_validator(mode="after")
    def _one_test(self) -> StatusRule:
        if (self.contains is None) == (self.pattern is None):
            raise ValueError("a status rule needs exactly one of 'contains' or 'pattern'")
        if self.pattern is not None:
            _compiles(self.pattern)
        return self


class StatusSection(_Strict):
    values: dict[str, Status] = Field(default_factory=dict)
    rules: list[StatusRule] = Field(default_factory=list)


class InsultingSection(_Strict):
    """Marks insulting graffiti (the 48 h norm applies to them everywhere)."""

    column: str
    pattern: str | None = None  # regex on the column's text
    values: list[str] = Field(default_factory=list)  # or exact values meaning yes

    @field_validator("pattern")
    @classmethod
    def _valid_pattern(cls, value: str | None) -> str | None:
        if value is not None:
            _compiles(value)
        return value


class ChecksSection(_Strict):
    geocoder_defaults: list[tuple[float, float]] = Field(default_factory=list)  # (latitude, longitude)
    repeated_location_threshold: int = 100


class Mapping(_Strict):
    source: SourceSection = Field(default_factory=SourceSection)
    columns: ColumnsSection
    categories: dict[str, str] = Field(default_factory=dict)  # source value -> category code; "*" default
    status: StatusSection = Field(default_factory=StatusSection)
    # the export's service values (a queue code) -> a referential service code; others kept as given
    services: dict[str, str] = Field(default_factory=dict)
    insulting: InsultingSection | None = None
    checks: ChecksSection = Field(default_factory=ChecksSection)

    @model_validator(mode="after")
    def _category_given(self) -> Mapping:
        check_category_rule(self.source.category, self.columns.category, self.categories)
        if self.columns.x is not None and self.source.crs is None:
            raise ValueError('x/y columns need [source] crs (e.g. "EPSG:2154")')
        return self

    def category_codes(self) -> set[str]:
        codes = set(self.categories.values())
        if self.source.category:
            codes.add(self.source.category)
        return codes

    def used_columns(self) -> dict[str, str]:
        """Every source column the mapping reads, keyed by what it is used for."""
        used = {k: v for k, v in self.columns.model_dump().items() if v is not None}
        for i, rule in enumerate(self.status.rules):
            used[f"status.rules[{i}]"] = rule.column
        if self.insulting:
            used["insulting"] = self.insulting.column
        return used


def load_mapping(path: Path) -> Mapping:
    return validate_mapping(Mapping, path)


def read_toml(path: Path) -> dict[str, Any]:
    """A mapping file's TOML, or an ImportFailure saying why not."""
    return read_toml_text(path, "mapping file")[1]


def validate_mapping(model: type[M], path: Path) -> M:
    """Read and validate a mapping file, every problem named with its key's path."""
    try:
        return model.model_validate(read_toml(path))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}" for err in exc.errors()
        )
        raise ImportFailure(str(path), f"invalid mapping: {problems}") from exc
