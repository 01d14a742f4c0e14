"""Open311 as FixMyStreet uses it: a report posted, then its updates fetched back.

FixMyStreet's Open311 client posts a report (``requests.xml``), later asks for the updates of a
time window (``servicerequestupdates.xml?start_date=...&end_date=...``), reads each
``request_update`` element (``update_id``, ``service_request_id``, ``status``,
``updated_datetime``, ``description``, ``media_url``) and posts its own users' updates back
(``servicerequestupdates.xml`` with its own ``update_id``). The XML is read back with xmltodict,
as a client maps elements to objects (FixMyStreet uses XML::Simple the same way).

Same store as tests/test_service_loop.py (Boston's services and routes); the expected service, its
contact and the 72 h due date of a waste-land request are read off the referential files here.
"""

from __future__ import annotations

import tomllib
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd
import pytest
import xmltodict
from sqlalchemy import Engine, select

from geova.store import apikeys, edits
from geova.store.db import write
from geova.store.schema import Intervention, InterventionEvent
from tests.test_web_correspondent import LAT, LON, csrf, login

REPO = Path(__file__).resolve().parents[1]
IV = Intervention.__table__
EV = InterventionEvent.__table__
BASE = "/open311/v2"
TZ = "America/New_York"
FRICHES_HOURS = 72  # nantes.friches.72h: waste land, the strictest norm for it
PHOTO = "https://fms.example.org/photo/4242.0.full.jpeg"
PUBLIC_NOTE = "Lot cleared: 3 bags of rubbish removed."
INTERNAL_NOTES = ("Bring the ladder, owner unreachable", "Crew overtime: 2 h")


@pytest.fixture
def app(boston_app: Any) -> Any:
    return boston_app


def key(engine: Engine, name: str, role: str) -> str:
    with engine.begin() as conn:
        return apikeys.add_key(conn, name, role)[1]


def boston_service(code: str) -> dict[str, Any]:
    referential = tomllib.loads((REPO / "data/boston/norms.toml").read_text(encoding="utf-8"))
    return next(s for s in referential["service"] if s["code"] == code)


def xml_updates(response: Any) -> list[dict[str, Any]]:
    """The ``request_update`` elements as FixMyStreet's fetcher reads them (one element is not a list)."""
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.mimetype == "text/xml"
    root = xmltodict.parse(response.get_data())["service_request_updates"]
    if not root:
        return []
    found = root["request_update"]
    return found if isinstance(found, list) else [found]


def post_report(app: Any, api_key: str, **fields: str) -> int:
    data = {"service_code": "friche", "lat": str(LAT), "long": str(LON), "api_key": api_key}
    data |= {"description": "Rubbish bags dumped on the lot", "email": "someone@example.org"} | fields
    answer = app.test_client().post(f"{BASE}/requests.xml", data=data)
    assert answer.status_code == 201, answer.get_data(as_text=True)
    return int(xmltodict.parse(answer.get_data())["service_requests"]["request"]["service_request_id"])


def window(start: datetime, end: datetime) -> str:
    return f"start_date={quote(start.isoformat())}&end_date={quote(end.isoformat())}"


def test_fixmystreet_fetches_the_resolution_with_its_public_note_only(app, engine):
    fms = key(engine, "fixmystreet", "correspondent")
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    new = post_report(app, fms, media_url=PHOTO)
    # the service works it from its worklist: an internal note, then a resolution with a public one
    agent = login(app, "agent")
    for status, note, public in (("acknowledged", INTERNAL_NOTES[0], None), ("resolved", PUBLIC_NOTE, "y")):
        form = {"status": status, "note": note, "csrf_token": csrf(agent)} | (
            {"public": public} if public else {}
        )
        done = agent.post(f"/worklist/{new}/status", data=form, follow_redirects=True)
        assert done.status_code == 200 and f"is now {status}" in done.get_data(as_text=True)
    with write(engine) as conn:  # an internal note written after the resolution
        edits.add_note(conn, new, INTERNAL_NOTES[1], "agent", public=False)

    # later, FixMyStreet fetches the updates of the window
    ended = datetime.now(UTC) + timedelta(minutes=1)
    fetched = app.test_client().get(
        f"{BASE}/servicerequestupdates.xml?{window(started, ended)}&api_key={fms}"
    )
    body = fetched.get_data(as_text=True)
    assert not any(note in body for note in INTERNAL_NOTES)
    mine = [u for u in xml_updates(fetched) if u["service_request_id"] == str(new)]
    # acknowledged and resolved, as FixMyStreet's extended statuses name them (the default mapping)
    assert [(u["status"], u["description"]) for u in mine] == [
        ("INVESTIGATING", None),
        ("FIXED", PUBLIC_NOTE),
    ]
    assert all(u["media_url"] is None and u["update_id"].isdigit() for u in mine)  # empty elements
    assert len({u["update_id"] for u in mine}) == 2
    resolved_at = pd.Timestamp(mine[1]["updated_datetime"])
    assert resolved_at.utcoffset() == pd.Timestamp.now(TZ).utcoffset()
    assert started <= resolved_at <= ended
    as_json = app.test_client().get(
        f"{BASE}/servicerequestupdates.json?{window(started, ended)}&api_key={fms}"
    )
    assert [u["description"] for u in as_json.get_json() if u["service_request_id"] == str(new)] == [
        "",
        PUBLIC_NOTE,
    ]
    # a window before the report has none of them
    before = app.test_client().get(
        f"{BASE}/servicerequestupdates.xml?{window(started - timedelta(days=2), started - timedelta(days=1))}"
        f"&api_key={fms}"
    )
    assert xml_updates(before) == []

    # GET requests/{id}: the public note, the stored due date, the service, the photo
    with engine.connect() as conn:
        reported = pd.Timestamp(conn.execute(select(IV.c.reported_at).where(IV.c.id == new)).scalar_one())
    inspections = boston_service("boston.inspections")  # Boston's route for waste land
    english = {"Accept-Language": "en"}
    (got,) = app.test_client().get(f"{BASE}/requests/{new}.json?api_key={fms}", headers=english).get_json()
    assert got["status"] == "closed"
    assert got["status_notes"] == PUBLIC_NOTE
    due = pd.Timestamp(got["expected_datetime"])
    expected = (reported + pd.Timedelta(hours=FRICHES_HOURS)).floor("s")  # the spec's w3 times: seconds
    assert due == expected and due.utcoffset() == expected.tz_convert(TZ).utcoffset()
    assert got["agency_responsible"] == inspections["label_en"]
    assert got["service_notice"] == f"Handled by {inspections['label_en']}. Contact: {inspections['email']}."
    assert got["media_url"] == PHOTO
    listed = app.test_client().get(f"{BASE}/requests.xml?service_request_id={new}&api_key={fms}")
    request = xmltodict.parse(listed.get_data())["service_requests"]["request"]
    assert (request["status_notes"], request["media_url"]) == (PUBLIC_NOTE, PHOTO)
    assert not any(note in listed.get_data(as_text=True) for note in INTERNAL_NOTES)


def test_posted_updates_are_recorded_once_and_close_the_request(app, engine):
    fms = key(engine, "fixmystreet", "correspondent")
    new = post_report(app, fms)
    reported = pd.Timestamp(
        app.test_client().get(f"{BASE}/requests/{new}.json?api_key={fms}").get_json()[0]["requested_datetime"]
    )

    def update(**fields: str) -> Any:
        data = {"service_request_id": str(new), "api_key": fms, "email": "x@example.org"} | fields
        return app.test_client().post(f"{BASE}/servicerequestupdates.xml", data=data)

    def update_id(response: Any) -> str:
        assert response.status_code == 200, response.get_data(as_text=True)
        return xmltodict.parse(response.get_data())["service_request_updates"]["request_update"]["update_id"]

    def events() -> list[Any]:
        with engine.connect() as conn:
            return conn.execute(select(EV).where(EV.c.intervention_id == new).order_by(EV.c.id)).all()

    # a user's comment on an open report: a public note, the request stays open
    first = update_id(update(update_id="fms-77", status="OPEN", description="Still there this morning"))
    assert (
        update_id(update(update_id="fms-77", status="OPEN", description="Still there this morning")) == first
    )
    assert [(e.kind, e.note) for e in events()][1:] == [("note", "Still there this morning")]
    (got,) = app.test_client().get(f"{BASE}/requests/{new}.json?api_key={fms}").get_json()
    assert (got["status"], got["status_notes"]) == ("open", "Still there this morning")

    # "fixed" from FixMyStreet: closed, resolved through the life cycle at the update's time
    fixed_at = (reported + pd.Timedelta(seconds=1)).isoformat()
    second = update_id(
        update(update_id="fms-78", status="CLOSED", description="Fixed, thanks", updated_datetime=fixed_at)
    )
    assert second != first
    assert update_id(update(update_id="fms-78", status="CLOSED", description="Fixed, thanks")) == second
    history = events()
    assert [(e.kind, e.note, e.detail.get("public")) for e in history][1:] == [
        ("note", "Still there this morning", True),
        ("resolved", "Fixed, thanks", True),
    ]
    with engine.connect() as conn:
        row = conn.execute(select(IV.c.status, IV.c.resolved_at).where(IV.c.id == new)).one()
    assert row.status == "resolved" and pd.Timestamp(row.resolved_at) == pd.Timestamp(fixed_at)
    (got,) = app.test_client().get(f"{BASE}/requests/{new}.json?api_key={fms}").get_json()
    assert (got["status"], got["status_notes"]) == ("closed", "Fixed, thanks")
    # both are listed as updates, with FixMyStreet's ids answered back
    span = window(datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC) + timedelta(minutes=1))
    listed = app.test_client().get(f"{BASE}/servicerequestupdates.json?{span}&api_key={fms}").get_json()
    assert [
        (u["update_id"], u["status"], u["description"]) for u in listed if u["service_request_id"] == str(new)
    ] == [
        (first, "OPEN", "Still there this morning"),
        (second, "FIXED", "Fixed, thanks"),  # a resolution: FixMyStreet's "fixed - council"
    ]
    # a later comment on the closed request is a note; it does not reopen it
    update_id(update(update_id="fms-79", status="closed", description="Looks great"))
    assert events()[-1].kind == "note"

    # refused updates store nothing, each naming its parameter
    before = len(events())
    other = post_report(app, fms)
    for fields, status, named in (
        ({"update_id": "a", "status": "open"}, 400, "description"),
        ({"status": "open", "description": "x"}, 400, "update_id"),
        ({"update_id": "b", "status": "maybe", "description": "x"}, 400, "status"),
        ({"update_id": "c", "status": "open", "description": "x" * 2001}, 400, "description"),
        (
            {"update_id": "d", "status": "open", "description": "x", "media_url": "javascript:alert(1)"},
            400,
            "media_url",
        ),
    ):
        refused = update(**fields)
        assert refused.status_code == status, refused.get_data(as_text=True)
        assert named in xmltodict.parse(refused.get_data())["errors"]["error"]["description"]
    early = (reported - pd.Timedelta(hours=1)).isoformat()
    refused = app.test_client().post(
        f"{BASE}/servicerequestupdates.json",
        data={
            "service_request_id": str(other),
            "update_id": "e",
            "status": "closed",
            "api_key": fms,
            "updated_datetime": early,
        },
    )
    assert refused.status_code == 400 and "updated_datetime" in refused.get_json()[0]["description"]
    missing = app.test_client().post(
        f"{BASE}/servicerequestupdates.json",
        data={
            "service_request_id": "999999",
            "update_id": "f",
            "status": "open",
            "description": "x",
            "api_key": fms,
        },
    )
    assert missing.status_code == 404 and "service_request_id" in missing.get_json()[0]["description"]
    no_key = app.test_client().post(
        f"{BASE}/servicerequestupdates.json",
        data={"service_request_id": str(new), "update_id": "g", "status": "open"},
    )
    assert no_key.status_code == 403 and "api_key" in no_key.get_json()[0]["description"]
    reader = key(engine, "reader", "official")
    assert update(update_id="h", status="open", description="x", api_key=reader).status_code == 403
    assert len(events()) == before
    with engine.connect() as conn:
        assert conn.execute(select(IV.c.status).where(IV.c.id == other)).scalar_one() == "new"


def test_descriptions_windows_and_pages_are_bounded(app, engine):
    fms = key(engine, "fixmystreet", "correspondent")
    longest = "é" * 4000  # the spec: "free form text limited to 4,000 characters"
    kept = post_report(app, fms, description=longest)
    with engine.connect() as conn:
        assert conn.execute(select(IV.c.description).where(IV.c.id == kept)).scalar_one() == longest
    too_long = app.test_client().post(
        f"{BASE}/requests.json",
        data={
            "service_code": "friche",
            "lat": str(LAT),
            "long": str(LON),
            "api_key": fms,
            "description": "é" * 4001,
        },
    )
    assert too_long.status_code == 400
    assert too_long.get_json()[0]["description"].startswith("description: ")
    assert "4000" in too_long.get_json()[0]["description"]

    # three public updates on the request, paged one by one
    with write(engine) as conn:
        for text in ("one", "two", "three"):
            edits.add_note(conn, kept, text, "agent", public=True)
    span = window(datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC) + timedelta(minutes=1))
    pages = [
        app.test_client()
        .get(f"{BASE}/servicerequestupdates.json?{span}&page_size=1&page={p}&api_key={fms}")
        .get_json()
        for p in (1, 2, 3, 4)
    ]
    assert [[u["description"] for u in page] for page in pages] == [["one"], ["two"], ["three"], []]
    for query, named in (
        (window(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 4, 2, tzinfo=UTC)), "end_date"),  # 91 days
        (window(datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)), "end_date"),
        (f"{span}&page_size=1001", "page_size"),
        ("start_date=yesterday", "start_date"),
    ):
        for fmt in ("json", "xml"):
            refused = app.test_client().get(f"{BASE}/servicerequestupdates.{fmt}?{query}&api_key={fms}")
            assert refused.status_code == 400, refused.get_data(as_text=True)
            text = refused.get_data(as_text=True)
            assert named in text
    # exactly 90 days is allowed; anonymous callers read nothing unless the territory publishes
    ninety = window(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))
    assert (
        app.test_client().get(f"{BASE}/servicerequestupdates.json?{ninety}&api_key={fms}").status_code == 200
    )
    assert app.test_client().get(f"{BASE}/servicerequestupdates.json?{span}").status_code == 401


@pytest.mark.parametrize(
    "fields",
    [
        {"service_request_id": "0"},
        {"service_request_id": "99999999999999999999999"},
        {"service_request_id": "1; DROP TABLE intervention"},
        {"update_id": "a\x00b"},
        {"description": "note\x00"},
        {"updated_datetime": "garbage"},
        {"updated_datetime": "9999-12-31T23:59:59+14:00"},
        {"status": ""},
        {"update_id": "u" * 2001},
        {"media_url": "https://" + "m" * 2001},
    ],
)
def test_hostile_updates_are_refused_in_the_spec_format(app, engine, fields):
    fms = key(engine, "fixmystreet", "correspondent")
    new = post_report(app, fms)
    data = {"service_request_id": str(new), "update_id": "x", "status": "closed", "description": "ok"}
    data |= {"api_key": fms} | fields
    with engine.connect() as conn:
        before = conn.execute(select(EV.c.id)).all()
    for fmt in ("json", "xml"):
        refused = app.test_client().post(f"{BASE}/servicerequestupdates.{fmt}", data=data)
        assert 400 <= refused.status_code < 500, refused.get_data(as_text=True)
        body = refused.get_data(as_text=True)
        assert ("<errors>" in body) if fmt == "xml" else refused.get_json()[0]["code"] == refused.status_code
    with engine.connect() as conn:
        assert conn.execute(select(EV.c.id)).all() == before


def test_one_update_posted_several_times_at_once_is_recorded_once(app, engine):
    fms = key(engine, "fixmystreet", "correspondent")
    new = post_report(app, fms)
    data = {"service_request_id": str(new), "update_id": "fms-1", "status": "open", "description": "Again"}
    data["api_key"] = fms

    def send(_: int) -> tuple[int, Any]:
        answer = app.test_client().post(f"{BASE}/servicerequestupdates.json", data=data)
        return answer.status_code, answer.get_json()

    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(send, range(4)))
    assert {status for status, _ in answers} == {200}
    assert len({body[0]["update_id"] for _, body in answers}) == 1
    with engine.connect() as conn:
        notes = conn.execute(select(EV.c.id).where(EV.c.intervention_id == new, EV.c.kind == "note")).all()
    assert len(notes) == 1
