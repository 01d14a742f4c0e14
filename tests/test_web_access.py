"""Who sees which requests on pages and map feeds (the access rule of geova.web.access), both backends.

Same store as tests/test_web_correspondent.py: ``corr`` is the correspondent of Dorchester; ``agent``,
``elu`` and ``admin`` see the whole city. Which request is in which quarter is read from the store
directly, not through the pages.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import Engine, select

from geova.store.schema import Intervention, Quarter
from tests.test_web_correspondent import DORCHESTER, NORM, csrf, login

IV, Q = Intervention.__table__, Quarter.__table__
PERIOD = f"norm={NORM}&from=2015-01-01&to=2015-12-31"
ROW = re.compile(r'<tr data-id="(\d+)">')
EVERYONE_ELSE = ("agent", "elu", "admin")


@pytest.fixture
def app(boston_app: Any) -> Any:
    return boston_app


def ids_by_quarter(engine: Engine) -> dict[str | None, set[int]]:
    with engine.connect() as conn:
        rows = conn.execute(select(IV.c.id, Q.c.code).outerjoin(Q, Q.c.id == IV.c.quarter_id)).all()
    out: dict[str | None, set[int]] = {}
    for i, code in rows:
        out.setdefault(code, set()).add(i)
    return out


def other_quarter(by_quarter: dict[str | None, set[int]]) -> str:
    """The quarter other than Dorchester with the most requests."""
    return max((c for c in by_quarter if c not in (None, DORCHESTER)), key=lambda c: len(by_quarter[c]))


def points(client: Any, query: str) -> set[int]:
    feed = client.get(f"/geo/interventions.geojson?{PERIOD}&{query}")
    assert feed.status_code == 200
    body = feed.get_json()
    assert body["total"] <= 1500, "the store is small enough for single points"
    return {f["properties"]["i"] for f in body["features"]}


def test_a_correspondent_maps_only_their_own_quarters_requests(app, engine):
    by_quarter = ids_by_quarter(engine)
    other = other_quarter(by_quarter)
    city = points(login(app, "agent"), "zoom=13")  # what the whole city's map holds
    assert city & by_quarter[DORCHESTER] and city & by_quarter[other]
    corr = login(app, "corr")
    # the whole city asked for: only Dorchester's points come back
    assert points(corr, "zoom=13") == city & by_quarter[DORCHESTER]
    assert points(corr, f"quarter={DORCHESTER}") == city & by_quarter[DORCHESTER]
    assert points(corr, f"quarter={other}") == set()
    for name in EVERYONE_ELSE:
        client = login(app, name)
        assert points(client, f"quarter={other}") == city & by_quarter[other], name
        assert points(client, "zoom=13") == city, name


def unsigned(page: str) -> str:
    """The page with its CSRF tokens' values blanked."""
    return re.sub(r'(name="csrf_token" value=")[^"]*"', r'\1"', page)


def test_popup_detail_outside_the_correspondents_quarter_is_not_found(app, engine):
    by_quarter = ids_by_quarter(engine)
    mine = min(by_quarter[DORCHESTER])
    theirs = min(by_quarter[other_quarter(by_quarter)])
    corr = login(app, "corr")
    own = corr.get(f"/geo/interventions/{mine}.json?norm={NORM}")
    assert own.status_code == 200 and own.get_json()["id"] == mine
    hidden = corr.get(f"/geo/interventions/{theirs}.json?norm={NORM}")
    missing = corr.get(f"/geo/interventions/987654.json?norm={NORM}")
    assert hidden.status_code == missing.status_code == 404
    # nothing tells an existing request from a missing one (the pages differ by their address only,
    # and by the forms' CSRF token, which is signed with the second it is made in)
    assert unsigned(hidden.get_data(as_text=True)).replace(str(theirs), "ID") == unsigned(
        missing.get_data(as_text=True)
    ).replace("987654", "ID")
    for name in EVERYONE_ELSE:
        detail = login(app, name).get(f"/geo/interventions/{theirs}.json?norm={NORM}")
        assert detail.status_code == 200 and detail.get_json()["id"] == theirs, name


def test_other_quarters_pages_show_figures_but_no_request(app, engine):
    by_quarter = ids_by_quarter(engine)
    other = other_quarter(by_quarter)
    corr = login(app, "corr")
    page = corr.get(f"/quarters/{other}?{PERIOD}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert ROW.findall(html) == []
    assert 'id="requests-hidden"' in html
    assert "/geo/interventions.geojson" not in html and "/geo/interventions/{id}.json" not in html
    # the scorecard still gives the quarter's figures
    scorecard = html[html.index('class="data scorecard"') :]
    first_row = scorecard[scorecard.index("<tbody>") : scorecard.index("</tr>", scorecard.index("<tbody>"))]
    counts = re.findall(r'<td class="num">([\d,  ]+)</td>', first_row)
    assert counts and int(re.sub(r"\D", "", counts[0])) > 0
    # their own quarter's page lists requests, all of Dorchester
    own = corr.get(f"/quarters/{DORCHESTER}?{PERIOD}").get_data(as_text=True)
    listed = {int(i) for i in ROW.findall(own)}
    assert listed and listed <= by_quarter[DORCHESTER]
    assert 'id="requests-hidden"' not in own
    # everybody else sees the other quarter's requests
    for name in EVERYONE_ELSE:
        html = login(app, name).get(f"/quarters/{other}?{PERIOD}").get_data(as_text=True)
        listed = {int(i) for i in ROW.findall(html)}
        assert listed and listed <= by_quarter[other], name


def test_the_choropleth_keeps_every_quarters_aggregate_for_a_correspondent(app, engine):
    by_quarter = ids_by_quarter(engine)
    other = other_quarter(by_quarter)
    city = points(login(app, "agent"), "zoom=13")
    feed = login(app, "corr").get(f"/geo/quarters.geojson?{PERIOD}").get_json()
    requests = {f["properties"]["code"]: f["properties"]["requests"] for f in feed["features"]}
    assert len(requests) == 26
    assert requests[other] == len(city & by_quarter[other]) > 0
    assert requests[DORCHESTER] == len(city & by_quarter[DORCHESTER]) > 0


@pytest.mark.parametrize("big", [2**31, 2**63 - 1, 2**63, 99999999999999999999, 10**40])
def test_ids_beyond_the_store_are_not_found(app, big):
    for name in ("agent", "corr"):
        client = login(app, name)
        response = client.get(f"/geo/interventions/{big}.json")
        assert response.status_code == 404, (name, big)
    agent = login(app, "agent")
    token = csrf(agent)
    for action, data in (
        ("resolve", {"resolved_at": "2015-06-01T10:00"}),
        ("reassign", {"service": "PWD"}),
    ):
        response = agent.post(f"/worklist/{big}/{action}", data={**data, "csrf_token": token})
        assert response.status_code == 404, (action, big)
