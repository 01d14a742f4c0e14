"""The public overview on both backends (the browser tests check the map itself)."""

from __future__ import annotations

import re
from pathlib import Path

from app import create_app
from geova.importing import import_interventions
from tests.boston import load_quarters

REPO = Path(__file__).resolve().parents[1]


def test_front_page_says_when_nothing_is_loaded(db_url):
    client = create_app({"GEOVA_DATABASE_URL": db_url, "TESTING": True}).test_client()
    page = client.get("/?lang=en")
    assert page.status_code == 200
    assert "No territory loaded yet" in page.get_data(as_text=True)


def test_overview_lists_quarters_with_their_rate_and_serves_the_choropleth(db_url, engine):
    load_quarters(engine)
    import_interventions(
        engine, REPO / "data/boston/trash-on-vacant-lot.csv", REPO / "data/mappings/trash-on-vacant-lot.toml"
    )
    client = create_app({"GEOVA_DATABASE_URL": db_url, "TESTING": True}).test_client()
    html = client.get("/?lang=en&norm=nantes.friches.72h").get_data(as_text=True)
    assert ">Dorchester</a>" in html
    rate = re.search(r'data-figure="on-time-rate">([^<]+)<', html).group(1)
    assert rate.endswith("%")
    # the map loads its data from the app, not from a CDN
    assert "cdn." not in html and "/static/vendor/leaflet/leaflet.js" in html
    feed = client.get("/geo/quarters.geojson?norm=nantes.friches.72h").get_json()
    assert len(feed["features"]) == 26
    dorchester = next(f for f in feed["features"] if f["properties"]["name"] == "Dorchester")
    assert dorchester["properties"]["requests"] > 0 and dorchester["properties"]["fill"].startswith("#")


def test_error_pages_are_translated_pages_of_the_site_but_apis_keep_their_formats(db_url):
    client = create_app({"GEOVA_DATABASE_URL": db_url, "TESTING": True}).test_client()
    page = client.get("/no-such-page?lang=fr")
    assert page.status_code == 404
    html = page.get_data(as_text=True)
    assert "Page introuvable" in html and 'href="/"' in html  # the site's layout, with its navigation
    assert client.get("/no-such-page?lang=en").get_data(as_text=True).count("Page not found") >= 1
    api = client.get("/api/v1/no-such-thing")
    assert api.status_code == 404 and api.is_json


def test_an_unknown_key_on_a_page_is_a_401_page_not_a_500(db_url):
    client = create_app({"GEOVA_DATABASE_URL": db_url, "TESTING": True}).test_client()
    answer = client.get("/health?api_key=not-a-key&lang=en")
    assert answer.status_code == 401
    assert "Please log in" in answer.get_data(as_text=True)
