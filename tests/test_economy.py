"""Economic effect of quality (issue 12, point 5): the economic figures of the commercial zones,
imported from a French Excel CSV (idempotent; a bad row stops everything, naming file, line and
column), shown on the officials' page next to the zone's on-time rate (the evaluation API's, read
back through /api/v1/evaluations), and in the monthly report. Both backends."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from geova.cli import cli
from geova.importing import import_interventions, import_layer, load_extra_referential
from geova.store import users
from geova.store.economy import economy_figures
from geova.store.status import set_setting
from tests.boston import load_quarters, load_zones
from tests.webapp import PASSWORD, client_as, make_app, run_cli

REPO = Path(__file__).resolve().parents[1]
BOSTON = "America/New_York"
GRAFFITI = REPO / "data/boston/graffiti-removal.csv"
NORM = "boston.target"
HOSTILE = '<script>alert("zone")</script> & Co'


def _square(lon: float, lat: float) -> dict:
    d = 0.002
    ring = [[lon, lat], [lon + d, lat], [lon + d, lat + d], [lon, lat + d], [lon, lat]]
    return {"type": "MultiPolygon", "coordinates": [[ring]]}


@pytest.fixture
def store(engine, tmp_path):
    with engine.begin() as conn:
        set_setting(conn, "timezone", BOSTON)
        set_setting(conn, "headline_norm", NORM)
    load_quarters(engine)
    load_zones(engine)
    extra = tmp_path / "other_zones.geojson"
    features = [
        {
            "type": "Feature",
            "properties": {"code": "ZS-01", "name": "School", "kind": "sensitive"},
            "geometry": _square(-71.06, 42.35),
        },
        {
            "type": "Feature",
            "properties": {"code": "ZPC-99", "name": HOSTILE, "kind": "commercial"},
            "geometry": _square(-71.07, 42.34),
        },
    ]
    extra.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    import_layer(engine, extra, as_="zones", code_field="code", name_field="name", kind_field="kind")
    load_extra_referential(engine, REPO / "data/boston/norms.toml")
    import_interventions(engine, GRAFFITI, REPO / "data/mappings/graffiti-removal.toml")
    with engine.begin() as conn:
        users.add_user(conn, "elu", PASSWORD, "official")
        users.add_user(conn, "boss", PASSWORD, "admin")
        users.add_user(conn, "agent", PASSWORD, "service")
    return engine


@pytest.fixture
def app(db_url, store):
    return make_app(db_url)


def _client(app, username: str | None = "elu"):
    return client_as(app, username)


run = run_cli


def _write(path: Path, text: str, bom: bool = True) -> Path:
    """A CSV as French Excel saves it: BOM, CRLF line ends."""
    path.write_bytes(("\ufeff" if bom else "").encode() + text.replace("\n", "\r\n").encode("utf-8"))
    return path


GOOD = """zone;period;vacancy_rate;businesses;footfall
ZPC-03;2015-06;8,5;142;12 400
ZPC-03;15/07/2015;7,25;;13 050
ZPC-02;06/2015;;88;
"""
EXPECTED = {
    ("ZPC-03", date(2015, 6, 1), "vacancy_rate"): 8.5,
    ("ZPC-03", date(2015, 6, 1), "businesses"): 142.0,
    ("ZPC-03", date(2015, 6, 1), "footfall"): 12400.0,
    ("ZPC-03", date(2015, 7, 1), "vacancy_rate"): 7.25,
    ("ZPC-03", date(2015, 7, 1), "footfall"): 13050.0,
    ("ZPC-02", date(2015, 6, 1), "businesses"): 88.0,
}


def _held(engine) -> dict:
    with engine.connect() as conn:
        frame = economy_figures(conn)
    return {(r.zone, pd.Timestamp(r.period).date(), r.indicator): r.value for r in frame.itertuples()}


def test_import_then_reimport_is_idempotent(store, db_url, tmp_path):
    path = _write(tmp_path / "eco.csv", GOOD)
    out = run(db_url, "economy", "import", path)
    assert out.exit_code == 0, out.output
    assert "6 figures read; inserted 6, updated 0, unchanged 0" in out.output
    assert _held(store) == EXPECTED
    again = run(db_url, "economy", "import", path)
    assert again.exit_code == 0 and "inserted 0, updated 0, unchanged 6" in again.output
    assert _held(store) == EXPECTED
    # a corrected figure replaces the one held; the others stay
    _write(tmp_path / "fix.csv", "zone;period;vacancy_rate\nZPC-03;01/06/2015;9\n", bom=False)
    fixed = run(db_url, "economy", "import", tmp_path / "fix.csv")
    assert fixed.exit_code == 0 and "updated 1" in fixed.output
    assert _held(store) == {**EXPECTED, ("ZPC-03", date(2015, 6, 1), "vacancy_rate"): 9.0}


@pytest.mark.parametrize(
    ("row", "column", "says"),
    [
        ("ZPC-42;2015-06;8;10;100", "zone", "unknown zone 'ZPC-42'"),
        ("ZS-01;2015-06;8;10;100", "zone", "not a priority commercial zone"),
        ("ZPC-02;2015-06;8;dix;100", "businesses", "not a number: 'dix'"),
        ("ZPC-02;2015-13;8;10;100", "period", "not a month: '2015-13'"),
        ("ZPC-02;31/02/2015;8;10;100", "period", "not a month"),
        ("ZPC-02;2015-06;120;10;100", "vacancy_rate", "between 0 and 100"),
        ("ZPC-02;2015-06;8;10;-5", "footfall", "must not be negative"),
    ],
)
def test_a_bad_row_stops_the_import_and_stores_nothing(store, db_url, tmp_path, row, column, says):
    path = _write(
        tmp_path / "bad.csv",
        f"zone;period;vacancy_rate;businesses;footfall\nZPC-03;2015-06;8;10;100\n{row}\n",
    )
    out = CliRunner().invoke(cli, ["--db", db_url, "economy", "import", str(path)])
    assert out.exit_code == 1
    assert f"{path}, line 3, field '{column}'" in out.stderr and says in out.stderr, out.stderr
    assert "Nothing was stored" in out.stderr and "Traceback" not in out.output
    assert _held(store) == {}


def test_unknown_columns_are_refused(store, db_url, tmp_path):
    path = _write(tmp_path / "cols.csv", "zone;mois;vacance\nZPC-03;2015-06;8\n")
    out = CliRunner().invoke(cli, ["--db", db_url, "economy", "import", str(path)])
    assert out.exit_code == 1 and str(path) in out.stderr and "unknown: mois, vacance" in out.stderr
    assert _held(store) == {}


def _number(cell: str) -> float:
    """A number as the English page writes it."""
    text = re.sub(r"<[^>]+>", "", cell).replace("\u202f", "").replace("\xa0", "").replace(" ", "")
    return float(text.replace("%", "").replace(",", ""))  # English: 12,400.5


def _cells(html: str, zone: str, month: str) -> dict[str, str]:
    section = html.split(f'data-zone="{zone}"', 1)[1].split("</section>", 1)[0]
    row = section.split(f'data-month="{month}"', 1)[1].split("</tr>", 1)[0]
    return dict(re.findall(r'data-field="(\w+)">(.*?)</td>', row))


def test_page_shows_the_figures_next_to_the_api_on_time_rate(app, store, db_url, tmp_path):
    assert run(db_url, "economy", "import", _write(tmp_path / "eco.csv", GOOD)).exit_code == 0
    page = _client(app).get("/economy?lang=en")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    api = _client(app, None).get(f"/api/v1/evaluations?norm={NORM}&by=zone&by=month").get_json()
    by_key = {(r["zone"], r["month"]): r for r in api["aggregates"]}
    for month, vacancy, footfall in (("2015-06", 8.5, 12400), ("2015-07", 7.25, 13050)):
        cells = _cells(html, "ZPC-03", month)
        assert _number(cells["vacancy_rate"]) == pytest.approx(vacancy, abs=0.05)
        assert _number(cells["footfall"]) == footfall
        expected = by_key[("ZPC-03", month)]
        assert expected["requests"] > 0  # Newbury Street has graffiti requests every month
        assert _number(cells["requests"]) == expected["requests"]
        assert _number(cells["on_time_rate"]) == pytest.approx(expected["on_time_rate"] * 100, abs=0.05)
    assert _cells(html, "ZPC-03", "2015-06")["businesses"].strip() == "142"
    assert _cells(html, "ZPC-03", "2015-07")["businesses"].strip() == "—"
    # the chart is inline SVG (the CSP forbids data: URIs), one per zone with figures
    section = html.split('data-zone="ZPC-03"', 1)[1].split("</section>", 1)[0]
    assert "<svg" in section and "data:image" not in html
    assert "No economic figure imported for this zone." in html  # the zones without figures


def test_hostile_zone_name_is_escaped(app, store, db_url, tmp_path):
    path = _write(tmp_path / "eco.csv", "zone;period;vacancy_rate\nZPC-99;2015-06;5\n")
    assert run(db_url, "economy", "import", path).exit_code == 0
    html = _client(app).get("/economy").get_data(as_text=True)
    assert '<script>alert("zone")' not in html
    assert "&lt;script&gt;alert(&#34;zone&#34;)&lt;/script&gt; &amp; Co" in html


def test_roles(app, store):
    anonymous = _client(app, None).get("/economy")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    assert _client(app, "agent").get("/economy").status_code == 403
    assert _client(app, "elu").get("/economy").status_code == 200
    assert _client(app, "boss").get("/economy").status_code == 200
    french = _client(app, "elu").get("/economy?lang=fr").get_data(as_text=True)
    assert "Effet économique de la qualité" in french
    assert "Aucun indicateur économique importé pour cette zone." in french
    assert 'href="/economy"' in _client(app, "elu").get("/").get_data(as_text=True)
    assert 'href="/economy"' not in _client(app, "agent").get("/").get_data(as_text=True)


def test_monthly_report_lists_the_latest_figures_and_the_zone_rate(app, store, db_url, tmp_path):
    assert run(db_url, "economy", "import", _write(tmp_path / "eco.csv", GOOD)).exit_code == 0
    out = run(db_url, "report", "--month", "2015-06", "--format", "json")
    assert out.exit_code == 0, out.output
    economy = {z["code"]: z for z in json.loads(out.stdout)["economy"]}
    assert set(economy) == {"ZPC-03", "ZPC-02"}  # the July figures are after the period
    z = economy["ZPC-03"]
    assert (z["month"], z["vacancy_rate"], z["businesses"], z["footfall"]) == ("2015-06", 8.5, 142, 12400)
    api = (
        _client(app, None)
        .get(f"/api/v1/evaluations?norm={NORM}&by=zone&by=month&as_of=2015-07-01T00:00:00-04:00")
        .get_json()
    )
    zone = next(r for r in api["aggregates"] if r["zone"] == "ZPC-03" and r["month"] == "2015-06")
    assert z["requests"] == zone["requests"] and z["on_time_rate"] == pytest.approx(zone["on_time_rate"])
    html = run(db_url, "report", "--month", "2015-06", "--lang", "en").output
    assert "Economic effect of quality" in html and 'data-zone="ZPC-02"' in html
