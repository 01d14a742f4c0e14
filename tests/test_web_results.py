"""The public results page: on-time rate per quarter and month, the norm/period form, the guide."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from app import create_app
from geova.evaluation import evaluate, territory_of
from geova.importing import import_interventions, load_extra_referential
from geova.store.records import RecordFilter
from geova.web.format import num, pct
from geova.web.queries import rate_colour
from tests.boston import load_quarters

REPO = Path(__file__).resolve().parents[1]
QUERY = "norm=boston.target&from=2015-01-01&to=2015-12-31&as_of=2016-04-01&lang=en"


@pytest.fixture
def store(engine):
    load_quarters(engine)
    import_interventions(
        engine, REPO / "data/boston/graffiti-removal.csv", REPO / "data/mappings/graffiti-removal.toml"
    )
    load_extra_referential(engine, REPO / "data/boston/norms.toml")
    return engine


@pytest.fixture
def page(db_url, store):
    app = create_app({"GEOVA_DATABASE_URL": db_url, "TESTING": True})
    response = app.test_client().get("/results?" + QUERY)  # no login: the page is public
    assert response.status_code == 200
    return app, response.get_data(as_text=True)


def _monthly_table(html: str) -> str:
    return html.split('<table class="data monthly">', 1)[1].split("</table>", 1)[0]


def test_results_show_months_as_columns_and_the_city_last(page, store):
    app, html = page
    table = _monthly_table(html)
    months = re.findall(r'data-month="([^"]+)"', table.split("</thead>", 1)[0])
    assert months == [f"2015-{m:02d}" for m in range(1, 13)]
    assert ">Jan<br>2015<" in table and ">Dec<br>2015<" in table
    rows = re.findall(r'<tr data-quarter="([^"]+)">(.*?)</tr>', table, re.S)
    assert rows[-1][0] == "city"  # the city row at the bottom
    assert len(rows) == 26 + 1  # every quarter, then the city
    assert all(body.count("<td") == 12 + 1 for _code, body in rows)  # the months, then the whole period

    tz = territory_of(store).timezone
    result = evaluate(
        store,
        as_of=pd.Timestamp("2016-04-01").tz_localize(tz),
        norm_codes=["boston.target"],
        by=["norm", "quarter", "month"],
        where=RecordFilter(
            reported_from=pd.Timestamp("2015-01-01").tz_localize(tz),
            reported_to=pd.Timestamp("2016-01-01").tz_localize(tz),
        ),
    )
    expected = result.aggregates.set_index(["quarter", "month"])
    cells = dict(rows)
    checked = 0
    with app.test_request_context("/?lang=en"):
        for (quarter, month), want in expected.iterrows():
            if quarter not in cells:
                continue
            tds = re.findall(
                r'<td class="rate[^"]*" style="background:([^"]+)"\s*title="([^"]*)">([^<]*)</td>',
                cells[quarter],
            )
            colour, title, text = tds[int(month[-2:]) - 1]
            assert text == pct(want["on_time_rate"])
            assert colour == rate_colour(want["on_time_rate"])
            assert title.startswith(f"{num(want['requests'])} requests")
            checked += 1
        city = result.group(["norm", "month"]).set_index("month")
        tds = re.findall(r'title="([^"]*)">([^<]*)</td>', cells["city"])
        for i, month in enumerate(f"2015-{m:02d}" for m in range(1, 13)):
            assert tds[i][1] == pct(city.at[month, "on_time_rate"])
            assert tds[i][0].startswith(f"{num(city.at[month, 'requests'])} requests")
    assert checked > 200


def test_results_have_the_view_form_and_the_guide(page):
    _app, html = page
    form = html.split('<form class="filters"', 1)[1].split("</form>", 1)[0]
    assert 'name="norm"' in form and 'value="boston.target" selected' in form
    assert 'name="from" value="2015-01-01"' in form and 'name="to" value="2015-12-31"' in form
    guide = html.split('<section id="guide"', 1)[1].split("</section>", 1)[0]
    assert "Who to call for what" in guide
    graffiti = re.search(r"<tr>\s*<th scope=\"row\">Graffiti</th>(.*?)</tr>", guide, re.S).group(1)
    assert "Requests resolved by the deadline Boston" in graffiti  # a norm that applies
    # a service that handles it, by its name (its QUEUE code PROP_GRAF_GraffitiRemoval is not shown)
    assert "Property Management – Graffiti Removal" in graffiti and "PROP_GRAF" not in graffiti
    assert "Citizens Connect App" in graffiti  # a channel used


def test_results_need_no_login_and_say_when_nothing_is_loaded(db_url):
    client = create_app({"GEOVA_DATABASE_URL": db_url, "TESTING": True}).test_client()
    page = client.get("/results?lang=en")
    assert page.status_code == 200
    assert "No territory loaded yet" in page.get_data(as_text=True)
