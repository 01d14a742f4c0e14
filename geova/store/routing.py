"""Where a new request goes and when it is due: the referential's routing, and the norms' own targets.

A request created in geova (web form, /api/v1, Open311) has no source system to give it a due
date, so geova is its source: its due date is the earliest that the active deadline norms' own
targets give it (a norm judged on the source's due date may carry a target of its own for this,
as Boston's ``boston.target`` does). An import keeps the source's due date and service; it maps the
source's queue codes onto the referential's services, and routes the rows that name none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import Connection, select

from geova.core.evaluate import Territory, deadline_facts
from geova.core.norms import Basis
from geova.core.routing import RouteRule, ServiceDef, queue_mapper, route
from geova.store.records import RecordFilter, load_records
from geova.store.referential import deadline_norms, routing, services
from geova.store.schema import Quarter, Zone
from geova.store.status import settings

DEFAULT_TIMEZONE = "Europe/Paris"


def placed_request(conn: Connection, intervention_id: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(records, zones) of one stored request, as the evaluation engine reads them."""
    return load_records(conn, where=RecordFilter(ids=(intervention_id,)))


def service_for(conn: Connection, records: pd.DataFrame, zones: pd.DataFrame) -> str | None:
    """The routed service of the first request of ``records``."""
    rules, default = routing(conn)
    if not len(records):
        return default
    row = records.iloc[0]
    mine = zones[zones["id"] == row["id"]]
    places = [(str(z), str(k)) for z, k in zip(mine["zone"], mine["kind"], strict=True)]
    return route(rules, default, str(row["category"]), [row["quarter"], row["subquarter"]], places)


def due_for(conn: Connection, records: pd.DataFrame, zones: pd.DataFrame) -> pd.Timestamp | None:
    """The earliest due date the active deadline norms' own targets give the first request."""
    if not len(records):
        return None
    s = settings(conn)
    where = Territory(timezone=s.get("timezone", DEFAULT_TIMEZONE), holidays=s.get("holidays", "FR"))
    one = records.iloc[:1]
    dues: list[pd.Timestamp] = []
    for norm in deadline_norms(conn):
        facts = deadline_facts(norm, one, zones, where, basis=Basis.RULE)
        dues.extend(d for d in facts["due_at"] if d is not None and d is not pd.NaT and d == d)
    return min(dues) if dues else None


@dataclass
class Router:
    """The referential's services and routing as an import applies them to its rows, read once:
    a first load places and routes its parts while its COPY holds the connection."""

    services: list[ServiceDef]
    rules: list[RouteRule]
    default: str | None
    quarter_codes: dict[int, str]
    zone_info: dict[int, tuple[str, str]]

    def map_queues(self, values: pd.Series) -> pd.Series:
        """Source queue codes mapped onto the referential's services (unknown values kept as given)."""
        if not self.services:
            return values
        mapped = queue_mapper(self.services)
        # each distinct value once, then taken back to the rows by its number (a Python call per
        # row of a million-row export cost seconds; Series.map with a dict 23-28 ms a part of
        # 100,000 rows, this 10 ms)
        numbers, distinct = pd.factorize(values, use_na_sentinel=True)
        table = np.array([mapped(v) if isinstance(v, str) else v for v in distinct] + [None], dtype=object)
        given = values.to_numpy(dtype=object)
        return pd.Series(np.where(numbers >= 0, table[numbers], given), index=values.index, dtype=object)

    def route_rows(
        self,
        categories: Sequence[str] | np.ndarray,
        quarter_ids: Sequence[int] | np.ndarray,
        subquarter_ids: Sequence[int] | np.ndarray,
        zone_pairs: Sequence[tuple[int, int]],
    ) -> list[str | None]:
        """The routed service of each row (quarter ids -1 outside; ``zone_pairs``: (row, zone id))."""
        if not self.rules:
            return [self.default] * len(categories)
        zones_of: dict[int, list[tuple[str, str]]] = {}
        for row, zone_id in zone_pairs:
            if zone_id in self.zone_info:
                zones_of.setdefault(int(row), []).append(self.zone_info[zone_id])
        # each distinct (category, quarter, sub-quarter, zones) routed once, then taken back to the
        # rows by its number (a call per row of a million-row export cost seconds; drop_duplicates
        # and a merge of the combinations back onto the rows, 75 ms a part of 100,000 rows, this 50)
        place_of: dict[tuple, int] = {}
        places = np.zeros(len(categories), dtype=np.int64)  # 0: in no zone
        for row, found in zones_of.items():
            places[row] = place_of.setdefault(tuple(sorted(found)), len(place_of) + 1)
        zones_by_place = {v: list(k) for k, v in place_of.items()}
        category_numbers, category_names = pd.factorize(
            np.asarray(categories, dtype=object), use_na_sentinel=False
        )
        number = np.zeros(len(category_numbers), dtype=np.int64)
        for column in (
            category_numbers,
            np.asarray(quarter_ids, dtype=np.int64),
            np.asarray(subquarter_ids, dtype=np.int64),
            places,
        ):
            # each row's combination so far, numbered densely: the products stay below rows²
            values, _distinct = pd.factorize(np.asarray(column, dtype=np.int64))
            number, _combos = pd.factorize(number * (int(values.max(initial=0)) + 1) + values)
        first = np.zeros(int(number.max(initial=-1)) + 1, dtype=np.int64)
        first[number[::-1]] = np.arange(len(number))[::-1]  # each combination's first row
        quarters, subquarters = np.asarray(quarter_ids), np.asarray(subquarter_ids)
        codes = self.quarter_codes
        services = np.empty(len(first), dtype=object)
        services[:] = [
            route(
                self.rules,
                self.default,
                str(category_names[category_numbers[row]]),
                [codes.get(int(quarters[row])), codes.get(int(subquarters[row]))],
                zones_by_place.get(int(places[row]), []),
            )
            for row in first
        ]
        return list(services[number])


def router(conn: Connection) -> Router:
    rules, default = routing(conn)
    q = Quarter.__table__
    z = Zone.__table__
    return Router(
        services=services(conn),
        rules=rules,
        default=default,
        quarter_codes={int(r.id): r.code for r in conn.execute(select(q.c.id, q.c.code))},
        zone_info={r.id: (r.code, r.kind) for r in conn.execute(select(z.c.id, z.c.code, z.c.kind))},
    )


def service_labels(conn: Connection, lang: str) -> dict[str, str]:
    """Each service code (and each queue code a source gives one) to its display name."""
    out: dict[str, str] = {}
    for svc in services(conn):
        label = svc.label_fr if lang == "fr" else svc.label_en
        out[svc.code] = label
        out.update({q: label for q in svc.queues if not q.endswith("*")})
    return out


def service_label(labels: dict[str, str], code: str | None) -> str:
    """A service's display name; a code the referential does not know is shown as given."""
    return "" if code is None else labels.get(code, code)
