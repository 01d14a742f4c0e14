"""A whole part of an import routed at once (``Router.route_rows``, ``Router.map_queues``) gives every
row what the referential's rules give it one row at a time: ``core.routing.route`` and
``queue_mapper`` per row are the oracle. The router works on each distinct combination once and
takes the answers back to the rows by number; these tests hold that bookkeeping to the rules."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from geova.core.routing import RouteRule, ServiceDef, queue_mapper, route
from geova.store.routing import Router

CATEGORIES = ["graffiti", "dumping", "litter", "tags"]
QUARTERS = {1: "Q1", 2: "Q2", 3: "Q2a", 4: "Q3"}
ZONES = {10: ("Z1", "market"), 11: ("Z2", "school"), 12: ("Z3", "market")}
SERVICES = ["north", "south", "night", "tags-team"]

rules = st.lists(
    st.builds(
        RouteRule,
        service=st.sampled_from(SERVICES),
        category=st.none() | st.sampled_from(CATEGORIES),
        quarter=st.none() | st.sampled_from(sorted(QUARTERS.values())),
        zone_kind=st.none() | st.sampled_from(["market", "school"]),
        zone=st.none() | st.sampled_from(["Z1", "Z2", "Z3"]),
        position=st.integers(0, 20),
    ),
    max_size=8,
)


@st.composite
def parts(draw: st.DrawFn) -> tuple[list, list, list, list]:
    n = draw(st.integers(0, 60))
    categories = draw(st.lists(st.sampled_from(CATEGORIES), min_size=n, max_size=n))
    quarter_ids = draw(st.lists(st.sampled_from([-1, 1, 2, 4]), min_size=n, max_size=n))
    subquarter_ids = draw(st.lists(st.sampled_from([-1, 3]), min_size=n, max_size=n))
    pairs = draw(
        st.lists(st.tuples(st.integers(0, max(n - 1, 0)), st.sampled_from([10, 11, 12, 99])), max_size=2 * n)
    )
    return categories, quarter_ids, subquarter_ids, pairs if n else []


def router(
    rule_list: list[RouteRule], default: str | None, services: list[ServiceDef] | None = None
) -> Router:
    return Router(
        services=services or [], rules=rule_list, default=default, quarter_codes=QUARTERS, zone_info=ZONES
    )


@settings(max_examples=300, deadline=None)
@given(rules, st.none() | st.sampled_from(SERVICES), parts())
def test_each_row_is_routed_as_the_rules_route_it_alone(rule_list, default, part):
    categories, quarter_ids, subquarter_ids, pairs = part
    got = router(rule_list, default).route_rows(
        np.array(categories, dtype=object), np.array(quarter_ids), np.array(subquarter_ids), pairs
    )
    expected = [
        route(
            rule_list,
            default,
            categories[row],
            [QUARTERS.get(quarter_ids[row]), QUARTERS.get(subquarter_ids[row])],
            [ZONES[z] for r, z in pairs if r == row and z in ZONES],
        )
        for row in range(len(categories))
    ]
    assert got == expected


SERVICE_DEFS = [
    ServiceDef("north", "Nord", "North", queues=("PWDx_*", "INFO_North")),
    ServiceDef("night", "Nuit", "Night", queues=("PWDx_Night*",)),
    ServiceDef("tags-team", "Tags", "Tags", queues=("GRAF",)),
]
queue_values = st.lists(
    st.none()
    | st.just(float("nan"))
    | st.sampled_from(["PWDx_District 1", "PWDx_Night shift", "INFO_North", "GRAF", "north", "Other", ""]),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(queue_values, st.sampled_from(["object", "string[pyarrow]"]))
def test_each_queue_code_is_mapped_as_its_service_claims_it(values, dtype):
    series = pd.Series(values, dtype=dtype, index=np.arange(len(values)) * 7)
    got = router([], None, SERVICE_DEFS).map_queues(series)
    mapped = queue_mapper(SERVICE_DEFS)
    assert list(got.index) == list(series.index)
    for value, result in zip(series.tolist(), got.tolist(), strict=True):
        if pd.isna(value):
            assert pd.isna(result)  # no queue: routed later by the rules
        else:
            assert result == mapped(value)
