"""Responses compressed for the clients that ask for it (``Accept-Encoding``), by Flask-Compress.

Why: a worklist page of 200 requests, each with its status, resolve and reassign forms, is about
900 KB of HTML at a million requests; gzip makes it 30 KB, zstd 24 KB. The evaluations API
(0.7 MB) goes to 17 KB, Open311's search (0.6 MB) to 42 KB, the OGC items (1.3 MB) to 0.46 MB
(bench/README.md, Session 10). A service agent on a
tablet in the street, or an intranet proxy, waits for the bytes, not for the server. A client
that does not ask (the test client, ``curl`` without ``--compressed``) gets the bytes as before.

Flask-Compress rather than gunicorn or a hand-written hook: gunicorn does not compress, and the
library already handles what a hand-written one would get wrong: the ``Vary: Accept-Encoding``
header (so that a proxy does not hand a gzip body to a client that cannot read it), strong ETags
suffixed by the encoding with conditional requests re-evaluated (the page cache's ``304``s still
work), streamed responses (the CSV exports) compressed chunk by chunk, and the choice among zstd,
brotli, gzip and deflate by the client's preferences.

Compression and secrets (the BREACH attack, which guesses a secret in a compressed HTTPS page from
its length while reflecting attacker-chosen text in the same page): it needs many requests carrying
the victim's session, made by the attacker's page. The session cookie is ``SameSite=Lax``
(geova.web.security), so a cross-site page cannot make such requests with it in the background;
and the pages' only secret, Flask-WTF's CSRF token, is signed with the second it is made in, so
its bytes change from one second to the next. Files (photos, the PDF report) are not compressed:
they already are.
"""

from __future__ import annotations

from flask import Flask
from flask_compress import Compress

# What geova serves that compression shrinks: pages, styles and scripts, JSON and GeoJSON feeds,
# Open311's XML, the CSV exports, OGC's schemas and OpenAPI document, the API's problem details
# (RFC 9457), the SVG charts. Images, PDFs and archives are compressed already.
MIMETYPES = [
    "text/html",
    "text/css",
    "text/plain",
    "text/xml",
    "text/csv",
    "text/javascript",
    "application/javascript",
    "application/json",
    "application/xml",
    "application/geo+json",
    "application/schema+json",
    "application/vnd.oai.openapi+json",
    "application/problem+json",
    "image/svg+xml",
]
MIN_SIZE = 500  # bytes: below this, the headers outweigh what compression saves (the library's default)


def init_app(app: Flask) -> None:
    """Compress ``app``'s responses. Called before the other extensions register their
    ``after_request`` hooks, so that it runs after them (Flask calls them in reverse order) and
    compresses the final body."""
    app.config["COMPRESS_MIMETYPES"] = MIMETYPES
    app.config["COMPRESS_MIN_SIZE"] = MIN_SIZE
    Compress(app)
