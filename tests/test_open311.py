"""Open311 GeoReport v2 (/open311/v2) on both backends: discovery, services and their definitions,
requests (GET and POST), tokens, in JSON and XML, the spec's error format and codes, and no change
to the store on a refused POST.

Two published Open311 clients from PyPI drive a live server: ``georeport`` lists services and
requests (it has no method to post), and ``civicbot`` validates and posts a request, which is read
back and shows up on the services' worklist once overdue.
"""

from __future__ import annotations

import re
import socket
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from civicbot.http import HttpTransport, RateLimiter
from civicbot.open311 import CONFIRM_TOKEN, Open311Client
from civicbot.registry import Endpoint
from georeport import GeoReport
from sqlalchemy import Engine, select

from app import create_app
from geova.evaluation import evaluate
from geova.store import apikeys
from geova.store.records import RecordFilter
from geova.store.schema import Intervention, InterventionEvent
from geova.store.users import add_user
from tests.test_api import DORCHESTER, LAT, LON, NORM, PASSWORD, build_store, csrf, fast_passwords, snapshot

IV = Intervention.__table__
EV = InterventionEvent.__table__
BASE = "/open311/v2"
W3 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d([+-]\d\d:\d\d|Z)$")
# categories the store's active deadline norms cover, or its requests use
REQUESTABLE = {"corbeille", "epave", "friche", "graffiti", "mobilier", "nettoiement", "seringue"}


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
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


def xml(response: Any) -> ET.Element:
    assert response.mimetype == "text/xml" and response.mimetype_params["charset"] == "utf-8"
    body = response.get_data()
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    return ET.fromstring(body)


def as_json(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/json" and response.mimetype_params["charset"] == "utf-8"
    return response.get_json()


def assert_error(response: Any, status: int, fmt: str = "json") -> str:
    """The spec's error format: [{"code", "description"}] or <errors><error><code/><description/>."""
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    if fmt == "json":
        body = as_json(response, status)
        assert len(body) == 1 and body[0]["code"] == status and body[0]["description"]
        return body[0]["description"]
    root = xml(response)
    assert root.tag == "errors"
    error = root.find("error")
    assert error is not None and error.findtext("code") == str(status) and error.findtext("description")
    return error.findtext("description") or ""


def test_discovery(client):
    for fmt in ("json", "xml"):
        response = client.get(f"{BASE}/discovery.{fmt}")
        assert response.status_code == 200
        if fmt == "json":
            doc = as_json(response)
        else:
            root = xml(response)
            endpoint = root.find("endpoints/endpoint")
            assert root.tag == "discovery" and endpoint is not None
            doc = {
                "changeset": root.findtext("changeset"),
                "endpoints": [
                    {
                        "specification": endpoint.findtext("specification"),
                        "url": endpoint.findtext("url"),
                        "type": endpoint.findtext("type"),
                        "formats": [f.text for f in endpoint.findall("formats/format")],
                    }
                ],
            }
        assert W3.match(doc["changeset"])
        (endpoint,) = doc["endpoints"]
        assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
        assert endpoint["url"] == "http://localhost/open311/v2" and endpoint["type"] == "production"
        assert endpoint["formats"] == ["text/xml", "application/json"]


def test_services_and_definitions(client):
    services = as_json(client.get(f"{BASE}/services.json"))
    assert {s["service_code"] for s in services} == REQUESTABLE
    friche = next(s for s in services if s["service_code"] == "friche")
    assert friche["service_name"] == "Waste land or land awaiting works"
    assert friche["group"] == "Upkeep – Cleanliness" and friche["type"] == "realtime"
    assert friche["metadata"] is False and "within 72 h" in friche["description"]
    assert friche["keywords"] == "friche, proprete.friches, proprete"
    graffiti = next(s for s in services if s["service_code"] == "graffiti")
    assert graffiti["metadata"] is True
    # the same in XML, and in French when asked
    root = xml(client.get(f"{BASE}/services.xml"))
    assert root.tag == "services"
    assert {s.findtext("service_code") for s in root.findall("service")} == REQUESTABLE
    assert {s.findtext("metadata") for s in root.findall("service")} == {"true", "false"}
    french = as_json(client.get(f"{BASE}/services.json?lang=fr"))
    assert next(s for s in french if s["service_code"] == "friche")["group"] == "Entretien – Propreté"
    # definitions: an insulting flag for graffiti, severities for vehicles, nothing for waste land
    definition = as_json(client.get(f"{BASE}/services/graffiti.json"))
    assert definition["service_code"] == "graffiti"
    (insulting,) = definition["attributes"]
    assert insulting["code"] == "insulting" and insulting["datatype"] == "singlevaluelist"
    assert insulting["variable"] is True and insulting["required"] is False and insulting["order"] == 1
    assert [v["key"] for v in insulting["values"]] == ["true", "false"]
    root = xml(client.get(f"{BASE}/services/epave.xml"))
    assert root.tag == "service_definition" and root.findtext("service_code") == "epave"
    attribute = root.find("attributes/attribute")
    assert attribute is not None and attribute.findtext("code") == "severity"
    assert [v.findtext("key") for v in attribute.findall("values/value")] == ["P1", "P2"]
    assert as_json(client.get(f"{BASE}/services/friche.json"))["attributes"] == []
    assert "potholes" in assert_error(client.get(f"{BASE}/services/potholes.json"), 404)
    assert_error(client.get(f"{BASE}/services/balayage.xml"), 404, "xml")  # a round, not a request
    assert_error(client.get(f"{BASE}/services.csv"), 404, "xml")
    assert_error(client.delete(f"{BASE}/services.json"), 405)


def test_get_requests(client, engine):
    window = "start_date=2015-01-01T00:00:00-05:00&end_date=2015-03-31T23:59:59-04:00"
    found = as_json(client.get(f"{BASE}/requests.json?{window}"))
    with engine.connect() as conn:
        expected = conn.execute(
            select(IV.c.id)
            .where(IV.c.reported_at >= datetime(2015, 1, 1, 5, tzinfo=UTC))
            .where(IV.c.reported_at <= datetime(2015, 4, 1, 3, 59, 59, tzinfo=UTC))
            .order_by(IV.c.reported_at.desc(), IV.c.id.desc())
        ).scalars()
        assert [int(r["service_request_id"]) for r in found] == list(expected)
    first = next(r for r in found if r["service_request_id"] == "1")
    assert first["status"] == "closed" and first["service_code"] == "friche"
    assert first["service_name"] == "Waste land or land awaiting works"
    assert first["requested_datetime"] == "2015-01-02T15:33:48-05:00"
    assert first["updated_datetime"] == "2015-11-10T08:57:27-05:00"  # closed then
    assert first["expected_datetime"] == "2015-01-05T15:33:48-05:00"  # 72 h, the earliest deadline
    assert (first["lat"], first["long"]) == (LAT, LON)
    assert first["agency_responsible"] == "ISD_Environmental Services (INTERNAL)"
    assert all(W3.match(r["requested_datetime"]) for r in found)
    assert set(first) == {
        "service_request_id",
        "status",
        "status_notes",
        "service_name",
        "service_code",
        "description",
        "agency_responsible",
        "service_notice",
        "requested_datetime",
        "updated_datetime",
        "expected_datetime",
        "address",
        "address_id",
        "zipcode",
        "lat",
        "long",
        "media_url",
    }
    # status, service_code and paging (a common extension)
    opened = as_json(client.get(f"{BASE}/requests.json?{window}&status=open"))
    closed = as_json(client.get(f"{BASE}/requests.json?{window}&status=closed"))
    assert opened and closed and len(opened) + len(closed) == len(found)
    assert {r["status"] for r in opened} == {"open"} and {r["status"] for r in closed} == {"closed"}
    assert len(as_json(client.get(f"{BASE}/requests.json?{window}&status=open,closed"))) == len(found)
    assert as_json(client.get(f"{BASE}/requests.json?{window}&service_code=graffiti")) == []
    assert len(as_json(client.get(f"{BASE}/requests.json?{window}&service_code=friche,graffiti"))) == len(
        found
    )
    pages = [as_json(client.get(f"{BASE}/requests.json?{window}&page_size=10&page={p}")) for p in (1, 2)]
    assert [r["service_request_id"] for r in pages[0] + pages[1]] == [
        r["service_request_id"] for r in found[:20]
    ]
    # the default window is the last 90 days: nothing from 2015
    assert as_json(client.get(f"{BASE}/requests.json")) == []
    # by id (comma list; overrides the rest), in XML too
    by_id = as_json(client.get(f"{BASE}/requests.json?service_request_id=3,1,999999&status=open"))
    assert [r["service_request_id"] for r in by_id] == ["3", "1"]
    root = xml(client.get(f"{BASE}/requests.xml?service_request_id=1"))
    assert root.tag == "service_requests"
    request = root.find("request")
    assert request is not None and request.findtext("service_request_id") == "1"
    assert request.findtext("long") == str(LON) and request.findtext("status_notes") == ""
    one = as_json(client.get(f"{BASE}/requests/1.json"))
    assert one == [first]
    assert xml(client.get(f"{BASE}/requests/1.xml")).find("request/status").text == "closed"  # type: ignore[union-attr]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_malformed_gets_answer_in_the_spec_error_format(client, engine, fmt):
    before = snapshot(engine)
    window = "start_date=2015-01-01T00:00:00Z&end_date=2015-02-01T00:00:00Z"
    for query in (
        "start_date=2015-13-01T00:00:00Z",
        "start_date=yesterday",
        "end_date=2015-01-01T25:00:00Z",
        "start_date=2015-01-01T00:00:00Z&end_date=2015-06-01T00:00:00Z",  # more than 90 days
        "start_date=2015-02-01T00:00:00Z&end_date=2015-01-01T00:00:00Z",
        "start_date=0001-01-01T00:00:00Z",
        f"{window}&status=pending",
        f"{window}&service_code=potholes",
        f"{window}&page=0",
        f"{window}&page_size=0",
        f"{window}&page_size=1001",
        f"{window}&page_size=many",
        "service_request_id=abc",
        "service_request_id=1,,x",
        "service_request_id=99999999999",
        f"{window}&service_code=%00",
    ):
        assert_error(client.get(f"{BASE}/requests.{fmt}?{query}"), 400, fmt)
    assert_error(client.get(f"{BASE}/requests/999999.{fmt}"), 404, fmt)
    assert_error(client.get(f"{BASE}/requests/abc.{fmt}"), 404, fmt)
    assert_error(client.get(f"{BASE}/requests/99999999999999999999.{fmt}"), 404, fmt)
    assert_error(client.get(f"{BASE}/tokens/O311-NOSUCHTOKEN.{fmt}"), 404, fmt)
    assert_error(client.get(f"{BASE}/nothing.{fmt}"), 404, fmt)
    assert snapshot(engine) == before


def post(client: Any, fmt: str = "json", **fields: Any) -> Any:
    data = {"service_code": "friche", "lat": str(LAT), "long": str(LON), **fields}
    return client.post(f"{BASE}/requests.{fmt}", data={k: v for k, v in data.items() if v is not None})


def test_post_request_and_token(client, engine, tokens):
    key = tokens["correspondent"]
    created = as_json(
        post(
            client,
            api_key=key,
            service_code="graffiti",
            description="Tag injurieux sur la façade",
            address_string="31 Selden St",
            **{"attribute[insulting]": "true", "email": "someone@example.org", "first_name": "A"},
            jurisdiction_id="boston",
            media_url="http://example.org/photo.jpg",
        ),
        201,
    )
    (answer,) = created
    new_id = int(answer["service_request_id"])
    assert answer["token"].startswith("O311-") and answer["account_id"] is None
    assert "Expected by" in answer["service_notice"]  # graffiti, insulting: 48 h
    with engine.connect() as conn:
        row = conn.execute(select(IV).where(IV.c.id == new_id)).one()
        events = conn.execute(select(EV).where(EV.c.intervention_id == new_id)).all()
    assert (row.source, row.source_id, row.channel) == ("open311", answer["token"], "correspondent-app")
    assert (row.category_code, row.status, row.insulting) == ("graffiti", "open", True)
    assert (row.description, row.address) == ("Tag injurieux sur la façade", "31 Selden St")
    assert [(e.kind, e.username) for e in events] == [("reported", "key:correspondent-app")]
    assert "someone@example.org" not in str(row._mapping)  # accepted, not stored
    # placed in its quarter and judged like any other request
    from geova.store.schema import Quarter

    with engine.connect() as conn:
        code = conn.execute(select(Quarter.__table__.c.code).where(Quarter.__table__.c.id == row.quarter_id))
        assert code.scalar() == DORCHESTER
    mine = as_json(client.get(f"{BASE}/requests/{new_id}.json"))[0]
    assert mine["status"] == "open" and mine["service_code"] == "graffiti"
    assert mine["description"] == "Tag injurieux sur la façade"
    reported = pd.Timestamp(mine["requested_datetime"])
    assert pd.Timestamp(mine["expected_datetime"]) - reported == pd.Timedelta(hours=48)
    assert mine in as_json(client.get(f"{BASE}/requests.json?status=open"))  # the last 90 days
    # the token leads to the request, in both formats
    assert as_json(client.get(f"{BASE}/tokens/{answer['token']}.json")) == [
        {"service_request_id": str(new_id), "token": answer["token"]}
    ]
    root = xml(client.get(f"{BASE}/tokens/{answer['token']}.xml"))
    assert root.findtext("request/service_request_id") == str(new_id)
    # XML answer; service and admin keys post too; the key may also come as a Bearer header or in the URL
    root = xml(post(client, "xml", api_key=tokens["service"], description=None))
    assert root.tag == "service_requests" and root.findtext("request/token", "").startswith("O311-")
    second = int(root.findtext("request/service_request_id") or 0)
    with engine.connect() as conn:
        assert conn.execute(select(IV.c.description).where(IV.c.id == second)).scalar() == (
            "Waste land or land awaiting works"  # the service's name when no description is given
        )
    via_header = client.post(
        f"{BASE}/requests.json",
        data={"service_code": "epave", "lat": str(LAT), "long": str(LON), "attribute[severity]": "P1"},
        headers={"Authorization": f"Bearer {tokens['admin']}"},
    )
    third = int(as_json(via_header, 201)[0]["service_request_id"])
    with engine.connect() as conn:
        assert conn.execute(select(IV.c.severity).where(IV.c.id == third)).scalar() == "P1"
    # text XML cannot carry (a control character from an imported file) is left out of the XML
    odd = as_json(post(client, api_key=key, description="Bell\x07 here"), 201)[0]["service_request_id"]
    assert xml(client.get(f"{BASE}/requests/{odd}.xml")).findtext("request/description") == "Bell here"
    assert as_json(client.get(f"{BASE}/requests/{odd}.json"))[0]["description"] == "Bell\x07 here"
    in_url = client.post(f"{BASE}/requests.json?api_key={tokens['service']}", data={"service_code": "friche"})
    assert "lat and long" in assert_error(in_url, 400)


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_refused_posts_change_nothing(client, engine, tokens, fmt):
    before = snapshot(engine)
    key = tokens["correspondent"]
    assert "api_key" in assert_error(post(client, fmt), 403, fmt)
    assert_error(post(client, fmt, api_key=""), 403, fmt)
    assert_error(post(client, fmt, api_key="geova_forged"), 403, fmt)
    assert_error(post(client, fmt, api_key=tokens["official"]), 403, fmt)
    with engine.begin() as conn:
        apikeys.revoke(conn, "service-app")
    assert_error(post(client, fmt, api_key=tokens["service"]), 403, fmt)
    for fields in (
        {"service_code": None},
        {"service_code": "potholes"},
        {"service_code": "balayage"},
        {"lat": None, "long": None},
        {"lat": None, "long": None, "address_string": "31 Selden St"},
        {"lat": "north"},
        {"long": "1e400"},
        {"lat": "91"},
        {"long": "-181"},
        {"lat": "nan"},
        {"service_code": "graffiti", "attribute[insulting]": "very"},
        {"service_code": "epave", "attribute[severity]": "P9"},
        {"description": "x" * 2001},
        {"description": "a\x00b"},
        {"address_string": "y" * 301},
    ):
        assert_error(post(client, fmt, api_key=key, **fields), 400, fmt)
    assert_error(client.put(f"{BASE}/requests.{fmt}", data={"api_key": key}), 405, fmt)
    assert snapshot(engine) == before


# -- a published client against a live server ---------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live(app: Any) -> Iterator[str]:
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", _free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}{BASE}"
    server.shutdown()
    thread.join(timeout=10)


def test_a_published_client_lists_and_a_posted_request_reaches_the_worklist(live, app, engine, tokens):
    for fmt in ("json", "xml"):
        georeport = GeoReport(live, output_format=fmt, api_key=tokens["correspondent"])
        services = georeport.get_service_list()
        assert {s["service_code"] for s in services} == REQUESTABLE
        definition = georeport.get_service_definition("graffiti")
        attributes = definition["attributes"]
        attribute = attributes[0] if fmt == "json" else attributes["attribute"]
        assert attribute["code"] == "insulting"
        found = georeport.get_service_requests(
            start_date="2015-01-01T00:00:00Z", end_date="2015-03-01T00:00:00Z", status="open"
        )
        assert found and {r["status"] for r in found} == {"open"}
        one = georeport.get_service_request(found[0]["service_request_id"])
        assert one["service_request_id"] == found[0]["service_request_id"]
    # posted by another published client, civicbot (georeport 0.3.1 has no method to post); it
    # validates the form against the live service list and definition before sending it
    endpoint = Endpoint(id="geova-test", name="geova", base_url=live, write=True)
    civic = Open311Client(endpoint, transport=HttpTransport(rate_limiter=RateLimiter(min_interval=0)))
    assert {s["service_code"] for s in civic.list_services()} == REQUESTABLE
    sent = civic.create_request(
        "friche",
        dry_run=False,
        confirm=CONFIRM_TOKEN,
        api_key=tokens["correspondent"],
        validate_remote=True,
        lat=LAT,
        lng=LON,
        description="Sacs sur le terrain vague",
        email="resident@example.org",
    )
    new_id = sent.response[0]["service_request_id"]
    assert civic.get_request(new_id)["service_code"] == "friche"
    token = sent.response[0]["token"]
    assert str(civic.get_token(token)[0]["service_request_id"]) == str(new_id)
    mine = GeoReport(live).get_service_request(new_id)
    assert mine["status"] == "open" and mine["service_code"] == "friche"
    due = pd.Timestamp(mine["expected_datetime"])  # 72 h later under nantes.friches.72h
    later = due + pd.Timedelta(hours=1)
    # overdue after its due date, for the evaluation API ...
    verdict = evaluate(engine, as_of=later, norm_codes=[NORM], where=RecordFilter(ids=(int(new_id),)))
    assert verdict.per_intervention["state"].tolist() == ["open_overdue"]
    # ... and on the services' worklist
    with engine.begin() as conn:
        add_user(conn, "agent", PASSWORD, "service")
    agent = app.test_client()
    agent.post("/login", data={"username": "agent", "password": PASSWORD, "csrf_token": csrf(agent)})
    worklist = agent.get("/worklist", query_string={"norm": NORM, "as_of": later.isoformat(), "lang": "en"})
    assert worklist.status_code == 200
    assert f'<tr data-id="{new_id}">' in worklist.get_data(as_text=True)
    before = agent.get(
        "/worklist", query_string={"norm": NORM, "as_of": (due - timedelta(days=2)).isoformat()}
    )
    assert f'<tr data-id="{new_id}">' not in before.get_data(as_text=True)
