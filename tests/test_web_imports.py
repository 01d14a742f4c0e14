"""Imports from the web app: upload, preview, background import, progress, rejects file, import log.

The upload is a slice of Boston's graffiti export with a few rows broken on purpose; the expected
counts are read from the slice itself (rows written, rows broken), not from geova.
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from app import create_app
from geova.store.schema import ImportJob, Intervention
from tests.boston import export_slice
from tests.test_web_correspondent import REPO, build_store, csrf, fast_passwords, login

GRAFFITI = REPO / "data/boston/graffiti-removal.csv"
MAPPING = "mappings/graffiti-removal.toml"
IV = Intervention.__table__
JOBS = ImportJob.__table__
HOSTILE = '=HYPERLINK("http://evil.example","x")'


@pytest.fixture(autouse=True)
def _fast_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_passwords(monkeypatch)


def make(db_url: str, **config: Any) -> Any:
    return create_app({"GEOVA_DATABASE_URL": db_url, "TESTING": True, "SECRET_KEY": "test", **config})


@pytest.fixture
def app(db_url: str, engine: Engine, tmp_path: Path) -> Iterator[Any]:
    build_store(engine, tmp_path / "rejects.csv")
    flask_app = make(db_url)
    yield flask_app
    app_engine = flask_app.extensions.get("geova_engine")
    if app_engine is not None:
        app_engine.dispose()


def graffiti_slice(rows: int, broken: dict[int, str]) -> tuple[bytes, list[dict[str, str]]]:
    """The graffiti export's first ``rows`` rows, OPEN_DT replaced in the rows ``broken`` names."""
    return export_slice(GRAFFITI, rows, broken)


def upload(client: Any, data: bytes, name: str, **fields: Any) -> Any:
    form = {"kind": "interventions", "mapping": MAPPING, "csrf_token": csrf(client), **fields}
    form["file"] = (io.BytesIO(data), name)
    return client.post("/admin/imports/preview", data=form, content_type="multipart/form-data")


def counted(engine: Engine, table: Any, *where: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def preview_of(client: Any, response: Any, seconds: float = 180) -> str:
    """The preview page, as a user gets it: the upload answers at once with the job's page, which
    polls until the dry run (run by the job's process) is ready, then shows it."""
    assert response.status_code == 302, response.get_data(as_text=True)
    job_url = response.headers["Location"]
    assert re.fullmatch(r"/admin/imports/jobs/\d+", job_url)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        state = client.get(job_url + ".json").get_json()
        if state["ready"]:
            page = client.get(job_url)
            assert page.status_code == 200
            return str(page.get_data(as_text=True))
        time.sleep(0.2)
    raise AssertionError(f"the preview was not ready within {seconds} s: {state}")


def wait_for(client: Any, job_url: str, seconds: float = 180) -> dict[str, Any]:
    """The job's JSON state once finished, with every percent seen on the way."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        state = client.get(job_url + ".json").get_json()
        if state["finished"]:
            return state
        time.sleep(0.3)
    raise AssertionError(f"the import job did not finish within {seconds} s: {state}")


def test_upload_preview_background_import_and_rejects(app, engine, tmp_path):
    broken = {3: "not a date", 7: HOSTILE}
    data, rows = graffiti_slice(25, broken)
    client = login(app, "admin")
    before = counted(engine, IV)

    html = preview_of(client, upload(client, data, "../../etc/graffiti slice.csv"))
    assert "Dry run: nothing was stored." in html
    first_rows = html[html.index('id="first-rows"') :]
    assert rows[0]["CASE_ENQUIRY_ID"] in first_rows  # the first good row, as geova reads it
    assert re.search(r'data-count="read">25<', html)
    assert re.search(r'data-count="rejected">2<', html)
    assert "OPEN_DT" in html[html.index('id="rejects"') :]
    assert HOSTILE not in html  # the hostile value is shown escaped, never raw
    assert "HYPERLINK(&#34;http://evil.example&#34;" in html
    assert counted(engine, IV) == before  # a preview stores nothing
    assert counted(engine, JOBS, JOBS.c.phase == "previewed") == 1  # but its job waits for "Import"
    # the upload was stored under a name of geova's own, inside the instance folder
    uploads = list((tmp_path / "instance" / "uploads").rglob("*.csv"))
    assert [p.name for p in uploads] == ["etc_graffiti_slice.csv"]  # no "..", no "/"
    assert re.fullmatch(r"[0-9a-f]{32}", uploads[0].parent.name)

    token = re.search(r'name="token" value="([0-9a-f]{32})"', html).group(1)
    started = client.post(
        "/admin/imports/run", data={"token": token, "max_rejects": "2", "csrf_token": csrf(client)}
    )
    assert started.status_code == 302
    job_url = started.headers["Location"]
    assert re.fullmatch(r"/admin/imports/jobs/\d+", job_url)
    assert counted(engine, JOBS) == 1  # the preview's job, now importing
    state = wait_for(client, job_url)
    assert state["phase"] == "done", state
    assert state["percent"] == 100
    assert state["counts"]["read"] == 25
    assert state["counts"]["rejected"] == 2
    assert state["counts"]["inserted"] == 23
    good = [r["CASE_ENQUIRY_ID"] for i, r in enumerate(rows) if i not in broken]
    assert counted(engine, IV, IV.c.source_id.in_(good)) == 23
    assert counted(engine, IV) == before + 23
    assert not uploads[0].exists()  # the upload is removed once imported

    page = client.get(job_url).get_data(as_text=True)
    assert "Download the rejected rows" in page
    got = client.get(state["rejects"])
    assert got.status_code == 200
    assert got.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in got.headers["Content-Disposition"]
    body = got.get_data()
    assert body.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(body.decode("utf-8-sig")), delimiter=";"))
    assert len(table) == 3  # header and the two broken rows
    values = {r[2] for r in table[1:]}
    assert "not a date" in values
    assert "'" + HOSTILE in values  # neutralised: a spreadsheet shows it as text
    assert {r[1] for r in table[1:]} == {"OPEN_DT"}

    log = client.get("/admin/imports/log").get_data(as_text=True)
    jobs_table = log[log.index('id="jobs"') : log.index('id="journal"')]
    assert "../../etc/graffiti slice.csv" in jobs_table and "admin" in jobs_table and "done" in jobs_table
    assert "graffiti_slice.csv" in log[log.index('id="journal"') :]  # the journal's file name


def test_a_preview_runs_once(app, engine):
    data, _rows = graffiti_slice(5, {})
    client = login(app, "admin")
    html = preview_of(client, upload(client, data, "a.csv"))
    token = re.search(r'name="token" value="([0-9a-f]{32})"', html)
    form = {"token": token.group(1), "max_rejects": "0", "csrf_token": csrf(client)}
    first = client.post("/admin/imports/run", data=form)
    wait_for(client, first.headers["Location"])
    again = client.post("/admin/imports/run", data=form)
    assert again.status_code == 400
    assert counted(engine, JOBS) == 1


def test_too_many_rejects_fails_the_job_with_its_reason(app, engine):
    data, _rows = graffiti_slice(6, {1: "never"})
    client = login(app, "admin")
    before = counted(engine, IV)
    html = preview_of(client, upload(client, data, "b.csv"))
    token = re.search(r'name="token" value="([0-9a-f]{32})"', html)
    form = {"token": token.group(1), "max_rejects": "0", "csrf_token": csrf(client)}
    state = wait_for(client, client.post("/admin/imports/run", data=form).headers["Location"])
    assert state["phase"] == "failed"
    assert "1 rows rejected, more than the 0 allowed" in state["error"]
    assert state["rejects"] is not None  # what was wrong can still be downloaded
    assert counted(engine, IV) == before


@pytest.mark.parametrize("role", ["correspondent", "service", "official", None])
def test_only_administrators_import(app, engine, role):
    usernames = {"correspondent": "corr", "service": "agent", "official": "elu"}
    client = app.test_client() if role is None else login(app, usernames[role])
    data, _rows = graffiti_slice(3, {})
    for response in (
        client.get("/admin/imports/"),
        client.get("/admin/imports/log"),
        upload(client, data, "c.csv"),
        client.get("/admin/imports/jobs/1.json"),
    ):
        if role is None:
            assert response.status_code == 302 and "/login" in response.headers["Location"]
        else:
            assert response.status_code == 403
    assert counted(engine, JOBS) == 0
    menu = client.get("/").get_data(as_text=True)
    assert "/admin/imports" not in menu


def test_the_menu_links_administrators_to_imports(app):
    assert 'href="/admin/imports/"' in login(app, "admin").get("/").get_data(as_text=True)


def test_csrf_is_required(app, engine):
    client = login(app, "admin")
    data, _rows = graffiti_slice(3, {})
    form = {"kind": "interventions", "mapping": MAPPING, "file": (io.BytesIO(data), "d.csv")}
    response = client.post("/admin/imports/preview", data=form, content_type="multipart/form-data")
    assert response.status_code == 400
    assert counted(engine, JOBS) == 0


def nothing_stored(engine: Engine, tmp_path: Path, before: int) -> None:
    assert counted(engine, IV) == before
    assert counted(engine, JOBS) == 0
    folder = tmp_path / "instance" / "uploads"
    assert not folder.exists() or not any(folder.rglob("*.*"))


@pytest.mark.parametrize(
    ("kind", "content", "name", "said"),
    [
        ("interventions", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "photo.csv", "a binary file"),
        ("quarters", b"id,name\n1,Centre\n", "quartiers.geojson", "a csv file, where geojson, gpkg, zip"),
        ("interventions", b"PK\x03\x04garbage", "export.zip", "damaged zip"),
        ("interventions", b"", "empty.csv", "the file is empty"),
    ],
)
def test_a_file_of_the_wrong_type_is_refused(app, engine, tmp_path, kind, content, name, said):
    client = login(app, "admin")
    before = counted(engine, IV)
    response = upload(client, content, name, kind=kind)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert said in html and "Nothing was stored." in html
    nothing_stored(engine, tmp_path, before)


def test_a_file_over_the_limit_is_refused(db_url, engine, tmp_path):
    build_store(engine, tmp_path / "rejects.csv")
    app = make(db_url, GEOVA_UPLOAD_MAX_MB=1)
    client = login(app, "admin")
    before = counted(engine, IV)
    data, _rows = graffiti_slice(4284, {})  # the whole export: about 2 MB
    assert len(data) > 1_000_000
    response = upload(client, data, "all.csv")
    assert response.status_code == 413
    assert "larger than 1 MB" in response.get_data(as_text=True)
    nothing_stored(engine, tmp_path, before)
    app.extensions["geova_engine"].dispose()


@pytest.mark.parametrize(
    ("mapping_text", "said"),
    [
        ("[source\nname = 'x'", "the pasted mapping: not valid TOML"),
        (
            "[source]\nname = 'x'\ntimezone = 'Mars/Olympus'\n[columns]\nsource_id = 'CASE_ENQUIRY_ID'\n",
            "Mars",
        ),
    ],
)
def test_a_broken_mapping_is_refused_with_its_reason(app, engine, tmp_path, mapping_text, said):
    client = login(app, "admin")
    before = counted(engine, IV)
    data, _rows = graffiti_slice(3, {})
    response = upload(client, data, "e.csv", mapping="", mapping_text=mapping_text)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert said in html and "Nothing was stored." in html
    assert str(tmp_path) not in html  # the instance's paths are not shown
    nothing_stored(engine, tmp_path, before)


def test_a_table_without_a_mapping_is_refused(app, engine, tmp_path):
    client = login(app, "admin")
    data, _rows = graffiti_slice(3, {})
    response = upload(client, data, "f.csv", mapping="")
    assert response.status_code == 400
    assert "choose a shipped mapping or paste one" in response.get_data(as_text=True)
    nothing_stored(engine, tmp_path, counted(engine, IV))


def test_a_layer_is_previewed_and_imported(app, engine):
    layer = REPO / "layers/boston_priority_zones.geojson"
    features = json.loads(layer.read_text(encoding="utf-8"))["features"]
    client = login(app, "admin")
    response = upload(
        client, layer.read_bytes(), "zones.geojson", kind="zones", mapping="", zone_kind="commercial",
        code_field="code", name_field="name", layer_name="uploaded-zones",
    )  # fmt: skip
    html = preview_of(client, response)
    assert re.search(rf'data-count="read">{len(features)}<', html)
    assert features[0]["properties"]["code"] in html
    token = re.search(r'name="token" value="([0-9a-f]{32})"', html).group(1)
    started = client.post("/admin/imports/run", data={"token": token, "csrf_token": csrf(client)})
    state = wait_for(client, started.headers["Location"])
    assert state["phase"] == "done", state
    assert state["counts"]["features"] == len(features)


def test_the_job_page_refreshes_without_javascript_until_finished(app, engine):
    from geova.store import import_jobs
    from geova.store.db import write

    with write(engine) as conn:
        job_id = import_jobs.create_job(
            conn, kind="interventions", origin="web", file_name="<b>x</b>.csv", path="/nonexistent",
            created_by="admin",
        )  # fmt: skip
    client = login(app, "admin")
    page = client.get(f"/admin/imports/jobs/{job_id}").get_data(as_text=True)
    assert '<noscript><meta http-equiv="refresh"' in page
    assert "geova-imports.js" in page
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page
    with write(engine) as conn:
        import_jobs.update_job(conn, job_id, phase="failed", error="boom")
    page = client.get(f"/admin/imports/jobs/{job_id}").get_data(as_text=True)
    assert "refresh" not in page and "boom" in page
    assert client.get(f"/admin/imports/jobs/{job_id}/rejects.csv").status_code == 404
    assert client.get("/admin/imports/jobs/999999").status_code == 404


def test_a_job_whose_process_died_is_marked_failed(app, engine):
    import subprocess
    import sys

    from geova.store import import_jobs
    from geova.store.db import write

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    with write(engine) as conn:
        job_id = import_jobs.create_job(
            conn, kind="interventions", origin="web", file_name="x.csv", path="/nonexistent"
        )
        import_jobs.update_job(conn, job_id, phase="running", pid=gone.pid)
    state = login(app, "admin").get(f"/admin/imports/jobs/{job_id}.json").get_json()
    assert state["finished"] and state["phase"] == "failed"
    assert "ended without finishing" in state["error"]


def test_an_admin_api_key_cannot_import(app, engine):
    from geova.store.apikeys import add_key
    from geova.store.db import write

    with write(engine) as conn:
        _key, token = add_key(conn, "sig-robot", "admin")
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    for path in ("/admin/imports/", "/admin/imports/log", "/admin/imports/jobs/1.json"):
        assert client.get(path, headers=headers).status_code == 403
    assert counted(engine, JOBS) == 0


def test_an_activity_file_with_a_pasted_mapping(app, engine):
    """Passages located by coordinates and meetings naming their quarter; quarter 99 is not one of
    Boston's 26 neighbourhoods, so its row is the one reject."""
    folder = REPO / "tests/fixtures/norms"
    rows = (folder / "activities.csv").read_text(encoding="utf-8").splitlines()[1:]
    unknown = [r for r in rows if r.split(",")[3] == "99"]
    client = login(app, "admin")
    response = upload(
        client,
        (folder / "activities.csv").read_bytes(),
        "passages.csv",
        kind="activities",
        mapping="",
        mapping_text=(folder / "activities.toml").read_text(encoding="utf-8"),
    )
    html = preview_of(client, response)
    assert re.search(rf'data-count="read">{len(rows)}<', html)
    assert re.search(rf'data-count="rejected">{len(unknown)}<', html)
    assert "the pasted mapping" in html
    token = re.search(r'name="token" value="([0-9a-f]{32})"', html).group(1)
    form = {"token": token, "max_rejects": str(len(unknown)), "csrf_token": csrf(client)}
    state = wait_for(client, client.post("/admin/imports/run", data=form).headers["Location"])
    assert state["phase"] == "done", state
    assert (state["counts"]["read"], state["counts"]["inserted"], state["counts"]["rejected"]) == (
        len(rows),
        len(rows) - len(unknown),
        len(unknown),
    )
    rejects = client.get(state["rejects"]).get_data().decode("utf-8-sig").splitlines()
    assert rejects[1:] == [f"{1 + rows.index(unknown[0]) + 1};quarter;99;unknown quarter code"]


def test_previews_never_imported_are_removed_after_a_day(tmp_path):
    import os

    from geova.jobs import sweep_uploads

    root = tmp_path / "instance" / "uploads"
    old, fresh, queued = root / ("a" * 32), root / ("b" * 32), root / ("c" * 32)
    for folder in (old, fresh, queued):  # queued: its job reads it (no upload.json left)
        folder.mkdir(parents=True)
        (folder / "data.csv").write_text("x\n", encoding="utf-8")
    (old / "upload.json").write_text("{}", encoding="utf-8")
    (fresh / "upload.json").write_text("{}", encoding="utf-8")
    two_days_ago = time.time() - 2 * 86_400
    os.utime(old, (two_days_ago, two_days_ago))
    os.utime(queued, (two_days_ago, two_days_ago))
    sweep_uploads()
    assert not old.exists() and fresh.exists() and queued.exists()


def test_the_preview_shows_the_warnings_of_the_mistake_checks(app, engine, tmp_path):
    """The graffiti mapping read in Paris time, and with %H where the export has a 12 h clock: the
    territory is in New York, and every afternoon would be read as a morning."""
    mapping = (REPO / "data/mappings/graffiti-removal.toml").read_text(encoding="utf-8")
    mapping = mapping.replace('"America/New_York"', '"Europe/Paris"').replace("%I:%M:%S %p", "%H:%M:%S %p")
    data, _rows = graffiti_slice(40, {})
    client = login(app, "admin")
    before = counted(engine, IV)
    html = preview_of(client, upload(client, data, "g.csv", mapping="", mapping_text=mapping))
    warnings = html[html.index('id="warnings"') :]
    warnings = warnings[: warnings.index("</table>")]
    assert "Europe/Paris" in warnings and "America/New_York" in warnings
    assert "%p" in warnings and "%I" in warnings
    assert counted(engine, IV) == before


def test_the_upload_answers_before_the_file_is_read(app, engine, monkeypatch):
    """The upload request saves the file and starts a job: it never parses the file (a million rows
    would outlast the web worker's timeout); the job's process does, and the page then shows it.
    Here the launcher only records the job, which this test then runs itself."""
    import os

    from geova import jobs
    from geova import preview as dry_run
    from geova.web import imports

    started: list[int] = []
    monkeypatch.setattr(imports, "launch", lambda job_id, settings: started.append(job_id) or os.getpid())
    previewed: list[str] = []
    real = dry_run.preview_interventions

    def counting(*args: Any, **kwargs: Any) -> Any:
        previewed.append(str(args[1]))
        return real(*args, **kwargs)

    monkeypatch.setattr(dry_run, "preview_interventions", counting)
    data, rows = graffiti_slice(12, {2: "not a date"})
    client = login(app, "admin")
    response = upload(client, data, "h.csv")
    assert response.status_code == 302
    assert previewed == []  # the request did not read the file
    assert len(started) == 1 and response.headers["Location"] == f"/admin/imports/jobs/{started[0]}"
    state = client.get(f"/admin/imports/jobs/{started[0]}.json").get_json()
    assert state["phase"] == "preview" and not state["ready"] and not state["finished"]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Preview of h.csv" in page and "waiting to read the file" in page
    assert '<noscript><meta http-equiv="refresh"' in page and "geova-imports.js" in page
    assert 'name="token"' not in page  # nothing to import yet

    jobs.run_job(engine, started[0])  # what `geova run-job ID` does
    assert len(previewed) == 1
    html = preview_of(client, response)
    assert re.search(r'data-count="read">12<', html) and re.search(r'data-count="rejected">1<', html)
    assert rows[0]["CASE_ENQUIRY_ID"] in html[html.index('id="first-rows"') :]
    assert "refresh" not in html and "geova-imports.js" not in html
    assert re.search(r'name="token" value="[0-9a-f]{32}"', html)
    assert counted(engine, IV, IV.c.source_id == rows[0]["CASE_ENQUIRY_ID"]) == 0


def test_a_mistake_found_while_reading_fails_the_preview_with_its_reason(app, engine, tmp_path):
    """A pasted mapping naming a column the file does not have: the mapping itself is valid (the
    upload is accepted), the file's header shows the mistake, in the job's process."""
    mapping = (REPO / "data/mappings/graffiti-removal.toml").read_text(encoding="utf-8")
    assert '"CASE_ENQUIRY_ID"' in mapping
    mapping = mapping.replace('"CASE_ENQUIRY_ID"', '"CASE_NUMBER"')
    data, _rows = graffiti_slice(5, {})
    client = login(app, "admin")
    before = counted(engine, IV)
    response = upload(client, data, "i.csv", mapping="", mapping_text=mapping)
    html = preview_of(client, response)
    state = client.get(response.headers["Location"] + ".json").get_json()
    assert state["phase"] == "failed" and "CASE_NUMBER" in state["error"]
    assert "Not imported: " in html and "CASE_NUMBER" in html and "Nothing was stored." in html
    assert str(tmp_path) not in html  # the instance's paths are not shown
    assert 'name="token"' not in html
    assert counted(engine, IV) == before
    folder = tmp_path / "instance" / "uploads"
    assert not any(folder.rglob("*.csv"))  # the upload is removed: there is nothing to import
