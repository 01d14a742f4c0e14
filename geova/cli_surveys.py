"""`geova survey ...` and `geova voice ...`: field survey campaigns and perception questionnaires.

Registered on the `geova` group by geova/cli.py; ``ctx.obj`` is its Context (the engine).
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import click

from geova import importing
from geova.store.db import write


def _day(_ctx: Any, _param: Any, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"'{value}' is not a date (YYYY-MM-DD)") from exc


def _allocation(_ctx: Any, _param: Any, values: tuple[str, ...]) -> dict[str, int] | None:
    if not values:
        return None
    out: dict[str, int] = {}
    for value in values:
        kind, sep, count = value.partition("=")
        if not sep or not kind or not count.strip().isdigit():
            raise click.BadParameter(f"'{value}': write KIND=COUNT, e.g. commercial=4 or other=6")
        out[kind.strip()] = int(count)
    return out


@click.group()
def survey() -> None:
    """Field cleanliness surveys: campaigns, their random transects, results."""


@survey.command("create")
@click.argument("code")
@click.option("--name", required=True, help="The campaign's name, as people say it.")
@click.option("--grid", default="cop", show_default=True, help="A survey grid of the referential.")
@click.option("--from", "starts", required=True, callback=_day, help="First day (YYYY-MM-DD).")
@click.option("--to", "ends", required=True, callback=_day, help="Last day (YYYY-MM-DD).")
@click.option("--size", type=int, default=10, show_default=True, help="Transects per quarter.")
@click.option(
    "--seed", type=int, required=True, help="Seed of the random draw: the same seed, the same sample."
)
@click.option(
    "--allocation",
    multiple=True,
    callback=_allocation,
    help="KIND=COUNT transects per quarter in zones of that kind ('other': outside zones); repeat. "
    "Without it, --size is shared in proportion to the areas, at least one per stratum.",
)
@click.option("--no-draw", is_flag=True, help="Create only; draw later with `geova survey draw`.")
@click.pass_obj
def survey_create(
    obj: Any,
    code: str,
    name: str,
    grid: str,
    starts: date,
    ends: date,
    size: int,
    seed: int,
    allocation: dict[str, int] | None,
    no_draw: bool,
) -> None:
    """Create a campaign and draw its transects per quarter, stratified by zone kind."""
    from geova.store import surveys

    importing.prepare_store(obj.engine)
    try:
        with write(obj.engine) as conn:
            surveys.create_campaign(conn, code, name, grid, starts, ends, size, seed, allocation)
            drawn = [] if no_draw else surveys.draw(conn, code)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(f"campaign {code} created" + ("" if no_draw else f", {len(drawn)} transects drawn"))


@survey.command("draw")
@click.argument("code")
@click.pass_obj
def survey_draw(obj: Any, code: str) -> None:
    """Draw the campaign's transects again (same seed, same sample), while none is graded."""
    from geova.store import surveys

    importing.prepare_store(obj.engine)
    try:
        with write(obj.engine) as conn:
            drawn = surveys.draw(conn, code)
    except (ValueError, LookupError) as exc:
        raise click.UsageError(str(exc)) from exc
    by: dict[tuple[str, str], int] = {}
    for t in drawn:
        by[(t.quarter, t.zone_kind)] = by.get((t.quarter, t.zone_kind), 0) + 1
    click.echo(f"{len(drawn)} transects drawn")
    for (quarter, kind), n in sorted(by.items()):
        click.echo(f"  {quarter:<12} {kind:<14} {n}")


@survey.command("list")
@click.pass_obj
def survey_list(obj: Any) -> None:
    """The campaigns, latest first."""
    from geova.store import surveys

    importing.prepare_store(obj.engine)
    with obj.engine.connect() as conn:
        for c in surveys.campaigns(conn):
            n = surveys.entry_count(conn, c.code)
            label = " (example data)" if c.example else ""
            click.echo(f"{c.code}\t{c.name}{label}\t{c.grid}\t{c.starts}..{c.ends}\t{n} entries")


@survey.command("results")
@click.argument("code")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_obj
def survey_results_cmd(obj: Any, code: str, fmt: str) -> None:
    """Shares of transects below the acceptable grade (95 % Wilson interval) and the survey norms."""
    from geova.store import surveys

    importing.prepare_store(obj.engine)
    try:
        with obj.engine.connect() as conn:
            rows = surveys.campaign_results(conn, code)
            norms = surveys.campaign_norms(conn, code)
    except LookupError as exc:
        raise click.UsageError(str(exc)) from exc
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "results": [r.__dict__ for r in rows],
                    "norms": [
                        {
                            "code": o.norm.code,
                            "verdict": o.verdict,
                            "transects": o.transects,
                            "below": o.below,
                            "share": o.share,
                            "low": o.low,
                            "high": o.high,
                        }
                        for o in norms
                    ],
                },
                indent=2,
            )
        )
        return
    click.echo(
        f"{'level':<10} {'where':<14} {'element':<12} {'n':>4} {'below':>5} {'share':>7}  95 % interval"
    )
    for r in rows:
        click.echo(
            f"{r.level:<10} {r.key or '(city)':<14} {r.element:<12} {r.transects:>4} {r.below:>5} "
            f"{r.share * 100:>6.1f}%  {r.low * 100:.1f}–{r.high * 100:.1f}%"
        )
    for o in norms:
        share = "" if o.share is None else f" {o.share * 100:.1f}% of {o.transects}"
        click.echo(f"norm {o.norm.code}: {o.verdict.replace('_', ' ')}{share}")


@click.group()
def voice() -> None:
    """Residents' and businesses' voice: perception questionnaires."""


@voice.command("create")
@click.argument("code")
@click.option("--name", required=True)
@click.option("--from", "starts", required=True, callback=_day, help="First day (YYYY-MM-DD).")
@click.option("--to", "ends", required=True, callback=_day, help="Last day (YYYY-MM-DD).")
@click.option("--quarter", help="For one quarter (code); without --quarter or --zone, people choose.")
@click.option("--zone", help="For one priority zone (code).")
@click.pass_obj
def voice_create(
    obj: Any, code: str, name: str, starts: date, ends: date, quarter: str | None, zone: str | None
) -> None:
    """Create a questionnaire; its public page is /v/CODE and its QR code /v/CODE/qr.svg."""
    from geova.store import voice as store

    importing.prepare_store(obj.engine)
    try:
        with write(obj.engine) as conn:
            store.create_voice_campaign(conn, code, name, starts, ends, quarter, zone)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(f"questionnaire {code} created: public page /v/{code}, QR code /v/{code}/qr.svg")
