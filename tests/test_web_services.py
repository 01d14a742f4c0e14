"""The services' worklist: roles, CSRF, resolve and reassign, filters, CSV for French Excel, GeoJSON.

Same store as tests/test_web_correspondent.py. The 2015 requests still open are long overdue
today under ``nantes.friches.72h`` (72 h from the report), so the worklist is never empty.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine, select

from app import create_app
from geova.store import edits, users
from geova.store.schema import Intervention, InterventionEvent, InterventionZone, Zone
from geova.web import services
from tests.test_web_correspondent import (
    DORCHESTER,
    LAT,
    LON,
    NORM,
    build_store,
    csrf,
    login,
)

IV = Intervention.__table__
EV = InterventionEvent.__table__
ROW = re.compile(r'<tr data-id="(\d+)">')


@pytest.fixture
def app(boston_app: Any) -> Any:
    return boston_app


def strict(constant: str) -> None:
    raise ValueError(f"{constant} is not valid JSON")


def rows(html: str) -> list[int]:
    return [int(i) for i in ROW.findall(html)]


def stored(engine: Engine, intervention_id: int) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(IV).where(IV.c.id == intervention_id)).one()


def history(engine: Engine, intervention_id: int) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(select(EV).where(EV.c.intervention_id == intervention_id).order_by(EV.c.id)).all()


# -- the store functions -------------------------------------------------------------------------


def test_resolve_and_reassign_change_the_store_and_keep_a_history(engine, tmp_path):
    build_store(engine, tmp_path / "rejects.csv")
    reported = datetime(2015, 6, 1, 14, 0, tzinfo=UTC)
    with engine.begin() as conn:
        new = edits.report_intervention(conn, "friche", "Bags", None, LON, LAT, "corr", reported)
    before = stored(engine, new).content_hash
    with engine.begin() as conn:
        edits.reassign(conn, new, " boston.public_works ", "their lot", "agent")
        edits.resolve(conn, new, reported + timedelta(days=2), "cleared", "agent")
    row = stored(engine, new)
    assert (row.service, row.status, row.resolved_at) == (
        "boston.public_works",
        "resolved",
        reported + timedelta(days=2),
    )
    assert row.content_hash != before
    events = history(engine, new)
    assert [(e.kind, e.username, e.note) for e in events] == [
        ("reported", "corr", None),
        ("reassigned", "agent", "their lot"),
        ("resolved", "agent", "cleared"),
    ]
    # routed at the report (friche: Boston's Inspectional Services), then handed over
    assert events[1].detail == {"from": "boston.inspections", "to": "boston.public_works"}
    assert events[2].detail["resolved_at"].startswith("2015-06-03T14:00")


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (
            lambda c, i: edits.resolve(c, i, datetime(2015, 5, 1, tzinfo=UTC), None, "a"),
            "before it was reported",
        ),
        (lambda c, i: edits.resolve(c, i, datetime.now(UTC) + timedelta(days=1), None, "a"), "future"),
        (lambda c, i: edits.resolve(c, i, datetime(2015, 6, 2), None, "a"), "time zone"),
        (lambda c, i: edits.reassign(c, i, "  ", None, "a"), "service is required"),
        (lambda c, i: edits.reassign(c, i, "boston.parks", None, "a"), "already assigned"),
        (lambda c, i: edits.reassign(c, i, "Nobody", None, "a"), "unknown service 'Nobody'"),
    ],
)
def test_bad_edits_are_refused(engine, tmp_path, action, message):
    build_store(engine, tmp_path / "rejects.csv")
    with engine.begin() as conn:
        new = edits.report_intervention(
            conn, "friche", "Bags", None, LON, LAT, "corr", datetime(2015, 6, 1, tzinfo=UTC)
        )
        edits.reassign(conn, new, "boston.parks", None, "agent")
    before = stored(engine, new)
    with pytest.raises(ValueError, match=message), engine.begin() as conn:
        action(conn, new)
    assert stored(engine, new) == before
    assert len(history(engine, new)) == 2


def test_a_closed_request_cannot_be_resolved_again(engine, tmp_path):
    build_store(engine, tmp_path / "rejects.csv")
    with engine.connect() as conn:
        closed = conn.execute(select(IV.c.id).where(IV.c.status == "closed").limit(1)).scalar_one()
    with pytest.raises(ValueError, match="cannot go from closed to resolved"), engine.begin() as conn:
        edits.resolve(conn, closed, datetime.now(UTC), None, "agent")
    with pytest.raises(LookupError), engine.begin() as conn:
        edits.resolve(conn, 10**9, datetime.now(UTC), None, "agent")


# -- pages --------------------------------------------------------------------------------------


def test_worklist_is_for_services(app):
    anonymous = app.test_client()
    for url in ("/worklist", "/worklist.csv", "/worklist.geojson"):
        response = anonymous.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"], url
    for user in ("corr", "elu"):
        client = login(app, user)
        for url in ("/worklist", "/worklist.csv", "/worklist.geojson"):
            assert client.get(url).status_code == 403, (user, url)
    for user in ("agent", "admin"):
        assert login(app, user).get("/worklist").status_code == 200


def test_worklist_lists_overdue_requests_most_overdue_first(app):
    client = login(app, "agent")
    html = client.get(f"/worklist?norm={NORM}").get_data(as_text=True)
    ids = rows(html)
    assert len(ids) > 50
    states = set(re.findall(r'<span class="state (\w+)">', html))
    assert states == {"open_overdue"}
    cells = re.findall(r'<td class="num" data-hours="([\d.]+)">([^<]*)</td>', html)
    hours = [float(h) for h, _text in cells]
    assert hours == sorted(hours, reverse=True) and len(hours) == len(ids)
    # shown in days and hours: 2015's requests are thousands of days overdue today
    h = hours[0]
    days, rest = divmod(int(h), 24)
    assert cells[0][1] == f"{days:,}".replace(",", "\u202f") + f" d {rest} h"
    # the map loads the same rows
    assert "geova.remotePoints" in html and "/worklist.geojson?norm=" in html
    assert client.get("/worklist?norm=nantes.epaves.72h").status_code == 200  # nothing in scope


def test_long_worklists_are_paged(app, monkeypatch):
    monkeypatch.setattr(services, "PAGE_SIZE", 40)
    client = login(app, "agent")
    first = client.get(f"/worklist?norm={NORM}").get_data(as_text=True)
    second = client.get(f"/worklist?norm={NORM}&page=2").get_data(as_text=True)
    assert len(rows(first)) == 40 and 0 < len(rows(second)) <= 40
    assert not set(rows(first)) & set(rows(second))
    assert "Page 1 of" in first and f"/worklist?norm={NORM}&amp;page=2" in first
    everything = json.loads(client.get(f"/worklist.geojson?norm={NORM}").data, parse_constant=strict)
    ids = [f["properties"]["id"] for f in everything["features"]]
    assert ids[: 40 + len(rows(second))] == rows(first) + rows(second)


def test_filters_change_the_rows(app, engine):
    client = login(app, "agent")
    every = rows(client.get(f"/worklist?norm={NORM}").get_data(as_text=True))
    dorchester = rows(client.get(f"/worklist?norm={NORM}&quarter={DORCHESTER}").get_data(as_text=True))
    assert 0 < len(dorchester) < len(every) and set(dorchester) <= set(every)
    with engine.connect() as conn:
        services = dict(conn.execute(select(IV.c.id, IV.c.service).where(IV.c.id.in_(every))).all())
    some = sorted(set(services.values()) - {None})[0]
    by_service = rows(client.get(f"/worklist?norm={NORM}&service={some}").get_data(as_text=True))
    assert by_service and {services[i] for i in by_service} == {some}
    spring = rows(client.get(f"/worklist?norm={NORM}&from=2015-03-01&to=2015-03-31").get_data(as_text=True))
    assert 0 < len(spring) < len(every)
    assert rows(client.get(f"/worklist?norm={NORM}&category=graffiti").get_data(as_text=True)) == []
    with engine.connect() as conn:
        linked = conn.execute(
            select(Zone.__table__.c.code, InterventionZone.__table__.c.intervention_id).join(
                InterventionZone.__table__, InterventionZone.__table__.c.zone_id == Zone.__table__.c.id
            )
        ).all()
    in_zones = {i for _, i in linked} & set(every)  # overdue requests inside a priority zone
    assert in_zones
    code = next(c for c, i in linked if i in in_zones)
    zone_rows = rows(client.get(f"/worklist?norm={NORM}&zone={code}").get_data(as_text=True))
    assert zone_rows and set(zone_rows) <= in_zones


def test_a_fresh_report_is_at_risk_then_overdue(app, engine):
    corr = login(app, "corr")
    data = {
        "category": "friche",
        "description": "<script>alert(1)</script>",
        "latitude": str(LAT),
        "longitude": str(LON),
        "csrf_token": csrf(corr),
    }
    assert corr.post(f"/quarters/{DORCHESTER}/report", data=data).status_code == 302
    with engine.connect() as conn:
        new = conn.execute(select(IV.c.id).where(IV.c.source == "geova-web")).scalar_one()
    client = login(app, "agent")
    # every open request is listed by default: the new one last, due in 72 h, after the 2015 ones
    listed = client.get(f"/worklist?norm={NORM}&quarter={DORCHESTER}").get_data(as_text=True)
    assert rows(listed)[-1] == new
    assert re.search(rf'<tr data-id="{new}">.*?<span class="state open_in_time">', listed, re.S)
    assert new not in rows(client.get(f"/worklist?norm={NORM}&show=due").get_data(as_text=True))
    soon = client.get(f"/worklist?norm={NORM}&show=due&risk_hours=80&quarter={DORCHESTER}").get_data(
        as_text=True
    )
    assert new in rows(soon)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in soon and "<script>alert(1)" not in soon
    later = (pd.Timestamp.now(tz="America/New_York") + pd.Timedelta(days=4)).strftime("%Y-%m-%dT%H:%M")
    html = client.get(f"/worklist?norm={NORM}&as_of={later}").get_data(as_text=True)
    assert new in rows(html)
    feed = client.get(f"/worklist.geojson?norm={NORM}&as_of={later}").get_json()
    mine = next(f for f in feed["features"] if f["properties"]["id"] == new)
    assert mine["properties"]["state"] == "open_overdue"
    assert mine["properties"]["description"] == "<script>alert(1)</script>"


def test_resolve_from_the_worklist(app, engine):
    client = login(app, "agent")
    query = f"norm={NORM}&quarter={DORCHESTER}"
    ids = rows(client.get(f"/worklist?{query}").get_data(as_text=True))
    first = ids[0]
    reported = stored(engine, first).reported_at
    local = pd.Timestamp(reported).tz_convert("America/New_York") + pd.Timedelta(days=10)
    response = client.post(
        f"/worklist/{first}/resolve?{query}",
        data={"resolved_at": local.strftime("%Y-%m-%dT%H:%M"), "note": "done", "csrf_token": csrf(client)},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == f"/worklist?norm={NORM}&quarter={DORCHESTER}"
    row = stored(engine, first)
    assert row.status == "resolved"
    assert pd.Timestamp(row.resolved_at) == local.floor("min").tz_convert("UTC")
    events = history(engine, first)
    assert [(e.kind, e.username, e.note) for e in events] == [("resolved", "agent", "done")]
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "marked resolved" in html and first not in rows(html)
    # again: refused, flashed as an error, nothing stored
    again = client.post(
        f"/worklist/{first}/resolve?{query}",
        data={"resolved_at": local.strftime("%Y-%m-%dT%H:%M"), "csrf_token": csrf(client)},
        follow_redirects=True,
    )
    assert 'class="flash error"' in again.get_data(as_text=True)
    assert "a request resolved cannot become resolved (possible: closed, in progress)" in again.get_data(
        as_text=True
    )
    assert len(history(engine, first)) == 1
    # before the report: refused
    second = ids[1]
    early = pd.Timestamp(stored(engine, second).reported_at).tz_convert("America/New_York") - pd.Timedelta(
        days=1
    )
    response = client.post(
        f"/worklist/{second}/resolve",
        data={"resolved_at": early.strftime("%Y-%m-%dT%H:%M"), "csrf_token": csrf(client)},
        follow_redirects=True,
    )
    assert "before it was reported" in response.get_data(as_text=True)
    assert stored(engine, second).status == "new" and history(engine, second) == []
    assert client.post("/worklist/999999999/resolve", data={"csrf_token": csrf(client)}).status_code == 404


def test_reassign_from_the_worklist(app, engine):
    client = login(app, "agent")
    first = rows(client.get(f"/worklist?norm={NORM}").get_data(as_text=True))[0]
    old = stored(engine, first).service
    response = client.post(
        f"/worklist/{first}/reassign?norm={NORM}&risk_hours=48",
        data={
            "service": "PWDx_District 07: South Dorchester",
            "note": "not ours",
            "csrf_token": csrf(client),
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"] == f"/worklist?norm={NORM}&risk_hours=48"
    # a Boston queue code names its department: Public Works
    assert stored(engine, first).service == "boston.public_works"
    (event,) = history(engine, first)
    assert (event.kind, event.note, event.detail) == (
        "reassigned",
        "not ours",
        {"from": old, "to": "boston.public_works"},
    )
    response = client.post(
        f"/worklist/{first}/reassign", data={"service": "", "csrf_token": csrf(client)}, follow_redirects=True
    )
    assert 'class="flash error"' in response.get_data(as_text=True)
    assert len(history(engine, first)) == 1


def test_worklist_posts_need_a_service_role_and_a_csrf_token(app, engine):
    agent = login(app, "agent")
    first = rows(agent.get(f"/worklist?norm={NORM}").get_data(as_text=True))[0]
    before = stored(engine, first)
    now = datetime.now().strftime("%Y-%m-%dT%H:%M")
    assert agent.post(f"/worklist/{first}/resolve", data={"resolved_at": now}).status_code == 400
    assert agent.post(f"/worklist/{first}/reassign", data={"service": "X"}).status_code == 400
    for user in ("elu", "corr"):
        client = login(app, user)
        token = csrf(client)
        assert (
            client.post(
                f"/worklist/{first}/resolve", data={"resolved_at": now, "csrf_token": token}
            ).status_code
            == 403
        )
        assert (
            client.post(f"/worklist/{first}/reassign", data={"service": "X", "csrf_token": token}).status_code
            == 403
        )
    assert stored(engine, first) == before and history(engine, first) == []


def test_csv_opens_in_french_excel(app):
    client = login(app, "agent")
    page = rows(client.get(f"/worklist?norm={NORM}&quarter={DORCHESTER}").get_data(as_text=True))
    response = client.get(f"/worklist.csv?norm={NORM}&quarter={DORCHESTER}")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    assert re.match(
        r'attachment; filename="geova-worklist-\d{8}-\d{4}\.csv"', response.headers["Content-Disposition"]
    )
    raw = response.data
    assert raw.startswith("\ufeff".encode())  # UTF-8 BOM: Excel reads accents right
    text = raw.decode("utf-8-sig")
    table = list(csv.reader(io.StringIO(text), delimiter=";"))
    header, body = table[0], table[1:]
    assert header[:6] == ["Request", "Category", "Quarter", "Address", "Reported", "Due"]
    assert len(body) == len(page)
    with_id = {r[0]: r for r in body}
    # 101001245664 was reported on 12 January 2015 at 08:26:17 (Boston time): day first, seconds kept
    row = with_id["101001245664"]
    assert row[header.index("Reported")] == "12/01/2015 08:26:17"
    assert re.fullmatch(r"\d+,\d", row[header.index("Hours overdue")])  # decimal comma
    assert re.fullmatch(r"-71,\d{6}", row[header.index("Longitude")])
    assert row[header.index("Quarter")] == "Dorchester"


def test_geojson_is_valid_and_holds_the_same_rows(app):
    client = login(app, "agent")
    page = rows(client.get(f"/worklist?norm={NORM}").get_data(as_text=True))
    response = client.get(f"/worklist.geojson?norm={NORM}")
    assert response.status_code == 200 and response.mimetype == "application/json"
    data = json.loads(response.data, parse_constant=strict)  # NaN or Infinity are not JSON
    assert data["type"] == "FeatureCollection" and data["total"] == len(data["features"])
    ids = [f["properties"]["id"] for f in data["features"]]
    assert ids[: len(page)] == page  # the page shows the first rows, in the same order
    for f in data["features"]:
        assert f["type"] == "Feature" and f["geometry"]["type"] == "Point"
        lon, lat = f["geometry"]["coordinates"]
        assert -180 <= lon <= 180 and -90 <= lat <= 90
        p = f["properties"]
        assert p["state"] in ("open_overdue", "open_at_risk") and (p["i"], p["s"]) == (p["id"], p["state"])
        assert pd.Timestamp(p["reported_at"]).tzinfo is not None and p["hours_overdue"] > 0
    assert any(f["properties"]["address"] is None for f in data["features"])  # gaps are null, not NaN
    lons = sorted(f["geometry"]["coordinates"][0] for f in data["features"])
    west = client.get(f"/worklist.geojson?norm={NORM}&bbox=-72,42,{lons[len(lons) // 2]},43").get_json()
    assert 0 < len(west["features"]) < len(data["features"])
    assert client.get(f"/worklist.geojson?norm={NORM}&bbox=oops").status_code == 400


def test_pages_of_an_empty_store_say_nothing_is_loaded(db_url, engine):
    with engine.begin() as conn:
        users.add_user(conn, "agent", "correct-horse-battery", "service")
    flask_app = create_app({"GEOVA_DATABASE_URL": db_url, "TESTING": True, "SECRET_KEY": "test"})
    client = login(flask_app, "agent")
    for url in ("/quarters", "/worklist"):
        response = client.get(url)
        assert response.status_code == 200 and "No territory loaded yet" in response.get_data(as_text=True)
    assert client.get("/quarters/6").status_code == 404
    assert client.get("/worklist.csv").status_code == 404
    flask_app.extensions["geova_engine"].dispose()
