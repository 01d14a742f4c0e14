"""What a stored request is made of, for every layer: its canonical columns, and the content digest
that lets re-imports and web edits tell an unchanged row cheaply (both must compute it the same way,
so it lives below them)."""

from __future__ import annotations

import pandas as pd

CANONICAL = [
    "source_id",
    "category_code",
    "source_category",
    "reported_at",
    "resolved_at",
    "due_at",
    "status",
    "channel",
    "insulting",
    "severity",
    "service",
    "description",
    "address",
    "x",
    "y",
]
# The fields whose values define a record's content: a re-import with equal hashes is "unchanged".
HASHED = [c for c in CANONICAL if c != "source_id"]


def content_hashes(frame: pd.DataFrame, columns: list[str] = HASHED) -> list[str]:
    """A digest of each record's content, so that re-imports can tell unchanged rows cheaply.

    pandas' vectorised 64-bit row hash (fixed key, so stable across runs) rather than a
    cryptographic digest per row: it only has to tell a row from its own previous version.
    """
    parts = pd.DataFrame(
        {name: (frame[name].round(7) if name in ("x", "y") else frame[name]) for name in columns}
    )
    for name in parts.columns:
        if parts[name].dtype == object or str(parts[name].dtype).startswith(("str", "string")):
            values = parts[name].astype(object)
            if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
                # texts and gaps only: the gaps as None, vectorised (a million rows, eight columns)
                parts[name] = values.where(values.notna(), None)
            else:
                parts[name] = values.map(lambda v: None if v is None or v != v else str(v)).astype(object)
    digest = pd.util.hash_pandas_object(parts, index=False).to_numpy()
    return [f"{v:016x}" for v in digest.tolist()]
