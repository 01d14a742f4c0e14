"""geova in production, as the README's Production section runs it: gunicorn started with the
Makefile's own `serve` command on a store built here, on both backends. It answers, keeps secret query
values out of its logs, reloads its workers on SIGHUP without refusing a request, and stops cleanly on
SIGTERM. Beside it, in process: the sizing defaults, the database pool the setting bounds, and the
forwarding headers believed only from trusted proxies."""

from __future__ import annotations

import importlib
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from sqlalchemy import Engine
from sqlalchemy.exc import TimeoutError as PoolTimeout

from geova.store.apikeys import add_key
from geova.store.db import make_engine
from geova.web import create_app
from tests.boston import load_quarters

REPO = Path(__file__).resolve().parents[1]
GRACEFUL = 10  # GEOVA_GRACEFUL_TIMEOUT of the server under test
BOOT = 25.0  # seconds two workers may take to import the app on a loaded machine


def serve_command() -> list[str]:
    """The command of the Makefile's `serve` target, with this virtualenv's bin folder for $(BIN)."""
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    recipe = re.search(r"^serve:.*\n\t(.+)$", makefile, flags=re.M)
    assert recipe, "the Makefile has no serve target"
    line = recipe.group(1).replace("$(BIN)", str(Path(sys.executable).parent))
    return shlex.split(line)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    stdout: Path
    stderr: Path

    def get(self, path: str, timeout: float = 10) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=timeout) as answer:
                return answer.status, answer.read().decode("utf-8")
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode("utf-8", "replace")

    def logs(self) -> str:
        return self.stdout.read_text(encoding="utf-8") + self.stderr.read_text(encoding="utf-8")

    def workers(self) -> set[int]:
        """The worker processes: the master's children, as `ps` lists them."""
        listed = subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(self.process.pid)], capture_output=True, text=True
        )
        return {int(pid) for pid in listed.stdout.split()}


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.2)


def answers(server: Server) -> bool:
    try:
        return server.get("/health")[0] == 200
    except OSError:  # not listening yet
        return False


@pytest.fixture
def server(db_url: str, engine: Engine, tmp_path: Path) -> Iterator[Server]:
    load_quarters(engine)
    port = free_port()
    env = {
        **os.environ,
        "GEOVA_DATABASE_URL": db_url,
        "GEOVA_INSTANCE_PATH": str(tmp_path / "instance"),
        "GEOVA_BIND": f"127.0.0.1:{port}",
        "GEOVA_WORKERS": "2",
        "GEOVA_THREADS": "2",
        "GEOVA_GRACEFUL_TIMEOUT": str(GRACEFUL),
    }
    out, err = tmp_path / "stdout.log", tmp_path / "stderr.log"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            serve_command(), cwd=REPO, env=env, stdout=stdout, stderr=stderr, start_new_session=True
        )
    running = Server(process, f"http://127.0.0.1:{port}", out, err)
    try:
        wait_for(lambda: answers(running) or process.poll() is not None, BOOT, "gunicorn to answer")
        assert process.poll() is None, f"gunicorn exited:\n{running.logs()}"
        yield running
    finally:
        if process.poll() is None:  # the test failed before stopping it: the master and its workers
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_gunicorn_serves_reloads_and_stops_without_leaking_keys(server, engine):
    # two workers answer the health check and the public overview of the store built above
    assert server.get("/health") == (200, '{"status":"ok"}\n')
    status, html = server.get("/?lang=en")
    assert status == 200 and ">Dorchester</a>" in html
    assert len(server.workers()) == 2
    # a published HTTP client that reads gzip (requests) gets the page compressed, and decoded the same
    packed = requests.get(server.url + "/?lang=en", headers={"Accept-Encoding": "gzip"}, timeout=10)
    assert packed.headers["Content-Encoding"] == "gzip"
    assert int(packed.headers["Content-Length"]) < len(packed.content)
    assert ">Dorchester</a>" in packed.text
    # each worker loaded its replica of the verdicts as it started, before any page asked for it
    wait_for(lambda: server.logs().count("verdict replica warmed") == 2, BOOT, "both workers' warm-up")

    # an API key in the query string works, and neither it nor a wrong one reaches the logs
    with engine.begin() as conn:
        _key, token = add_key(conn, "kiosk", "official")
    status, body = server.get(f"/api/v1/quarters?api_key={token}")
    assert status == 200 and "Dorchester" in body
    server.get("/health?api_key=secret-value")
    wait_for(lambda: "/health?api_key=***" in server.stdout.read_text(), 5, "the access log line")
    logs = server.logs()
    assert '"GET /api/v1/quarters?api_key=*** HTTP/1.1" 200' in logs  # the path is kept, masked
    assert token not in logs and "secret-value" not in logs

    # SIGHUP: new workers replace the old ones while every request is still answered
    before = server.workers()
    server.process.send_signal(signal.SIGHUP)
    statuses: list[int | str] = []

    def replaced() -> bool:
        try:
            # a request arriving while the new workers boot waits in the listening socket's queue
            # until one of them accepts it (as long as BOOT on a loaded machine): a patient client
            statuses.append(server.get("/health", timeout=BOOT + GRACEFUL)[0])
        except OSError as exc:  # a refused, dropped or unanswered connection is a failure
            statuses.append(f"{type(exc).__name__}: {exc}")
        now = server.workers()
        return len(now) == 2 and not now & before

    wait_for(replaced, BOOT + GRACEFUL, "new workers")
    assert statuses and set(statuses) == {200}, statuses
    assert server.get("/?lang=en")[0] == 200

    # SIGTERM: a graceful stop, within the graceful timeout, with exit status 0
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=GRACEFUL + 5) == 0
    assert time.monotonic() - started < GRACEFUL
    assert "Shutting down: Master" in server.stderr.read_text()


def test_creating_the_app_opens_no_database_connection(db_url):
    """What makes gunicorn's preload (forking an app built in the master) safe: no connection yet."""
    app = create_app({"GEOVA_DATABASE_URL": db_url})
    assert "geova_engine" not in app.extensions
    assert app.test_client().get("/health").status_code == 200
    assert "geova_engine" not in app.extensions  # the health check does not touch the store


def test_db_pool_size_bounds_the_connections_of_a_process(db_url, monkeypatch):
    monkeypatch.setenv("GEOVA_DB_POOL_SIZE", "3")
    engine = make_engine(db_url, pool_timeout=0.5)
    held = [engine.connect() for _ in range(3 + 2)]  # the pool and its small overflow
    with pytest.raises(PoolTimeout):
        engine.connect()
    held.pop().close()
    engine.connect().close()  # a connection given back serves the next request
    for conn in held:
        conn.close()
    engine.dispose()


def test_default_sizing_follows_the_machine(monkeypatch, tmp_path):
    for name in ("GEOVA_WORKERS", "GEOVA_THREADS", "GEOVA_DB_POOL_SIZE", "GEOVA_BIND"):
        monkeypatch.delenv(name, raising=False)
    import geova.gunicorn_conf as conf

    conf = importlib.reload(conf)
    cores = int(subprocess.run(["nproc"], capture_output=True, text=True, check=True).stdout)
    assert (conf.workers, conf.threads) == (cores, 4)
    assert conf.raw_env == ["GEOVA_DB_POOL_SIZE=4"]
    assert conf.bind == ["127.0.0.1:8000"] and conf.preload_app is False
    monkeypatch.setenv("GEOVA_WORKERS", "3")
    monkeypatch.setenv("GEOVA_THREADS", "8")
    monkeypatch.setenv("GEOVA_DB_POOL_SIZE", "6")
    conf = importlib.reload(conf)
    assert (conf.workers, conf.threads, conf.raw_env) == (3, 8, ["GEOVA_DB_POOL_SIZE=6"])


@pytest.mark.parametrize(("trusted", "scheme"), [("0", "http"), ("1", "https")])
def test_forwarded_proto_is_believed_only_from_trusted_proxies(monkeypatch, trusted, scheme):
    """Behind a proxy terminating HTTPS, the links the OGC API hands out keep https (and cookies get
    Secure); from an untrusted client the header changes nothing."""
    monkeypatch.setenv("GEOVA_TRUSTED_PROXIES", trusted)
    client = create_app({"TESTING": True}).test_client()
    answer = client.get("/ogc", headers={"X-Forwarded-Proto": "https"})
    assert answer.json["links"][0]["href"] == f"{scheme}://localhost/ogc"
    cookie = client.get("/?lang=fr", headers={"X-Forwarded-Proto": "https"}).headers["Set-Cookie"]
    assert ("; Secure" in cookie) is (scheme == "https")


@pytest.mark.parametrize(("trusted", "neighbour_locked"), [("0", True), ("1", False)])
def test_failed_logins_are_counted_per_forwarded_address_behind_a_trusted_proxy(
    db_url, monkeypatch, trusted, neighbour_locked
):
    monkeypatch.setenv("GEOVA_TRUSTED_PROXIES", trusted)
    app = create_app(
        {"GEOVA_DATABASE_URL": db_url, "WTF_CSRF_ENABLED": False, "GEOVA_LOGIN_LIMIT_ADDRESS": "1 per hour"}
    )

    def login_from(address: str) -> int:
        form = {"username": "nobody", "password": "wrong-password"}
        return app.test_client().post("/login", data=form, headers={"X-Forwarded-For": address}).status_code

    assert login_from("203.0.113.9") == 200  # one failure: allowed, counted for that address
    assert login_from("203.0.113.9") == 429
    assert (login_from("203.0.113.10") == 429) is neighbour_locked  # untrusted: one address for all
    app.extensions["geova_engine"].dispose()


def test_a_worker_imports_geova_afresh_rather_than_the_masters_copy():
    """After `kill -HUP` following a deploy, new workers must run the new code: the modules the master
    imported to read its settings are not handed down (run in a child process, as a worker is)."""
    script = (
        "import sys, geova.gunicorn_conf as conf, geova.settings as old\n"
        "conf.post_fork(None, None)\n"
        "import geova.settings as new\n"
        "print(old is new, old.Settings is new.Settings)\n"
    )
    ran = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split() == ["False", "False"]
