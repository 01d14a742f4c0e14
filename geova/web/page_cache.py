"""A cache of whole responses for the pages and feeds every visitor asks for, never stale.

Why: with a million requests a public overview costs about 60–100 ms of one core (the aggregates
come from the verdicts' replica, then the page and its folium map are rendered in Python), so two
cores serve about 20 views a second however many visitors wait; served from this cache, a view
costs one indexed read of the store and a file read.

**Key.** (the view's endpoint, its query string in a canonical order, the language, who asks —
anonymous, or the account's id: a page names the account and its role decides what it shows —
and the store's data version, which every write bumps: geova.store.verdicts.settle). Pages are
kept for anonymous visitors only (a signed-in visitor's page holds its session's CSRF token); JSON
feeds for everyone. A write, a
referential change, a new account's role: all move the version, so nothing written before the
write is read after it. A change made around geova's write path (a raw transaction) leaves a row
in the verdicts' queue (triggers on the requests): while one is queued the cache is bypassed, and
the page that then computes settles it (geova.evaluation.ensure_current), which bumps the version.

**Time.** For one data version a page can still change with the clock (a due date passing, a
month beginning, the "as of" minute it prints). What a page read notes its wall-clock window
(geova.core.validity): the replica's aggregates say between which stored instants their answer
holds; a count made in SQL says it holds at its instant only. An entry keeps that window and is
served only inside it; a page judged at a fixed instant (``as_of`` given, the territory's clock)
holds for its whole version.

**Where.** In files under the instance folder (cachelib's FileSystemCache: shared by every gunicorn
worker of the instance, no server to run; at most ``MAX_ENTRIES`` files, the oldest removed first),
or nowhere with ``GEOVA_PAGE_CACHE=none``.

**Conditional requests.** A JSON feed answers with a strong ``ETag`` (a hash of its bytes and of its
key) and ``304 Not Modified`` to a matching ``If-None-Match``. An HTML page does not: its inline
scripts carry a nonce that must be new in every response (the Content-Security-Policy header of a
304 would not match the copy the browser keeps), so each cached page is served with a fresh nonce
put in place of the one it was rendered with.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

from cachelib import FileSystemCache
from flask import Flask, Response, current_app, request, session
from flask_babel import get_locale
from flask_login import current_user

from geova.core import validity
from geova.store.verdicts import settled_version
from geova.web import engine
from geova.web.security import script_nonce

F = TypeVar("F", bound=Callable[..., Any])
MAX_ENTRIES = 2_000  # files kept (a page of 50-300 KB: at most a few hundred MB)
NONCE = "\x00geova-nonce\x00"  # stands for the nonce in a stored page


def init_app(app: Flask) -> None:
    """Open the cache ``GEOVA_PAGE_CACHE`` names: ``files`` (the default) or ``none``."""
    kind = str(app.config.get("GEOVA_PAGE_CACHE", "files")).lower()
    if kind == "none":
        app.extensions["geova_page_cache"] = None
        return
    folder = Path(app.instance_path) / "page-cache"
    folder.mkdir(parents=True, exist_ok=True)
    cache = FileSystemCache(str(folder), threshold=MAX_ENTRIES, default_timeout=0)
    app.extensions["geova_page_cache"] = cache


def _store() -> FileSystemCache | None:
    found: FileSystemCache | None = current_app.extensions.get("geova_page_cache")
    return found


def _version() -> str | None:
    """The store's data version, or None while a change made around the write path waits to be
    settled (the page computed then settles it and the version moves on)."""
    with engine().connect() as conn:
        return settled_version(conn)


def _who() -> str | None:
    """Who the page is for, or None when it must not be cached (a message waits to be shown)."""
    if session.get("_flashes"):
        return None
    if current_user.is_authenticated:
        return f"account:{current_user.get_id()}"
    return "anonymous"


def _key(version: str, who: str) -> str:
    args = sorted((k, v) for k in request.args for v in request.args.getlist(k))
    cfg = current_app.config
    app = (cfg["GEOVA_DATABASE_URL"], cfg.get("GEOVA_TILES_URL"), cfg.get("GEOVA_TILES_ATTRIBUTION"))
    text = repr((app, request.endpoint, request.view_args, args, str(get_locale() or ""), who, version))
    return "page:" + hashlib.sha256(text.encode()).hexdigest()


def _now() -> int:
    return time.time_ns() // 1000


def cached(view: F) -> F:
    """Serve ``view`` from the cache when the same key holds an entry valid now (see the module)."""

    @wraps(view)
    def serve(*args: Any, **kwargs: Any) -> Any:
        store = _store()
        who = _who() if store is not None and request.method == "GET" else None
        version = _version() if who is not None else None
        if store is None or who is None or version is None:
            return view(*args, **kwargs)
        key = _key(version, who)
        now = _now()
        entries: list[dict[str, Any]] = store.get(key) or []
        for entry in entries:
            if entry["low"] <= now < entry["high"]:
                return _answer(entry)
        with validity.collecting(now) as window:
            response = current_app.make_response(view(*args, **kwargs))
        if response.status_code != 200 or response.direct_passthrough or not window.usable:
            return response
        if who != "anonymous" and response.mimetype == "text/html":
            # A signed-in visitor's page carries its session's CSRF token (the logout form), which
            # another session of the same account, or the same one an hour later, cannot use: kept
            # for the anonymous public only (JSON feeds carry no token, and are kept per account).
            return response
        if _version() != version:  # the page settled a change, or a write landed meanwhile
            return response
        entry = _entry(response, window, key)
        kept = [e for e in entries if e["high"] > now][-7:]  # a few windows of one version
        store.set(key, [*kept, entry])
        if entry["etag"] is not None:
            response.set_etag(entry["etag"])
            response.headers["Cache-Control"] = "no-cache"
        return response

    return serve  # type: ignore[return-value]


def _entry(response: Response, window: validity.Window, key: str) -> dict[str, Any]:
    body = response.get_data()
    nonce = script_nonce().encode()
    templated = nonce in body
    if templated:
        body = body.replace(nonce, NONCE.encode())
    etag = None if templated else hashlib.sha256(key.encode() + body).hexdigest()[:32]
    return {
        "low": window.low,
        "high": window.high,
        "body": body,
        "mimetype": response.mimetype,
        "templated": templated,
        "etag": etag,
    }


def _answer(entry: dict[str, Any]) -> Response:
    body: bytes = entry["body"]
    if entry["templated"]:
        body = body.replace(NONCE.encode(), script_nonce().encode())
    response = Response(body, mimetype=entry["mimetype"])
    if entry["etag"] is not None:
        response.set_etag(entry["etag"])
        response.headers["Cache-Control"] = "no-cache"  # kept, but asked again each time
        response.make_conditional(request)
    response.headers["X-Geova-Cache"] = "hit"
    return response
