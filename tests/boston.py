"""The Boston demo layers, loaded the same way by every test that needs a real territory."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from geova.importing import LayerReport, import_layer

LAYERS = Path(__file__).resolve().parents[1] / "layers"


def load_quarters(engine: Engine) -> LayerReport:
    """Boston's 26 neighbourhoods as quarters (code: Neighborhood_ID)."""
    return import_layer(
        engine,
        LAYERS / "boston_neighborhoods.geojson",
        as_="quarters",
        code_field="Neighborhood_ID",
        name_field="Name",
    )


def load_zones(engine: Engine) -> LayerReport:
    """The twelve priority commercial zones of the demo (codes ZPC-01...)."""
    return import_layer(
        engine,
        LAYERS / "boston_priority_zones.geojson",
        as_="zones",
        code_field="code",
        name_field="name",
        kind_field="kind",
    )
