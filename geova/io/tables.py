"""Reading intervention exports (CSV, GeoJSON, GeoPackage) into a table of text cells.

A well-formed CSV is read by pyarrow (vectorised, both cores); any other goes through Python's
``csv`` module, because a user needs the physical line of a broken record, and a truncated or
overlong record must stop the import instead of being padded or silently split.
Spatial formats go through pyogrio (GDAL).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyogrio
import shapely
from numpy.typing import NDArray
from pyproj import CRS, Transformer

from geova.io.errors import ImportFailure

SPATIAL_SUFFIXES = {".geojson", ".json", ".gpkg", ".shp", ".zip", ".fgb"}


@dataclass
class SourceTable:
    """Text cells of a source file, with where each row came from."""

    cells: pd.DataFrame  # every column as str, missing values as ""
    rows: NDArray[np.int64]  # line number (CSV) or feature number (spatial formats) of each row
    row_unit: str  # "line" or "feature"
    lonlat: NDArray[np.float64] | None = None  # the features' own point geometry, EPSG:4326
    notes: list[str] = field(default_factory=list)  # what was detected (encoding, delimiter, CRS)
    encoding: str | None = None  # CSV: the encoding read, and why when it was guessed
    delimiter: str | None = None  # CSV: "comma", "semicolon", "tab" or the character


# A well-formed multi-byte UTF-8 sequence (RFC 3629: no overlongs, no surrogates, at most U+10FFFF).
# French text saved as Windows-1252 practically never contains one: an accented capital followed by
# a byte such as "«" or "’" would be needed. So its presence says "this file is UTF-8".
_UTF8_SEQUENCE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]"
    rb"|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}|\xed[\x80-\x9f][\x80-\xbf]"
    rb"|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}|\xf4[\x80-\x8f][\x80-\xbf]{2}"
)
_UTF8 = {"utf-8", "utf-8-sig"}
ENCODING_HINT = 'set encoding = "cp1252" in the mapping\'s [source] if the file is Windows-encoded'


def _line_of(data: bytes, offset: int) -> int:
    return data[:offset].count(b"\n") + 1


def _undecodable(
    file: str, data: bytes, exc: UnicodeDecodeError, encoding: str, why: str = ""
) -> ImportFailure:
    """The error for the first byte that does not decode, naming its line and value (``exc`` from
    decoding ``data`` itself, so that its offsets are the file's)."""
    byte = data[exc.start]
    if encoding in _UTF8:
        message = f"byte 0x{byte:02X} is not valid UTF-8 ({why}{ENCODING_HINT})"
    else:
        message = f"byte 0x{byte:02X} is not valid {encoding} (set the file's real encoding in the mapping)"
    return ImportFailure(file, message, row=f"line {_line_of(data, exc.start)}")


def decode_text(data: bytes, file: str, encoding: str | None = None) -> tuple[str, str]:
    """The text of a CSV file and a note saying which encoding was used and why.

    UTF-8 is strict whenever the file is UTF-8 by declaration (``encoding`` in the mapping, or a
    BOM) or by its content (a valid multi-byte sequence): one bad byte is an error naming its line,
    never a silent switch to another encoding that would store ``l'Ã‰glise``. Only a file without
    any UTF-8 sequence is read as Windows-1252 (what "Latin-1" means in a French Excel export:
    €, œ, ’), and the note says it was a guess. A deterministic rule rather than a statistical
    detector (charset-normalizer, chardet) so that the user can be told exactly why.
    """
    if encoding is not None:
        try:
            name = codecs.lookup(encoding).name
        except LookupError as exc:
            raise ImportFailure(file, f"unknown encoding {encoding!r} in the mapping") from exc
        if name in _UTF8:  # a stated UTF-8 may still carry a BOM
            name = "utf-8-sig" if data.startswith(codecs.BOM_UTF8) else "utf-8"
        try:
            data.decode(name.removesuffix("-sig"))  # offsets counted from the file's first byte
        except UnicodeDecodeError as exc:
            raise _undecodable(file, data, exc, name) from exc
        return data.decode(name), f"encoding {name}"
    if data.startswith(codecs.BOM_UTF8):
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _undecodable(file, data, exc, "utf-8", "the file starts with a UTF-8 BOM; ") from exc
        return data.decode("utf-8-sig"), "encoding utf-8-sig"
    try:
        return data.decode("utf-8"), "encoding utf-8"
    except UnicodeDecodeError as exc:
        sequence = _UTF8_SEQUENCE.search(data)
        if sequence is not None:
            why = f"the file has UTF-8 text on line {_line_of(data, sequence.start())}; "
            raise _undecodable(file, data, exc, "utf-8", why) from exc
    try:
        return data.decode("cp1252"), "encoding cp1252 (guessed: the file is not UTF-8)"
    except UnicodeDecodeError:
        # the five bytes cp1252 leaves undefined: an ISO-8859-1 file with C1 control codes
        return data.decode("latin-1"), "encoding latin-1 (guessed: the file is neither UTF-8 nor cp1252)"


def detect_delimiter(header: str) -> str:
    """The delimiter of the header line: the most frequent of ; , tab outside quotes."""
    counts = {d: 0 for d in (";", ",", "\t")}
    quoted = False
    for ch in header:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def read_csv(path: Path, delimiter: str | None = None, encoding: str | None = None) -> SourceTable:
    data = path.read_bytes()
    encoding_note = _utf8_note(data, encoding)
    text: str | None = None
    if encoding_note is None:  # not UTF-8, or not said to be: decode_text decides, and explains
        text, encoding_note = decode_text(data, str(path), encoding)
    if encoding_note in ("encoding utf-8", "encoding utf-8-sig"):
        # UTF-8 text is its file's bytes after the BOMs (the codec's, and a second one the text
        # would keep): Arrow reads those instead of a re-encoded copy (2 s for a 1M-row file on a
        # slow machine), and the text is decoded only if the careful reader below needs it
        bom = len(codecs.BOM_UTF8)
        boms = 0 if encoding_note == "encoding utf-8" else 1 + int(data.startswith(codecs.BOM_UTF8, bom))
        utf8, text = data[bom * boms :], None
    else:
        text = (text or "").removeprefix("\ufeff")
        utf8 = text.encode("utf-8")
    nul = utf8.find(b"\x00")
    if nul >= 0:  # PostgreSQL cannot store it, and no spreadsheet writes it into a CSV
        line = utf8.count(b"\n", 0, nul) + 1
        raise ImportFailure(
            str(path),
            'byte 0x00 (NUL): not a CSV text file (a UTF-16 "Unicode text" export? save it as CSV UTF-8)',
            row=f"line {line}",
        )
    first_line = _first_line(utf8)
    delim = delimiter or detect_delimiter(first_line)
    name = {",": "comma", ";": "semicolon", "\t": "tab"}.get(delim, repr(delim))
    notes = [encoding_note, f"delimiter {name}"]
    fast = _read_csv_fast(first_line, delim, utf8)
    if fast is not None:
        cells, line_numbers = fast
        return SourceTable(
            cells=cells,
            rows=line_numbers,
            row_unit="line",
            notes=notes,
            encoding=encoding_note.removeprefix("encoding "),
            delimiter=name,
        )
    if text is None:  # valid UTF-8 (checked)
        text = utf8.decode("utf-8")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim, strict=True)
    try:
        header = next(reader)
    except StopIteration as exc:
        raise ImportFailure(str(path), "the file is empty") from exc
    except csv.Error as exc:
        raise ImportFailure(
            str(path), f"malformed header: {exc} (a stray or unclosed quote?)", row="line 1"
        ) from exc
    header = [h.strip() for h in header]
    width = len(header)
    records: list[list[str]] = []
    lines: list[int] = []
    prev_end = reader.line_num
    try:
        for record in reader:
            start = prev_end + 1
            prev_end = reader.line_num
            if not record or (len(record) == 1 and not record[0].strip()):
                continue  # blank line
            if len(record) != width:
                raise ImportFailure(
                    str(path),
                    f"{len(record)} fields where the header has {width} "
                    f"(a stray '{delim}' or quote, or a truncated line?)",
                    row=f"line {start}",
                )
            records.append(record)
            lines.append(start)
    except csv.Error as exc:
        # Name the line where the broken record starts: an unclosed quote is only noticed at the
        # end of the file, which is not where the user must look.
        start = prev_end + 1
        until = f", read up to line {reader.line_num}" if reader.line_num > start else ""
        raise ImportFailure(
            str(path),
            f"malformed CSV: {exc} (in the record starting at line {start}{until}; "
            "a stray or unclosed quote?)",
            row=f"line {start}",
        ) from exc
    cells = (
        pd.DataFrame(records, columns=_unique(header), dtype=object)
        if records
        else pd.DataFrame(columns=_unique(header), dtype=object)
    )
    return SourceTable(
        cells=cells,
        rows=np.asarray(lines, dtype=np.int64),
        row_unit="line",
        notes=notes,
        encoding=encoding_note.removeprefix("encoding "),
        delimiter=name,
    )


def _first_line(utf8: bytes) -> str:
    """The first line of UTF-8 bytes, as text, without copying the rest of the file."""
    end = utf8.find(b"\n")
    return (utf8 if end < 0 else utf8[:end]).decode("utf-8")


def _utf8_note(data: bytes, encoding: str | None) -> str | None:
    """decode_text's note ("encoding utf-8" or "encoding utf-8-sig") when it would read ``data`` as
    UTF-8 without a doubt (UTF-8 asked for or nothing asked, and every byte valid), found without
    decoding: Arrow checks the bytes in place (0.02 s for a 490 MB export, where decoding them
    into a Python string took 0.3 s and as much memory again). None: let decode_text decide."""
    if encoding is not None:
        try:
            if codecs.lookup(encoding).name not in _UTF8:
                return None
        except LookupError:
            return None  # decode_text names the unknown encoding
    offsets = pa.py_buffer(np.array([0, len(data)], dtype=np.int64).tobytes())
    try:
        pa.LargeStringArray.from_buffers(1, offsets, pa.py_buffer(data)).validate(full=True)
    except pa.ArrowInvalid:
        return None  # decode_text names the first bad byte's line
    return "encoding utf-8-sig" if data.startswith(codecs.BOM_UTF8) else "encoding utf-8"


def _read_csv_fast(first_line: str, delim: str, data: bytes) -> tuple[pd.DataFrame, np.ndarray] | None:
    """pyarrow's multi-threaded CSV reader (about four times faster than pandas' C reader, and its
    columns stay Arrow strings, pandas' own ``str``) for the common, well-formed file, read from its
    UTF-8 bytes (``first_line`` is their first line). It gives up
    (None) whenever the exact line of each record cannot be vouched for — a quoted line break, a
    short or long record, any parser complaint — and the careful reader above takes over, so errors
    still name the right line."""
    try:
        width = len(next(csv.reader([first_line.rstrip("\r")], delimiter=delim)))
        names = [f"f{i}" for i in range(width)]
        table = pacsv.read_csv(
            io.BytesIO(data),
            # 4 MiB blocks: a 490 MB file parsed in 1.0-1.1 s on two cores where 16 MiB
            # blocks took 1.9-2.9 s (fewer, larger blocks left a core idle at the end)
            read_options=pacsv.ReadOptions(column_names=names, block_size=1 << 22),
            parse_options=pacsv.ParseOptions(
                delimiter=delim, newlines_in_values=False, ignore_empty_lines=True
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.large_string()),  # pandas' own: no cast
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, csv.Error, StopIteration, UnicodeEncodeError):
        return None
    if table.num_rows < 2:
        return None
    simple = b"\r" not in data and not data.startswith(b"\n")
    ends, blank = line_feeds(data) if simple else (0, True)
    if simple and not blank:
        # no blank line and one line end: every physical line is a record
        lines = ends + (0 if data.endswith(b"\n") else 1)
        non_blank = np.arange(1, lines + 1, dtype=np.int64)
    else:
        physical = re.split("\r\n|\r|\n", data.decode("utf-8"))  # the line ends pyarrow and csv know
        non_blank = np.flatnonzero([bool(line.strip()) for line in physical]) + 1
    if len(non_blank) != table.num_rows:  # a quoted field spans lines: physical lines != records
        return None
    header = [str(h).strip() for h in table.slice(0, 1).to_pylist()[0].values()]
    cells = table.slice(1).to_pandas(types_mapper=_as_str)
    cells.columns = _unique(header)
    return cells.reset_index(drop=True), non_blank[1:].astype(np.int64)


LINE_FEED_BLOCK = 1 << 24


def line_feeds(data: bytes, block: int = LINE_FEED_BLOCK) -> tuple[int, bool]:
    """(how many ``\\n`` the bytes hold, whether two follow each other), counted by numpy a block
    at a time: ``bytes.count`` and ``in`` hold the interpreter's lock and took 0.66 s of one core
    over a 490 MB export, while the other core waited; this takes 0.16 s, and a block's worth of
    memory rather than the file's."""
    octets = np.frombuffer(data, dtype=np.uint8)
    count, double, previous = 0, False, False
    for start in range(0, len(octets), block):
        feeds = octets[start : start + block] == 10
        count += int(np.count_nonzero(feeds))
        if not double:
            double = bool((feeds[1:] & feeds[:-1]).any()) or (previous and bool(feeds[0]))
        previous = bool(feeds[-1])
    return count, double


def _as_str(kind: pa.DataType) -> object:
    """Arrow strings as pandas' ``str`` dtype (Arrow-backed, NaN for a missing value)."""
    return pd.StringDtype("pyarrow", na_value=np.nan) if kind in (pa.string(), pa.large_string()) else None


def _unique(header: list[str]) -> list[str]:
    """Name unnamed or repeated columns (Boston's files start with an unnamed index column)."""
    seen: dict[str, int] = {}
    out = []
    for i, h in enumerate(header):
        h = h or f"column_{i + 1}"
        if h in seen:
            seen[h] += 1
            h = f"{h}_{seen[h]}"
        else:
            seen[h] = 0
        out.append(h)
    return out


def read_features(path: Path, layer: str | None = None) -> SourceTable:
    """Read a GeoJSON / GeoPackage of point features; attributes as text, points in EPSG:4326."""
    try:
        gdf = pyogrio.read_dataframe(path, layer=layer, datetime_as_string=True)
    except Exception as exc:  # pyogrio raises several GDAL error types
        raise ImportFailure(str(path), f"cannot be read: {exc}") from exc
    notes = []
    lonlat = None
    if "geometry" in gdf and gdf.geometry.notna().any():
        if gdf.crs is None:
            raise ImportFailure(str(path), "the layer has no CRS")
        geoms = gdf.geometry.to_numpy()
        empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
        non_points = ~empty & (shapely.get_type_id(geoms) != 0)
        if non_points.any():
            first = int(np.flatnonzero(non_points)[0]) + 1
            raise ImportFailure(str(path), "interventions must be points", row=f"feature {first}")
        xs = np.full(len(gdf), np.nan)
        ys = np.full(len(gdf), np.nan)
        xs[~empty] = shapely.get_x(geoms[~empty])
        ys[~empty] = shapely.get_y(geoms[~empty])
        src = CRS.from_user_input(gdf.crs)
        if not src.equals(CRS.from_epsg(4326), ignore_axis_order=True):
            tr = Transformer.from_crs(src, 4326, always_xy=True)
            xs, ys = tr.transform(xs, ys)
            notes.append(f"reprojected from {src.to_string()}")
        lonlat = np.column_stack([xs, ys])
        gdf = gdf.drop(columns="geometry")
    cells = pd.DataFrame(gdf).astype(object).where(pd.notna(gdf), "").astype(str)
    return SourceTable(
        cells=cells,
        rows=np.arange(1, len(cells) + 1, dtype=np.int64),
        row_unit="feature",
        lonlat=lonlat,
        notes=notes,
    )


def read_table(
    path: Path, delimiter: str | None = None, encoding: str | None = None, layer: str | None = None
) -> SourceTable:
    if not path.exists():
        raise ImportFailure(str(path), "file not found")
    if path.suffix.lower() in SPATIAL_SUFFIXES:
        return read_features(path, layer=layer)
    return read_csv(path, delimiter=delimiter, encoding=encoding)
