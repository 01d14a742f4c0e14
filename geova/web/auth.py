"""Login, logout and the role checks every write goes through.

A session names the account *and* the session version it was issued under (Flask-Login's
"alternative token"): logout and a password change bump the version, so every saved copy of the
cookie stops working, on every device. Failed logins are counted per account and per client address
(``login_limits``) and lock both out for a while.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlparse

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import UserMixin, current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired

from geova import logs
from geova.store import users
from geova.store.db import write
from geova.web import engine, login_manager
from geova.web.login_limits import Lockout, login_limits

log = logging.getLogger(__name__)
bp = Blueprint("auth", __name__)
ROLE_LABELS = {
    "correspondent": _l("correspondent"),
    "service": _l("service agent"),
    "official": _l("elected official"),
    "admin": _l("administrator"),
}


class WebUser(UserMixin):
    def __init__(self, account: users.Account):
        self.account = account
        self.id = f"{account.id}:{account.session_version}"

    @property
    def role(self) -> str:
        return self.account.role

    @property
    def username(self) -> str:
        return self.account.username


@login_manager.user_loader
def load_user(session_id: str) -> WebUser | None:
    """The account of a session "id:version", if the version is still the account's current one."""
    user_id, _sep, version = session_id.partition(":")
    if not (user_id.isdigit() and version.isdigit()):
        return None  # a session from before session versions: log in again
    with engine().connect() as conn:
        account = users.by_id(conn, int(user_id))
    if account is None or not account.active or account.session_version != int(version):
        return None
    logs.note_user(account.username)
    return WebUser(account)


def roles_required(*roles: str) -> Callable:
    """Logged in with one of ``roles`` (admin always passes); 403 otherwise."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        @login_required
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if current_user.role != "admin" and current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def has_role(*roles: str) -> bool:
    return bool(
        current_user.is_authenticated and (current_user.role == "admin" or current_user.role in roles)
    )


class LoginForm(FlaskForm):
    username = StringField("username", validators=[DataRequired()])
    password = PasswordField("password", validators=[DataRequired()])


def _safe_next(target: str | None) -> str | None:
    """Only same-site paths: a login link must not bounce users to another site."""
    if not target:
        return None
    parts = urlparse(target)
    return target if not parts.scheme and not parts.netloc and target.startswith("/") else None


def lockout_message(lockout: Lockout) -> str:
    if lockout.scope == "account":
        return ngettext(
            "Too many attempts for this account; try again in %(num)d minute.",
            "Too many attempts for this account; try again in %(num)d minutes.",
            lockout.minutes,
        )
    return ngettext(
        "Too many attempts from your address; try again in %(num)d minute.",
        "Too many attempts from your address; try again in %(num)d minutes.",
        lockout.minutes,
    )


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    form = LoginForm()
    if form.validate_on_submit():
        username, address = form.username.data or "", request.remote_addr or "-"
        limits = login_limits()
        lockout = limits.lockout(username, address)
        if lockout is not None:  # checked before the password: the right one does not get in either
            log.warning("login refused: too many failed attempts (%s)", lockout.scope)
            flash(lockout_message(lockout), "error")
            return render_template("auth/login.html", form=form), 429
        with engine().connect() as conn:
            account = users.authenticate(conn, username, form.password.data or "")
        if account is None:
            limits.failed(username, address)
            log.info("login failed")  # not the name typed: people type their password there too
            flash(_("Unknown user or wrong password."), "error")
        else:
            limits.succeeded(username)
            login_user(WebUser(account))
            logs.note_user(account.username)
            log.info("login of %s", account.username)
            return redirect(_safe_next(request.args.get("next")) or url_for("public.index"))
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
def logout() -> Any:
    """Ends this session and every other copy of it (other devices, a saved cookie)."""
    if current_user.is_authenticated:
        with write(engine()) as conn:
            users.end_sessions(conn, current_user.account.id)
    logout_user()
    return redirect(url_for("public.index"))
