"""Build the Paris example of the README's "Load your own territory": a French city end to end.

What it writes, next to this script, and why each file looks the way it does:

- ``quartiers-paris-l93.gpkg``: the 80 administrative quarters of Paris (Ville de Paris open data,
  ODbL), reprojected to Lambert-93 (EPSG:2154), the projection French authorities export in, with
  their arrondissement in ``c_ar``. Only the fields a data officer would keep.
- ``arrondissements-paris-l93.gpkg``: the 20 arrondissements, the union of their quarters, with
  their number ``c_ar`` and their name ``l_ar`` ("1er arrondissement", "2e arrondissement"...).
- ``zones-paris-l93.gpkg``: three priority zones drawn for the example (a commercial street in the
  Marais, a sensitive zone around a station, a black spot): corridors buffered around a few street
  points read off a map. Example zones, not the City's.
- ``demandes-paris-2025.csv``: 400 intervention requests **invented for the example** (Paris
  publishes its DansMaRue reports, but not with resolution times): the shape of a French export,
  Windows-encoded, ``;``-separated, day-first dates without seconds, Lambert-93 coordinates with
  decimal commas, the columns of ``demandes-exemple.toml``. Points are drawn uniformly inside the
  quarters; resolution delays from a log-normal law (a median near a day); one request in ten is
  still open. The seed makes the file reproducible.

Run from the repository: ``.venv/bin/python data/examples/paris/build_example.py`` (needs the
shared data folder ``../shared/data/paris``; the outputs are committed, geova never reads ../shared).
"""

from __future__ import annotations

import csv
from datetime import datetime, timedelta
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parents[3] / "shared" / "data" / "paris" / "quartier_paris.geojson"
SEED = 2025
ROWS = 400

# (export label, share of rows, insulting share)
TYPES = [
    ("Graffiti", 0.40, 0.0),
    ("Tag injurieux", 0.10, 1.0),
    ("Dépôt sauvage", 0.30, 0.0),
    ("Corbeille pleine", 0.20, 0.0),
]
CHANNELS = ["Appel Allo Mairie", "Application", "Correspondant de quartier", "Site internet"]
SERVICES = {
    "Graffiti": "Service propreté",
    "Tag injurieux": "Service propreté",
    "Dépôt sauvage": "Collecte des encombrants",
    "Corbeille pleine": "Service propreté",
}
STREETS = ["rue de Rivoli", "boulevard Voltaire", "rue des Rosiers", "avenue de Clichy", "rue Oberkampf"]

# Example priority zones: (code, name, kind, [(x, y) Lambert-93 points along the street], buffer m)
ZONES = [
    ("ZP-01", "Marais – rue des Rosiers", "commercial", [(652970, 6862100), (653190, 6862185)], 40),
    ("ZP-02", "Gare du Nord", "sensitive", [(652720, 6864735), (652990, 6864635)], 120),
    ("ZP-03", "Porte de la Chapelle", "black_spot", [(653005, 6866670), (653080, 6866970)], 80),
]


def build_quarters() -> gpd.GeoDataFrame:
    quarters = gpd.read_file(SOURCE)[["c_quinsee", "l_qu", "c_ar", "geometry"]].to_crs("EPSG:2154")
    quarters["c_quinsee"] = quarters["c_quinsee"].astype(str)
    return quarters.sort_values("c_quinsee").reset_index(drop=True)


def build_arrondissements(quarters: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The 20 arrondissements as the union of their quarters, named as Parisians write them."""
    arr = quarters.dissolve(by="c_ar", as_index=False)[["c_ar", "geometry"]]
    arr["l_ar"] = [("1er" if n == 1 else f"{n}e") + " arrondissement" for n in arr["c_ar"]]
    return arr.sort_values("c_ar").reset_index(drop=True)


def build_zones() -> gpd.GeoDataFrame:
    rows = [
        {"code": code, "nom": name, "type": kind, "geometry": shapely.LineString(pts).buffer(width)}
        for code, name, kind, pts, width in ZONES
    ]
    return gpd.GeoDataFrame(rows, crs="EPSG:2154")


def _points_in(geoms: gpd.GeoSeries, rng: np.random.Generator, n: int) -> list[shapely.Point]:
    """Uniform points in the union, by rejection inside each quarter chosen by its area."""
    areas = geoms.area.to_numpy()
    picks = rng.choice(len(geoms), size=n, p=areas / areas.sum())
    points = []
    for i in picks:
        poly = geoms.iloc[i]
        minx, miny, maxx, maxy = poly.bounds
        while True:
            p = shapely.Point(rng.uniform(minx, maxx), rng.uniform(miny, maxy))
            if poly.contains(p):
                points.append(p)
                break
    return points


def _french(value: float) -> str:
    return f"{value:.2f}".replace(".", ",")


def build_requests(quarters: gpd.GeoDataFrame) -> list[list[str]]:
    rng = np.random.default_rng(SEED)
    points = _points_in(quarters.geometry, rng, ROWS)
    labels = [t[0] for t in TYPES]
    kinds = rng.choice(len(TYPES), size=ROWS, p=[t[1] for t in TYPES])
    start = datetime(2025, 2, 1, 7, 0)
    rows = []
    for i, (kind, point) in enumerate(zip(kinds, points, strict=True)):
        label = labels[kind]
        # working hours mostly: 7:00 to 19:00 over five months
        reported = start + timedelta(days=int(rng.integers(0, 150)), minutes=int(rng.integers(0, 12 * 60)))
        is_open = rng.random() < 0.10
        delay_h = float(np.exp(rng.normal(np.log(26), 0.9)))
        resolved = "" if is_open else (reported + timedelta(hours=delay_h)).strftime("%d/%m/%Y %H:%M")
        rows.append(
            [
                f"DI-2025-{i + 1:04d}",
                label,
                "oui" if TYPES[kind][2] else "non",
                reported.strftime("%d/%m/%Y %H:%M"),
                resolved,
                "En cours" if is_open else "Clôturée",
                CHANNELS[int(rng.integers(0, len(CHANNELS)))],
                SERVICES[label],
                f"{label} signalé",
                f"{int(rng.integers(1, 120))} {STREETS[int(rng.integers(0, len(STREETS)))]}",
                _french(point.x),
                _french(point.y),
            ]
        )
    return rows


HEADER = ";".join(
    [
        "numero",
        "type",
        "injurieux",
        "date_signalement",
        "date_resolution",
        "etat",
        "canal",
        "service",
        "description",
        "adresse",
        "x_l93",
        "y_l93",
    ]
)


def main() -> None:
    quarters = build_quarters()
    quarters.to_file(HERE / "quartiers-paris-l93.gpkg", layer="quartiers", driver="GPKG")
    build_arrondissements(quarters).to_file(HERE / "arrondissements-paris-l93.gpkg", layer="arrondissements")
    build_zones().to_file(HERE / "zones-paris-l93.gpkg", layer="zones", driver="GPKG")
    with open(HERE / "demandes-paris-2025.csv", "w", encoding="cp1252", newline="") as f:
        f.write(HEADER + "\r\n")
        csv.writer(f, delimiter=";", lineterminator="\r\n").writerows(build_requests(quarters))


if __name__ == "__main__":
    main()
