"""The audit grid of standard tasks (CSV in and out, history) and the follow-up of requesters."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select

from geova import importing
from geova.cli import cli
from geova.core.audit import Answer, AuditEntry, parse_answer
from geova.core.followups import STEP_CODES, followups
from geova.io.audit_csv import audit_csv_text, read_audit_csv
from geova.io.errors import ImportFailure
from geova.store.audit import current_grid, history, record
from geova.store.followups import FollowupRefused, load_done, record_followup, undo_followup
from geova.store.schema import AuditEntryRow
from geova.store.status import set_setting
from tests.fixtures.norms.frames import PARIS, local, records

FIX = Path(__file__).parent / "fixtures" / "norms"
DUNKERQUE = FIX / "audit-dunkerque-2008.csv"  # French headers, ';', Windows Latin-1
NANTES_EN = FIX / "audit-nantes-nord-2008-en.csv"  # English headers, ',', UTF-8
BAD = FIX / "audit-bad-answer.csv"


# ---------------------------------------------------------------------------------------------
# Audit: reading the CSV
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("OUI", Answer.OUI),
        ("oui", Answer.OUI),
        (" Yes ", Answer.OUI),
        ("NON", Answer.NON),
        ("no", Answer.NON),
        ("PARTIELLEMENT", Answer.PARTIELLEMENT),
        ("partially", Answer.PARTIELLEMENT),
        ("", None),
    ],
)
def test_answers_in_french_or_english(text, answer):
    assert parse_answer(text) is answer


def test_read_french_latin1_semicolon_grid():
    entries = read_audit_csv(DUNKERQUE)
    assert [(e.quarter, e.year, e.task, e.commitment, e.respected) for e in entries] == [
        ("DK", 2008, "proprete.graffiti", Answer.OUI, Answer.OUI),
        ("DK", 2008, "proprete.depots", Answer.NON, Answer.NON),
        ("DK", 2008, "proprete.voirie", Answer.NON, Answer.PARTIELLEMENT),
        ("DK", 2008, "proprete.friches", Answer.OUI, Answer.OUI),
        ("DK", 2008, "proprete.participation", Answer.NON, None),
    ]
    depots = entries[1]
    assert depots.comment == "NON (marché en cours)"
    assert depots.services == "Collecte des déchets"
    assert depots.resource_persons == "Communauté urbaine"
    assert depots.obstacles == "Marché en cours de renouvellement"
    assert depots.remedies == "Clause de délai dans le prochain marché"
    assert entries[0].responsible == "Chef du service propreté"


def test_read_english_comma_grid():
    entries = read_audit_csv(NANTES_EN)
    assert [(e.task, e.commitment, e.respected, e.comment) for e in entries] == [
        (
            "securite.guide",
            Answer.OUI,
            Answer.PARTIELLEMENT,
            "Guide drafted; handed out to 40 % of shops, not yet all",
        ),
        ("securite.mediation", Answer.NON, Answer.NON, ""),
    ]


def test_a_bad_answer_names_the_line_and_the_column():
    with pytest.raises(ImportFailure) as info:
        read_audit_csv(BAD)
    err = info.value
    assert (err.row, err.field) == ("line 3", "respect")
    assert "PEUT-ÊTRE" in str(err)
    assert str(err).startswith(f"{BAD}, line 3, field 'respect':")


def test_missing_key_columns_and_empty_keys_are_refused(tmp_path):
    no_task = tmp_path / "no_task.csv"
    no_task.write_text("quartier;annee;engagement\nDK;2008;OUI\n", encoding="utf-8")
    with pytest.raises(ImportFailure, match="missing columns: task"):
        read_audit_csv(no_task)
    blank_year = tmp_path / "blank_year.csv"
    blank_year.write_text(
        "quartier;annee;tache;engagement\nDK;2008;proprete.graffiti;OUI\nDK;;proprete.depots;NON\n"
    )
    with pytest.raises(ImportFailure, match=r"line 3, field 'annee': empty"):
        read_audit_csv(blank_year)
    bad_year = tmp_path / "bad_year.csv"
    bad_year.write_text("quarter,year,task\nDK,2008a,proprete.graffiti\n")
    with pytest.raises(ImportFailure, match=r"line 2, field 'year': '2008a' is not a year"):
        read_audit_csv(bad_year)


# ---------------------------------------------------------------------------------------------
# Audit: the grid in the store
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def quarters(engine: Engine) -> Engine:
    importing.import_layer(
        engine, FIX / "quarters.geojson", as_="quarters", code_field="code", name_field="nom"
    )
    return engine


def rows_stored(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(AuditEntryRow.__table__)).scalar_one()


def grid(engine: Engine, **kw) -> dict[tuple[str, int, str], tuple]:
    with engine.connect() as conn:
        g = current_grid(conn, **kw)
    return {
        (r["quarter"], int(r["year"]), r["task"]): (
            None if pd.isna(r["commitment"]) else r["commitment"],
            None if pd.isna(r["respected"]) else r["respected"],
            r["comment"],
        )
        for r in g.to_dict("records")
    }


def test_import_gives_the_current_grid_and_reimport_is_a_no_op(quarters):
    with quarters.begin() as conn:
        assert record(conn, read_audit_csv(DUNKERQUE), recorded_by="auditeur") == {"added": 5, "unchanged": 0}
        assert record(conn, read_audit_csv(NANTES_EN)) == {"added": 2, "unchanged": 0}
    g = grid(quarters)
    assert len(g) == 7
    assert g[("DK", 2008, "proprete.depots")] == ("NON", "NON", "NON (marché en cours)")
    assert g[("DK", 2008, "proprete.participation")] == ("NON", None, "")
    assert g[("NN", 2008, "securite.guide")][:2] == ("OUI", "PARTIELLEMENT")
    with quarters.connect() as conn:
        full = current_grid(conn, quarter="DK")
    assert set(full["quarter_name"]) == {"Dunkerque – vieux quartiers"}
    assert full.set_index("task").loc["proprete.graffiti", "task_label"] == (
        "Nettoyage des façades et enlèvement des graffitis"
    )
    # the same files again: nothing new, not even for the unanswered question
    with quarters.begin() as conn:
        assert record(conn, read_audit_csv(DUNKERQUE)) == {"added": 0, "unchanged": 5}
        assert record(conn, read_audit_csv(NANTES_EN)) == {"added": 0, "unchanged": 2}
    assert rows_stored(quarters) == 7


def test_a_changed_answer_adds_history_and_becomes_current(quarters, tmp_path):
    with quarters.begin() as conn:
        record(conn, read_audit_csv(DUNKERQUE))
    changed = tmp_path / "dk-2008-revised.csv"
    changed.write_bytes(
        "quartier;annee;tache;engagement;respect;commentaire;services;responsable\r\n"
        "DK;2008;proprete.depots;OUI;PARTIELLEMENT;marché attribué;Collecte des déchets;\r\n"
        "DK;2008;proprete.friches;OUI;OUI;;;\r\n".encode("cp1252")
    )
    with quarters.begin() as conn:
        assert record(conn, read_audit_csv(changed), recorded_by="élu") == {"added": 1, "unchanged": 1}
    g = grid(quarters)
    assert g[("DK", 2008, "proprete.depots")] == ("OUI", "PARTIELLEMENT", "marché attribué")
    assert g[("DK", 2008, "proprete.friches")] == ("OUI", "OUI", "")
    with quarters.connect() as conn:
        h = history(conn, quarter="DK")
    depots = h[h["task_code"] == "proprete.depots"]
    assert list(depots["respected"]) == ["NON", "PARTIELLEMENT"]  # both kept, oldest first
    assert list(depots["comment"]) == ["NON (marché en cours)", "marché attribué"]
    assert [None if pd.isna(v) else v for v in depots["recorded_by"]] == [None, "élu"]
    assert len(h) == 6
    # another year is another grid
    assert grid(quarters, year=2009) == {}


def test_a_bad_file_stores_nothing(quarters):
    with pytest.raises(ImportFailure), quarters.begin() as conn:
        record(conn, read_audit_csv(BAD))
    assert rows_stored(quarters) == 0


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (AuditEntry("XX", 2008, "proprete.graffiti", Answer.OUI, Answer.OUI), "unknown quarter code 'XX'"),
        (AuditEntry("DK", 2008, "proprete.bogus", Answer.OUI, Answer.OUI), "unknown standard task code"),
    ],
)
def test_unknown_quarter_or_task_is_refused_and_nothing_is_stored(quarters, entry, message):
    good = AuditEntry("DK", 2008, "proprete.graffiti", Answer.OUI, Answer.NON)
    with pytest.raises(LookupError, match=message), quarters.begin() as conn:
        record(conn, [good, entry])
    assert rows_stored(quarters) == 0


def test_cli_refuses_unknown_quarters(quarters, db_url, tmp_path):
    unknown = tmp_path / "unknown.csv"
    unknown.write_text(
        "quarter;year;task;commitment\nNN;2008;proprete.graffiti;OUI\nZZ;2008;proprete.graffiti;NON\n"
    )
    result = CliRunner().invoke(cli, ["--db", db_url, "audit", "import", str(unknown)])
    assert result.exit_code == 1
    assert "unknown quarter code 'ZZ'" in result.output and "Nothing was stored." in result.output
    assert rows_stored(quarters) == 0
    bad = CliRunner().invoke(cli, ["--db", db_url, "audit", "import", str(BAD)])
    assert bad.exit_code == 1 and "line 3, field 'respect'" in bad.output


def test_export_then_import_changes_nothing(quarters, db_url, tmp_path):
    runner = CliRunner()
    for f, n in ((DUNKERQUE, 5), (NANTES_EN, 2)):
        result = runner.invoke(cli, ["--db", db_url, "audit", "import", str(f), "--by", "auditeur"])
        assert result.exit_code == 0, result.output
        assert f"{f.name}: {n} answers read, {n} recorded, 0 unchanged" in result.output
    before = grid(quarters)
    stored = rows_stored(quarters)
    for lang in ("fr", "en"):
        out = tmp_path / f"grid-{lang}.csv"
        result = runner.invoke(cli, ["--db", db_url, "audit", "export", "--lang", lang, "-o", str(out)])
        assert result.exit_code == 0, result.output
        raw = out.read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf")  # a BOM for Excel
        text = raw.decode("utf-8-sig")
        header = next(csv.reader(io.StringIO(text), delimiter=";"))
        assert header[:5] == (
            ["quartier", "annee", "tache", "engagement", "respect"]
            if lang == "fr"
            else ["quarter", "year", "task", "commitment", "respected"]
        )
        result = runner.invoke(cli, ["--db", db_url, "audit", "import", str(out)])
        assert result.exit_code == 0, result.output
        assert "7 answers read, 0 recorded, 7 unchanged" in result.output
    assert grid(quarters) == before
    assert rows_stored(quarters) == stored
    with quarters.connect() as conn:
        text = audit_csv_text(current_grid(conn, year=2008))
    assert "DK;2008;proprete.depots;NON;NON;NON (marché en cours);Collecte des déchets" in text


# ---------------------------------------------------------------------------------------------
# Follow-ups of requesters (pure)
# ---------------------------------------------------------------------------------------------


def done(rows: list[tuple[int, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": pd.Series([r[0] for r in rows], dtype="int64"),
            "step": pd.Series([r[1] for r in rows], dtype=object),
            "done_at": pd.Series([local(r[2]) for r in rows], dtype="datetime64[us, UTC]"),
        }
    )


FOLLOW_ROWS = [
    # id 1: 31 January: 15 days -> 15 February, a month -> 28 February, two months -> 31 March
    {"reported_at": "2015-01-31 10:00", "resolved_at": "2015-02-02 10:00"},
    # id 2: 1 March 10:00 (UTC+1): a month later is 1 April 10:00 local (UTC+2)
    {"reported_at": "2015-03-01 10:00"},
    # id 3: a duplicate, id 4: cancelled: no follow-up
    {"reported_at": "2015-03-01 10:00", "status": "duplicate"},
    {"reported_at": "2015-03-01 10:00", "status": "cancelled"},
    # id 5: reported after as_of
    {"reported_at": "2015-04-02 10:00"},
]
AS_OF = local("2015-03-20 12:00")


def test_followup_steps_and_states():
    recs = records(FOLLOW_ROWS)
    contacts = done(
        [
            (1, "contact_15d", "2015-02-15 10:00"),  # exactly at the due date: done
            (1, "contact_1m", "2015-03-02 09:00"),  # after 28 February: done late
            (2, "contact_15d", "2015-03-10 09:00"),  # on time
            (2, "contact_1m", "2015-03-25 09:00"),  # recorded after as_of: not yet done
            (3, "contact_15d", "2015-03-10 09:00"),  # a duplicate's contact is ignored
        ]
    )
    out = followups(recs, contacts, AS_OF, PARIS)
    got = {
        (r["id"], r["step"]): (f"{r['due_at'].tz_convert(PARIS):%Y-%m-%d %H:%M}", r["state"], r["due_soon"])
        for r in out.to_dict("records")
    }
    assert got == {
        (1, "contact_15d"): ("2015-02-15 10:00", "done", False),
        (1, "contact_1m"): ("2015-02-28 10:00", "done_late", False),
        (1, "validation_2m"): ("2015-03-31 10:00", "due", False),  # 11 days ahead: not soon
        (2, "contact_15d"): ("2015-03-16 10:00", "done", False),
        (2, "contact_1m"): ("2015-04-01 10:00", "due", False),
        (2, "validation_2m"): ("2015-05-01 10:00", "due", False),
    }
    row = out[(out["id"] == 2) & (out["step"] == "contact_1m")].iloc[0]
    assert pd.isna(row["done_at"])
    # calendar months on the local clock, across the DST change: 31 days less one hour
    assert row["due_at"] - recs.loc[1, "reported_at"] == pd.Timedelta(days=31) - pd.Timedelta(hours=1)
    # sorted by due date
    assert list(out["due_at"]) == sorted(out["due_at"])


def test_followup_missed_and_due_soon():
    recs = records(FOLLOW_ROWS)
    later = followups(recs, done([]), local("2015-03-26 12:00"), PARIS)
    states = {(r["id"], r["step"]): (r["state"], r["due_soon"]) for r in later.to_dict("records")}
    assert states[(1, "contact_15d")] == ("missed", False)
    assert states[(1, "contact_1m")] == ("missed", False)
    assert states[(1, "validation_2m")] == ("due", True)  # 31 March: within 7 days
    assert states[(2, "contact_15d")] == ("missed", False)
    assert states[(2, "contact_1m")] == ("due", True)  # 1 April
    assert states[(2, "validation_2m")] == ("due", False)
    # the due instant itself is not yet missed
    at_due = followups(recs, done([]), local("2015-03-16 10:00"), PARIS)
    assert at_due.set_index(["id", "step"]).loc[(2, "contact_15d"), "state"] == "due"
    assert set(later["step"]) == set(STEP_CODES)
    assert set(later["id"]) == {1, 2}


# ---------------------------------------------------------------------------------------------
# Follow-ups in the store and on the command line
# ---------------------------------------------------------------------------------------------

BOSTON = "America/New_York"


@pytest.fixture
def requests_stored(engine: Engine, tmp_path: Path) -> Engine:
    importing.prepare_store(engine)
    with engine.begin() as conn:
        set_setting(conn, "timezone", BOSTON)
    report = importing.import_interventions(
        engine, FIX / "requests.csv", FIX / "requests.toml", rejects_path=tmp_path / "rej.csv"
    )
    assert report.inserted == 14
    return engine


def test_record_followups_in_the_store(requests_stored):
    eng = requests_stored
    with eng.begin() as conn:
        record_followup(
            conn, "G1", "contact_15d", pd.Timestamp("2015-06-20 10:00", tz=BOSTON).to_pydatetime()
        )
        # a second contact for the step is refused unless it says it corrects the first
        with pytest.raises(
            FollowupRefused, match="already has a contact_15d contact at 2015-06-20 14:00 UTC"
        ):
            record_followup(
                conn, "G1", "contact_15d", pd.Timestamp("2015-06-15 10:00", tz=BOSTON).to_pydatetime()
            )
        record_followup(
            conn,
            "G1",
            "contact_15d",
            pd.Timestamp("2015-06-15 10:00", tz=BOSTON).to_pydatetime(),
            replace=True,
        )
        with pytest.raises(LookupError, match="unknown follow-up step"):
            record_followup(conn, "G1", "contact_3d", pd.Timestamp("2015-06-15", tz=BOSTON).to_pydatetime())
        with pytest.raises(LookupError, match="no request with source id 'G99'"):
            record_followup(conn, "G99", "contact_15d", pd.Timestamp("2015-06-15", tz=BOSTON).to_pydatetime())
    with eng.connect() as conn:
        d = load_done(conn)
    assert len(d) == 1
    assert d.iloc[0]["step"] == "contact_15d"
    assert d.iloc[0]["done_at"] == pd.Timestamp("2015-06-15 14:00", tz="UTC")


def geova(db_url: str, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--db", db_url, *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_cli_followups_record_then_list(requests_stored, db_url):
    # G1 reported 1 June 08:00 (due 16 June 08:00), G2 2 June 09:00 (due 17 June 09:00)
    out = geova(
        db_url, "followups", "record", "G1", "contact_15d", "--at", "2015-06-15T10:00", "--note", "tél."
    )
    assert out.startswith("G1: contact_15d recorded at 2015-06-15 10:00")
    geova(db_url, "followups", "record", "G2", "contact_15d", "--at", "2015-06-18T10:00")
    as_of = ["--as-of", "2015-06-20T12:00"]
    text = geova(db_url, "followups", *as_of, "--state", "done", "--format", "csv")
    assert text.startswith("\ufeff")  # the BOM French Excel needs, as in the web's exports
    rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff")), delimiter=";"))
    assert [(r["source_id"], r["step"], r["state"]) for r in rows] == [("G1", "contact_15d", "done")]
    assert (rows[0]["due_at"], rows[0]["done_at"]) == ("16/06/2015 08:00:00", "15/06/2015 10:00:00")
    late = list(
        csv.DictReader(
            io.StringIO(geova(db_url, "followups", *as_of, "--state", "done_late", "--format", "csv")),
            delimiter=";",
        )
    )
    assert [(r["source_id"], r["step"]) for r in late] == [("G2", "contact_15d")]
    # the summary line counts every state; duplicates (G8) and cancelled (G12) have no follow-up
    table = geova(db_url, "followups", *as_of)
    first = table.splitlines()[0]
    assert first.startswith("Follow-ups: ") and "done 1" in first and "done_late 1" in first
    listed = list(
        csv.DictReader(
            io.StringIO(
                geova(db_url, "followups", *as_of, "--state", "due,missed,done,done_late", "--format", "csv")
            ),
            delimiter=";",
        )
    )
    ids = {r["source_id"] for r in listed}
    assert ids == {"G1", "G2", "G3", "G4", "G5", "G6", "G7", "G9", "G10", "G11", "G13"}  # G14: November
    assert len(listed) == 3 * len(ids)
    missed = {(r["source_id"], r["step"]) for r in listed if r["state"] == "missed"}
    # reported on 1 June (G7, G10) or 31 May 23:30 (G4), and nobody called them back
    assert missed == {
        ("G4", "contact_15d"),
        ("G7", "contact_15d"),
        ("G10", "contact_15d"),
        *(("G13", step) for step in STEP_CODES),  # reported in March
    }
    bad = CliRunner().invoke(cli, ["--db", db_url, "followups", "record", "G99", "contact_15d"])
    assert bad.exit_code == 2 and "G99" in bad.output


def events_of(engine: Engine, source_id: str) -> list[tuple[str, dict, str | None]]:
    from geova.store.schema import Intervention, InterventionEvent

    ev, iv = InterventionEvent.__table__, Intervention.__table__
    with engine.connect() as conn:
        rows = conn.execute(
            select(ev.c.kind, ev.c.detail, ev.c.note)
            .join(iv, iv.c.id == ev.c.intervention_id)
            .where(iv.c.source_id == source_id)
            .order_by(ev.c.id)
        ).all()
    return [(r.kind, r.detail, r.note) for r in rows]


def run(db_url: str, *args: str):
    return CliRunner().invoke(cli, ["--db", db_url, *args])


def test_cli_followup_before_the_report_is_refused_and_stores_nothing(requests_stored, db_url):
    # G1 was reported on 1 June 2015 at 08:00 in Boston: a contact at 07:59 that day cannot be
    bad = run(db_url, "followups", "record", "G1", "contact_15d", "--at", "2015-06-01T07:59")
    assert bad.exit_code == 2
    assert "comes before the request 'G1' was reported (2015-06-01 12:00 UTC)" in bad.output
    assert "Traceback" not in bad.output
    future = run(db_url, "followups", "record", "G1", "contact_15d", "--at", "2999-01-01T10:00")
    assert future.exit_code == 2 and "in the future" in future.output
    not_a_date = run(db_url, "followups", "record", "G1", "contact_15d", "--at", "le 15 juin")
    assert not_a_date.exit_code == 2 and "'le 15 juin' is not a date and time" in not_a_date.output
    with requests_stored.connect() as conn:
        assert len(load_done(conn)) == 0
    assert events_of(requests_stored, "G1") == []
    # the first minute of the report is fine: shown as done on time
    geova(db_url, "followups", "record", "G1", "contact_15d", "--at", "2015-06-01T08:00")
    text = geova(db_url, "followups", "--as-of", "2015-06-20T12:00", "--state", "done", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff")), delimiter=";"))
    assert [(r["source_id"], r["done_at"]) for r in rows] == [("G1", "01/06/2015 08:00:00")]


def test_cli_followup_replace_and_undo_leave_a_trace(requests_stored, db_url):
    first = geova(
        db_url, "followups", "record", "G2", "contact_15d", "--at", "2015-06-10T09:30", "--by", "agent1"
    )
    assert first.startswith("G2: contact_15d recorded at 2015-06-10 09:30 EDT")
    again = run(db_url, "followups", "record", "G2", "contact_15d", "--at", "2015-06-12T09:30")
    assert again.exit_code == 2
    assert "already has a contact_15d contact at 2015-06-10 13:30 UTC" in again.output
    with requests_stored.connect() as conn:  # unchanged
        assert list(load_done(conn)["done_at"]) == [pd.Timestamp("2015-06-10 13:30", tz="UTC")]
    fixed = geova(
        db_url,
        "followups",
        "record",
        "G2",
        "contact_15d",
        "--at",
        "2015-06-12T09:30",
        "--replace",
        "--note",
        "date corrigée",
    )
    assert fixed.startswith("G2: contact_15d corrected at 2015-06-12 09:30 EDT")
    with requests_stored.connect() as conn:
        assert list(load_done(conn)["done_at"]) == [pd.Timestamp("2015-06-12 13:30", tz="UTC")]
    undone = geova(db_url, "followups", "undo", "G2", "contact_15d", "--by", "agent2")
    assert undone.strip() == "G2: contact_15d contact of 2015-06-12 09:30 EDT undone"
    with requests_stored.connect() as conn:
        assert len(load_done(conn)) == 0
    nothing = run(db_url, "followups", "undo", "G2", "contact_15d")
    assert nothing.exit_code == 2 and "'G2' has no contact_15d contact to undo" in nothing.output
    trace = events_of(requests_stored, "G2")
    assert [k for k, _, _ in trace] == ["followup", "followup", "followup_undo"]
    assert [n for _, _, n in trace] == [None, "date corrigée", None]
    assert pd.Timestamp(trace[0][1]["done_at"]) == pd.Timestamp("2015-06-10 13:30", tz="UTC")
    assert pd.Timestamp(trace[1][1]["replaced"]["done_at"]) == pd.Timestamp("2015-06-10 13:30", tz="UTC")
    assert pd.Timestamp(trace[1][1]["done_at"]) == pd.Timestamp("2015-06-12 13:30", tz="UTC")
    assert trace[2][1]["step"] == "contact_15d"
    assert pd.Timestamp(trace[2][1]["undone"]["done_at"]) == pd.Timestamp("2015-06-12 13:30", tz="UTC")
    assert "note" not in trace[2][1]["undone"]  # notes stay in the event's note, hidden from the public
    # after the undo, the step may be recorded again without --replace
    geova(db_url, "followups", "record", "G2", "contact_15d", "--at", "2015-06-11T09:30")


def test_store_refuses_a_contact_before_the_report(requests_stored):
    with requests_stored.begin() as conn, pytest.raises(FollowupRefused, match="comes before"):
        record_followup(
            conn, "G4", "contact_15d", pd.Timestamp("2015-05-31 23:29", tz=BOSTON).to_pydatetime()
        )
    with requests_stored.begin() as conn, pytest.raises(LookupError, match="no contact_1m contact to undo"):
        undo_followup(conn, "G4", "contact_1m")


def test_cli_unknown_task_or_quarter_names_its_line(quarters, db_url, tmp_path):
    unknown = tmp_path / "unknown-task.csv"
    unknown.write_text(
        "quartier;annee;tache;engagement\n"
        "DK;2008;proprete.graffiti;OUI\n"
        "DK;2008;proprete.depots;NON\n"
        "DK;2008;proprete.bogus;OUI\n",
        encoding="utf-8",
    )
    result = run(db_url, "audit", "import", str(unknown))
    assert result.exit_code == 1
    assert f"{unknown}, line 4: unknown standard task code 'proprete.bogus'" in result.output
    quarter = tmp_path / "unknown-quarter.csv"
    quarter.write_text("quarter,year,task\nDK,2008,proprete.graffiti\nZZ,2008,proprete.graffiti\n")
    result = run(db_url, "audit", "import", str(quarter))
    assert result.exit_code == 1 and f"{quarter}, line 3: unknown quarter code 'ZZ'" in result.output
    assert rows_stored(quarters) == 0


def test_cli_audit_show_prints_the_quarters_by_tasks_grid(quarters, db_url):
    geova(db_url, "audit", "import", str(DUNKERQUE))
    geova(db_url, "audit", "import", str(NANTES_EN))
    out = geova(db_url, "audit", "show", "--year", "2008")
    lines = out.splitlines()
    header = next(line for line in lines if "proprete.graffiti" in line)
    tasks = header.split()
    # one column per task answered, in code order
    assert tasks == sorted(
        [
            "proprete.depots",
            "proprete.friches",
            "proprete.graffiti",
            "proprete.participation",
            "proprete.voirie",
            "securite.guide",
            "securite.mediation",
        ]
    )
    rows = {line.split()[0]: line.split()[1:] for line in lines[lines.index(header) + 2 :] if line.strip()}
    assert set(rows) == {"DK", "NN"}
    dk = dict(zip(tasks, rows["DK"], strict=False))
    assert dk["proprete.graffiti"] == "OUI/OUI"
    assert dk["proprete.voirie"] == "NON/PART"
    assert dk["proprete.participation"] == "NON/-"
    nn = dict(zip(tasks[-2:], rows["NN"], strict=True))  # NN answered only the two securite tasks
    assert nn == {"securite.guide": "OUI/PART", "securite.mediation": "NON/NON"}
    assert "2008" in lines


def test_cli_audit_export_to_stdout_has_the_bom(quarters, db_url):
    geova(db_url, "audit", "import", str(DUNKERQUE))
    out = geova(db_url, "audit", "export")
    assert out.startswith("\ufeffquartier;annee;tache")
