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
from urllib.parse import quote

import pandas as pd
import pytest
import xmltodict
from civicbot.http import HttpTransport, RateLimiter
from civicbot.open311 import CONFIRM_TOKEN, Open311Client
from civicbot.registry import Endpoint
from flask import request as flask_request
from georeport import GeoReport
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from app import create_app
from geova.evaluation import evaluate
from geova.store import apikeys
from geova.store.records import RecordFilter
from geova.store.schema import Intervention, InterventionEvent, Quarter
from geova.store.status import set_setting
from geova.store.users import add_user
from tests.bounds import SLOW, cost
from tests.test_api import DORCHESTER, LAT, LON, NORM, PASSWORD, build_store, csrf, fast_passwords, snapshot

IV = Intervention.__table__
EV = InterventionEvent.__table__
BASE = "/open311/v2"
PUBLISH = "publish_requests"
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
def app(db_url: str, tokens: dict[str, str]) -> Iterator[Any]:
    """The app; every XML answer it gives, in any test of this module, is read back by a real XML
    parser (expat, and xmltodict as the published clients read it)."""
    app = create_app({"GEOVA_DATABASE_URL": db_url, "TESTING": True, "SECRET_KEY": "test"})
    unreadable: list[str] = []

    @app.after_request
    def _parse_xml(response: Any) -> Any:
        if response.mimetype == "text/xml" and not response.direct_passthrough:
            body = response.get_data()
            try:
                ET.fromstring(body)
                xmltodict.parse(body)
            except Exception as exc:
                unreadable.append(f"{flask_request.path}: {exc}")
        return response

    yield app
    assert not unreadable, unreadable


@pytest.fixture
def client(app: Any) -> Any:
    """An anonymous caller (no key, no session)."""
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


@pytest.fixture
def reader(app: Any, tokens: dict[str, str]) -> Any:
    """A caller with an API key (the official's: it reads every request, and may not post)."""
    reader = app.test_client()
    reader.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    reader.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {tokens['official']}"
    return reader


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


def test_get_requests(reader, engine):
    client = reader
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
    # the due date geova stores: Boston's own TARGET_DT (02/01/2015 03:33:48 PM) for an import
    assert first["expected_datetime"] == "2015-02-01T15:33:48-05:00"
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
def test_malformed_gets_answer_in_the_spec_error_format(reader, engine, fmt):
    client = reader
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
        "service_request_id=99999999999999999999",  # beyond 64 bits
        "service_request_id=0",
        f"service_request_id={','.join(str(i) for i in range(1, 102))}",  # 101 ids: 100 at most
        "end_date=9999-12-31T00:00:00Z",
        "start_date=NaN",
        f"{window}&page=99999999999999999999",
        f"{window}&page_size=1e23",
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


def test_post_request_and_token(client, reader, engine, tokens):
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
    assert (row.category_code, row.status, row.insulting) == ("graffiti", "new", True)
    assert (row.description, row.address) == ("Tag injurieux sur la façade", "31 Selden St")
    assert [(e.kind, e.username) for e in events] == [("reported", "key:correspondent-app")]
    assert "someone@example.org" not in str(row._mapping)  # accepted, not stored
    # placed in its quarter and judged like any other request
    from geova.store.schema import Quarter

    with engine.connect() as conn:
        code = conn.execute(select(Quarter.__table__.c.code).where(Quarter.__table__.c.id == row.quarter_id))
        assert code.scalar() == DORCHESTER
    mine = as_json(reader.get(f"{BASE}/requests/{new_id}.json"))[0]
    assert mine["status"] == "open" and mine["service_code"] == "graffiti"
    assert mine["description"] == "Tag injurieux sur la façade"
    reported = pd.Timestamp(mine["requested_datetime"])
    assert pd.Timestamp(mine["expected_datetime"]) - reported == pd.Timedelta(hours=48)
    assert mine in as_json(reader.get(f"{BASE}/requests.json?status=open"))  # the last 90 days
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
    assert xml(reader.get(f"{BASE}/requests/{odd}.xml")).findtext("request/description") == "Bell here"
    assert as_json(reader.get(f"{BASE}/requests/{odd}.json"))[0]["description"] == "Bell\x07 here"
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
        {"description": "x" * 4001},  # the spec's limit is 4,000 characters
        {"description": "a\x00b"},
        {"address_string": "y" * 301},
    ):
        assert_error(post(client, fmt, api_key=key, **fields), 400, fmt)
    assert_error(client.put(f"{BASE}/requests.{fmt}", data={"api_key": key}), 405, fmt)
    assert snapshot(engine) == before


# -- who reads what ------------------------------------------------------------------------------

WINDOW = {"start_date": "2015-01-01T00:00:00-05:00", "end_date": "2015-03-31T23:59:59-04:00"}


def requests_in(response: Any, fmt: str, status: int = 200) -> list[dict[str, Any]]:
    """(id, description, address, lat) of each request of a JSON or XML answer."""
    if fmt == "json":
        found = as_json(response, status)
        return [
            {
                "id": r["service_request_id"],
                "description": r["description"],
                "address": r["address"],
                "lat": r["lat"],
            }
            for r in found
        ]
    assert response.status_code == status
    return [
        {
            "id": r.findtext("service_request_id"),
            "description": r.findtext("description") or None,
            "address": r.findtext("address") or None,
            "lat": float(r.findtext("lat") or "nan"),
        }
        for r in xml(response).findall("request")
    ]


def stored(engine: Engine, quarter: str | None = None) -> dict[str, dict[str, Any]]:
    """The window's requests as stored (optionally those of one quarter), by id."""
    q = Quarter.__table__
    query = (
        select(IV.c.id, IV.c.description, IV.c.address)
        .select_from(IV)
        .outerjoin(q, q.c.id == IV.c.quarter_id)
        .where(IV.c.reported_at >= datetime(2015, 1, 1, 5, tzinfo=UTC))
        .where(IV.c.reported_at <= datetime(2015, 4, 1, 3, 59, 59, tzinfo=UTC))
    )
    if quarter is not None:
        query = query.where(q.c.code == quarter)
    with engine.connect() as conn:
        return {str(r.id): dict(r._mapping) for r in conn.execute(query)}


def login(app: Any, engine: Engine, username: str, role: str, quarter: str | None = None) -> Any:
    with engine.begin() as conn:
        add_user(conn, username, PASSWORD, role, quarter=quarter)
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    answer = client.post(
        "/login", data={"username": username, "password": PASSWORD, "csrf_token": csrf(client)}
    )
    assert answer.status_code == 302
    return client


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_who_reads_requests(app, client, reader, engine, tokens, fmt):
    everything = stored(engine)
    dorchester = stored(engine, DORCHESTER)
    assert dorchester and len(dorchester) < len(everything)
    other = next(i for i in everything if i not in dorchester)
    mine = next(iter(dorchester))
    # anonymous, the territory does not publish its requests: the spec's 401, in the path's format
    assert "publish" in assert_error(client.get(f"{BASE}/requests.{fmt}", query_string=WINDOW), 401, fmt)
    assert_error(client.get(f"{BASE}/requests/{mine}.{fmt}"), 401, fmt)
    assert_error(client.get(f"{BASE}/requests.{fmt}?service_request_id={mine}"), 401, fmt)
    # ... while the services, the discovery and a token's id stay public
    assert client.get(f"{BASE}/services.{fmt}").status_code == 200
    assert client.get(f"{BASE}/discovery.{fmt}").status_code == 200
    posted = as_json(post(client, api_key=tokens["correspondent"], description="Sacs"), 201)[0]
    token = client.get(f"{BASE}/tokens/{posted['token']}.{fmt}")
    assert token.status_code == 200 and posted["service_request_id"] in token.get_data(as_text=True)
    # a key (any role) reads every request in detail
    full = requests_in(reader.get(f"{BASE}/requests.{fmt}", query_string=WINDOW), fmt)
    assert {r["id"] for r in full} == set(everything)
    assert {r["id"]: r["description"] for r in full} == {i: v["description"] for i, v in everything.items()}
    assert any(r["address"] for r in full)
    correspondent_key = app.test_client()
    keyed = correspondent_key.get(
        f"{BASE}/requests.{fmt}",
        query_string=WINDOW,
        headers={"Authorization": f"Bearer {tokens['correspondent']}"},
    )
    assert {r["id"] for r in requests_in(keyed, fmt)} == set(everything)
    # an unknown key is refused on a read too
    assert_error(
        client.get(f"{BASE}/requests.{fmt}", query_string={**WINDOW, "api_key": "geova_forged"}), 401, fmt
    )
    # a correspondent of Dorchester: Dorchester's requests in detail, nothing of the other quarters
    correspondent = login(app, engine, "dot", "correspondent", DORCHESTER)
    own = requests_in(correspondent.get(f"{BASE}/requests.{fmt}", query_string=WINDOW), fmt)
    assert {r["id"] for r in own} == set(dorchester)
    assert {r["id"]: r["description"] for r in own} == {i: v["description"] for i, v in dorchester.items()}
    assert requests_in(correspondent.get(f"{BASE}/requests/{mine}.{fmt}"), fmt)[0]["id"] == mine
    assert_error(correspondent.get(f"{BASE}/requests/{other}.{fmt}"), 404, fmt)
    by_id = correspondent.get(f"{BASE}/requests.{fmt}?service_request_id={other},{mine}")
    assert [r["id"] for r in requests_in(by_id, fmt)] == [mine]
    # an official's session reads everything
    official = login(app, engine, "elu", "official")
    assert {
        r["id"] for r in requests_in(official.get(f"{BASE}/requests.{fmt}", query_string=WINDOW), fmt)
    } == set(everything)
    # the territory publishes its requests: the public reads them all, without description or address
    with engine.begin() as conn:
        set_setting(conn, PUBLISH, "true")
    public = requests_in(client.get(f"{BASE}/requests.{fmt}", query_string=WINDOW), fmt)
    assert [r["id"] for r in public] == [r["id"] for r in full]
    assert [r["lat"] for r in public] == [r["lat"] for r in full]
    assert all(r["description"] is None and r["address"] is None for r in public)
    (one,) = requests_in(client.get(f"{BASE}/requests/{other}.{fmt}"), fmt)
    assert one["id"] == other and one["description"] is None and one["address"] is None


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_point_outside_the_territory_is_refused(client, engine, tokens, fmt):
    before = snapshot(engine)
    paris = post(client, fmt, api_key=tokens["correspondent"], lat="48.85", long="2.35")
    description = assert_error(paris, 400, fmt)
    assert description.startswith("lat/long:") and "outside the territory" in description
    assert snapshot(engine) == before


def test_only_a_key_posts_and_the_spec_sizes_hold(app, client, engine, tokens):
    # a logged-in session without a key cannot post (another site's form could send the cookie)
    agent = login(app, engine, "agent", "service")
    before = snapshot(engine)
    assert "api_key" in assert_error(post(agent), 403)
    assert snapshot(engine) == before
    # a description of 4,000 characters, the spec's limit, is kept whole
    created = as_json(post(client, api_key=tokens["service"], description="é" * 4000), 201)[0]
    with engine.connect() as conn:
        kept = conn.execute(select(IV.c.description).where(IV.c.id == int(created["service_request_id"])))
        assert kept.scalar() == "é" * 4000


def test_texts_come_from_the_catalogue(client, tokens):
    """Open311's texts follow the language asked for (the French from the Babel catalogue)."""
    english = as_json(client.get(f"{BASE}/services/graffiti.json"))["attributes"][0]
    french = as_json(client.get(f"{BASE}/services/graffiti.json?lang=fr"))["attributes"][0]
    assert (english["description"], [v["name"] for v in english["values"]]) == (
        "Is it insulting?",
        ["Yes", "No"],
    )
    assert (french["description"], [v["name"] for v in french["values"]]) == (
        "Est-il injurieux ?",
        ["Oui", "Non"],
    )
    assert as_json(client.get(f"{BASE}/discovery.json?lang=fr"))["contact"] == "Les services de geova"
    friche = next(
        s for s in as_json(client.get(f"{BASE}/services.json?lang=fr")) if s["service_code"] == "friche"
    )
    assert "Engagements : " in friche["description"]
    # the language asked for is remembered: the notice of a new request is in French too
    created = as_json(post(client, api_key=tokens["service"]), 201)[0]
    assert created["service_notice"].startswith("Prévu au plus tard le ")


# -- bounded work --------------------------------------------------------------------------------

HOSTILE = (
    "NaN",
    "-inf",
    "-1",
    "0",
    "1e23",
    "99999999999999999999",
    "\x00",
    "a\x00b",
    "0001-01-01",
    "9999-12-31",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59+14:00",
    "2015-01-01",
    "2015-03-01T00:00:00Z",
    "open,closed",
    "friche,graffiti",
    ",,,",
    "1",
    "x" * 5000,
)
GET_PARAMS = ("service_request_id", "service_code", "start_date", "end_date", "status", "page", "page_size")


@pytest.fixture
def published(engine: Engine, tokens: dict[str, str]) -> None:
    """Requests published, so that anonymous searches reach the store too."""
    with engine.begin() as conn:
        set_setting(conn, PUBLISH, "true")


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    query=st.dictionaries(
        st.sampled_from(GET_PARAMS), st.sampled_from(HOSTILE) | st.text(max_size=40), max_size=4
    ),
    path=st.sampled_from(("requests", "requests/{v}", "tokens/{v}", "services/{v}", "services", "discovery")),
    value=st.sampled_from(HOSTILE) | st.text(min_size=1, max_size=20),
    fmt=st.sampled_from(("json", "xml")),
    keyed=st.booleans(),
)
def test_hostile_get_parameters_answer_quickly_and_never_5xx(
    client, reader, published, query, path, value, fmt, keyed
):
    url = f"{BASE}/{path.format(v=quote(value, safe=''))}.{fmt}"
    with cost() as took:
        response = (reader if keyed else client).get(url, query_string=query)
    assert response.status_code < 500, (url, query, response.get_data(as_text=True)[:300])
    assert took.seconds < SLOW, (url, query, took.seconds)
    if response.status_code >= 400:
        assert_error(response, response.status_code, fmt)


POST_FIELDS = (
    "service_code",
    "lat",
    "long",
    "address_string",
    "description",
    "attribute[insulting]",
    "attribute[severity]",
    "email",
    "media_url",
    "jurisdiction_id",
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    field=st.sampled_from(POST_FIELDS),
    value=st.sampled_from(HOSTILE) | st.text(max_size=40),
    fmt=st.sampled_from(("json", "xml")),
)
def test_hostile_post_fields_never_5xx(client, tokens, field, value, fmt):
    service = "epave" if field == "attribute[severity]" else "graffiti"
    fields = {"service_code": service, field: value}
    with cost() as took:
        response = post(client, fmt, api_key=tokens["correspondent"], **fields)
    assert took.seconds < SLOW, (field, value)
    assert response.status_code in (201, 400), (field, value, response.get_data(as_text=True)[:300])
    if response.status_code == 400:
        assert_error(response, 400, fmt)


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
    # the clients read without a key (neither sends one on a GET): the territory publishes requests
    with engine.begin() as conn:
        set_setting(conn, PUBLISH, "true")
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
    assert mine["description"] is None  # published, but not to the public
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
    # two days before its due date it is not yet due soon, though open (listed by default)
    early = (due - timedelta(days=2)).isoformat()
    before = agent.get("/worklist", query_string={"norm": NORM, "as_of": early, "show": "due"})
    assert f'<tr data-id="{new_id}">' not in before.get_data(as_text=True)
    listed = agent.get("/worklist", query_string={"norm": NORM, "as_of": early})
    assert f'<tr data-id="{new_id}">' in listed.get_data(as_text=True)
