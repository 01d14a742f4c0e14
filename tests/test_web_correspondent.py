"""Correspondent pages and reporting: roles, CSRF, the report form, escaping, filters (both backends).

The store: Boston's neighbourhoods and priority zones, the 2015 "trash on vacant lot" requests, the
OVA referential plus Boston's norms, and one account per role. Requests are judged under
``nantes.friches.72h`` (72 h from the report), the headline norm of this store.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from werkzeug.security import generate_password_hash

from app import create_app
from geova.core.audit import Answer, AuditEntry
from geova.importing import import_activities, import_interventions, load_extra_referential
from geova.store import audit, edits, users
from geova.store.areas import load_areas
from geova.store.schema import Intervention, InterventionEvent, InterventionZone, Quarter
from geova.store.status import set_setting
from geova.store.users import add_user
from tests.boston import load_quarters, load_zones

REPO = Path(__file__).resolve().parents[1]
PASSWORD = "correct-horse-battery"
NORM = "nantes.friches.72h"
DORCHESTER = "6"
# 31 Selden St, Dorchester (the first row of the Boston file)
LON, LAT = -71.0778, 42.2816
IV = Intervention.__table__
EV = InterventionEvent.__table__


def build_store(engine: Engine, rejects: Path) -> None:
    load_extra_referential(engine, REPO / "data/boston/norms.toml")
    load_quarters(engine)
    load_zones(engine)
    import_interventions(
        engine,
        REPO / "data/boston/trash-on-vacant-lot.csv",
        REPO / "data/mappings/trash-on-vacant-lot.toml",
        rejects_path=rejects,
    )
    with engine.begin() as conn:
        set_setting(conn, "timezone", "America/New_York")
        set_setting(conn, "holidays", "US-MA")
        set_setting(conn, "headline_norm", NORM)
        add_user(conn, "corr", PASSWORD, "correspondent", DORCHESTER)
        add_user(conn, "agent", PASSWORD, "service")
        add_user(conn, "elu", PASSWORD, "official")
        add_user(conn, "admin", PASSWORD, "admin")


def fast_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap password hashes: scrypt's cost is the point in production, not in a test's setup."""
    fast = functools.partial(generate_password_hash, method="pbkdf2:sha256:1000")
    monkeypatch.setattr(users, "generate_password_hash", fast)


def make_app(db_url: str, engine: Engine, tmp_path: Path) -> Iterator[Any]:
    """The app on a freshly built store; its engine is closed afterwards (PostGIS connections)."""
    build_store(engine, tmp_path / "rejects.csv")
    flask_app = create_app({"GEOVA_DATABASE_URL": db_url, "TESTING": True, "SECRET_KEY": "test"})
    yield flask_app
    app_engine = flask_app.extensions.get("geova_engine")
    if app_engine is not None:
        app_engine.dispose()


@pytest.fixture
def app(boston_app: Any) -> Any:
    return boston_app


CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf(client: Any) -> str:
    """The session's CSRF token, read from a page's form as a browser would."""
    match = CSRF.search(client.get("/login").get_data(as_text=True))
    assert match, "no CSRF token in the login page"
    return match.group(1)


def login(app: Any, username: str) -> Any:
    """A client logged in as ``username``, reading pages in English."""
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    response = client.post(
        "/login", data={"username": username, "password": PASSWORD, "csrf_token": csrf(client)}
    )
    assert response.status_code == 302, f"{username} could not log in"
    return client


def count(engine: Engine, table: Any = IV) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def report_form(client: Any, **changes: Any) -> dict[str, Any]:
    data = {
        "category": "friche",
        "description": "Mattress and bags dumped on the lot",
        "address": "31 Selden St",
        "latitude": str(LAT),
        "longitude": str(LON),
        "csrf_token": csrf(client),
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


# -- the store functions -------------------------------------------------------------------------


def test_report_intervention_assigns_and_records_an_event(engine, tmp_path):
    build_store(engine, tmp_path / "rejects.csv")
    when = datetime(2015, 6, 1, 14, 0, tzinfo=UTC)
    with engine.begin() as conn:
        zone = load_areas(conn)[1][0]
        inside = zone.geom.representative_point()
        first = edits.report_intervention(conn, "friche", " Bags ", "", LON, LAT, "corr", when)
        second = edits.report_intervention(conn, "graffiti", "Tag", None, inside.x, inside.y, "agent", when)
    q = Quarter.__table__
    with engine.connect() as conn:
        rows = {
            r.id: r
            for r in conn.execute(
                select(IV, q.c.code.label("quarter_code"))
                .outerjoin(q, q.c.id == IV.c.quarter_id)
                .where(IV.c.id.in_([first, second]))
            )
        }
        zones = conn.execute(select(InterventionZone.__table__)).all()
        events = edits.events(conn, first)
    a = rows[first]
    assert (a.source, a.source_id, a.status, a.channel) == ("geova-web", "W-000001", "new", "geova")
    assert rows[second].source_id == "W-000002"
    assert a.quarter_code == DORCHESTER
    assert a.description == "Bags" and a.address is None and a.resolved_at is None
    # routed by Boston's file (friche -> Inspectional Services, over the referential's default
    # route), due 72 h after the report (nantes.friches.72h, earlier than boston.target's 168 h)
    assert a.service == "boston.inspections"
    assert a.due_at == when + timedelta(hours=72)
    # a graffiti in a priority zone: Boston's graffiti service, due 48 h after (nantes.graffiti.48h)
    assert rows[second].service == "boston.graffiti"
    assert rows[second].due_at == when + timedelta(hours=48)
    assert a.reported_at == when
    assert re.fullmatch(r"[0-9a-f]{16}", a.content_hash)
    assert (second, zone.id) in {(z.intervention_id, z.zone_id) for z in zones}
    assert first not in {z.intervention_id for z in zones}
    assert [(e["kind"], e["username"]) for e in events] == [("reported", "corr")]
    assert events[0]["detail"]["category"] == "friche"
    assert events[0]["detail"]["service"] == "boston.inspections"


@pytest.mark.parametrize(
    ("category", "lon", "lat", "when", "message"),
    [
        ("nope", LON, LAT, datetime(2015, 6, 1, tzinfo=UTC), "unknown category"),
        ("friche", 181.0, LAT, datetime(2015, 6, 1, tzinfo=UTC), "longitude"),
        ("friche", LON, -90.5, datetime(2015, 6, 1, tzinfo=UTC), "latitude"),
        ("friche", LON, LAT, datetime(2015, 6, 1), "time zone"),
    ],
)
def test_report_intervention_refuses_bad_input(engine, tmp_path, category, lon, lat, when, message):
    build_store(engine, tmp_path / "rejects.csv")
    before = count(engine)
    with pytest.raises(ValueError, match=message), engine.begin() as conn:
        edits.report_intervention(conn, category, "x", None, lon, lat, "corr", when)
    assert count(engine) == before


# -- pages --------------------------------------------------------------------------------------


def test_anonymous_users_are_sent_to_the_login_page(app):
    client = app.test_client()
    for url in ("/quarters", f"/quarters/{DORCHESTER}", f"/quarters/{DORCHESTER}/outline.geojson"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"], url


def test_quarters_list_puts_the_correspondents_own_quarter_first(app):
    html = login(app, "corr").get("/quarters").get_data(as_text=True)
    names = re.findall(r'<a href="/quarters/([^"?]+)\?[^"]*">([^<]+)</a>', html)
    assert names[0] == (DORCHESTER, "Dorchester")
    assert len(names) == 26
    official = login(app, "elu").get("/quarters").get_data(as_text=True)
    first = re.findall(r'<a href="/quarters/([^"?]+)\?[^"]*">([^<]+)</a>', official)[0]
    assert first[1] == "Allston"  # alphabetical for everyone else


def test_quarter_page_shows_map_scorecard_audit_and_requests(app, engine):
    with engine.begin() as conn:
        audit.record(
            conn,
            [
                AuditEntry(
                    DORCHESTER, 2015, "proprete.friches", Answer.OUI, Answer.PARTIELLEMENT, "<b>marché</b>"
                ),
                AuditEntry(DORCHESTER, 2014, "proprete.friches", Answer.NON, Answer.NON, "old year"),
            ],
        )
    client = login(app, "corr")
    response = client.get(f"/quarters/{DORCHESTER}?norm={NORM}&from=2015-01-01&to=2015-12-31")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<h1>Dorchester</h1>" in html
    # the map: the quarter's outline (fitted), zones, the quarter's requests, the picker, a legend
    assert f"/quarters/{DORCHESTER}/outline.geojson" in html
    assert "geova.remotePoints" in html and "geova.pickLocation" in html and "geova.legend" in html
    assert f"quarter={DORCHESTER}" in html and "/geo/interventions/{id}.json" in html
    # the scorecard lists every active deadline norm
    for label in ("Answer within 72 h of an intervention request on waste land", "Boston"):
        assert label in html
    # the audit grid of the latest year, user text escaped
    assert "PARTIELLEMENT" in html and "&lt;b&gt;marché&lt;/b&gt;" in html and "old year" not in html
    # the requests table
    rows = re.findall(r'<tr data-id="(\d+)">', html)
    assert 0 < len(rows) <= 50
    outline = client.get(f"/quarters/{DORCHESTER}/outline.geojson").get_json()
    assert outline["features"][0]["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert client.get("/quarters/nowhere").status_code == 404
    assert client.get("/quarters/nowhere/outline.geojson").status_code == 404


def test_scorecard_measures_periodic_norms_when_activities_are_recorded(app, engine, tmp_path):
    client = login(app, "corr")
    html = client.get("/quarters/7?from=2015-01-01&to=2015-12-31").get_data(as_text=True)
    assert "Two meetings a year" not in html  # no activity recorded at all: not measured
    fixtures = REPO / "tests/fixtures/norms"
    import_activities(
        engine, fixtures / "activities.csv", fixtures / "activities.toml", rejects_path=tmp_path / "a.csv"
    )
    html = client.get("/quarters/7?from=2015-01-01&to=2015-12-31").get_data(as_text=True)
    table = html[html.index('class="data scorecard periodic"') :]
    row = table[table.index("Two meetings a year") :]
    cells = re.findall(r'<td class="num">([^<]*)</td>', row[: row.index("</tr>")])
    assert cells[:3] == ["1", "1", "0"]  # one year, met (two meetings in Downtown), not missed
    html = client.get(f"/quarters/{DORCHESTER}?from=2015-01-01&to=2015-12-31").get_data(as_text=True)
    table = html[html.index('class="data scorecard periodic"') :]
    row = table[table.index("Two meetings a year") :]
    cells = re.findall(r'<td class="num">([^<]*)</td>', row[: row.index("</tr>")])
    assert cells[:3] == ["1", "0", "1"]  # no meeting in Dorchester: missed


def test_filters_change_the_requests_shown(app):
    client = login(app, "corr")
    base = f"/quarters/{DORCHESTER}?norm={NORM}&from=2015-01-01&to=2015-12-31"
    every = client.get(base).get_data(as_text=True)
    late = client.get(base + "&state=late").get_data(as_text=True)
    overdue = client.get(base + "&state=open_overdue").get_data(as_text=True)

    def states(html: str) -> set[str]:
        table = html[html.index('class="data requests"') :]
        return set(re.findall(r'<span class="state (\w+)">', table))

    assert states(late) == {"late"}
    assert states(overdue) == {"open_overdue"}
    assert len(states(every)) > 1
    total = int(re.search(r"(\d+) requests match", every).group(1))
    n_late = int(re.search(r"(\d+) requests match", late).group(1))
    assert 0 < n_late < total
    spring = client.get(f"/quarters/{DORCHESTER}?norm={NORM}&from=2015-03-01&to=2015-03-31").get_data(
        as_text=True
    )
    assert int(re.search(r"(\d+) requests match", spring).group(1)) < total
    # the filters stay in the form, so the page can be shared as it is
    assert 'value="late" selected' in late


def test_report_creates_a_request_that_shows_on_the_map_and_in_the_table(app, engine):
    client = login(app, "corr")
    before = count(engine)
    description = "<script>alert(1)</script>"
    response = client.post(
        f"/quarters/{DORCHESTER}/report?norm={NORM}", data=report_form(client, description=description)
    )
    assert response.status_code == 302
    assert response.headers["Location"].startswith(f"/quarters/{DORCHESTER}?norm={NORM}")
    assert count(engine) == before + 1
    with engine.connect() as conn:
        row = conn.execute(select(IV).where(IV.c.source == "geova-web")).one()
        event = conn.execute(select(EV).where(EV.c.intervention_id == row.id)).one()
    assert (row.category_code, row.status, row.description) == ("friche", "new", description)
    assert (event.kind, event.username) == ("reported", "corr")
    page = client.get(response.headers["Location"])
    html = page.get_data(as_text=True)
    assert "Request W-000001 recorded" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html
    assert f'<tr data-id="{row.id}">' in html
    feed = client.get(f"/geo/interventions.geojson?quarter={DORCHESTER}&norm={NORM}").get_json()
    points = {f["properties"]["i"]: f["properties"]["s"] for f in feed["features"]}
    assert points[row.id] == "open_in_time"
    detail = client.get(f"/geo/interventions/{row.id}.json?norm={NORM}").get_json()
    assert detail["description"] == description  # plain text: the map inserts it with textContent
    assert detail["source_id"] == "W-000001"


def test_a_report_outside_the_quarter_says_where_it_went(app, engine):
    client = login(app, "agent")  # services may report too
    response = client.post(
        f"/quarters/{DORCHESTER}/report",
        data=report_form(client, latitude="42,3601", longitude="-71,0589"),  # City Hall, decimal comma
        follow_redirects=True,
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "The location is outside Dorchester" in html


def test_a_report_outside_the_territory_is_refused(app, engine):
    """Paris on the Boston territory: refused with the reason, nothing stored (imports would flag it)."""
    client = login(app, "corr")
    before = count(engine)
    response = client.post(
        f"/quarters/{DORCHESTER}/report", data=report_form(client, latitude="48.85", longitude="2.35")
    )
    assert response.status_code == 400
    assert "outside the territory" in response.get_data(as_text=True)
    assert count(engine) == before


def test_invalid_reports_store_nothing(app, engine):
    client = login(app, "corr")
    before = count(engine)
    for changes in ({"latitude": "95"}, {"category": "nope"}, {"description": ""}, {"longitude": "east"}):
        response = client.post(f"/quarters/{DORCHESTER}/report", data=report_form(client, **changes))
        assert response.status_code == 400, changes
        assert 'class="flash error"' in response.get_data(as_text=True)
    assert count(engine) == before


def test_report_needs_a_csrf_token(app, engine):
    client = login(app, "corr")
    before = count(engine)
    response = client.post(f"/quarters/{DORCHESTER}/report", data=report_form(client, csrf_token=None))
    assert response.status_code == 400
    response = client.post(f"/quarters/{DORCHESTER}/report", data=report_form(client, csrf_token="forged"))
    assert response.status_code == 400
    assert count(engine) == before
    assert count(engine, EV) == 0


def test_officials_read_quarters_but_cannot_report(app, engine):
    client = login(app, "elu")
    html = client.get(f"/quarters/{DORCHESTER}").get_data(as_text=True)
    assert 'id="report"' not in html and "geova.pickLocation" not in html
    before = count(engine)
    assert client.post(f"/quarters/{DORCHESTER}/report", data=report_form(client)).status_code == 403
    assert count(engine) == before
    anonymous = app.test_client()
    response = anonymous.post(f"/quarters/{DORCHESTER}/report", data=report_form(anonymous))
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    admin = login(app, "admin")
    assert admin.post(f"/quarters/{DORCHESTER}/report", data=report_form(admin)).status_code == 302
    assert count(engine) == before + 1


def test_recent_reports_are_in_the_default_view(app, engine):
    """A request reported a few days ago is in the page's default period, with its due date."""
    with engine.begin() as conn:
        new = edits.report_intervention(
            conn, "friche", "Old tyres", None, LON, LAT, "corr", datetime.now(UTC) - timedelta(days=4)
        )
    html = login(app, "corr").get(f"/quarters/{DORCHESTER}").get_data(as_text=True)
    row = html[html.index(f'<tr data-id="{new}">') :]
    row = row[: row.index("</tr>")]
    assert "open_overdue" in row and "Old tyres" in row
