"""Accounts of the web app: hashed passwords (Werkzeug's scrypt/pbkdf2), one role each."""

from __future__ import annotations

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


def _account(row) -> Account:  # type: ignore[no-untyped-def]
    return Account(row.id, row.username, row.role, row.quarter_code, row.active)


def add_user(
    conn: Connection, username: str, password: str, role: str, quarter: str | None = None
) -> Account:
    if role not in ROLES:
        raise ValueError(f"unknown role '{role}' (one of {', '.join(ROLES)})")
    if len(password) < 8:
        raise ValueError("a password needs at least 8 characters")
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


def authenticate(conn: Connection, username: str, password: str) -> Account | None:
    row = conn.execute(select(T).where(T.c.username == username)).first()
    if row is None or not row.active or not check_password_hash(row.password_hash, password):
        return None
    return _account(row)
