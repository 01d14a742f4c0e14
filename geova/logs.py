"""geova's logs: standard ``logging``, configured once here for the CLI and the web app.

Settings: ``GEOVA_LOG_LEVEL`` (default ``INFO``; the level of geova's own loggers) and
``GEOVA_LOG_FORMAT`` (``text``, the default, or ``json``: one JSON object a line, for a log shipper).
Lines go to standard error. The web app logs one line per request (method, path, status, duration,
user or API key, request id), imports and evaluations log what they did and how long it took, and
an unhandled exception is logged with its traceback and the request id the error page shows.

No secrets: query values whose name speaks of a key, token, password or secret (``?api_key=``) are
masked in every line geova writes and in werkzeug's and gunicorn's access logs; passwords are never
logged; a database URL is logged with its password masked (``mask_url``).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, g, has_request_context, request
from sqlalchemy.engine import make_url

from geova.settings import load as load_settings

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
FORMATS = ("text", "json")
HANDLER_NAME = "geova"
# The access loggers of the servers the README mentions (werkzeug: flask run; gunicorn: production).
ACCESS_LOGGERS = ("werkzeug", "gunicorn.access")
# name=value where the name (at the start of a query string, of a word, or after ? & ;) ends in key,
# token, password or secret: api_key=, apikey=, token=, session_token=, password=, client_secret= ...
SECRET_PARAM = re.compile(
    r"(?<![^?&;\s\"'(\[])(?P<name>[\w.%\[\]-]*?(?:key|token|password|passwd|secret)s?(?:\[\])?=)"
    r"(?P<value>[^&\s#\"']*)",
    re.IGNORECASE,
)
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# What every LogRecord has: anything else on a record was passed in ``extra`` and is a field.
STANDARD = {*logging.LogRecord("", 0, "", 0, "", (), None).__dict__, "message", "asctime", "taskName"}

log = logging.getLogger("geova.web")


def scrub(text: str) -> str:
    """``text`` with the values of secret-looking query parameters replaced by ``***``."""
    return SECRET_PARAM.sub(r"\g<name>***", text)


def mask_url(url: str) -> str:
    """A database URL fit for a log: its password replaced by ``***``."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy can parse: say nothing of it rather than leak it
        return "(unparsable URL)"


class ScrubFilter(logging.Filter):
    """Masks secret query values in a record's message (werkzeug's access line carries the request
    line; gunicorn's carries it in a dict of atoms): the record is formatted once, scrubbed, and
    keeps the clean text."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = scrub(message)
        if clean != message:
            record.msg, record.args = clean, ()
        return True


class RequestIdFilter(logging.Filter):
    """Gives every record written while a request is served that request's id."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id() if has_request_context() else None
        return True


def fields(record: logging.LogRecord) -> dict[str, Any]:
    """The structured fields of a record (what was passed in ``extra``), without empty ones."""
    return {k: v for k, v in record.__dict__.items() if k not in STANDARD and v is not None}


class TextFormatter(logging.Formatter):
    """``time LEVEL logger: message key=value ...`` for people reading a terminal or a journal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extra = " ".join(f"{k}={v}" for k, v in fields(record).items())
        if not extra:
            return line
        head, sep, trace = line.partition("\n")  # fields on the first line, the traceback after
        return f"{head} {extra}{sep}{trace}"


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, the fields, and the
    traceback if any. Hand-written on ``logging.Formatter`` (twenty lines) rather than a dependency."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **fields(record),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a line is written (as logging's last-resort handler
    does), so that a test runner or click's runner swapping the stream gets the lines."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self) -> Any:
        return sys.stderr


def _add_once(logger: logging.Logger | logging.Handler, kind: type[logging.Filter]) -> None:
    if not any(isinstance(f, kind) for f in logger.filters):
        logger.addFilter(kind())


def configure(level: str | None = None, fmt: str | None = None) -> None:
    """Set geova's logging up (idempotent: a second call replaces the first's handler).

    ``level`` and ``fmt`` default to ``GEOVA_LOG_LEVEL`` and ``GEOVA_LOG_FORMAT``. The handler goes on
    the root logger so that werkzeug's and Flask's lines share the format; only geova's loggers get
    ``level`` (other libraries keep Python's default, warnings and above).
    """
    settings = load_settings() if level is None or fmt is None else None
    level = (level or (settings.log_level if settings else "INFO")).upper()
    fmt = (fmt or (settings.log_format if settings else "text")).lower()
    if level not in LEVELS:
        raise ValueError(f"GEOVA_LOG_LEVEL must be one of {', '.join(LEVELS)}, not '{level}'")
    if fmt not in FORMATS:
        raise ValueError(f"GEOVA_LOG_FORMAT must be one of {', '.join(FORMATS)}, not '{fmt}'")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
        root.removeHandler(old)
    handler = StderrHandler()
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(RequestIdFilter())
    handler.addFilter(ScrubFilter())
    root.addHandler(handler)
    logging.getLogger("geova").setLevel(level)
    for name in ACCESS_LOGGERS:
        _add_once(logging.getLogger(name), ScrubFilter)


# -- the web app ----------------------------------------------------------------------------------


def request_id() -> str:
    """This request's id: the caller's ``X-Request-ID`` when it is a plain token, else a new one."""
    if "geova_request_id" not in g:
        asked = request.headers.get("X-Request-ID", "")
        g.geova_request_id = asked if REQUEST_ID.fullmatch(asked) else uuid.uuid4().hex
    return g.geova_request_id


def note_user(name: str) -> None:
    """Who is calling, for the request's log line (the login code calls this when it knows)."""
    g.geova_user = name


def _caller() -> str | None:
    principal = g.get("geova_principal")  # the API's caller: an account or key:NAME
    return getattr(principal, "username", None) or g.get("geova_user")


def _start() -> None:
    g.geova_started = time.perf_counter()
    request_id()


def _log_request(response: Response) -> Response:
    started = g.get("geova_started")
    duration = round((time.perf_counter() - started) * 1000, 1) if started is not None else None
    query = request.query_string.decode("latin-1")
    path = scrub(f"{request.path}?{query}") if query else request.path
    rid = request_id()
    response.headers["X-Request-ID"] = rid
    log.info(
        "%s %s %s %s ms",
        request.method,
        path,
        response.status_code,
        duration,
        extra={
            "method": request.method,
            "path": path,
            "status": response.status_code,
            "duration_ms": duration,
            "user": _caller(),
            "request_id": rid,
        },
    )
    return response


def log_exception(exc: BaseException) -> None:
    """Log an unhandled exception with its traceback and the request id. Flask does this itself for
    exceptions that reach its 500 handling (``app.logger``, which ``init_web`` gives the request id);
    an error handler registered for ``Exception`` takes that path away and must call this."""
    log.error(
        "unhandled exception on %s %s",
        request.method,
        request.path,
        exc_info=(type(exc), exc, exc.__traceback__),
        extra={"request_id": request_id()},
    )


def init_web(app: Flask) -> None:
    """Logging of the web app: configure, time and log every request, give errors a request id."""
    configure(app.config.get("GEOVA_LOG_LEVEL") or None, app.config.get("GEOVA_LOG_FORMAT") or None)
    _add_once(app.logger, RequestIdFilter)  # Flask logs unhandled exceptions to app.logger
    app.before_request_funcs.setdefault(None, []).insert(0, _start)  # first: time what runs after
    app.after_request(_log_request)
    log.debug("store: %s", mask_url(app.config.get("GEOVA_DATABASE_URL") or ""))
