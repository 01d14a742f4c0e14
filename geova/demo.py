"""The demo territory: Boston's neighbourhoods, priority commercial zones and 2015 311 requests.

All files are bundled in the repository (``layers/``, ``data/``) so that the demo builds offline.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from geova.importing import (
    InterventionReport,
    LayerReport,
    import_interventions,
    import_layer,
    load_extra_referential,
    prepare_store,
)
from geova.store.db import write
from geova.store.status import AS_OF, set_setting

REPO = Path(__file__).resolve().parents[1]
LAYERS = REPO / "layers"
DATA = REPO / "data"
# When Boston's extract was taken: the latest CLOSED_DT of the demo's files, 2016-01-12 11:23:25 in
# Boston (EST, UTC-5; pwd-graffiti.csv; graffiti-removal.csv's latest is 2016-01-11 13:29:47). Pages
# judge the demo at this instant unless asked otherwise (the territory's ``as_of`` setting), so no
# request the extract shows closed is counted open.
EXTRACT_INSTANT = "2016-01-12T16:23:25+00:00"


@dataclass(frozen=True)
class DemoFile:
    data: str
    mapping: str


DEMO_FILES = [
    DemoFile("boston/graffiti-removal.csv", "mappings/graffiti-removal.toml"),
    DemoFile("boston/pwd-graffiti.csv", "mappings/pwd-graffiti.toml"),
    DemoFile("boston/empty-litter-basket.csv", "mappings/empty-litter-basket.toml"),
    DemoFile("boston/needle-pickup.csv", "mappings/needle-pickup.toml"),
    DemoFile("boston/trash-on-vacant-lot.csv", "mappings/trash-on-vacant-lot.toml"),
]


def build_demo(
    engine: Engine,
    on_layer: Callable[[LayerReport], None] = lambda r: None,
    on_file: Callable[[InterventionReport], None] = lambda r: None,
) -> None:
    prepare_store(engine)
    with write(engine) as conn:
        set_setting(conn, "territory_name", "Boston (demo)")
        set_setting(conn, "timezone", "America/New_York")
        set_setting(conn, "holidays", "US-MA")
        set_setting(conn, "headline_norm", "boston.target")
        # the demo data is the year 2015: pages open on it even after someone reports a request today
        set_setting(conn, "default_period_end", "2015-12-31")
        # and judge it at the extract's instant, so that its figures are Boston's own
        set_setting(conn, AS_OF, EXTRACT_INSTANT)
    load_extra_referential(engine, DATA / "boston" / "norms.toml")
    on_layer(
        import_layer(
            engine,
            LAYERS / "boston_neighborhoods.geojson",
            as_="quarters",
            code_field="Neighborhood_ID",
            name_field="Name",
        )
    )
    on_layer(
        import_layer(
            engine,
            LAYERS / "boston_priority_zones.geojson",
            as_="zones",
            code_field="code",
            name_field="name",
            kind_field="kind",
        )
    )
    for f in DEMO_FILES:
        on_file(import_interventions(engine, DATA / f.data, DATA / f.mapping))
    load_example_indicators(engine)
    load_example_economy(engine)
    from geova.demo_surveys import build_example_surveys  # example survey and questionnaire

    build_example_surveys(engine)


# Made-up figures (Boston publishes none): the reports that use them say they are example data.
EXAMPLE_MEASURES = DemoFile("boston/example-measures.csv", "boston/example-measures.toml")
EXAMPLE_ATTRIBUTES = "boston/example-quarter-attributes.csv"
DEMO_REPORTS = [("2015-06", None), ("2015-06", "6")]  # June 2015, the city and Dorchester


def load_example_indicators(engine: Engine) -> int:
    """The example measures and quarter attributes; returns the number of figures stored."""
    from geova.io.measures import load_measure_mapping, read_attributes, read_measures
    from geova.store.measures import MeasureEntry, record_measures, set_attribute

    mapping = load_measure_mapping(DATA / EXAMPLE_MEASURES.mapping)
    rows = read_measures(DATA / EXAMPLE_MEASURES.data, mapping)
    entries = [MeasureEntry(r.measure, r.month, r.quarter, r.value, r.service) for r in rows]
    with write(engine) as conn:
        set_setting(conn, "example_measures", "yes")
        record_measures(conn, entries, source=mapping.source.name)
        for _line, quarter, name, value in read_attributes(DATA / EXAMPLE_ATTRIBUTES):
            set_attribute(conn, quarter, name, value)
    return len(entries)


EXAMPLE_ECONOMY = "boston/example-economy.csv"  # made-up figures of three commercial zones


def load_example_economy(engine: Engine) -> int:
    """The example economic figures of a few commercial zones (the page says they are made up)."""
    from geova.economy import import_economy

    with write(engine) as conn:
        set_setting(conn, "example_economy", "yes")
    return import_economy(engine, DATA / EXAMPLE_ECONOMY, source="example data (made-up figures)")["figures"]


def publish_demo_reports(engine: Engine) -> list[str]:
    """The published June 2015 reports of the city and of Dorchester (once: a demo built again
    keeps the versions it has)."""
    from geova.reports import parse_period
    from geova.store.reports import versions
    from geova.web import create_app
    from geova.web.reports import publish_report

    done = []
    app = create_app({"GEOVA_DATABASE_URL": engine.url.render_as_string(hide_password=False)})
    with app.test_request_context("/"):
        for period, quarter in DEMO_REPORTS:
            with engine.connect() as conn:
                if versions(conn, quarter or "", period):
                    continue
            report = publish_report(engine, parse_period(period), quarter, "demo", None)
            done.append(report.title_en)
    return done


DEMO_ACCOUNTS = [
    ("correspondant", "correspondent", "6"),  # Dorchester's correspondent
    ("agent", "service", None),
    ("elu", "official", None),
    ("admin", "admin", None),
]
# The demo's service account works Boston's graffiti service (data/boston/norms.toml routes every
# graffiti report there): a new user's first graffiti report tops its worklist.
DEMO_AGENT_SERVICES = {"agent": ("boston.graffiti",)}


def create_demo_accounts(engine: Engine, folder: Path) -> list[tuple[str, str, str]]:
    """One account per role with a random password, written to ``folder/demo-accounts.txt``
    (instance/, ignored by git): the demo must not ship a known password."""
    import secrets

    from geova.store.assignments import set_account_services
    from geova.store.referential import services
    from geova.store.users import add_user, find

    created = []
    with write(engine) as conn:
        for username, role, quarter in DEMO_ACCOUNTS:
            if find(conn, username):
                continue
            password = secrets.token_urlsafe(9)
            add_user(conn, username, password, role, quarter)
            # only the services this store knows (the demo loads Boston's file first; a store
            # without it links none, and the account sees every service's requests)
            known = {s.code for s in services(conn)}
            linked = [code for code in DEMO_AGENT_SERVICES.get(username, ()) if code in known]
            if linked:
                set_account_services(conn, username, linked)
            created.append((username, role, password))
    if created:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "demo-accounts.txt"
        # Readable by its owner only: it holds passwords (os.open sets the mode at creation).
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.chmod(path, 0o600)  # a file left by an older version may have been world-readable
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            for username, role, password in created:
                fh.write(f"{username}\t{role}\t{password}\n")
    return created
