"""The worklist of an agent: its own services by default, requests assigned to agents, bulk
assign and reassign with one note (issue 10, point 3).

Same store as tests/test_service_loop.py (Boston's file routes graffiti to Property Management and
waste land to Inspectional Services). Expected rows are read from the stored requests, not from
the worklist's own code.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select

from geova.cli import cli
from geova.store import edits
from geova.store.assignments import account_services, assignees, set_account_services
from geova.store.db import write
from geova.store.schema import Intervention
from geova.store.users import add_user, find
from tests.test_web_correspondent import LAT, LON, PASSWORD, csrf, login
from tests.test_web_services import history, rows, stored

IV = Intervention.__table__
GRAFFITI, INSPECTIONS, PARKS = "boston.graffiti", "boston.inspections", "boston.parks"
BASE = "/worklist?norm=boston.target"


@pytest.fixture
def app(boston_app: Any) -> Any:
    return boston_app


def report(engine: Engine, category: str, hours_ago: float = 2) -> int:
    with write(engine) as conn:
        return edits.report_intervention(
            conn,
            category,
            "Seen today",
            None,
            LON,
            LAT,
            "corr",
            datetime.now(UTC) - timedelta(hours=hours_ago),
        )


def services_of(engine: Engine, ids: list[int]) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(select(IV.c.service).where(IV.c.id.in_(ids))).scalars())


def test_an_agent_sees_its_services_by_default_and_every_service_when_asked(app, engine):
    tag, land = report(engine, "graffiti"), report(engine, "friche")
    assert (stored(engine, tag).service, stored(engine, land).service) == (GRAFFITI, INSPECTIONS)
    with write(engine) as conn:
        set_account_services(conn, "agent", [GRAFFITI])
        add_user(conn, "anyone", PASSWORD, "service")
    agent = login(app, "agent")
    html = agent.get(BASE).get_data(as_text=True)
    mine = rows(html)
    assert tag in mine and land not in mine
    assert services_of(engine, mine) == {GRAFFITI}
    assert "My services: Property Management – Graffiti Removal" in html
    everything = rows(agent.get(f"{BASE}&scope=all").get_data(as_text=True))
    assert tag in everything and land in everything
    assert services_of(engine, everything) > {GRAFFITI}
    # a service chosen wins over "my services"
    assert land in rows(agent.get(f"{BASE}&service={INSPECTIONS}").get_data(as_text=True))
    # an account linked to no service sees every service's, and the page says so
    other = login(app, "anyone")
    page = other.get(BASE).get_data(as_text=True)
    assert "linked to no service" in page
    assert rows(page) == everything
    # a bad scope is a clear 400, not a 500
    bad = agent.get(f"{BASE}&scope=theirs")
    assert bad.status_code == 400 and "scope" in bad.get_data(as_text=True)


def test_bulk_assign_lists_the_agent_and_records_who_assigned(app, engine):
    a, b, c = report(engine, "graffiti"), report(engine, "graffiti"), report(engine, "friche")
    with write(engine) as conn:
        add_user(conn, "tagger", PASSWORD, "service")
        set_account_services(conn, "tagger", [GRAFFITI])
        set_account_services(conn, "agent", [GRAFFITI, INSPECTIONS])
    agent = login(app, "agent")
    answer = agent.post(
        "/worklist/bulk",
        data={"ids": [str(a), str(b), str(c)], "status": "assign", "assignee": "tagger", "note": "yours"}
        | {"csrf_token": csrf(agent)},
        follow_redirects=True,
    )
    html = answer.get_data(as_text=True)
    sid = {i: stored(engine, i).source_id for i in (a, b, c)}
    assert f"2 requests assigned to tagger: {sid[a]}, {sid[b]}." in html
    assert (
        f"Not changed: {sid[c]} (assignee: &#39;tagger&#39; is not an agent of the service {INSPECTIONS})"
        in html
    )
    with engine.connect() as conn:
        assert assignees(conn, [a, b, c]) == {a: "tagger", b: "tagger"}
    for i in (a, b):
        last = history(engine, i)[-1]
        assert (last.kind, last.username, last.note, last.detail["to"]) == (
            "assigned",
            "agent",
            "yours",
            "tagger",
        )
    # the agent column, and "assigned to me" for tagger
    page = agent.get(f"{BASE}&scope=all").get_data(as_text=True)
    assert f'<tr data-id="{a}">' in page and 'data-assignee="tagger">tagger<' in page
    tagger = login(app, "tagger")
    assert sorted(rows(tagger.get(f"{BASE}&assigned=me").get_data(as_text=True))) == sorted([a, b])
    assert rows(agent.get(f"{BASE}&assigned=me").get_data(as_text=True)) == []
    # an unknown agent, or none chosen: nothing changes
    agent.post(
        "/worklist/bulk",
        data={"ids": [str(c)], "status": "assign", "assignee": "", "csrf_token": csrf(agent)},
    )
    agent.post(
        "/worklist/bulk",
        data={"ids": [str(c)], "status": "assign", "assignee": "nobody", "csrf_token": csrf(agent)},
    )
    with engine.connect() as conn:
        assert assignees(conn, [c]) == {}


def test_bulk_reassign_moves_the_requests_with_one_note(app, engine):
    a, b = report(engine, "graffiti"), report(engine, "graffiti")
    with write(engine) as conn:
        set_account_services(conn, "agent", [GRAFFITI])
    agent = login(app, "agent")
    agent.post(
        "/worklist/bulk",
        data={"ids": [str(a)], "status": "assign", "assignee": "agent", "csrf_token": csrf(agent)},
    )
    answer = agent.post(
        "/worklist/bulk",
        data={"ids": [str(a), str(b)], "status": "reassign", "service": PARKS, "note": "in the park"}
        | {"csrf_token": csrf(agent)},
        follow_redirects=True,
    )
    html = answer.get_data(as_text=True)
    assert "2 requests handed to Parks and Recreation" in html
    for i in (a, b):
        assert stored(engine, i).service == PARKS
        last = history(engine, i)[-1]
        assert (last.kind, last.username, last.note) == ("reassigned", "agent", "in the park")
        assert (last.detail["from"], last.detail["to"]) == (GRAFFITI, PARKS)
    with engine.connect() as conn:
        assert assignees(conn, [a, b]) == {}  # the park's agents take them
    # gone from the agent's own worklist, there under every service's
    assert not {a, b} & set(rows(agent.get(BASE).get_data(as_text=True)))
    assert {a, b} <= set(rows(agent.get(f"{BASE}&scope=all").get_data(as_text=True)))
    # an unknown service is named and nothing moves
    refused = agent.post(
        "/worklist/bulk",
        data={"ids": [str(a)], "status": "reassign", "service": "nowhere", "csrf_token": csrf(agent)},
        follow_redirects=True,
    )
    assert "unknown service &#39;nowhere&#39;" in refused.get_data(as_text=True)
    assert stored(engine, a).service == PARKS


def test_bulk_resolve_records_one_event_per_request_with_the_note(app, engine):
    a, b = report(engine, "graffiti"), report(engine, "graffiti")
    agent = login(app, "agent")
    agent.post(
        "/worklist/bulk",
        data={"ids": [str(a), str(b)], "status": "resolved", "note": "cleaned", "public": "y"}
        | {"csrf_token": csrf(agent)},
    )
    for i in (a, b):
        events = [e for e in history(engine, i) if e.kind == "resolved"]
        assert len(events) == 1
        assert (events[0].note, events[0].detail["public"], events[0].username) == ("cleaned", True, "agent")
        assert stored(engine, i).status == "resolved"


def test_the_cli_links_service_accounts(db_url, engine, app):
    def run(*args: str) -> Any:
        return CliRunner().invoke(cli, ["--db", db_url, *args], catch_exceptions=False)

    done = CliRunner().invoke(
        cli,
        [
            "--db",
            db_url,
            "user",
            "add",
            "crew2",
            "--role",
            "service",
            "--service",
            GRAFFITI,
            "--service",
            PARKS,
        ],
        env={"GEOVA_USER_PASSWORD": PASSWORD},
    )
    assert done.exit_code == 0, done.output
    assert f"services: {GRAFFITI}, {PARKS}" in done.output
    with engine.connect() as conn:
        account = find(conn, "crew2")
        assert account is not None and account_services(conn, account.id) == (GRAFFITI, PARKS)
    changed = run("user", "services", "crew2", INSPECTIONS)
    assert changed.exit_code == 0 and f"crew2: {INSPECTIONS}" in changed.output
    assert run("user", "services", "crew2").output.strip() == f"crew2: {INSPECTIONS}"
    unknown = run("user", "services", "crew2", "nowhere")
    assert unknown.exit_code == 2 and "unknown service nowhere" in unknown.output
    not_agent = run("user", "services", "elu", GRAFFITI)
    assert not_agent.exit_code == 2 and "only a service account" in not_agent.output
    assert run("user", "services", "ghost", GRAFFITI).exit_code == 2
    cleared = run("user", "services", "crew2", "--clear")
    assert "no service" in cleared.output


def test_the_history_names_the_agent_only_to_those_who_read_personal_details(app, engine):
    from geova.store.status import set_setting
    from geova.web.access import PUBLISH_SETTING

    tag = report(engine, "graffiti")
    with write(engine) as conn:
        set_setting(conn, PUBLISH_SETTING, "yes")  # anonymous callers read requests, without details
    agent = login(app, "agent")
    agent.post(
        "/worklist/bulk",
        data={"ids": [str(tag)], "status": "assign", "assignee": "agent", "csrf_token": csrf(agent)},
    )
    seen = agent.get(f"/api/v1/interventions/{tag}").get_json()["events"][-1]
    assert (seen["kind"], seen["username"], seen["detail"]["to"]) == ("assigned", "agent", "agent")
    public = app.test_client().get(f"/api/v1/interventions/{tag}")
    assert public.status_code == 200, public.get_data(as_text=True)
    last = public.get_json()["events"][-1]
    assert last["kind"] == "assigned" and last["username"] is None
    assert "to" not in last["detail"] and "agent" not in public.get_data(as_text=True)
