"""Photos attached to reports on the web form: where they are kept and how they are served.

A photo is checked and re-encoded without its EXIF metadata by geova.io.photos (a phone's photo
carries the GPS position and the owner's name), then kept in the instance folder under a random
name: the name the browser sent is never used as a path, nor kept. The ``reported`` event's detail
records the file name and its Content-Type (geova.store.edits.report_intervention), so a photo
belongs to exactly one request and is served only through it, to the callers who may read that
request in detail (geova.web.request_page), with ``X-Content-Type-Options: nosniff``.

The form's size limit is ``GEOVA_PHOTO_MAX_MB``; the app-wide ``MAX_CONTENT_LENGTH`` stays the
imports' (``GEOVA_UPLOAD_MAX_MB``): the report view bounds its own request body instead.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _

from geova.io.photos import FORMATS, Photo, PhotoRefused

PHOTO_FOLDER = "request_photos"
FORM_MARGIN = 100_000  # bytes of form fields besides the photo
PHOTO_ACCEPT = ",".join(t for t, _ext in FORMATS.values())  # the file input's accept attribute
NAME = re.compile(r"^[0-9a-f]{32}\.(jpg|png|webp)$")
CONTENT_TYPES = {ext: t for t, ext in FORMATS.values()}


def photo_limit() -> int:
    """Bytes a photo may have (GEOVA_PHOTO_MAX_MB)."""
    return int(current_app.config.get("GEOVA_PHOTO_MAX_MB", 5)) * 1_000_000


def photo_folder() -> Path:
    return Path(current_app.instance_path) / PHOTO_FOLDER


def photo_refusal_text(exc: PhotoRefused, limit: int) -> str:
    """Why a photo was refused, in the page's language."""
    texts = {
        "empty": _("the file is empty"),
        "too_big": _("the photo is larger than %(mb)s MB", mb=f"{limit / 1_000_000:g}"),
        "not_image": _("the file is not a JPEG, PNG or WebP image"),
        "too_many_pixels": _("the image has too many pixels"),
        "damaged": _("the image is damaged"),
    }
    return texts.get(exc.reason, str(exc))


def save_photo(photo: Photo) -> dict[str, str]:
    """Write the re-encoded photo under a random name; what the report event records of it."""
    folder = photo_folder()
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{secrets.token_hex(16)}.{photo.extension}"
    with open(folder / name, "xb") as out:  # never overwrite: a name drawn twice fails loudly
        out.write(photo.data)
    return {"file": name, "type": photo.content_type}


def discard_photo(kept: dict[str, str] | None) -> None:
    """Remove a photo written for a report that was not recorded."""
    if kept and NAME.match(kept.get("file", "")):
        (photo_folder() / kept["file"]).unlink(missing_ok=True)


def photo_path(name: str) -> tuple[Path, str] | None:
    """(path, Content-Type) of a kept photo by its recorded name, or None (a name that is not one
    of ours never becomes a path)."""
    if not NAME.match(name):
        return None
    path = photo_folder() / name
    if not path.is_file():
        return None
    return path, CONTENT_TYPES[name.rsplit(".", 1)[1]]
