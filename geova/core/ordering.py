"""The order people expect for codes: ``2`` before ``10``, ``Q2`` before ``Q10``.

Quarter codes are often numbers written as text (Paris's arrondissements ``1``…``20``, INSEE
codes); sorted as text, the 10th arrondissement would come between the 1st and the 2nd. Every
grouped result is put in this order once, here, so tables, CSV files and pages agree.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pandas as pd

_DIGITS = re.compile(r"\d+")


def natural_key(value: object) -> object:
    """Text with each run of digits padded to 20 places, so that text order is number order."""
    if isinstance(value, str):
        return _DIGITS.sub(lambda m: m.group().zfill(20), value)
    return value


def natural_sort(frame: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """``frame`` sorted by ``by`` in natural order (stable; missing values last), index reset."""
    if frame.empty or not by:
        return frame.reset_index(drop=True)

    def key(column: pd.Series) -> pd.Series:
        if column.dtype == object or pd.api.types.is_string_dtype(column):
            return column.map(natural_key)
        return column

    return frame.sort_values(list(by), key=key, kind="stable").reset_index(drop=True)
