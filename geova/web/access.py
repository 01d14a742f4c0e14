"""Who is calling, and what they may read: one rule for pages, /api/v1, /ogc, /open311 and exports.

Authentication: a request is authenticated by its session cookie (a logged-in account) or, without
one, by an API key (``Authorization: Bearer KEY``; ``api_key`` in the query string or a form is
still accepted for the Open311 clients that cannot send headers, and is scrubbed from the logs). The
key is loaded by Flask-Login's request loader, so ``current_user``, ``login_required`` and
``auth.roles_required`` work the same for both. A presented key that is unknown or revoked is refused
(401) even when a session exists: a client that sends a key expects to act as that key.

Reading requests (the policy the README's "Who sees what" section describes):

- everybody: the referential, the layers, and aggregates (rates, counts per quarter and month);
- the public: requests only if the territory publishes them (setting ``publish_requests``), and
  then without description, address or requester details (free text may hold personal data);
- correspondents: the requests of their quarter in detail, the rest of the city in aggregate; an
  account without a quarter (the administrator's choice) sees the whole city;
- service agents, officials, administrators and API keys: every request in detail.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, abort, g, redirect, request, url_for
from flask_login import current_user

from geova.logs import note_user
from geova.store import apikeys
from geova.store.status import settings
from geova.store.users import Account
from geova.web import engine, login_manager
from geova.web.auth import WebUser
from geova.web.errors import is_api_path

PUBLISH_SETTING = "publish_requests"
# Who may write, for every path (admin always may): report a request, resolve or reassign one.
REPORTERS = ("correspondent", "service")
RESOLVERS = ("service",)
TRUE = ("1", "true", "yes", "oui")


def presented_key() -> str | None:
    """The API key sent with the request, if any (header first)."""
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, value = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            abort(401, "the Authorization header must be 'Bearer <API key>'")
        return value.strip()
    if "api_key" in request.args:
        return request.args["api_key"]
    if request.method == "POST" and request.mimetype in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        return request.form.get("api_key")
    return None


def key_user() -> WebUser | None:
    """The API key's identity (checked once per request), or None when no key was presented."""
    if "geova_key_user" not in g:
        token = presented_key()
        found: WebUser | None = None
        if token is not None:
            with engine().connect() as conn:
                key = apikeys.authenticate(conn, token)
            if key is None:
                g.geova_key_user = None  # the error page asks who is calling again: nobody, no new abort
                abort(401, "unknown or revoked API key")
            found = WebUser(Account(0, f"key:{key.name}", key.role, None, True))
            note_user(found.username)  # the request's log line names the key, never the key itself
        g.geova_key_user = found
    user: WebUser | None = g.geova_key_user
    return user


def _check_key() -> None:
    """Refuse an unknown key before any view runs, whatever the session says."""
    key_user()


def _unauthorized() -> object:
    """Pages send people to the login form; APIs answer 401 in their own format."""
    if is_api_path(request.path):
        abort(401, "an API key or a logged-in session is needed")
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def init_app(app: Flask) -> None:
    login_manager.request_loader(lambda _request: key_user())
    login_manager.unauthorized_handler(_unauthorized)
    app.before_request(_check_key)


# -- what may be read -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestAccess:
    """What the caller may read of individual requests."""

    allowed: bool  # any request at all, one by one
    quarters: tuple[str, ...] | None  # None: every quarter
    personal: bool  # description, address, requester details

    def quarter_allowed(self, code: str | None) -> bool:
        return self.allowed and (self.quarters is None or code in self.quarters)


def requests_published() -> bool:
    with engine().connect() as conn:
        return settings(conn).get(PUBLISH_SETTING, "").strip().lower() in TRUE


def request_access() -> RequestAccess:
    """The policy applied to the current caller (see the module's docstring), worked out once per
    request (the anonymous case reads a setting from the store)."""
    if "geova_access" not in g:
        g.geova_access = _access_of_caller()
    access: RequestAccess = g.geova_access
    return access


def _access_of_caller() -> RequestAccess:
    if not current_user.is_authenticated:
        return RequestAccess(requests_published(), None, False)
    account = current_user.account
    if account.role == "correspondent" and account.quarter_code:
        return RequestAccess(True, (account.quarter_code,), True)
    return RequestAccess(True, None, True)
