"""Requesters (issue 10, point 5): the contact left with a request is kept apart, read only by the
service and admin roles, never published, erased on request and after the retention period; the
resolution notice and the Dunkerque follow-ups are e-mails sent through a real SMTP server
(aiosmtpd, tests/smtp.py) whose received messages the tests read.

Same store as tests/test_web_correspondent.py (Boston's neighbourhoods, the OVA referential, the
2015 "trash on vacant lot" requests; the territory's clock is America/New_York). Expected subjects,
times and due dates are written out or computed here with zoneinfo, not by geova's code.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select, update

from geova.core import requesters as contacts
from geova.mailing import send_pending
from geova.settings import Settings
from geova.store import apikeys, edits, outbox, requesters
from geova.store.db import write
from geova.store.schema import FollowUp, InterventionEvent, MailOutbox, Requester
from geova.store.status import set_setting
from geova.web import create_app
from tests.smtp import free_port, running_smtp, smtp_server  # noqa: F401 (a fixture)
from tests.test_web_correspondent import DORCHESTER, LAT, LON, build_store, csrf, fast_passwords, login
from tests.webapp import run_cli

R = Requester.__table__
MO = MailOutbox.__table__
EV = InterventionEvent.__table__
F = FollowUp.__table__
TZ = ZoneInfo("America/New_York")
NAME = "Zéphyrine Quillebœuf"
EMAIL = "zephyrine.q@example.org"
PHONE = "+33 6 12 34 56 78"


@pytest.fixture(autouse=True)
def _fast_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_passwords(monkeypatch)


def app_on(db_url: str, engine: Engine, tmp_path: Path, **config: Any) -> Iterator[Any]:
    build_store(engine, tmp_path / "rejects.csv")
    flask_app = create_app({"GEOVA_DATABASE_URL": db_url, "TESTING": True, "SECRET_KEY": "test", **config})
    yield flask_app
    app_engine = flask_app.extensions.get("geova_engine")
    if app_engine is not None:
        app_engine.dispose()


@pytest.fixture
def app(db_url: str, engine: Engine, tmp_path: Path) -> Iterator[Any]:
    yield from app_on(db_url, engine, tmp_path)


@pytest.fixture
def mail_app(db_url: str, engine: Engine, tmp_path: Path, smtp_server: Any) -> Iterator[Any]:  # noqa: F811
    yield from app_on(db_url, engine, tmp_path, **smtp_server.settings())


def report_on_form(client: Any, **requester: str) -> Any:
    data = {
        "category": "friche",
        "description": "Mattress and bags dumped on the lot",
        "address": "31 Selden St",
        "latitude": str(LAT),
        "longitude": str(LON),
        "csrf_token": csrf(client),
        **requester,
    }
    return client.post(f"/quarters/{DORCHESTER}/report", data=data)


def newest(engine: Engine) -> int | None:
    """The request of the latest event (a report made in geova), None before any."""
    with engine.connect() as conn:
        return conn.execute(select(EV.c.intervention_id).order_by(EV.c.id.desc()).limit(1)).scalar()


def contact_row(engine: Engine, intervention_id: int) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(R).where(R.c.intervention_id == intervention_id)).first()


def mails(engine: Engine, intervention_id: int | None = None) -> list[Any]:
    query = select(MO).order_by(MO.c.id)
    if intervention_id is not None:
        query = query.where(MO.c.intervention_id == intervention_id)
    with engine.connect() as conn:
        return conn.execute(query).all()


def settled(engine: Engine, intervention_id: int, timeout: float = 10.0) -> list[Any]:
    """The request's mails once none is pending (the web app sends in a background thread)."""
    deadline = time.monotonic() + timeout
    while any(m.state == "pending" for m in mails(engine, intervention_id)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return mails(engine, intervention_id)


def source_id(engine: Engine, intervention_id: int) -> str:
    with engine.connect() as conn:
        return str(
            conn.execute(select(edits.IV.c.source_id).where(edits.IV.c.id == intervention_id)).scalar_one()
        )


def key(engine: Engine, role: str) -> str:
    with engine.begin() as conn:
        return apikeys.add_key(conn, f"{role}-mail", role)[1]


def store_request(engine: Engine, reported: datetime, email: str | None = EMAIL, lang: str = "fr") -> int:
    with write(engine) as conn:
        return edits.report_intervention(
            conn,
            "friche",
            "Bags",
            "31 Selden St",
            LON,
            LAT,
            "corr",
            reported,
            requester=contacts.contact(NAME, email, PHONE, lang),
        )


# -- the contact's checks (every channel uses them) -------------------------------------------


def test_contacts_are_checked_and_tidied():
    c = contacts.contact("  Jean   Dupont ", " jean.dupont@Example.ORG ", "01 23 45 67 89", "EN")
    assert (c.name, c.email, c.phone, c.lang) == (
        "Jean Dupont",
        "jean.dupont@example.org",
        "01 23 45 67 89",
        "en",
    )
    assert contacts.contact("", "", "").empty
    for bad, field in (
        (("x", "not-an-address", None), "email"),
        (("x", "a@b", None), "email"),
        (("x", None, "call me maybe"), "phone"),
        (("x" * 201, None, None), "name"),
    ):
        with pytest.raises(contacts.ContactRefused) as refused:
            contacts.contact(*bad)
        assert refused.value.field == field


# -- capture, and a bad e-mail refused on each channel -----------------------------------------


def test_each_channel_keeps_the_contact_apart(app, engine):
    corr = login(app, "corr")
    answer = report_on_form(
        corr, requester_name=NAME, requester_email=EMAIL, requester_phone=PHONE, requester_lang="en"
    )
    assert answer.status_code == 302
    web = contact_row(engine, int(newest(engine) or 0))
    assert (web.name, web.email, web.phone, web.lang, web.erased_at) == (NAME, EMAIL, PHONE, "en", None)

    token = key(engine, "correspondent")
    api = app.test_client().post(
        "/api/v1/interventions",
        json={
            "category": "friche",
            "description": "Mattress",
            "lat": LAT,
            "lon": LON,
            "requester": {"name": "Ann Lee", "email": "ann@example.com", "lang": "en"},
        },
        headers={"Authorization": f"Bearer {token}"},
    )
    assert api.status_code == 201, api.get_json()
    row = contact_row(engine, api.get_json()["id"])
    assert (row.name, row.email, row.phone, row.lang) == ("Ann Lee", "ann@example.com", None, "en")
    assert "ann@example.com" not in api.get_data(as_text=True)  # the answer is the request, not its requester

    o311 = app.test_client().post(
        "/open311/v2/requests.json",
        data={
            "service_code": "corbeille",
            "lat": str(LAT),
            "long": str(LON),
            "api_key": token,
            "email": "bob@example.net",
            "first_name": "Bob",
            "last_name": "Martin",
            "phone": "555-0100",
        },
    )
    assert o311.status_code == 201, o311.get_data(as_text=True)
    row = contact_row(engine, int(o311.get_json()[0]["service_request_id"]))
    assert (row.name, row.email, row.phone) == ("Bob Martin", "bob@example.net", "555-0100")
    # a report without any contact leaves no requester row
    assert report_on_form(corr).status_code == 302
    assert contact_row(engine, int(newest(engine) or 0)) is None


def test_a_bad_e_mail_is_refused_on_each_channel_and_nothing_is_stored(app, engine):
    before = newest(engine)
    corr = login(app, "corr")
    page = report_on_form(corr, requester_email="not an address")
    assert page.status_code == 400
    assert "Requester&#39;s e-mail: " in page.get_data(as_text=True)
    token = key(engine, "correspondent")
    api = app.test_client().post(
        "/api/v1/interventions",
        json={
            "category": "friche",
            "description": "M",
            "lat": LAT,
            "lon": LON,
            "requester": {"email": "a@@b"},
        },
        headers={"Authorization": f"Bearer {token}"},
    )
    assert api.status_code == 422
    problem = api.get_json()
    assert problem["param"] == "requester/email", problem
    assert problem["errors"][0]["pointer"] == "#/requester/email" and "a@@b" in problem["detail"]
    o311 = app.test_client().post(
        "/open311/v2/requests.json",
        data={
            "service_code": "corbeille",
            "lat": str(LAT),
            "long": str(LON),
            "api_key": token,
            "email": "nope",
        },
    )
    assert o311.status_code == 400
    assert o311.get_json()[0]["description"].startswith("email")
    assert newest(engine) == before
    with engine.connect() as conn:
        assert conn.execute(select(R.c.id)).first() is None


# -- the resolution notice ---------------------------------------------------------------------


def test_resolving_a_request_sends_the_requester_the_notice(mail_app, engine, smtp_server):  # noqa: F811
    corr = login(mail_app, "corr")
    report_on_form(corr, requester_name=NAME, requester_email=EMAIL, requester_lang="en")
    new = int(newest(engine) or 0)
    sid = source_id(engine, new)
    agent = login(mail_app, "agent")
    note = "Lot cleaned <b>& fenced</b>"
    answer = agent.post(
        f"/worklist/{new}/status",
        data={"status": "resolved", "note": note, "public": "y", "csrf_token": csrf(agent)},
    )
    assert answer.status_code == 302
    (got,) = smtp_server.wait_for(1)
    assert got.rcpt_tos == [EMAIL]
    assert got.message["To"] == EMAIL
    assert got.message["Subject"] == f"Your request {sid} is resolved"
    body = got.body
    assert note in body  # plain text: not escaped
    assert "31 Selden St" in body and f"Hello {NAME}" in body
    with engine.connect() as conn:
        resolved_at = conn.execute(select(edits.IV.c.resolved_at).where(edits.IV.c.id == new)).scalar_one()
    local = resolved_at.astimezone(TZ)
    assert f"{local:%H:%M}" in body and str(local.year) in body
    assert "(Waste land or land awaiting works, 31 Selden St)" in body  # the referential's label
    # sent, then never again: reopened and resolved again, the notice is not repeated
    (mail,) = settled(engine, new)
    assert (mail.state, mail.attempts, mail.kind) == ("sent", 1, "resolved")
    agent.post(f"/worklist/{new}/status", data={"status": "in_progress", "csrf_token": csrf(agent)})
    agent.post(f"/worklist/{new}/status", data={"status": "resolved", "csrf_token": csrf(agent)})
    assert len(mails(engine, new)) == 1
    assert len(smtp_server.received) == 1


def test_the_notice_is_in_french_through_the_api(mail_app, engine, smtp_server):  # noqa: F811
    token, agent_key = key(engine, "correspondent"), key(engine, "service")
    api = mail_app.test_client().post(
        "/api/v1/interventions",
        json={
            "category": "friche",
            "description": "Matelas",
            "lat": LAT,
            "lon": LON,
            "address": "5 rue X",
            "requester": {"email": "paul@example.fr", "lang": "fr"},
        },
        headers={"Authorization": f"Bearer {token}"},
    )
    new = api.get_json()["id"]
    done = mail_app.test_client().post(
        f"/api/v1/interventions/{new}/resolve",
        json={"note": "Terrain nettoyé"},
        headers={"Authorization": f"Bearer {agent_key}"},
    )
    assert done.status_code == 200, done.get_json()
    (got,) = smtp_server.wait_for(1)
    assert got.rcpt_tos == ["paul@example.fr"]
    assert got.message["Subject"] == f"Votre demande {source_id(engine, new)} est résolue"
    assert "Terrain nettoyé" in got.body and "Bonjour," in got.body
    assert "(Friche ou terrain en attente de travaux, 5 rue X)" in got.body
    assert [m.state for m in settled(engine, new)] == ["sent"]


RESOLVING_PATHS = ("form_resolve", "form_status", "bulk", "api_resolve", "api_status", "open311_update")


@pytest.mark.parametrize("path", RESOLVING_PATHS)
def test_every_path_that_resolves_writes_the_notice(app, engine, path):
    """No SMTP server configured: the notice waits in the outbox, pending, and the page says so."""
    new = store_request(engine, datetime.now(UTC) - timedelta(hours=2))
    agent, agent_key = login(app, "agent"), key(engine, "service")
    bearer = {"Authorization": f"Bearer {agent_key}"}
    now_local = datetime.now(TZ).strftime("%Y-%m-%dT%H:%M")
    if path == "form_resolve":
        answer = agent.post(
            f"/worklist/{new}/resolve",
            data={"resolved_at": now_local, "note": "ok", "csrf_token": csrf(agent)},
        )
    elif path == "form_status":
        answer = agent.post(f"/worklist/{new}/status", data={"status": "resolved", "csrf_token": csrf(agent)})
    elif path == "bulk":
        answer = agent.post(
            "/worklist/bulk", data={"status": "resolved", "ids": [str(new)], "csrf_token": csrf(agent)}
        )
    elif path == "api_resolve":
        answer = app.test_client().post(f"/api/v1/interventions/{new}/resolve", json={}, headers=bearer)
    elif path == "api_status":
        answer = app.test_client().post(
            f"/api/v1/interventions/{new}/status", json={"status": "resolved"}, headers=bearer
        )
    else:
        answer = app.test_client().post(
            "/open311/v2/servicerequestupdates.json",
            data={
                "service_request_id": str(new),
                "status": "closed",
                "update_id": "u1",
                "description": "Fixed",
                "api_key": agent_key,
            },
        )
    assert answer.status_code in (200, 302), answer.get_data(as_text=True)
    with engine.connect() as conn:
        assert conn.execute(select(edits.IV.c.status).where(edits.IV.c.id == new)).scalar_one() == "resolved"
    (mail,) = mails(engine, new)
    assert (mail.kind, mail.state, mail.to_addr, mail.lang) == ("resolved", "pending", EMAIL, "fr")
    page = agent.get("/services/outbox").get_data(as_text=True)
    assert "No SMTP server is configured" in page and f'data-mail="{mail.id}"' in page


def test_a_failing_server_leaves_the_mail_pending_then_it_is_sent(engine, tmp_path):
    build_store(engine, tmp_path / "rejects.csv")
    new = store_request(engine, datetime.now(UTC) - timedelta(days=1), lang="en")
    with write(engine) as conn:
        edits.resolve(conn, new, datetime.now(UTC), "Cleaned", "agent")
    port = free_port()  # nobody listens there
    settings = Settings(smtp_host="127.0.0.1", smtp_port=port, smtp_user="geova", smtp_password="s3cret-pw")
    before = datetime.now(UTC)
    report = send_pending(engine, settings)
    (mail,) = mails(engine, new)
    assert report.retry == [mail.id] and not report.sent
    assert (mail.state, mail.attempts) == ("pending", 1)
    assert mail.next_attempt_at >= before + timedelta(seconds=59)  # the first retry: a minute later
    assert mail.last_error and "s3cret-pw" not in mail.last_error
    with running_smtp(port) as server:
        assert send_pending(engine, settings).sent == []  # not yet time
        with write(engine) as conn:
            conn.execute(update(MO).where(MO.c.id == mail.id).values(next_attempt_at=datetime.now(UTC)))
        assert send_pending(engine, Settings(smtp_host="127.0.0.1", smtp_port=port)).sent == [mail.id]
        (got,) = server.wait_for(1)
    assert got.rcpt_tos == [EMAIL] and "Cleaned" in got.body
    (mail,) = mails(engine, new)
    assert (mail.state, mail.attempts, mail.last_error) == ("sent", 2, None)
    assert mail.sent_at is not None


def test_a_mail_is_failed_after_the_last_attempt_and_can_be_retried(app, engine):
    new = store_request(engine, datetime.now(UTC) - timedelta(days=1))
    with write(engine) as conn:
        edits.resolve(conn, new, datetime.now(UTC), None, "agent")
    settings = Settings(smtp_host="127.0.0.1", smtp_port=free_port(), mail_max_attempts=1)
    assert len(send_pending(engine, settings).failed) == 1
    (mail,) = mails(engine, new)
    assert (mail.state, mail.attempts) == ("failed", 1)
    agent = login(app, "agent")
    page = agent.get("/services/outbox?state=failed").get_data(as_text=True)
    assert f'data-mail="{mail.id}"' in page and "Retry now" in page
    assert "Hello" not in page and "Bonjour" not in page  # no body on the page
    agent.post(f"/services/outbox/{mail.id}/retry", data={"csrf_token": csrf(agent)})
    (mail,) = mails(engine, new)
    assert mail.state == "pending"
    agent.environ_base["HTTP_ACCEPT_LANGUAGE"] = "fr"
    page = agent.get("/services/outbox").get_data(as_text=True)
    assert "Courriels sortants" in page and "en attente" in page and "Aucun serveur SMTP" in page
    assert login(app, "corr").get("/services/outbox").status_code == 403
    assert login(app, "elu").get("/services/outbox").status_code == 403
    assert agent.get("/services/outbox?page=0").status_code == 400


# -- follow-ups ---------------------------------------------------------------------------------


def test_follow_ups_are_written_when_due_and_once(engine, tmp_path, smtp_server):  # noqa: F811
    build_store(engine, tmp_path / "rejects.csv")
    reported = datetime(2026, 1, 20, 10, 0, tzinfo=UTC)  # 05:00 in Boston (EST)
    new = store_request(engine, reported)
    silent = store_request(engine, reported, email=None)  # no e-mail: no follow-up mail
    local = reported.astimezone(TZ)
    # on the territory's calendar: 15 days; one calendar month; two months, across the switch to
    # summer time on 8 March 2026 (05:00 EDT is 09:00 UTC)
    due_15 = (local + timedelta(days=15)).astimezone(UTC)
    due_1m = local.replace(month=2).astimezone(UTC)
    due_2m = local.replace(month=3).astimezone(UTC)
    assert due_2m == datetime(2026, 3, 20, 9, 0, tzinfo=UTC)

    def run(at: datetime) -> list[tuple[int, str]]:
        with write(engine) as conn:
            return outbox.enqueue_followups(conn, at)

    assert run(due_15 - timedelta(seconds=1)) == []
    assert run(due_15) == [(new, "contact_15d")]
    assert run(due_15 + timedelta(days=1)) == []  # not twice
    assert run(due_1m - timedelta(minutes=1)) == []
    assert run(due_1m) == [(new, "contact_1m")]
    # the territory's clock (as_of) is the default instant, as `geova mail followups` uses it
    with engine.begin() as conn:
        set_setting(conn, "as_of", (due_2m - timedelta(minutes=1)).isoformat())
    assert "0 follow-up mails written" in run_cli(str(engine.url), "mail", "followups").output
    with engine.begin() as conn:
        set_setting(conn, "as_of", due_2m.isoformat())
    out = run_cli(str(engine.url), "mail", "followups").output
    assert "1 follow-up mails written" in out and f"request {new}: validation_2m" in out
    assert [(m.intervention_id, m.kind) for m in mails(engine)] == [
        (new, "contact_15d"),
        (new, "contact_1m"),
        (new, "validation_2m"),
    ]
    assert not mails(engine, silent)
    # sent through SMTP; a sent follow-up records the step's contact
    settings = Settings(smtp_host=smtp_server.host, smtp_port=smtp_server.port)
    assert len(send_pending(engine, settings).sent) == 3
    got = smtp_server.wait_for(3)
    subjects = sorted(r.message["Subject"] for r in got)
    sid = source_id(engine, new)
    assert subjects == sorted(
        [
            f"Votre demande {sid} : point à 15 jours",
            f"Votre demande {sid} : point à un mois",
            f"Votre demande {sid} : le problème est-il réglé ?",
        ]
    )
    with engine.connect() as conn:
        steps = {r.step for r in conn.execute(select(F.c.step).where(F.c.intervention_id == new))}
    assert steps == {"contact_15d", "contact_1m", "validation_2m"}


def test_a_step_already_recorded_or_superseded_is_not_mailed(engine, tmp_path):
    build_store(engine, tmp_path / "rejects.csv")
    reported = datetime(2026, 1, 20, 10, 0, tzinfo=UTC)
    new = store_request(engine, reported)
    with write(engine) as conn:
        # 40 days later, both the 15-day and the 1-month steps are due: only the latest is mailed
        assert outbox.enqueue_followups(conn, reported + timedelta(days=40)) == [(new, "contact_1m")]
        sid = conn.execute(select(edits.IV.c.source_id).where(edits.IV.c.id == new)).scalar_one()
        from geova.store.followups import record_followup

        record_followup(conn, sid, "validation_2m", reported + timedelta(days=58), "phoned", "agent")
        assert outbox.enqueue_followups(conn, reported + timedelta(days=70)) == []


# -- erasure and retention ---------------------------------------------------------------------


def test_the_service_reads_and_erases_the_contact(app, engine):
    new = store_request(engine, datetime.now(UTC) - timedelta(days=1))
    with write(engine) as conn:
        conn.execute(update(R).where(R.c.intervention_id == new).values(name="<script>alert(1)</script>"))
        edits.resolve(conn, new, datetime.now(UTC), None, "agent")  # a pending notice
    agent = login(app, "agent")
    page = agent.get(f"/services/requests/{new}/requester").get_data(as_text=True)
    assert EMAIL in page and PHONE in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page
    for who in ("corr", "elu"):
        assert login(app, who).get(f"/services/requests/{new}/requester").status_code == 403
    assert app.test_client().get(f"/services/requests/{new}/requester").status_code == 302  # to the login
    assert agent.get("/services/requests/99999999999/requester").status_code == 404
    # the erase button needs the form's CSRF token
    csrf_app = create_app({"GEOVA_DATABASE_URL": str(engine.url), "SECRET_KEY": "test"})
    strict = login(csrf_app, "agent")
    assert strict.post(f"/services/requests/{new}/requester/erase").status_code in (400, 302)
    assert contact_row(engine, new).email == EMAIL
    csrf_app.extensions["geova_engine"].dispose()
    answer = agent.post(f"/services/requests/{new}/requester/erase", data={"csrf_token": csrf(agent)})
    assert answer.status_code == 302
    row = contact_row(engine, new)
    assert (row.name, row.email, row.phone) == (None, None, None) and row.erased_at is not None
    (mail,) = mails(engine, new)
    assert (mail.state, mail.to_addr, mail.body) == ("failed", "", "")
    with engine.connect() as conn:
        event = conn.execute(select(EV).where(EV.c.intervention_id == new).order_by(EV.c.id.desc())).first()
    assert (event.kind, event.username, event.note, event.detail["public"]) == (
        "contact_erased",
        "agent",
        None,
        False,
    )
    page = agent.get(f"/services/requests/{new}/requester").get_data(as_text=True)
    assert EMAIL not in page and "The contact was erased on" in page


def test_the_command_line_erases_and_purges(engine, tmp_path, monkeypatch):
    build_store(engine, tmp_path / "rejects.csv")
    url = str(engine.url.render_as_string(hide_password=False))
    ended, still_open, erased = (
        store_request(engine, datetime.now(UTC) - timedelta(days=3)) for _ in range(3)
    )
    with write(engine) as conn:
        edits.resolve(conn, ended, datetime.now(UTC) - timedelta(days=2), None, "agent")
    assert run_cli(url, "requesters", "erase", erased).output.strip() == f"request {erased}: contact erased"
    assert run_cli(url, "requesters", "erase", erased).exit_code == 1  # nothing left to erase
    monkeypatch.delenv("GEOVA_SMTP_HOST", raising=False)
    assert "no SMTP server configured" in run_cli(url, "mail", "send").output
    # the default retention (365 days) keeps a request ended just now
    assert run_cli(url, "requesters", "purge").output.startswith("0 contacts erased")
    # the environment's retention...
    monkeypatch.setenv("GEOVA_REQUESTER_RETENTION_DAYS", "0")
    with engine.begin() as conn:  # ... unless the territory's own setting says otherwise
        set_setting(conn, "requester_retention_days", "30")
    assert run_cli(url, "requesters", "purge").output.startswith("0 contacts erased")
    with engine.begin() as conn:
        set_setting(conn, "requester_retention_days", "0")
    assert run_cli(url, "requesters", "purge", "--dry-run").output.startswith("1 contacts would be erased")
    assert contact_row(engine, ended).email == EMAIL
    assert run_cli(url, "requesters", "purge").output.startswith("1 contacts erased")
    assert contact_row(engine, ended).erased_at is not None
    assert contact_row(engine, still_open).email == EMAIL  # an open request keeps its contact
    with engine.connect() as conn:
        assert requesters.purgeable(conn, datetime.now(UTC)) == []


# -- privacy ------------------------------------------------------------------------------------


def test_the_contact_is_in_no_public_page_feed_api_open311_or_export(app, engine):
    with engine.begin() as conn:
        set_setting(conn, "publish_requests", "true")
    new = store_request(engine, datetime.now(UTC) - timedelta(days=1))
    with write(engine) as conn:
        edits.resolve(conn, new, datetime.now(UTC), "done", "agent", public=True)
    official_key = key(engine, "official")
    sid = source_id(engine, new)
    urls = [
        "/",
        "/results",
        "/quarters",
        f"/quarters/{DORCHESTER}",
        "/geo/interventions.geojson",
        f"/geo/interventions/{new}.json",
        "/api/v1/interventions",
        f"/api/v1/interventions/{new}",
        "/open311/v2/requests.json",
        "/open311/v2/requests.xml",
        f"/open311/v2/requests/{new}.json",
        "/open311/v2/servicerequestupdates.json",
        "/ogc/collections/interventions/items",
        f"/ogc/collections/interventions/items/{new}",
        "/exports/interventions.csv",
        "/exports/interventions.geojson",
        "/worklist?show=open",
        "/worklist.csv",
        "/worklist.geojson",
        "/compare",
        "/reports",
        "/indicators",
    ]
    clients = {
        "anonymous": app.test_client(),
        "correspondent": login(app, "corr"),
        "official": login(app, "elu"),
        "service": login(app, "agent"),
        "admin": login(app, "admin"),
    }
    seen_request = False
    for who, client in clients.items():
        for url in urls:
            answer = client.get(url)
            text = answer.get_data(as_text=True)
            seen_request |= sid in text or f'"id": {new}' in text
            for secret in (EMAIL, NAME, PHONE, "Quillebœuf", "zephyrine"):
                assert secret not in text, f"{who} reads the requester's {secret!r} at {url}"
        keyed = app.test_client().get(f"/open311/v2/requests/{new}.json?api_key={official_key}")
        assert EMAIL not in keyed.get_data(as_text=True)
    assert seen_request  # the greps ran over pages that do show the request
