"""The web app serves what the store holds (the audience pages come with the web-app issue)."""

from __future__ import annotations

from pathlib import Path

from app import create_app
from geova.importing import import_interventions, import_layer

REPO = Path(__file__).resolve().parents[1]


def test_front_page_says_when_nothing_is_loaded(db_url):
    client = create_app({"GEOVA_DATABASE_URL": db_url, "TESTING": True}).test_client()
    page = client.get("/")
    assert page.status_code == 200
    assert "No territory loaded yet" in page.get_data(as_text=True)


def test_front_page_counts_the_loaded_requests(db_url, engine):
    import_layer(
        engine,
        REPO / "layers/boston_neighborhoods.geojson",
        as_="quarters",
        code_field="Neighborhood_ID",
        name_field="Name",
    )
    import_interventions(
        engine, REPO / "data/boston/trash-on-vacant-lot.csv", REPO / "data/mappings/trash-on-vacant-lot.toml"
    )
    client = create_app({"GEOVA_DATABASE_URL": db_url, "TESTING": True}).test_client()
    html = client.get("/").get_data(as_text=True)
    assert "381 requests" in html
    assert "<td>friche</td>" in html
