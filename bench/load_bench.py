"""Load benchmark (issue 9, point 3): geova under gunicorn, driven by locust, at 1, 10 and 50 users.

What it does, and why this way:

1. starts gunicorn exactly as ``make serve`` does (``--config python:geova.gunicorn_conf``, so the
   workers, threads and database pool are the production ones), bound to 127.0.0.1 on a free port,
   on the store given by ``--db`` (or ``GEOVA_DATABASE_URL``); without either, on a demo store built
   in a temporary folder by ``geova demo`` (Boston, 9,664 requests, SpatiaLite);
2. creates an official's account (``bench-official``, a fresh random password each run) and an
   API key (revoked at the end), so that the quarter page and the map feed are fetched with a
   logged-in session, as a browser does, and Open311 with a key, as an Open311 app does;
3. for each endpoint and each user count, runs locust headless in its own process (``locust -f
   <generated locustfile> --headless --run-time T --csv ...``) and reads its CSV. Each endpoint is
   loaded alone, so its req/s is its own throughput and not a share of a mix; a user sends its next
   request as soon as the previous one is answered (closed loop, no think time), which measures the
   server's capacity. locust runs in a subprocess because it monkey-patches the standard library
   with gevent, which must not happen to this script (it also imports geova, SQLAlchemy, psycopg).

Every request goes to 127.0.0.1. Each locust run stops itself after ``--run-time`` (and is killed
if it has not exited well after that); gunicorn is stopped with SIGTERM (graceful) at the end, also
on Ctrl-C or an error. Nothing is asserted: it prints a table and the machine's load average
before and after (the client runs on the same machine and takes CPU from the server: on 2 cores
the figures are a lower bound of what the server alone would do).

    .venv/bin/python bench/load_bench.py --run-time 20s
    .venv/bin/python bench/load_bench.py --db postgresql://postgres@127.0.0.1/geova_1m --users 1,10,50
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import math
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import shapely

from geova.store import apikeys, users
from geova.store.areas import load_areas
from geova.store.db import make_engine, write

BIN = Path(sys.executable).parent
OUT = Path(__file__).resolve().parent / "out"
ENDPOINTS = ("overview", "quarter", "map", "open311")
BENCH_USER = "bench-official"
START_TIMEOUT = 120  # seconds gunicorn may take to answer /health (workers import pandas, GeoPandas)


@dataclass(frozen=True)
class Target:
    """One endpoint as locust requests it: its path, and how it authenticates."""

    name: str
    path: str
    auth: str  # "none", "session" (the login form) or "key" (Authorization: Bearer)


@dataclass(frozen=True)
class Result:
    endpoint: str
    users: int
    requests: int
    failures: int
    rps: float
    p50: float
    p95: float
    p99: float


def free_port() -> int:
    """A port nobody listens on now (the kernel's choice); gunicorn binds it a moment later."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f} (1 / 5 / 15 min, {os.cpu_count()} CPUs)"


def build_demo(folder: Path) -> str:
    """``geova demo`` into ``folder``; returns the store's URL."""
    env = {**os.environ, "GEOVA_INSTANCE_PATH": str(folder)}
    env.pop("GEOVA_DATABASE_URL", None)
    print(f"building the demo store in {folder} (geova demo) ...", flush=True)
    subprocess.run([str(BIN / "geova"), "demo"], env=env, check=True, stdout=subprocess.DEVNULL, timeout=900)
    return f"sqlite:///{folder / 'geova.sqlite'}"


def viewport(geom: shapely.Geometry, zoom: int = 13) -> tuple[float, float, float, float]:
    """The bbox a 1280 x 720 map at ``zoom`` shows around ``geom``'s centre (Web Mercator: a 256-pixel
    tile spans 360 / 2^zoom degrees of longitude, and cos(latitude) times that of latitude)."""
    centre = geom.centroid
    tile = 360 / 2**zoom
    half_w = 1280 / 256 * tile / 2
    half_h = 720 / 256 * tile * math.cos(math.radians(centre.y)) / 2
    return (
        round(centre.x - half_w, 5),
        round(centre.y - half_h, 5),
        round(centre.x + half_w, 5),
        round(centre.y + half_h, 5),
    )


def prepare(url: str, quarter: str | None) -> tuple[str, str, str, tuple[float, float, float, float]]:
    """The official's password, an API key, the quarter code and the map's bbox."""
    engine = make_engine(url)
    password = secrets.token_urlsafe(18)
    key_name = f"bench-load-{secrets.token_hex(4)}"
    with write(engine) as conn:
        if users.find(conn, BENCH_USER) is None:
            users.add_user(conn, BENCH_USER, password, "official")
            print(f"created the account {BENCH_USER} (official, random password)")
        else:
            users.set_password(conn, BENCH_USER, password)
        _, token = apikeys.add_key(conn, key_name, "official")
        quarters, _zones = load_areas(conn)
    top = [q for q in quarters if q.parent is None] or quarters
    if not top:
        raise SystemExit("the store has no quarters: import a quarters layer first")
    # Default: the largest top-level quarter (a page and a map with many requests on them).
    largest = max(top, key=lambda q: q.geom.area)
    chosen = next((q for q in top if q.code == quarter), None) if quarter else largest
    if chosen is None:
        raise SystemExit(f"unknown quarter code {quarter!r}")
    engine.dispose()
    return password, f"{key_name}\t{token}", chosen.code, viewport(chosen.geom)


def revoke(url: str, key_name: str) -> None:
    engine = make_engine(url)
    with write(engine) as conn:
        apikeys.revoke(conn, key_name)
    engine.dispose()


@contextlib.contextmanager
def gunicorn(url: str, instance: Path, port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """gunicorn as ``make serve`` runs it; stopped gracefully (SIGTERM) when the block ends."""
    env = {
        **os.environ,
        "GEOVA_DATABASE_URL": url,
        "GEOVA_INSTANCE_PATH": str(instance),
        "GEOVA_BIND": f"127.0.0.1:{port}",
    }
    command = [str(BIN / "gunicorn"), "--config", "python:geova.gunicorn_conf", "geova.web:create_app()"]
    with log.open("wb") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while True:
                if proc.poll() is not None:
                    raise SystemExit(f"gunicorn exited with {proc.returncode}; see {log}")
                with contextlib.suppress(OSError):
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5).read()
                    break
                if time.monotonic() > deadline:
                    raise SystemExit(f"gunicorn did not answer /health in {START_TIMEOUT} s; see {log}")
                time.sleep(0.5)
            yield proc
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=45)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


LOCUSTFILE = '''\
"""Generated by bench/load_bench.py: one endpoint, fetched in a closed loop (no think time)."""
import re

from locust import FastHttpUser, constant, task

PATH = {path!r}
AUTH = {auth!r}
USERNAME = {username!r}
PASSWORD = {password!r}
TOKEN = {token!r}
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


class Visitor(FastHttpUser):
    wait_time = constant(0)

    def on_start(self):
        self.headers = {{}}
        if AUTH == "key":
            self.headers = {{"Authorization": "Bearer " + TOKEN}}
        elif AUTH == "session":
            page = self.client.get("/login", name="login form")
            found = CSRF.search(page.text or "")
            data = {{"username": USERNAME, "password": PASSWORD}}
            data["csrf_token"] = found.group(1) if found else ""
            with self.client.post("/login", data=data, name="login", catch_response=True) as answer:
                if "/logout" not in (answer.text or ""):
                    answer.failure("login did not succeed")

    @task
    def fetch(self):
        # Redirects are not followed: a lost session would otherwise "succeed" on the login page.
        with self.client.get(
            PATH, headers=self.headers, name={name!r}, allow_redirects=False, catch_response=True
        ) as answer:
            if answer.status_code != 200:
                answer.failure("HTTP %s" % answer.status_code)
'''


def run_locust(
    target: Target, users_n: int, run_time: str, host: str, secrets_: tuple[str, str], workdir: Path
) -> Result:
    """One headless locust run; its figures from the ``_stats.csv`` row of the endpoint."""
    password, token = secrets_
    locustfile = workdir / f"locust_{target.name}.py"
    locustfile.write_text(
        LOCUSTFILE.format(
            path=target.path,
            auth=target.auth,
            username=BENCH_USER,
            password=password,
            token=token,
            name=target.name,
        )
    )
    prefix = workdir / f"{target.name}-{users_n}"
    command = [
        str(BIN / "locust"),
        "-f",
        str(locustfile),
        "--headless",
        "--only-summary",
        "-u",
        str(users_n),
        "-r",
        str(users_n),
        "--run-time",
        run_time,
        "--stop-timeout",
        "10",
        "--host",
        host,
        "--csv",
        str(prefix),
        "--loglevel",
        "WARNING",
    ]
    # locust stops itself after --run-time; the timeout only guards against a hung client.
    subprocess.run(
        command,
        check=False,
        timeout=seconds(run_time) + 120,
        stdout=subprocess.DEVNULL,
        stderr=(workdir / f"{target.name}-{users_n}.log").open("wb"),
    )
    with open(f"{prefix}_stats.csv", newline="") as fh:
        rows = {r["Name"]: r for r in csv.DictReader(fh)}
    row = rows[target.name]
    if "login" in rows and int(rows["login"]["Failure Count"]):
        print(f"  warning: {rows['login']['Failure Count']} of the users' logins failed", flush=True)
    return Result(
        target.name,
        users_n,
        int(row["Request Count"]),
        int(row["Failure Count"]),
        float(row["Requests/s"]),
        float(row["50%"]),
        float(row["95%"]),
        float(row["99%"]),
    )


def seconds(run_time: str) -> int:
    """locust's --run-time (``20s``, ``1m30s``, ``2m``, a bare number of seconds) in seconds."""
    if run_time.isdigit():
        return int(run_time)
    parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", run_time)
    if not parts or not any(parts.groups()):
        raise argparse.ArgumentTypeError(f"not a duration: {run_time!r} (e.g. 20s, 1m30s)")
    h, m, s = (int(g or 0) for g in parts.groups())
    return h * 3600 + m * 60 + s


def table(results: list[Result]) -> str:
    lines = [
        "| endpoint | users | requests | req/s | p50 ms | p95 ms | p99 ms | failures |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.endpoint} | {r.users} | {r.requests:,} | {r.rps:.1f} | {r.p50:,.0f} | {r.p95:,.0f} "
            f"| {r.p99:,.0f} | {r.failures:,} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--db", default=os.environ.get("GEOVA_DATABASE_URL"), help="the store (default: a demo)"
    )
    parser.add_argument("--users", default="1,10,50", help="user counts, comma-separated")
    parser.add_argument("--run-time", default="30s", help="how long each (endpoint, users) step runs")
    parser.add_argument("--endpoints", default=",".join(ENDPOINTS), help=f"among {', '.join(ENDPOINTS)}")
    parser.add_argument("--quarter", help="quarter code of the quarter page (default: the largest)")
    parser.add_argument("--json", type=Path, help="where to save the figures (default: bench/out/)")
    args = parser.parse_args()
    seconds(args.run_time)  # refuse a bad duration before building anything
    user_counts = [int(u) for u in args.users.split(",")]
    chosen = args.endpoints.split(",")
    if unknown := set(chosen) - set(ENDPOINTS):
        parser.error(f"unknown endpoints: {', '.join(sorted(unknown))}")

    with tempfile.TemporaryDirectory(prefix="geova-load-") as tmp:
        workdir = Path(tmp)
        instance = workdir / "instance"
        url = args.db or build_demo(instance)
        password, key, quarter, bbox = prepare(url, args.quarter)
        key_name, token = key.split("\t")
        targets = {
            "overview": Target("overview", "/", "none"),
            "quarter": Target("quarter", f"/quarters/{quarter}", "session"),
            "map": Target(
                "map", "/geo/interventions.geojson?bbox=" + ",".join(map(str, bbox)) + "&zoom=13", "session"
            ),
            "open311": Target("open311", "/open311/v2/requests.json", "key"),
        }
        port = free_port()
        host = f"http://127.0.0.1:{port}"
        print(f"store: {url.split('@')[-1]}")
        print(f"quarter page /quarters/{quarter}; map bbox {bbox}")
        print(f"load before: {load()}", flush=True)
        results: list[Result] = []
        started = time.monotonic()
        try:
            with gunicorn(url, instance, port, workdir / "gunicorn.log"):
                for name in chosen:
                    for n in user_counts:
                        result = run_locust(targets[name], n, args.run_time, host, (password, token), workdir)
                        results.append(result)
                        print(
                            f"  {name:<9} {n:>3} users: {result.rps:7.1f} req/s, p50 {result.p50:,.0f} ms, "
                            f"p95 {result.p95:,.0f} ms, p99 {result.p99:,.0f} ms, {result.failures} failed",
                            flush=True,
                        )
        finally:
            revoke(url, key_name)
        print(f"load after: {load()}; {time.monotonic() - started:.0f} s of load")
        print()
        print(table(results))
        OUT.mkdir(exist_ok=True)
        path = args.json or OUT / f"load-{datetime.now():%Y%m%d-%H%M%S}.json"
        path.write_text(json.dumps([r.__dict__ for r in results], indent=2))
        print(f"\nfigures saved to {path}")


if __name__ == "__main__":
    main()
