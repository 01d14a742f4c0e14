"""One request's page, and the report form's insulting box, severity and photo (both backends).

Same store as tests/test_web_correspondent.py: Boston's neighbourhoods and priority zones, the 2015
"trash on vacant lot" requests, the OVA referential plus Boston's norms, one account per role
(``corr`` is Dorchester's correspondent). Due dates and lateness below are computed from the
referential's figures (nantes.graffiti.48h: 48 h; boston.target: a week for a report made in
geova), not by geova's code.
"""

from __future__ import annotations

import html
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import Engine, func, select

from geova.store import edits
from geova.store.db import write
from geova.store.schema import Intervention, InterventionEvent, Quarter
from geova.store.status import AS_OF, set_setting
from tests.test_web_correspondent import DORCHESTER, LAT, LON, csrf, login

IV = Intervention.__table__
EV = InterventionEvent.__table__
REPORTED = datetime(2015, 7, 1, 12, 0, tzinfo=UTC)
GRAFFITI_HOURS = 48  # nantes.graffiti.48h
BOSTON_OWN_HOURS = 168  # boston.target's figure for a report made in geova
GPS_IFD = 0x8825
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture
def app(boston_app: Any) -> Any:
    return boston_app


def report(engine: Engine, *, insulting: bool = False, description: str = "Tag on the wall") -> int:
    with write(engine) as conn:
        return edits.report_intervention(
            conn, "graffiti", description, "31 Selden St", LON, LAT, "corr", REPORTED, insulting=insulting
        )


def set_clock(engine: Engine, when: datetime) -> None:
    with write(engine) as conn:
        set_setting(conn, AS_OF, when.isoformat())


def days_hours(hours: float) -> str:
    whole = int(hours)
    d, h = divmod(whole, 24)
    return f"{d} d {h} h" if d else f"{h} h"


def norm_row(page: str, code: str) -> str:
    start = page.index(f'data-norm="{code}"')
    return page[start : page.index("</tr>", start)]


def count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(IV)).scalar_one())


# -- the page ------------------------------------------------------------------------------------


def test_the_page_shows_the_norm_its_due_date_and_how_late_at_the_territory_clock(app, engine):
    new = report(engine, insulting=True)
    clock = REPORTED + timedelta(days=3, hours=5, minutes=30)
    set_clock(engine, clock)
    page = login(app, "corr").get(f"/requests/{new}").get_data(as_text=True)
    due = REPORTED + timedelta(hours=GRAFFITI_HOURS)
    row = norm_row(page, "nantes.graffiti.48h")
    assert f'data-due="{due.isoformat()}"' in row.replace("+00:00", "+00:00")
    assert 'data-state="open_overdue"' in row
    assert f"open, overdue by {days_hours((clock - due).total_seconds() / 3600)}" in row  # 1 d 5 h
    assert "48 h" in row
    # the same request resolved 2 h after its due date: late by 2 h, whatever the clock
    with write(engine) as conn:
        edits.resolve(conn, new, due + timedelta(hours=2), "Cleaned", "agent")
    row = norm_row(login(app, "corr").get(f"/requests/{new}").get_data(as_text=True), "nantes.graffiti.48h")
    assert 'data-state="late"' in row and "late by 2 h" in row


def test_an_open_request_says_when_it_is_due(app, engine):
    new = report(engine)
    set_clock(engine, REPORTED + timedelta(hours=10))
    page = login(app, "agent").get(f"/requests/{new}").get_data(as_text=True)
    row = norm_row(page, "boston.target")
    assert f"open, due in {days_hours(BOSTON_OWN_HOURS - 10)}" in row  # 6 d 14 h
    assert "nantes.graffiti.48h" not in page  # neither insulting nor in a priority zone


def test_history_and_notes_per_role(app, engine):
    new = report(engine)
    with write(engine) as conn:
        edits.transition(conn, new, "acknowledged", "agent", "Crew busy on Monday", public=False)
        edits.add_note(conn, new, "We will clean it this week", "agent", public=True)
    agent = login(app, "agent").get(f"/requests/{new}").get_data(as_text=True)
    corr = login(app, "corr").get(f"/requests/{new}").get_data(as_text=True)
    elu = login(app, "elu").get(f"/requests/{new}").get_data(as_text=True)
    for page in (agent, corr, elu):
        assert "We will clean it this week" in page
        # every event with its label in the reader's language, never the raw kind
        assert re.search(r'data-kind="reported">\s*<td[^>]*>[^<]*</td>\s*<td>Request reported', page)
        assert re.search(r'data-kind="acknowledged">\s*<td[^>]*>[^<]*</td>\s*<td>Acknowledged', page)
        assert re.search(r'data-kind="note">\s*<td[^>]*>[^<]*</td>\s*<td>Note added', page)
        assert "Property Management – Graffiti Removal" in page
    assert "Crew busy on Monday" in agent and ">agent<" in agent
    for page in (corr, elu):
        assert "Crew busy on Monday" not in page
        assert ">agent<" not in page  # colleagues' usernames stay with the services
    assert ">you<" in corr  # the correspondent's own report
    french = login(app, "corr")
    french.environ_base["HTTP_ACCEPT_LANGUAGE"] = "fr"
    page = french.get(f"/requests/{new}?lang=fr").get_data(as_text=True)
    assert re.search(r'data-kind="note">\s*<td[^>]*>[^<]*</td>\s*<td>Note ajoutée', page)
    assert re.search(r'data-kind="acknowledged">\s*<td[^>]*>[^<]*</td>\s*<td>Prise en compte', page)
    assert re.search(r'data-kind="reported">\s*<td[^>]*>[^<]*</td>\s*<td>Demande signalée', page)


def test_who_may_open_the_page(app, engine):
    new = report(engine)
    assert app.test_client().get(f"/requests/{new}").status_code == 302  # the login form
    with engine.connect() as conn:
        elsewhere = conn.execute(
            select(IV.c.id)
            .join(Quarter.__table__, Quarter.__table__.c.id == IV.c.quarter_id)
            .where(Quarter.__table__.c.code != DORCHESTER)
            .limit(1)
        ).scalar_one()
    corr = login(app, "corr")
    assert corr.get(f"/requests/{new}").status_code == 200
    assert corr.get(f"/requests/{elsewhere}").status_code == 404  # another quarter's: not revealed
    assert login(app, "agent").get(f"/requests/{elsewhere}").status_code == 200
    for bad in (0, 99_999_999, 2**31 - 1, 2**31, 2**63, 10**30):
        assert corr.get(f"/requests/{bad}").status_code == 404, bad
        assert corr.get(f"/requests/{bad}/photos/{'a' * 32}.jpg").status_code == 404, bad


def test_hostile_description_and_note_are_shown_as_text(app, engine):
    new = report(engine, description=HOSTILE)
    with write(engine) as conn:
        edits.add_note(conn, new, HOSTILE, "agent", public=True)
    page = login(app, "corr").get(f"/requests/{new}").get_data(as_text=True)
    assert "<script>alert" not in page and "<img src=x" not in page
    shown = [html.unescape(m) for m in re.findall(r">([^<]*alert\(1\)[^<]*)<", page)]
    assert shown.count(HOSTILE) >= 2  # the description and the public note, as typed


def test_the_request_lists_link_to_the_page(app, engine):
    new = report(engine)
    link = f'href="/requests/{new}"'
    july = "from=2015-07-01&to=2015-07-31&norm=boston.target"
    quarter = login(app, "corr").get(f"/quarters/{DORCHESTER}?{july}")
    assert link in quarter.get_data(as_text=True)
    worklist = login(app, "agent").get("/worklist?norm=boston.target&from=2015-07-01&to=2015-07-31")
    assert link in worklist.get_data(as_text=True)
    popup = login(app, "corr").get(f"/geo/interventions/{new}.json").get_json()
    assert popup["url"] == f"/requests/{new}"


# -- the report form ------------------------------------------------------------------------------


def form(client: Any, **extra: Any) -> dict[str, Any]:
    return {
        "category": "graffiti",
        "description": "Tag on the wall",
        "latitude": str(LAT),
        "longitude": str(LON),
        "csrf_token": csrf(client),
        **extra,
    }


def latest(engine: Engine) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(IV).order_by(IV.c.id.desc()).limit(1)).one()


def test_an_insulting_graffiti_is_due_in_48_hours_anywhere(app, engine):
    corr = login(app, "corr")
    assert corr.post(f"/quarters/{DORCHESTER}/report", data=form(corr, insulting="y")).status_code == 302
    row = latest(engine)
    assert row.insulting is True
    assert row.due_at == row.reported_at + timedelta(hours=GRAFFITI_HOURS)
    assert corr.post(f"/quarters/{DORCHESTER}/report", data=form(corr)).status_code == 302
    row = latest(engine)
    assert row.insulting is False
    assert row.due_at == row.reported_at + timedelta(hours=BOSTON_OWN_HOURS)


def test_an_insulting_graffiti_in_a_priority_zone_is_due_in_48_hours(app, engine):
    from geova.store.areas import load_areas

    with engine.connect() as conn:
        inside = load_areas(conn)[1][0].geom.representative_point()
    corr = login(app, "corr")
    data = form(corr, insulting="y", latitude=f"{inside.y:.6f}", longitude=f"{inside.x:.6f}")
    assert corr.post(f"/quarters/{DORCHESTER}/report", data=data).status_code == 302
    row = latest(engine)
    assert (row.insulting, row.due_at) == (True, row.reported_at + timedelta(hours=GRAFFITI_HOURS))


def test_a_severity_the_category_does_not_know_is_refused(app, engine):
    corr = login(app, "corr")
    page = corr.get(f"/quarters/{DORCHESTER}").get_data(as_text=True)
    assert 'name="insulting"' in page and 'name="severity"' in page and 'type="file"' in page
    before = count(engine)
    answer = corr.post(f"/quarters/{DORCHESTER}/report", data=form(corr, severity="P9"))
    assert answer.status_code == 400
    assert "Severity:" in answer.get_data(as_text=True)
    # P1 is a severity of abandoned vehicles (nantes.epaves.72h), not of graffiti
    answer = corr.post(f"/quarters/{DORCHESTER}/report", data=form(corr, severity="P1"))
    assert answer.status_code == 400 and "Severity:" in answer.get_data(as_text=True)
    assert count(engine) == before


# -- the photo ------------------------------------------------------------------------------------


def jpeg_with_gps() -> bytes:
    image = Image.new("RGB", (64, 48), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x013B] = "Jane Owner"  # Artist
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (42.0, 16.0, 54.0), 3: "W", 4: (71.0, 4.0, 40.0)})
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    raw = out.getvalue()
    assert b"Jane Owner" in raw
    return raw


def photos(instance: Path) -> list[Path]:
    folder = instance / "request_photos"
    return sorted(folder.iterdir()) if folder.exists() else []


def test_a_photo_is_kept_without_its_exif_and_served_to_those_who_read_the_request(app, engine, _instance):
    corr = login(app, "corr")
    data = form(corr, photo=(io.BytesIO(jpeg_with_gps()), "../../etc/passwd.jpg", "image/jpeg"))
    answer = corr.post(f"/quarters/{DORCHESTER}/report", data=data, content_type="multipart/form-data")
    assert answer.status_code == 302, answer.get_data(as_text=True)
    [kept] = photos(_instance)
    assert re.fullmatch(r"[0-9a-f]{32}\.jpg", kept.name)  # a random name, never the one sent
    new = latest(engine).id
    page = corr.get(f"/requests/{new}").get_data(as_text=True)
    url = f"/requests/{new}/photos/{kept.name}"
    assert f'src="{url}"' in page
    served = corr.get(url)
    assert served.status_code == 200
    assert served.headers["Content-Type"] == "image/jpeg"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert b"Jane Owner" not in served.data and b"PhoneMaker" not in served.data
    with Image.open(io.BytesIO(served.data)) as image:
        assert image.format == "JPEG" and image.size == (64, 48)
        assert not image.getexif() and not image.getexif().get_ifd(GPS_IFD)
    assert login(app, "agent").get(url).status_code == 200
    assert app.test_client().get(url).status_code == 302  # the public: to the login form
    # another request's address for the same file: not found
    other = report(engine)
    assert corr.get(f"/requests/{other}/photos/{kept.name}").status_code == 404
    with engine.connect() as conn:
        detail = conn.execute(select(EV.c.detail).where(EV.c.intervention_id == new)).scalar_one()
    assert detail["photo"] == {"file": kept.name, "type": "image/jpeg"}


@pytest.mark.parametrize(
    "content, name",
    [
        (b"just some text, not an image\n" * 10, "photo.jpg"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 200, "broken.jpg"),  # a JPEG's first bytes only
        (b"GIF89a" + b"\x00" * 100, "anim.gif"),
    ],
)
def test_a_file_that_is_not_a_photo_is_refused_and_nothing_stored(app, engine, _instance, content, name):
    corr = login(app, "corr")
    before = count(engine)
    data = form(corr, photo=(io.BytesIO(content), name, "image/jpeg"))
    answer = corr.post(f"/quarters/{DORCHESTER}/report", data=data, content_type="multipart/form-data")
    assert answer.status_code == 400
    assert "Photo (optional):" in answer.get_data(as_text=True)
    assert count(engine) == before and photos(_instance) == []


def noise_png(size: int) -> bytes:
    import os

    image = Image.frombytes("RGB", (size, size), os.urandom(size * size * 3))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def test_a_photo_over_the_limit_is_refused_and_nothing_stored(app, engine, _instance):
    app.config["GEOVA_PHOTO_MAX_MB"] = 1
    corr = login(app, "corr")
    before = count(engine)
    big = noise_png(700)  # ~1.5 MB of noise
    assert len(big) > 1_000_000
    data = form(corr, photo=(io.BytesIO(big), "big.png", "image/png"))
    answer = corr.post(f"/quarters/{DORCHESTER}/report", data=data, content_type="multipart/form-data")
    assert answer.status_code in (400, 413)
    assert "larger than 1 MB" in answer.get_data(as_text=True)
    # far over the limit: refused before the body is read
    data = form(corr, photo=(io.BytesIO(big * 3), "bigger.png", "image/png"))
    answer = corr.post(f"/quarters/{DORCHESTER}/report", data=data, content_type="multipart/form-data")
    assert answer.status_code == 413 and "larger than 1 MB" in answer.get_data(as_text=True)
    assert count(engine) == before and photos(_instance) == []
    # a small one still passes
    data = form(corr, photo=(io.BytesIO(noise_png(100)), "small.png", "image/png"))
    answer = corr.post(f"/quarters/{DORCHESTER}/report", data=data, content_type="multipart/form-data")
    assert answer.status_code == 302 and count(engine) == before + 1 and len(photos(_instance)) == 1


def test_a_decompression_bomb_is_refused(app, engine, _instance):
    bomb = io.BytesIO()
    Image.new("1", (12_000, 12_000)).save(bomb, format="PNG")  # 144 MP, a few kB on disk
    corr = login(app, "corr")
    before = count(engine)
    data = form(corr, photo=(io.BytesIO(bomb.getvalue()), "bomb.png", "image/png"))
    answer = corr.post(f"/quarters/{DORCHESTER}/report", data=data, content_type="multipart/form-data")
    assert answer.status_code == 400 and "Photo (optional):" in answer.get_data(as_text=True)
    assert count(engine) == before and photos(_instance) == []
