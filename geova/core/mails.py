"""The e-mails geova sends to requesters, in French or English, rendered from text templates.

One template per kind and language under ``templates/mail/`` (``resolved.fr.txt``...): its first
line is the subject, the rest (after a blank line) the body. Mails are plain text, so the templates
are rendered without HTML escaping; what a person typed (a note, an address) goes in as it is and
cannot run anything in a mail reader that shows text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from geova.core.followups import STEP_CODES

TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "mail"
RESOLVED = "resolved"
KINDS = (RESOLVED, *STEP_CODES)  # what mail_outbox.kind holds
LANGS = ("fr", "en")
MAX_SUBJECT = 200

_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=False,  # plain text mails (see the module's docstring)
    undefined=StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class Mail:
    subject: str
    body: str


def lang_of(value: str | None) -> str:
    """The mail's language: French unless English is asked (geova's first public is French)."""
    return "en" if (value or "").strip().lower().startswith("en") else "fr"


def local_time(when: datetime, tz: str, lang: str) -> str:
    """An instant as the requester reads it: on the territory's clock, in their language."""
    pattern = "d MMMM y 'à' HH:mm" if lang == "fr" else "d MMMM y 'at' HH:mm"
    return format_datetime(when.astimezone(ZoneInfo(tz)), pattern, locale=lang) + f" ({tz})"


def render(kind: str, lang: str, context: dict[str, Any]) -> Mail:
    """The subject and body of a mail of ``kind`` in ``lang``; an unknown kind raises LookupError."""
    if kind not in KINDS:
        raise LookupError(f"unknown mail kind '{kind}' (one of {', '.join(KINDS)})")
    text = _env.get_template(f"{kind}.{lang_of(lang)}.txt").render(**context)
    subject, _, body = text.partition("\n")
    subject = " ".join(subject.split())[:MAX_SUBJECT]  # one header line, whatever was typed
    return Mail(subject, body.lstrip("\n"))
