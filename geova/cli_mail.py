"""`geova requesters` (erase a contact, purge them after the retention period) and `geova mail`
(write the follow-up e-mails due, send the outbox): added to the `geova` group by geova.cli.

Meant for a timer: ``geova mail followups && geova mail send`` every few minutes, and
``geova requesters purge`` once a day (README, "Requesters and e-mails").
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from geova import importing


@click.group("requesters")
def requesters() -> None:
    """Requesters' contacts (name, e-mail, phone): erase one, or purge those past retention."""


@requesters.command("erase")
@click.argument("request_id", type=click.IntRange(1, 2**31 - 1))
@click.pass_obj
def requesters_erase(obj: Any, request_id: int) -> None:
    """Erase the contact of request REQUEST_ID (its id in geova), e.g. when the person asks."""
    from geova.store import requesters as store
    from geova.store.db import write

    importing.prepare_store(obj.engine)
    with write(obj.engine) as conn:
        done = store.erase(conn, request_id, "cli")
    if not done:
        click.echo(f"request {request_id}: no contact to erase (none given, or already erased)")
        sys.exit(1)
    click.echo(f"request {request_id}: contact erased")


@requesters.command("purge")
@click.option("--days", type=click.IntRange(0, 36500), help="Retention in days (default: the setting).")
@click.option("--dry-run", is_flag=True, help="Say how many contacts would be erased; erase none.")
@click.pass_obj
def requesters_purge(obj: Any, days: int | None, dry_run: bool) -> None:
    """Erase the contacts of requests ended (resolved, closed, rejected...) more than the retention
    period ago: the territory setting requester_retention_days, else GEOVA_REQUESTER_RETENTION_DAYS."""
    from geova.settings import load
    from geova.store import requesters as store
    from geova.store.db import write

    importing.prepare_store(obj.engine)
    with write(obj.engine) as conn:
        try:
            keep = days if days is not None else store.retention_days(conn, load().requester_retention_days)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from exc
        before = datetime.now(UTC) - timedelta(days=keep)
        erased = store.purgeable(conn, before) if dry_run else store.purge(conn, before, "cli:purge")
    verb = "would be erased" if dry_run else "erased"
    click.echo(
        f"{len(erased)} contacts {verb} (requests ended before {before:%Y-%m-%d %H:%M} UTC, {keep} days)"
    )


@click.group("mail")
def mail() -> None:
    """E-mails to requesters: the follow-ups due, the outbox sent through SMTP (GEOVA_SMTP_*)."""


@mail.command("followups")
@click.option("--as-of", "as_of", metavar="ISO", help="Instant (default: the territory's clock, else now).")
@click.pass_obj
def mail_followups(obj: Any, as_of: str | None) -> None:
    """Write the follow-up e-mails due (15 days, 1 month, 2 months after the report) for requests
    whose requester left an e-mail; each is written once."""
    from geova.evaluation import parse_as_of, territory_of
    from geova.store.db import write
    from geova.store.outbox import enqueue_followups

    importing.prepare_store(obj.engine)
    when = None
    if as_of:
        try:
            when = parse_as_of(as_of, territory_of(obj.engine).timezone).to_pydatetime()
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--as-of") from exc
    with write(obj.engine) as conn:
        written = enqueue_followups(conn, when)
    click.echo(f"{len(written)} follow-up mails written")
    for intervention_id, step in written:
        click.echo(f"  request {intervention_id}: {step}")


@mail.command("send")
@click.option("--limit", type=click.IntRange(1, 10_000), default=200, show_default=True)
@click.pass_obj
def mail_send(obj: Any, limit: int) -> None:
    """Send the pending e-mails that are due through GEOVA_SMTP_HOST; a failure is retried later
    (1, 2, 4... minutes), and marked failed after GEOVA_MAIL_MAX_ATTEMPTS attempts."""
    from geova.mailing import send_pending
    from geova.settings import load

    importing.prepare_store(obj.engine)
    report = send_pending(obj.engine, load(), limit=limit)
    if not report.configured:
        click.echo("no SMTP server configured (GEOVA_SMTP_HOST): the mails stay pending")
        return
    click.echo(f"{len(report.sent)} sent, {len(report.retry)} to retry, {len(report.failed)} failed")
    if report.retry or report.failed:
        sys.exit(1)
