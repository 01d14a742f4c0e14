"""Bounded work on /ogc and /exports: hostile values in every parameter are a 400 in the OGC format,
never a 5xx; answers stay fast whatever the parameters; downloads are capped; and no value a client
sends is ever written into the SQL text (bound parameters only)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, event

from geova import features
from tests.bounds import SLOW, cost
from tests.test_ogc import build_store, make_app

HOSTILE = [
    "nan",
    "NaN",
    "inf",
    "-inf",
    "1e23",
    "99999999999999999999",
    "-99999999999999999999",
    "\x00",
    "a\x00b",
    "0001-01-01",
    "9999-12-31",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "",
    "x" * 5000,
]
ITEMS_PARAMS = {
    "quarters": ("bbox", "datetime", "limit", "offset", "f", "code", "level", "parent"),
    "interventions": (
        "bbox",
        "datetime",
        "limit",
        "offset",
        "f",
        "source",
        "source_id",
        "category",
        "status",
    ),
}


@pytest.fixture
def token(engine: Engine) -> str:
    return build_store(engine)


@pytest.fixture
def client(db_url: str, token: str) -> Any:
    return make_app(db_url).test_client()


TEXTS = ("code", "parent", "source", "source_id", "category", "status")
BAD_TEXTS = ("", "\x00", "a\x00b", "x" * 5000)  # any other text is a fine value: it matches nothing


def hostile_requests() -> list[tuple[str, dict[str, str]]]:
    """(path, query) pairs, each with one hostile value."""
    out: list[tuple[str, dict[str, str]]] = []
    for cid, names in ITEMS_PARAMS.items():
        for name in names:
            for value in BAD_TEXTS if name in TEXTS else HOSTILE:
                out.append((f"/ogc/collections/{cid}/items", {name: value}))
                if name not in ("limit", "offset"):
                    out.append((f"/exports/{cid}.csv", {name: value}))
        for value in ("nan,1,2,3", "1,2,3,inf", "1e23,0,0,0", "-181,0,0,1", "0,-91,1,0", "1,2,3,4,5"):
            out.append((f"/ogc/collections/{cid}/items", {"bbox": value}))
        for value in ("2015-01-01/0001-01-01", "../9999-12-31", "2015-02-30", "2015-03-01T25:00:00Z"):
            out.append((f"/exports/{cid}.geojson", {"datetime": value}))
    for name in ("norm", "from", "to"):
        for value in ("\x00", "0001-01-01", "9999-12-31", "nan", ""):
            out.append(("/exports/quarter_results.csv", {name: value}))
    out.append(("/exports/quarter_results.csv", {"from": "1970-01-01", "to": "2100-12-31"}))  # 130 years
    return out


def test_hostile_values_in_every_parameter_are_a_400_in_the_ogc_format(client: Any, token: str) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    for path, query in hostile_requests():
        answer = client.get(path, query_string=query, headers=auth)
        shown = {k: v[:20] for k, v in query.items()}
        assert answer.status_code == 400, (path, shown, answer.get_data(as_text=True)[:300])
        body = answer.get_json()
        assert body["code"] == "InvalidParameterValue", (path, shown)
        assert body["description"].split(":")[0] in query, (shown, body)
    for path in (
        "/ogc/collections/interventions/items/99999999999999999999",
        "/ogc/collections/interventions/items/-1",
        "/ogc/collections/interventions/items/nan",
        "/ogc/collections/quarters/items/%00",
        "/ogc/collections/quarters/items/" + "x" * 5000,
    ):
        answer = client.get(path, headers=auth)
        assert answer.status_code == 404 and answer.get_json()["code"] == "NotFound", path[:80]
    # a huge offset is allowed up to its bound, and costs nothing: an empty page
    far = client.get("/ogc/collections/interventions/items?offset=1000000000", headers=auth)
    assert far.status_code == 200 and far.get_json(force=True)["numberReturned"] == 0


VALUES = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(max_size=30),
    st.integers(min_value=-(10**25), max_value=10**25).map(str),
    st.floats().map(repr),
    st.lists(st.floats(min_value=-200, max_value=200), min_size=3, max_size=7).map(
        lambda v: ",".join(map(str, v))
    ),
    st.dates().map(lambda d: d.isoformat()),
    st.tuples(st.dates(), st.dates()).map(lambda d: f"{d[0].isoformat()}/{d[1].isoformat()}"),
    st.datetimes().map(lambda d: d.isoformat() + "Z"),
)
NAMES = st.sampled_from(
    ["bbox", "datetime", "limit", "offset", "f", "code", "level", "status", "category", "colour", "api_key"]
)


def test_items_parameters_never_give_a_5xx_nor_a_slow_answer(client: Any, token: str) -> None:
    auth = {"Authorization": f"Bearer {token}"}

    @settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        database=None,
    )
    @given(
        cid=st.sampled_from(["quarters", "zones", "interventions", "quarter_results"]),
        args=st.dictionaries(NAMES, VALUES, max_size=4),
    )
    def check(cid: str, args: dict[str, str]) -> None:
        args.pop("api_key", None)  # a wrong key is a 401, tested elsewhere
        with cost() as took:
            answer = client.get(f"/ogc/collections/{cid}/items", query_string=args, headers=auth)
        assert answer.status_code in (200, 400), (cid, args, answer.get_data(as_text=True)[:300])
        if answer.status_code == 400:
            assert answer.get_json()["code"] == "InvalidParameterValue"
        assert took.seconds < SLOW, (cid, args, took.seconds)

    check()


def test_downloads_are_capped_with_a_message_saying_how_to_narrow_them(
    client: Any, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    monkeypatch.setattr(features, "MAX_EXPORT_FEATURES", 100)
    refused = client.get("/exports/interventions.csv", headers=auth)
    assert refused.status_code == 400
    body = refused.get_json()
    assert body["code"] == "InvalidParameterValue"
    assert "381" in body["description"] and "at most 100" in body["description"]
    assert "/ogc/collections/interventions/items" in body["description"]
    narrowed = client.get("/exports/interventions.geojson?datetime=2015-03-01/2015-03-31", headers=auth)
    assert narrowed.status_code == 200 and 0 < narrowed.get_json(force=True)["numberMatched"] <= 100
    # pages are not downloads: the whole layer still reads, 100 features at a time
    page = client.get("/ogc/collections/interventions/items?limit=100&offset=300", headers=auth)
    assert page.get_json(force=True)["numberReturned"] == 81


def test_no_value_a_client_sends_is_written_into_the_sql(client: Any, engine: Engine, token: str) -> None:
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        auth = {"Authorization": f"Bearer {token}"}
        urls = [
            "/ogc/collections/quarters/items?bbox=-71.0812345,42.3012345,-71.0512345,42.3312345&code=Q-77531",
            "/ogc/collections/quarters/items?bbox=-71.0612345,42.3512345,-71.0612345,42.3512345",
            "/ogc/collections/zones/items?bbox=179.5312345,42.3012345,-71.0512345,42.3312345&kind=k-77531",
            "/ogc/collections/interventions/items?bbox=-71.0812345,42.3012345,-71.0512345,42.3312345"
            "&source_id=S-77531&datetime=2015-03-01T05:00:07Z/2015-04-01T04:00:07Z",
            "/exports/zones.csv?bbox=-71.0812345,42.3012345,-71.0512345,42.3312345&code=Z-77531",
        ]
        for url in urls:
            assert client.get(url, headers=auth).status_code == 200, url
    finally:
        event.remove(Engine, "before_cursor_execute", record)
    sql = "\n".join(statements)
    assert "12345" not in sql and "77531" not in sql and "05:00:07" not in sql
