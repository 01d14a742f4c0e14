"""Activity, impact and resource indicators: safe formulas, values per quarter and city from the
measures (counted from requests, entered, imported, quarter attributes), no value with a reason,
formulas naming unknown measures refused when the referential is loaded, and the CLI and the
officials' form that enter figures. Both backends where the store is involved."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from app import create_app
from geova.core.indicators import FormulaError, compute, formula_names
from geova.importing import import_interventions, load_extra_referential, prepare_store
from geova.io.errors import ImportFailure
from geova.io.referential_file import read_referential
from geova.store import catalogue, users
from geova.store.status import set_setting
from tests.boston import load_quarters
from tests.webapp import PASSWORD, client_as, make_app, run_cli

REPO = Path(__file__).resolve().parents[1]
BOSTON = "America/New_York"
GRAFFITI = REPO / "data/boston/graffiti-removal.csv"
FMT = "%m/%d/%Y %I:%M:%S %p"


# --- formulas (pure) -------------------------------------------------------------------------------


def test_formulas_compute_over_measures():
    values = {"reported": 46.0, "population": 92_000.0, "resolved": 30.0, "fte": 4.0, "cost": 1500.0}
    assert compute("reported / population * 1000", values).value == pytest.approx(0.5)
    assert compute("resolved / fte", values).value == pytest.approx(7.5)
    assert compute("cost / resolved", values).value == pytest.approx(50.0)
    assert compute("(reported - resolved) / 2 + -1", values).value == pytest.approx(7.0)
    assert formula_names("cost / (resolved + reported) * 2") == ["cost", "resolved", "reported"]


def test_no_value_says_why():
    zero = compute("resolved / fte", {"resolved": 10.0, "fte": 0.0})
    assert zero.value is None and zero.reason == "division by zero (fte is 0)"
    missing = compute("cost / resolved", {"resolved": 10.0, "cost": None})
    assert missing.value is None and missing.reason == "no figure for cost"
    absent = compute("reported / population * 1000", {"reported": 3.0})
    assert absent.value is None and absent.reason == "no figure for population"


@pytest.mark.parametrize(
    "formula",
    [
        "__import__('os').system('true')",
        "reported ** 2",
        "reported.real",
        "max(reported, 1)",
        "reported if fte else 0",
        "[reported]",
        "'text'",
        "reported // 2",
        "reported % 2",
        "lambda: 1",
        "reported / ",
    ],
)
def test_only_arithmetic_is_allowed(formula):
    with pytest.raises(FormulaError):
        formula_names(formula)


def _referential(tmp_path: Path, indicators: str) -> Path:
    path = tmp_path / "ref.toml"
    path.write_text(
        """[[field]]
code = "f"
label_fr = "F"
label_en = "F"

[[measure]]
code = "fte"
label_fr = "ETP"
label_en = "FTE"
"""
        + indicators,
        encoding="utf-8",
    )
    return path


def test_unknown_measure_names_are_refused_at_load_with_the_key(tmp_path):
    path = _referential(
        tmp_path,
        """
[[indicator]]
code = "ok"
kind = "resource"
label_fr = "x"
label_en = "x"
formula = "resolved / fte"

[[indicator]]
code = "per.inhabitant"
kind = "impact"
label_fr = "x"
label_en = "x"
formula = "reported / inhabitants * 1000"
""",
    )
    with pytest.raises(ImportFailure) as caught:
        read_referential(path)
    message = str(caught.value)
    assert "[[indicator]] 'per.inhabitant' (line 18), key 'formula' (line 23)" in message
    assert "unknown measure 'inhabitants'" in message


def test_unsafe_formulas_and_bad_kinds_are_refused_with_the_key(tmp_path):
    path = _referential(
        tmp_path,
        """
[[indicator]]
code = "bad"
kind = "impact"
label_fr = "x"
label_en = "x"
formula = "fte ** 2"

[[indicator]]
code = "kind"
kind = "happiness"
label_fr = "x"
label_en = "x"
formula = "fte"
""",
    )
    with pytest.raises(ImportFailure) as caught:
        read_referential(path)
    message = str(caught.value)
    assert "[[indicator]] 'bad' (line 11), key 'formula' (line 16)" in message and "only numbers" in message
    assert "[[indicator]] 'kind' (line 18), key 'kind' (line 20)" in message


def test_the_shipped_referential_defines_the_three_kinds():
    ref = read_referential(REPO / "data/referential.toml")
    kinds = {i.kind.value for i in ref.indicators}
    assert kinds == {"activity", "impact", "resource"}
    assert {"fte", "cost", "passages", "fines", "prevention_actions", "hours_worked"} <= {
        m.code for m in ref.measures
    }


# --- values from the store ---------------------------------------------------------------------------


@pytest.fixture
def store(engine):
    prepare_store(engine)
    with engine.begin() as conn:
        set_setting(conn, "timezone", BOSTON)
    load_quarters(engine)
    load_extra_referential(engine, REPO / "data/boston/norms.toml")
    import_interventions(engine, GRAFFITI, REPO / "data/mappings/graffiti-removal.toml")
    return engine


run = run_cli


def _june_csv() -> tuple[int, int]:
    """Requests reported in June 2015 and requests resolved in June 2015, Boston time, duplicates
    and invalid cases left out: straight from the export."""
    raw = pd.read_csv(GRAFFITI, dtype=str, keep_default_na=False)
    raw = raw[~raw["CLOSURE_REASON"].str.contains("duplicate|case invalid", case=False)]
    opened = pd.to_datetime(raw["OPEN_DT"], format=FMT)
    closed = pd.to_datetime(raw["CLOSED_DT"].replace("", None), format=FMT, errors="coerce")
    june = lambda s: (s >= pd.Timestamp("2015-06-01")) & (s < pd.Timestamp("2015-07-01"))  # noqa: E731
    return int(june(opened).sum()), int(june(closed).sum())


def _value(rows: list[dict], quarter: str, indicator: str) -> dict:
    return next(r for r in rows if r["quarter"] == quarter and r["indicator"] == indicator)


def test_indicator_values_from_measures_and_attributes(store, db_url, tmp_path):
    with store.connect() as conn:
        codes = catalogue.quarters(conn, 0)["code"].tolist()
    attrs = tmp_path / "quartiers.csv"
    attrs.write_text(
        "quarter;population;street_km\n" + "".join(f"{c};1 000;2,5\n" for c in codes), encoding="utf-8"
    )
    out = run(db_url, "quarter-attributes", "import", attrs)
    assert out.exit_code == 0, out.output
    mapping = tmp_path / "mesures.toml"
    mapping.write_text(
        '[source]\nname = "services"\n[columns]\nquarter = "quartier"\nmonth = "mois"\n'
        '[measures]\n"ETP" = "fte"\n"Coût" = "cost"\n',
        encoding="utf-8",
    )
    data = tmp_path / "mesures.csv"
    data.write_text(
        "quartier;mois;ETP;Coût\n6;06/2015;4;1 500,50\n6;2015-05;3;900\n15;2015-06;0;200\n",
        encoding="cp1252",
    )
    out = run(db_url, "measures", "import", data, "--mapping", mapping)
    assert out.exit_code == 0, out.output
    assert "inserted 6" in out.stdout
    rows = json.loads(run(db_url, "indicators", "--month", "2015-06", "--format", "json").stdout)
    reported, resolved = _june_csv()
    city_pop = 1000 * len(codes)
    assert _value(rows, "(city)", "impact.reported_per_1000")["value"] == pytest.approx(
        reported / city_pop * 1000
    )
    assert _value(rows, "(city)", "impact.reported_per_km")["value"] == pytest.approx(
        reported / (2.5 * len(codes))
    )
    # the city's money is the sum of its quarters', June only
    assert _value(rows, "(city)", "resource.cost")["value"] == pytest.approx(1700.5)
    assert _value(rows, "(city)", "resource.cost_per_resolved")["value"] == pytest.approx(1700.5 / resolved)
    assert _value(rows, "(city)", "resource.resolved_per_fte")["value"] == pytest.approx(resolved / 4)
    assert _value(rows, "6", "resource.fte")["value"] == 4
    zero = _value(rows, "15", "resource.resolved_per_fte")
    assert zero["value"] is None and zero["no_value_because"] == "division by zero (fte is 0)"
    missing = _value(rows, "(city)", "activity.fines")
    assert missing["value"] is None and missing["no_value_because"] == "no figure for fines"
    # the six-month period adds May's figures
    half = json.loads(
        run(db_url, "indicators", "--period", "2015-H1", "--quarter", "6", "--format", "json").stdout
    )
    assert _value(half, "6", "resource.fte")["value"] == 7
    assert {r["quarter"] for r in half} == {"6"}


def test_measure_files_and_commands_refuse_bad_input(store, db_url, tmp_path):
    mapping = tmp_path / "m.toml"
    mapping.write_text(
        '[source]\nname = "s"\n[columns]\nquarter = "q"\nmonth = "m"\n[measures]\n"v" = "fte"\n',
        encoding="utf-8",
    )
    bad_number = tmp_path / "n.csv"
    bad_number.write_text("q;m;v\n6;2015-06;4\n6;2015-07;beaucoup\n", encoding="utf-8")
    out = run(db_url, "measures", "import", bad_number, "--mapping", mapping)
    assert out.exit_code == 1 and "line 3, field 'v': not a number: 'beaucoup'" in out.stderr
    bad_month = tmp_path / "d.csv"
    bad_month.write_text("q;m;v\n6;juin;4\n", encoding="utf-8")
    out = run(db_url, "measures", "import", bad_month, "--mapping", mapping)
    assert out.exit_code == 1 and "line 2, field 'm': not a month" in out.stderr
    unknown = tmp_path / "u.csv"
    unknown.write_text("q;m;v\n6;2015-06;4\nnowhere;2015-06;4\n", encoding="utf-8")
    out = run(db_url, "measures", "import", unknown, "--mapping", mapping)
    assert out.exit_code == 1 and "line 3, quarter: unknown quarter 'nowhere'" in out.stderr
    rows = json.loads(
        run(db_url, "indicators", "--month", "2015-06", "--quarter", "6", "--format", "json").stdout
    )
    assert _value(rows, "6", "resource.fte")["value"] is None  # nothing stored
    wrong = tmp_path / "w.toml"
    wrong.write_text(
        '[source]\nname = "s"\n[columns]\nquarter = "q"\n[measures]\n"v" = "fte"\n', encoding="utf-8"
    )
    out = run(db_url, "measures", "import", unknown, "--mapping", wrong)
    assert out.exit_code == 1 and "columns.month" in out.stderr
    assert run(db_url, "measures", "set", "fte", "6", "juin", "4").exit_code == 2
    assert run(db_url, "measures", "set", "fte", "6", "2015-06", "many").exit_code == 2
    out = run(db_url, "measures", "set", "staff", "6", "2015-06", "4")
    assert out.exit_code == 1 and "unknown measure 'staff'" in out.stderr
    out = run(db_url, "measures", "set", "fte", "6", "2015-06", "4,5")
    assert out.exit_code == 0 and "= 4.5" in out.stdout
    assert run(db_url, "quarter-attributes", "set", "6").exit_code == 2
    assert run(db_url, "quarter-attributes", "set", "6", "--population", "-3").exit_code == 2
    out = run(db_url, "quarter-attributes", "set", "nowhere", "--population", "3")
    assert out.exit_code == 1 and "unknown quarter 'nowhere'" in out.stderr
    out = run(db_url, "indicators", "--month", "2015-06", "--quarter", "nowhere")
    assert out.exit_code == 1 and "unknown quarter 'nowhere'" in out.stderr
    assert run(db_url, "indicators", "--month", "June").exit_code == 2


def test_officials_enter_figures_and_see_indicators(store, db_url):
    with store.begin() as conn:
        users.add_user(conn, "elu", PASSWORD, "official")
    app = create_app({"GEOVA_DATABASE_URL": db_url, "TESTING": True, "WTF_CSRF_ENABLED": False})
    client = app.test_client()
    assert client.post("/login", data={"username": "elu", "password": PASSWORD}).status_code == 302
    for measure, value in (("fte", "2"), ("cost", "300")):
        done = client.post(
            "/indicators/measures?lang=en",
            data={
                "measure": measure,
                "quarter": "6",
                "month": "2015-06",
                "value": value,
                "period": "2015-06",
            },
            follow_redirects=True,
        )
        assert "Figure recorded." in done.get_data(as_text=True)
    bad = client.post(
        "/indicators/measures?lang=en",
        data={"measure": "fte", "quarter": "6", "month": "juin", "value": "2", "period": "2015-06"},
        follow_redirects=True,
    )
    assert "write it as 2015-06" in bad.get_data(as_text=True)
    html = client.get("/indicators?period=2015-06&quarter=6&lang=en").get_data(as_text=True)
    row = html.split('<tr data-quarter="6">', 1)[1].split("</tr>", 1)[0]
    cell = row.split('data-indicator="resource.fte"', 1)[1].split("</td>", 1)[0]
    assert "2.00" in cell
    assert 'data-indicator="impact.reported_per_1000" title="no figure for population"' in row


def test_indicators_of_one_service(store, db_url):
    """Nanterre's indicators by service and quarter: with a service chosen, the requests counted
    are that service's and the entered figures those entered for it."""
    from sqlalchemy import text

    with store.begin() as conn:
        users.add_user(conn, "elu", PASSWORD, "official")
        raw = pd.DataFrame(
            conn.execute(
                text(
                    "SELECT i.service, q.code AS quarter, i.resolved_at, i.status FROM intervention i "
                    "LEFT JOIN quarter q ON q.id = i.quarter_id"
                )
            ).all(),
            columns=["service", "quarter", "resolved_at", "status"],
        )
    mine = raw["service"].dropna().value_counts().index[0]  # the service with the most requests
    for service, fte in ((mine, "2"), ("someone_else", "5")):
        out = run(db_url, "measures", "set", "fte", "6", "2015-06", fte, "--service", service)
        assert out.exit_code == 0, out.output
    resolved = pd.to_datetime(raw["resolved_at"], utc=True, format="mixed").dt.tz_convert(BOSTON)
    june = (resolved >= pd.Timestamp("2015-06-01", tz=BOSTON)) & (
        resolved < pd.Timestamp("2015-07-01", tz=BOSTON)
    )
    counted = (
        june
        & (raw["service"] == mine)
        & (raw["quarter"] == "6")
        & ~raw["status"].isin(["duplicate", "cancelled", "rejected"])
    )
    assert counted.sum() > 0
    app = make_app(db_url)
    client = client_as(app, "elu")
    html = client.get(f"/indicators?period=2015-06&quarter=6&service={mine}&lang=en").get_data(as_text=True)
    row = html.split('<tr data-quarter="6">', 1)[1].split("</tr>", 1)[0]

    def cell(code: str) -> str:
        return row.split(f'data-indicator="{code}"', 1)[1].split("</td>", 1)[0]

    assert "2.00" in cell("resource.fte")  # not 7: the other service's figure is left out
    assert f"{int(counted.sum()) / 2:,.2f}" in cell("resource.resolved_per_fte")
    everyone = client.get("/indicators?period=2015-06&quarter=6&lang=en").get_data(as_text=True)
    assert (
        "7.00"
        in everyone.split('<tr data-quarter="6">', 1)[1].split('data-indicator="resource.fte"', 1)[1][:200]
    )
    unknown = client.get("/indicators?period=2015-06&service=nobody&lang=en")
    assert unknown.status_code == 400 and "service" in unknown.get_data(as_text=True)
