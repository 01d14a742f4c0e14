"""Sending the requesters' e-mails of the outbox (geova.store.outbox) through SMTP.

The standard library's ``smtplib`` is enough here: geova sends a few plain-text mails to one
configured relay, synchronously, from `geova mail send` (cron or a systemd timer) and from a
background thread of the web app right after a resolution; an asynchronous or templating mail
framework would add a dependency for nothing this needs. Each mail is claimed before it is sent
(geova.store.outbox.claim), so the web app's thread and `geova mail send` never send one twice.

The SMTP password (GEOVA_SMTP_PASSWORD) is a secret: it is never logged, and removed from any error
text kept in the outbox (a server may echo what it was sent).
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from sqlalchemy import Engine

from geova.settings import Settings
from geova.store import outbox
from geova.store.db import write

log = logging.getLogger(__name__)


@dataclass
class SendReport:
    sent: list[int] = field(default_factory=list)
    retry: list[int] = field(default_factory=list)  # failed this time, pending for a later attempt
    failed: list[int] = field(default_factory=list)  # failed for good (max attempts)
    configured: bool = True


def configured(settings: Settings) -> bool:
    return bool((settings.smtp_host or "").strip())


def _message(settings: Settings, mail: outbox.Claimed) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = settings.mail_from
    msg["To"] = mail.to_addr
    msg["Subject"] = mail.subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=settings.mail_from.rpartition("@")[2] or None)
    msg.set_content(mail.body)
    return msg


def _deliver(settings: Settings, msg: EmailMessage) -> None:
    host = (settings.smtp_host or "").strip()
    with smtplib.SMTP(host, settings.smtp_port, timeout=settings.smtp_timeout) as smtp:
        if settings.smtp_starttls:
            smtp.starttls(context=ssl.create_default_context())
        if settings.smtp_user:
            password = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
            smtp.login(settings.smtp_user, password)
        smtp.send_message(msg)


def _error_text(settings: Settings, exc: BaseException) -> str:
    text = f"{exc.__class__.__name__}: {exc}".strip()
    secret = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
    if secret:
        text = text.replace(secret, "***")
    return text


def send_pending(
    engine: Engine,
    settings: Settings,
    intervention_ids: Sequence[int] | None = None,
    limit: int = 100,
) -> SendReport:
    """Send the pending mails that are due (at most ``limit``; those of ``intervention_ids`` only
    when given). A failure leaves the mail pending for a later attempt (its next attempt already
    pushed back by the claim), or ``failed`` after GEOVA_MAIL_MAX_ATTEMPTS attempts."""
    report = SendReport(configured=configured(settings))
    if not report.configured:
        return report
    with engine.connect() as conn:
        ids = outbox.due_ids(conn, datetime.now(UTC), limit, intervention_ids)
    for mail_id in ids:
        with write(engine) as conn:
            mail = outbox.claim(conn, mail_id, datetime.now(UTC))
        if mail is None:
            continue  # another sender took it
        try:
            _deliver(settings, _message(settings, mail))
        except (OSError, smtplib.SMTPException, ValueError) as exc:
            error = _error_text(settings, exc)
            with write(engine) as conn:
                state = outbox.mark_failed(conn, mail, error, settings.mail_max_attempts)
            (report.failed if state == outbox.FAILED else report.retry).append(mail.id)
            log.warning("mail %s (attempt %s) not sent: %s", mail.id, mail.attempts, error)
        else:
            with write(engine) as conn:
                outbox.mark_sent(conn, mail, datetime.now(UTC))
            report.sent.append(mail.id)
            log.info("mail %s (%s) sent", mail.id, mail.kind)
    return report


def send_soon(engine: Engine, settings: Settings, intervention_ids: Sequence[int]) -> threading.Thread | None:
    """Send the due mails of these requests in a background thread (the web app, right after the
    commit of a resolution), so the page does not wait on the SMTP server; the connection timeout
    bounds the thread, and a failure leaves the mail pending for `geova mail send`."""
    if not intervention_ids or not configured(settings):
        return None

    def run() -> None:
        try:
            send_pending(engine, settings, list(intervention_ids), limit=len(intervention_ids) * 4)
        except Exception:  # a background thread has nobody to report to but the log
            log.exception("sending the mails of requests %s failed", list(intervention_ids))

    thread = threading.Thread(target=run, name="geova-mail", daemon=True)
    thread.start()
    return thread
