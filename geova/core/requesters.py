"""A requester's contact as every channel takes it (web form, /api/v1, Open311): checked once here
so that a bad e-mail is refused the same way wherever it comes from, naming the field at fault.

E-mail addresses are checked by email-validator (syntax only: no DNS look-up, so a report does not
wait on the network and tests need none); names and phones are short free text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email

MAX_NAME = 200
MAX_EMAIL = 254  # RFC 5321's longest path
MAX_PHONE = 32
PHONE = re.compile(r"^\+?[0-9 ().\-/]{3,32}$")


class ContactRefused(ValueError):
    """A contact field that cannot be right; ``field`` names it (email, phone, name, lang)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True)
class Contact:
    name: str | None
    email: str | None
    phone: str | None
    lang: str

    @property
    def empty(self) -> bool:
        return not (self.name or self.email or self.phone)


def check_email(value: str | None) -> str | None:
    """The address normalised (domain in lower case), None when blank; ContactRefused otherwise."""
    text = (value or "").strip()
    if not text:
        return None
    if len(text) > MAX_EMAIL:
        raise ContactRefused("email", f"is longer than {MAX_EMAIL} characters")
    try:
        return validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ContactRefused("email", f"'{text[:60]}' is not a valid e-mail address ({exc})") from None


def check_phone(value: str | None) -> str | None:
    text = " ".join((value or "").split())
    if not text:
        return None
    if not PHONE.match(text) or sum(c.isdigit() for c in text) < 3:
        raise ContactRefused("phone", f"'{text[:40]}' is not a phone number (digits, spaces, + . - ( ) /)")
    return text


def check_name(value: str | None) -> str | None:
    text = " ".join((value or "").split())
    if "\x00" in text:
        raise ContactRefused("name", "NUL characters are not allowed")
    if len(text) > MAX_NAME:
        raise ContactRefused("name", f"is longer than {MAX_NAME} characters")
    return text or None


def check_lang(value: str | None) -> str:
    text = (value or "fr").strip().lower()
    if text not in ("fr", "en"):
        raise ContactRefused("lang", f"'{text[:10]}' is not a language of geova (fr or en)")
    return text


def contact(name: str | None, email: str | None, phone: str | None, lang: str | None = None) -> Contact:
    """The contact checked and tidied; ContactRefused names the first field at fault."""
    return Contact(check_name(name), check_email(email), check_phone(phone), check_lang(lang))
