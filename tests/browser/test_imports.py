"""An administrator loads a file from the browser: upload, the preview computed in the background
and shown as tables, background import with its progress, and the rejects file downloaded.
Offline, under the app's Content-Security-Policy."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from tests.boston import export_slice
from tests.browser.conftest import ARTIFACTS

REPO = Path(__file__).resolve().parents[2]
HOSTILE = "<img src=x onerror=alert(1)>"


def needle_slice(rows: int, broken: dict[int, str]) -> tuple[bytes, list[dict[str, str]]]:
    """The first ``rows`` requests of Boston's needle pickups (not in the browser store), OPEN_DT
    replaced in the rows ``broken`` names."""
    return export_slice(REPO / "data/boston/needle-pickup.csv", rows, broken)


def test_upload_preview_import_progress_and_rejects_download(web, tmp_path):
    data, rows = needle_slice(15, {4: HOSTILE})
    dialogs: list[str] = []
    web.page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    web.login("admin")
    web.page.click("nav >> text=Imports")
    web.page.wait_for_load_state("networkidle")
    web.page.select_option("select[name=kind]", "interventions")
    web.page.set_input_files(
        "input[name=file]", files=[{"name": "needles.csv", "mimeType": "text/csv", "buffer": data}]
    )
    web.page.select_option("select[name=mapping]", "mappings/needle-pickup.toml")
    web.page.click("form[enctype] button[type=submit]")
    # the upload answers with the job's page at once; it polls the dry run and shows it when ready
    web.page.wait_for_url("**/admin/imports/jobs/*")
    web.page.wait_for_selector("#first-rows", timeout=120_000)
    web.page.wait_for_load_state("networkidle")

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    web.page.screenshot(path=str(ARTIFACTS / "imports-preview.png"), full_page=True)
    first = web.page.locator("#first-rows tbody tr")
    assert first.count() == 10  # the first rows, as geova reads them
    assert rows[0]["CASE_ENQUIRY_ID"] in first.first.inner_text()
    assert web.page.locator("[data-count=read]").inner_text() == "15"
    assert web.page.locator("[data-count=rejected]").inner_text() == "1"
    assert HOSTILE in web.page.locator("#rejects").inner_text()  # shown as text, not run
    assert web.page.input_value("input[name=max_rejects]") == "1"

    web.page.click("form[aria-label='Run the import'] button[type=submit]")
    web.page.wait_for_selector("#job-progress")
    web.page.wait_for_selector("#job-phase[data-phase=done]", timeout=120_000)
    web.page.wait_for_selector("#job-rejects", timeout=30_000)  # the page reloaded once finished
    assert web.page.locator("#job-progress").get_attribute("value") == "100"
    web.page.screenshot(path=str(ARTIFACTS / "imports-job.png"), full_page=True)
    counts = web.page.locator("#job-counts").inner_text()
    assert "inserted\t14" in counts and "rejected\t1" in counts and "read\t15" in counts

    with web.page.expect_download() as caught:
        web.page.click("#job-rejects")
    saved = tmp_path / "rejects.csv"
    caught.value.save_as(saved)
    body = saved.read_bytes()
    assert body.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(body.decode("utf-8-sig")), delimiter=";"))
    assert len(table) == 2 and table[1][1] == "OPEN_DT" and table[1][2] == HOSTILE

    web.goto("/admin/imports/log?lang=en")
    assert "needles.csv" in web.page.locator("#jobs").inner_text()
    assert not dialogs


def test_a_preview_that_fails_says_why_on_its_page(web):
    """A mapping naming a column the export does not have: valid as a mapping, so the upload is
    accepted; the background dry run finds the mistake, and the page says it, with nothing to import."""
    data, _rows = needle_slice(5, {})
    mapping = (REPO / "data/mappings/needle-pickup.toml").read_text(encoding="utf-8")
    assert '"CASE_ENQUIRY_ID"' in mapping
    web.login("admin")
    web.goto("/admin/imports/?lang=en")
    web.page.select_option("select[name=kind]", "interventions")
    web.page.set_input_files(
        "input[name=file]", files=[{"name": "needles.csv", "mimeType": "text/csv", "buffer": data}]
    )
    web.page.fill("textarea[name=mapping_text]", mapping.replace('"CASE_ENQUIRY_ID"', '"CASE_NUMBER"'))
    web.page.click("form[enctype] button[type=submit]")
    web.page.wait_for_selector("#job-error", timeout=120_000)  # the page reloaded once failed
    error = web.page.locator("#job-error").inner_text()
    assert "CASE_NUMBER" in error and "Nothing was stored." in error
    assert web.page.locator("form[aria-label='Run the import']").count() == 0
