"""gunicorn's configuration for geova: ``gunicorn -c python:geova.gunicorn_conf 'geova.web:create_app()'``
(what ``make serve`` runs). Every value comes from geova's settings (``GEOVA_BIND``, ``GEOVA_WORKERS``,
``GEOVA_THREADS``, ``GEOVA_WORKER_TIMEOUT``, ``GEOVA_GRACEFUL_TIMEOUT``, ``GEOVA_DB_POOL_SIZE``), so
gunicorn is configured like the rest of geova; gunicorn's own command-line flags still override it.

Where it lives. Not as a ``gunicorn.conf.py`` at the repository's root: that file is only found when
gunicorn starts in the root folder, and an installed geova has no root folder, while
``python:geova.gunicorn_conf`` is found wherever geova is installed and is linted and type-checked
with the package. Not under ``geova/web/`` either: importing it would run ``geova/web/__init__.py``
and load the whole app (GeoPandas, the store, every blueprint) into the master process, which never
serves a request (about 150 MB and a second of start-up for nothing). gunicorn reads every
module-level name that is one of its settings and ignores the others.

Sizing (defaults). One worker process per CPU core, four threads each. Rendering a page and
evaluating norms is Python holding the GIL, so one process per core is what uses every core; more
processes than cores only queue for the CPU and cost memory (a worker holds about 150-200 MB: pandas,
GeoPandas, pyproj, shapely). The threads overlap what does not hold the GIL (waiting for PostGIS or
SpatiaLite, for a slow client); many more would mostly wait for the GIL and stretch every request's
latency. Each worker's database pool holds one connection per thread (``GEOVA_DB_POOL_SIZE``, set here
for the workers), so a PostgreSQL server sees at most workers x (threads + 2) connections from geova
(its ``max_connections`` defaults to 100).

Restarts. ``kill -HUP`` on the master starts new workers, which import the deployed code afresh
(``post_fork``), then stops the old ones gracefully: each finishes the requests it is serving within
``graceful_timeout`` while the listening socket stays open, so no request is refused. The settings
are the master's, read when it started: a changed ``GEOVA_*`` value needs a restart. SIGTERM stops
the same graceful way; SIGINT or SIGQUIT stop at once.

``preload_app`` stays off. Preloading would import the app once in the master and fork it, saving
start-up time and some memory; but ``kill -HUP`` would then fork the old code again, so a deploy would
need a full restart, and whatever the master had opened would be shared by every worker. Nothing is:
``create_app`` opens no database connection (``geova.web.engine()`` creates the engine at the first
request, in the worker serving it; tests/test_gunicorn.py checks it), so ``--preload`` remains safe
for an operator who prefers it.

Warm-up. Each worker, once it has loaded the app, loads its columnar replica of the verdicts
(geova.store.verdict_replica) in a background thread (``post_worker_init``): seconds for a million
requests that the first visitor would otherwise wait for. The worker serves meanwhile; a page that
needs the replica waits for it. Its log line says how many rows and how long.

Logs. The access log (Apache's combined format, plus the duration and geova's request id) goes to
standard output; gunicorn's messages and geova's own lines go to standard error. Secret query values
(``?api_key=``) are masked in both: ``geova.logs.configure`` filters the ``gunicorn.access`` logger,
and ``post_fork`` also filters ``gunicorn.error``, whose "Error handling request" line carries the
URL. ``post_fork`` sets this up in every worker, so it does not depend on the app being created first.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from geova.settings import load


def cpu_cores() -> int:
    """The CPUs this process may run on: its affinity, which a container or systemd's ``CPUAffinity``
    narrows (``os.cpu_count`` would count the whole machine's), else the machine's count."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # platforms without sched_getaffinity (macOS)
        return os.cpu_count() or 1


_settings = load()

bind = [_settings.bind]
workers = _settings.workers or cpu_cores()
threads = _settings.threads  # more than one: gunicorn runs its threaded worker (gthread)
# With threaded workers the timeout is the worker's heartbeat, not a limit on one request: a worker
# whose main loop has been stuck that long is killed and replaced.
timeout = _settings.worker_timeout
graceful_timeout = _settings.graceful_timeout
keepalive = 5  # seconds an idle keep-alive connection (from the reverse proxy) is kept open
preload_app = False
proc_name = "geova"
# One database connection per thread of a worker; an explicit GEOVA_DB_POOL_SIZE is kept.
raw_env = [f"GEOVA_DB_POOL_SIZE={_settings.db_pool_size or threads}"]
# gunicorn >= 25's control socket (for gunicornc) defaults to one path per user, which two instances
# run by the same account would fight over: each instance keeps its own beside its runtime state.
control_socket = str(_settings.instance / "gunicorn.ctl")

accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(M)sms %({x-request-id}o)s'
# gunicorn itself would believe X-Forwarded-Proto from 127.0.0.1; geova.web.proxies (ProxyFix, under
# GEOVA_TRUSTED_PROXIES) is the one place forwarding headers are trusted, under any server.
secure_scheme_headers: dict[str, str] = {}


def post_fork(server: Any, worker: Any) -> None:
    """In each new worker: geova's code imported afresh, geova's log handler, and secret query values
    masked in gunicorn's lines."""
    # To read the settings, the master imported geova.settings and the modules it imports (the
    # referential's, the norms'). A worker forked after `kill -HUP` would inherit those copies, from
    # before the deploy, and mix them with the new code: it imports all of geova from the disk instead.
    for name in [n for n in sys.modules if (n == "geova" or n.startswith("geova.")) and n != __name__]:
        del sys.modules[name]
    from geova.logs import ScrubFilter, configure  # Flask and SQLAlchemy: the workers', not the master's

    configure()  # filters gunicorn.access
    error_log = logging.getLogger("gunicorn.error")
    if not any(isinstance(f, ScrubFilter) for f in error_log.filters):
        error_log.addFilter(ScrubFilter())


def post_worker_init(worker: Any) -> None:
    """In each worker, its app loaded: warm the verdicts' replica in the background (why:
    geova.web.warm_up)."""
    import threading

    from geova.web import warm_up

    threading.Thread(target=warm_up, args=(worker.wsgi,), name="geova-warm-up", daemon=True).start()
