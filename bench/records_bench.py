"""Parsing benchmark: ``read_table`` and ``to_records`` alone (no database) on a Boston 311 file
written by ``import_bench.py``, with the time of the date parsing, the digest and the location
checks inside ``to_records``. ``--reference`` parses the dates with pandas alone (the reference the
Arrow fast path is tested against), to compare both in one run. It prints figures only.

    .venv/bin/python bench/records_bench.py bench/out/boston311-1000000-seed2015-v1.csv
    .venv/bin/python bench/records_bench.py bench/out/boston311-1000000-seed2015-v1.csv --reference
"""

from __future__ import annotations

import argparse
import functools
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geova.io.records as records
from geova.io.mapping import load_mapping
from geova.io.tables import read_table

HERE = Path(__file__).resolve().parent


def timed(name: str, spent: dict[str, float], func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return func(*args, **kwargs)
        finally:
            spent[name] = spent.get(name, 0.0) + time.perf_counter() - start

    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--mapping", type=Path, default=HERE / "boston-311-bench.toml")
    parser.add_argument("--reference", action="store_true", help="dates through pandas alone")
    args = parser.parse_args()
    records.REFERENCE_ONLY = args.reference
    spent: dict[str, float] = {}
    for name in ("parse_datetimes", "content_hashes", "_locate"):
        setattr(records, name, timed(name, spent, getattr(records, name)))
    mapping = load_mapping(args.mapping)
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    start = time.perf_counter()
    src = mapping.source
    table = read_table(args.file, delimiter=src.delimiter, encoding=src.encoding, layer=src.layer)
    read = time.perf_counter() - start
    start = time.perf_counter()
    result = records.to_records(table, mapping, args.file)
    total = time.perf_counter() - start
    print(f"{len(table.cells)} rows, {len(result.rejects)} rejects")
    print(f"read_table {read:.2f} s, to_records {total:.2f} s")
    for name, seconds in spent.items():
        print(f"  {name:16} {seconds:.2f} s")


if __name__ == "__main__":
    main()
