"""Field surveys, exploratory walks and residents' voice.

Pure figures first (Wilson interval, the sample, shares, survey norms, grid validation), then the
store and the web pages on both backends: the surveyor's JSON endpoint (idempotent re-send, photo
checks), results, walk observation -> request, the questionnaire (one answer per person, rate
limit, results, escaping, CSV neutralisation).
"""

from __future__ import annotations

import base64
import math
import re
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import shapely
from sqlalchemy import func, select

from geova.core.surveys import (
    ANY,
    DEFAULT_GRID,
    MET,
    NOT_ENOUGH,
    NOT_MET,
    OTHER,
    Graded,
    SurveyNorm,
    draw_sample,
    evaluate_survey_norm,
    perception_results,
    survey_results,
    wilson_interval,
)
from geova.io.errors import ImportFailure
from geova.io.referential_file import read_referential
from geova.store import surveys as store
from geova.store import voice as voice_store
from geova.store.db import write
from geova.store.schema import Intervention, SurveyEntry, VoiceAnswer, WalkObservation
from tests.test_web_correspondent import DORCHESTER, LAT, LON, csrf, login

Z = 1.959963984540054

# ---- the Wilson score interval ---------------------------------------------------------------------


def test_wilson_interval_against_values_computed_by_hand():
    # 0 of n: the lower bound is 0 and the upper one is z^2 / (n + z^2) (the formula with p = 0)
    low, high = wilson_interval(0, 10)
    assert low == 0.0
    assert high == pytest.approx(Z**2 / (10 + Z**2), abs=1e-12)  # 0.27753...
    # 3 of 10: statsmodels' proportion_confint(3, 10, method="wilson") = (0.10779127, 0.60322185)
    assert wilson_interval(3, 10) == pytest.approx((0.10779127, 0.60322185), abs=1e-8)
    # 12 of 40 by hand: p = .3, centre = (p + z²/2n) / (1 + z²/n), half = z/(1+z²/n) sqrt(p(1-p)/n + z²/4n²)
    p, n = 0.3, 40
    centre = (p + Z**2 / (2 * n)) / (1 + Z**2 / n)
    half = Z / (1 + Z**2 / n) * math.sqrt(p * (1 - p) / n + Z**2 / (4 * n * n))
    assert wilson_interval(12, 40) == pytest.approx((centre - half, centre + half), abs=1e-12)
    # symmetry: the interval of n - k is the mirror of the interval of k
    lo, hi = wilson_interval(7, 25)
    lo2, hi2 = wilson_interval(18, 25)
    assert (lo, hi) == pytest.approx((1 - hi2, 1 - lo2), abs=1e-12)
    with pytest.raises(ValueError):
        wilson_interval(0, 0)
    with pytest.raises(ValueError):
        wilson_interval(5, 4)


# ---- the sample ------------------------------------------------------------------------------------

Q1 = shapely.box(0, 0, 1, 1)
Q2 = shapely.box(1, 0, 2, 1)
SHOPS = shapely.box(0.1, 0.1, 0.4, 0.4)  # commercial, inside Q1
ESTATE = shapely.box(1.5, 0.5, 1.9, 0.9)  # sensitive, inside Q2
QUARTERS = [("Q2", Q2), ("Q1", Q1)]
ZONES = [("Z-SHOPS", "commercial", SHOPS), ("Z-ESTATE", "sensitive", ESTATE)]


def test_same_seed_same_sample_and_another_seed_another():
    first = draw_sample(QUARTERS, ZONES, 8, seed=2015)
    again = draw_sample(list(reversed(QUARTERS)), list(reversed(ZONES)), 8, seed=2015)
    assert first == again  # input order does not matter either
    other = draw_sample(QUARTERS, ZONES, 8, seed=2016)
    assert [(t.lon, t.lat) for t in other] != [(t.lon, t.lat) for t in first]
    assert [t.position for t in first] == list(range(1, 17))


def test_sample_is_stratified_as_configured():
    sample = draw_sample(QUARTERS, ZONES, 0, seed=7, allocation={"commercial": 3, "sensitive": 2, OTHER: 4})
    got: dict[tuple[str, str], int] = {}
    for t in sample:
        got[(t.quarter, t.zone_kind)] = got.get((t.quarter, t.zone_kind), 0) + 1
        point = shapely.Point(t.lon, t.lat)
        assert (Q1 if t.quarter == "Q1" else Q2).contains(point)
        if t.zone_kind == "commercial":
            assert SHOPS.contains(point) and t.zone == "Z-SHOPS"
        elif t.zone_kind == "sensitive":
            assert ESTATE.contains(point) and t.zone == "Z-ESTATE"
        else:
            assert not SHOPS.contains(point) and not ESTATE.contains(point) and t.zone is None
    # Q1 has no sensitive zone and Q2 no commercial one: those strata do not exist there
    assert got == {("Q1", "commercial"): 3, ("Q1", OTHER): 4, ("Q2", "sensitive"): 2, ("Q2", OTHER): 4}


def test_proportional_allocation_gives_each_stratum_one_and_the_rest_by_area():
    sample = draw_sample([("Q1", Q1)], ZONES, 10, seed=1)
    kinds = [t.zone_kind for t in sample]
    # areas .09 and .91: one each first, then 8 shared .09*8=.72 -> 0 (+1 largest remainder?) and 7.28
    # largest remainders: commercial .72, other .28 -> the 10th goes to commercial
    assert kinds.count("commercial") == 2 and kinds.count(OTHER) == 8


# ---- shares and norms ------------------------------------------------------------------------------


def _graded(quarter: str, kind: str, zone: str | None, litter: str, graffiti: str = "A") -> Graded:
    return Graded(quarter, kind, zone, {"litter": litter, "graffiti": graffiti})


SAMPLE = [
    _graded("Q1", "commercial", "Z1", "A"),
    _graded("Q1", "commercial", "Z1", "B"),  # B is acceptable
    _graded("Q1", "commercial", "Z1", "B-"),  # below
    _graded("Q1", OTHER, None, "C", "D"),  # below on both
    _graded("Q2", OTHER, None, "B+", "C"),  # below on graffiti only
]


def test_results_count_transects_below_the_acceptable_grade():
    rows = {(r.level, r.key, r.element): r for r in survey_results(SAMPLE, DEFAULT_GRID)}
    city_any = rows[("city", "", ANY)]
    assert (city_any.transects, city_any.below) == (5, 3)
    assert city_any.share == pytest.approx(0.6)
    assert (city_any.low, city_any.high) == pytest.approx(wilson_interval(3, 5))
    assert (rows[("city", "", "litter")].below, rows[("city", "", "graffiti")].below) == (2, 2)
    assert (rows[("quarter", "Q1", ANY)].transects, rows[("quarter", "Q1", ANY)].below) == (4, 2)
    assert (rows[("zone", "Z1", ANY)].transects, rows[("zone", "Z1", ANY)].below) == (3, 1)
    assert (rows[("zone_kind", OTHER, ANY)].transects, rows[("zone_kind", OTHER, ANY)].below) == (2, 2)
    assert ("city", "", "detritus") not in rows  # not graded on detritus: not counted


def test_survey_norm_met_not_met_and_not_enough_transects():
    norm = SurveyNorm("n", "cop", "n", "n", max_share=34, zone_kinds=("commercial",), min_transects=3)
    outcome = evaluate_survey_norm(norm, SAMPLE, DEFAULT_GRID)
    assert (outcome.verdict, outcome.transects, outcome.below) == (MET, 3, 1)  # 33.3 % <= 34 %
    strict = SurveyNorm("n", "cop", "n", "n", max_share=10, zone_kinds=("commercial",), min_transects=3)
    assert evaluate_survey_norm(strict, SAMPLE, DEFAULT_GRID).verdict == NOT_MET
    few = SurveyNorm("n", "cop", "n", "n", max_share=10, zone_kinds=("commercial",), min_transects=4)
    assert evaluate_survey_norm(few, SAMPLE, DEFAULT_GRID).verdict == NOT_ENOUGH
    none = SurveyNorm("n", "cop", "n", "n", max_share=10, zone_kinds=("sensitive",))
    assert evaluate_survey_norm(none, SAMPLE, DEFAULT_GRID).share is None
    litter = SurveyNorm("n", "cop", "n", "n", max_share=40, element="litter", min_transects=5)
    assert evaluate_survey_norm(litter, SAMPLE, DEFAULT_GRID).verdict == MET  # 2 of 5 = 40 %


def test_perception_mean_and_distribution():
    rows = {(p.key, p.question): p for p in perception_results([("Q1", 4, 2), ("Q1", 5, None), ("Q1", 1, 2)])}
    assert rows[("Q1", "cleanliness")].mean == pytest.approx(10 / 3)
    assert rows[("Q1", "cleanliness")].distribution == {1: 1, 2: 0, 3: 0, 4: 1, 5: 1}
    assert (rows[("Q1", "safety")].answers, rows[("Q1", "safety")].mean) == (2, 2.0)


# ---- the referential -------------------------------------------------------------------------------


def test_the_shipped_referential_has_both_grids_and_a_survey_norm():
    ref = read_referential(Path(__file__).resolve().parents[1] / "data/referential.toml")
    grids = {g.code: g for g in ref.grids}
    assert grids["cop"].grades == ("A", "B+", "B", "B-", "C", "D") and grids["cop"].acceptable == "B"
    assert [e.code for e in grids["cop"].elements] == ["litter", "detritus", "graffiti", "flyposting"]
    assert grids["familles04"].grades == ("0", "1", "2", "3", "4")
    assert [n.code for n in ref.survey_norms] == ["survey.commercial.10"]


GRID = """
[[survey_grid]]
code = "g04"
label_fr = "g"
label_en = "g"
grades = ["0", "1", "2"]
acceptable = "{acceptable}"
  [[survey_grid.element]]
  code = "papiers"
  label_fr = "p"
  label_en = "p"

[[survey_norm]]
code = "n1"
grid = "{grid}"
label_fr = "n"
label_en = "n"
max_share = {share}
"""


def test_grid_and_survey_norm_errors_name_the_table_and_key(tmp_path):
    path = tmp_path / "ref.toml"
    path.write_text(GRID.format(acceptable="3", grid="g04", share=10), encoding="utf-8")
    with pytest.raises(ImportFailure) as exc:
        read_referential(path)
    assert "[[survey_grid]] 'g04' (line 2), key 'acceptable' (line 7)" in str(exc.value)
    assert "'3' is not one of the grades" in str(exc.value)
    path.write_text(GRID.format(acceptable="1", grid="nope", share=10), encoding="utf-8")
    with pytest.raises(ImportFailure) as exc:
        read_referential(path)
    assert "[[survey_norm]] 'n1'" in str(exc.value) and "key 'grid'" in str(exc.value)
    assert "unknown grid 'nope'" in str(exc.value)
    path.write_text(GRID.format(acceptable="1", grid="g04", share=120), encoding="utf-8")
    with pytest.raises(ImportFailure) as exc:
        read_referential(path)
    assert "key 'max_share'" in str(exc.value)
    path.write_text(GRID.format(acceptable="1", grid="g04", share=10), encoding="utf-8")
    assert read_referential(path).grids[0].acceptable == "1"


# ---- store and web (both backends) -----------------------------------------------------------------


@pytest.fixture
def app(boston_app):
    return boston_app


def _campaign(engine, code="spring", size=0, seed=42, allocation=None) -> list[dict[str, Any]]:
    allocation = allocation if allocation is not None else {"commercial": 2, OTHER: 1}
    with write(engine) as conn:
        store.create_campaign(
            conn, code, "Spring survey", "cop", date(2015, 4, 1), date(2015, 6, 30), size, seed, allocation
        )
        store.draw(conn, code)
    with engine.connect() as conn:
        return store.transects(conn, code)


def test_campaign_sample_is_stored_reproducibly_per_quarter_and_kind(app, engine):
    rows = _campaign(engine)
    again = _campaign(engine, code="spring-bis")
    assert [(r["lon"], r["lat"], r["quarter"]) for r in rows] == [
        (r["lon"], r["lat"], r["quarter"]) for r in again
    ]
    quarters = {r["quarter"] for r in rows}
    assert len(quarters) == 26  # Boston's neighbourhoods, one "other" transect each
    assert sum(r["zone_kind"] == OTHER for r in rows) == 26
    commercial = [r for r in rows if r["zone_kind"] == "commercial"]
    assert commercial and all(r["zone"].startswith("ZPC-") for r in commercial)
    with write(engine) as conn:  # drawing again gives the same sample
        store.draw(conn, "spring")
    with engine.connect() as conn:
        assert store.transects(conn, "spring") == rows
    with pytest.raises(ValueError, match="grid: unknown grid"), write(engine) as conn:
        store.create_campaign(conn, "x", "X", "nope", date(2015, 1, 1), date(2015, 2, 1), 3, 1)


def _token(client) -> str:
    return csrf(client)


def _post(client, token, **entry):
    return client.post(
        f"/surveys/{entry.pop('code', 'spring')}/entries", json=entry, headers={"X-CSRFToken": token}
    )


def _entry(position: int, litter: str, graffiti: str = "A", **extra: Any) -> dict[str, Any]:
    return {
        "entry_id": str(uuid.uuid4()),
        "position": position,
        "grades": {"litter": litter, "graffiti": graffiti},
        "note": None,
        "graded_at": "2015-05-04T10:00:00+02:00",
        **extra,
    }


def test_grading_through_the_json_endpoint_is_idempotent_and_gives_the_shares(app, engine):
    rows = _campaign(engine)
    client = login(app, "corr")
    page = client.get("/surveys/spring/grade")
    assert page.status_code == 200 and "survey.js" in page.get_data(as_text=True)
    token = _token(client)
    grades = ["A", "B", "C", "B-", "B+", "D"]  # below: C, B-, D
    entries = [_entry(i + 1, g) for i, g in enumerate(grades)]
    for e in entries:
        response = _post(client, token, **e)
        assert response.status_code == 201, response.get_json()
    for e in entries[:3]:  # the browser did not get the answers and sends again
        response = _post(client, token, **e)
        assert response.status_code == 200 and response.get_json()["stored"] is False
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(SurveyEntry.__table__)).scalar_one() == 6
        results = {(r.level, r.key, r.element): r for r in store.campaign_results(conn, "spring")}
    city = results[("city", "", ANY)]
    assert (city.transects, city.below) == (6, 3)
    assert (city.low, city.high) == pytest.approx(wilson_interval(3, 6))
    by_quarter: dict[str, list[int]] = {}
    for row, g in zip(rows, grades, strict=False):
        counts = by_quarter.setdefault(row["quarter"], [0, 0])
        counts[0] += 1
        counts[1] += g in ("B-", "C", "D")
    for quarter, (n, below) in by_quarter.items():
        assert (results[("quarter", quarter, ANY)].transects, results[("quarter", quarter, ANY)].below) == (
            n,
            below,
        )
    # a later grading of the same transect replaces the earlier one in the figures
    assert _post(client, token, **_entry(3, "A")).status_code == 201
    with engine.connect() as conn:
        city = {(r.level, r.element): r for r in store.campaign_results(conn, "spring")}[("city", ANY)]
    assert (city.transects, city.below) == (6, 2)
    html = login(app, "elu").get("/surveys/spring/results?lang=en").get_data(as_text=True)
    assert "33.3 %" in html and "Survey results" in html


def test_the_json_endpoint_refuses_bad_entries_clearly(app, engine):
    _campaign(engine)
    client = login(app, "corr")
    token = _token(client)
    bad = _post(client, token, **_entry(1, "E"))
    assert bad.status_code == 400 and "grade 'E'" in bad.get_json()["error"]
    assert (
        "element" in _post(client, token, **_entry(1, "A") | {"grades": {"smell": "A"}}).get_json()["error"]
    )
    assert "no transect 999" in _post(client, token, **_entry(999, "A")).get_json()["error"]
    assert "entry_id" in _post(client, token, **_entry(1, "A") | {"entry_id": "x" * 36}).get_json()["error"]
    assert _post(client, token, **_entry(1, "A"), code="nope").status_code == 404
    assert client.post("/surveys/spring/entries", json=_entry(1, "A")).status_code == 400  # no CSRF token
    as_form = client.post("/surveys/spring/entries", data={"position": "1"}, headers={"X-CSRFToken": token})
    assert as_form.status_code == 400 and "Content-Type: application/json" in as_form.get_json()["error"]
    huge = _entry(1, "A", photo={"type": "image/png", "data": "A" * (4 * 1024 * 1024)})
    assert _post(client, token, **huge).status_code == 413
    official = login(app, "elu")
    assert _post(official, _token(official), **_entry(1, "A")).status_code == 403


PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def test_a_photo_is_checked_and_stored_under_the_instance_folder(app, engine, _instance):
    _campaign(engine)
    client = login(app, "corr")
    token = _token(client)
    fake = {"type": "image/png", "data": base64.b64encode(b"<svg onload=alert(1)>").decode()}
    response = _post(client, token, **_entry(1, "A", photo=fake))
    assert response.status_code == 400 and "not a image/png" in response.get_json()["error"]
    wrong = {"type": "text/html", "data": base64.b64encode(PNG).decode()}
    assert "type 'text/html'" in _post(client, token, **_entry(1, "A", photo=wrong)).get_json()["error"]
    entry = _entry(1, "A", photo={"type": "image/png", "data": base64.b64encode(PNG).decode()})
    assert _post(client, token, **entry).status_code == 201
    stored = Path(app.instance_path) / "survey_photos" / f"{entry['entry_id']}.png"
    assert stored.read_bytes() == PNG
    elu = login(app, "elu")
    results = elu.get("/surveys/spring/results?lang=en").get_data(as_text=True)
    assert f'href="/surveys/photos/{entry["entry_id"]}"' in results
    served = elu.get(f"/surveys/photos/{entry['entry_id']}")
    assert served.status_code == 200 and served.data == PNG and served.mimetype == "image/png"
    served.close()


def test_a_walk_observation_becomes_a_request_in_one_click(app, engine):
    client = login(app, "corr")
    with engine.connect() as conn:
        before = conn.execute(select(func.count()).select_from(Intervention.__table__)).scalar_one()
    response = client.post(
        "/walks",
        data={
            "walk": "Marche Dorchester 12/05",
            "category": "graffiti",
            "latitude": str(LAT),
            "longitude": str(LON),
            "note": "<b>Tag</b> near the school",
            "csrf_token": csrf(client),
        },
    )
    assert response.status_code == 302
    page = client.get("/walks").get_data(as_text=True)
    assert "&lt;b&gt;Tag&lt;/b&gt; near the school" in page and "<b>Tag</b>" not in page
    with engine.connect() as conn:
        obs = conn.execute(select(WalkObservation.__table__)).one()
    for _ in range(2):  # a second click makes no second request
        assert client.post(f"/walks/{obs.id}/request", data={"csrf_token": csrf(client)}).status_code == 302
    iv = Intervention.__table__
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(iv)).scalar_one() == before + 1
        linked = conn.execute(select(WalkObservation.__table__.c.intervention_id)).scalar_one()
        row = conn.execute(select(iv).where(iv.c.id == linked)).one()
    assert row.category_code == "graffiti" and row.status == "new"
    assert row.description == "[Marche Dorchester 12/05] <b>Tag</b> near the school"
    assert row.quarter_id is not None
    assert client.post(f"/walks/{obs.id}/request").status_code == 400  # no CSRF token


def _voice(engine, code="voice-dor", quarter=DORCHESTER):
    with write(engine) as conn:
        voice_store.create_voice_campaign(
            conn, code, "Your quarter", date(2015, 1, 1), date(2100, 12, 31), quarter
        )


def _answer(client, code="voice-dor", **data):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    page = client.get(f"/v/{code}")
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.get_data(as_text=True))
    form = {"cleanliness": "4", "safety": "2", "comment": "", **data}
    if token:
        form["csrf_token"] = token.group(1)
    return client.post(f"/v/{code}", data=form)


def _answers(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(VoiceAnswer.__table__)).scalar_one()


def test_one_answer_per_person_then_a_limit_per_address(app, engine):
    _voice(engine)
    person = app.test_client()
    first = _answer(person, comment='=HYPERLINK("http://x") <script>alert(1)</script>')
    assert first.status_code == 200 and "answer is recorded" in first.get_data(as_text=True)
    again = person.post("/v/voice-dor", data={"cleanliness": "1", "csrf_token": csrf(person)})
    assert again.status_code == 409 and _answers(engine) == 1
    assert "already answered" in person.get("/v/voice-dor?lang=en").get_data(as_text=True)
    # a forged cookie is worth nothing: a new token, a new person
    forged = app.test_client()
    forged.set_cookie(next(c.key for c in person._cookies.values()), "forged", path="/v/voice-dor")
    assert _answer(forged, cleanliness="5", safety="5").status_code == 200
    # clearing cookies gives a new token, but the address is limited to 3 stored answers a day
    assert _answer(app.test_client(), cleanliness="3").status_code == 200
    limited = _answer(app.test_client(), cleanliness="1")
    assert limited.status_code == 429 and _answers(engine) == 3
    # another address is not limited
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "192.0.2.9"
    assert _answer(other, cleanliness="2", safety=None).status_code == 200
    elu = login(app, "elu")
    html = elu.get("/voice/voice-dor/results?lang=en").get_data(as_text=True)
    row = re.search(r'<tr data-level="quarter" data-key="6">(.*?)</tr>', html, re.S)
    assert row, html
    cells = re.findall(r'class="mean">([^<]*)<', row.group(1))
    assert cells == [f"{(4 + 5 + 3 + 2) / 4:.2f}", f"{(2 + 5 + 2) / 3:.2f}"]  # 3.50 and 3.00
    assert "1: 0 · 2: 1 · 3: 1 · 4: 1 · 5: 1" in row.group(1)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html
    csv = elu.get("/voice/voice-dor/answers.csv").get_data(as_text=True)
    assert "'=HYPERLINK" in csv and ";=HYPERLINK" not in csv


def test_city_questionnaire_asks_the_quarter_and_the_qr_code_is_svg(app, engine):
    _voice(engine, code="city", quarter=None)
    client = app.test_client()
    assert _answer(client, code="city", quarter="nope").status_code == 400
    assert _answer(app.test_client(), code="city", quarter=DORCHESTER).status_code == 200
    with engine.connect() as conn:
        assert voice_store.answers(conn, "city")[0]["quarter_code"] == DORCHESTER
    svg = client.get("/v/city/qr.svg")
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
    text = svg.get_data(as_text=True)
    assert text.lstrip().startswith("<svg") and "http://localhost/v/city" in text
    assert client.get("/v/nope").status_code == 404


def test_the_demo_ships_an_example_survey_and_questionnaire_labelled_as_such(app, engine):
    from geova.demo_surveys import QUESTIONNAIRE, SURVEY, build_example_surveys

    assert build_example_surveys(engine) is True
    assert build_example_surveys(engine) is False  # a second demo build adds nothing
    with engine.connect() as conn:
        campaign = store.campaign(conn, SURVEY)
        rows = store.transects(conn, SURVEY)
        norms = store.campaign_norms(conn, SURVEY)
        assert campaign is not None and campaign.example
        assert rows and all(r["grades"] for r in rows)
        assert store.entry_count(conn, SURVEY) == len(rows)
        assert len(voice_store.answers(conn, QUESTIONNAIRE)) == 36
    commercial = [r for r in rows if r["zone_kind"] == "commercial"]
    below = sum(any(DEFAULT_GRID.below(g) for g in r["grades"].values()) for r in commercial)
    outcome = {o.norm.code: o for o in norms}["survey.commercial.10"]
    assert (outcome.transects, outcome.below) == (len(commercial), below)
    assert outcome.verdict == (MET if below / len(commercial) <= 0.10 else NOT_MET)
    elu = login(app, "elu")
    assert "Example data" in elu.get(f"/surveys/{SURVEY}/results?lang=en").get_data(as_text=True)
    html = elu.get(f"/voice/{QUESTIONNAIRE}/results?lang=en").get_data(as_text=True)
    assert "Example data" in html and 'data-key="6"' in html
    # perceived beside measured: Dorchester's share of transects below B, and its on-time rate
    dorchester = [r for r in rows if r["quarter"] == DORCHESTER]
    n_below = sum(any(DEFAULT_GRID.below(g) for g in r["grades"].values()) for r in dorchester)
    low, high = wilson_interval(n_below, len(dorchester))
    row = re.search(r'<tr data-level="quarter" data-key="6">(.*?)</tr>', html, re.S).group(1)
    survey_cell = re.search(r'class="survey">([^<]*)<', row).group(1)
    share = n_below / len(dorchester) * 100
    assert survey_cell == f"{share:.0f} % ({low * 100:.0f}–{high * 100:.0f} %, n={len(dorchester)})"
    on_time = re.search(r'class="on-time">([^<]*)<', row).group(1)
    assert on_time == f"{_on_time_rate(engine, DORCHESTER) * 100:.0f} %"


def _on_time_rate(engine, quarter: str) -> float:
    """Requests reported in April–June 2015 in the quarter under the headline norm (72 h from the
    report): on time / (on time + late + open and overdue), counted here from the rows."""
    from geova.store.schema import Quarter

    iv, q = Intervention.__table__, Quarter.__table__
    with engine.connect() as conn:
        rows = conn.execute(
            select(iv.c.reported_at, iv.c.resolved_at)
            .join(q, q.c.id == iv.c.quarter_id)
            .where(q.c.code == quarter, iv.c.category_code == "friche")
        ).all()
    boston = ZoneInfo("America/New_York")  # the store's time zone: the period's days are Boston's
    start, end = datetime(2015, 4, 1, tzinfo=boston), datetime(2015, 7, 1, tzinfo=boston)
    on_time = judged = 0
    for reported, resolved in rows:
        if not start <= reported < end:
            continue
        hours = ((resolved or datetime.now(UTC)) - reported).total_seconds() / 3600
        judged += 1  # every request of 2015 is either resolved or long overdue by now
        on_time += resolved is not None and hours <= 72
    return on_time / judged


def test_pages_answer_in_both_languages_and_only_to_their_roles(app, engine):
    from geova.demo_surveys import QUESTIONNAIRE, SURVEY, build_example_surveys

    build_example_surveys(engine)
    pages = {
        "/surveys": ("corr", "agent", "elu"),
        f"/surveys/{SURVEY}/results": ("corr", "agent", "elu"),
        f"/surveys/{SURVEY}/grade": ("corr", "agent"),
        "/walks": ("corr", "agent"),
        "/voice": ("corr", "agent", "elu"),
        f"/voice/{QUESTIONNAIRE}/results": ("corr", "agent", "elu"),
    }
    clients = {name: login(app, name) for name in ("corr", "agent", "elu", "admin")}
    expected_fr = {
        "/surveys": "Relevés de propreté",
        "/walks": "Marches exploratoires",
        "/voice": "Parole des habitants",
    }
    for path, allowed in pages.items():
        for name, client in clients.items():
            status = client.get(f"{path}?lang=fr").status_code
            assert status == (200 if name in allowed or name == "admin" else 403), (path, name)
        assert app.test_client().get(path).status_code == 302  # to the login page
        if path in expected_fr:
            assert expected_fr[path] in clients["admin"].get(f"{path}?lang=fr").get_data(as_text=True)
    closed = app.test_client().get(f"/v/{QUESTIONNAIRE}?lang=fr").get_data(as_text=True)
    assert "Ce questionnaire est ouvert du 1 avr. 2015 au 30 juin 2015." in closed and "<form" not in closed
    _voice(engine, code="open-city", quarter=None)
    public = app.test_client().get("/v/open-city?lang=fr").get_data(as_text=True)
    assert "Êtes-vous satisfait de la propreté ici ?" in public and "Choisissez votre quartier" in public
    assert app.test_client().get("/surveys/nope/results").status_code == 302
    assert clients["elu"].get("/surveys/nope/results").status_code == 404


def test_survey_and_voice_commands(db_url, engine):
    import json

    from click.testing import CliRunner

    from geova.cli import cli
    from tests.boston import load_quarters, load_zones

    load_quarters(engine)
    load_zones(engine)

    def geova(*args: str) -> Any:
        return CliRunner().invoke(cli, ["--db", db_url, *args], catch_exceptions=False)

    made = geova(
        "survey",
        "create",
        "s1",
        "--name",
        "S1",
        "--from",
        "2015-04-01",
        "--to",
        "2015-06-30",
        "--seed",
        "3",
        "--allocation",
        "other=1",
        "--allocation",
        "commercial=1",
    )
    assert made.exit_code == 0, made.output
    with engine.connect() as conn:
        n = len(store.transects(conn, "s1"))
        first = store.transects(conn, "s1")
    assert n > 26 and f"{n} transects drawn" in made.output
    again = geova("survey", "draw", "s1")
    assert again.exit_code == 0 and f"{n} transects drawn" in again.output
    with engine.connect() as conn:
        assert store.transects(conn, "s1") == first
    results = geova("survey", "results", "s1", "--format", "json")
    assert json.loads(results.output)["norms"][0]["verdict"] == NOT_ENOUGH
    bad = geova(
        "survey",
        "create",
        "s2",
        "--name",
        "S2",
        "--from",
        "2015-04-01",
        "--to",
        "2015-06-30",
        "--seed",
        "3",
        "--allocation",
        "commercial",
    )
    assert bad.exit_code == 2 and "KIND=COUNT" in bad.output
    grid = geova(
        "survey",
        "create",
        "s3",
        "--name",
        "S3",
        "--from",
        "2015-04-01",
        "--to",
        "2015-06-30",
        "--seed",
        "3",
        "--grid",
        "nope",
    )
    assert grid.exit_code == 2 and "grid: unknown grid 'nope'" in grid.output
    assert geova("survey", "results", "nope").exit_code == 2
    voice = geova(
        "voice", "create", "v1", "--name", "V", "--from", "2015-04-01", "--to", "2015-06-30", "--quarter", "6"
    )
    assert voice.exit_code == 0 and "/v/v1/qr.svg" in voice.output
    assert (
        "unknown quarter"
        in geova(
            "voice",
            "create",
            "v2",
            "--name",
            "V",
            "--from",
            "2015-04-01",
            "--to",
            "2015-06-30",
            "--quarter",
            "nope",
        ).output
    )


def test_the_same_entry_sent_twice_at_once_is_stored_once(app, engine):
    import threading

    _campaign(engine)
    entry_id = str(uuid.uuid4())
    when = datetime(2015, 5, 4, 8, 0, tzinfo=UTC)
    results: list[bool] = []

    def send() -> None:
        with write(engine) as conn:
            results.append(store.record_entry(conn, "spring", entry_id, 1, {"litter": "C"}, None, "b", when))

    with write(engine) as conn:  # the first request holds its transaction while the second arrives
        results.append(store.record_entry(conn, "spring", entry_id, 1, {"litter": "C"}, None, "a", when))
        other = threading.Thread(target=send)
        other.start()
        other.join(timeout=0.5)
    other.join(timeout=30)
    assert sorted(results) == [False, True]
    with engine.connect() as conn:
        assert store.entry_count(conn, "spring") == 1


def test_a_zone_questionnaire_keeps_its_zone_and_refuses_bad_scores(app, engine):
    with write(engine) as conn:
        voice_store.create_voice_campaign(
            conn, "shops", "Shopkeepers", date(2015, 1, 1), date(2015, 12, 31), zone="ZPC-01"
        )
        when = datetime(2015, 3, 1, tzinfo=UTC)
        assert voice_store.record_answer(conn, "shops", "r1", 2, 4, "Bins full", when, quarter="6")
        assert voice_store.record_answer(conn, "shops", "r2", 4, None, None, when)
        assert not voice_store.record_answer(conn, "shops", "r1", 5, 5, None, when)  # answered already
        with pytest.raises(ValueError, match="cleanliness: a score from 1 to 5"):
            voice_store.record_answer(conn, "shops", "r3", 6, None, None, when)
        with pytest.raises(ValueError, match="answer at least one question"):
            voice_store.record_answer(conn, "shops", "r4", None, None, "only a comment", when)
        with pytest.raises(ValueError, match="zone: unknown zone"):
            voice_store.create_voice_campaign(conn, "x", "X", date(2015, 1, 1), date(2015, 2, 1), zone="nope")
    with engine.connect() as conn:
        rows = voice_store.answers(conn, "shops")
        perceived = voice_store.perception(conn, "shops")
    assert {(r["zone_code"], r["quarter_code"]) for r in rows} == {("ZPC-01", None)}  # the zone's own
    zone = {p.question: p for p in perceived["zone"]}
    assert (zone["cleanliness"].answers, zone["cleanliness"].mean) == (2, 3.0)
    assert (zone["safety"].answers, zone["safety"].mean) == (1, 4.0)
    assert perceived["quarter"] == []


def test_the_monthly_report_shows_the_survey_of_its_period(app, engine):
    """The committee's report carries the campaign that overlaps its month: the city's share below
    the acceptable grade with its interval, each quarter's, and the survey norms (issue 12)."""
    from geova.reports import build_report, parse_period

    rows = _campaign(engine)
    client = login(app, "corr")
    token = _token(client)
    grades = ["A", "B", "C", "B-"]  # two of four below B
    for i, g in enumerate(grades):
        assert _post(client, token, **_entry(i + 1, g)).status_code == 201
    figures = build_report(engine, parse_period("2015-05"))
    survey = figures["survey"]
    assert survey["campaign"] == "spring" and survey["name"] == "Spring survey"
    city = next(r for r in survey["rows"] if r["level"] == "city")
    assert (city["transects"], city["below"]) == (4, 2) and city["share"] == pytest.approx(0.5)
    assert (city["low"], city["high"]) == pytest.approx(wilson_interval(2, 4))
    quarter = rows[0]["quarter"]
    mine = [g in ("B-", "C", "D") for r, g in zip(rows, grades, strict=False) if r["quarter"] == quarter]
    row = next(r for r in survey["rows"] if r["level"] == "quarter" and r["key"] == quarter)
    assert (row["transects"], row["below"]) == (len(mine), sum(mine))
    # the shipped norm wants 10 commercial transects; four graded in all are not enough
    assert [(n["code"], n["verdict"]) for n in survey["norms"]] == [("survey.commercial.10", "not_enough")]
    # the quarter's own report keeps its quarter only, and the page shows the section
    own = build_report(engine, parse_period("2015-05"), quarter)["survey"]
    assert {(r["level"], r["key"]) for r in own["rows"] if r["level"] != "zone"} == {("quarter", quarter)}
    html = login(app, "elu").get("/reports?period=2015-05&lang=en").get_data(as_text=True)
    assert "Field survey: Spring survey" in html and "50.0 %" in html
    # a month the campaign does not cover has no survey section
    assert build_report(engine, parse_period("2015-09"))["survey"] is None


def test_the_comparison_shows_each_quarters_survey_beside_its_requests(app, engine):
    """Officials compare quarters on the request figures and, in the same table, on the field
    survey of the period: the share of graded transects below the acceptable grade."""
    rows = _campaign(engine)
    client = login(app, "corr")
    token = _token(client)
    grades = ["C", "A", "D", "B"]
    for i, g in enumerate(grades):
        assert _post(client, token, **_entry(i + 1, g)).status_code == 201
    expected: dict[str, list[int]] = {}
    for r, g in zip(rows, grades, strict=False):
        counts = expected.setdefault(r["quarter"], [0, 0])
        counts[0] += 1
        counts[1] += g in ("B-", "C", "D")
    html = login(app, "elu").get("/compare?from=2015-04-01&to=2015-06-30&lang=en").get_data(as_text=True)
    assert "Survey: below acceptable" in html and 'data-survey="spring"' in html
    for quarter, (n, below) in expected.items():
        row = re.search(rf'<tr data-quarter="{re.escape(quarter)}">(.*?)</tr>', html, re.S)
        assert row, quarter
        cell = re.search(r'data-figure="survey">(?:<span[^>]*>)?([^<]+)<', row.group(1))
        assert cell and cell.group(1).strip() == f"{100 * below / n:.1f} %", (quarter, cell)
    city = re.search(r'<tr data-quarter="city">(.*?)</tr>', html, re.S)
    assert city and "50.0 %" in city.group(1)
    # a period no campaign overlaps: no survey column
    later = login(app, "elu").get("/compare?from=2015-09-01&to=2015-10-31&lang=en").get_data(as_text=True)
    assert "Survey: below acceptable" not in later
