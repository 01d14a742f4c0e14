"""API keys: how another system (a partner's tool, an Open311 app) calls geova without a password.

A key has a name (who holds it), a role (the same roles as accounts: what it may change) and a
token. The token is random, shown once when the key is created, and never stored: only its SHA-256
is, so a copy of the database does not give the keys away. A key is revoked by deactivating it,
which keeps the name taken (events written with it stay attributable).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select

from geova.store.schema import ApiKey
from geova.store.users import ROLES

T = ApiKey.__table__
PREFIX = "geova_"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,59}$")  # "key:" + name fits a 64-character username


@dataclass(frozen=True)
class Key:
    id: int
    name: str
    role: str
    created_at: datetime
    active: bool


def _key(row: Any) -> Key:
    return Key(row.id, row.name, row.role, row.created_at, bool(row.active))


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def add_key(conn: Connection, name: str, role: str) -> tuple[Key, str]:
    """Create a key; returns it with its token (the only time the token is available)."""
    if not NAME.match(name or ""):
        raise ValueError(
            "a key name has 1 to 60 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    if role not in ROLES:
        raise ValueError(f"unknown role '{role}' (one of {', '.join(ROLES)})")
    if conn.execute(select(T.c.id).where(T.c.name == name)).first():
        raise ValueError(f"key '{name}' already exists")
    token = PREFIX + secrets.token_urlsafe(32)
    conn.execute(
        T.insert().values(
            name=name, key_hash=digest(token), role=role, created_at=datetime.now(UTC), active=True
        )
    )
    key = find(conn, name)
    assert key is not None
    return key, token


def find(conn: Connection, name: str) -> Key | None:
    row = conn.execute(select(T).where(T.c.name == name)).first()
    return _key(row) if row else None


def authenticate(conn: Connection, token: str | None) -> Key | None:
    """The active key whose token this is, else None."""
    if not token or len(token) > 200:
        return None
    row = conn.execute(select(T).where(T.c.key_hash == digest(token))).first()
    if row is None or not row.active:
        return None
    return _key(row)


def list_keys(conn: Connection) -> list[Key]:
    return [_key(r) for r in conn.execute(select(T).order_by(T.c.name))]


def revoke(conn: Connection, name: str) -> None:
    if find(conn, name) is None:
        raise LookupError(f"no key named '{name}'")
    conn.execute(T.update().where(T.c.name == name).values(active=False))
