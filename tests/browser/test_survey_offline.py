"""The surveyor's page in a real browser on a phone-sized screen: the network drops mid-survey,
transects are graded offline and kept in the browser, the network returns, and every entry
reaches the store exactly once."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from tests.browser.conftest import ARTIFACTS, Watched
from tests.browser.test_hostile_strings import (  # the hostile store and its watched page
    EVIL_QUARTER,
    INJECTED,
    hostile,  # noqa: F401
    hostile_server,  # noqa: F401
    page,  # noqa: F401
)

CODE = "offline-walk"


def _store_entries(url: str) -> list[dict]:
    from geova.store.db import make_engine
    from geova.store.schema import SurveyCampaign, SurveyEntry, SurveyTransect

    engine = make_engine(url)
    e, t, c = SurveyEntry.__table__, SurveyTransect.__table__, SurveyCampaign.__table__
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(t.c.position, e.c.grades, e.c.note, e.c.entry_id)
                .join(t, t.c.id == e.c.transect_id)
                .join(c, c.c.id == t.c.campaign_id)
                .where(c.c.code == CODE)
                .order_by(t.c.position)
            )
            return [dict(r._mapping) for r in rows]
    finally:
        engine.dispose()


def _campaign(url: str) -> int:
    from geova.store import surveys
    from geova.store.db import make_engine, write
    from geova.store.schema import SurveyTransect

    engine = make_engine(url)
    try:
        with write(engine) as conn:
            if surveys.campaign(conn, CODE) is None:
                surveys.create_campaign(
                    conn,
                    CODE,
                    "Offline walk",
                    "cop",
                    date(2015, 6, 1),
                    date(2015, 6, 30),
                    0,
                    11,
                    {"commercial": 1},
                )
                surveys.draw(conn, CODE)
        with engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(SurveyTransect.__table__)).scalar_one()
    finally:
        engine.dispose()


def _grade(tab, position: int, litter: str, graffiti: str, note: str) -> None:
    item = tab.locator(f'#transects li[data-position="{position}"]')
    item.locator("summary").click()
    form = item.locator("form.grade-form")
    form.locator(f'input[name="litter"][value="{litter}"]').check()
    form.locator(f'input[name="graffiti"][value="{graffiti}"]').check()
    form.locator('textarea[name="note"]').fill(note)
    if position == 1:
        tab.screenshot(path=str(ARTIFACTS / "survey-grade-390px.png"), full_page=True)
    form.locator('button[type="submit"]').click()


def test_entries_graded_offline_reach_the_store_once_when_the_network_returns(
    browser, live_server, browser_store
):
    assert _campaign(browser_store) >= 3
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    web = Watched(context.new_page(), live_server)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        web.login("correspondent")
        web.goto(f"/surveys/{CODE}/grade?lang=en")
        tab = web.page
        tab.wait_for_function("() => document.body.dataset.pending === '0'")
        # a phone's width: nothing wider than the screen, the map drawn with its transects
        assert tab.evaluate("document.documentElement.scrollWidth") <= 390
        assert tab.locator("#survey-map path.leaflet-interactive").count() >= 3

        _grade(tab, 1, "A", "B", "online")
        tab.wait_for_function("() => document.body.dataset.pending === '0'")
        assert [(r["position"], r["grades"]) for r in _store_entries(browser_store)] == [
            (1, {"litter": "A", "graffiti": "B"})
        ]

        context.set_offline(True)
        _grade(tab, 2, "C", "A", "offline <b>one</b>")
        _grade(tab, 3, "D", "B-", "offline two")
        tab.wait_for_function("() => document.body.dataset.pending === '2'")
        assert "Offline" in tab.locator("#survey-status").inner_text()
        kept = tab.evaluate(f"JSON.parse(localStorage.getItem('geova-survey-outbox:{CODE}'))")
        assert [e["position"] for e in kept] == [2, 3]
        assert len(_store_entries(browser_store)) == 1  # nothing reached the server

        # the page's CSRF token expires while offline (an hour by default): the page fetches a new one
        tab.evaluate("() => { document.querySelector('meta[name=csrf-token]').content = 'expired'; }")
        context.set_offline(False)
        tab.wait_for_function("() => document.body.dataset.pending === '0'", timeout=20000)
        assert tab.locator("#survey-status").inner_text() == "All entries sent"
        # sending the outbox again (the 15 s timer, a reload) stores nothing more
        tab.evaluate(
            f"(kept) => localStorage.setItem('geova-survey-outbox:{CODE}', JSON.stringify(kept))", kept
        )
        tab.reload()
        tab.wait_for_function("() => document.body.dataset.pending === '0'", timeout=20000)
        rows = _store_entries(browser_store)
        assert [(r["position"], r["grades"], r["note"]) for r in rows] == [
            (1, {"litter": "A", "graffiti": "B"}, "online"),
            (2, {"litter": "C", "graffiti": "A"}, "offline <b>one</b>"),
            (3, {"litter": "D", "graffiti": "B-"}, "offline two"),
        ]
        assert len({r["entry_id"] for r in rows}) == 3
        # the results page maps every transect: below B (C, D), acceptable (A) or not graded
        web.goto(f"/surveys/{CODE}/results?lang=en")
        tab.wait_for_function(
            "() => document.querySelectorAll('#survey-map path.leaflet-interactive').length > 0"
        )
        colours = tab.eval_on_selector_all(
            "#survey-map path.leaflet-interactive", "paths => paths.map(p => p.getAttribute('stroke'))"
        )
        assert colours.count("#c62828") == 2 and colours.count("#2e7d32") == 1
        assert colours.count("#757575") == len(colours) - 3
        assert "66.7 %" in tab.inner_text("table.survey-results")
        assert "offline <b>one</b>" in tab.inner_text("ul.notes")  # the note as text
        assert tab.locator("ul.notes b").count() == 0
        assert tab.evaluate("document.documentElement.scrollWidth") <= 390
        tab.screenshot(path=str(ARTIFACTS / "survey-results-390px.png"), full_page=True)
        assert not web.blocked
        expected = (
            "ERR_INTERNET_DISCONNECTED",
            "Failed to fetch",
            "status of 400",
        )  # offline; the stale token
        unexpected = [e for e in web.errors if not any(x in e for x in expected)]
        assert any("status of 400" in e for e in web.errors)  # the stale token was refused, then renewed
        assert not unexpected, unexpected
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        web.page.screenshot(path=str(ARTIFACTS / "survey-offline-390px.png"), full_page=True)
        context.close()


def test_the_public_questionnaire_fits_a_phone_and_takes_one_answer(browser, live_server, browser_store):
    from geova.store import voice
    from geova.store.db import make_engine, write

    engine = make_engine(browser_store)
    try:
        with write(engine) as conn:
            if voice.voice_campaign(conn, "phone-voice") is None:
                voice.create_voice_campaign(
                    conn, "phone-voice", "Your street", date(2015, 1, 1), date(2100, 1, 1)
                )
    finally:
        engine.dispose()
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    web = Watched(context.new_page(), live_server)
    try:
        web.goto("/v/phone-voice?lang=en")
        tab = web.page
        assert tab.evaluate("document.documentElement.scrollWidth") <= 390
        tab.select_option("select[name=quarter]", "6")
        tab.check('input[name="cleanliness"][value="4"]')
        tab.check('input[name="safety"][value="2"]')
        tab.fill("textarea[name=comment]", "<img src=x onerror=alert(1)> bins overflow")
        tab.screenshot(path=str(ARTIFACTS / "voice-form-390px.png"), full_page=True)
        tab.click("form button[type=submit]")
        tab.wait_for_load_state("networkidle")
        assert "your answer is recorded" in tab.inner_text("main")
        web.goto("/v/phone-voice?lang=en")
        assert "already answered" in tab.inner_text("main")
        assert tab.locator("form button[type=submit]").count() == 0
        assert not web.errors and not web.blocked
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        web.page.screenshot(path=str(ARTIFACTS / "voice-390px.png"), full_page=True)
        context.close()


def test_hostile_quarter_names_stay_text_in_the_survey_list_and_map(page, hostile):  # noqa: F811
    from geova.store import surveys
    from geova.store.db import make_engine, write

    engine = make_engine(hostile["url"])
    try:
        with write(engine) as conn:
            surveys.create_campaign(
                conn,
                "hostile",
                "<i>Hostile</i> walk",
                "cop",
                date(2015, 6, 1),
                date(2015, 6, 30),
                0,
                5,
                {"other": 1},
            )
            drawn = surveys.draw(conn, "hostile")
    finally:
        engine.dispose()
    web, _dialogs = page
    web.login("correspondent")
    web.goto("/surveys/hostile/grade?lang=en")
    paths = web.page.locator("#survey-map path.leaflet-interactive")
    web.page.wait_for_function(
        "() => document.querySelectorAll('#survey-map path.leaflet-interactive').length > 0"
    )
    assert EVIL_QUARTER in web.page.inner_text("#transects")
    assert "<i>Hostile</i> walk" in web.page.inner_text("h1")
    dorchester = next(t.position for t in drawn if t.quarter == "6")
    box = web.page.evaluate(
        "(n) => { const p = document.querySelectorAll('#survey-map path.leaflet-interactive')[n];"
        " const b = p.getBoundingClientRect(); return [b.left + b.width / 2, b.top + b.height / 2]; }",
        dorchester - 1,
    )
    assert paths.count() == len(drawn)
    web.page.mouse.move(box[0] - 3, box[1] - 3)
    web.page.mouse.move(box[0], box[1])
    tooltip = web.page.locator(".leaflet-tooltip").last
    tooltip.wait_for(state="visible", timeout=5000)
    assert tooltip.locator("img, svg, script, b").count() == 0
    web.page.wait_for_timeout(300)
    assert web.page.evaluate(INJECTED) == 0
    assert web.page.evaluate("() => window.__csp") == []
    assert EVIL_QUARTER in "".join(t.inner_text() for t in web.page.locator(".leaflet-tooltip").all())


def test_a_walk_observation_placed_by_the_phone_becomes_a_request(browser, live_server):
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        geolocation={"latitude": 42.2816, "longitude": -71.0778},  # 31 Selden St, Dorchester
        permissions=["geolocation"],
    )
    web = Watched(context.new_page(), live_server)
    try:
        web.login("correspondent")
        web.goto("/walks?lang=en")
        tab = web.page
        tab.fill("input[name=walk]", "Walk with residents, Selden St")
        tab.select_option("select[name=category]", "graffiti")
        tab.fill("textarea[name=note]", "Mattress behind the <b>school</b>")
        tab.click("#use-position")
        tab.wait_for_function("() => document.querySelector('input[name=latitude]').value !== ''")
        assert tab.input_value("input[name=latitude]") == "42.281600"
        assert tab.input_value("input[name=longitude]") == "-71.077800"
        tab.click("#observation button[type=submit]")
        tab.wait_for_load_state("networkidle")
        assert "Observation recorded" in tab.inner_text(".flash")
        row = tab.locator("table.walks tbody tr", has_text="Mattress behind the <b>school</b>")
        row.locator("button", has_text="Make it a request").click()
        tab.wait_for_load_state("networkidle")
        assert "recorded from the observation" in tab.inner_text(".flash")
        row = tab.locator("table.walks tbody tr", has_text="Mattress behind the <b>school</b>")
        assert "request" in row.inner_text() and row.locator("button").count() == 0
        assert tab.evaluate("document.documentElement.scrollWidth") <= 390
        assert not web.errors and not web.blocked
    finally:
        context.close()
