"""The page cache (geova.web.page_cache): a repeated view is served from it, and never stale.

What a visitor would notice: the same page twice is the same page (with a new script nonce each
time); after a write — a request reported, a request resolved — the next view shows the change,
exactly as an app without any cache shows it; a JSON feed answers 304 to a browser that holds it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine

from app import create_app
from geova.core import validity
from geova.importing import load_extra_referential
from tests.boston import load_quarters
from tests.test_web_correspondent import (
    DORCHESTER,
    NORM,
    REPO,
    csrf,
    fast_passwords,
    login,
    make_app,
    report_form,
)
from tests.test_web_services import rows, stored

NONCE = re.compile(r'nonce="([^"]+)"')
AS_OF = re.compile(r"\d{1,2}:\d{2}(?: [AP]M)?")  # the clock times a page shows, to the minute
OVERVIEW = f"/?norm={NORM}&lang=en"
RESULTS = f"/results?norm={NORM}&lang=en"
QUARTERS = f"/geo/quarters.geojson?norm={NORM}&lang=en"


@pytest.fixture(autouse=True)
def _fast_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_passwords(monkeypatch)


@pytest.fixture
def app(db_url: str, engine: Engine, tmp_path: Path) -> Iterator[Any]:
    for made in make_app(db_url, engine, tmp_path):
        # the store was loaded around the write path: its first view settles the verdicts (a write,
        # which moves the data version: what that view computed is not kept)
        made.test_client().get(f"/?norm={NORM}&lang=fr&from=2015-01-01")
        yield made


def uncached(app: Any) -> Any:
    """A second app on the same store without a cache: what the page is, computed again."""
    return create_app(
        {
            "GEOVA_DATABASE_URL": app.config["GEOVA_DATABASE_URL"],
            "TESTING": True,
            "SECRET_KEY": "test",
            "GEOVA_PAGE_CACHE": "none",
        }
    )


FOLIUM_ID = re.compile(r"_[0-9a-f]{32}(?![0-9a-f])")


def without_nonce(html: str) -> str:
    """The page without what differs between two renderings of it: the script nonce, and the ids
    folium draws at random for the map's elements."""
    return FOLIUM_ID.sub("_id", NONCE.sub('nonce=""', html))


def view(client: Any, url: str) -> tuple[str, bool]:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.get_data(as_text=True), response.headers.get("X-Geova-Cache") == "hit"


def resolve(agent: Any, engine: Engine, intervention_id: int) -> Any:
    """Resolve a request from the worklist an hour after its report (on time under every norm)."""
    reported = pd.Timestamp(stored(engine, intervention_id).reported_at).tz_convert("America/New_York")
    when = reported + pd.Timedelta(hours=1)
    return agent.post(
        f"/worklist/{intervention_id}/resolve",
        data={"resolved_at": when.strftime("%Y-%m-%dT%H:%M"), "csrf_token": csrf(agent)},
    )


def test_a_repeated_view_is_served_from_the_cache_with_a_new_nonce(app):
    client = app.test_client()
    first, hit = view(client, OVERVIEW)
    assert not hit
    response = client.get(OVERVIEW)
    again = response.get_data(as_text=True)
    assert response.headers.get("X-Geova-Cache") == "hit"
    assert without_nonce(again) == without_nonce(first)
    nonces = set(NONCE.findall(again))
    assert len(nonces) == 1 and nonces != set(NONCE.findall(first))
    assert f"'nonce-{nonces.pop()}'" in response.headers["Content-Security-Policy"]
    # another language or another query string is another page
    assert not view(client, OVERVIEW.replace("lang=en", "lang=fr"))[1]
    assert not view(client, OVERVIEW + "&from=2015-01-01&to=2015-06-30")[1]


def test_a_signed_in_page_is_never_served_to_another_session(app):
    """Two sessions of one account (a desk and a phone): each page's logout form carries its own
    session's CSRF token, so each one logs out (a page kept for the first would refuse the second)."""
    desk, phone = login(app, "elu"), login(app, "elu")
    for _ in range(2):
        assert not view(desk, OVERVIEW)[1]  # never from the cache for a signed-in visitor
    page, hit = view(phone, OVERVIEW)
    assert not hit
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    # feeds (no form, no token) are still kept per account
    view(desk, QUARTERS)
    assert view(desk, QUARTERS)[1]
    assert phone.get("/compare?lang=en").status_code == 200
    phone.post("/logout", data={"csrf_token": token.group(1)})  # refused if the token were the desk's
    assert phone.get("/compare?lang=en").status_code in (302, 401)  # logged out


def test_resolving_a_request_changes_the_next_public_views(app, engine):
    public = app.test_client()
    before = {url: view(public, url)[0] for url in (OVERVIEW, RESULTS, QUARTERS)}
    for url in before:
        assert view(public, url)[1], url  # cached now
    agent = login(app, "agent")
    first = rows(agent.get(f"/worklist?norm={NORM}&quarter={DORCHESTER}").get_data(as_text=True))[0]
    response = resolve(agent, engine, first)
    assert response.status_code == 302 and stored(engine, first).status == "resolved"
    fresh = uncached(app).test_client()
    for url, old in before.items():
        page, hit = view(public, url)
        assert not hit, url
        again = view(fresh, url)[0]
        if AS_OF.findall(page) != AS_OF.findall(again):
            # the two were rendered on either side of a minute, which the pages show ("figures as
            # of 11:42 AM"): both once more, within the same minute
            page, again = view(public, url)[0], view(fresh, url)[0]
        assert without_nonce(page) == without_nonce(again), url
        assert without_nonce(page) != without_nonce(old), url  # a request resolved on time shows


def test_reporting_a_request_changes_the_next_overview(app):
    public = app.test_client()
    view(public, OVERVIEW)
    assert view(public, OVERVIEW)[1]
    corr = login(app, "corr")
    response = corr.post(f"/quarters/{DORCHESTER}/report", data={**report_form(corr)})
    assert response.status_code == 302
    after, hit = view(public, OVERVIEW)
    assert not hit
    assert without_nonce(after) == without_nonce(view(uncached(app).test_client(), OVERVIEW)[0])


def test_a_json_feed_answers_304_until_a_write(app, engine):
    client = app.test_client()
    first = client.get(QUARTERS)
    etag = first.headers["ETag"]
    again = client.get(QUARTERS, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.get_data() == b""
    agent = login(app, "agent")
    one = rows(agent.get(f"/worklist?norm={NORM}").get_data(as_text=True))[0]
    resolve(agent, engine, one)
    changed = client.get(QUARTERS, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag


def test_a_page_is_kept_only_while_the_clock_leaves_it_unchanged():
    """The window a page is kept for (geova.core.validity), clock-driven or fixed."""
    with validity.collecting(1_000) as clocked:
        validity.judged_at(1_010, follows_clock=True)
        validity.stable(1_010, 900, 5_010)  # a due date at 5,010: the page changes then
    assert (clocked.low, clocked.high) == (890, 5_000) and clocked.usable
    with validity.collecting(1_000) as counted:
        validity.judged_at(1_010, follows_clock=True)
        validity.moment(1_010)  # counted in SQL: holds at its instant only
    assert not counted.usable
    with validity.collecting(1_000) as fixed:
        validity.judged_at(500, follows_clock=False)  # as_of asked for: the clock does not matter
        validity.stable(500, 400, 600)
        validity.moment(500)
    assert fixed.usable and (fixed.low, fixed.high) == (-validity.EVER, validity.EVER)
    with validity.collecting(1_000) as monthly:
        validity.until(2_000)  # the default period moves at the next month
    assert monthly.usable and monthly.high == 2_000


def test_an_overview_of_a_store_without_requests_is_served(db_url, engine):
    """Nothing reported yet: the period runs up to now (it moves at the next month), still a page."""
    load_quarters(engine)
    load_extra_referential(engine, REPO / "data/boston/norms.toml")
    app = create_app({"GEOVA_DATABASE_URL": db_url, "TESTING": True, "SECRET_KEY": "test"})
    client = app.test_client()
    for _ in range(3):
        assert client.get("/?lang=en").status_code == 200
