"""Error pages for people (the APIs answer in their own formats, see api.py, open311.py, ogc.py)."""

from __future__ import annotations

from typing import Any

from flask import Flask, render_template
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException, InternalServerError

from geova.logs import request_id

MESSAGES = {
    400: (_l("This request could not be understood"), _l("A value in the address or the form is not valid.")),
    403: (_l("This page is not for your role"), _l("Ask an administrator if you need access to it.")),
    404: (_l("Page not found"), _l("The address may be mistyped, or the page has moved.")),
    405: (_l("This action is not possible here"), _l("Go back to the previous page and try again.")),
    500: (_l("Something went wrong on our side"), _l("The error has been logged. Try again in a moment.")),
}


def page_error(exc: HTTPException) -> Any:
    code = exc.code or 500
    title, advice = MESSAGES.get(code, MESSAGES[500])
    reference = request_id() if code >= 500 else None  # the id the logged traceback carries
    return render_template("error.html", code=code, title=title, advice=advice, reference=reference), code


def register(app: Flask) -> None:
    for code in (400, 403, 500):
        app.register_error_handler(code, page_error)

    @app.errorhandler(InternalServerError)
    def _internal(exc: InternalServerError) -> Any:
        return page_error(exc)
