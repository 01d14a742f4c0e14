"""Where an import's requests go and what they raise by themselves: each row placed in its quarter,
sub-quarter and zones and given its service, and the flags a row raises without its neighbours.
Both roads of an import of requests (the ordinary one and the streamed first load) place rows
here, so they cannot disagree."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection

from geova.core.assign import Area, assign_points
from geova.core.checks import at_locations, location_key, outside_extent, resolved_before_report
from geova.core.model import Flag
from geova.importing.reports import InterventionReport
from geova.io.errors import ImportFailure
from geova.store import areas, interventions, routing
from geova.store.referential import category_codes
from geova.store.status import set_setting, settings


@dataclass
class Placed(interventions.PlacedPart):
    outside: int = 0


def placed(
    frame: pd.DataFrame,
    xs: np.ndarray,
    ys: np.ndarray,
    quarters: list[Area],
    zones: list[Area],
    router: routing.Router,
) -> Placed:
    """``frame``'s rows in their quarter, sub-quarter and zones, each with its service: the
    source's queue code mapped onto the referential's services, or routed when it names none."""
    where = assign_points(xs, ys, quarters, zones)
    out = pd.DataFrame(
        {
            "quarter_id": np.asarray(where.quarter, dtype=np.int64),
            "subquarter_id": np.asarray(where.subquarter, dtype=np.int64),
            "service": router.map_queues(frame["service"]).to_numpy(dtype=object),
        }
    )
    routed = router.route_rows(
        frame["category_code"].to_numpy(), where.quarter, where.subquarter, where.zone_pairs
    )
    unnamed = out["service"].isna().to_numpy()
    out.loc[unnamed, "service"] = np.asarray(routed, dtype=object)[unnamed]
    return Placed(out, where.zone_pairs, {}, where.outside)


def row_flags(
    frame: pd.DataFrame,
    xs: np.ndarray,
    ys: np.ndarray,
    parsed: dict[Flag, np.ndarray],
    mapping: Any,
    quarters: list[Area],
) -> dict[Flag, np.ndarray]:
    """The flags each row of ``frame`` raises by itself (``parsed``: the reader's own)."""
    defaults = {location_key(lon, lat) for lat, lon in mapping.checks.geocoder_defaults}
    return {
        Flag.OUTSIDE_EXTENT: outside_extent(xs, ys, areas.territory_bounds(quarters)),
        Flag.RESOLVED_BEFORE_REPORT: resolved_before_report(frame["reported_at"], frame["resolved_at"]),
        Flag.REPEATED_LOCATION: at_locations(xs, ys, defaults),
        **parsed,
    }


def opened(conn: Connection, mapping: Any, mapping_path: Path, report: InterventionReport) -> tuple:
    """The checks an import of requests makes once its transaction is open, and the quarters and
    zones it places the rows in."""
    unknown = mapping.category_codes() - category_codes(conn)
    if unknown:
        listed = ", ".join(sorted(unknown))
        raise ImportFailure(str(mapping_path), f"categories not in the referential: {listed}")
    report.timezone_note = territory_timezone(conn, mapping.source.timezone, mapping_path)
    return areas.load_areas(conn)


def territory_timezone(conn: Connection, zone: str, mapping_path: Path) -> str | None:
    """The first import of requests gives the territory the time zone of its mapping (``--as-of``
    and every page read local times in it); a later mapping in another zone is only warned about,
    since its dates are read in its own zone and stored in UTC, whatever the territory's."""
    current = settings(conn).get("timezone")
    if current is None:
        set_setting(conn, "timezone", zone)
        return f"territory time zone set to {zone} (from {mapping_path.name}; change it with geova territory)"
    if current != zone:
        return (
            f"warning: {mapping_path.name} reads dates in {zone}, the territory shows them in {current} "
            "(geova territory --timezone changes the latter)"
        )
    return None
