"""Imports run in the background: a job row in the store, and a process that runs it.

Why a subprocess and not RQ or Huey: those need a broker (Redis) and a worker daemon to install,
supervise and secure, which a city's intranet server running geova would not otherwise have. An
import is rare (a few a day) and already one transaction; the store is the queue: the web app writes
a ``import_job`` row, starts ``python -m geova run-job ID`` detached from the web worker (its own
session, so a worker restart does not kill it), and answers at once; the process writes its phase,
progress, counts and error into the row, which the page polls. Nothing else to run or monitor.

A web upload's dry run goes the same way: its job starts in phase ``preview``, its process runs
geova.preview and writes the result as JSON (``instance/jobs/ID.preview.json``), then leaves the job
``previewed`` until the user presses "Import", which queues the same job for its import. However
large the file, no web request parses it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine

from geova import importing
from geova import preview as dry_run
from geova.config import instance_path
from geova.io.errors import ImportFailure, TooManyRejects
from geova.store import import_jobs
from geova.store.db import StoreBusy, is_sqlite, write

log = logging.getLogger(__name__)
PROGRESS_EVERY = 1.0  # seconds between two progress writes
LAYER_OPTIONS = (
    "code_field", "name_field", "parent_field", "parent_name",
    "kind", "kind_field", "crs", "layer", "layer_name",
)  # fmt: skip


def jobs_folder() -> Path:
    return instance_path() / "jobs"


def preview_path(job_id: int) -> Path:
    """Where a job's dry run is written (JSON), for its page to render."""
    return jobs_folder() / f"{job_id}.preview.json"


def plain_message(
    message: str, *, path: str, file_name: str, mapping: str | None = None, mapping_label: str | None = None
) -> str:
    """An import error with an upload's paths in the instance replaced by the names the user knows."""
    if mapping:
        message = message.replace(mapping, mapping_label or "mapping")
    message = message.replace(path, file_name).replace(str(Path(path).parent) + "/", "")
    return " ".join(message.split())


def _plain(message: str, job: import_jobs.Job) -> str:
    if job.origin != "web":
        return " ".join(message.split())
    return plain_message(
        message,
        path=job.path,
        file_name=job.file_name,
        mapping=job.mapping,
        mapping_label=job.options.get("mapping_label"),
    )


def launch(job_id: int, settings: dict[str, str]) -> int:
    """Start the job's process detached from the caller; its pid. ``settings`` (``GEOVA_*`` names:
    the caller's database URL, referential...) go through the environment, where a database
    password stays private (a command line is visible to every user of the machine in ``ps``)."""
    folder = jobs_folder()
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GEOVA_INSTANCE_PATH": str(instance_path()), **settings}
    with (folder / f"{job_id}.log").open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "geova", "run-job", str(job_id)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            close_fds=True,
        )
    # reaped when it ends, so that a long-lived web worker does not collect zombies
    threading.Thread(target=process.wait, daemon=True).start()
    return process.pid


def alive(pid: int) -> bool:
    """Whether process ``pid`` still runs on this machine (the web app and its jobs share one)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True


def _progress_writer(engine: Engine, job_id: int) -> Callable[[int, int], None] | None:
    """Rows stored so far, written at most once a second. None on SQLite: the import's transaction
    holds the store's only write lock while it stores rows, so the job row gets its counts at the
    end (the page shows the phase meanwhile)."""
    if is_sqlite(engine):
        return None
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] < PROGRESS_EVERY and done < total:
            return
        last[0] = now
        with suppress(StoreBusy):  # the next call tries again
            import_jobs.record_progress(engine, job_id, done, total)

    return progress


def _run(engine: Engine, job: import_jobs.Job) -> dict[str, Any]:
    path = Path(job.path)
    rejects = jobs_folder() / f"{job.id}.rejects.csv"
    max_rejects = job.options.get("max_rejects")
    if job.kind in ("quarters", "zones"):
        options = {k: job.options[k] for k in LAYER_OPTIONS if job.options.get(k) is not None}
        r = importing.import_layer(engine, path, as_=job.kind, **options)
        done = {k: getattr(r, k) for k in ("features", "inserted", "updated", "unchanged", "deleted")}
        return {"counts": done, "rows_done": r.features, "rows_total": r.features}
    mapping = Path(job.mapping or "")
    if job.kind == "interventions":
        report = importing.import_interventions(
            engine,
            path,
            mapping,
            rejects_path=rejects,
            max_rejects=max_rejects,
            progress=_progress_writer(engine, job.id),
        )
    else:
        report = importing.import_activities(
            engine, path, mapping, rejects_path=rejects, max_rejects=max_rejects
        )
    counts: dict[str, Any] = {**report.counts(), "flagged": report.flagged}
    return {
        "counts": counts,
        "rows_done": report.read,
        "rows_total": report.read,
        "rejects_path": str(rejects) if rejects.exists() else None,
    }


def _json_value(value: Any) -> Any:
    """numpy scalars as Python ones; anything else JSON does not know as its text."""
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def _preview(engine: Engine, job: import_jobs.Job) -> dict[str, Any]:
    """The upload's dry run, written as JSON for its page; the job then waits for "Import"."""
    path = Path(job.path)
    if job.kind in ("quarters", "zones"):
        options = {k: job.options[k] for k in LAYER_OPTIONS if job.options.get(k) is not None}
        options = {"code_field": None, "name_field": None, **options}
        p = dry_run.preview_layer(path, as_=job.kind, **options)
    else:
        read = dry_run.preview_interventions if job.kind == "interventions" else dry_run.preview_activities
        p = read(engine, path, Path(job.mapping or ""))
    data = p.to_dict()
    data["file"] = job.file_name
    if p.failure:
        data["failure"] = _plain(p.failure, job)
    target = preview_path(job.id)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    partial.write_text(json.dumps(data, default=_json_value, ensure_ascii=False), encoding="utf-8")
    partial.replace(target)  # the page never reads half a file
    return {"phase": import_jobs.PREVIEWED}


def run_job(engine: Engine, job_id: int) -> import_jobs.Job:
    """Run a queued job to its end, writing its phase, counts or error into its row; a job in
    phase ``preview`` gets its dry run instead and waits, ``previewed``, for its import."""
    with write(engine) as conn:
        job = import_jobs.get_job(conn, job_id)
        if job is None:
            raise ImportFailure(f"job {job_id}", "no such import job")
        previewing = job.phase == "preview"
        if job.phase not in ("queued", "preview"):
            raise ImportFailure(f"job {job_id}", f"already {job.phase}")
        import_jobs.update_job(conn, job_id, phase="previewing" if previewing else "running", pid=os.getpid())
    outcome: dict[str, Any]
    try:
        outcome = _preview(engine, job) if previewing else {"phase": "done", **_run(engine, job)}
    except TooManyRejects as exc:
        outcome = {"phase": "failed", "error": _plain(str(exc), job), "rejects_path": exc.rejects_file}
    except ImportFailure as exc:
        outcome = {"phase": "failed", "error": _plain(str(exc), job)}
    except StoreBusy as exc:
        outcome = {"phase": "failed", "error": f"the store was busy with other changes ({exc}); try again"}
    except Exception as exc:  # the row must not stay "running" forever; the log has the traceback
        log.exception("import job %d failed", job_id)
        outcome = {"phase": "failed", "error": f"unexpected error ({exc.__class__.__name__}), see the log"}
    with write(engine) as conn:
        import_jobs.update_job(conn, job_id, **outcome)
        done = import_jobs.get_job(conn, job_id)
    assert done is not None
    if job.origin == "web" and done.phase != import_jobs.PREVIEWED:
        remove_upload(Path(job.path))
    return done


def uploads_folder() -> Path:
    return instance_path() / "uploads"


def remove_upload(path: Path) -> None:
    """An uploaded file's folder, once imported (or not): the journal keeps its name and digest, the
    rejects file is kept apart. Only a folder of the instance's uploads is ever removed."""
    folder = path.resolve().parent
    if folder.parent == uploads_folder().resolve():
        shutil.rmtree(folder, ignore_errors=True)


def sweep_uploads(older_than: float = 86_400.0) -> None:
    """Remove the uploads previewed but never imported, after a day."""
    root = uploads_folder()
    if not root.is_dir():
        return
    now = time.time()
    for folder in root.iterdir():
        with suppress(OSError):
            if (folder / "upload.json").exists() and now - folder.stat().st_mtime > older_than:
                shutil.rmtree(folder, ignore_errors=True)
