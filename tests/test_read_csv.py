"""Reading a CSV export (geova.io.tables.read_csv) whatever its encoding, BOMs and line ends.

UTF-8 files are checked by Arrow in place and never decoded whole unless the careful reader needs
the text: these cases hold every path to the same cells, line numbers and notes. The expected
values are written out by hand for each file, not computed by the reader.
"""

from __future__ import annotations

import codecs

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geova.io.errors import ImportFailure
from geova.io.tables import line_feeds, read_csv

BOM = codecs.BOM_UTF8
ROWS = [["id", "quartier", "note"], ["1", "Saint-Étienne", "tag « insultant »"], ["2", "Œuvre", "ok"]]
CELLS = ROWS[1:]


def write(tmp_path, data: bytes, name: str = "export.csv"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def body(end: str = "\n") -> str:
    return end.join(";".join(r) for r in ROWS) + end


@pytest.mark.parametrize(
    ("data", "encoding", "note"),
    [
        (body().encode("utf-8"), None, "encoding utf-8"),
        (BOM + body().encode("utf-8"), None, "encoding utf-8-sig"),
        (BOM + BOM + body().encode("utf-8"), None, "encoding utf-8-sig"),  # Excel, then a script
        (BOM + body().encode("utf-8"), "utf-8", "encoding utf-8-sig"),  # declared, BOM all the same
        (body().encode("utf-8"), "UTF8", "encoding utf-8"),
        (body("\r\n").encode("utf-8"), None, "encoding utf-8"),
        (body().encode("cp1252"), None, "encoding cp1252 (guessed: the file is not UTF-8)"),
        (body().encode("cp1252"), "cp1252", "encoding cp1252"),
        (body().encode("latin-1", errors="replace"), "latin-1", "encoding iso8859-1"),
    ],
    ids=["utf8", "bom", "two-boms", "declared-bom", "declared", "crlf", "cp1252-guessed", "cp1252", "latin1"],
)
def test_every_encoding_gives_the_same_cells_and_lines(tmp_path, data, encoding, note):
    table = read_csv(write(tmp_path, data), encoding=encoding)
    assert list(table.cells.columns) == ROWS[0]
    got = table.cells.astype(object).values.tolist()
    if encoding == "latin-1":  # « and Œ have no latin-1 byte: written as "?"
        assert got == [["1", "Saint-Étienne", "tag « insultant »"], ["2", "?uvre", "ok"]]
    else:
        assert got == CELLS
    assert table.rows.tolist() == [2, 3]
    assert table.notes[0] == note
    assert table.notes[1] == "delimiter semicolon"


def test_blank_lines_and_a_quoted_line_break_keep_each_records_first_line(tmp_path):
    text = 'id;quartier;note\n\n1;Saint-Étienne;"sur\ndeux lignes"\n\n2;Œuvre;ok\n'
    for data in (text.encode("utf-8"), BOM + text.encode("utf-8"), text.encode("cp1252")):
        table = read_csv(write(tmp_path, data))
        assert table.cells.astype(object).values.tolist() == [
            ["1", "Saint-Étienne", "sur\ndeux lignes"],
            ["2", "Œuvre", "ok"],
        ]
        assert table.rows.tolist() == [3, 6]


def test_blank_lines_alone_are_skipped_by_the_fast_reader_with_their_numbers(tmp_path):
    text = "id;quartier;note\n1;Saint-Étienne;a\n\n\n2;Œuvre;ok\n"
    table = read_csv(write(tmp_path, BOM + text.encode("utf-8")))
    assert table.cells.astype(object).values.tolist() == [["1", "Saint-Étienne", "a"], ["2", "Œuvre", "ok"]]
    assert table.rows.tolist() == [2, 5]


@pytest.mark.parametrize("prefix", [b"", BOM], ids=["utf8", "bom"])
def test_a_nul_byte_names_its_line(tmp_path, prefix):
    data = prefix + body().encode("utf-8").replace(b"Saint", b"Sa\x00int")
    with pytest.raises(ImportFailure) as caught:
        read_csv(write(tmp_path, data))
    assert caught.value.row == "line 2" and "NUL" in str(caught.value)


def test_a_bad_byte_in_a_utf8_file_names_its_line(tmp_path):
    data = body().encode("utf-8") + "3;Ménilmontant;ok\n".encode("cp1252")
    with pytest.raises(ImportFailure) as caught:
        read_csv(write(tmp_path, data))
    assert caught.value.row == "line 4" and "0xE9 is not valid UTF-8" in str(caught.value)


def test_a_declared_utf8_file_with_a_bad_byte_is_refused_not_guessed(tmp_path):
    data = "id;quartier\n1;Ménilmontant\n".encode("cp1252")
    with pytest.raises(ImportFailure) as caught:
        read_csv(write(tmp_path, data), encoding="utf-8")
    assert caught.value.row == "line 2"


def test_an_unknown_declared_encoding_is_named(tmp_path):
    with pytest.raises(ImportFailure) as caught:
        read_csv(write(tmp_path, body().encode("utf-8")), encoding="klingon-8")
    assert "unknown encoding 'klingon-8'" in str(caught.value)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40).map(lambda b: b.replace(b"\x00", b"")), st.integers(1, 9))
def test_line_feeds_are_what_python_counts(data, block):
    """The fast reader's line count, a block at a time (blocks of 1 to 9 bytes here, so that two
    line feeds straddle a block's edge): what ``bytes.count`` and ``in`` say."""
    assert line_feeds(data, block) == (data.count(b"\n"), b"\n\n" in data)
