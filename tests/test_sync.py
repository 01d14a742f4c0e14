"""``geova sync``: a sources file, imports of what changed (by hash), skips of what did not, HTTP
sources served by a local server, failures named and logged; the sources file validated whole."""

from __future__ import annotations

import csv
import functools
import http.server
import io
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, func, select

from geova.cli import cli
from geova.io.errors import ImportFailure
from geova.io.sources_file import read_sources
from geova.store.schema import ImportJob, Intervention
from geova.sync import download
from tests.boston import load_quarters

REPO = Path(__file__).resolve().parents[1]
IV = Intervention.__table__
JOBS = ImportJob.__table__


def first_rows(name: str, rows: int) -> tuple[str, list[dict[str, str]]]:
    with (REPO / f"data/boston/{name}.csv").open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        fields = list(reader.fieldnames or [])
        kept = [row for _, row in zip(range(rows), reader, strict=False)]
    return write_rows(fields, kept), kept


def write_rows(fields: list[str], rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A local HTTP server (a thread) serving a folder: the URL prefix and the folder."""
    folder = tmp_path / "www"
    folder.mkdir()
    handler = functools.partial(Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", folder
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


def sync(db_url: str, sources: Path) -> Result:
    return CliRunner().invoke(
        cli, ["--db", db_url, "sync", "--sources", str(sources)], catch_exceptions=False
    )


def count(engine: Engine, *where: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(IV).where(*where)).scalar_one())


def phases(engine: Engine) -> list[tuple[str | None, str]]:
    with engine.connect() as conn:
        return [(r.source, r.phase) for r in conn.execute(select(JOBS).order_by(JOBS.c.id))]


def test_sync_imports_once_skips_unchanged_and_imports_changes(db_url, engine, tmp_path, served):
    load_quarters(engine)
    base, www = served
    graffiti, graffiti_rows = first_rows("graffiti-removal", 30)
    trash, trash_rows = first_rows("trash-on-vacant-lot", 12)
    local = tmp_path / "exports" / "graffiti.csv"
    local.parent.mkdir()
    local.write_text(graffiti, encoding="utf-8")
    (www / "trash.csv").write_text(trash, encoding="utf-8")
    sources = tmp_path / "sources.toml"
    sources.write_text(
        f"""
[[source]]
name = "graffiti"
path = "exports/graffiti.csv"
kind = "interventions"
mapping = "{REPO / "data/mappings/graffiti-removal.toml"}"

[[source]]
name = "trash"
url = "{base}/trash.csv"
kind = "interventions"
mapping = "{REPO / "data/mappings/trash-on-vacant-lot.toml"}"
""",
        encoding="utf-8",
    )
    ids = [r["CASE_ENQUIRY_ID"] for r in graffiti_rows + trash_rows]

    first = sync(db_url, sources)
    assert first.exit_code == 0, first.output
    lines = first.output.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("graffiti: imported graffiti.csv") and "inserted 30" in lines[0]
    assert lines[1].startswith("trash: imported trash.csv") and "inserted 12" in lines[1]
    assert count(engine, IV.c.source_id.in_(ids)) == 42

    again = sync(db_url, sources)
    assert again.exit_code == 0, again.output
    lines = again.output.splitlines()
    assert lines[0].startswith("graffiti: unchanged since its last sync (sha256 ")
    assert lines[1].startswith("trash: unchanged since its last sync (sha256 ")
    assert count(engine, IV.c.source_id.in_(ids)) == 42

    # the city's export grows by ten rows: only that source is imported again
    graffiti, graffiti_rows = first_rows("graffiti-removal", 40)
    local.write_text(graffiti, encoding="utf-8")
    third = sync(db_url, sources)
    assert third.exit_code == 0, third.output
    lines = third.output.splitlines()
    assert "imported" in lines[0] and "inserted 10" in lines[0] and "unchanged 30" in lines[0]
    assert "unchanged since its last sync" in lines[1]
    assert count(engine, IV.c.source_id.in_([r["CASE_ENQUIRY_ID"] for r in graffiti_rows])) == 40

    assert phases(engine) == [
        ("graffiti", "done"),
        ("trash", "done"),
        ("graffiti", "skipped"),
        ("trash", "skipped"),
        ("graffiti", "done"),
        ("trash", "skipped"),
    ]


def test_a_failing_source_is_named_logged_and_makes_the_exit_code(db_url, engine, tmp_path, served):
    base, www = served
    trash, _rows = first_rows("trash-on-vacant-lot", 5)
    (www / "trash.csv").write_text(trash, encoding="utf-8")
    sources = tmp_path / "sources.toml"
    mapping = REPO / "data/mappings/trash-on-vacant-lot.toml"
    sources.write_text(
        f"""
[[source]]
name = "gone"
path = "missing.csv"
kind = "interventions"
mapping = "{mapping}"

[[source]]
name = "not-served"
url = "{base}/nothing-here.csv"
kind = "interventions"
mapping = "{mapping}"

[[source]]
name = "trash"
url = "{base}/trash.csv"
kind = "interventions"
mapping = "{mapping}"
""",
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["--db", db_url, "sync", "--sources", str(sources)])
    assert result.exit_code == 1
    out = result.output
    assert f"gone: {tmp_path / 'missing.csv'}: file not found" in out
    assert "not-served: " in out and "HTTP 404" in out
    assert "trash: imported trash.csv" in out
    assert phases(engine) == [("gone", "failed"), ("not-served", "failed"), ("trash", "done")]


def test_a_layer_source(db_url, engine, tmp_path):
    sources = tmp_path / "sources.toml"
    sources.write_text(
        f"""
[[source]]
name = "quartiers"
path = "{REPO / "layers/boston_neighborhoods.geojson"}"
kind = "layer"
layer = {{ as = "quarters", code_field = "Neighborhood_ID", name_field = "Name" }}
""",
        encoding="utf-8",
    )
    first = sync(db_url, sources)
    assert first.exit_code == 0, first.output
    assert first.output.startswith(
        "quartiers: imported boston_neighborhoods.geojson: features 26, inserted 26"
    )
    assert "unchanged since its last sync" in sync(db_url, sources).output


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ('[[source]]\nname = "a"\nkind = "interventions"\nmapping = "m.toml"\n', "give either path or url"),
        (
            '[[source]]\nname = "a"\npath = "a.csv"\nkind = "requests"\nmapping = "m.toml"\n',
            "[[source]] 'a' (line 1), key 'kind' (line 4)",
        ),
        ('[[source]]\nname = "a"\npath = "a.csv"\nkind = "layer"\n', "needs its layer options"),
        ('[[source]]\nname = "a"\nurl = "ftp://x/a.csv"\nkind = "interventions"\nmapping = "m"\n', "url"),
        (
            '[[source]]\nname = "a"\npath = "a.csv"\nkind = "interventions"\nmapping = "m"\nmaping = "m"\n',
            "[[source]] 'a' (line 1), key 'maping' (line 6): not a key of this table (a typo?)",
        ),
        ('[[source]]\nname = "a"\npath = "a.csv"\nkind = "interventions"\n', "needs its mapping file"),
        ("[[source]\n", "not valid TOML"),
        (
            '[[source]]\nname = "a"\npath = "a"\nkind = "layer"\nlayer = { as = "quarters" }\n'
            '[[source]]\nname = "a"\npath = "b"\nkind = "layer"\nlayer = { as = "zones" }\n',
            "name 'a' used twice",
        ),
    ],
)
def test_a_bad_sources_file_is_refused_naming_file_table_and_key(db_url, tmp_path, text, said):
    sources = tmp_path / "sources.toml"
    sources.write_text(text, encoding="utf-8")
    with pytest.raises(ImportFailure) as caught:
        read_sources(sources)
    assert str(caught.value).startswith(f"{sources}: ")
    assert said in str(caught.value)
    result = CliRunner().invoke(cli, ["--db", db_url, "sync", "--sources", str(sources)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output and said in result.output


def test_downloads_are_bounded_in_size(tmp_path, served):
    base, www = served
    (www / "big.csv").write_bytes(b"a,b\n" + b"1,2\n" * 100_000)  # 400 kB
    with pytest.raises(ImportFailure, match=r"larger than 0\.1 MB"):
        download(f"{base}/big.csv", tmp_path / "dl" / "big", max_bytes=100_000, timeout=10)
    assert not (tmp_path / "dl" / "big.csv").exists()
    got = download(f"{base}/big.csv", tmp_path / "dl" / "big", max_bytes=1_000_000, timeout=10)
    assert got.name == "big.csv" and got.stat().st_size == 400_004


def test_downloads_are_bounded_in_time(tmp_path):
    """A server that accepts and never answers: the download gives up after its timeout."""
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        with pytest.raises(ImportFailure, match=r"no answer within 0.5 s|cannot be downloaded"):
            download(f"http://127.0.0.1:{port}/x.csv", tmp_path / "x", max_bytes=1000, timeout=0.5)


def test_the_readme_sources_file_is_valid(tmp_path):
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = readme.split("# /etc/geova/sources.toml\n", 1)[1].split("```", 1)[0]
    sources = tmp_path / "sources.toml"
    sources.write_text(block, encoding="utf-8")
    parsed = read_sources(sources)
    assert [(s.name, s.import_kind) for s in parsed] == [
        ("allo-mairie", "interventions"),
        ("passages", "activities"),
        ("quartiers", "quarters"),
    ]
    assert parsed[2].layer_options() == {
        "code_field": "c_quinsee",
        "name_field": "l_qu",
        "parent_field": "c_ar",
    }
