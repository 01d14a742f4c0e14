"""The `geova` command line: set up the store, load layers and interventions, say what is stored."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

import click
from sqlalchemy import Engine

from geova import importing, logs
from geova.config import DEFAULT_TIMEZONE, instance_path
from geova.io.errors import ImportFailure, TooManyRejects
from geova.settings import load as load_settings
from geova.store.db import StoreBusy, write

PROGRESS_FROM = 20_000  # rows; smaller files import faster than a progress bar can be read


class Context:
    def __init__(self, db: str | None):
        self.db = db
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            from geova.store.db import make_engine

            self._engine = make_engine(self.db)
        return self._engine

    def close(self) -> None:
        """Close the store's connections when the command ends: a command run in a longer-lived
        process (tests, a script calling the CLI) leaves none open behind it, which would keep a
        later first load in the WAL (geova.store.db.write's ``bulk``)."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


pass_ctx = click.make_pass_decorator(Context)
EXIT_BUSY = 75  # EX_TEMPFAIL (sysexits.h): try again later


class GeovaGroup(click.Group):
    """The command group; a store kept busy by another writer past GEOVA_BUSY_TIMEOUT ends any
    command with one line and a "try again" exit code, not a traceback; so does a bad input file
    met by any command (the referential every command loads first), with exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except StoreBusy as exc:
            click.secho(f"error: the store is busy with other changes ({exc})", fg="red", err=True)
            click.echo("Nothing was stored; try again (or raise GEOVA_BUSY_TIMEOUT).", err=True)
            sys.exit(EXIT_BUSY)
        except ImportFailure as exc:  # e.g. the city's referential file, read before any command
            _fail(exc)


def table_import_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--max-rejects`` and ``--dry-run``, the same for every import of a table of rows."""
    command = click.option(
        "--dry-run",
        is_flag=True,
        help="Read and check the whole file, show the first rows as geova reads them, rejects, flags "
        "and warnings; store nothing. Exits 1 when the import would store nothing.",
    )(command)
    return click.option(
        "--max-rejects",
        type=click.IntRange(min=0),
        default=0,
        show_default=True,
        help="Store nothing (and exit 1) if more rows than this are rejected; "
        "within the limit the other rows are stored.",
    )(command)


@click.group(
    cls=GeovaGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.option(
    "--db",
    envvar="GEOVA_DATABASE_URL",
    metavar="URL",
    help="Database URL (default: SpatiaLite file instance/geova.sqlite). "
    "E.g. postgresql://user@host/geova. Also read from GEOVA_DATABASE_URL.",
)
@click.version_option(package_name="geova")
@click.pass_context
def cli(ctx: click.Context, db: str | None) -> None:
    """geova: quality monitoring of proximity urban services (the OVA method)."""
    try:  # the command prints its own reports: geova's INFO lines only when GEOVA_LOG_LEVEL asks
        asked = "log_level" in load_settings().model_fields_set
        logs.configure(level=None if asked else "WARNING")
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    ctx.obj = Context(db)
    ctx.call_on_close(ctx.obj.close)


def _n(value: int) -> str:
    return f"{value:,}"


def _codes(values: tuple[str, ...] | str) -> list[str]:
    """Several values given as repeated options, comma lists or both: ``--norm a,b --norm c``."""
    items = [values] if isinstance(values, str) else list(values)
    return [v.strip() for item in items for v in item.split(",") if v.strip()]


class DecimalNumber(click.ParamType):
    """A number with a decimal point or the decimal comma every French export writes (``55,5``)."""

    name = "number"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, int | float):
            return float(value)
        text = str(value).strip().replace("\u202f", "").replace(" ", "")
        if text.count(",") == 1 and "." not in text:
            text = text.replace(",", ".")
        try:
            return float(text)
        except ValueError:
            self.fail(f"{value!r} is not a number (e.g. 55.5 or 55,5)", param, ctx)


def _fail(exc: ImportFailure, hint: str | None = None) -> NoReturn:
    """One line on stderr (a GDAL or TOML message may span several) and a non-zero exit."""
    message = " ".join(str(exc).split())
    click.secho(f"error: {message} Nothing was stored.", fg="red", err=True)
    if hint:
        click.echo(hint, err=True)
    sys.exit(1)


@cli.group()
def db() -> None:
    """Database schema (Alembic migrations)."""


@db.command("upgrade")
@pass_ctx
def db_upgrade(ctx: Context) -> None:
    """Create or upgrade the schema to the latest revision."""
    from geova.store.migrate import current_revision, upgrade

    upgrade(ctx.engine)
    click.echo(f"schema at revision {current_revision(ctx.engine)} ({ctx.engine.url.render_as_string()})")


@db.command("current")
@pass_ctx
def db_current(ctx: Context) -> None:
    """Print the schema revision of the database."""
    from geova.store.migrate import current_revision, head_revision

    click.echo(f"current {current_revision(ctx.engine)}, latest {head_revision(ctx.engine)}")


def print_layer_report(r: importing.LayerReport) -> None:
    click.echo(f"{Path(r.file).name} -> {r.kind} layer '{r.layer}': {_n(r.features)} features")
    click.echo(
        f"  inserted {_n(r.inserted)} · updated {_n(r.updated)} · unchanged {_n(r.unchanged)}"
        f" · deleted {_n(r.deleted)}"
        + (f" · parents created {_n(r.parents_created)}" if r.parents_created else "")
    )
    for note in r.notes:
        click.echo(f"  {note}")
    click.echo(f"  interventions reassigned: {_n(r.reassigned)}")


def print_intervention_report(r: importing.InterventionReport) -> None:
    click.echo(f"{Path(r.file).name} -> source '{r.source}' ({', '.join(r.notes)})")
    click.echo(
        f"  read {_n(r.read)} · inserted {_n(r.inserted)} · updated {_n(r.updated)}"
        f" · unchanged {_n(r.unchanged)} · rejected {_n(r.rejected)}"
    )
    flags = ", ".join(f"{k} {_n(v)}" for k, v in sorted(r.flagged.items())) or "none"
    click.echo(f"  outside the territory: {_n(r.outside_territory)} · flagged: {flags}")
    if r.rejected:
        click.echo(f"  rejects (row, field, reason): {r.rejects_file}")
    if getattr(r, "timezone_note", None):
        click.echo(f"  {r.timezone_note}")


def print_preview(p: Any) -> None:
    """A dry run's report (geova.preview.Preview): what was detected, the first rows as geova reads
    them, rejects by reason, flags, and the warnings of the mistake checks."""
    import pandas as pd

    unit = "features" if p.kind in ("quarters", "zones") else "rows"
    click.echo(f"{Path(p.file).name} -> {p.kind} '{p.source}' (dry run: nothing was stored)")
    detected = [f"encoding {p.encoding}", f"delimiter {p.delimiter}"] if p.encoding else list(p.notes)
    if p.timezone:
        detected.append(f"local times read in {p.timezone}")
    if detected:
        click.echo("  " + " · ".join(detected))
    line = f"  read {_n(p.read)} · would store {_n(p.accepted)}"
    if p.new is not None:
        line += f" (new {_n(p.new)}, changed {_n(p.changed)}, unchanged {_n(p.unchanged)})"
    if p.kind in ("interventions", "activities"):
        line += f" · rejected {_n(p.rejected)} · outside the territory {_n(p.outside_territory)}"
    click.echo(line)
    if p.rejects:
        click.echo("  rejected, by reason:")
        for r in p.rejects:
            shown = ", ".join(f"{e.row}: {e.value!r}" for e in r.examples)
            click.echo(f"    {_n(r.count):>7}  {r.column}: {r.reason} (e.g. {shown})")
    if p.kind in ("interventions", "activities"):
        flags = ", ".join(f"{k} {_n(v)}" for k, v in sorted(p.flags.items())) or "none"
        click.echo(f"  flagged: {flags}")
    if p.rows:
        click.echo(f"  first {unit} as geova reads them:")
        table = pd.DataFrame(p.rows, columns=p.columns).fillna("")
        for text in table.to_string(index=False).splitlines():
            click.echo(f"    {text}")
    if p.warnings:
        click.echo(f"  warnings ({len(p.warnings)}):")
        for w in p.warnings:
            shown = "; ".join(f"{e.row}: {e.value}" for e in w.examples)
            click.secho(f"    ! {w.code}: {w.message}", fg="yellow")
            if shown:
                click.echo(f"      e.g. {shown}")
    else:
        click.echo("  warnings: none")
    if p.failure:
        click.secho(f"  the import would fail: {p.failure}", fg="red")


def _fail_rejects(exc: ImportFailure) -> NoReturn:
    """Like _fail, with the option that lets the rows through when the limit was too low."""
    hint = None
    if isinstance(exc, TooManyRejects):
        hint = (
            f"The rejected rows and why: {exc.rejects_file}. To store the other rows anyway, "
            f"allow the rejects with --max-rejects {exc.rejected}."
        )
    _fail(exc, hint)


def _progress(label: str) -> tuple[Callable[[int, int], None], Callable[[], None]]:
    """A progress bar on stderr for large files; nothing for small ones."""
    state: dict[str, Any] = {"bar": None, "done": 0}

    def update(done: int, total: int) -> None:
        if total < PROGRESS_FROM:
            return
        if state["bar"] is None:
            bar = click.progressbar(length=total, label=label, file=sys.stderr, show_pos=True)
            bar.__enter__()
            state["bar"] = bar
        state["bar"].update(done - state["done"])
        state["done"] = done

    def close() -> None:
        if state["bar"] is not None:
            state["bar"].__exit__(None, None, None)

    return update, close


@cli.command("import-layer")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--as", "as_", type=click.Choice(["quarters", "zones"]), required=True, help="What the polygons are."
)
@click.option("--code-field", help="Field holding a stable code (default: feature number).")
@click.option("--name-field", help="Field holding the display name.")
@click.option("--parent-field", help="Quarters: field holding the parent quarter's code (e.g. c_ar).")
@click.option(
    "--parent-name",
    default="{code}",
    show_default=True,
    help="Quarters: name of parents created from --parent-field, e.g. '{code}e arrondissement'.",
)
@click.option("--kind", help="Zones: kind of every zone (commercial, sensitive, black_spot, waste_land...).")
@click.option("--kind-field", help="Zones: field holding each zone's kind.")
@click.option("--crs", help="CRS of the file when it has none or a wrong one (e.g. EPSG:2154).")
@click.option("--layer", help="Layer inside a GeoPackage.")
@click.option("--name", "layer_name", help="Name of the layer in geova (default: file name).")
@click.option(
    "--repair/--no-repair",
    default=True,
    show_default=True,
    help="Repair invalid polygons (and report it) or refuse them.",
)
@click.option(
    "--dry-run", is_flag=True, help="Read and check the file, show what would be stored; store nothing."
)
@pass_ctx
def import_layer_cmd(ctx: Context, file: Path, as_: str, dry_run: bool, **options: Any) -> None:
    """Load quarters or zones from GeoJSON, GeoPackage or Shapefile (zip or folder), any CRS."""
    try:
        if dry_run:
            from geova.preview import preview_layer

            print_preview(preview_layer(file, as_=as_, **options))
            return
        report = importing.import_layer(ctx.engine, file, as_=as_, **options)
    except ImportFailure as exc:
        _fail(exc)
    print_layer_report(report)


@cli.command("import-interventions")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--mapping",
    "mapping",
    type=click.Path(path_type=Path),
    required=True,
    help="TOML mapping file: source columns, dates, time zone, categories.",
)
@click.option(
    "--rejects",
    type=click.Path(path_type=Path),
    help="Where to write rejected rows (default: instance/rejects/FILE.rejects.csv).",
)
@table_import_options
@pass_ctx
def import_interventions_cmd(
    ctx: Context, file: Path, mapping: Path, rejects: Path | None, max_rejects: int, dry_run: bool
) -> None:
    """Load intervention requests from CSV, GeoJSON or GeoPackage (upsert on the source id).

    A file with rejected rows stores nothing unless --max-rejects allows them; try it first with
    --dry-run."""
    if dry_run:
        _dry_run("preview_interventions", ctx, file, mapping, max_rejects)
    update, close = _progress(f"storing {file.name}")
    try:
        report = importing.import_interventions(
            ctx.engine, file, mapping, rejects_path=rejects, max_rejects=max_rejects, progress=update
        )
    except ImportFailure as exc:
        close()
        _fail_rejects(exc)
    close()
    print_intervention_report(report)


def _dry_run(what: str, ctx: Context, file: Path, mapping: Path, max_rejects: int) -> NoReturn:
    from geova import preview

    try:
        p = getattr(preview, what)(ctx.engine, file, mapping, max_rejects=max_rejects)
    except ImportFailure as exc:
        _fail(exc)
    print_preview(p)
    sys.exit(1 if p.failure else 0)


@cli.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@pass_ctx
def status(ctx: Context, fmt: str) -> None:
    """What the store holds: quarters, zones, interventions, flagged rows, last imports."""
    from geova.store.migrate import current_revision
    from geova.store.status import store_status

    if current_revision(ctx.engine) is None:
        click.echo("The store is empty: run `geova db upgrade`, `geova demo` or an import.", err=True)
        sys.exit(1)
    with ctx.engine.connect() as conn:
        st = store_status(conn)
    if fmt == "json":
        click.echo(json.dumps(st, indent=2, ensure_ascii=False))
        return
    s = st["settings"]
    click.echo(
        f"Territory: {s.get('territory_name', '(unnamed)')} · time zone {s.get('timezone', 'Europe/Paris')}"
    )
    levels = ", ".join(f"{_n(n)} at level {lvl}" for lvl, n in st["quarters"].items()) or "none"
    click.echo(f"Quarters: {levels}")
    click.echo("Zones: " + (", ".join(f"{k} {_n(v)}" for k, v in st["zones"].items()) or "none"))
    iv = st["interventions"]
    click.echo(f"Interventions: {_n(iv['total'])} (outside the territory: {_n(iv['outside_territory'])})")
    for cat, by_status in sorted(iv["by_category"].items()):
        detail = ", ".join(f"{k} {_n(v)}" for k, v in sorted(by_status.items()))
        click.echo(f"  {cat}: {_n(sum(by_status.values()))} ({detail})")
    flags = ", ".join(f"{k} {_n(v)}" for k, v in st["flags"].items()) or "none"
    click.echo(f"Flagged rows: {_n(st['flagged_rows'])} ({flags})")
    tz = ZoneInfo(s.get("timezone", DEFAULT_TIMEZONE))
    click.echo("Last imports:")
    for imp in st["last_imports"]:
        c = imp["counts"]
        what = (
            (
                f"read {_n(c.get('read', 0))}, inserted {_n(c.get('inserted', 0))}, "
                f"rejected {_n(c.get('rejected', 0))}"
            )
            if imp["kind"] == "interventions"
            else (f"{_n(c.get('features', 0))} features")
        )
        when = datetime.fromisoformat(imp["finished_at"]).astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")
        click.echo(f"  {when} {imp['kind']:<13} {imp['file']} ({what})")


@cli.command()
@click.option("--name", help="Territory name shown in the app.")
@click.option("--timezone", help="IANA time zone in which dates are shown (e.g. Europe/Paris).")
@click.option(
    "--holidays", help="Public holidays of working-hours norms: country[-subdivision], e.g. FR, FR-57, US-MA."
)
@click.option(
    "--publish-requests",
    type=click.Choice(["yes", "no"]),
    help="Show individual requests to the public (without description, address or requester); "
    "default no: the public sees aggregates only.",
)
@click.option(
    "--as-of",
    "as_of",
    metavar="ISO|now",
    help="The instant pages judge data at when none is asked for (e.g. an extract's instant, in local "
    "time or with an offset); 'now' (the default) follows the clock.",
)
@pass_ctx
def territory(
    ctx: Context,
    name: str | None,
    timezone: str | None,
    holidays: str | None,
    publish_requests: str | None,
    as_of: str | None,
) -> None:
    """Show or set the territory's name, time zone, holidays, publication and clock."""
    from zoneinfo import ZoneInfo

    from geova.store.status import set_setting, settings

    importing.prepare_store(ctx.engine)
    if timezone:
        try:
            ZoneInfo(timezone)
        except Exception as exc:
            raise click.BadParameter(f"unknown time zone {timezone!r}", param_hint="--timezone") from exc
    with write(ctx.engine) as conn:
        if name:
            set_setting(conn, "territory_name", name)
        if timezone:
            set_setting(conn, "timezone", timezone)
        if holidays:
            from geova.core.workcal import public_holidays

            try:
                public_holidays(holidays, 2020, 2020)
            except Exception as exc:
                raise click.BadParameter(f"unknown holidays {holidays!r}", param_hint="--holidays") from exc
            set_setting(conn, "holidays", holidays)
        if publish_requests:
            set_setting(conn, "publish_requests", "true" if publish_requests == "yes" else "false")
        if as_of:
            set_clock(conn, as_of)
        stored = settings(conn)
        for k in TERRITORY_SETTINGS:  # what a user sets; the store's own bookkeeping stays out
            if k in stored:
                click.echo(f"{k}: {stored[k]}")


TERRITORY_SETTINGS = (
    "territory_name",
    "timezone",
    "holidays",
    "as_of",
    "default_period_end",
    "headline_norm",
    "default_service",
    "publish_requests",
)


def set_clock(conn: Any, value: str) -> None:
    """The territory's ``as_of`` setting from ``ISO`` (local time without an offset) or ``now``."""
    import pandas as pd

    from geova.store.status import AS_OF, delete_setting, set_setting, settings

    if value.strip().lower() == "now":
        delete_setting(conn, AS_OF)
        return
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise click.BadParameter(
            f"{value!r} is not a date and time (or 'now')", param_hint="--as-of"
        ) from exc
    if ts is pd.NaT:
        raise click.BadParameter(f"{value!r} is not a date and time (or 'now')", param_hint="--as-of")
    if ts.tzinfo is None:
        tz = settings(conn).get("timezone") or DEFAULT_TIMEZONE
        ts = ts.tz_localize(tz, ambiguous=True, nonexistent="shift_forward")
    set_setting(conn, AS_OF, ts.tz_convert("UTC").isoformat())


def _emit(frame: Any, fmt: str, tz: str) -> None:
    """One table: CSV for French Excel (the web exports' own: BOM, ``;``, decimal comma, day-first
    with seconds), JSON (a list of records) or a text table."""
    from geova.io import exports

    if fmt == "csv":
        click.echo(exports.to_excel_csv(frame, tz), nl=False)
    elif fmt == "json":
        click.echo(exports.to_json(frame, tz))
    else:
        click.echo(exports.to_text_table(frame, tz) if len(frame) else "(nothing)")


def _emit_tables(frames: list[Any], fmt: str, tz: str) -> None:
    """Several tables as one output: JSON, one list holding every table's records (deadline results,
    then periodic ones, which carry ``period`` and ``unit``); CSV, the tables one after the other
    separated by an empty line, with one BOM; text, one after the other."""
    from geova.io import exports

    if fmt == "json":
        rows = [r for f in frames for r in exports.to_json_records(f, tz)]
        click.echo(json.dumps(rows, ensure_ascii=False, indent=1))
    elif fmt == "csv":
        texts = [exports.to_excel_csv(f, tz, bom=i == 0) for i, f in enumerate(frames)]
        click.echo("\r\n".join(texts), nl=False)
    else:
        for f in frames:
            _emit(f, fmt, tz)


def _describe_scope(norm: Any) -> str:
    """A norm's scopes in one line, e.g. "categories graffiti, zone kinds commercial"."""
    said = []
    for scope in norm.scopes:
        parts = [
            f"{name} {', '.join(sorted(values))}"
            for name, values in (
                ("categories", scope.categories),
                ("severities", scope.severities),
                ("zone kinds", scope.zone_kinds),
                ("not in zone kinds", scope.exclude_zone_kinds),
                ("zones", scope.zones),
                ("quarters", scope.quarters),
            )
            if values
        ]
        if scope.insulting is not None:
            parts.append("insulting" if scope.insulting else "not insulting")
        said.append(", ".join(parts) or "every request")
    return " or ".join(f"({s})" for s in said) or "(no scope)"


def _hint_empty_norms(result: Any, named: bool) -> None:
    """On stderr, why a norm has no result: its scope matches none of the stored requests (or
    activities). Said for the norms asked for by name, or when the whole result is empty."""
    from geova.core.norms import NormKind

    judged = set(result.per_intervention["norm"]) if len(result.per_intervention) else set()
    periodic = set(result.periodic["norm"]) if len(result.periodic) else set()
    if not named and (judged or periodic):
        return
    for norm in result.norms:
        deadline = norm.kind is NormKind.DEADLINE
        if norm.code in (judged if deadline else periodic):
            continue
        what = "no request stored and reported by then" if deadline else "no quarter or zone stored to judge"
        click.echo(
            f"hint: norm '{norm.code}' has no result: its scope {_describe_scope(norm)} matches {what}",
            err=True,
        )


@cli.command()
@click.option(
    "--as-of",
    "as_of",
    metavar="ISO",
    help="Evaluate at this instant (default: now). "
    "A time without offset is read in the territory's time zone.",
)
@click.option(
    "--norm",
    "norms",
    multiple=True,
    metavar="CODE[,CODE...]",
    help="Norm(s) to evaluate, repeated or comma-separated (default: all active).",
)
@click.option(
    "--by",
    default="norm",
    show_default=True,
    help="Group by, comma-separated: norm, quarter, subquarter, zone, zone_kind, category, service, "
    "channel, month.",
)
@click.option(
    "--per-intervention", is_flag=True, help="One row per request: source id, due at, state, hours."
)
@click.option(
    "--deadline",
    type=click.Choice(["rule", "source"]),
    help="Judge on the norm's rule, or on the due date each source system gave (default: per norm).",
)
@click.option(
    "--risk-hours",
    type=DecimalNumber(),
    default=24.0,
    show_default=True,
    help="An open request due within this many hours is 'at risk'.",
)
@click.option(
    "--from", "date_from", metavar="DATE", help="Periodic norms: first period (default: 1 January)."
)
@click.option("--to", "date_to", metavar="DATE", help="Periodic norms: last period (default: as of).")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True
)
@pass_ctx
def evaluate(
    ctx: Context,
    as_of: str | None,
    norms: tuple[str, ...],
    by: str,
    per_intervention: bool,
    deadline: str | None,
    risk_hours: float,
    date_from: str | None,
    date_to: str | None,
    fmt: str,
) -> None:
    """Evaluate quality norms: per request, per group, and per period for periodic norms."""
    import pandas as pd

    from geova.core.evaluate import PER_REQUEST_COLUMNS
    from geova.core.norms import Basis
    from geova.evaluation import evaluate as run
    from geova.evaluation import parse_as_of, territory_of

    importing.prepare_store(ctx.engine)
    tz = territory_of(ctx.engine).timezone
    codes = _codes(norms)
    try:
        result = run(
            ctx.engine,
            as_of=parse_as_of(as_of, tz),
            norm_codes=codes or None,
            by=[b.strip() for b in by.split(",") if b.strip()],
            basis=Basis(deadline) if deadline else None,
            risk_hours=risk_hours,
            period_start=pd.Timestamp(date_from) if date_from else None,
            period_end=pd.Timestamp(date_to) if date_to else None,
        )
    except (LookupError, ValueError) as exc:
        raise click.UsageError(str(exc)) from exc
    _hint_empty_norms(result, named=bool(codes))
    if per_intervention:
        cols = [c for c in PER_REQUEST_COLUMNS if c not in ("id", "target_hours")]
        _emit(result.per_intervention[cols], fmt, tz)
        return
    if fmt == "table":
        click.echo(f"As of {result.as_of.tz_convert(tz):%Y-%m-%d %H:%M %Z} ({tz})")
    frames = []
    if len(result.aggregates) or not len(result.periodic):
        frames.append(result.aggregates)
    if len(result.periodic):
        from geova.core.periodic import summarise

        detailed = bool(codes) or fmt != "table"
        if fmt == "table":
            _emit_tables(frames, fmt, tz)
            frames = []
            click.echo(
                "\nPeriodic norms "
                + (
                    "(achieved / target per unit and period):"
                    if detailed
                    else "(unit-periods; name a norm with --norm for the detail):"
                )
            )
        frames.append(result.periodic if detailed else summarise(result.periodic))
    _emit_tables(frames, fmt, tz)


@cli.command()
@click.option("--all", "show_all", is_flag=True, help="Include inactive norms (proposals, old sets).")
@pass_ctx
def norms(ctx: Context, show_all: bool) -> None:
    """List the quality norms and the figures in force."""
    from geova.store.referential import load_norms

    importing.prepare_store(ctx.engine)
    with ctx.engine.connect() as conn:
        items = load_norms(conn, active_only=not show_all)
    for n in items:
        figures = "; ".join(
            f"{t.value if t.value is not None else 'not set'} ({t.describe()})" for t in n.targets
        )
        state = "" if n.active else " [inactive]"
        click.echo(f"{n.code}{state} · {n.kind} · {n.label_en}")
        click.echo(f"    figures: {figures}")


@cli.group()
def referential() -> None:
    """The OVA referential: fields, tasks, categories, norms."""


@referential.command("load")
@click.argument("file", type=click.Path(exists=True, path_type=Path))
@pass_ctx
def referential_load(ctx: Context, file: Path) -> None:
    """Add or update fields, tasks, categories and norms from a TOML file (nothing is deleted).

    The file is checked whole first: categories may name tasks already stored, norms may be scoped
    to categories, quarters, zones and zone kinds already stored (load the layers first)."""
    try:
        counts = importing.load_extra_referential(ctx.engine, file)
    except ImportFailure as exc:
        _fail(exc)
    click.echo(", ".join(f"{k} added {v}" for k, v in counts.items()))


@cli.command("import-activities")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--mapping", type=click.Path(path_type=Path), required=True, help="TOML mapping of the file.")
@click.option("--rejects", type=click.Path(path_type=Path), help="Where to write rejected rows.")
@table_import_options
@pass_ctx
def import_activities_cmd(
    ctx: Context, file: Path, mapping: Path, rejects: Path | None, max_rejects: int, dry_run: bool
) -> None:
    """Load passages (sweeping, collections) and dated events (meetings, visits) for periodic norms."""
    if dry_run:
        _dry_run("preview_activities", ctx, file, mapping, max_rejects)
    try:
        report = importing.import_activities(
            ctx.engine, file, mapping, rejects_path=rejects, max_rejects=max_rejects
        )
    except ImportFailure as exc:
        _fail_rejects(exc)
    print_intervention_report(report)


@cli.command("share")
@click.argument("norm")
@click.argument("quarter")
@click.argument("period_start", metavar="DATE")
@click.argument("value", type=DecimalNumber())
@click.option("--note", help="Where the figure comes from.")
@pass_ctx
def share_cmd(
    ctx: Context, norm: str, quarter: str, period_start: str, value: float, note: str | None
) -> None:
    """Enter the percentage achieved for a share norm, a quarter and the period holding DATE
    (e.g. 2016-01-01 60, or 55,5). The figure is stored under the period's first day, which the
    answer shows: 2015-03-15 for a yearly norm is stored as 2015-01-01."""
    from datetime import date

    from geova.store.followups import record_share

    try:
        day = date.fromisoformat(period_start)
    except ValueError as exc:
        raise click.BadParameter(f"{period_start!r} is not a date (YYYY-MM-DD)", param_hint="DATE") from exc
    importing.prepare_store(ctx.engine)
    try:
        with write(ctx.engine) as conn:
            stored = record_share(conn, norm, quarter, day, value, note)
    except (LookupError, ValueError) as exc:
        raise click.UsageError(str(exc)) from exc
    held = "" if stored == day else f" (the period holding {day.isoformat()})"
    click.echo(f"{norm}: quarter {quarter}, period from {stored.isoformat()}{held} = {value:g} %")


@cli.group()
def audit() -> None:
    """The audit grid of standard tasks: OUI / NON / PARTIELLEMENT per quarter and year."""


@audit.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--by", "recorded_by", help="Who answered (kept in the history).")
@pass_ctx
def audit_import(ctx: Context, file: Path, recorded_by: str | None) -> None:
    """Import answers from a CSV (quartier;annee;tache;engagement;respect;commentaire;...)."""
    from geova.io.audit_csv import read_audit_csv
    from geova.store.audit import UnknownCode, record

    importing.prepare_store(ctx.engine)
    try:
        entries = read_audit_csv(file)
        with write(ctx.engine) as conn:
            counts = record(conn, entries, recorded_by)
    except ImportFailure as exc:
        _fail(exc)
    except UnknownCode as exc:
        _fail(ImportFailure(str(file), str(exc), row=f"line {exc.line}" if exc.line else None))
    click.echo(
        f"{file.name}: {len(entries)} answers read, {counts['added']} recorded, "
        f"{counts['unchanged']} unchanged"
    )


@audit.command("export")
@click.option("--year", type=int)
@click.option(
    "--lang", type=click.Choice(["fr", "en"]), default="fr", show_default=True, help="Column headers."
)
@click.option(
    "--output", "-o", type=click.Path(path_type=Path), help="File to write (default: standard output)."
)
@pass_ctx
def audit_export(ctx: Context, year: int | None, lang: str, output: Path | None) -> None:
    """Export the current grid as a CSV for French Excel."""
    from geova.io.audit_csv import audit_csv_text
    from geova.store.audit import current_grid

    importing.prepare_store(ctx.engine)
    with ctx.engine.connect() as conn:
        text = audit_csv_text(current_grid(conn, year=year), lang)
    if output:
        output.write_text(text, encoding="utf-8", newline="")
        click.echo(f"wrote {output}")
    else:  # the same bytes as the file: BOM included, so that `> grid.csv` opens in Excel
        click.echo(text, nl=False)


@audit.command("show")
@click.option("--year", type=int)
@click.option("--quarter", help="Quarter code.")
@click.option(
    "--history", "show_history", is_flag=True, help="Every recorded change, not only the current answers."
)
@pass_ctx
def audit_show(ctx: Context, year: int | None, quarter: str | None, show_history: bool) -> None:
    """Show the grid (quarters x tasks, one per year) or its history.

    Each cell is commitment/respected: OUI, NON, PART (partially), - (not answered)."""
    from geova.store.audit import current_grid, history

    importing.prepare_store(ctx.engine)
    with ctx.engine.connect() as conn:
        if show_history:
            frame = history(conn, quarter, year)
            click.echo(frame.to_string(index=False) if len(frame) else "(no answers recorded)")
            return
        grid = current_grid(conn, year=year, quarter=quarter)
    if not len(grid):
        click.echo("(no answers recorded)")
        return
    click.echo("commitment/respected: OUI, NON, PART (partially), - (not answered)")
    for y, frame in grid.groupby("year", sort=True):
        click.echo(f"\n{y}")
        click.echo(audit_pivot(frame).to_string())


def audit_pivot(grid: Any) -> Any:
    """One year's answers as a table: a row per quarter, a column per task (in code order)."""
    import pandas as pd

    def short(answer: Any) -> str:
        if answer is None or pd.isna(answer) or answer == "":
            return "-"
        return "PART" if answer == "PARTIELLEMENT" else str(answer)

    cells = grid.assign(
        cell=[f"{short(c)}/{short(r)}" for c, r in zip(grid["commitment"], grid["respected"], strict=True)]
    )
    table = cells.pivot(index="quarter", columns="task", values="cell").fillna("")
    table.index.name, table.columns.name = "quarter", None
    return table


@cli.group("followups", invoke_without_command=True)
@click.option("--as-of", "as_of", metavar="ISO", help="Instant of the list (default: now).")
@click.option(
    "--state",
    "states",
    default="due,missed",
    show_default=True,
    help="Comma-separated: due, missed, done, done_late.",
)
@click.option(
    "--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True
)
@click.pass_context
def followups_cmd(click_ctx: click.Context, as_of: str | None, states: str, fmt: str) -> None:
    """Follow-up of requesters: contact at 15 days, 1 month, validation at 2 months."""
    if click_ctx.invoked_subcommand:
        return
    from geova.core.followups import followups
    from geova.evaluation import parse_as_of, territory_of
    from geova.store.followups import load_done
    from geova.store.records import load_records

    ctx: Context = click_ctx.obj
    importing.prepare_store(ctx.engine)
    tz = territory_of(ctx.engine).timezone
    with ctx.engine.connect() as conn:
        recs, _ = load_records(conn)
        done = load_done(conn)
    table = followups(recs, done, parse_as_of(as_of, tz), tz)
    wanted = [s.strip() for s in states.split(",") if s.strip()]
    counts = table["state"].value_counts().to_dict()
    if fmt == "table":
        click.echo("Follow-ups: " + ", ".join(f"{k} {_n(v)}" for k, v in sorted(counts.items())))
    _emit(table[table["state"].isin(wanted)], fmt, tz)


FOLLOWUP_STEPS = ["contact_15d", "contact_1m", "validation_2m"]


@followups_cmd.command("record")
@click.argument("source_id")
@click.argument("step", type=click.Choice(FOLLOWUP_STEPS))
@click.option(
    "--at", "at", metavar="ISO", help="When the requester was contacted (default: now; local time)."
)
@click.option("--note")
@click.option("--source", help="Source name, when several sources share the id.")
@click.option("--by", "recorded_by", help="Who made the contact (kept in the request's history).")
@click.option("--replace", is_flag=True, help="Correct the contact already recorded for this step.")
@click.pass_obj
def followups_record(
    ctx: Context,
    source_id: str,
    step: str,
    at: str | None,
    note: str | None,
    source: str | None,
    recorded_by: str | None,
    replace: bool,
) -> None:
    """Record that the requester of SOURCE_ID was contacted for STEP.

    A contact before the report or in the future is refused; so is a second contact for a step
    unless --replace says it corrects the first. The request's history keeps every change."""
    from geova.evaluation import parse_as_of, territory_of
    from geova.store.followups import record_followup

    importing.prepare_store(ctx.engine)
    tz = territory_of(ctx.engine).timezone
    try:
        when = parse_as_of(at, tz).tz_convert(tz).to_pydatetime()
    except ValueError as exc:
        raise click.BadParameter(f"{at!r} is not a date and time (ISO 8601)", param_hint="--at") from exc
    try:
        with write(ctx.engine) as conn:
            record_followup(
                conn, source_id, step, when, note, recorded_by=recorded_by, source=source, replace=replace
            )
    except (LookupError, ValueError) as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(f"{source_id}: {step} {'corrected' if replace else 'recorded'} at {when:%Y-%m-%d %H:%M %Z}")


@followups_cmd.command("undo")
@click.argument("source_id")
@click.argument("step", type=click.Choice(FOLLOWUP_STEPS))
@click.option("--source", help="Source name, when several sources share the id.")
@click.option("--by", "recorded_by", help="Who undoes it (kept in the request's history).")
@click.pass_obj
def followups_undo(
    ctx: Context, source_id: str, step: str, source: str | None, recorded_by: str | None
) -> None:
    """Remove the contact recorded for STEP (a mistake); the request's history keeps it."""
    from geova.evaluation import territory_of
    from geova.store.followups import undo_followup

    importing.prepare_store(ctx.engine)
    tz = ZoneInfo(territory_of(ctx.engine).timezone)
    try:
        with write(ctx.engine) as conn:
            was = undo_followup(conn, source_id, step, recorded_by=recorded_by, source=source)
    except LookupError as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(f"{source_id}: {step} contact of {was.astimezone(tz):%Y-%m-%d %H:%M %Z} undone")


@cli.group()
def user() -> None:
    """Accounts of the web app."""


@user.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(["correspondent", "service", "official", "admin"]), required=True)
@click.option("--quarter", help="A correspondent's own quarter (code).")
@click.option(
    "--service",
    "services",
    multiple=True,
    help="A service account's service (code of the referential's [[service]]; repeatable): its "
    "worklist lists that service's requests by default.",
)
@click.password_option(
    help="Asked for when not given (GEOVA_USER_PASSWORD also works).", envvar="GEOVA_USER_PASSWORD"
)
@pass_ctx
def user_add(
    ctx: Context, username: str, role: str, quarter: str | None, services: tuple[str, ...], password: str
) -> None:
    """Create an account; the password is stored hashed."""
    from geova.store.assignments import set_account_services
    from geova.store.users import add_user

    importing.prepare_store(ctx.engine)
    try:
        with write(ctx.engine) as conn:
            account = add_user(conn, username, password, role, quarter)
            linked = set_account_services(conn, username, services) if services else ()
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(f"user {account.username} ({account.role}) created")
    if linked:
        click.echo(f"services: {', '.join(linked)}")


@user.command("services")
@click.argument("username")
@click.argument("codes", nargs=-1)
@click.option("--clear", is_flag=True, help="Link the account to no service (it sees every service's).")
@pass_ctx
def user_services(ctx: Context, username: str, codes: tuple[str, ...], clear: bool) -> None:
    """Link a service account to these services (replacing its links); without codes, list them."""
    from geova.store.assignments import account_services, set_account_services
    from geova.store.users import find

    importing.prepare_store(ctx.engine)
    if clear and codes:
        raise click.UsageError("--clear takes no service code")
    try:
        with write(ctx.engine) as conn:
            if codes or clear:
                set_account_services(conn, username, codes)
            account = find(conn, username)
            if account is None:
                raise LookupError(f"unknown user '{username}'")
            linked = account_services(conn, account.id)
    except (ValueError, LookupError) as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(f"{username}: {', '.join(linked) if linked else 'no service (sees every service)'}")


@user.command("passwd")
@click.argument("username")
@click.password_option(
    help="Asked for when not given (GEOVA_USER_PASSWORD also works).", envvar="GEOVA_USER_PASSWORD"
)
@pass_ctx
def user_passwd(ctx: Context, username: str, password: str) -> None:
    """Change an account's password; every session of the account ends."""
    from geova.store.users import set_password

    importing.prepare_store(ctx.engine)
    try:
        with write(ctx.engine) as conn:
            set_password(conn, username, password)
    except (ValueError, LookupError) as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(f"password of {username} changed; its sessions have ended")


@cli.group()
def apikey() -> None:
    """Keys other systems call the JSON API (/api/v1) and Open311 (/open311/v2) with."""


@apikey.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(["correspondent", "service", "official", "admin"]), required=True)
@pass_ctx
def apikey_add(ctx: Context, name: str, role: str) -> None:
    """Create a key and print its token: the only time it is shown (only its SHA-256 is stored)."""
    from geova.store.apikeys import add_key

    importing.prepare_store(ctx.engine)
    try:
        with write(ctx.engine) as conn:
            key, token = add_key(conn, name, role)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(f"key {key.name} ({key.role}) created; its token, shown only now:", err=True)
    click.echo(token)


@apikey.command("list")
@pass_ctx
def apikey_list(ctx: Context) -> None:
    """The keys, without their tokens."""
    from geova.store.apikeys import list_keys

    importing.prepare_store(ctx.engine)
    with ctx.engine.connect() as conn:
        keys = list_keys(conn)
    for k in keys:
        state = "active" if k.active else "revoked"
        click.echo(f"{k.name:<24} {k.role:<14} {state:<8} created {k.created_at:%Y-%m-%d %H:%M} UTC")


@apikey.command("revoke")
@click.argument("name")
@pass_ctx
def apikey_revoke(ctx: Context, name: str) -> None:
    """Deactivate a key: calls with it are refused from now on."""
    from geova.store.apikeys import revoke

    importing.prepare_store(ctx.engine)
    try:
        with write(ctx.engine) as conn:
            revoke(conn, name)
    except LookupError as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(f"key {name} revoked")


@cli.command()
@pass_ctx
def demo(ctx: Context) -> None:
    """Build the demo territory (Boston neighbourhoods, priority zones, 2015 311 requests)."""
    from geova.demo import build_demo

    try:
        build_demo(ctx.engine, on_layer=print_layer_report, on_file=print_intervention_report)
    except ImportFailure as exc:
        _fail(exc)
    from geova.demo import create_demo_accounts, publish_demo_reports

    for title in publish_demo_reports(ctx.engine):
        click.echo(f"published: {title}")
    accounts = create_demo_accounts(ctx.engine, instance_path())
    if accounts:
        click.echo("Demo accounts (also in instance/demo-accounts.txt):")
        for username, role, password in accounts:
            click.echo(f"  {username:<14} {role:<14} {password}")
    click.echo("Demo territory ready: `flask --app app run` serves it.")


@cli.command("sync")
@click.option(
    "--sources",
    "sources_file",
    type=click.Path(path_type=Path),
    required=True,
    help="The sources file (TOML).",
)
@pass_ctx
def sync_cmd(ctx: Context, sources_file: Path) -> None:
    """Import the sources whose content changed since their last sync (for cron or a systemd timer).
    One line per source; exits 1 if any failed. Every run is in the import log."""
    from geova.io.sources_file import read_sources
    from geova.sync import sync

    results = sync(ctx.engine, read_sources(sources_file))  # a bad sources file: one line, exit 1
    for r in results:
        click.secho(f"{r.name}: {r.message}", fg="red" if r.failed else None, err=r.failed)
    sys.exit(1 if any(r.failed for r in results) else 0)


@cli.command("run-job", hidden=True)
@click.argument("job_id", type=int)
@pass_ctx
def run_job_cmd(ctx: Context, job_id: int) -> None:
    """Run a queued import job, or an upload's preview (what the web app starts in the background)."""
    from geova.jobs import run_job

    job = run_job(ctx.engine, job_id)
    click.echo(f"import job {job.id}: {job.phase}" + (f" ({job.error})" if job.error else ""))
    sys.exit(0 if job.phase in ("done", "previewed") else 1)


def _add_committee_commands() -> None:
    """`geova report`, `reports`, `indicators`, `measures`, `quarter-attributes` (geova.cli_reports)."""
    from geova.cli_reports import add_commands

    add_commands(cli)


_add_committee_commands()


def _add_survey_commands() -> None:
    from geova.cli_surveys import survey, voice  # field surveys and residents' voice

    cli.add_command(survey)
    cli.add_command(voice)


_add_survey_commands()


def _add_economy_commands() -> None:
    from geova.cli_economy import economy  # economic figures of the commercial zones

    cli.add_command(economy)


_add_economy_commands()


def _add_mail_commands() -> None:
    from geova.cli_mail import mail, requesters  # requesters' contacts and e-mails

    cli.add_command(requesters)
    cli.add_command(mail)


_add_mail_commands()


def main() -> None:
    cli(prog_name="geova")


if __name__ == "__main__":
    main()
