"""The monthly committee's commands: `geova report`, `geova reports`, `geova indicators`,
`geova measures`, `geova quarter-attributes` (added to the `geova` group by geova.cli).

The group's context object carries the engine (``obj.engine``); errors are one line on stderr and
exit code 1, wrong options exit code 2 (click's usage errors).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from geova import importing
from geova.io.errors import ImportFailure


def _error(message: str) -> NoReturn:
    click.secho(f"error: {' '.join(message.split())}", fg="red", err=True)
    sys.exit(1)


def _period_of(month: str | None, period: str | None, year: str | None) -> Any:
    from geova.reports import ReportError, parse_period

    given = [(name, v) for name, v in (("--month", month), ("--period", period), ("--year", year)) if v]
    if len(given) != 1:
        raise click.UsageError("give exactly one of --month 2015-06, --period 2015-H1, --year 2015")
    name, value = given[0]
    try:
        found = parse_period(value)
    except ReportError as exc:
        raise click.BadParameter(str(exc), param_hint=name) from None
    expected = {"--month": "month", "--year": "year"}.get(name)
    if expected and found.kind != expected:
        raise click.BadParameter(f"{value!r} is not a {expected}", param_hint=name)
    return found


def _period_options(command: Any) -> Any:
    command = click.option("--year", metavar="YYYY", help="A yearly report: 2015.")(command)
    command = click.option(
        "--period", metavar="CODE", help="A month, half year or year: 2015-06, 2015-H1, 2015."
    )(command)
    command = click.option("--month", metavar="YYYY-MM", help="A monthly report: 2015-06.")(command)
    return click.option("--quarter", metavar="CODE", help="One quarter (default: the whole city).")(command)


def _app(obj: Any) -> Any:
    from geova import logs
    from geova.settings import load as load_settings
    from geova.web import create_app

    config: dict[str, Any] = {"TESTING": False}
    if obj.db:
        config["GEOVA_DATABASE_URL"] = obj.db
    app = create_app(config)
    if "log_level" not in load_settings().model_fields_set:  # the app set INFO: the command says less
        logs.configure(level="WARNING")
    return app


def add_commands(cli: click.Group) -> None:
    cli.add_command(report_cmd)
    cli.add_command(reports_cmd)
    cli.add_command(indicators_cmd)
    cli.add_command(measures_cmd)
    cli.add_command(attributes_cmd)


@click.command("report")
@_period_options
@click.option(
    "--format", "fmt", type=click.Choice(["html", "pdf", "json"]), default="html", show_default=True
)
@click.option("--lang", type=click.Choice(["fr", "en"]), default="fr", show_default=True)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    help="The file to write (default: stdout; required for pdf).",
)
@click.option("--publish", is_flag=True, help="Publish the report: frozen, on the public site.")
@click.option("--reason", help="Why a corrected version is published (required once a version exists).")
@click.option("--by", "by", help="Who publishes (recorded with the report).")
@click.pass_obj
def report_cmd(
    obj: Any,
    quarter: str | None,
    month: str | None,
    period: str | None,
    year: str | None,
    fmt: str,
    lang: str,
    output: Path | None,
    publish: bool,
    reason: str | None,
    by: str | None,
) -> None:
    """The committee's report of a month (or half year, or year) for the city or a quarter:
    norms against targets, the period compared, backlog, worst zones, indicators, audit grid,
    follow-ups, a map and charts; HTML, PDF (A4) or the figures as JSON."""
    from geova.reports import ReportError, build_report
    from geova.store.reports import PublishRefused

    asked = _period_of(month, period, year)
    if fmt == "pdf" and output is None:
        raise click.UsageError("--format pdf writes a file: give -o FILE")
    importing.prepare_store(obj.engine)
    try:
        figures = build_report(obj.engine, asked, quarter)
    except ReportError as exc:
        _error(str(exc))
    from geova.web.reports import publish_report, render_report, to_pdf

    with _app(obj).test_request_context("/"):
        if publish:
            try:
                done = publish_report(obj.engine, asked, quarter, by, reason)
            except PublishRefused as exc:
                _error(f"{exc} (--reason TEXT)")
            click.echo(f"published: {done.title(lang)}, version {done.version} (id {done.id})", err=True)
        if fmt == "json":
            data: bytes | str = json.dumps(figures, ensure_ascii=False, indent=1)
        else:
            document = render_report(figures, lang, obj.engine)
            data = to_pdf(document) if fmt == "pdf" else document
    if output is None:
        click.echo(data if isinstance(data, str) else data.decode("latin-1"))
    else:
        try:
            if isinstance(data, bytes):
                output.write_bytes(data)
            else:
                output.write_text(data, encoding="utf-8")
        except OSError as exc:
            _error(f"{output}: cannot be written ({exc.strerror})")
        click.echo(f"{output}: {fmt} report written", err=True)


@click.command("reports")
@click.pass_obj
def reports_cmd(obj: Any) -> None:
    """The published reports, every version."""
    from geova.store.reports import listing

    importing.prepare_store(obj.engine)
    with obj.engine.connect() as conn:
        done = listing(conn)
    if not done:
        click.echo("(no report published)")
    for r in done:
        reason = f" — {r.reason}" if r.reason else ""
        click.echo(f"{r.id:>4}  {r.period:<8} {r.scope or '(city)':<10} v{r.version}  {r.title_en}{reason}")


@click.command("indicators")
@_period_options
@click.option(
    "--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True
)
@click.pass_obj
def indicators_cmd(
    obj: Any, quarter: str | None, month: str | None, period: str | None, year: str | None, fmt: str
) -> None:
    """Activity, impact and resource indicators of a period, per quarter and for the city."""
    import pandas as pd

    from geova.evaluation import territory_of
    from geova.indicators import CITY, indicator_table
    from geova.io import exports
    from geova.store import catalogue

    asked = _period_of(month, period, year)
    importing.prepare_store(obj.engine)
    tz = territory_of(obj.engine).timezone
    with obj.engine.connect() as conn:
        if quarter is not None and catalogue.quarter(conn, quarter) is None:
            _error(f"unknown quarter '{quarter}'")
    table = indicator_table(obj.engine, asked.start.tz_localize(tz), asked.end.tz_localize(tz))
    scopes = [quarter] if quarter else [CITY, *[s for s in table.results if s != CITY]]
    rows = [
        {
            "period": asked.code,
            "quarter": s or "(city)",
            "indicator": r["code"],
            "kind": r["kind"],
            "value": r["value"],
            "unit": r["unit"] or "",
            "no_value_because": r["reason"] or "",
        }
        for s in scopes
        for r in table.rows(s)
    ]
    frame = pd.DataFrame(
        rows, columns=["period", "quarter", "indicator", "kind", "value", "unit", "no_value_because"]
    )
    if fmt == "csv":
        click.echo(exports.to_excel_csv(frame, tz), nl=False)
    elif fmt == "json":
        click.echo(json.dumps(rows, ensure_ascii=False, indent=1))
    else:
        click.echo(exports.to_text_table(frame, tz) if len(frame) else "(no indicator in the referential)")


@click.group("measures")
def measures_cmd() -> None:
    """Figures entered per month and quarter for the indicators (FTE, money, passages, fines...)."""


@measures_cmd.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--mapping", type=click.Path(path_type=Path), required=True, help="TOML mapping of the file.")
@click.pass_obj
def measures_import(obj: Any, file: Path, mapping: Path) -> None:
    """Load a `;` CSV of measures (one row per month and quarter, a column per measure)."""
    from geova.io.measures import load_measure_mapping, read_measures
    from geova.store.db import write
    from geova.store.measures import MeasureEntry, UnknownName, record_measures

    importing.prepare_store(obj.engine)
    try:
        spec = load_measure_mapping(mapping)
        rows = read_measures(file, spec)
    except ImportFailure as exc:
        _error(f"{exc} Nothing was stored.")
    entries = [MeasureEntry(r.measure, r.month, r.quarter, r.value, r.service) for r in rows]
    try:
        with write(obj.engine) as conn:
            counts = record_measures(conn, entries, source=spec.source.name)
    except UnknownName as exc:
        lines = {i: r.line for i, r in enumerate(rows)}
        text = str(exc)
        for i, line in sorted(lines.items(), reverse=True):
            text = text.replace(f"entry {i + 1},", f"line {line},")
        _error(f"{file}: {text}. Nothing was stored.")
    click.echo(
        f"{file}: {len(entries)} figures read; inserted {counts['inserted']}, "
        f"updated {counts['updated']}, unchanged {counts['unchanged']}"
    )


@measures_cmd.command("set")
@click.argument("measure")
@click.argument("quarter")
@click.argument("month", metavar="YYYY-MM")
@click.argument("value")
@click.option("--service", default="", help="The service the figure is for (default: all).")
@click.pass_obj
def measures_set(obj: Any, measure: str, quarter: str, month: str, value: str, service: str) -> None:
    """Enter one figure: e.g. `geova measures set fte 6 2015-06 12,5`."""
    from geova.io.measures import parse_month, parse_number
    from geova.store.db import write
    from geova.store.measures import MeasureEntry, UnknownName, record_measures

    first = parse_month(month)
    if first is None:
        raise click.BadParameter(f"{month!r} is not a month (2015-06)", param_hint="MONTH")
    number = parse_number(value)
    if number is None:
        raise click.BadParameter(f"{value!r} is not a number", param_hint="VALUE")
    importing.prepare_store(obj.engine)
    try:
        with write(obj.engine) as conn:
            record_measures(conn, [MeasureEntry(measure, first, quarter, number, service)], source="cli")
    except UnknownName as exc:
        _error(str(exc).removeprefix("entry 1, "))
    click.echo(f"{measure}: quarter {quarter}, {first:%Y-%m}{' ' + service if service else ''} = {number:g}")


@click.group("quarter-attributes", invoke_without_command=True)
@click.pass_context
def attributes_cmd(click_ctx: click.Context) -> None:
    """Quarter population and street length (km), which impact indicators divide by."""
    if click_ctx.invoked_subcommand:
        return
    from geova.store.measures import attributes

    obj = click_ctx.obj
    importing.prepare_store(obj.engine)
    with obj.engine.connect() as conn:
        frame = attributes(conn)
    if frame.empty:
        click.echo("(no quarter attribute)")
        return
    wide = frame.pivot(index="quarter", columns="name", values="value").reset_index()
    click.echo(wide.to_string(index=False))


@attributes_cmd.command("set")
@click.argument("quarter")
@click.option("--population", help="Inhabitants.")
@click.option("--street-km", "street_km", help="Length of the streets, in km.")
@click.pass_obj
def attributes_set(obj: Any, quarter: str, population: str | None, street_km: str | None) -> None:
    """Set a quarter's population and/or street length (a decimal comma is accepted)."""
    from geova.io.measures import parse_number
    from geova.store.db import write
    from geova.store.measures import UnknownName, set_attribute

    given = {"population": population, "street_km": street_km}
    values: dict[str, float] = {}
    for name, text in given.items():
        if text is None:
            continue
        number = parse_number(text)
        if number is None or number < 0:
            raise click.BadParameter(
                f"{text!r} is not a positive number", param_hint=f"--{name.replace('_', '-')}"
            )
        values[name] = number
    if not values:
        raise click.UsageError("give --population and/or --street-km")
    importing.prepare_store(obj.engine)
    try:
        with write(obj.engine) as conn:
            for name, number in values.items():
                set_attribute(conn, quarter, name, number)
    except UnknownName as exc:
        _error(str(exc))
    click.echo(f"quarter {quarter}: " + ", ".join(f"{k} = {v:g}" for k, v in values.items()))


@attributes_cmd.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.pass_obj
def attributes_import(obj: Any, file: Path) -> None:
    """Load a CSV with columns quarter, population and/or street_km."""
    from geova.io.measures import read_attributes
    from geova.store.db import write
    from geova.store.measures import UnknownName, set_attribute

    importing.prepare_store(obj.engine)
    try:
        rows = read_attributes(file)
    except ImportFailure as exc:
        _error(f"{exc} Nothing was stored.")
    try:
        with write(obj.engine) as conn:
            for line, quarter, name, value in rows:
                try:
                    set_attribute(conn, quarter, name, value)
                except UnknownName as exc:
                    raise UnknownName(f"line {line}: {exc}") from None
    except UnknownName as exc:
        _error(f"{file}, {exc}. Nothing was stored.")
    click.echo(f"{file}: {len(rows)} attributes set")
