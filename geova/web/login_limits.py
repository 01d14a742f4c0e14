"""How many failed logins an account and a client address may make before they are locked out.

Built on ``limits``, the rate-limit library under Flask-Limiter (same maintainers, same storage URIs:
``memory://``, ``redis://host:6379``, ...), rather than on Flask-Limiter's decorator: the decorator
checks before the view and answers a breach with a 429 through Flask's error handlers, while the
login page must count only *failed* attempts, check the account and the address before verifying the
password (so that the right password during a lockout does not log in), and answer with its own form
and a translated "try again in N minutes". Nothing else in the app is limited.

With several gunicorn workers (or several servers) the storage must be shared, e.g.
``GEOVA_RATELIMIT_STORAGE_URI=redis://localhost:6379``: ``memory://`` counts per process.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from flask import current_app
from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter, RateLimiter

EXTENSION = "geova_login_limits"


@dataclass(frozen=True)
class Lockout:
    scope: str  # "account" or "address"
    minutes: int  # whole minutes until the next attempt is allowed (at least 1)


class LoginLimits:
    """Failed-login counters per account name (as typed, case-folded) and per client address."""

    def __init__(self, storage_uri: str, account_limit: str, address_limit: str):
        storage = storage_from_string(storage_uri)
        try:  # a moving window: no burst of twice the limit across a window boundary
            self.limiter: RateLimiter = MovingWindowRateLimiter(storage)
        except NotImplementedError:  # e.g. memcached
            self.limiter = FixedWindowRateLimiter(storage)
        self.limits: dict[str, RateLimitItem] = {
            "account": parse(account_limit),
            "address": parse(address_limit),
        }

    def _keys(self, username: str, address: str) -> dict[str, str]:
        return {"account": username.strip().casefold(), "address": address}

    def lockout(self, username: str, address: str) -> Lockout | None:
        """The lockout in force for this account or this address, if any (the account's first)."""
        for scope, key in self._keys(username, address).items():
            item = self.limits[scope]
            if not self.limiter.test(item, "login", scope, key):
                reset_at, _remaining = self.limiter.get_window_stats(item, "login", scope, key)
                return Lockout(scope, max(1, math.ceil((reset_at - time.time()) / 60)))
        return None

    def failed(self, username: str, address: str) -> None:
        for scope, key in self._keys(username, address).items():
            self.limiter.hit(self.limits[scope], "login", scope, key)

    def succeeded(self, username: str) -> None:
        """The account's count starts again after a successful login (the address's does not)."""
        self.limiter.clear(self.limits["account"], "login", "account", username.strip().casefold())


def login_limits() -> LoginLimits:
    """The current app's counters, created on first use (one storage per app)."""
    found = current_app.extensions.get(EXTENSION)
    if found is None:
        settings = current_app.config["GEOVA_SETTINGS"]  # defaults and environment: geova.settings
        made = LoginLimits(
            settings.ratelimit_storage_uri, settings.login_limit_account, settings.login_limit_address
        )
        found = current_app.extensions.setdefault(EXTENSION, made)
    return found
