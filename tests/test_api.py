"""The JSON API (/api/v1) on both backends: every endpoint, keys and sessions, roles, and malformed
input answered with the documented error without any change to the store.

The store: Boston's neighbourhoods as quarters, the 2015 "trash on vacant lot" requests, the OVA
referential plus Boston's norms, one API key per role.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select

from app import create_app
from geova.core.audit import Answer, AuditEntry
from geova.core.norms import Basis
from geova.evaluation import evaluate
from geova.importing import import_interventions, load_extra_referential
from geova.store import apikeys, audit
from geova.store.schema import (
    ApiKey,
    Intervention,
    InterventionEvent,
    InterventionFlag,
    InterventionZone,
    Quarter,
)
from geova.store.status import set_setting
from geova.store.users import add_user
from tests.boston import load_quarters
from tests.test_web_correspondent import PASSWORD, csrf, fast_passwords

REPO = Path(__file__).resolve().parents[1]
NORM = "nantes.friches.72h"
DORCHESTER = "6"
LON, LAT = -71.0778, 42.2816  # 31 Selden St, Dorchester
ROLES = ("correspondent", "service", "official", "admin")
IV = Intervention.__table__
EV = InterventionEvent.__table__
READS = [
    "/api/v1/interventions",
    "/api/v1/interventions/1",
    "/api/v1/evaluations?per_intervention=true",
    "/api/v1/audit",
]


def build_store(engine: Engine, rejects: Path) -> dict[str, str]:
    """The store of this module; returns one API key token per role."""
    load_quarters(engine)
    import_interventions(
        engine,
        REPO / "data/boston/trash-on-vacant-lot.csv",
        REPO / "data/mappings/trash-on-vacant-lot.toml",
        rejects_path=rejects,
    )
    load_extra_referential(engine, REPO / "data/boston/norms.toml")
    tokens = {}
    with engine.begin() as conn:
        set_setting(conn, "timezone", "America/New_York")
        set_setting(conn, "holidays", "US-MA")
        for role in ROLES:
            tokens[role] = apikeys.add_key(conn, f"{role}-app", role)[1]
    return tokens


@pytest.fixture(autouse=True)
def _fast_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_passwords(monkeypatch)


@pytest.fixture
def tokens(engine: Engine, tmp_path: Path) -> dict[str, str]:
    return build_store(engine, tmp_path / "rejects.csv")


@pytest.fixture
def app(db_url: str, tokens: dict[str, str]) -> Any:
    return create_app({"GEOVA_DATABASE_URL": db_url, "TESTING": True, "SECRET_KEY": "test"})


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def snapshot(engine: Engine) -> tuple:
    """Everything a write could change: every request's mutable fields and the counts of the tables
    written with them."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                IV.c.id,
                IV.c.source,
                IV.c.source_id,
                IV.c.status,
                IV.c.resolved_at,
                IV.c.service,
                IV.c.channel,
                IV.c.insulting,
                IV.c.severity,
                IV.c.content_hash,
            ).order_by(IV.c.id)
        ).all()
        counts = [
            conn.execute(select(func.count()).select_from(t.__table__)).scalar_one()
            for t in (Intervention, InterventionEvent, InterventionZone, InterventionFlag, ApiKey)
        ]
    return tuple(tuple(r) for r in rows), tuple(counts)


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """An RFC 9457 problem: ``type``, ``title`` (the status phrase), ``status``, ``detail``, ``code``."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:300])
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert {"type", "title", "status", "detail", "code"} <= set(problem) <= {*problem, "param", "errors"}
    assert problem["status"] == status and problem["type"] == "about:blank" and problem["detail"]
    assert problem["title"] == HTTPStatus(status).phrase
    if code:
        assert problem["code"] == code, problem
    return problem


def db_count(engine: Engine, *conditions: Any) -> int:
    q1 = Quarter.__table__.alias("q1")
    query = select(func.count()).select_from(IV).outerjoin(q1, q1.c.id == IV.c.quarter_id)
    for c in conditions:
        query = query.where(c(q1))
    with engine.connect() as conn:
        return conn.execute(query).scalar_one()


# -- public documents and referential ------------------------------------------------------------


def test_referential_and_documents_are_public(client, engine):
    index = client.get("/api/v1/")
    assert index.status_code == 200 and index.get_json()["links"]["openapi"] == "/api/v1/openapi.json"
    quarters = client.get("/api/v1/quarters").get_json()["items"]
    with engine.connect() as conn:
        stored = set(conn.execute(select(Quarter.__table__.c.code)).scalars())
    assert {q["code"] for q in quarters} == stored
    dorchester = next(q for q in quarters if q["code"] == DORCHESTER)
    assert dorchester == {"code": "6", "name": "Dorchester", "level": 0, "parent": None}
    assert client.get("/api/v1/zones").get_json() == {"items": []}
    cats = {c["code"]: c for c in client.get("/api/v1/categories").get_json()["items"]}
    assert cats["friche"] == {
        "code": "friche",
        "label_fr": "Friche ou terrain en attente de travaux",
        "label_en": "Waste land or land awaiting works",
        "task": "proprete.friches",
        "field": "proprete",
    }
    active = {n["code"]: n for n in client.get("/api/v1/norms").get_json()["items"]}
    assert {"boston.target", NORM} <= set(active) and all(n["active"] for n in active.values())
    assert active[NORM]["targets"] == [{"from": "2008-01-01", "value": 72.0, "quarter": None, "zone": None}]
    assert active[NORM]["kind"] == "deadline" and active[NORM]["unit"] == "hours"
    assert active["boston.target"]["deadline"] == "source"
    every = client.get("/api/v1/norms?all=true").get_json()["items"]
    assert len(every) > len(active) and any(not n["active"] for n in every)
    assert client.get(f"/api/v1/norms/{NORM}").get_json()["code"] == NORM
    assert_error(client.get("/api/v1/norms/no.such.norm"), 404, "not_found")
    assert_error(client.get("/api/v1/norms?all=maybe"), 400, "invalid_parameter")
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    assert {
        "/api/v1/",
        "/api/v1/quarters",
        "/api/v1/zones",
        "/api/v1/categories",
        "/api/v1/norms",
        "/api/v1/norms/{code}",
        "/api/v1/interventions",
        "/api/v1/interventions/{intervention_id}",
        "/api/v1/interventions/{intervention_id}/resolve",
        "/api/v1/interventions/{intervention_id}/status",
        "/api/v1/evaluations",
        "/api/v1/audit",
    } == set(doc["paths"])
    assert_error(client.get("/api/v1/no-such-thing"), 404, "not_found")
    assert_error(client.delete("/api/v1/quarters"), 405)


# -- authentication ------------------------------------------------------------------------------


def test_reads_need_a_key_or_a_session(client, app, engine, tokens):
    for path in READS:
        response = client.get(path)
        assert_error(response, 401, "unauthorized")
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert_error(client.get(path, headers=bearer("geova_not-a-key")), 401, "unauthorized")
        assert_error(client.get(path, headers={"Authorization": "Basic dXNlcjpwdw=="}), 401)
        with_key = path + ("&" if "?" in path else "?") + "api_key="
        assert_error(client.get(with_key), 401, "unauthorized")
        for token in tokens.values():  # any role reads
            assert client.get(path, headers=bearer(token)).status_code == 200, path
        via_param = client.get(with_key + tokens["official"])
        assert via_param.status_code == 200
        assert tokens["official"] not in via_param.get_data(as_text=True)  # not even in the links
    with engine.begin() as conn:
        apikeys.revoke(conn, "official-app")
    assert_error(client.get(READS[0], headers=bearer(tokens["official"])), 401, "unauthorized")
    # a logged-in session works too
    with engine.begin() as conn:
        add_user(conn, "elu", PASSWORD, "official")
    session = app.test_client()
    session.post("/login", data={"username": "elu", "password": PASSWORD, "csrf_token": csrf(session)})
    assert session.get(READS[0]).status_code == 200
    # a presented key wins over the session: a wrong one is refused
    assert_error(session.get(READS[0], headers=bearer("wrong")), 401, "unauthorized")
    with engine.connect() as conn:
        stored = conn.execute(select(ApiKey.__table__.c.key_hash)).scalars().all()
    assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h in stored)
    assert not any(token in stored for token in tokens.values())


# -- requests ------------------------------------------------------------------------------------


def test_interventions_filters_and_paging(client, engine, tokens):
    h = bearer(tokens["official"])
    first = client.get("/api/v1/interventions", headers=h).get_json()
    total = db_count(engine)
    assert first["total"] == total and first["limit"] == 100 and len(first["items"]) == 100
    assert first["norm"] == "boston.target"  # no headline_norm setting: the first active deadline norm
    # following the next links walks every request once, in id order
    seen, url = [], "/api/v1/interventions?limit=150"
    while url:
        page = client.get(url, headers=h).get_json()
        seen += [i["id"] for i in page["items"]]
        url = page["links"]["next"]
    with engine.connect() as conn:
        assert seen == list(conn.execute(select(IV.c.id).order_by(IV.c.id)).scalars())
    last = client.get(f"/api/v1/interventions?offset={total}", headers=h).get_json()
    assert last["items"] == [] and last["links"]["next"] is None and last["links"]["prev"]
    item = first["items"][0]
    assert item["source"] == "boston-311" and item["source_id"] == "101001241477"
    assert item["reported_at"] == "2015-01-02T15:33:48-05:00"  # ISO 8601 with the territory's offset
    assert item["quarter"] == DORCHESTER and (item["lon"], item["lat"]) == (LON, LAT)
    assert item["links"]["self"] == f"/api/v1/interventions/{item['id']}"
    assert item["verdict"]["norm"] == "boston.target" and item["verdict"]["state"] == "late"
    # filters
    by_quarter = client.get(f"/api/v1/interventions?quarter={DORCHESTER}&limit=1", headers=h).get_json()
    assert by_quarter["total"] == db_count(engine, lambda q1: q1.c.code == DORCHESTER) > 0
    march = client.get("/api/v1/interventions?from=2015-03-01&to=2015-03-31&limit=1", headers=h).get_json()
    start = datetime(2015, 3, 1, 5, tzinfo=UTC)  # midnight in Boston (EST)
    end = datetime(2015, 4, 1, 4, tzinfo=UTC)  # midnight in Boston (EDT)
    assert march["total"] == db_count(
        engine, lambda q1: IV.c.reported_at >= start, lambda q1: IV.c.reported_at < end
    )
    assert 0 < march["total"] < total
    box = "-71.09,42.27,-71.06,42.29"
    boxed = client.get(f"/api/v1/interventions?bbox={box}&limit=1000", headers=h).get_json()
    assert boxed["total"] > 0
    assert all(-71.09 <= i["lon"] <= -71.06 and 42.27 <= i["lat"] <= 42.29 for i in boxed["items"])
    assert client.get("/api/v1/interventions?category=graffiti", headers=h).get_json()["total"] == 0
    # states under a norm, as the evaluation API says
    as_of = "2015-07-01T00:00:00-04:00"
    overdue = client.get(
        f"/api/v1/interventions?norm={NORM}&state=open_overdue&as_of={as_of}&limit=1000",
        query_string=None,
        headers=h,
    ).get_json()
    result = evaluate(engine, as_of=pd.Timestamp(as_of), norm_codes=[NORM])
    expected = result.per_intervention.loc[result.per_intervention["state"] == "open_overdue", "id"]
    assert overdue["total"] == len(expected) > 0
    assert [i["id"] for i in overdue["items"]] == sorted(int(i) for i in expected)
    assert all(i["verdict"]["state"] == "open_overdue" for i in overdue["items"])
    two = client.get(
        f"/api/v1/interventions?norm={NORM}&state=open_overdue,late&as_of={as_of}&limit=5&offset=5", headers=h
    ).get_json()
    assert len(two["items"]) == 5 and {i["verdict"]["state"] for i in two["items"]} <= {
        "open_overdue",
        "late",
    }


def test_one_intervention_with_every_verdict_and_its_history(client, engine, tokens):
    h = bearer(tokens["correspondent"])
    one = client.get(f"/api/v1/interventions/1?norm={NORM}&as_of=2015-12-31", headers=h).get_json()
    assert one["id"] == 1 and one["verdict"]["norm"] == NORM
    assert {v["norm"] for v in one["verdicts"]} == {"boston.target", NORM}
    mine = next(v for v in one["verdicts"] if v["norm"] == NORM)
    assert mine["target_hours"] == 72 and mine["due_at"] == "2015-01-05T15:33:48-05:00"
    assert mine["state"] == "late" and mine["hours_taken"] > 72
    assert one["events"] == [] and one["flags"] == []
    assert_error(client.get("/api/v1/interventions/999999", headers=h), 404, "not_found")
    assert_error(client.get("/api/v1/interventions/99999999999999999999", headers=h), 404)
    assert_error(
        client.get("/api/v1/interventions/1?norm=nantes.friches.2an", headers=h), 400, "unknown_code"
    )


def test_evaluations_say_what_geova_evaluate_says(client, engine, tokens):
    h = bearer(tokens["official"])
    as_of = "2015-12-31T23:00:00-05:00"
    got = client.get(f"/api/v1/evaluations?as_of={as_of}&norm={NORM}&by=quarter", headers=h).get_json()
    result = evaluate(engine, as_of=pd.Timestamp(as_of), norm_codes=[NORM], by=["quarter"])
    assert got["norms"] == [NORM] and got["by"] == ["quarter"] and got["timezone"] == "America/New_York"
    assert got["as_of"] == "2015-12-31T23:00:00-05:00"
    expected = result.aggregates.set_index("quarter")
    assert len(got["aggregates"]) == len(expected)
    for row in got["aggregates"]:
        ref = expected.loc[row["quarter"]]
        assert row["requests"] == ref["requests"] and row["late"] == ref["late"]
        assert row["quarter_name"] == ref["quarter_name"]
        rate = ref["on_time_rate"]
        assert (row["on_time_rate"] is None and pd.isna(rate)) or row["on_time_rate"] == pytest.approx(rate)
    assert "per_intervention" not in got and got["periodic"] == []
    # several norms, source deadlines, a risk window and the verdicts, paged
    both = client.get(
        f"/api/v1/evaluations?as_of={as_of}&norm={NORM}&norm=boston.target&deadline=source"
        "&risk_hours=48&per_intervention=true&limit=10&offset=3",
        headers=h,
    ).get_json()
    src = evaluate(
        engine,
        as_of=pd.Timestamp(as_of),
        norm_codes=[NORM, "boston.target"],
        basis=Basis.SOURCE,
        risk_hours=48,
    )
    assert {a["norm"]: a["on_time"] for a in both["aggregates"]} == dict(
        zip(src.aggregates["norm"], src.aggregates["on_time"], strict=True)
    )
    per = both["per_intervention"]
    assert per["total"] == len(src.per_intervention) and per["offset"] == 3 and len(per["items"]) == 10
    assert set(per["items"][0]) >= {"norm", "id", "source_id", "state", "due_at", "hours_overdue"}
    # periodic norms: every unit and period
    periodic = client.get(
        "/api/v1/evaluations?norm=nantes.encombrants.hebdo&from=2015-01-05&to=2015-01-25&as_of=2015-02-01",
        headers=h,
    ).get_json()
    assert periodic["aggregates"] == [] and periodic["periodic"]
    assert {p["period_start"] for p in periodic["periodic"]} == {"2015-01-05", "2015-01-12", "2015-01-19"}
    assert all(p["achieved"] == 0 and p["target"] == 1 for p in periodic["periodic"])


def test_audit_grid(client, engine, tokens):
    with engine.begin() as conn:
        audit.record(
            conn,
            [
                AuditEntry(
                    DORCHESTER, 2015, "proprete.graffiti", Answer.OUI, Answer.NON, "NON (marché en cours)"
                ),
                AuditEntry("7", 2016, "proprete.friches", Answer.NON, Answer.NON),
            ],
            recorded_by="test",
        )
    h = bearer(tokens["service"])
    grid = client.get("/api/v1/audit?year=2015", headers=h).get_json()
    assert grid["year"] == 2015 and len(grid["items"]) == 1
    row = grid["items"][0]
    assert (row["quarter"], row["task"], row["commitment"], row["respected"]) == (
        DORCHESTER,
        "proprete.graffiti",
        "OUI",
        "NON",
    )
    assert row["comment"] == "NON (marché en cours)" and row["quarter_name"] == "Dorchester"
    assert row["recorded_at"].endswith(("-05:00", "-04:00"))
    assert len(client.get("/api/v1/audit", headers=h).get_json()["items"]) == 2
    assert client.get("/api/v1/audit?quarter=7", headers=h).get_json()["items"][0]["year"] == 2016


# -- malformed reads -----------------------------------------------------------------------------

BAD_READS = [
    ("/api/v1/interventions?from=2015-13-01", "invalid_parameter"),
    ("/api/v1/interventions?from=yesterday", "invalid_parameter"),
    ("/api/v1/interventions?to=2015-02-30", "invalid_parameter"),
    ("/api/v1/interventions?from=2015-03-01&to=2015-02-01", "invalid_parameter"),
    ("/api/v1/interventions?from=1066-10-14", "invalid_parameter"),
    ("/api/v1/interventions?as_of=2015-01-01T25:00", "invalid_parameter"),
    ("/api/v1/interventions?as_of=9999-12-31", "invalid_parameter"),
    ("/api/v1/interventions?quarter=999", "unknown_code"),
    ("/api/v1/interventions?quarter=6,nowhere", "unknown_code"),
    ("/api/v1/interventions?zone=Z1", "unknown_code"),
    ("/api/v1/interventions?category=potholes", "unknown_code"),
    ("/api/v1/interventions?norm=no.such.norm", "unknown_code"),
    ("/api/v1/interventions?norm=nantes.encombrants.hebdo", "unknown_code"),
    ("/api/v1/interventions?state=lost", "invalid_parameter"),
    ("/api/v1/interventions?limit=0", "invalid_parameter"),
    ("/api/v1/interventions?limit=1001", "invalid_parameter"),
    ("/api/v1/interventions?limit=ten", "invalid_parameter"),
    ("/api/v1/interventions?limit=-5", "invalid_parameter"),
    ("/api/v1/interventions?offset=-1", "invalid_parameter"),
    ("/api/v1/interventions?offset=1e3", "invalid_parameter"),
    ("/api/v1/interventions?offset=99999999999", "invalid_parameter"),
    ("/api/v1/interventions?bbox=1,2,3", "invalid_parameter"),
    ("/api/v1/interventions?bbox=a,b,c,d", "invalid_parameter"),
    ("/api/v1/interventions?bbox=10,0,-10,1", "invalid_parameter"),
    ("/api/v1/interventions?bbox=0,0,nan,1", "invalid_parameter"),
    ("/api/v1/interventions?quarter=%00", "invalid_parameter"),
    ("/api/v1/interventions/1?as_of=never", "invalid_parameter"),
    ("/api/v1/evaluations?by=planet", "invalid_parameter"),
    ("/api/v1/evaluations?norm=no.such.norm", "unknown_code"),
    ("/api/v1/evaluations?deadline=whenever", "invalid_parameter"),
    ("/api/v1/evaluations?risk_hours=-1", "invalid_parameter"),
    ("/api/v1/evaluations?risk_hours=inf", "invalid_parameter"),
    ("/api/v1/evaluations?risk_hours=lots", "invalid_parameter"),
    ("/api/v1/evaluations?from=2015-01-01T10:00", "invalid_parameter"),
    ("/api/v1/evaluations?from=1980-01-01&to=2015-01-01", "invalid_parameter"),
    ("/api/v1/evaluations?from=2015-02-01&to=2015-01-01", "invalid_parameter"),
    ("/api/v1/evaluations?per_intervention=perhaps", "invalid_parameter"),
    ("/api/v1/evaluations?per_intervention=true&limit=5000", "invalid_parameter"),
    ("/api/v1/evaluations?quarter=999", "unknown_code"),
    ("/api/v1/audit?year=15", "invalid_parameter"),
    ("/api/v1/audit?year=twenty", "invalid_parameter"),
    ("/api/v1/audit?quarter=999", "unknown_code"),
    ("/api/v1/audit?quarter=6,7", "invalid_parameter"),
]


def test_malformed_reads_answer_400(client, engine, tokens):
    before = snapshot(engine)
    h = bearer(tokens["admin"])
    for url, code in BAD_READS:
        assert_error(client.get(url, headers=h), 400, code)
    assert snapshot(engine) == before


# -- writes --------------------------------------------------------------------------------------


def report(client: Any, token: str | None, **changes: Any) -> Any:
    body = {"category": "friche", "description": "Sacs de déchets", "lat": LAT, "lon": LON, **changes}
    body = {k: v for k, v in body.items() if v is not None}
    return client.post("/api/v1/interventions", json=body, headers=bearer(token) if token else {})


def test_report_and_resolve(client, app, engine, tokens):
    before = snapshot(engine)[1]
    created = report(client, tokens["correspondent"], address="31 Selden St", insulting=True, severity="P2")
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert created.headers["Location"] == f"/api/v1/interventions/{body['id']}"
    assert body["status"] == "new" and body["quarter"] == DORCHESTER
    assert body["insulting"] is True and body["severity"] == "P2" and body["channel"] == "geova"
    assert (
        body["events"][0]["kind"] == "reported" and body["events"][0]["username"] == "key:correspondent-app"
    )
    assert {v["norm"]: v["state"] for v in body["verdicts"]}[NORM] == "open_in_time"
    with engine.connect() as conn:
        row = conn.execute(select(IV).where(IV.c.id == body["id"])).one()
    assert (row.category_code, row.description, row.address) == ("friche", "Sacs de déchets", "31 Selden St")
    assert (row.insulting, row.severity) == (True, "P2")
    assert snapshot(engine)[1][:2] == (before[0] + 1, before[1] + 1)
    # a service key may report too, with a channel and a past report time; admin as well
    phoned = report(client, tokens["service"], channel="phone", reported_at="2015-06-01T09:00:00-04:00")
    assert phoned.status_code == 201
    assert phoned.get_json()["channel"] == "phone"
    assert phoned.get_json()["reported_at"] == "2015-06-01T09:00:00-04:00"
    assert report(client, tokens["admin"], long=LON, lon=None).status_code == 201
    # resolved by a service key
    resolved = client.post(
        f"/api/v1/interventions/{phoned.get_json()['id']}/resolve",
        json={"resolved_at": "2015-06-03T09:00:00-04:00", "note": "cleared"},
        headers=bearer(tokens["service"]),
    )
    assert resolved.status_code == 200, resolved.get_json()
    done = resolved.get_json()
    assert done["status"] == "resolved" and done["resolved_at"] == "2015-06-03T09:00:00-04:00"
    assert {v["norm"]: v["state"] for v in done["verdicts"]}[NORM] == "on_time"
    assert [e["kind"] for e in done["events"]] == ["reported", "resolved"]
    assert done["events"][1]["note"] == "cleared" and done["events"][1]["username"] == "key:service-app"
    # resolved now, with an empty body, by an admin key
    now = client.post(
        f"/api/v1/interventions/{body['id']}/resolve",
        data="",
        content_type="application/json",
        headers=bearer(tokens["admin"]),
    )
    assert now.status_code == 200 and now.get_json()["status"] == "resolved"
    # listed like any other request
    listed = client.get("/api/v1/interventions?offset=381", headers=bearer(tokens["official"])).get_json()
    assert [i["id"] for i in listed["items"]] == [body["id"], phoned.get_json()["id"], body["id"] + 2]


def logged_in(app: Any, username: str) -> Any:
    client = app.test_client()
    client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": csrf(client)})
    return client


def test_a_session_writes_with_json_only(app, engine):
    with engine.begin() as conn:
        add_user(conn, "corr", PASSWORD, "correspondent", DORCHESTER)
        add_user(conn, "agent", PASSWORD, "service")
    client, agent = logged_in(app, "corr"), logged_in(app, "agent")
    before = snapshot(engine)
    # a form another site could post with the visitor's cookie: refused, nothing stored
    form = {"category": "friche", "description": "x", "lat": str(LAT), "lon": str(LON)}
    assert_error(client.post("/api/v1/interventions", data=form), 400, "invalid_body")
    assert_error(agent.post("/api/v1/interventions/4/resolve", data={}), 400, "invalid_body")
    assert_error(agent.post("/api/v1/interventions/4/resolve"), 400, "invalid_body")
    assert_error(
        client.post("/api/v1/interventions", data='{"category": "friche"}', content_type="text/plain"),
        400,
        "invalid_body",
    )
    assert snapshot(engine) == before
    created = report(client, None)
    assert created.status_code == 201 and created.get_json()["events"][0]["username"] == "corr"
    assert_error(client.post("/api/v1/interventions/4/resolve", json={}), 403, "forbidden")


def test_refused_writes_change_nothing(client, engine, tokens):
    before = snapshot(engine)
    c, s = tokens["correspondent"], tokens["service"]
    assert_error(report(client, None), 401, "unauthorized")
    assert_error(report(client, "geova_forged"), 401, "unauthorized")
    assert_error(report(client, tokens["official"]), 403, "forbidden")
    post = client.post
    assert_error(post("/api/v1/interventions/4/resolve", json={}, headers=bearer(c)), 403, "forbidden")
    assert_error(post("/api/v1/interventions/4/resolve", json={}), 401)
    assert_error(post("/api/v1/interventions/4/resolve", json={}, headers=bearer(tokens["official"])), 403)
    bad_json = post("/api/v1/interventions", data="{", content_type="application/json", headers=bearer(c))
    assert_error(bad_json, 400, "invalid_body")
    assert_error(post("/api/v1/interventions", json=[1, 2], headers=bearer(c)), 400, "invalid_body")
    huge = {"category": "friche", "description": "x", "lat": LAT, "lon": LON, "padding": "p" * 70_000}
    assert_error(post("/api/v1/interventions", json=huge, headers=bearer(c)), 413)
    for changes in (
        {"category": None},
        {"category": "potholes"},
        {"category": 12},
        {"description": None},
        {"description": "   "},
        {"description": "x" * 2001},
        {"description": "a\x00b"},
        {"address": "y" * 301},
        {"lat": None},
        {"lat": 91},
        {"lon": -181},
        {"lat": "42.28"},
        {"lat": True},
        {"lat": 10**400},
        {"insulting": "yes"},
        {"severity": "S" * 33},
        {"channel": ["phone"]},
        {"reported_at": "2015-06-01T09:00:00"},
        {"reported_at": "last week"},
        {"reported_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()},
        {"reported_at": "1900-01-01T00:00:00Z"},
    ):
        assert_error(report(client, c, **changes), 422, "invalid_field")
    resolve = "/api/v1/interventions/{}/resolve"
    assert_error(post(resolve.format(999999), json={}, headers=bearer(s)), 404, "not_found")
    assert_error(post(resolve.format(10**12), json={}, headers=bearer(s)), 404, "not_found")
    assert_error(post(resolve.format(1), json={}, headers=bearer(s)), 422, "invalid_field")  # closed
    with engine.connect() as conn:
        open_id = (
            conn.execute(select(IV.c.id).where(IV.c.status == "new").order_by(IV.c.id)).scalars().first()
        )
    for body in (
        {"resolved_at": "2014-01-01T00:00:00Z"},  # before the report
        {"resolved_at": (datetime.now(UTC) + timedelta(hours=2)).isoformat()},
        {"resolved_at": "2015-06-01"},
        {"note": "n" * 2001},
        {"note": 5},
    ):
        assert_error(post(resolve.format(open_id), json=body, headers=bearer(s)), 422, "invalid_field")
    assert_error(
        post(resolve.format(open_id), data="[]", content_type="application/json", headers=bearer(s)), 400
    )
    assert snapshot(engine) == before


def test_cli_manages_keys(db_url, engine, tokens):
    from geova.cli import cli

    runner = CliRunner()
    added = runner.invoke(cli, ["--db", db_url, "apikey", "add", "partner", "--role", "service"])
    assert added.exit_code == 0, added.output
    token = added.stdout.strip().splitlines()[-1]
    assert token.startswith("geova_") and len(token) > 40
    with engine.connect() as conn:
        key = apikeys.authenticate(conn, token)
    assert key is not None and (key.name, key.role) == ("partner", "service")
    again = runner.invoke(cli, ["--db", db_url, "apikey", "add", "partner", "--role", "service"])
    assert again.exit_code != 0 and "already exists" in again.output
    wrong = runner.invoke(cli, ["--db", db_url, "apikey", "add", "bad name", "--role", "service"])
    assert wrong.exit_code != 0
    listed = runner.invoke(cli, ["--db", db_url, "apikey", "list"])
    assert "partner" in listed.output and "service" in listed.output and token not in listed.output
    assert runner.invoke(cli, ["--db", db_url, "apikey", "revoke", "partner"]).exit_code == 0
    with engine.connect() as conn:
        assert apikeys.authenticate(conn, token) is None
    assert runner.invoke(cli, ["--db", db_url, "apikey", "revoke", "nobody"]).exit_code != 0


# -- problem details, the territory, ids ---------------------------------------------------------


def test_problems_name_the_parameter_or_the_member(client, tokens):
    h = bearer(tokens["admin"])
    limit = assert_error(client.get("/api/v1/interventions?limit=1001", headers=h), 400, "invalid_parameter")
    assert limit["param"] == "limit" and limit["detail"].startswith("limit: ")
    assert limit["errors"] == [{"parameter": "limit", "detail": limit["detail"].removeprefix("limit: ")}]
    unknown = assert_error(client.get("/api/v1/interventions?zone=Z1", headers=h), 400, "unknown_code")
    assert unknown["param"] == "zone" and "Z1" in unknown["detail"]
    lat = assert_error(report(client, tokens["admin"], lat=91), 422, "invalid_field")
    assert lat["param"] == "lat" and [e["pointer"] for e in lat["errors"]] == ["#/lat"]
    denied = assert_error(report(client, tokens["official"]), 403, "forbidden")
    assert "param" not in denied and "errors" not in denied


def test_a_point_outside_the_territory_is_refused(client, engine, tokens):
    before = snapshot(engine)
    paris = assert_error(report(client, tokens["admin"], lat=48.85, lon=2.35), 422, "invalid_field")
    assert paris["param"] == "lon,lat"
    assert [e["pointer"] for e in paris["errors"]] == ["#/lon", "#/lat"]
    assert "outside" in paris["detail"]
    assert snapshot(engine) == before


def test_ids_beyond_the_store_are_not_found(client, engine, tokens):
    before = snapshot(engine)
    h, s = bearer(tokens["official"]), bearer(tokens["service"])
    for big in (2**31, 2**63 - 1, 2**63, 10**30):
        assert_error(client.get(f"/api/v1/interventions/{big}", headers=h), 404, "not_found")
        assert_error(
            client.post(f"/api/v1/interventions/{big}/resolve", json={}, headers=s), 404, "not_found"
        )
    assert_error(client.get("/api/v1/norms/%00", headers=h), 404, "not_found")
    assert snapshot(engine) == before


# -- who reads what ------------------------------------------------------------------------------


def dorchester_ids(engine: Engine) -> set[int]:
    q = Quarter.__table__
    with engine.connect() as conn:
        return set(
            conn.execute(select(IV.c.id).join(q, q.c.id == IV.c.quarter_id).where(q.c.code == DORCHESTER))
            .scalars()
            .all()
        )


def every_item(client: Any, url: str, headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while url:
        page = client.get(url, headers=headers or {}).get_json()
        items += page["items"]
        url = page["links"]["next"]
    return items


def test_anonymous_callers_read_requests_only_when_published(app, client, engine, tokens):
    as_of = "2015-12-31T23:00:00-05:00"
    for url in READS[:3]:
        assert_error(client.get(url), 401, "unauthorized")
    aggregates = f"/api/v1/evaluations?as_of={as_of}&by=quarter"
    public = client.get(aggregates)
    assert public.status_code == 200  # aggregates are for everybody
    assert public.get_json() == client.get(aggregates, headers=bearer(tokens["official"])).get_json()
    # a request with a history, then the city publishes its requests
    created = report(client, tokens["correspondent"], address="31 Selden St").get_json()
    client.post(
        f"/api/v1/interventions/{created['id']}/resolve",
        json={"note": "Mr X called"},
        headers=bearer(tokens["service"]),
    )
    with engine.begin() as conn:
        set_setting(conn, "publish_requests", "true")
    anonymous = app.test_client()
    listed = every_item(anonymous, "/api/v1/interventions?limit=1000")
    assert len(listed) == db_count(engine)
    assert all(i["description"] is None and i["address"] is None for i in listed)
    one = anonymous.get(f"/api/v1/interventions/{created['id']}").get_json()
    assert (one["description"], one["address"]) == (None, None)
    assert [(e["kind"], e["username"], e["note"]) for e in one["events"]] == [
        ("reported", None, None),
        ("resolved", None, None),
    ]
    with_key = client.get(
        f"/api/v1/interventions/{created['id']}", headers=bearer(tokens["official"])
    ).get_json()
    assert with_key["description"] == "Sacs de déchets" and with_key["address"] == "31 Selden St"
    assert with_key["events"][1]["note"] == "Mr X called"
    per = anonymous.get(f"/api/v1/evaluations?as_of={as_of}&norm={NORM}&per_intervention=true").get_json()
    assert per["per_intervention"]["total"] > 0


def test_a_correspondent_reads_the_requests_of_their_quarter(app, client, engine, tokens):
    with engine.begin() as conn:
        add_user(conn, "corr", PASSWORD, "correspondent", DORCHESTER)
    corr = logged_in(app, "corr")
    mine = dorchester_ids(engine)
    assert 0 < len(mine) < db_count(engine)
    listed = every_item(corr, "/api/v1/interventions?limit=1000")
    assert {i["id"] for i in listed} == mine and all(i["quarter"] == DORCHESTER for i in listed)
    assert all(i["description"] for i in listed)  # their quarter in detail
    other = corr.get("/api/v1/interventions?quarter=7").get_json()
    assert other["total"] == 0 and other["items"] == []
    with engine.connect() as conn:
        elsewhere = (
            conn.execute(select(IV.c.id).where(IV.c.id.not_in(mine)).order_by(IV.c.id)).scalars().first()
        )
    assert_error(corr.get(f"/api/v1/interventions/{elsewhere}"), 403, "forbidden")
    assert corr.get(f"/api/v1/interventions/{min(mine)}").status_code == 200
    # aggregates stay city-wide; the verdicts per request are their quarter's
    as_of = "2015-12-31T23:00:00-05:00"
    url = f"/api/v1/evaluations?as_of={as_of}&norm={NORM}&by=quarter&per_intervention=true&limit=1000"
    theirs = corr.get(url).get_json()
    everything = client.get(url, headers=bearer(tokens["official"])).get_json()
    assert theirs["aggregates"] == everything["aggregates"] and len(theirs["aggregates"]) > 1
    expected = {i["id"] for i in everything["per_intervention"]["items"]} & mine
    assert {i["id"] for i in theirs["per_intervention"]["items"]} == expected
    assert theirs["per_intervention"]["total"] == len(expected) > 0
    # keys, whatever their role, read every request
    assert client.get("/api/v1/interventions", headers=bearer(tokens["correspondent"])).get_json()[
        "total"
    ] == db_count(engine)
