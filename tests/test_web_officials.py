"""The officials' pages: quarters compared, trends, charts, the audit grid of all quarters, print view."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select, update

from geova.core.audit import Answer, AuditEntry
from geova.evaluation import evaluate, territory_of
from geova.importing import import_interventions, load_extra_referential
from geova.store import audit, users
from geova.store.records import RecordFilter
from geova.store.schema import Quarter
from geova.web.charts import Bar, Series, rate_bars, rate_lines
from geova.web.format import num, pct
from geova.web.queries import rate_colour
from tests.boston import load_quarters
from tests.webapp import PASSWORD, client_as, make_app

REPO = Path(__file__).resolve().parents[1]
NORM = "boston.target"
# the second half of 2015, judged three months later: the previous period is the first half
PERIOD = {"norm": NORM, "from": "2015-07-01", "to": "2015-12-31", "as_of": "2016-04-01", "lang": "en"}


@pytest.fixture
def store(engine):
    load_quarters(engine)
    import_interventions(
        engine, REPO / "data/boston/graffiti-removal.csv", REPO / "data/mappings/graffiti-removal.toml"
    )
    load_extra_referential(engine, REPO / "data/boston/norms.toml")
    with engine.begin() as conn:
        users.add_user(conn, "elu", PASSWORD, "official")
    return engine


@pytest.fixture
def app(db_url, store):
    return make_app(db_url)


def _client(app, username: str | None = "elu"):
    return client_as(app, username)


def _query(**changes: str) -> str:
    return "&".join(f"{k}={v}" for k, v in {**PERIOD, **changes}.items())


def _rows(html: str, section: str = "tbody") -> list[tuple[str, dict[str, str]]]:
    """(quarter code, {figure: text}) of the comparison table's body (or foot)."""
    table = html.split('<table class="data compare">', 1)[1].split("</table>", 1)[0]
    part = table.split(f"<{section}>", 1)[1].split(f"</{section}>", 1)[0]
    out = []
    for code, body in re.findall(r'<tr data-quarter="([^"]+)">(.*?)</tr>', part, re.S):
        cells = re.findall(r'data-figure="(\w+)">(.*?)</td>', body, re.S)
        out.append((code, {k: re.sub(r"<[^>]+>|\s+", " ", v).strip() for k, v in cells}))
    return out


def _svg(html: str, chart_id: str) -> str:
    return re.search(rf'<svg [^>]*id="{chart_id}".*?</svg>', html, re.S).group(0)


def _expected(engine, start: str, end: str) -> pd.DataFrame:
    tz = territory_of(engine).timezone
    result = evaluate(
        engine,
        as_of=pd.Timestamp(PERIOD["as_of"]).tz_localize(tz),
        norm_codes=[NORM],
        by=["norm", "quarter"],
        where=RecordFilter(
            reported_from=pd.Timestamp(start).tz_localize(tz), reported_to=pd.Timestamp(end).tz_localize(tz)
        ),
    )
    return result.aggregates.set_index("quarter")


def test_only_officials_and_admins_see_the_comparison(app, store):
    with store.begin() as conn:
        users.add_user(conn, "corr", PASSWORD, "correspondent", quarter="6")
        users.add_user(conn, "agent", PASSWORD, "service")
        users.add_user(conn, "boss", PASSWORD, "admin")
    for url in ("/compare", "/compare/print"):
        anonymous = _client(app, None).get(url)
        assert anonymous.status_code == 302
        assert "/login" in anonymous.headers["Location"]
    clients = {user: _client(app, user) for user in ("corr", "agent", "elu", "boss")}
    for url in ("/compare", "/compare/print"):
        for user in ("corr", "agent"):
            assert clients[user].get(url).status_code == 403
        for user in ("elu", "boss"):
            assert clients[user].get(url + "?" + _query()).status_code == 200


def test_comparison_figures_are_the_evaluation_api_figures(app, store):
    html = _client(app).get("/compare?" + _query()).get_data(as_text=True)
    expected = _expected(store, "2015-07-01", "2016-01-01")
    rows = dict(_rows(html))
    with store.connect() as conn:
        codes = set(
            conn.execute(select(Quarter.__table__.c.code).where(Quarter.__table__.c.level == 0)).scalars()
        )
    assert set(rows) == codes  # every quarter, even without a request
    with app.test_request_context("/?lang=en"):
        for code, shown in rows.items():
            if code not in expected.index:
                assert shown["requests"] == "0"
                assert shown["on_time_rate"] == "—"
                continue
            want = expected.loc[code]
            assert shown["requests"] == num(want["requests"])
            assert shown["on_time_rate"] == pct(want["on_time_rate"])
            assert shown["late"] == num(want["late"])
            assert shown["open_overdue"] == num(want["open_overdue"])
            assert shown["median_hours"] == f"{num(want['median_hours'], 1)} h"
            assert shown["p90_hours"] == f"{num(want['p90_hours'], 1)} h"
        city = _rows(html, "tfoot")
        assert city[0][0] == "city"
        total = int(expected["requests"].sum())
        assert num(total) in html.split("<tfoot>", 1)[1].split("</tfoot>", 1)[0]


def test_rows_sort_on_any_column_and_links_keep_the_view(app):
    client = _client(app)
    html = client.get("/compare?" + _query(sort="requests", dir="desc")).get_data(as_text=True)
    counts = [int(r["requests"].replace(",", "")) for _code, r in _rows(html)]
    assert counts == sorted(counts, reverse=True) and counts[0] > counts[-1]
    html = client.get("/compare?" + _query(sort="requests", dir="asc")).get_data(as_text=True)
    counts = [int(r["requests"].replace(",", "")) for _code, r in _rows(html)]
    assert counts == sorted(counts)
    # rates: quarters without a judged request come last, in both directions
    for direction in ("asc", "desc"):
        html = client.get("/compare?" + _query(sort="on_time_rate", dir=direction)).get_data(as_text=True)
        shown = [r["on_time_rate"] for _code, r in _rows(html)]
        rated = [float(s.rstrip(" %")) for s in shown if s != "—"]
        assert rated == sorted(rated, reverse=direction == "desc")
        assert shown[len(rated) :] == ["—"] * (len(shown) - len(rated))
    # by name by default; the header links keep the norm and period and flip the direction
    html = client.get("/compare?" + _query()).get_data(as_text=True)
    names = [
        re.sub(r"<[^>]+>", "", n).strip()
        for n in re.findall(
            r'<th scope="row">.*?<a [^>]*>(.*?)</a>',
            html.split("<tbody>", 1)[1].split("</tbody>", 1)[0],
            re.S,
        )
    ]
    assert names == sorted(names, key=str.casefold)
    link = re.search(r'<a href="([^"]+)" data-sort="p90_hours"', html).group(1).replace("&amp;", "&")
    for part in (
        "norm=boston.target",
        "from=2015-07-01",
        "to=2015-12-31",
        "as_of=2016-04-01",
        "sort=p90_hours",
        "dir=desc",
    ):
        assert part in link
    html = client.get(link).get_data(as_text=True)
    assert 'aria-sort="descending"' in html
    again = re.search(r'<a href="([^"]+)" data-sort="p90_hours"', html).group(1)
    assert "dir=asc" in again


def test_trend_compares_with_the_previous_period_of_the_same_length(app, store):
    html = _client(app).get("/compare?" + _query()).get_data(as_text=True)
    assert "Jan 1, 2015 – Jun 30, 2015" in html
    now = _expected(store, "2015-07-01", "2016-01-01")
    before = _expected(store, "2015-01-01", "2015-07-01")
    rows = dict(_rows(html))
    checked = 0
    with app.test_request_context("/?lang=en"):
        for code in now.index.intersection(before.index):
            if (
                code not in rows
                or pd.isna(now.at[code, "on_time_rate"])
                or pd.isna(before.at[code, "on_time_rate"])
            ):
                continue
            change = (now.at[code, "on_time_rate"] - before.at[code, "on_time_rate"]) * 100
            shown = rows[code]["rate_change"]
            arrow = "▲" if round(change, 1) > 0 else ("▼" if round(change, 1) < 0 else "=")
            assert shown == f"{arrow} {'+' if change > 0 else ''}{num(change, 1)} pts", code
            delta = int(now.at[code, "requests"] - before.at[code, "requests"])
            assert rows[code]["requests_change"].startswith(f"{'+' if delta > 0 else ''}{num(delta)}")
            checked += 1
    assert checked > 10


def test_previous_period_keeps_months_or_days():
    start = pd.Timestamp("2015-07-01", tz="America/New_York")
    from geova.web.officials import previous_period
    from geova.web.queries import View

    view = View(norm=None, start=start, end=pd.Timestamp("2016-01-01", tz="America/New_York"), as_of=start)  # type: ignore[arg-type]
    prev = previous_period(view)
    assert (str(prev.start.date()), str(prev.end.date())) == ("2015-01-01", "2015-07-01")
    ten_days = replace(
        view,
        start=pd.Timestamp("2015-03-10", tz="America/New_York"),
        end=pd.Timestamp("2015-03-20", tz="America/New_York"),
    )
    prev = previous_period(ten_days)
    assert (str(prev.start.date()), str(prev.end.date())) == ("2015-02-28", "2015-03-10")
    assert prev.start.hour == 0 and prev.end.hour == 0  # local midnights across the DST change


def test_charts_draw_one_bar_per_quarter_and_escape_names(app, store):
    with store.begin() as conn:
        conn.execute(
            update(Quarter.__table__).where(Quarter.__table__.c.code == "2").values(name="Back <b>Bay</b>")
        )
    html = _client(app).get("/compare?" + _query(quarters="2,6")).get_data(as_text=True)
    bars = _svg(html, "chart-quarters")
    assert bars.count('<g class="bar">') == len(_rows(html)) == 26
    assert "<b>" not in bars and "Back &lt;b&gt;Bay&lt;/b&gt;" in bars
    assert '<title id="chart-quarters-title">' in bars and '<desc id="chart-quarters-desc">' in bars
    assert 'class="reference"' in bars  # the city's rate
    trend = _svg(html, "chart-trend")
    assert trend.count('<g class="series">') == 3  # the city and the two quarters asked for
    assert "<b>" not in trend and "Back &lt;b&gt;Bay&lt;/b&gt;" in trend
    assert trend.count('class="point"') >= 12
    assert "<b>Bay</b>" not in html  # nowhere on the page
    # the text alternative: the chart's figures as a table
    assert "Figures of the monthly chart" in html


def test_chart_functions_alone():
    bars = [Bar("A & <i>", 0.96, 'tip "A"'), Bar("B", None, "no data"), Bar("C", 0.4, "tip C")]
    svg = str(
        rate_bars(
            bars,
            chart_id="c1",
            title="T<",
            desc="D>",
            axis_label="x",
            tick_label=lambda t: f"{t:.0%}",
            value_label=lambda v: "—" if v is None else f"{v:.0%}",
        )
    )
    assert svg.count('<g class="bar">') == 3
    assert "<i>" not in svg and "A &amp; &lt;i&gt;" in svg and "tip &#34;A&#34;" in svg
    for rate in (0.96, None, 0.4):
        assert f'fill="{rate_colour(rate)}"' in svg
    assert "<script" not in svg and "href" not in svg
    line = str(
        rate_lines(
            ["2015-01", "2015-02", "2015-03"],
            ["Jan", "Feb", "Mar"],
            [Series("City", {"2015-01": 0.5, "2015-02": None, "2015-03": 0.9}, {"2015-01": "<x>"})],
            chart_id="c2",
            title="t",
            desc="d",
            axis_label="y",
            tick_label=str,
        )
    )
    assert line.count('class="point"') == 2  # no point for a month without a judged request
    assert line.count(" M") + line.count('d="M') == 2  # the line breaks at the gap
    assert "&lt;x&gt;" in line


def test_audit_grid_colours_follow_the_latest_answers(app, store):
    def entry(quarter, year, task, commitment, respected, comment=""):
        return AuditEntry(quarter, year, task, commitment, respected, comment)

    with store.begin() as conn:
        audit.record(
            conn,
            [
                entry("6", 2014, "proprete.graffiti", Answer.NON, Answer.NON, "old year"),
                entry("6", 2015, "proprete.graffiti", Answer.OUI, Answer.NON, "NON (marché en cours)"),
                entry("6", 2015, "proprete.depots", Answer.OUI, Answer.PARTIELLEMENT, "<script>x</script>"),
                entry("2", 2015, "gouvernance.demandes", Answer.NON, Answer.OUI),
            ],
        )
    with store.begin() as conn:  # a later change: the latest answer counts
        audit.record(conn, [entry("6", 2015, "proprete.graffiti", Answer.OUI, Answer.OUI, "fait")])
    client = _client(app)
    html = client.get("/compare?" + _query()).get_data(as_text=True)
    cells = {cell: answer for answer, cell in re.findall(r'<td class="(\w+)" data-cell="([^"]+)"', html)}
    assert "Audit of standard tasks · 2015" in html  # the latest year with answers
    assert cells["6:proprete.graffiti"] == "OUI"
    assert cells["6:proprete.depots"] == "PARTIELLEMENT"
    assert cells["2:gouvernance.demandes"] == "OUI"
    assert cells["6:proprete.voirie"] == "none"
    assert len(cells) == 26 * 20
    title = re.search(r'data-cell="6:proprete.graffiti" title="([^"]*)"', html).group(1)
    assert "Commitment: yes" in title and "Respected: yes" in title and "fait" in title
    assert "Commitment: no" in re.search(r'data-cell="2:gouvernance.demandes" title="([^"]*)"', html).group(1)
    assert "<script>x" not in html and "&lt;script&gt;x" in html
    old = client.get("/compare?" + _query(year="2014")).get_data(as_text=True)
    assert 'class="NON" data-cell="6:proprete.graffiti"' in old
    assert 'class="none" data-cell="6:proprete.depots"' in old
    # the colours: green, amber, red, grey
    css = (REPO / "static/css/geova.css").read_text()
    for answer, colour in (
        ("OUI", "#81c784"),
        ("PARTIELLEMENT", "#ffb74d"),
        ("NON", "#e57373"),
        ("none", "#e0e0e0"),
    ):
        assert f"table.audit-grid td.{answer}, .audit-key.{answer} {{ background: {colour}; }}" in css


def test_print_view_is_an_a4_landscape_page_without_navigation(app):
    client = _client(app)
    html = client.get("/compare/print?" + _query(sort="requests", dir="desc")).get_data(as_text=True)
    assert "@page { size: A4 landscape;" in html
    assert "<nav" not in html and 'class="top"' not in html and "<form" not in html
    assert "Requests resolved by the deadline Boston" in html  # the norm
    assert "Jul 1, 2015 to Dec 31, 2015" in html  # the period
    assert "Printed on" in html
    assert 'id="chart-quarters"' in html and 'id="chart-trend"' in html
    assert 'data-sort="' not in html  # no sorting links on paper
    counts = [int(r["requests"].replace(",", "")) for _code, r in _rows(html)]
    assert counts == sorted(counts, reverse=True)  # but the order asked for
    page = client.get("/compare?" + _query())
    assert "/compare/print?" in page.get_data(as_text=True)
