"""Activity files: passages (sweeping rounds, collections) and dated events (meetings, visits).

They feed frequency and count norms. The format mirrors the intervention mapping (same [source]
section) with fewer columns: an id, a date, a category, and where it happened: coordinates (a
passage, assigned to quarters and zones like any request) or a quarter code (an event).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pyproj import CRS, Transformer

from geova.core.model import Flag
from geova.core.records import content_hashes
from geova.io.errors import ImportFailure, Reject
from geova.io.limits import DATE_RANGE_TEXT, SOURCE_ID_MAX
from geova.io.mapping import SourceSection, check_category_rule, validate_mapping
from geova.io.records import (
    Verdicts,
    map_categories,
    parse_datetimes,
    parse_numbers,
    text_column,
)
from geova.io.tables import SourceTable


class ActivityColumns(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source_id: str
    at: str
    category: str | None = None
    label: str | None = None
    quarter: str | None = None  # quarter code, for events that have no coordinates
    latitude: str | None = None
    longitude: str | None = None
    x: str | None = None
    y: str | None = None

    @model_validator(mode="after")
    def _somewhere(self) -> ActivityColumns:
        if not ((self.latitude and self.longitude) or (self.x and self.y) or self.quarter):
            raise ValueError("map latitude/longitude, x/y, or a quarter code column")
        return self


class ActivityMapping(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: SourceSection = Field(default_factory=SourceSection)
    columns: ActivityColumns
    categories: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _category_given(self) -> ActivityMapping:
        check_category_rule(self.source.category, self.columns.category, self.categories)
        if self.source.category is not None and self.columns.category is not None:
            raise ValueError(
                "[source] category gives every entry its code: [columns] category would be ignored"
            )
        return self

    def category_codes(self) -> set[str]:
        return set(self.categories.values()) | ({self.source.category} if self.source.category else set())


def load_activity_mapping(path: Path) -> ActivityMapping:
    return validate_mapping(ActivityMapping, path)


@dataclass
class Activities:
    frame: pd.DataFrame  # source_id, category_code, at, label, quarter_code, x, y, row, content_hash
    rejects: list[Reject]
    read: int
    flags: dict[Flag, np.ndarray] = field(default_factory=dict)  # masks over frame (DST times)


def to_activities(table: SourceTable, mapping: ActivityMapping, file: Path) -> Activities:
    cells = table.cells.reset_index(drop=True)
    cols, src = mapping.columns, mapping.source
    used = {k: v for k, v in cols.model_dump().items() if v}
    missing = [f"{k} -> '{v}'" for k, v in used.items() if v not in cells.columns]
    if missing:
        raise ImportFailure(
            str(file),
            f"columns named in the mapping are absent: {', '.join(missing)}; "
            f"the file has: {', '.join(map(str, cells.columns))}",
        )
    v = Verdicts(len(cells), table.rows)
    out = pd.DataFrame(index=cells.index)
    sid = text_column(cells, cols.source_id)
    v.reject(sid.eq("").to_numpy(), cols.source_id, sid, "missing source id")
    v.reject(
        sid.duplicated(keep="first").to_numpy() & sid.ne("").to_numpy(),
        cols.source_id,
        sid,
        "duplicate source id",
    )
    v.reject(
        sid.str.len().gt(SOURCE_ID_MAX).to_numpy(),
        cols.source_id,
        sid,
        f"longer than {SOURCE_ID_MAX} characters",
    )
    out["source_id"] = sid
    if src.category:
        out["category_code"] = src.category
    else:
        out["category_code"] = map_categories(
            text_column(cells, cols.category), mapping.categories, cols.category, v
        )
    at_raw = text_column(cells, cols.at)
    dates = parse_datetimes(at_raw, src.date_format, src.day_first, src.timezone)
    v.reject(dates.outside, cols.at, at_raw, f"date outside {DATE_RANGE_TEXT}")
    v.reject(dates.bad | dates.instants.isna().to_numpy(), cols.at, at_raw, "missing or not a date")
    out["at"] = dates.instants
    label = text_column(cells, cols.label)
    out["label"] = label.where(label != "", None)
    quarter = text_column(cells, cols.quarter)
    out["quarter_code"] = quarter.where(quarter != "", None)
    x = y = pd.Series(np.nan, index=cells.index)
    if cols.latitude and cols.longitude:
        y = parse_numbers(text_column(cells, cols.latitude))
        x = parse_numbers(text_column(cells, cols.longitude))
    elif cols.x and cols.y:
        if not src.crs:
            raise ImportFailure(str(file), 'x/y columns need [source] crs (e.g. "EPSG:2154")')
        tr = Transformer.from_crs(CRS.from_user_input(src.crs), 4326, always_xy=True)
        xs = parse_numbers(text_column(cells, cols.x)).to_numpy()
        ys = parse_numbers(text_column(cells, cols.y)).to_numpy()
        lon, lat = tr.transform(xs, ys)
        x, y = pd.Series(lon, index=cells.index), pd.Series(lat, index=cells.index)
    located = x.notna() & y.notna()
    v.reject(
        (located & ~(x.between(-180, 180) & y.between(-90, 90))).to_numpy(),
        cols.latitude or cols.x or "",
        (y if cols.latitude else x).astype(str),
        "not a position on Earth (longitude -180..180, latitude -90..90)",
    )
    v.reject(
        (~located & out["quarter_code"].isna()).to_numpy(),
        cols.latitude or cols.x or cols.quarter or "",
        pd.Series([""] * len(cells)),
        "no location: neither coordinates nor a quarter code",
    )
    out["x"], out["y"] = x.to_numpy(dtype=float), y.to_numpy(dtype=float)
    keep = ~v.bad
    frame = out[keep].copy()
    frame["row"] = table.rows[keep]
    hashed = frame[["category_code", "at", "label", "quarter_code", "x", "y"]]
    frame["content_hash"] = content_hashes(hashed, list(hashed.columns))
    v.rejects.sort(key=lambda r: r.row)
    return Activities(
        frame=frame.reset_index(drop=True),
        rejects=v.rejects,
        read=len(cells),
        flags={
            Flag.NONEXISTENT_LOCAL_TIME: dates.nonexistent[keep],
            Flag.AMBIGUOUS_LOCAL_TIME: dates.ambiguous[keep],
        },
    )
