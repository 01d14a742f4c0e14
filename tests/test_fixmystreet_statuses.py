"""FixMyStreet's extended statuses in servicerequestupdates (issue 10, points 2 and 6).

What FixMyStreet does with them is restated here from its source (mysociety/fixmystreet): its
client posts OPEN, INVESTIGATING, IN_PROGRESS, ACTION_SCHEDULED, FIXED, DUPLICATE,
NOT_COUNCILS_RESPONSIBILITY, NO_FURTHER_ACTION, INTERNAL_REFERRAL, CLOSED (perllib/Open311.pm,
_populate_service_request_update_params); its fetcher parses the XML with XML::Simple (ForceArray
on ``request_update``) and maps each status to a problem state (Open311::map_state: lower case,
``_`` as a space, then fixed -> "fixed - council", not councils responsibility -> "not
responsible", no further action -> "unable to fix", open -> "confirmed", closed -> "closed" with
extended statuses; any other name is a state of its own), which it shows only when it is one of
its visible states. The expected values below come from that list, not from geova's mapping.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
import xmltodict
from sqlalchemy import Engine, select

from geova.importing import load_extra_referential
from geova.io.errors import ImportFailure
from geova.io.referential_file import read_referential
from geova.store import apikeys, edits
from geova.store.db import write
from geova.store.schema import Intervention, InterventionEvent
from tests.test_web_correspondent import LAT, LON

IV = Intervention.__table__
EV = InterventionEvent.__table__
BASE = "/open311/v2"
# What a request in each status of geova's life cycle is, in FixMyStreet's words (the default)
EXTENDED = {
    "new": "OPEN",
    "acknowledged": "INVESTIGATING",
    "in_progress": "IN_PROGRESS",
    "resolved": "FIXED",
    "closed": "CLOSED",
    "rejected": "NOT_COUNCILS_RESPONSIBILITY",
    "duplicate": "DUPLICATE",
    "cancelled": "CLOSED",
}
# FixMyStreet's fetcher (Open311::map_state, extended statuses on)
FMS_MAP = {
    "fixed": "fixed - council",
    "not councils responsibility": "not responsible",
    "no further action": "unable to fix",
    "open": "confirmed",
    "closed": "closed",
}
FMS_VISIBLE = {
    "confirmed",
    "investigating",
    "in progress",
    "planned",
    "action scheduled",
    "fixed",
    "fixed - council",
    "fixed - user",
    "unable to fix",
    "not responsible",
    "duplicate",
    "closed",
    "internal referral",
}


def fms_state(status: str) -> str:
    incoming = status.lower().replace("_", " ")
    return FMS_MAP.get(incoming, incoming)


@pytest.fixture
def app(boston_app: Any) -> Any:
    return boston_app


def fms_key(engine: Engine) -> str:
    with engine.begin() as conn:
        return apikeys.add_key(conn, "fixmystreet", "correspondent")[1]


def report(engine: Engine) -> int:
    with write(engine) as conn:
        return edits.report_intervention(
            conn, "friche", "Bags", None, LON, LAT, "corr", datetime.now(UTC) - timedelta(hours=2)
        )


def to_status(engine: Engine, status: str, other: int) -> int:
    """A request brought to ``status`` by the steps the life cycle allows (the last one public)."""
    new = report(engine)
    steps = {
        "new": [],
        "acknowledged": ["acknowledged"],
        "in_progress": ["in_progress"],
        "resolved": ["resolved"],
        "closed": ["resolved", "closed"],
        "rejected": ["rejected"],
        "duplicate": ["duplicate"],
        "cancelled": ["cancelled"],
    }[status]
    with write(engine) as conn:
        if not steps:
            edits.add_note(conn, new, "Seen it", "agent", public=True)
        for step in steps:
            edits.transition(
                conn, new, step, "agent", "Done", public=True, reason="Private land", duplicate_of=other
            )
    return new


def fetch(app: Any, api_key: str, fmt: str) -> Any:
    start = quote((datetime.now(UTC) - timedelta(hours=1)).isoformat())
    end = quote((datetime.now(UTC) + timedelta(minutes=1)).isoformat())
    return app.test_client().get(
        f"{BASE}/servicerequestupdates.{fmt}?start_date={start}&end_date={end}&api_key={api_key}"
    )


def fetched_as_fixmystreet(response: Any) -> list[dict[str, Any]]:
    """The updates as FixMyStreet's fetcher reads them: XML::Simple, request_update forced to a list."""
    assert response.status_code == 200 and response.mimetype == "text/xml"
    root = xmltodict.parse(response.get_data(), force_list=("request_update",))["service_request_updates"]
    return list((root or {}).get("request_update", []))


def test_each_status_is_listed_as_fixmystreet_names_it_in_xml_and_json(app, engine):
    api_key = fms_key(engine)
    other = report(engine)
    made = {status: to_status(engine, status, other) for status in EXTENDED}
    xml = fetched_as_fixmystreet(fetch(app, api_key, "xml"))
    as_json = fetch(app, api_key, "json").get_json()
    for status, request_id in made.items():
        for listed in (xml, as_json):
            mine = [u for u in listed if u["service_request_id"] == str(request_id)]
            assert mine[-1]["status"] == EXTENDED[status], status
        last = [u for u in xml if u["service_request_id"] == str(request_id)][-1]
        # what FixMyStreet makes of it: a state it shows, the one the status means
        assert fms_state(last["status"]) in FMS_VISIBLE
        assert last["description"] in ("Done", "Seen it")
    assert fms_state(EXTENDED["resolved"]) == "fixed - council"
    assert fms_state(EXTENDED["rejected"]) == "not responsible"
    assert fms_state(EXTENDED["new"]) == "confirmed"


def test_updates_posted_with_extended_statuses_move_the_request(app, engine):
    api_key = fms_key(engine)
    first, second, third = report(engine), report(engine), report(engine)
    number = iter(range(1000))

    def post(request_id: int, status: str, description: str = "From FixMyStreet") -> Any:
        data = {"service_request_id": str(request_id), "status": status, "description": description}
        data |= {"update_id": f"fms-{next(number)}", "api_key": api_key}
        return app.test_client().post(f"{BASE}/servicerequestupdates.xml", data=data)

    def status_of(request_id: int) -> str:
        with engine.connect() as conn:
            return conn.execute(select(IV.c.status).where(IV.c.id == request_id)).scalar_one()

    assert post(first, "INVESTIGATING").status_code == 200 and status_of(first) == "acknowledged"
    assert post(first, "ACTION_SCHEDULED").status_code == 200 and status_of(first) == "in_progress"
    assert post(first, "IN_PROGRESS").status_code == 200 and status_of(first) == "in_progress"  # a note
    assert post(first, "FIXED", "Cleared").status_code == 200 and status_of(first) == "resolved"
    assert post(first, "closed", "Thanks").status_code == 200 and status_of(first) == "resolved"  # a note
    assert post(second, "NOT_COUNCILS_RESPONSIBILITY", "Private land").status_code == 200
    with engine.connect() as conn:
        last = conn.execute(select(EV).where(EV.c.intervention_id == second).order_by(EV.c.id.desc())).first()
    assert status_of(second) == "rejected" and last.detail["reason"] == "Private land"
    assert last.detail["public"] is True
    assert post(third, "OPEN", "Still there").status_code == 200 and status_of(third) == "new"
    refused = post(third, "MAYBE")
    assert refused.status_code == 400 and "status" in refused.get_data(as_text=True)
    assert "INVESTIGATING" in refused.get_data(as_text=True)
    duplicate = post(third, "DUPLICATE")  # an update cannot say of which request: refused, named
    assert duplicate.status_code == 409 and "duplicate needs the id" in duplicate.get_data(as_text=True)
    assert status_of(third) == "new"


def test_a_city_maps_its_own_statuses(app, engine, tmp_path):
    path = tmp_path / "city.toml"
    path.write_text(
        "[status_mapping]\n"
        'acknowledged = { fixmystreet = "action scheduled" }\n'  # any case, spaces: normalised
        'rejected = { open311 = "closed", fixmystreet = "NO_FURTHER_ACTION" }\n',
        encoding="utf-8",
    )
    load_extra_referential(engine, path)
    api_key = fms_key(engine)
    other = report(engine)
    seen, refused = to_status(engine, "acknowledged", other), to_status(engine, "rejected", other)
    listed = fetched_as_fixmystreet(fetch(app, api_key, "xml"))
    last = {u["service_request_id"]: u["status"] for u in listed}
    assert last[str(seen)] == "ACTION_SCHEDULED" and fms_state("ACTION_SCHEDULED") in FMS_VISIBLE
    assert last[str(refused)] == "NO_FURTHER_ACTION" and fms_state("NO_FURTHER_ACTION") == "unable to fix"
    # read backwards: FixMyStreet's ACTION_SCHEDULED acknowledges a request here
    fresh = report(engine)
    data = {"service_request_id": str(fresh), "status": "ACTION_SCHEDULED", "description": "Booked"}
    answer = app.test_client().post(
        f"{BASE}/servicerequestupdates.json", data=data | {"update_id": "x1", "api_key": api_key}
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)
    with engine.connect() as conn:
        assert conn.execute(select(IV.c.status).where(IV.c.id == fresh)).scalar_one() == "acknowledged"


def test_a_bad_mapping_is_named_with_file_key_and_line(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(
        '# a city\n\n[status_mapping]\nnew = { open311 = "open" }\nresolved = { fixmystreet = "DONE" }\n',
        encoding="utf-8",
    )
    with pytest.raises(ImportFailure) as failure:
        read_referential(path)
    said = str(failure.value)
    assert said.startswith(str(path))
    assert "[status_mapping] (line 3), key 'resolved.fixmystreet' (line 5): 'DONE' is not one of" in said
    path.write_text('[status_mapping]\nwaiting = { open311 = "open" }\n', encoding="utf-8")
    with pytest.raises(ImportFailure, match=r"\[status_mapping\] \(line 1\): unknown status waiting"):
        read_referential(path)
    path.write_text('[status_mapping]\nnew = { open311 = "maybe" }\n', encoding="utf-8")
    with pytest.raises(
        ImportFailure, match=r"key 'new.open311' \(line 2\): open311 must be one of open, closed, not 'maybe'"
    ):
        read_referential(path)
