"""Reading a TOML file a person wrote (mapping, referential, sources): one place says why it cannot
be read, so every file kind refuses a missing, non-UTF-8 or malformed file in the same words."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from geova.io.errors import ImportFailure


def read_toml_text(path: Path, what: str) -> tuple[str, dict[str, Any]]:
    """The file's text (for line numbers in later messages) and its parsed TOML; ImportFailure
    naming the file otherwise. ``what`` names the kind of file in "<what> not found"."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ImportFailure(str(path), f"{what} not found") from exc
    except UnicodeDecodeError as exc:
        raise ImportFailure(str(path), f"not UTF-8 (TOML files must be): byte {exc.start}") from exc
    except OSError as exc:
        raise ImportFailure(str(path), f"cannot be read: {exc.strerror}") from exc
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ImportFailure(str(path), f"not valid TOML: {exc}") from exc


def pydantic_message(err: Any) -> str:
    """A pydantic error as a person editing the file reads it."""
    if err["type"] == "missing":
        return "missing (required)"
    if err["type"] == "extra_forbidden":
        return "not a key of this table (a typo?)"
    return str(err["msg"]).removeprefix("Value error, ")
