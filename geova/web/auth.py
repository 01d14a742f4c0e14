"""Login, logout and the role checks every write goes through."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlparse

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import UserMixin, current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired

from geova.store import users
from geova.web import engine, login_manager

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
        self.id = str(account.id)

    @property
    def role(self) -> str:
        return self.account.role

    @property
    def username(self) -> str:
        return self.account.username


@login_manager.user_loader
def load_user(user_id: str) -> WebUser | None:
    with engine().connect() as conn:
        account = users.by_id(conn, int(user_id))
    return WebUser(account) if account and account.active else None


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


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    form = LoginForm()
    if form.validate_on_submit():
        with engine().connect() as conn:
            account = users.authenticate(conn, form.username.data or "", form.password.data or "")
        if account is None:
            flash(_("Unknown user or wrong password."), "error")
        else:
            login_user(WebUser(account))
            return redirect(_safe_next(request.args.get("next")) or url_for("public.index"))
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
def logout() -> Any:
    logout_user()
    return redirect(url_for("public.index"))
