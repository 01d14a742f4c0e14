"""Hostile names and descriptions in a real browser: shown as text, never run.

A quarters layer names Dorchester ``Dorch<img src=x onerror=alert(1)>``, a zones layer names a
zone ``<svg onload=alert(2)>``, and requests carry markup in their description, address and
service. Every audience's page is visited, the layer control read, polygons hovered for their
tooltips and markers clicked for their popups; no dialog may open, no element may carry an inline
event handler (the sign of markup that got through), and no Content-Security-Policy violation or
JavaScript error may happen. The store and the server are this module's own, so the other
browser tests keep their plain Boston store.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import shapely
from shapely.geometry import Point, shape

from tests.browser.conftest import ACCOUNTS, PASSWORD, Watched

REPO = Path(__file__).resolve().parents[2]
EVIL_QUARTER = "Dorch<img src=x onerror=alert(1)>"
EVIL_ZONE = "<svg onload=alert(2)>Fields Corner"
EVIL_TEXTS = [
    '<img src=x onerror=alert("description")>',
    '"><script>alert("script")</script>',
    "<b onmouseover=alert('bold')>Main St</b>",
    '=HYPERLINK("http://evil","x")',
]
NORM = "nantes.friches.72h"
PERIOD = f"lang=en&from=2015-01-01&to=2015-12-31&norm={NORM}"
# Every CSP violation the page reports, and every dialog, is collected before any page script runs
WATCH = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
  e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
"""
INJECTED = "() => document.querySelectorAll('[onerror], [onload], [onmouseover], img[src=\"x\"]').length"


def _renamed(source: Path, target: Path, field: str, value: str, new_name: str) -> Path:
    doc = json.loads(source.read_text(encoding="utf-8"))
    for f in doc["features"]:
        if f["properties"][field] == value:
            f["properties"]["name" if "name" in f["properties"] else "Name"] = new_name
    target.write_text(json.dumps(doc), encoding="utf-8")
    return target


def _spread_points(area: Any, avoid: Any, n: int, apart: float = 0.02) -> list[Point]:
    """``n`` points inside ``area`` and out of ``avoid``, ``apart`` degrees apart (1.6 km and
    more): single markers, not a cluster, at the zoom a quarter's map opens at."""
    x0, y0, x1, y1 = area.bounds
    step = 0.003
    grid = [
        Point(x0 + i * step, y0 + j * step)
        for i in range(int((x1 - x0) / step) + 1)
        for j in range(int((y1 - y0) / step) + 1)
    ]
    picked: list[Point] = []
    for p in grid:
        room = p.buffer(0.002)
        if area.contains(room) and not avoid.intersects(room) and all(p.distance(o) >= apart for o in picked):
            picked.append(p)
    assert len(picked) >= n, len(picked)
    return picked[:n]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A store with the hostile layers and requests: Dorchester (6) holds the requests."""
    from sqlalchemy import update

    from geova.importing import import_layer
    from geova.store import edits
    from geova.store.db import make_engine
    from geova.store.schema import Intervention
    from geova.store.status import set_setting
    from geova.store.users import add_user

    folder = tmp_path_factory.mktemp("hostile-store")
    quarters = _renamed(
        REPO / "layers/boston_neighborhoods.geojson",
        folder / "q.geojson",
        "Neighborhood_ID",
        "6",
        EVIL_QUARTER,
    )
    zones = _renamed(
        REPO / "layers/boston_priority_zones.geojson", folder / "z.geojson", "code", "ZPC-08", EVIL_ZONE
    )
    url = f"sqlite:///{folder / 'geova.sqlite'}"
    engine = make_engine(url)
    import_layer(engine, quarters, as_="quarters", code_field="Neighborhood_ID", name_field="Name")
    import_layer(engine, zones, as_="zones", code_field="code", name_field="name", kind_field="kind")
    dorchester = next(
        shape(f["geometry"])
        for f in json.loads(quarters.read_text())["features"]
        if f["properties"]["Neighborhood_ID"] == "6"
    )
    zone_shapes = shapely.union_all([shape(f["geometry"]) for f in json.loads(zones.read_text())["features"]])
    evil_zone = next(
        shape(f["geometry"])
        for f in json.loads(zones.read_text())["features"]
        if f["properties"]["code"] == "ZPC-08"
    )
    *spots, hover = _spread_points(dorchester, zone_shapes, len(EVIL_TEXTS) + 1)
    with engine.begin() as conn:
        set_setting(conn, "territory_name", "Boston (hostile)")
        set_setting(conn, "timezone", "America/New_York")
        set_setting(conn, "headline_norm", NORM)
        for role, username in ACCOUNTS.items():
            add_user(conn, username, PASSWORD, role, "6" if role == "correspondent" else None)
        for i, (text, spot) in enumerate(zip(EVIL_TEXTS, spots, strict=True)):
            when = datetime(2015, 6, 1 + i, 9, 0, tzinfo=UTC)
            new = edits.report_intervention(conn, "friche", text, text, spot.x, spot.y, "corr", when)
            # a service the referential does not name, as an import keeps its source's: shown as stored
            iv = Intervention.__table__
            conn.execute(update(iv).where(iv.c.id == new).values(service=text))
    engine.dispose()
    zone_point = evil_zone.representative_point()
    return {
        "url": url,
        "quarter_point": (hover.y, hover.x),
        "zone_point": (zone_point.y, zone_point.x),
        "folder": folder,
    }


@pytest.fixture(scope="module")
def hostile_server(hostile: dict[str, Any]) -> Iterator[str]:
    from werkzeug.serving import make_server

    from app import create_app

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GEOVA_INSTANCE_PATH", str(hostile["folder"] / "instance"))
        app = create_app(
            {"GEOVA_DATABASE_URL": hostile["url"], "GEOVA_TILES_URL": "none", "SECRET_KEY": "hostile"}
        )
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield f"http://127.0.0.1:{server.server_port}"
        server.shutdown()
        thread.join(timeout=10)
    engine = app.extensions.get("geova_engine")
    if engine is not None:
        engine.dispose()


@pytest.fixture
def page(browser: Any, hostile_server: str) -> Iterator[tuple[Watched, list[str]]]:
    context = browser.new_context(viewport={"width": 1400, "height": 950})
    watched = Watched(context.new_page(), hostile_server)
    dialogs: list[str] = []

    def dismiss(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    watched.page.on("dialog", dismiss)
    watched.page.add_init_script(WATCH)
    watched.page.add_init_script(
        "window.__loads = 0; document.addEventListener('geova:points-loaded',"
        " e => { window.__points = e.detail; window.__loads++; });"
    )
    yield watched, dialogs
    context.close()
    assert dialogs == [], f"dialogs opened: {dialogs}"
    assert not watched.errors, f"JavaScript errors or CSP violations: {watched.errors}"
    assert watched.blocked == [], f"requests outside the app: {watched.blocked}"


def _settle(web: Watched) -> None:
    """No markup got in, no policy was violated, on the page as it stands."""
    web.page.wait_for_timeout(300)  # an injected onerror/onload would have fired by now
    assert web.page.evaluate(INJECTED) == 0
    assert web.page.evaluate("() => window.__csp") == []


def _map_point(web: Watched, lat: float, lon: float) -> tuple[float, float]:
    """Where ``lat, lon`` is on the screen, from the page's Leaflet map."""
    return tuple(
        web.page.evaluate(
            """([lat, lon]) => {
                 const el = document.querySelector('.folium-map'), map = window[el.id];
                 const p = map.latLngToContainerPoint([lat, lon]), box = el.getBoundingClientRect();
                 return [box.left + p.x, box.top + p.y];
               }""",
            [lat, lon],
        )
    )


def _hover_tooltip(web: Watched, lat: float, lon: float) -> str:
    x, y = _map_point(web, lat, lon)
    web.page.mouse.move(x - 3, y - 3)
    web.page.mouse.move(x, y)
    tooltip = web.page.locator(".leaflet-tooltip").last
    tooltip.wait_for(state="visible", timeout=5000)
    assert tooltip.locator("img, svg, script, b").count() == 0  # plain text, no element made from it
    return tooltip.inner_text()


def _markers(web: Watched) -> list[list[float]]:
    """Where the map's request markers are (latitude, longitude)."""
    return web.page.evaluate(
        """() => {
             const map = window[document.querySelector('.folium-map').id], out = [];
             map.eachLayer(l => {
               if (l instanceof L.CircleMarker) { out.push([l.getLatLng().lat, l.getLatLng().lng]); }
             });
             return out;
           }"""
    )


def _open_every_popup(web: Watched) -> list[str]:
    """Click each request marker (brought to the middle of the map first, as a person drags the
    map, so that no control covers it), read its popup, close it."""
    texts = []
    for lat, lon in _markers(web):
        loads = web.page.evaluate("() => window.__loads")
        web.page.evaluate(
            "([lat, lon]) => window[document.querySelector('.folium-map').id]"
            ".panTo([lat, lon], {animate: false})",
            [lat, lon],
        )
        # the move reloads the requests of the view: click once the new markers are there
        web.page.wait_for_function(f"() => window.__loads > {loads}", timeout=15000)
        web.page.mouse.click(*_map_point(web, lat, lon))
        popup = web.page.locator(".leaflet-popup-content table.geova-popup")
        popup.wait_for(state="visible", timeout=5000)
        texts.append(popup.inner_text())
        _settle(web)
        web.page.keyboard.press("Escape")
        popup.wait_for(state="detached", timeout=5000)
    return texts


def _wait_map(web: Watched, polygons: int) -> None:
    web.page.wait_for_function(
        f"() => document.querySelectorAll('path.leaflet-interactive').length >= {polygons}", timeout=15000
    )


def test_public_overview_shows_hostile_quarter_and_zone_names_as_text(page, hostile):
    web, _dialogs = page
    web.goto(f"/?{PERIOD}")
    _wait_map(web, 26 + 12)
    assert EVIL_QUARTER in web.page.locator("table.data").inner_text()
    assert _hover_tooltip(web, *hostile["quarter_point"]).startswith(EVIL_QUARTER + " — ")
    # the zones lie under the quarters: hide the quarters, as a person would, to point at a zone
    web.page.mouse.move(5, 5)
    web.page.locator(".leaflet-control-layers label", has_text="Quarters").locator("input").uncheck()
    assert _hover_tooltip(web, *hostile["zone_point"]) == EVIL_ZONE + " (commercial)"
    _settle(web)


def test_quarter_page_layer_control_tooltips_and_popups_show_hostile_text_as_text(page, hostile):
    web, _dialogs = page
    web.login("correspondent")
    web.goto(f"/quarters/6?{PERIOD}")
    _wait_map(web, 1)
    web.page.wait_for_function("() => window.__points !== undefined", timeout=20000)
    control = web.page.locator(".leaflet-control-layers")
    assert control.locator("label", has_text=EVIL_QUARTER).count() == 1  # the name, as text
    assert control.locator("img, svg, script").count() == 0
    assert web.page.locator("h1").inner_text() == EVIL_QUARTER
    assert _hover_tooltip(web, *hostile["quarter_point"]) == EVIL_QUARTER
    popups = _open_every_popup(web)
    assert len(popups) == len(EVIL_TEXTS)
    for text in EVIL_TEXTS:  # description, address and service of each request, shown verbatim
        assert sum(p.count(text) for p in popups) == 3, text
    _settle(web)


def test_worklist_shows_hostile_descriptions_as_text(page):
    web, _dialogs = page
    web.login("service")
    web.goto(f"/worklist?lang=en&norm={NORM}")
    web.page.wait_for_function("() => window.__points !== undefined", timeout=20000)
    table = web.page.locator("table").filter(has_text="Description").first.inner_text()
    for text in EVIL_TEXTS:
        assert text in table
    assert EVIL_QUARTER in table
    popups = _open_every_popup(web)
    assert len(popups) == len(EVIL_TEXTS)
    _settle(web)


def test_officials_comparison_shows_the_hostile_quarter_name_as_text(page):
    web, _dialogs = page
    web.login("official")
    web.goto(f"/compare?{PERIOD}&quarters=6")
    web.page.wait_for_load_state("networkidle")
    assert EVIL_QUARTER in web.page.locator("main").inner_text()
    bars = web.page.locator("svg title", has_text=EVIL_QUARTER)
    assert bars.count() >= 1
    _settle(web)
