"""The whole service loop in a real browser, on both backends (issue 10's scenario).

A correspondent reports an insulting graffiti in a priority zone by clicking the map → the graffiti
service finds it at the top of its worklist with its due date → acknowledges it and resolves it
with a public note → the correspondent sees the note and the verdict on the request's page →
Open311 GET says closed with the note as ``status_notes`` and ``servicerequestupdates`` lists the
update → a real SMTP server (aiosmtpd) received the requester's notice.

The store: Boston's neighbourhoods and priority zones, the OVA referential and Boston's file (its
services and routes), 2015's "trash on vacant lot" requests. The expected service and due date are
read off the referential files here (graffiti → Boston's graffiti service; graffiti in a priority
zone: 48 h), not computed by geova.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd
import pytest
import requests
from sqlalchemy import Engine, select

from geova.importing import import_interventions, load_extra_referential
from geova.store import apikeys
from geova.store.areas import load_areas
from geova.store.assignments import set_account_services
from geova.store.schema import Intervention
from geova.store.status import set_setting
from geova.store.users import add_user
from tests.boston import load_quarters, load_zones
from tests.browser.conftest import ACCOUNTS, PASSWORD, Watched, serving, watched_page
from tests.smtp import SmtpServer

REPO = Path(__file__).resolve().parents[2]
IV = Intervention.__table__
TZ = "America/New_York"
GRAFFITI_ZONE_HOURS = 48  # nantes.graffiti.48h in data/referential.toml: graffiti in a priority zone
PUBLIC_NOTE = "Tag painted over; thank you for the report."
INTERNAL_NOTE = "Crew 3, ladder needed"
REQUESTER = ("Ada Resident", "ada.resident@example.org")


def boston_route(category: str) -> dict[str, Any]:
    """Boston's own service for a category, from its referential file."""
    referential = tomllib.loads((REPO / "data/boston/norms.toml").read_text(encoding="utf-8"))
    code = next(r["service"] for r in referential["route"] if r.get("category") == category)
    return next(s for s in referential["service"] if s["code"] == code)


def zone_in_a_quarter(engine: Engine) -> tuple[float, float, str]:
    """A point well inside a priority zone, and the code of the quarter that holds it."""
    with engine.connect() as conn:
        quarters, zones = load_areas(conn)
    for zone in zones:
        inside = zone.geom.representative_point()
        for quarter in quarters:
            if quarter.level == 0 and quarter.geom.contains(inside.buffer(0.0005)):
                return inside.x, inside.y, quarter.code
    raise AssertionError("no priority zone lies inside a quarter")


@pytest.fixture
def loop(db_url: str, engine: Engine, smtp_server: SmtpServer) -> Iterator[dict[str, Any]]:
    load_quarters(engine)
    load_zones(engine)
    load_extra_referential(engine, REPO / "data/boston/norms.toml")
    import_interventions(
        engine, REPO / "data/boston/trash-on-vacant-lot.csv", REPO / "data/mappings/trash-on-vacant-lot.toml"
    )
    lon, lat, quarter = zone_in_a_quarter(engine)
    with engine.begin() as conn:
        set_setting(conn, "territory_name", "Boston (loop)")
        set_setting(conn, "timezone", TZ)
        set_setting(conn, "headline_norm", "boston.target")
        for role, username in ACCOUNTS.items():
            add_user(conn, username, PASSWORD, role, quarter if role == "correspondent" else None)
        set_account_services(conn, ACCOUNTS["service"], [boston_route("graffiti")["code"]])
        fms_key = apikeys.add_key(conn, "fixmystreet", "correspondent")[1]
    config = {"GEOVA_DATABASE_URL": db_url, "SECRET_KEY": "loop-tests", **smtp_server.settings()}
    with serving(config) as base:
        yield {"base": base, "lon": lon, "lat": lat, "quarter": quarter, "key": fms_key}


def click_at(web: Watched, lat: float, lon: float) -> None:
    """Click the page's Leaflet map where (lat, lon) is drawn, as a person would."""
    x, y = web.page.evaluate(  # type: ignore[attr-defined]
        """([lat, lon]) => {
            const map = Object.keys(window).filter(k => k.startsWith('map_'))
                .map(k => window[k]).find(v => v instanceof L.Map);
            map.setView([lat, lon], 17, {animate: false});
            const p = map.latLngToContainerPoint([lat, lon]);
            const box = map.getContainer().getBoundingClientRect();
            return [box.left + p.x, box.top + p.y];
        }""",
        [lat, lon],
    )
    web.page.mouse.click(x, y)  # type: ignore[attr-defined]


def test_a_report_travels_the_whole_loop(browser, loop, engine, smtp_server, request):
    base, name = loop["base"], request.node.name.replace("[", "-").replace("]", "")
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)

    # 1. the correspondent reports an insulting graffiti in a priority zone, placed on the map
    with watched_page(browser, base, f"{name}-1-report") as web:
        web.login("correspondent")
        web.goto(f"/quarters/{loop['quarter']}?lang=en")
        web.page.wait_for_function("() => document.querySelectorAll('path.leaflet-interactive').length >= 2")
        web.page.locator(".leaflet-control-layers label", has_text="Requests").locator("input").uncheck()
        click_at(web, loop["lat"], loop["lon"])
        assert abs(float(web.page.input_value("form#report input[name=latitude]")) - loop["lat"]) < 1e-4
        web.page.select_option("form#report select[name=category]", "graffiti")
        web.page.fill("form#report textarea[name=description]", "Insulting tag on the shop shutter")
        web.page.fill("form#report input[name=address]", "1 Loop Street")
        web.page.check("form#report input[name=insulting]")
        web.page.fill("form#report input[name=requester_name]", REQUESTER[0])
        web.page.fill("form#report input[name=requester_email]", REQUESTER[1])
        web.page.select_option("form#report select[name=requester_lang]", "en")
        web.page.click("form#report button[type=submit]")
        web.page.wait_for_load_state("networkidle")
        assert "recorded" in web.page.locator(".flash").first.inner_text()
    with engine.connect() as conn:
        new = conn.execute(select(IV).where(IV.c.address == "1 Loop Street")).one()
    service = boston_route("graffiti")
    reported = pd.Timestamp(new.reported_at)
    due = reported + pd.Timedelta(hours=GRAFFITI_ZONE_HOURS)
    assert (new.service, pd.Timestamp(new.due_at), new.insulting) == (service["code"], due, True)

    # 2. the service finds it at the top of its worklist (its services by default), with its due
    # date; acknowledges it, resolves it with a public note
    with watched_page(browser, base, f"{name}-2-worklist", width=1366, height=768) as web:
        web.login("service")
        web.goto("/worklist?lang=en")
        top = web.page.locator("tr[data-id]").first
        assert top.get_attribute("data-id") == str(new.id)
        shown = top.locator("td").nth(6).inner_text().replace("\u202f", " ")  # English short format
        assert datetime.strptime(shown, "%m/%d/%y, %I:%M %p") == due.tz_convert(TZ).floor("min").replace(
            tzinfo=None
        )
        assert top.locator("td[data-service]").inner_text() == service["label_en"]
        change = top.locator("details", has_text="Change status")
        change.locator("summary").click()
        change.locator("select[name=status]").select_option("acknowledged")
        change.locator("textarea[name=note]").fill(INTERNAL_NOTE)
        change.locator("button", has_text="Save").click()
        web.page.wait_for_load_state("networkidle")
        assert "is now acknowledged" in web.page.locator(".flash").first.inner_text()
        change = web.page.locator(f"tr[data-id='{new.id}'] details", has_text="Change status")
        change.locator("summary").click()
        change.locator("select[name=status]").select_option("resolved")
        change.locator("textarea[name=note]").fill(PUBLIC_NOTE)
        change.locator("input[name=public]").check()
        change.locator("button", has_text="Save").click()
        web.page.wait_for_load_state("networkidle")
        assert "is now resolved" in web.page.locator(".flash").first.inner_text()
        assert web.page.locator(f"tr[data-id='{new.id}']").count() == 0  # no longer open
    with engine.connect() as conn:
        resolved_at = pd.Timestamp(
            conn.execute(select(IV.c.resolved_at).where(IV.c.id == new.id)).scalar_one()
        )
    assert reported <= resolved_at < due  # on time

    # 3. the correspondent opens the request from the quarter's list: the public note, the verdict
    with watched_page(browser, base, f"{name}-3-request") as web:
        web.login("correspondent")
        web.goto(f"/quarters/{loop['quarter']}?lang=en")
        web.page.locator(f"a[href^='/requests/{new.id}']").first.click()
        web.page.wait_for_load_state("networkidle")
        assert web.page.locator(".public-note").inner_text().endswith(PUBLIC_NOTE)
        assert INTERNAL_NOTE not in web.page.locator("main").inner_text()
        assert web.page.locator("[data-field=status]").get_attribute("data-status") == "resolved"
        graffiti_48h = web.page.locator("tr[data-norm='nantes.graffiti.48h']")
        assert graffiti_48h.get_attribute("data-state") == "on_time"
        assert graffiti_48h.locator(".verdict").inner_text() == "on time"
        assert pd.Timestamp(graffiti_48h.get_attribute("data-due")) == due
        assert REQUESTER[1] not in web.page.content()  # the contact is the services' only

    # 4. Open311: closed, with the public note; FixMyStreet's updates fetcher sees the resolution
    ended = datetime.now(UTC) + timedelta(minutes=1)
    open311 = f"{base}/open311/v2"
    answer = requests.get(f"{open311}/requests/{new.id}.json?api_key={loop['key']}", timeout=30)
    (got,) = answer.json()
    assert (got["status"], got["status_notes"]) == ("closed", PUBLIC_NOTE)
    assert (
        got["agency_responsible"] == service["label_en"] or got["agency_responsible"] == service["label_fr"]
    )
    window = f"start_date={quote(started.isoformat())}&end_date={quote(ended.isoformat())}"
    updates = requests.get(f"{open311}/servicerequestupdates.json?{window}&api_key={loop['key']}", timeout=30)
    mine = [u for u in updates.json() if u["service_request_id"] == str(new.id)]
    # FixMyStreet's extended statuses (data/referential.toml's [status_mapping])
    assert [u["status"] for u in mine] == ["INVESTIGATING", "FIXED"]
    assert mine[-1]["description"] == PUBLIC_NOTE
    assert INTERNAL_NOTE not in updates.text

    # 5. the requester's notice reached the SMTP server, in the language they chose
    (mail,) = smtp_server.wait_for(1)
    assert mail.rcpt_tos == [REQUESTER[1]]
    assert str(new.id) in mail.message["Subject"] or new.source_id in mail.message["Subject"]
    assert PUBLIC_NOTE in mail.body and "1 Loop Street" in mail.body
    assert INTERNAL_NOTE not in mail.body
