"""What an uploaded file is, from its first bytes: its name is only a hint, never a path.

The web app stores an upload under a name of its own (``data`` plus the suffix found here) in a
folder of its own, so neither ``../`` nor a misleading extension reaches the file system or a reader.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

# kind of import -> the formats it accepts
TABLE_FORMATS = ("csv", "geojson", "gpkg")
LAYER_FORMATS = ("geojson", "gpkg", "zip")
SUFFIX = {"csv": ".csv", "geojson": ".geojson", "gpkg": ".gpkg", "zip": ".zip"}
SNIFF_BYTES = 65_536


class UploadRefused(ValueError):
    """The upload is not a file of a kind geova reads; the message says what was expected."""


def detect_format(path: Path) -> str:
    """``csv``, ``geojson``, ``gpkg`` or ``zip`` (a zipped shapefile), read from the content."""
    with path.open("rb") as fh:
        head = fh.read(SNIFF_BYTES)
    if not head:
        raise UploadRefused("the file is empty")
    if head.startswith(b"SQLite format 3\x00"):
        return "gpkg"
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as zf:
                names = [n.lower() for n in zf.namelist()]
        except zipfile.BadZipFile as exc:
            raise UploadRefused(f"a damaged zip file ({exc})") from exc
        if not any(n.endswith(".shp") for n in names):
            raise UploadRefused("a zip file without a shapefile (.shp) in it")
        return "zip"
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if text.startswith(b"{"):
        return "geojson"
    if b"\x00" in head:
        raise UploadRefused("a binary file, neither CSV, GeoJSON, GeoPackage nor a zipped shapefile")
    return "csv"


def check_format(path: Path, accepted: tuple[str, ...]) -> str:
    """The file's format if the import accepts it; UploadRefused naming what it accepts otherwise."""
    found = detect_format(path)
    if found not in accepted:
        raise UploadRefused(f"a {found} file, where {', '.join(accepted)} is expected")
    return found
