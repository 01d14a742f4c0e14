"""The live service loop: routing, due dates, the life cycle, Open311 statuses, the territory's clock.

Same store as tests/test_web_correspondent.py: Boston's neighbourhoods and priority (commercial)
zones, the 2015 "trash on vacant lot" requests, the OVA referential (its French services and
routes) plus Boston's file (its services, their QUEUE codes, its routes and ``boston.target``'s own
168 h figure for requests reported in geova). Expected services and due dates below are read off
those two files, not computed by geova's code.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd
import pytest
from alembic import command
from sqlalchemy import Engine, select, text

from geova.core.lifecycle import TransitionRefused
from geova.core.routing import RouteRule, route
from geova.importing import import_interventions, load_extra_referential
from geova.store import apikeys, edits
from geova.store.areas import load_areas
from geova.store.db import write
from geova.store.migrate import alembic_config
from geova.store.schema import Intervention, InterventionEvent, Verdict
from geova.store.status import AS_OF, set_setting
from tests.test_web_correspondent import (
    DORCHESTER,
    LAT,
    LON,
    build_store,
    csrf,
    login,
)
from tests.test_web_services import history, rows, stored

REPO = Path(__file__).resolve().parents[1]
IV = Intervention.__table__
EV = InterventionEvent.__table__
V = Verdict.__table__
ROW = re.compile(r'<tr data-id="(\d+)">')
TZ = "America/New_York"
# Boston's file: graffiti -> Property Management, corbeille -> Public Works, friche -> Inspections
GRAFFITI, PUBLIC_WORKS, INSPECTIONS = "boston.graffiti", "boston.public_works", "boston.inspections"
BOSTON_OWN_HOURS = 168  # boston.target's value in data/boston/norms.toml
FRICHES_HOURS = 72  # nantes.friches.72h
GRAFFITI_ZONE_HOURS = 48  # nantes.graffiti.48h (graffiti in a priority zone)


@pytest.fixture
def app(boston_app: Any) -> Any:
    return boston_app


def zone_point(engine: Engine) -> tuple[float, float]:
    with engine.connect() as conn:
        inside = load_areas(conn)[1][0].geom.representative_point()
    return inside.x, inside.y


def key(engine: Engine, role: str) -> str:
    with engine.begin() as conn:
        return apikeys.add_key(conn, f"{role}-loop", role)[1]


def french(client: Any) -> Any:
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "fr"
    return client


# -- routing and due dates, from every channel ----------------------------------------------------


def test_routing_takes_the_most_specific_rule():
    rules = [
        RouteRule("city", category="graffiti", position=0),
        RouteRule("north", category="graffiti", quarter="N", position=1),
        RouteRule("shops", category="graffiti", zone_kind="commercial", position=2),
        RouteRule("square", category="graffiti", zone="Z1", position=3),
        RouteRule("anything-in-N", quarter="N", position=4),
    ]
    assert route(rules, "desk", "graffiti") == "city"
    assert route(rules, "desk", "graffiti", ["N", None]) == "north"
    assert route(rules, "desk", "graffiti", ["N"], [("Z2", "commercial")]) == "shops"
    assert route(rules, "desk", "graffiti", ["N"], [("Z2", "commercial"), ("Z1", "commercial")]) == "square"
    # a place wins over a category alone; between two rules of the same place, the category's
    assert route(rules, "desk", "epave", ["N"]) == "anything-in-N"
    assert route(rules, "desk", "epave", ["S"]) == "desk"


def test_a_report_from_every_channel_is_routed_dated_and_listed(app, engine):
    corr_key, agent = key(engine, "correspondent"), login(app, "agent")
    # the correspondent's web form: a graffiti outside the priority zones (Boston's own week)
    corr = login(app, "corr")
    form = {"category": "graffiti", "description": "Tag on the wall", "latitude": str(LAT)}
    form |= {"longitude": str(LON), "csrf_token": csrf(corr)}
    answer = corr.post(f"/quarters/{DORCHESTER}/report", data=form, follow_redirects=True)
    assert "Sent to Property Management – Graffiti Removal, due" in answer.get_data(as_text=True)
    with engine.connect() as conn:
        web = conn.execute(select(IV.c.id).where(IV.c.source == "geova-web")).scalar_one()
    # /api/v1: waste land (nantes.friches.72h is stricter than Boston's week)
    api = app.test_client().post(
        "/api/v1/interventions",
        json={"category": "friche", "description": "Mattress", "lat": LAT, "lon": LON},
        headers={"Authorization": f"Bearer {corr_key}"},
    )
    assert api.status_code == 201, api.get_json()
    # Open311: a litter basket
    o311 = app.test_client().post(
        "/open311/v2/requests.json",
        data={"service_code": "corbeille", "lat": str(LAT), "long": str(LON), "api_key": corr_key},
    )
    assert o311.status_code == 201, o311.get_data(as_text=True)
    expected = {
        web: (GRAFFITI, BOSTON_OWN_HOURS),
        api.get_json()["id"]: (INSPECTIONS, FRICHES_HOURS),
        int(o311.get_json()[0]["service_request_id"]): (PUBLIC_WORKS, BOSTON_OWN_HOURS),
    }
    for request_id, (service, hours) in expected.items():
        row = stored(engine, request_id)
        assert (row.service, row.status) == (service, "new")
        assert row.due_at == row.reported_at + timedelta(hours=hours)
        # the headline norm judges on the due date: no more "no deadline" for a report made here
        page = agent.get(f"/worklist?norm=boston.target&service={service}").get_data(as_text=True)
        assert request_id in rows(page)
        line = page[page.index(f'<tr data-id="{request_id}">') :]
        line = line[: line.index("</tr>")]
        assert '<span class="state open_in_time">' in line
        due_local = pd.Timestamp(row.due_at).tz_convert(TZ)
        assert f"{due_local.month}/{due_local.day}/{due_local:%y}" in line  # en_US short date
    # the service is shown by its name, never its code
    page = agent.get(f"/worklist?norm=boston.target&service={GRAFFITI}").get_data(as_text=True)
    assert "Property Management – Graffiti Removal" in page and f">{GRAFFITI}<" not in page


def test_a_graffiti_in_a_priority_zone_is_due_in_48_hours(engine, tmp_path):
    build_store(engine, tmp_path / "rejects.csv")
    x, y = zone_point(engine)
    when = datetime(2015, 7, 1, 12, 0, tzinfo=UTC)
    with write(engine) as conn:
        new = edits.report_intervention(conn, "graffiti", "Tag", None, x, y, "corr", when)
    row = stored(engine, new)
    assert (row.service, row.due_at) == (GRAFFITI, when + timedelta(hours=GRAFFITI_ZONE_HOURS))


def test_routes_by_zone_zone_kind_and_quarter_from_a_city_file(engine, tmp_path):
    build_store(engine, tmp_path / "rejects.csv")
    city = tmp_path / "routes.toml"
    city.write_text(
        "\n".join(
            [
                '[[service]]\ncode = "square-team"\nlabel_fr = "Équipe place"\nlabel_en = "Square team"',
                '[[service]]\ncode = "shops-team"\nlabel_fr = "Équipe commerces"\nlabel_en = "Shops team"',
                '[[service]]\ncode = "dorchester-team"\nlabel_fr = "Dorchester"\nlabel_en = "Dorchester"',
                '[[route]]\ncategory = "graffiti"\nzone = "ZPC-01"\nservice = "square-team"',
                '[[route]]\ncategory = "graffiti"\nzone_kind = "commercial"\nservice = "shops-team"',
                f'[[route]]\ncategory = "graffiti"\nquarter = "{DORCHESTER}"\nservice = "dorchester-team"',
            ]
        ),
        encoding="utf-8",
    )
    load_extra_referential(engine, city)
    with engine.connect() as conn:
        zones = {z.code: z.geom.representative_point() for z in load_areas(conn)[1]}
    when = datetime(2015, 7, 1, 12, 0, tzinfo=UTC)
    with write(engine) as conn:
        in_square = edits.report_intervention(
            conn, "graffiti", "a", None, zones["ZPC-01"].x, zones["ZPC-01"].y, None, when
        )
        in_shops = edits.report_intervention(
            conn, "graffiti", "b", None, zones["ZPC-02"].x, zones["ZPC-02"].y, None, when
        )
        in_dorchester = edits.report_intervention(conn, "graffiti", "c", None, LON, LAT, None, when)
        other = edits.report_intervention(conn, "seringue", "d", None, LON, LAT, None, when)
    assert [stored(engine, i).service for i in (in_square, in_shops, in_dorchester, other)] == [
        "square-team",
        "shops-team",
        "dorchester-team",
        "boston.needles",  # Boston's file: seringue
    ]


def test_a_route_to_an_unknown_service_is_refused(engine, tmp_path):
    build_store(engine, tmp_path / "rejects.csv")
    bad = tmp_path / "bad.toml"
    bad.write_text('[[route]]\ncategory = "graffiti"\nservice = "nobody"\n', encoding="utf-8")
    with pytest.raises(
        Exception, match=r"\[\[route\]\] #1 \(line 1\), key 'service'.*unknown service 'nobody'"
    ):
        load_extra_referential(engine, bad)


# -- imports ---------------------------------------------------------------------------------------

# Boston's QUEUE codes by department, as data/boston/norms.toml groups them
DEPARTMENTS = {
    "PROP_": "boston.graffiti",
    "PWDx_": "boston.public_works",
    "PARK_": "boston.parks",
    "BTDT_": "boston.transportation",
    "ISD_": "boston.inspections",
    "BWSC_": "boston.water",
    "BPS_": "boston.schools",
    "INFO": "boston.311",
    "GEN_Needle_Pickup": "boston.needles",
}


def test_an_import_maps_queue_codes_onto_services(engine, tmp_path):
    build_store(engine, tmp_path / "rejects.csv")
    head = (REPO / "data/boston/graffiti-removal.csv").read_text(encoding="utf-8").splitlines()[:400]
    data = tmp_path / "graffiti.csv"
    data.write_text("\n".join(head) + "\n", encoding="utf-8")
    import_interventions(engine, data, REPO / "data/mappings/graffiti-removal.toml")
    frame = pd.read_csv(data, dtype=str)
    queue = dict(zip(frame["CASE_ENQUIRY_ID"], frame["QUEUE"], strict=True))
    with engine.connect() as conn:
        services = dict(
            conn.execute(select(IV.c.source_id, IV.c.service).where(IV.c.category_code == "graffiti")).all()
        )
    assert len(services) == len(queue)
    for sid, code in queue.items():
        department = next(d for prefix, d in DEPARTMENTS.items() if code.startswith(prefix))
        assert services[sid] == department, (sid, code)
    assert {"boston.graffiti", "boston.311", "boston.public_works"} <= set(services.values())
    # the first build's file: every vacant-lot request's queue is Inspectional Services'
    with engine.connect() as conn:
        lots = set(conn.execute(select(IV.c.service).where(IV.c.category_code == "friche")).scalars())
    assert lots == {INSPECTIONS}


def test_an_import_without_a_service_column_is_routed(engine, tmp_path):
    build_store(engine, tmp_path / "rejects.csv")
    head = (REPO / "data/boston/graffiti-removal.csv").read_text(encoding="utf-8").splitlines()[:50]
    data = tmp_path / "graffiti.csv"
    data.write_text("\n".join(head) + "\n", encoding="utf-8")
    mapping_text = (REPO / "data/mappings/graffiti-removal.toml").read_text(encoding="utf-8")
    assert 'service = "QUEUE"\n' in mapping_text
    mapping = tmp_path / "graffiti.toml"
    mapping.write_text(mapping_text.replace('service = "QUEUE"\n', ""), encoding="utf-8")
    report = import_interventions(engine, data, mapping)
    assert report.inserted == 49
    with engine.connect() as conn:
        services = set(conn.execute(select(IV.c.service).where(IV.c.category_code == "graffiti")).scalars())
    assert services == {GRAFFITI}
    # and a mapping's own [services] table wins over the referential's queues
    mapped = tmp_path / "mapped.toml"
    mapped.write_text(
        mapping_text.replace('name = "boston-311"', 'name = "boston-mapped"')
        + '\n[services]\n"PROP_GRAF_GraffitiRemoval" = "boston.parks"\n',
        encoding="utf-8",
    )
    import_interventions(engine, data, mapped)
    with engine.connect() as conn:
        pairs = set(
            conn.execute(
                select(IV.c.source_category, IV.c.service).where(IV.c.source == "boston-mapped")
            ).all()
        )
    frame = pd.read_csv(data, dtype=str)
    expected = {
        "boston.parks"
        if q == "PROP_GRAF_GraffitiRemoval"
        else next(d for p, d in DEPARTMENTS.items() if q.startswith(p))
        for q in frame["QUEUE"]
    }
    assert {s for _label, s in pairs} == expected


# -- reassignment and the life cycle ---------------------------------------------------------------


def test_reassignment_is_recorded_with_who_when_from_and_to(app, engine):
    agent = login(app, "agent")
    with write(engine) as conn:
        new = edits.report_intervention(conn, "graffiti", "Tag", None, LON, LAT, "corr", datetime.now(UTC))
    before = datetime.now(UTC)
    answer = agent.post(
        f"/worklist/{new}/reassign",
        data={"service": "boston.parks", "note": "in the park", "csrf_token": csrf(agent)},
        follow_redirects=True,
    )
    after = datetime.now(UTC)
    assert "handed to Parks and Recreation" in answer.get_data(as_text=True)
    last = history(engine, new)[-1]
    assert (last.kind, last.username, last.note) == ("reassigned", "agent", "in the park")
    assert last.detail == {"from": GRAFFITI, "to": "boston.parks"}
    assert before <= last.at <= after
    fr = french(login(app, "agent"))
    refused = fr.post(
        f"/worklist/{new}/reassign", data={"service": "nobody", "csrf_token": csrf(fr)}, follow_redirects=True
    )
    assert "service inconnu" in refused.get_data(as_text=True)
    assert stored(engine, new).service == "boston.parks"


def new_request(engine: Engine, hours_ago: float = 2) -> int:
    with write(engine) as conn:
        return edits.report_intervention(
            conn, "friche", "Bags", None, LON, LAT, "corr", datetime.now(UTC) - timedelta(hours=hours_ago)
        )


def test_the_whole_life_cycle_is_recorded(engine, tmp_path):
    build_store(engine, tmp_path / "rejects.csv")
    new = new_request(engine)
    resolved_at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    steps = [
        ("acknowledged", {"note": "seen", "public": True}),
        ("in_progress", {"note": "crew sent"}),
        ("resolved", {"note": "cleared", "public": True, "when": resolved_at}),
        ("in_progress", {"note": "came back"}),  # reopened: the clock runs again
        ("resolved", {"note": "cleared again", "public": True, "when": resolved_at + timedelta(minutes=5)}),
        ("closed", {"note": "the follow-up validated it"}),
    ]
    seen = []
    for status, extra in steps:
        with write(engine) as conn:
            edits.transition(conn, new, status, "agent", **extra)
        row = stored(engine, new)
        seen.append((row.status, row.resolved_at))
    assert seen == [
        ("acknowledged", None),
        ("in_progress", None),
        ("resolved", resolved_at),
        ("in_progress", None),
        ("resolved", resolved_at + timedelta(minutes=5)),
        ("closed", resolved_at + timedelta(minutes=5)),
    ]
    events = history(engine, new)[1:]
    assert [(e.kind, e.detail["from"], e.detail["to"], e.detail["public"], e.note) for e in events] == [
        ("acknowledged", "new", "acknowledged", True, "seen"),
        ("in_progress", "acknowledged", "in_progress", False, "crew sent"),
        ("resolved", "in_progress", "resolved", True, "cleared"),
        ("in_progress", "resolved", "in_progress", False, "came back"),
        ("resolved", "in_progress", "resolved", True, "cleared again"),
        ("closed", "resolved", "closed", False, "the follow-up validated it"),
    ]
    # the norm's clock stopped at the resolution: the verdict under nantes.friches.72h says so
    with engine.connect() as conn:
        verdict = conn.execute(
            select(V.c.resolved_at, V.c.hours_taken).where(
                V.c.intervention_id == new, V.c.norm_code == "nantes.friches.72h"
            )
        ).one()
    stopped = resolved_at + timedelta(minutes=5)
    assert verdict.resolved_at == stopped
    reported = stored(engine, new).reported_at
    assert verdict.hours_taken == pytest.approx((stopped - reported).total_seconds() / 3600)


@pytest.mark.parametrize(
    ("path", "last", "extra", "message"),
    [
        ([], "closed", {}, "cannot go from new to closed"),
        (["acknowledged"], "new", {}, "cannot go from acknowledged to new"),
        (["rejected"], "acknowledged", {}, "a rejection needs a reason"),
        (["cancelled"], "in_progress", {}, "cannot go from cancelled to in_progress"),
        ([], "rejected", {}, "a rejection needs a reason"),
        ([], "duplicate", {}, "a duplicate needs the id"),
        ([], "duplicate", {"duplicate_of": 10**9}, "no request with id"),
        ([], "open", {}, "cannot go from new to open"),
        ([], "done", {}, "cannot go from new to done"),
    ],
)
def test_refused_changes_store_nothing(engine, tmp_path, path, last, extra, message):
    build_store(engine, tmp_path / "rejects.csv")
    new = new_request(engine)
    for status in path:
        with write(engine) as conn:
            edits.transition(conn, new, status, "agent", reason="not ours" if status == "rejected" else None)
    if path == ["rejected"]:
        last, extra, message = "acknowledged", {}, "cannot go from rejected to acknowledged"
    before, events = stored(engine, new), len(history(engine, new))
    with pytest.raises((ValueError, LookupError), match=message), write(engine) as conn:
        edits.transition(conn, new, last, "agent", **extra)
    assert stored(engine, new) == before and len(history(engine, new)) == events


def test_rejected_and_duplicate_say_why_and_leave_the_rates(engine, tmp_path):
    build_store(engine, tmp_path / "rejects.csv")
    first, second, third = new_request(engine), new_request(engine), new_request(engine)
    with write(engine) as conn:
        edits.transition(conn, second, "duplicate", "agent", duplicate_of=first)
        edits.transition(conn, third, "rejected", "agent", "private land", reason="not the city's")
    assert history(engine, second)[-1].detail["duplicate_of"] == first
    assert history(engine, third)[-1].detail["reason"] == "not the city's"
    with engine.connect() as conn:
        excluded = dict(
            conn.execute(
                select(V.c.intervention_id, V.c.excluded).where(
                    V.c.norm_code == "nantes.friches.72h", V.c.intervention_id.in_([first, second, third])
                )
            ).all()
        )
    assert {k: bool(v) for k, v in excluded.items()} == {first: False, second: True, third: True}
    with pytest.raises(TransitionRefused), write(engine) as conn:
        edits.transition(conn, third, "in_progress", "agent")


def test_status_changes_from_the_worklist_and_the_api(app, engine):
    new = new_request(engine)
    agent = login(app, "agent")
    ok = agent.post(
        f"/worklist/{new}/status",
        data={"status": "acknowledged", "note": "on it", "public": "y", "csrf_token": csrf(agent)},
        follow_redirects=True,
    )
    assert "is now acknowledged" in ok.get_data(as_text=True)
    last = history(engine, new)[-1]
    assert (last.kind, last.username, last.note, last.detail["public"]) == (
        "acknowledged",
        "agent",
        "on it",
        True,
    )
    # refused in the reader's language, nothing stored
    fr = french(login(app, "agent"))
    refused = fr.post(
        f"/worklist/{new}/status", data={"status": "closed", "csrf_token": csrf(fr)}, follow_redirects=True
    )
    html = refused.get_data(as_text=True)
    assert "une demande prise en compte ne peut pas devenir clôturée" in html
    assert stored(engine, new).status == "acknowledged"
    # /api/v1: the service's key starts the work, then resolves with a public note
    service_key = key(engine, "service")
    headers = {"Authorization": f"Bearer {service_key}"}
    started = app.test_client().post(
        f"/api/v1/interventions/{new}/status", json={"status": "in_progress"}, headers=headers
    )
    assert started.status_code == 200 and started.get_json()["status"] == "in_progress"
    bad = app.test_client().post(
        f"/api/v1/interventions/{new}/status", json={"status": "closed"}, headers=headers
    )
    assert bad.status_code == 422 and "cannot go from in_progress to closed" in bad.get_json()["detail"]
    done = app.test_client().post(
        f"/api/v1/interventions/{new}/status",
        json={"status": "resolved", "note": "cleared", "public": True},
        headers=headers,
    )
    assert done.status_code == 200 and done.get_json()["status"] == "resolved"


def test_open311_says_open_or_closed_per_the_mapping(app, engine, tmp_path):
    official = key(engine, "official")
    a, b, c = new_request(engine), new_request(engine), new_request(engine)
    with write(engine) as conn:
        edits.transition(conn, b, "in_progress", "agent")
        edits.transition(conn, c, "resolved", "agent")

    def statuses() -> dict[int, str]:
        got = app.test_client().get(
            f"/open311/v2/requests.json?service_request_id={a},{b},{c}&api_key={official}"
        )
        assert got.status_code == 200, got.get_data(as_text=True)
        return {int(r["service_request_id"]): r["status"] for r in got.get_json()}

    assert statuses() == {a: "open", b: "open", c: "closed"}
    # a city that keeps a resolved request open for Open311 until its follow-up closes it
    city = tmp_path / "mapping.toml"
    city.write_text('[status_mapping]\nresolved = { open311 = "open" }\n', encoding="utf-8")
    load_extra_referential(engine, city)
    assert statuses() == {a: "open", b: "open", c: "open"}
    with write(engine) as conn:
        edits.transition(conn, c, "closed", "agent")
    assert statuses()[c] == "closed"
    listed = app.test_client().get(f"/open311/v2/requests.json?status=open&api_key={official}").get_json()
    assert {a, b} <= {int(r["service_request_id"]) for r in listed}


def test_a_bad_status_mapping_is_refused(engine, tmp_path):
    build_store(engine, tmp_path / "rejects.csv")
    city = tmp_path / "mapping.toml"
    city.write_text('[status_mapping]\nresolved = { open311 = "fixed" }\n', encoding="utf-8")
    with pytest.raises(Exception, match="open311 must be one of open, closed"):
        load_extra_referential(engine, city)


def test_migration_0008_makes_open_requests_new(engine, tmp_path):
    build_store(engine, tmp_path / "rejects.csv")
    with engine.connect() as conn:
        before = dict(conn.execute(select(IV.c.status, text("count(*)")).group_by(IV.c.status)).all())
    cfg = alembic_config(engine)
    with write(engine) as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0006")
    with engine.connect() as conn:
        legacy = dict(conn.execute(select(IV.c.status, text("count(*)")).group_by(IV.c.status)).all())
    assert legacy == {("open" if k == "new" else k): v for k, v in before.items()}
    with write(engine) as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    with engine.connect() as conn:
        after = dict(conn.execute(select(IV.c.status, text("count(*)")).group_by(IV.c.status)).all())
    assert after == before and "open" not in after


# -- the territory's clock ---------------------------------------------------------------------------


def test_pages_judge_at_the_territory_clock_and_show_todays_reports(app, engine):
    # the latest CLOSED_DT of trash-on-vacant-lot.csv: 2016-01-08 12:17:10 in Boston
    clock = pd.Timestamp("2016-01-08 12:17:10", tz=TZ)
    with write(engine) as conn:
        set_setting(conn, AS_OF, clock.tz_convert("UTC").isoformat())
    agent = login(app, "agent")
    results = agent.get("/worklist?norm=nantes.friches.72h&from=2015-01-01&to=2015-12-31").get_data(
        as_text=True
    )
    assert "as of 1/8/16, 12:17" in results  # judged at the clock: Boston's own figures
    new = new_request(engine, hours_ago=1)
    # the report's own local day (an hour ago is yesterday in Boston between midnight and 1 am)
    reported = pd.Timestamp(stored(engine, new).reported_at)
    today = (reported if reported.tzinfo else reported.tz_localize("UTC")).tz_convert(TZ).strftime("%Y-%m-%d")
    # the worklist lists today's report (judged now), and "Reported from" keeps only it
    listed = rows(agent.get(f"/worklist?norm=nantes.friches.72h&from={today}").get_data(as_text=True))
    assert listed == [new]
    assert new in rows(agent.get("/worklist?norm=nantes.friches.72h").get_data(as_text=True))
    # a quarter's page in the current period shows it too
    corr = login(app, "corr")
    page = corr.get(f"/quarters/{DORCHESTER}?norm=nantes.friches.72h&from={today}").get_data(as_text=True)
    assert stored(engine, new).source_id in page


def test_geova_territory_sets_and_clears_the_clock(db_url, engine, tmp_path):
    from click.testing import CliRunner

    from geova.cli import cli

    build_store(engine, tmp_path / "rejects.csv")
    runner = CliRunner()
    env = {"GEOVA_DATABASE_URL": db_url}
    said = runner.invoke(cli, ["territory", "--as-of", "2016-01-12 11:23:25"], env=env)
    assert said.exit_code == 0, said.output
    assert "as_of: 2016-01-12T16:23:25+00:00" in said.output  # Boston's EST is UTC-5
    bad = runner.invoke(cli, ["territory", "--as-of", "someday"], env=env)
    assert bad.exit_code == 2 and "--as-of" in bad.output
    cleared = runner.invoke(cli, ["territory", "--as-of", "now"], env=env)
    assert cleared.exit_code == 0 and "as_of:" not in cleared.output


def test_the_demo_clock_is_the_latest_closed_date_of_its_files():
    from geova.demo import DATA, DEMO_FILES, EXTRACT_INSTANT

    latest = max(
        pd.to_datetime(
            pd.read_csv(DATA / f.data, dtype=str)["CLOSED_DT"], format="%m/%d/%Y %I:%M:%S %p"
        ).max()
        for f in DEMO_FILES
    )
    assert pd.Timestamp(EXTRACT_INSTANT) == latest.tz_localize(TZ).tz_convert("UTC")


def test_the_resolve_form_defaults_to_now_to_the_second(app, engine):
    new = new_request(engine, hours_ago=0)  # reported this very second
    agent = login(app, "agent")
    html = agent.get(f"/worklist?norm=nantes.friches.72h&quarter={DORCHESTER}").get_data(as_text=True)
    line = html[html.index(f'<tr data-id="{new}">') :]
    form = line[line.index('action="/worklist/' + str(new) + "/resolve") :]
    value = re.search(r'name="resolved_at" value="([^"]+)" min="([^"]+)"', form)
    assert value is not None
    default, minimum = (pd.Timestamp(v).tz_localize(TZ) for v in value.groups())
    reported = pd.Timestamp(stored(engine, new).reported_at).tz_convert(TZ)
    assert minimum == reported.ceil("s") and default >= minimum
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", value.group(1))
    # posting the default resolves it, within the report's minute
    done = agent.post(
        f"/worklist/{new}/resolve", data={"resolved_at": value.group(1), "csrf_token": csrf(agent)}
    )
    assert done.status_code == 302
    assert stored(engine, new).status == "resolved"


def test_a_refused_resolution_is_worded_in_french(app, engine):
    new = new_request(engine, hours_ago=1)
    fr = french(login(app, "agent"))
    early = (pd.Timestamp(stored(engine, new).reported_at).tz_convert(TZ) - pd.Timedelta(hours=1)).strftime(
        "%Y-%m-%dT%H:%M:%S"
    )
    answer = fr.post(
        f"/worklist/{new}/resolve", data={"resolved_at": early, "csrf_token": csrf(fr)}, follow_redirects=True
    )
    assert "une demande ne peut pas être résolue avant d’avoir été signalée" in answer.get_data(as_text=True)
    assert stored(engine, new).status == "new"


# -- the worklist: sorting, search, states, bulk changes ------------------------------------------


def test_the_worklist_sorts_searches_and_filters_by_state(app, engine):
    new = new_request(engine, hours_ago=1)
    agent = login(app, "agent")
    base = f"/worklist?norm=nantes.friches.72h&quarter={DORCHESTER}"
    listed = rows(agent.get(base).get_data(as_text=True))
    assert 1 < len(listed) < 200 and listed[-1] == new  # due soonest last: the fresh report
    with engine.connect() as conn:
        info = {
            r.id: r for r in conn.execute(select(IV.c.id, IV.c.source_id, IV.c.reported_at, IV.c.address))
        }
    by_reported = rows(agent.get(f"{base}&sort=reported&order=desc").get_data(as_text=True))
    assert sorted(by_reported) == sorted(listed)
    assert by_reported == sorted(listed, key=lambda i: (info[i].reported_at, -i), reverse=True)
    by_request = rows(agent.get(f"{base}&sort=request").get_data(as_text=True))
    assert [info[i].source_id for i in by_request] == sorted(info[i].source_id for i in listed)
    # the column header links to the other direction
    html = agent.get(f"{base}&sort=request").get_data(as_text=True)
    assert 'aria-sort="ascending"' in html and "sort=request&amp;order=desc" in html
    # free text: a source id, then part of an address, case-insensitively
    one = listed[0]
    assert rows(agent.get(f"{base}&q={info[one].source_id}").get_data(as_text=True)) == [one]
    address = next(info[i].address for i in listed if info[i].address)
    street = address.split("  ")[0][-12:]  # the end of its street part ("...Selden St")
    expected = [i for i in listed if street.lower() in (info[i].address or "").lower()]
    found = agent.get(f"{base}&q={quote(street.upper())}").get_data(as_text=True)
    assert rows(found) == expected and len(expected) >= 1
    assert rows(agent.get(f"{base}&q=%25").get_data(as_text=True)) == []  # % is a character, not a wildcard
    huge = agent.get(f"{base}&q=99999999999999")  # beyond any id: no request, and no error
    assert huge.status_code == 200 and rows(huge.get_data(as_text=True)) == []
    assert one in rows(agent.get(f"{base}&q={one}").get_data(as_text=True))  # geova's own id too
    # states
    assert rows(agent.get(f"{base}&state=open_in_time").get_data(as_text=True)) == [new]
    assert rows(agent.get(f"{base}&state=open_overdue").get_data(as_text=True)) == listed[:-1]


def test_bulk_changes_apply_one_note_and_name_the_refused(app, engine):
    a, b, c = new_request(engine), new_request(engine), new_request(engine)
    with write(engine) as conn:
        edits.transition(conn, c, "resolved", "agent")
    agent = login(app, "agent")
    answer = agent.post(
        "/worklist/bulk",
        data={
            "ids": [str(a), str(b), str(c)],
            "status": "acknowledged",
            "note": "seen by the crew",
            "public": "y",
            "csrf_token": csrf(agent),
        },
        follow_redirects=True,
    )
    html = answer.get_data(as_text=True)
    sid = {i: stored(engine, i).source_id for i in (a, b, c)}
    assert f"2 requests are now acknowledged: {sid[a]}, {sid[b]}." in html
    assert f"Not changed: {sid[c]} (a request resolved cannot become acknowledged" in html
    for i in (a, b):
        last = history(engine, i)[-1]
        assert (last.kind, last.note, last.detail["public"], last.username) == (
            "acknowledged",
            "seen by the crew",
            True,
            "agent",
        )
    assert stored(engine, c).status == "resolved"
    # resolve now, in bulk
    agent.post("/worklist/bulk", data={"ids": [str(a)], "status": "resolved", "csrf_token": csrf(agent)})
    assert stored(engine, a).status == "resolved" and stored(engine, a).resolved_at is not None
    # without a CSRF token, or with another status, nothing changes
    assert agent.post("/worklist/bulk", data={"ids": [str(b)], "status": "resolved"}).status_code == 400
    agent.post("/worklist/bulk", data={"ids": [str(b)], "status": "closed", "csrf_token": csrf(agent)})
    assert stored(engine, b).status == "acknowledged"


def test_reloading_the_referential_keeps_a_city_files_routing(engine, tmp_path):
    from geova.importing import prepare_store
    from geova.store.status import delete_setting

    build_store(engine, tmp_path / "rejects.csv")
    with write(engine) as conn:
        delete_setting(conn, "referential_sha256")  # as after an edit of data/referential.toml
    prepare_store(engine)
    when = datetime(2015, 7, 1, 12, 0, tzinfo=UTC)
    with write(engine) as conn:
        graffiti = edits.report_intervention(conn, "graffiti", "Tag", None, LON, LAT, None, when)
        furniture = edits.report_intervention(conn, "mobilier", "Bench", None, LON, LAT, None, when)
        depot = edits.report_intervention(conn, "depot_sauvage", "Bags", None, LON, LAT, None, when)
    # Boston's route and default win; the referential's own route serves what Boston's file leaves
    assert [stored(engine, i).service for i in (graffiti, furniture, depot)] == [
        GRAFFITI,  # Boston: graffiti
        "voirie",  # the referential: mobilier
        "proprete",  # the referential: depot_sauvage
    ]
    with write(engine) as conn:
        other = edits.report_intervention(conn, "animation", "Fête", None, LON, LAT, None, when)
    assert stored(engine, other).service == "boston.311"  # Boston's default over the referential's
