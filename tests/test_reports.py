"""The monthly committee's report: its figures are the evaluation API's, recomputed here from the
Boston CSV rows; the PDF is made and read back; a published report stays frozen after later
imports; a corrected version keeps the first; the CLI's exit codes. Both backends."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pandas as pd
import pytest
from pypdf import PdfReader

from geova.importing import import_interventions, load_extra_referential
from geova.store import users
from geova.store.status import set_setting
from tests.boston import load_quarters, load_zones
from tests.webapp import PASSWORD, client_as, make_app, run_cli

REPO = Path(__file__).resolve().parents[1]
BOSTON = "America/New_York"
GRAFFITI = REPO / "data/boston/graffiti-removal.csv"
NORM = "boston.target"
MONTH_END = pd.Timestamp("2015-07-01", tz=BOSTON)  # the June report judges at the month's end
FMT = "%m/%d/%Y %I:%M:%S %p"


@pytest.fixture
def store(engine):
    with engine.begin() as conn:
        set_setting(conn, "timezone", BOSTON)
        set_setting(conn, "headline_norm", NORM)
    load_quarters(engine)
    load_zones(engine)
    load_extra_referential(engine, REPO / "data/boston/norms.toml")
    import_interventions(engine, GRAFFITI, REPO / "data/mappings/graffiti-removal.toml")
    with engine.begin() as conn:
        users.add_user(conn, "elu", PASSWORD, "official")
    return engine


@pytest.fixture
def app(db_url, store):
    return make_app(db_url)


def _client(app, username: str | None = "elu"):
    return client_as(app, username)


run = run_cli


def _csv_month(month: str, as_of: pd.Timestamp) -> dict[str, float]:
    """The month's figures straight from the export: requests reported that month (local time),
    duplicates and invalid cases left out of the rate, each judged at ``as_of`` on Boston's own
    TARGET_DT."""
    raw = pd.read_csv(GRAFFITI, dtype=str, keep_default_na=False)
    opened = pd.to_datetime(raw["OPEN_DT"], format=FMT).dt.tz_localize(BOSTON)
    rows = raw[opened.dt.strftime("%Y-%m") == month]
    excluded = rows["CLOSURE_REASON"].str.contains(
        "duplicate|case invalid", case=False
    )  # the mapping's rules
    kept = rows[~excluded]
    due = pd.to_datetime(kept["TARGET_DT"], format=FMT, errors="coerce").dt.tz_localize(BOSTON)
    closed = pd.to_datetime(kept["CLOSED_DT"].replace("", None), format=FMT, errors="coerce").dt.tz_localize(
        BOSTON
    )
    resolved = closed.notna() & (closed <= as_of)
    on_time = int((resolved & due.notna() & (closed <= due)).sum())
    late = int((resolved & due.notna() & (closed > due)).sum())
    overdue = int((~resolved & due.notna() & (due < as_of)).sum())
    return {
        "requests": len(rows),
        "excluded": int(excluded.sum()),
        "on_time": on_time,
        "late": late,
        "open_overdue": overdue,
        "on_time_rate": on_time / (on_time + late + overdue),
    }


def _norm(figures: dict, code: str = NORM) -> dict:
    return next(n for n in figures["norms"] if n["code"] == code)


def test_report_figures_equal_the_api_and_the_csv(app, store, db_url):
    out = run(db_url, "report", "--month", "2015-06", "--format", "json")
    assert out.exit_code == 0, out.output
    figures = json.loads(out.stdout)
    assert figures["period"]["code"] == "2015-06" and figures["headline"] == NORM
    api = (
        _client(app, None)
        .get(f"/api/v1/evaluations?norm={NORM}&by=month&as_of=2015-07-01T00:00:00-04:00")
        .get_json()
    )
    by_month = {r["month"]: r for r in api["aggregates"]}
    norm = _norm(figures)
    for key, month in (("current", "2015-06"), ("previous", "2015-05")):
        for figure in ("requests", "on_time", "late", "open_overdue", "excluded", "backlog"):
            assert norm[key][figure] == by_month[month][figure], (key, figure)
        assert norm[key]["on_time_rate"] == pytest.approx(by_month[month]["on_time_rate"])
        expected = _csv_month(month, MONTH_END)
        for figure, value in expected.items():
            assert norm[key][figure] == pytest.approx(value), (key, figure)
    # the same month a year before: the export starts in 2015
    assert norm["year_before"]["requests"] == 0 and norm["year_before"]["on_time_rate"] is None
    # per quarter, the API's figures for the month
    api_q = (
        _client(app, None)
        .get(f"/api/v1/evaluations?norm={NORM}&by=quarter&by=month&as_of=2015-07-01T00:00:00-04:00")
        .get_json()
    )
    june = {r["quarter"]: r for r in api_q["aggregates"] if r["month"] == "2015-06"}
    for q in figures["quarters"]:
        assert q["requests"] == (june[q["code"]]["requests"] if q["code"] in june else 0)
    # backlog at the month's end: every request reported by then, judged then
    by_then = [r for m, r in by_month.items() if m <= "2015-06"]
    assert norm["at_end"] == {
        "backlog": sum(r["backlog"] for r in by_then),
        "open_overdue": sum(r["open_overdue"] for r in by_then),
    }


def test_a_quarter_report_counts_only_the_quarter(app, store, db_url):
    city = json.loads(run(db_url, "report", "--month", "2015-06", "--format", "json").stdout)
    mine = json.loads(
        run(db_url, "report", "--month", "2015-06", "--quarter", "6", "--format", "json").stdout
    )
    assert mine["scope"] == {"quarter": "6", "name": "Dorchester"}
    dorchester = next(q for q in city["quarters"] if q["code"] == "6")
    for figure in ("requests", "on_time", "late", "open_overdue"):
        assert _norm(mine)["current"][figure] == dorchester[figure]
    assert _norm(mine)["current"]["requests"] < _norm(city)["current"]["requests"]


def test_six_month_and_yearly_reports_come_from_the_same_code(store, db_url):
    half = json.loads(run(db_url, "report", "--period", "2015-H1", "--format", "json").stdout)
    year = json.loads(run(db_url, "report", "--year", "2015", "--format", "json").stdout)
    months = [
        json.loads(run(db_url, "report", "--month", f"2015-0{m}", "--format", "json").stdout) for m in (1, 2)
    ]
    assert half["period"] == {
        "code": "2015-H1",
        "kind": "half",
        "start": "2015-01-01",
        "end": "2015-07-01",
        "previous": ["2014-07-01", "2015-01-01"],
        "year_before": ["2014-01-01", "2014-07-01"],
    }
    raw = pd.read_csv(GRAFFITI, dtype=str, keep_default_na=False)
    opened = pd.to_datetime(raw["OPEN_DT"], format=FMT)
    assert _norm(half)["current"]["requests"] == int((opened < pd.Timestamp("2015-07-01")).sum())
    assert _norm(year)["current"]["requests"] == len(raw)
    # the trend of the half year holds its months, with the figures of the monthly reports
    trend = {t["month"]: t for t in half["trend"]}
    for m, monthly in zip(("2015-01", "2015-02"), months, strict=True):
        assert trend[m]["requests"] == _norm(monthly)["current"]["requests"]


def _pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


def test_the_pdf_is_a4_in_french_and_english(store, db_url, tmp_path):
    figures = json.loads(
        run(db_url, "report", "--month", "2015-06", "--quarter", "6", "--format", "json").stdout
    )
    requests = _norm(figures)["current"]["requests"]
    texts = {}
    for lang in ("fr", "en"):
        path = tmp_path / f"report-{lang}.pdf"
        out = run(
            db_url,
            "report",
            "--month",
            "2015-06",
            "--quarter",
            "6",
            "--format",
            "pdf",
            "--lang",
            lang,
            "-o",
            path,
        )
        assert out.exit_code == 0, out.output
        data = path.read_bytes()
        assert data.startswith(b"%PDF")
        page = PdfReader(io.BytesIO(data)).pages[0]
        # A4: 210 x 297 mm in points
        assert (float(page.mediabox.width), float(page.mediabox.height)) == pytest.approx(
            (595.28, 841.89), abs=1
        )
        texts[lang] = _pdf_text(data)
    assert "Rapport mensuel" in texts["fr"] and "juin 2015" in texts["fr"]
    assert "Normes de qualité : objectif et réalisé" in texts["fr"]
    assert "Monthly report" in texts["en"] and "June 2015" in texts["en"]
    assert "Quality norms: target and achieved" in texts["en"]
    for text in texts.values():
        assert "Dorchester" in text
        assert re.search(rf"\b{requests}\b", text), "the month's requests"


def test_a_published_report_is_frozen_and_public(app, store, db_url):
    client = _client(app)
    page = client.get("/reports?period=2015-06&lang=en")
    assert page.status_code == 200 and "Publish this report" in page.get_data(as_text=True)
    done = client.post("/reports/publish?period=2015-06")
    assert done.status_code == 302
    url = done.headers["Location"]
    public = _client(app, None)
    before = public.get(url + "?lang=en").get_data(as_text=True)
    listed = public.get("/published?lang=en").get_data(as_text=True)
    assert "Monthly report" in listed and url in listed
    json_before = json.loads(run(db_url, "report", "--month", "2015-06", "--format", "json").stdout)
    # a later import adds June requests (litter baskets, judged by the same norm)
    import_interventions(
        store, REPO / "data/boston/empty-litter-basket.csv", REPO / "data/mappings/empty-litter-basket.toml"
    )
    json_after = json.loads(run(db_url, "report", "--month", "2015-06", "--format", "json").stdout)
    assert _norm(json_after)["current"]["requests"] > _norm(json_before)["current"]["requests"]
    after = public.get(url + "?lang=en").get_data(as_text=True)
    assert after == before
    body = re.search(r'<article class="report".*?</article>', after, re.S).group(0)
    assert f'data-figure="requests">{_norm(json_before)["current"]["requests"]}<' in body.replace(",", "")
    pdf = public.get(url + ".pdf?lang=en")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert "Monthly report" in _pdf_text(pdf.data)


def test_a_corrected_version_keeps_both(app, store, db_url):
    client = _client(app)
    first = client.post("/reports/publish?period=2015-06&quarter=6").headers["Location"]
    again = client.post("/reports/publish?period=2015-06&quarter=6&lang=en", follow_redirects=True)
    refused = "Version 1 of this report is already published: a corrected version needs a reason."
    assert refused in again.get_data(as_text=True)
    again = client.post("/reports/publish?period=2015-06&quarter=6&lang=fr", follow_redirects=True)
    assert "une version corrigée demande un motif" in again.get_data(as_text=True)
    out = run(db_url, "report", "--month", "2015-06", "--quarter", "6", "--publish", "--by", "elu")
    assert out.exit_code == 1 and "needs a reason" in out.stderr
    import_interventions(
        store, REPO / "data/boston/empty-litter-basket.csv", REPO / "data/mappings/empty-litter-basket.toml"
    )
    second = client.post(
        "/reports/publish?period=2015-06&quarter=6", data={"reason": "litter baskets imported late"}
    ).headers["Location"]
    assert first != second
    public = _client(app, None)
    v1 = public.get(first + "?lang=en").get_data(as_text=True)
    v2 = public.get(second + "?lang=en").get_data(as_text=True)
    assert "Version 1" in v1 and "Version 2" in v2 and "litter baskets imported late" in v2
    count = lambda html: int(re.search(r'data-figure="requests">([\d,]+)<', html).group(1).replace(",", ""))  # noqa: E731
    assert count(v2) > count(v1)
    listed = run(db_url, "reports").stdout
    assert re.search(r"2015-06\s+6\s+v2 .*litter baskets imported late", listed)
    assert re.search(r"2015-06\s+6\s+v1 ", listed)


def test_only_officials_reach_the_report_pages(app, store):
    with store.begin() as conn:
        users.add_user(conn, "agent", PASSWORD, "service")
    assert _client(app, None).get("/reports").status_code == 302
    assert _client(app, "agent").get("/reports?period=2015-06").status_code == 403
    assert _client(app, "agent").post("/reports/publish?period=2015-06").status_code == 403
    assert _client(app, None).get("/indicators").status_code == 302
    bad = _client(app).get("/reports?period=2015-13")
    assert bad.status_code == 400 and "period" in bad.get_data(as_text=True)
    assert _client(app).get("/reports?period=2015-06&quarter=nowhere").status_code == 400
    assert _client(app, None).get("/published/999").status_code == 404


def test_cli_exit_codes(store, db_url, tmp_path):
    bad = run(db_url, "report", "--month", "2015-13")
    assert bad.exit_code == 2 and "--month" in bad.output
    assert run(db_url, "report", "--month", "2015-06", "--year", "2015").exit_code == 2
    assert run(db_url, "report").exit_code == 2
    assert run(db_url, "report", "--year", "2015-06").exit_code == 2
    nowhere = run(db_url, "report", "--month", "2015-06", "--quarter", "nowhere")
    assert nowhere.exit_code == 1 and "unknown quarter 'nowhere'" in nowhere.stderr
    pdf = run(db_url, "report", "--month", "2015-06", "--format", "pdf")
    assert pdf.exit_code == 2 and "-o FILE" in pdf.output
    future = run(db_url, "report", "--month", "2099-01")
    assert future.exit_code == 1 and "has not begun" in future.stderr
    html = tmp_path / "r.html"
    ok = run(db_url, "report", "--month", "2015-06", "--lang", "en", "-o", html)
    assert ok.exit_code == 0 and "Monthly report" in html.read_text(encoding="utf-8")


def test_names_and_reasons_are_escaped(app, store):
    from sqlalchemy import update

    from geova.store.schema import Quarter

    with store.begin() as conn:
        conn.execute(update(Quarter).where(Quarter.code == "6").values(name="<b>Dorchester</b> & co"))
    client = _client(app)
    client.post("/reports/publish?period=2015-06&quarter=6")
    url = client.post(
        "/reports/publish?period=2015-06&quarter=6", data={"reason": "<script>alert(1)</script>"}
    ).headers["Location"]
    html = _client(app, None).get(url + "?lang=en").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>Dorchester</b>" not in html and "&lt;b&gt;Dorchester&lt;/b&gt; &amp; co" in html
    svg = re.search(r"<svg.*?</svg>", html, re.S).group(0)
    assert "<b>" not in svg  # the map's label too


def test_followups_due_in_the_month(store, db_url):
    """The steps due in June: the 15-day, one-month and two-month calls of the requests reported
    from April on, computed here from the export's dates (no contact recorded: every step due
    before the month's end is missed)."""
    raw = pd.read_csv(GRAFFITI, dtype=str, keep_default_na=False)
    raw = raw[~raw["CLOSURE_REASON"].str.contains("duplicate|case invalid", case=False)]
    opened = pd.to_datetime(raw["OPEN_DT"], format=FMT)
    june = lambda s: (s >= pd.Timestamp("2015-06-01")) & (s < pd.Timestamp("2015-07-01"))  # noqa: E731
    expected = {
        "contact_15d": int(june(opened + pd.DateOffset(days=15)).sum()),
        "contact_1m": int(june(opened + pd.DateOffset(months=1)).sum()),
        "validation_2m": int(june(opened + pd.DateOffset(months=2)).sum()),
    }
    figures = json.loads(run(db_url, "report", "--month", "2015-06", "--format", "json").stdout)
    follow = figures["followups"]
    assert {step: counts.get("missed", 0) for step, counts in follow["by_step"].items()} == expected
    assert follow["missed"] == follow["total"] == sum(expected.values())
    assert follow["done"] == follow["done_late"] == follow["due"] == 0
