"""Accounts of the web app: hashed passwords (Werkzeug's scrypt/pbkdf2), one role each, and the
session version that lets logout and a password change end every copy of a session."""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, select
from werkzeug.security import check_password_hash, generate_password_hash

from geova.store.schema import Quarter, User

ROLES = ("correspondent", "service", "official", "admin")
T = User.__table__


@dataclass(frozen=True)
class Account:
    id: int
    username: str
    role: str
    quarter_code: str | None
    active: bool
    session_version: int = 0


def _account(row) -> Account:
    return Account(row.id, row.username, row.role, row.quarter_code, row.active, row.session_version)


def _check_length(password: str) -> None:
    if len(password) < 8:
        raise ValueError("a password needs at least 8 characters")


def add_user(
    conn: Connection, username: str, password: str, role: str, quarter: str | None = None
) -> Account:
    if role not in ROLES:
        raise ValueError(f"unknown role '{role}' (one of {', '.join(ROLES)})")
    _check_length(password)
    if (
        quarter
        and not conn.execute(
            select(Quarter.__table__.c.id).where(Quarter.__table__.c.code == quarter)
        ).first()
    ):
        raise ValueError(f"unknown quarter code '{quarter}'")
    if conn.execute(select(T.c.id).where(T.c.username == username)).first():
        raise ValueError(f"user '{username}' already exists")
    conn.execute(
        T.insert().values(
            username=username,
            password_hash=generate_password_hash(password),
            role=role,
            quarter_code=quarter,
            active=True,
            created_at=datetime.now(UTC),
        )
    )
    return find(conn, username)  # type: ignore[return-value]


def find(conn: Connection, username: str) -> Account | None:
    row = conn.execute(select(T).where(T.c.username == username)).first()
    return _account(row) if row else None


def by_id(conn: Connection, user_id: int) -> Account | None:
    row = conn.execute(select(T).where(T.c.id == user_id)).first()
    return _account(row) if row else None


@functools.cache
def _dummy_hash() -> str:
    """A hash of a random password, made like real ones, for unknown user names (computed once)."""
    return generate_password_hash(secrets.token_urlsafe(16))


def authenticate(conn: Connection, username: str, password: str) -> Account | None:
    """The account when the password is right. Exactly one hash verification whatever the answer: an
    unknown name is checked against a dummy hash, so that its answer takes as long as a wrong
    password's and the timing tells nobody which names exist."""
    row = conn.execute(select(T).where(T.c.username == username)).first()
    right = check_password_hash(row.password_hash if row is not None else _dummy_hash(), password)
    if row is None or not row.active or not right:
        return None
    return _account(row)


def set_password(conn: Connection, username: str, password: str) -> Account:
    """Change a password; every session of the account ends (the session version moves on)."""
    _check_length(password)
    done = conn.execute(
        T.update()
        .where(T.c.username == username)
        .values(password_hash=generate_password_hash(password), session_version=T.c.session_version + 1)
    )
    if not done.rowcount:
        raise LookupError(f"unknown user '{username}'")
    return find(conn, username)  # type: ignore[return-value]


def end_sessions(conn: Connection, user_id: int) -> None:
    """Log the account out everywhere: sessions issued under the previous version are refused."""
    conn.execute(T.update().where(T.c.id == user_id).values(session_version=T.c.session_version + 1))
