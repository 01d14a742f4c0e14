"""`geova economy`: the economic figures of the priority commercial zones (added to the `geova`
group by geova.cli)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from geova import importing
from geova.io.errors import ImportFailure


@click.group("economy")
def economy() -> None:
    """Economic figures of the priority commercial zones: vacancy rate, businesses, footfall."""


@economy.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--source", help="Where the figures come from (default: the file's name).")
@click.pass_obj
def economy_import(obj: Any, file: Path, source: str | None) -> None:
    """Load a `;` CSV: zone;period;vacancy_rate;businesses;footfall (empty cells allowed); a
    figure already held for the zone, month and indicator is replaced."""
    from geova.economy import import_economy

    importing.prepare_store(obj.engine)
    try:
        counts = import_economy(obj.engine, file, source)
    except ImportFailure as exc:
        click.secho(f"error: {exc} Nothing was stored.", fg="red", err=True)
        sys.exit(1)
    click.echo(
        f"{file}: {counts['figures']} figures read; inserted {counts['inserted']}, "
        f"updated {counts['updated']}, unchanged {counts['unchanged']}"
    )
