"""``geova sync``: import the sources of a sources file whose content changed since their last sync.

Each source's content is its file's bytes, its mapping's bytes and its layer options, hashed with
SHA-256; the digest of the last sync that did not fail is kept in the store (``import_job``), so an
unchanged export costs one download and one hash. Every run of every source, imported, skipped or
failed, is a row of the import log (the web app's "Imports" page).
"""

from __future__ import annotations

import hashlib
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from geova import importing
from geova.config import instance_path
from geova.io.errors import ImportFailure
from geova.io.sources_file import Source
from geova.io.uploads import SUFFIX, UploadRefused, detect_format
from geova.jobs import run_job
from geova.settings import load as load_settings
from geova.store import import_jobs
from geova.store.db import write

CHUNK = 65_536


@dataclass(frozen=True)
class SyncResult:
    name: str
    status: str  # imported, unchanged or failed
    message: str

    @property
    def failed(self) -> bool:
        return self.status == "failed"


def download(url: str, target: Path, *, max_bytes: int, timeout: float) -> Path:
    """``url`` saved under ``target`` (suffix from its content), bounded in size and in time: each
    read waits ``timeout`` seconds at most, and the whole download takes no longer than that
    either."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    began = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, partial.open("wb") as out:
            size = 0
            while chunk := response.read(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise ImportFailure(
                        url, f"larger than {max_bytes / 1_000_000:g} MB (GEOVA_UPLOAD_MAX_MB)"
                    )
                if time.monotonic() - began > timeout:
                    raise ImportFailure(url, f"download took longer than {timeout:g} s (GEOVA_SYNC_TIMEOUT)")
                out.write(chunk)
    except urllib.error.HTTPError as exc:
        raise ImportFailure(url, f"HTTP {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        raise ImportFailure(url, f"cannot be downloaded ({exc.reason})") from exc
    except TimeoutError as exc:
        raise ImportFailure(url, f"no answer within {timeout:g} s (GEOVA_SYNC_TIMEOUT)") from exc
    try:
        found = detect_format(partial)
    except UploadRefused as exc:
        partial.unlink(missing_ok=True)
        raise ImportFailure(url, str(exc)) from exc
    final = target.with_suffix(SUFFIX[found])
    partial.replace(final)
    return final


def content_digest(file: Path, source: Source) -> str:
    """What makes a sync change something: the file, its mapping, its layer options."""
    h = hashlib.sha256()
    for part in (file, source.mapping):
        if part is not None:
            with part.open("rb") as fh:
                while block := fh.read(1 << 20):
                    h.update(block)
            h.update(b"\0")
    h.update(json.dumps(source.layer_options(), sort_keys=True).encode())
    return h.hexdigest()


def _fetch(source: Source) -> tuple[Path, str]:
    """The file to import and the name the import log shows."""
    if source.url is not None:
        settings = load_settings()
        target = instance_path() / "sync" / source.name / source.name
        file = download(
            source.url, target, max_bytes=settings.upload_max_mb * 1_000_000, timeout=settings.sync_timeout
        )
        return file, source.url.rstrip("/").rsplit("/", 1)[-1] or source.name
    assert source.path is not None
    if not source.path.exists():
        raise ImportFailure(str(source.path), "file not found")
    return source.path, source.path.name


def sync_source(engine: Engine, source: Source) -> SyncResult:
    """Import ``source`` if its content changed since its last sync; the run is logged either way."""
    kind = source.import_kind
    try:
        file, shown = _fetch(source)
        if source.mapping is not None and not source.mapping.is_file():
            raise ImportFailure(str(source.mapping), "mapping file not found")
        digest = content_digest(file, source)
    except (ImportFailure, OSError) as exc:
        with write(engine) as conn:
            job_id = import_jobs.create_job(
                conn, kind=kind, origin="sync", source=source.name, file_name=source.url or str(source.path),
                path=str(source.path or ""), phase="failed",
            )  # fmt: skip
            import_jobs.update_job(conn, job_id, phase="failed", error=" ".join(str(exc).split()))
        return SyncResult(source.name, "failed", " ".join(str(exc).split()))
    options = {**source.layer_options(), "max_rejects": source.max_rejects}
    with write(engine) as conn:
        unchanged = import_jobs.last_synced_sha256(conn, source.name) == digest
        job_id = import_jobs.create_job(
            conn,
            kind=kind,
            origin="sync",
            source=source.name,
            file_name=shown,
            path=str(file),
            mapping=str(source.mapping) if source.mapping else None,
            options=options,
            sha256=digest,
            phase="skipped" if unchanged else "queued",
        )
        if unchanged:
            import_jobs.update_job(conn, job_id, phase="skipped")
    if unchanged:
        return SyncResult(source.name, "unchanged", f"unchanged since its last sync (sha256 {digest[:12]})")
    job = run_job(engine, job_id)
    if job.phase == "failed":
        return SyncResult(source.name, "failed", job.error or "failed")
    counts = ", ".join(f"{k} {v}" for k, v in job.counts.items() if not isinstance(v, dict))
    return SyncResult(source.name, "imported", f"imported {shown}: {counts}")


def sync(engine: Engine, sources: list[Source]) -> list[SyncResult]:
    importing.prepare_store(engine)
    return [sync_source(engine, s) for s in sources]
