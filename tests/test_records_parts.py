"""A large file is checked in parts, one thread each (geova.io.records.to_records): its records,
rejects and flags must be the whole file's, whichever part a row falls in. The oracle is the
one-part run, which the import tests check value by value; here every file is also cut into
parts of a few rows, so that duplicates, bad values and DST flags straddle the cuts."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from geova.io import records as records_module
from geova.io.mapping import load_mapping
from geova.io.records import to_records
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
