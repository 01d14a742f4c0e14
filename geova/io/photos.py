"""Photos people attach to a request: checked from their content and re-encoded before keeping.

A file is accepted when Pillow recognises it as a JPEG, PNG or WebP image (whatever its name or
the type the browser claimed), ``verify()`` finds it sound, and it decodes within a bounded number
of pixels: a "decompression bomb" (a small file that decodes to gigabytes) is refused before it is
decoded. The image is then re-encoded in its own format. Re-encoding is the point, not a side
effect: a phone's photo carries EXIF metadata (GPS position of the person who took it, the owner's
name, the device's serial number) that must not be kept nor served to other people; the copy kept
holds the pixels only (turned upright first, since the orientation lives in the EXIF block).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

# Format Pillow names → (Content-Type, file extension)
FORMATS = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png"), "WEBP": ("image/webp", "webp")}
MAX_PIXELS = 40_000_000  # a 40 MP photo decodes to 160 MB of RGBA: more is refused as a bomb


REASONS = {
    "empty": "the file is empty",
    "too_big": "the file is larger than the limit",
    "not_image": "the file is not a JPEG, PNG or WebP image",
    "too_many_pixels": f"the image has more than {MAX_PIXELS:,} pixels",
    "damaged": "the image is damaged",
}


class PhotoRefused(ValueError):
    """A file that is not a photo geova keeps; ``reason`` is one of :data:`REASONS`' keys (the
    pages word it in the reader's language)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(REASONS.get(reason, reason))


@dataclass(frozen=True)
class Photo:
    """A photo re-encoded without metadata: its bytes, Content-Type and extension."""

    data: bytes
    content_type: str
    extension: str


def clean_photo(raw: bytes, max_bytes: int) -> Photo:
    """``raw`` checked (type from the content, size, pixels) and re-encoded without its metadata;
    :class:`PhotoRefused` otherwise."""
    if not raw:
        raise PhotoRefused("empty")
    if len(raw) > max_bytes:
        raise PhotoRefused("too_big")
    try:
        # Image.open reads the header only; a bomb past twice Pillow's own bound raises here, and
        # anything past MAX_PIXELS is refused before a pixel is decoded
        with Image.open(io.BytesIO(raw), formats=list(FORMATS)) as probe:
            kind = probe.format or ""
            width, height = probe.size
            probe.verify()
        if width * height > MAX_PIXELS:
            raise PhotoRefused("too_many_pixels")
        with Image.open(io.BytesIO(raw), formats=[kind]) as image:
            image.load()
            upright = ImageOps.exif_transpose(image) or image
            return _reencode(upright, kind)
    except PhotoRefused:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise PhotoRefused("not_image") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:  # what Pillow raises on broken files
        raise PhotoRefused("damaged") from exc


def _reencode(image: Image.Image, kind: str) -> Photo:
    """The pixels alone, in the same format: a new image carries no EXIF, XMP, ICC or text chunk."""
    if kind == "JPEG" and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    elif image.mode not in ("RGB", "RGBA", "L", "LA", "P"):
        image = image.convert("RGBA")
    bare = Image.new(image.mode, image.size)
    if image.mode == "P":
        palette = image.getpalette()
        if palette is not None:
            bare.putpalette(palette)
    bare.paste(image)
    out = io.BytesIO()
    options: dict[str, object] = {"quality": 88} if kind in ("JPEG", "WEBP") else {}
    bare.save(out, format=kind, **options)
    content_type, extension = FORMATS[kind]
    return Photo(out.getvalue(), content_type, extension)
