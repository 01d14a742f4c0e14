"""One error policy, chosen by the path's prefix.

Every failure of a request, whatever raised it (a parameter model, a role check, the store being
busy, a bug), goes through :func:`error_response`, which answers in the format the caller reads:

- pages: the translated HTML error page in the site's layout;
- ``/api/v1``: RFC 9457 problem details (``application/problem+json``);
- ``/open311``: the GeoReport v2 error list, in JSON or XML like the path asked;
- ``/ogc`` and ``/exports``: the OGC API exception document (JSON).

The API modules register their formatter with :func:`register_format` when they are imported, so
this module imports none of them (no cycle) and a new API adds its own format in one call.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, render_template, request
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import BadRequest, HTTPException, InternalServerError

from geova.logs import log_exception, request_id
from geova.store.db import StoreBusy

log = logging.getLogger("geova.web")

MESSAGES = {
    400: (_l("This request could not be understood"), _l("A value in the address or the form is not valid.")),
    401: (_l("Please log in"), _l("This page needs an account.")),
    403: (_l("This page is not for your role"), _l("Ask an administrator if you need access to it.")),
    404: (_l("Page not found"), _l("The address may be mistyped, or the page has moved.")),
    405: (_l("This action is not possible here"), _l("Go back to the previous page and try again.")),
    413: (_l("This file or form is too large"), _l("Send a smaller file.")),
    429: (_l("Too many attempts"), _l("Wait a moment, then try again.")),
    500: (_l("Something went wrong on our side"), _l("The error has been logged. Try again in a moment.")),
    503: (_l("The service is busy"), _l("Many changes are being saved at once. Try again in a few seconds.")),
}
RETRY_AFTER_SECONDS = 2


class ParamError(BadRequest):
    """A request parameter (query string, form field or body member) that is not acceptable.

    ``param`` names it, so that every API can point at the culprit (RFC 9457's ``errors``, OGC's
    ``description``, a page's message)."""

    def __init__(self, param: str, message: str, status: int = 400):
        super().__init__(f"{param}: {message}")
        self.code = status
        self.param = param
        self.reason = message


@dataclass(frozen=True)
class Failure:
    """What went wrong, independently of how the caller wants to read it."""

    status: int
    code: str  # a short machine name: invalid_parameter, unauthorized, not_found, busy...
    message: str
    param: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


Formatter = Callable[[Failure], Response]
_FORMATS: list[tuple[str, Formatter]] = []


def register_format(prefix: str, formatter: Formatter) -> None:
    """Answer failures under ``prefix`` (e.g. ``/api/v1``) with ``formatter``."""
    _FORMATS[:] = [(p, f) for p, f in _FORMATS if p != prefix] + [(prefix, formatter)]
    _FORMATS.sort(key=lambda pf: -len(pf[0]))  # the longest prefix wins


def formatter_for(path: str) -> Formatter:
    for prefix, formatter in _FORMATS:
        if path == prefix or path.startswith(prefix.rstrip("/") + "/") or path.startswith(prefix + "."):
            return formatter
    return page


def is_api_path(path: str) -> bool:
    return formatter_for(path) is not page


def code_name(exc: HTTPException) -> str:
    return re.sub(r"[^a-z]+", "_", (exc.name or "error").lower()).strip("_")


def page(failure: Failure) -> Response:
    """The translated HTML page for people."""
    title, advice = MESSAGES.get(failure.status, MESSAGES[500 if failure.status >= 500 else 400])
    detail = failure.message if failure.status == 400 and failure.param else None
    reference = request_id() if failure.status >= 500 else None  # the id the logged traceback carries
    html = render_template(
        "error.html", code=failure.status, title=title, advice=advice, detail=detail, reference=reference
    )
    return Response(html, status=failure.status, headers=failure.headers, mimetype="text/html")


def error_response(
    status: int, code: str, message: str, *, param: str | None = None, headers: dict[str, str] | None = None
) -> Response:
    """The failure in the format of the request's path."""
    failure = Failure(status, code, message, param, dict(headers or {}))
    if status == 401:
        failure.headers.setdefault("WWW-Authenticate", 'Bearer realm="geova"')
    return formatter_for(request.path)(failure)


def from_http(exc: HTTPException) -> Response:
    """A werkzeug HTTP exception (abort(), routing, ParamError) in the path's format."""
    status = exc.code or 500
    headers: dict[str, str] = {}
    valid = getattr(exc, "valid_methods", None)
    if status == 405 and isinstance(valid, Iterable):
        headers["Allow"] = ", ".join(valid)
    retry = getattr(exc, "retry_after", None)
    if retry is not None:
        headers["Retry-After"] = str(retry)
    message = exc.description or exc.name or "error"
    if status >= 500:
        message = "internal error"  # never a traceback or an internal detail
    return error_response(status, code_name(exc), message, param=getattr(exc, "param", None), headers=headers)


def register(app: Flask) -> None:
    app.register_error_handler(HTTPException, from_http)

    @app.errorhandler(StoreBusy)
    def _busy(exc: StoreBusy) -> Response:
        log.warning("store busy: %s", exc)
        return error_response(
            503,
            "busy",
            "the store is busy with other changes; retry in a few seconds",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )

    @app.errorhandler(InternalServerError)
    def _internal(exc: InternalServerError) -> Response:
        return from_http(exc)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        if isinstance(exc, HTTPException):
            return from_http(exc)
        log_exception(exc)
        return from_http(InternalServerError())
