"""A large file is checked in parts, one thread each (geova.io.records.to_records): its records,
rejects and flags must be the whole file's, whichever part a row falls in. The oracle is the
one-part run, which the import tests check value by value; here every file is also cut into
parts of a few rows, so that duplicates, bad values and DST flags straddle the cuts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geova.io import records as records_module
from geova.io.mapping import load_mapping
from geova.io.records import stream_records, to_records
from geova.io.tables import read_table
from tests.test_import_interventions import BAD_ROWS, paris_mapping, write_csv

REPO = Path(__file__).resolve().parent.parent


def _both(path: Path, mapping_path: Path, rows_per_part: int, monkeypatch: pytest.MonkeyPatch) -> tuple:
    mapping = load_mapping(mapping_path)
    table = read_table(path, delimiter=mapping.source.delimiter, encoding=mapping.source.encoding)
    whole = to_records(table, mapping, path)
    monkeypatch.setattr(records_module, "PART_ROWS", rows_per_part)
    monkeypatch.setattr(records_module, "MAX_PARTS", 64)
    monkeypatch.setattr(records_module.os, "cpu_count", lambda: 64)
    parts = to_records(table, mapping, path)
    return whole, parts


def _assert_same(whole, parts) -> None:
    pd.testing.assert_frame_equal(parts.frame, whole.frame)
    assert parts.rejects == whole.rejects
    assert parts.read == whole.read
    assert set(parts.flags) == set(whole.flags)
    for flag, mask in whole.flags.items():
        assert parts.flags[flag].tolist() == mask.tolist(), flag


@pytest.mark.parametrize("name", ["graffiti-removal", "empty-litter-basket"])
def test_a_real_export_in_parts_gives_the_whole_files_records(name, monkeypatch):
    csv = REPO / "data" / "boston" / f"{name}.csv"
    whole, parts = _both(csv, REPO / "data" / "mappings" / f"{name}.toml", 997, monkeypatch)
    assert len(whole.frame) > 2 * 997  # several parts
    _assert_same(whole, parts)


def test_rejects_straddling_the_cuts_are_the_whole_files(tmp_path, monkeypatch):
    # every row its own part: the duplicate in the last row names the first row's line
    path = write_csv(tmp_path / "bad.csv", BAD_ROWS)
    whole, parts = _both(path, paris_mapping(tmp_path), 1, monkeypatch)
    assert [r.row for r in whole.rejects] == [3, 4, 5, 6, 7]
    assert "line 2" in whole.rejects[-1].reason
    _assert_same(whole, parts)


def test_daylight_saving_flags_follow_their_rows_across_parts(tmp_path, monkeypatch):
    rows = [
        [f"D{i}", "Tag", when, "", "Ouvert", "x", "48.85", "2.35"]
        for i, when in enumerate(
            ["29/03/2015 01:30", "29/03/2015 02:30", "25/10/2015 02:30", "01/07/2015 10:00"] * 3
        )
    ]
    path = write_csv(tmp_path / "dst.csv", rows)
    whole, parts = _both(path, paris_mapping(tmp_path), 2, monkeypatch)
    assert sum(mask.sum() for mask in whole.flags.values()) == 6  # 3 skipped, 3 repeated
    _assert_same(whole, parts)


@pytest.mark.parametrize("part_rows", [1, 3, 1000])
def test_a_stream_of_parts_gives_the_whole_files_records(tmp_path, part_rows):
    """A first load reads the file as a stream of parts (stream_records): its parts, end to end,
    are to_records' frame and flags, and its rejects once the stream is done are the same."""
    path = write_csv(tmp_path / "bad.csv", BAD_ROWS)
    mapping_path = paris_mapping(tmp_path)
    mapping = load_mapping(mapping_path)
    table = read_table(path, delimiter=mapping.source.delimiter, encoding=mapping.source.encoding)
    whole = to_records(table, mapping, path)
    stream = stream_records(table, mapping, path, part_rows=part_rows)
    parts = list(stream.parts)
    assert len(parts) == -(-len(BAD_ROWS) // part_rows)
    frames = [frame for frame, _flags in parts if len(frame)]
    pd.testing.assert_frame_equal(pd.concat(frames, ignore_index=True), whole.frame)
    assert stream.rejects() == whole.rejects and stream.read == whole.read
    for flag, mask in whole.flags.items():
        assert np.concatenate([f[flag] for _frame, f in parts]).tolist() == mask.tolist(), flag


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["", "a", "b", "ab", "é", "101", "1010"]) | st.text(max_size=3), max_size=60))
def test_repeated_source_ids_are_pandas_duplicates(values):
    """The source ids seen in an earlier row, by Arrow's dictionary numbers: what pandas'
    ``duplicated(keep="first")`` says, whatever the values and their order."""
    for dtype in (pd.StringDtype("pyarrow", na_value=np.nan), object):
        series = (
            pd.Series(pd.array(values, dtype=dtype))
            if dtype is not object
            else pd.Series(values, dtype=object)
        )
        assert records_module.repeated_values(series).tolist() == series.duplicated(keep="first").tolist()


NUMBERISH = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(-200, 200).map(lambda v: f"{v:.7f}".replace(".", ",")),
    st.text(alphabet="0123456789+-.,eE nfiaINFAx_\u00a0", max_size=8),
    st.integers(-(10**20), 10**20).map(str),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(NUMBERISH, min_size=1, max_size=30))
def test_numbers_read_by_arrow_are_what_pandas_reads(values):
    """Coordinates held by Arrow are cast by Arrow when all are numbers: the same type (integers
    when all are whole), the same doubles bit for bit, and the same NaNs as ``pd.to_numeric``
    gives the same texts held as Python strings."""
    arrow = pd.Series(pd.array(values, dtype=pd.StringDtype("pyarrow", na_value=np.nan)))
    python = pd.Series(values, dtype=object)
    got, expected = records_module.parse_numbers(arrow), records_module.parse_numbers(python)
    assert got.dtype == expected.dtype
    assert got.to_numpy().view(np.uint64).tolist() == expected.to_numpy().view(np.uint64).tolist()
