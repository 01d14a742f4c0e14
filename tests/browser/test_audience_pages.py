"""Each audience's page in a real browser, offline: maps, filters, forms, roles."""

from __future__ import annotations

import re

PERIOD = "lang=en&from=2015-01-01&to=2015-12-31&norm=boston.target"
POINTS = "document.addEventListener('geova:points-loaded', e => { window.__points = e.detail; });"


def _wait_points(web) -> dict:
    web.page.wait_for_function("() => window.__points !== undefined", timeout=20000)
    return web.page.evaluate("window.__points")


def test_quarter_page_shows_its_polygons_and_requests_and_filters_them(web):
    web.page.add_init_script(POINTS)
    web.login("correspondent")
    web.goto(f"/quarters/6?{PERIOD}")
    web.page.wait_for_function(
        "() => document.querySelectorAll('path.leaflet-interactive').length >= 1", timeout=15000
    )
    everything = _wait_points(web)
    assert everything["total"] > 100  # Dorchester's graffiti and vacant lots of 2015
    assert web.page.locator(".marker-cluster, .geova-grid, path.leaflet-interactive").count() > 1
    assert web.page.locator("table.scorecard").first.is_visible()
    # filter on one state: the URL says so and the map shows fewer requests
    web.page.evaluate("window.__points = undefined")
    web.page.select_option("select[name=state]", "open_overdue")
    web.page.click("form.filters button[type=submit]")
    web.page.wait_for_load_state("networkidle")
    assert "state=open_overdue" in web.page.url
    overdue = _wait_points(web)
    assert 0 < overdue["total"] < everything["total"]


def test_report_form_creates_a_request_placed_by_clicking_the_map(web):
    web.login("correspondent")
    web.goto(f"/quarters/6?{PERIOD}")
    web.page.wait_for_function(
        "() => document.querySelectorAll('path.leaflet-interactive').length >= 1", timeout=15000
    )
    # hide the requests first, as a person placing a new one may: a click on a cluster zooms in
    web.page.locator(".leaflet-control-layers label", has_text="Requests").locator("input").uncheck()
    box = web.page.locator("#quarter-map .folium-map").bounding_box()
    web.page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    lat = web.page.input_value("form#report input[name=latitude]")
    lon = web.page.input_value("form#report input[name=longitude]")
    assert re.fullmatch(r"4\d\.\d+", lat) and re.fullmatch(r"-7\d\.\d+", lon)
    web.page.select_option("form#report select[name=category]", "graffiti")
    web.page.fill("form#report textarea[name=description]", "<b>Tag</b> on the bus shelter")
    web.page.fill("form#report input[name=address]", "12 Browser Street")
    web.page.click("form#report button[type=submit]")
    web.page.wait_for_load_state("networkidle")
    assert "recorded" in web.page.locator(".flash").first.inner_text()


def test_worklist_lists_overdue_requests_and_resolving_one_removes_it(web):
    web.page.add_init_script(POINTS)
    web.login("service")
    web.goto("/worklist?lang=en&norm=boston.target")
    rows = web.page.locator("tr[data-id]")
    before = rows.count()
    assert before > 0
    assert _wait_points(web)["total"] > 0  # the small map has them too
    first_id = rows.first.get_attribute("data-id")
    rows.first.locator("summary", has_text="Mark resolved").click()
    rows.first.locator("button", has_text="Mark resolved").click()
    web.page.wait_for_load_state("networkidle")
    assert "marked resolved" in web.page.locator(".flash").first.inner_text()
    assert web.page.locator(f"tr[data-id='{first_id}']").count() == 0


def test_correspondents_cannot_open_the_worklist(web):
    web.login("correspondent")
    response = web.page.goto(web.base + "/worklist?lang=en")
    assert response.status == 403
    # the browser logs the refused page as a failed resource: that is this test's expected outcome
    web.errors[:] = [e for e in web.errors if "403" not in e]


def test_officials_compare_quarters_with_charts_and_a_print_view(web):
    web.login("official")
    web.goto(f"/compare?{PERIOD}")
    assert web.page.locator("svg rect").count() >= 20  # one bar per quarter with requests
    web.page.locator("th a", has_text="On-time rate").first.click()
    web.page.wait_for_load_state("networkidle")
    assert "sort=" in web.page.url
    web.goto(f"/compare/print?{PERIOD}")
    assert web.page.locator("header.top").count() == 0


def test_published_results_are_public(web):
    web.goto(f"/results?{PERIOD}")
    text = web.page.locator("main").inner_text()
    assert "Who to call for what" in text
    assert web.page.locator("table").first.is_visible()
