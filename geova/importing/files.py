"""What an import reads and writes besides the store: the digest of the file (the journal's key
for an unchanged re-import), the rejects file people open in Excel, and the one line that names
the file when the store refuses one of its values."""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.exc import DataError, IntegrityError

from geova.config import instance_path
from geova.io.errors import ImportFailure, Reject
from geova.io.exports import safe_cell


def sha256(path: Path) -> str:
    """The digest of a file (or of a folder's files, in name order), read in blocks: reading a
    490 MB export whole first took twice as long (0.8-1.0 s against 0.4-0.7 s), most of it the
    kernel mapping fresh memory."""
    h = hashlib.sha256()
    for p in sorted(path.iterdir()) if path.is_dir() else [path]:
        with p.open("rb") as fh:
            while block := fh.read(1 << 20):
                h.update(block)
    return h.hexdigest()


def digest_later(path: Path) -> Callable[[], str]:
    """The file's SHA-256, computed in a thread while the import checks and stores the rows (the
    journal records it): hashing a 490 MB export first kept one core busy for 0.5-1 s while the
    other waited."""
    pool = ThreadPoolExecutor(1, thread_name_prefix="geova-sha256")
    try:
        return pool.submit(sha256, path).result
    finally:
        pool.shutdown(wait=False)  # the digest goes on; the thread ends with it


def write_rejects(rejects: list[Reject], path: Path, unit: str) -> None:
    """A rejects file for Excel users: ``;``-separated, UTF-8 with BOM."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh, delimiter=";")
        w.writerow([unit, "field", "value", "reason"])
        for r in rejects:
            w.writerow([safe_cell(c) for c in (r.row, r.field, r.value, r.reason)])  # values: the file's


def default_rejects_path(path: Path) -> Path:
    return instance_path() / "rejects" / f"{path.stem}.rejects.csv"


@contextmanager
def refused_by_store(file: Path) -> Iterator[None]:
    """A value the store's constraints refuse although the checks before let it through: one line
    naming the file instead of a traceback. Enter it before ``engine.begin()`` so that the
    transaction is rolled back first. Lock and connection errors (OperationalError) pass through:
    they say nothing about the file."""
    try:
        yield
    except (IntegrityError, DataError) as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
        raise ImportFailure(str(file), f"the store refused a value ({reason})") from exc
