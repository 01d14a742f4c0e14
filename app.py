"""Flask entry point: ``flask --app app run`` (``make demo``) or ``gunicorn 'app:create_app()'``.

The factory itself lives in the package (``geova.web.create_app``), as in Flask's tutorial.
"""

from geova.web import create_app

__all__ = ["create_app"]
