"""Compressed responses (geova.web.compression): what a browser or a published client receives when
it says which encodings it reads, decoded here with the codecs' own libraries (gzip from the
standard library, brotli, zstandard), compared with the same view fetched uncompressed.

Same store as tests/test_web_correspondent.py.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from typing import Any

import brotli
import pytest
from backports import zstd

from tests.test_page_cache import without_nonce
from tests.test_web_access import unsigned
from tests.test_web_correspondent import NORM, login

ROW = re.compile(r'<tr data-id="(\d+)">')
AS_OF = "2026-06-01T12:00:00Z"
TIMES = re.compile(r'value="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d"')


@pytest.fixture
def app(boston_app: Any) -> Any:
    return boston_app


def comparable(html: str) -> str:
    """A page without what changes from one view to the next: its CSRF tokens (signed with the
    second they are made in), the resolve forms' default time (now), the scripts' nonces and the
    map's element ids."""
    return without_nonce(unsigned(TIMES.sub('value=""', html)))


def test_the_worklist_reaches_a_browser_compressed_and_reads_the_same(app):
    client = login(app, "agent")
    url = f"/worklist?as_of={AS_OF}"  # both judged at one instant (the hours overdue, the texts)
    plain = client.get(url)
    packed = client.get(url, headers={"Accept-Encoding": "gzip, deflate, br, zstd"})
    assert plain.status_code == packed.status_code == 200
    assert "Content-Encoding" not in plain.headers  # a client that does not ask gets plain bytes
    assert packed.headers["Content-Encoding"] == "zstd"  # the browser's best
    assert "Accept-Encoding" in packed.headers["Vary"]  # a proxy keeps one copy per encoding
    body = zstd.decompress(packed.get_data())
    assert int(packed.headers["Content-Length"]) == len(packed.get_data())
    assert ROW.findall(body.decode()) == ROW.findall(plain.get_data(as_text=True))
    assert ROW.findall(body.decode()), "the test store's worklist is empty"
    assert comparable(body.decode()) == comparable(plain.get_data(as_text=True))
    assert len(packed.get_data()) * 4 < len(plain.get_data())


@pytest.mark.parametrize(
    ("accepted", "encoding", "decode"),
    [
        ("gzip", "gzip", gzip.decompress),
        ("br;q=1.0, gzip;q=0.5", "br", brotli.decompress),
        ("identity", None, lambda b: b),
    ],
)
def test_the_api_answers_in_the_encoding_the_client_reads(app, accepted, encoding, decode):
    client = login(app, "elu")
    url = "/api/v1/evaluations?by=norm,quarter"
    plain = client.get(url)
    packed = client.get(url, headers={"Accept-Encoding": accepted})
    assert packed.status_code == 200
    assert packed.headers.get("Content-Encoding") == encoding
    # the same evaluation, judged at the instant each was asked at
    assert {**json.loads(decode(packed.get_data())), "as_of": None} == {**plain.get_json(), "as_of": None}


def test_a_csv_export_streams_compressed_and_opens_the_same(app):
    client = login(app, "agent")
    url = f"/worklist.csv?as_of={AS_OF}"  # both judged at one instant: hours overdue, to 0.1 h
    plain = client.get(url)
    packed = client.get(url, headers={"Accept-Encoding": "zstd"})
    assert packed.headers["Content-Encoding"] == "zstd"
    text = zstd.decompress(packed.get_data()).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows == list(csv.reader(io.StringIO(plain.get_data().decode("utf-8-sig")), delimiter=";"))
    assert len(rows) > 1


def test_a_kept_feed_is_revalidated_through_its_compressed_etag(app):
    """The quarters' GeoJSON is kept by the page cache with an ETag; a browser that holds the gzip
    copy asks again with that copy's ETag and is told it has not changed (304, no body)."""
    client = app.test_client()
    url = f"/geo/quarters.geojson?norm={NORM}&lang=en"
    client.get(url)  # the store's first view settles its verdicts (a write): that view is not kept
    kept = client.get(url, headers={"Accept-Encoding": "gzip"})
    assert kept.status_code == 200 and kept.headers["Content-Encoding"] == "gzip"
    etag = kept.headers["ETag"]
    assert etag.endswith(':gzip"')
    same = client.get(url, headers={"Accept-Encoding": "gzip", "If-None-Match": etag})
    assert same.status_code == 304 and same.get_data() == b""
    other = client.get(url, headers={"Accept-Encoding": "gzip", "If-None-Match": '"another"'})
    assert other.status_code == 200
    assert json.loads(gzip.decompress(other.get_data())) == client.get(url).get_json()


def test_small_answers_are_left_as_they_are(app):
    small = app.test_client().get("/health", headers={"Accept-Encoding": "gzip"})
    assert small.status_code == 200 and small.get_json() == {"status": "ok"}
    assert "Content-Encoding" not in small.headers  # 16 bytes: compressing would add to them
