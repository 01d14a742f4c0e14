"""Build ``boston_priority_zones.geojson``, the demo's priority commercial zones.

How they were chosen: twelve of the neighbourhood commercial districts of the City of Boston's
"Main Streets" programme (plus Downtown Crossing and Newbury Street), one per major neighbourhood
centre. Each is drawn as a corridor along its main shopping street: a polyline traced by hand
through the street's intersections (coordinates read off a map, about 10 m precision), buffered by
60 m, so that shop fronts on both sides fall inside. They are demonstration zones, not the City's
official district boundaries.

Run: .venv/bin/python layers/build_priority_zones.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import shapely
from pyproj import Transformer

# (code, name, [(lat, lon), ...] along the main street; several lines for a street grid)
ZONES = [
    (
        "ZPC-01",
        "Downtown Crossing",
        [
            [(42.3577, -71.0588), (42.3553, -71.0606), (42.3526, -71.0626)],
            [(42.3555, -71.0578), (42.3553, -71.0606)],
        ],
    ),
    (
        "ZPC-02",
        "Chinatown",
        [[(42.3515, -71.0596), (42.3510, -71.0623)], [(42.3522, -71.0616), (42.3487, -71.0636)]],
    ),
    ("ZPC-03", "Newbury Street", [[(42.3521, -71.0705), (42.3486, -71.0878)]]),
    ("ZPC-04", "Nubian Square", [[(42.3312, -71.0822), (42.3291, -71.0838), (42.3270, -71.0842)]]),
    (
        "ZPC-05",
        "Centre Street, Jamaica Plain",
        [[(42.3210, -71.1105), (42.3150, -71.1120), (42.3093, -71.1155)]],
    ),
    ("ZPC-06", "Roslindale Village", [[(42.2880, -71.1288), (42.2862, -71.1299), (42.2848, -71.1314)]]),
    (
        "ZPC-07",
        "Maverick Square – Meridian Street",
        [[(42.3691, -71.0397), (42.3722, -71.0390), (42.3751, -71.0388)]],
    ),
    ("ZPC-08", "Fields Corner", [[(42.3040, -71.0600), (42.3003, -71.0617), (42.2970, -71.0630)]]),
    ("ZPC-09", "Uphams Corner", [[(42.3180, -71.0690), (42.3166, -71.0656), (42.3160, -71.0625)]]),
    ("ZPC-10", "Brighton Center", [[(42.3487, -71.1565), (42.3496, -71.1535), (42.3508, -71.1505)]]),
    ("ZPC-11", "Cleary Square, Hyde Park", [[(42.2570, -71.1240), (42.2555, -71.1246), (42.2540, -71.1255)]]),
    ("ZPC-12", "Main Street, Charlestown", [[(42.3727, -71.0625), (42.3760, -71.0660), (42.3780, -71.0680)]]),
]
BUFFER_M = 60
OUT = Path(__file__).with_name("boston_priority_zones.geojson")


def _project(geom: shapely.Geometry, tr: Transformer) -> shapely.Geometry:
    return shapely.transform(geom, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))


def build() -> dict:
    # Massachusetts State Plane (metres) for an honest 60 m buffer, then back to WGS84.
    to_m = Transformer.from_crs(4326, 26986, always_xy=True)
    to_deg = Transformer.from_crs(26986, 4326, always_xy=True)
    features = []
    for code, name, lines in ZONES:
        geoms = [shapely.LineString([(lon, lat) for lat, lon in line]) for line in lines]
        corridor = _project(shapely.union_all(geoms), to_m).buffer(BUFFER_M, quad_segs=4)
        shape = shapely.set_precision(_project(corridor, to_deg), 1e-6)
        features.append(
            {
                "type": "Feature",
                "properties": {"code": code, "name": name, "kind": "commercial"},
                "geometry": shapely.geometry.mapping(shape),
            }
        )
    return {"type": "FeatureCollection", "name": "boston_priority_zones", "features": features}


if __name__ == "__main__":
    OUT.write_text(json.dumps(build(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")
