"""Behind a reverse proxy (nginx, Apache): the client's address and scheme from forwarding headers.

A proxy terminating HTTPS talks to the app over plain HTTP from its own address, so without help the
app sees every request as ``http`` from ``127.0.0.1``: ``GEOVA_FORCE_HTTPS`` would redirect forever,
cookies would not be marked Secure, and the failed-login limit per address would lock out the whole
city at once. Werkzeug's ``ProxyFix`` restores both from ``X-Forwarded-For`` and
``X-Forwarded-Proto``, but only a proxy the operator controls may be believed: anyone can send these
headers. So it is off unless ``GEOVA_TRUSTED_PROXIES`` says how many proxies stand in front (their
values are read from the right, the proxies' own end, so a client cannot forge them).

Only ``-For`` and ``-Proto`` are trusted: the README's nginx and Apache examples set exactly these
(and pass ``Host`` through); trusting a header the proxy does not overwrite would let a client set it.
Gunicorn's own, narrower handling of ``X-Forwarded-Proto`` is turned off in ``geova.gunicorn_conf`` so that
this setting is the one switch, under gunicorn and ``flask run`` alike.
"""

from __future__ import annotations

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix


def init_app(app: Flask, trusted_proxies: int) -> None:
    """Wrap the app in ``ProxyFix`` when ``trusted_proxies`` > 0. Call it last in the factory: it
    must be the outermost middleware, so that the secure-cookie middleware sees the real scheme."""
    if trusted_proxies > 0:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=trusted_proxies, x_proto=trusted_proxies
        )
