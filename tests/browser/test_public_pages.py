"""The public pages in a real browser, offline."""

from __future__ import annotations


def _wait_polygons(web, minimum: int) -> int:
    web.page.wait_for_function(
        f"() => document.querySelectorAll('path.leaflet-interactive').length >= {minimum}", timeout=15000
    )
    return web.page.locator("path.leaflet-interactive").count()


def test_overview_map_shows_every_quarter_and_zone_offline(web):
    web.goto("/?lang=en&from=2015-01-01&to=2015-12-31")
    # 26 quarters (one multipolygon path each at least) and 12 priority zones
    assert _wait_polygons(web, 26 + 12) >= 38
    assert web.page.locator(".geova-legend").inner_text().startswith("Requests handled on time")
    assert web.page.locator(".leaflet-control-layers").is_visible()
    assert web.page.locator("[data-figure=on-time-rate]").inner_text().endswith("%")
    # the page needed nothing from outside: no tiles (none configured), no CDN
    assert web.blocked == []


def test_overview_period_filter_changes_the_figures_and_keeps_the_url(web):
    web.goto("/?lang=en&from=2015-01-01&to=2015-12-31")
    whole_year = web.page.locator("[data-figure=open]").inner_text()
    web.page.fill("input[name=from]", "2015-12-01")
    web.page.fill("input[name=to]", "2015-12-31")
    web.page.click("form.filters button[type=submit]")
    web.page.wait_for_load_state("networkidle")
    assert "from=2015-12-01" in web.page.url and "to=2015-12-31" in web.page.url
    assert web.page.locator("[data-figure=open]").inner_text() != whole_year


def test_overview_is_translated_to_french(web):
    web.goto("/?lang=fr")
    assert web.page.locator("html").get_attribute("lang") == "fr"
    assert "Vue d'ensemble" in web.page.locator("header.top nav").inner_text()
