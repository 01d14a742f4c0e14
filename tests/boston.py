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


def export_slice(path: Path, rows: int, broken: dict[int, str]) -> tuple[bytes, list[dict[str, str]]]:
    """A Boston export's header and first ``rows`` rows, OPEN_DT replaced in the rows ``broken``
    names (0-based): the bytes of a smaller file to upload, and its rows as dicts for the
    expected values."""
    import csv
    import io

    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        fields = list(reader.fieldnames or [])
        kept = [row for _, row in zip(range(rows), reader, strict=False)]
    for i, value in broken.items():
        kept[i]["OPEN_DT"] = value
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(kept)
    return out.getvalue().encode("utf-8"), kept
