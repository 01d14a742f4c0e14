"""How /api/v1 says what went wrong: RFC 9457 problem details, registered with the one error policy.

Every failure under /api/v1, whatever raised it (a parameter model, a body model, a role check,
routing, the store being busy, a bug), reaches :func:`problem_details` through geova.web.errors and is
answered as ``application/problem+json`` with ``type``, ``title``, ``status``, ``detail``, a machine
``code`` and, for a bad parameter or body member, ``param`` and ``errors``. The exceptions below only
name the codes the API adds to the HTTP ones (the code is derived from the exception's name).
"""

from __future__ import annotations

import json
from http import HTTPStatus

from flask import Response
from werkzeug.exceptions import BadRequest, UnprocessableEntity

from geova.web.api_models import Problem, ProblemError
from geova.web.errors import Failure, ParamError, register_format

PREFIX = "/api/v1"
MIMETYPE = "application/problem+json"


class UnknownCode(ParamError):
    """A well-formed code that names nothing in the store (a quarter, a norm...)."""

    name = "Unknown Code"


class InvalidField(ParamError):
    """A member of a JSON body that is missing, malformed or refused by the store (422)."""

    name = "Invalid Field"

    def __init__(self, param: str, message: str):
        super().__init__(param, message, status=422)


class InvalidBody(BadRequest):
    """A body that is not a JSON object sent as application/json."""

    name = "Invalid Body"


class Refused(UnprocessableEntity):
    """A well-formed body the store refuses as a whole (e.g. resolving a closed request)."""

    name = "Invalid Field"


def problem_details(failure: Failure) -> Response:
    """The failure as RFC 9457 problem details (``type`` is about:blank: the status and ``code``
    say what happened, ``detail`` says it in words)."""
    code = "invalid_parameter" if failure.code == "bad_request" and failure.param else failure.code
    try:
        title = HTTPStatus(failure.status).phrase
    except ValueError:
        title = "Error"
    errors = None
    if failure.param:
        reason = failure.message.removeprefix(f"{failure.param}: ")
        names = failure.param.split(",")
        if failure.status == 422:  # a body member: a JSON Pointer to it
            errors = [ProblemError(detail=reason, pointer=f"#/{name}") for name in names]
        else:
            errors = [ProblemError(detail=reason, parameter=name) for name in names]
    problem = Problem(
        title=title,
        status=failure.status,
        detail=failure.message,
        code=code,
        param=failure.param,
        errors=errors,
    )
    body = json.dumps(problem.model_dump(mode="json", exclude_none=True), ensure_ascii=False)
    return Response(body, status=failure.status, headers=failure.headers, mimetype=MIMETYPE)


register_format(PREFIX, problem_details)
