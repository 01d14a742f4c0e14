"""The map feeds follow layer re-imports at once (their shapes are cached per layers version)."""

from __future__ import annotations

import json
from pathlib import Path

from geova.importing import import_layer
from geova.web import create_app
from tests.boston import LAYERS, load_quarters, load_zones


def test_a_reimported_zones_layer_is_served_by_the_map_feed_and_ogc(db_url, engine, tmp_path: Path):
    load_quarters(engine)
    load_zones(engine)
    client = create_app({"GEOVA_DATABASE_URL": db_url, "TESTING": True}).test_client()
    assert len(client.get("/geo/zones.geojson").get_json()["features"]) == 12  # now cached
    whole = json.loads((LAYERS / "boston_priority_zones.geojson").read_text(encoding="utf-8"))
    kept = sorted(whole["features"], key=lambda f: f["properties"]["code"])[:3]
    three = tmp_path / "three_zones.geojson"
    three.write_text(json.dumps({**whole, "features": kept}), encoding="utf-8")
    import_layer(
        engine,
        three,
        as_="zones",
        code_field="code",
        name_field="name",
        kind_field="kind",
        layer_name="boston_priority_zones",
    )
    served = client.get("/geo/zones.geojson").get_json()["features"]
    assert sorted(f["properties"]["code"] for f in served) == [f["properties"]["code"] for f in kept]
    ogc = client.get("/ogc/collections/zones/items").get_json()["features"]
    assert len(ogc) == 3
