"""Errors that stop an import before anything is written, always naming the file (and row)."""

from __future__ import annotations

from dataclasses import dataclass


class ImportFailure(Exception):
    """A fatal problem with an input file: the import is abandoned and the store left untouched."""

    def __init__(self, file: str, message: str, row: str | None = None, field: str | None = None):
        self.file, self.message, self.row, self.field = file, message, row, field
        where = file + (f", {row}" if row else "") + (f", field '{field}'" if field else "")
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class Reject:
    """One input row that was not stored, and why."""

    row: int
    field: str
    value: str
    reason: str


class TooManyRejects(ImportFailure):
    """More rows rejected than the import allows: nothing is stored, the rejects file says why."""

    def __init__(self, file: str, rejected: int, allowed: int, rejects_file: str):
        self.rejected, self.allowed, self.rejects_file = rejected, allowed, rejects_file
        super().__init__(
            file,
            f"{rejected} rows rejected, more than the {allowed} allowed; "
            f"nothing was stored (see {rejects_file})",
        )
