"""Load benchmark (issue 9, point 3): geova under gunicorn, driven by locust, at 1, 10 and 50 users.

What it does, and why this way:

1. starts gunicorn exactly as ``make serve`` does (``--config python:geova.gunicorn_conf``, so the
   workers, threads and database pool are the production ones), bound to 127.0.0.1 on a free port,
   on the store given by ``--db`` (or ``GEOVA_DATABASE_URL``); without either, on a demo store built
   in a temporary folder by ``geova demo`` (Boston, 9,664 requests, SpatiaLite);
2. creates an official's account (``bench-official``, a fresh random password each run) and logs it
   in once through the login form, and creates an API key (revoked at the end): the quarter page and
   the map feed are fetched with that session's cookie, as a browser does, Open311 with the key
   (``Authorization: Bearer``), as an Open311 app does, and the overview anonymously;
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
import http.cookiejar
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
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import shapely
from sqlalchemy import func, select

from geova.store import apikeys, users
from geova.store.areas import load_areas
from geova.store.db import make_engine, write
from geova.store.schema import Intervention

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


@dataclass(frozen=True)
class Setup:
    password: str  # the official's
    key_name: str
    token: str
    quarter: str
    bbox: tuple[float, float, float, float]
    latest: datetime | None  # the latest report in the store


def prepare(url: str, quarter: str | None) -> Setup:
    """The official's account and an API key; what the requests ask for."""
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
        latest = conn.execute(select(func.max(Intervention.__table__.c.reported_at))).scalar_one()
    top = [q for q in quarters if q.parent is None] or quarters
    if not top:
        raise SystemExit("the store has no quarters: import a quarters layer first")
    # Default: the largest top-level quarter (a page and a map with many requests on them).
    largest = max(top, key=lambda q: q.geom.area)
    chosen = next((q for q in top if q.code == quarter), None) if quarter else largest
    if chosen is None:
        raise SystemExit(f"unknown quarter code {quarter!r}")
    engine.dispose()
    return Setup(password, key_name, token, chosen.code, viewport(chosen.geom), latest)


def revoke(url: str, key_name: str) -> None:
    engine = make_engine(url)
    with write(engine) as conn:
        apikeys.revoke(conn, key_name)
    engine.dispose()


def login(host: str, password: str) -> str:
    """Log the official in through the login form (CSRF token included), as a browser does; returns
    the ``Cookie`` header of the session. Done once, before the load: every simulated user then sends
    this cookie. A Flask session lives in its signed cookie, so the server does for 50 users sharing
    it what it does for 50 browsers; logging 50 users in during the run would instead measure 50
    password hashes (scrypt, meant to be slow) inside the quarter page's figures."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    form = opener.open(f"{host}/login", timeout=30).read().decode()
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form)
    if not found:
        raise SystemExit("no csrf_token in the login form")
    data = urllib.parse.urlencode(
        {"csrf_token": found.group(1), "username": BENCH_USER, "password": password}
    ).encode()
    page = opener.open(f"{host}/login", data=data, timeout=30).read().decode()
    if "/logout" not in page:
        raise SystemExit("the official's login failed")
    return "; ".join(f"{c.name}={c.value}" for c in jar)


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
from locust import FastHttpUser, constant, task

PATH = {path!r}
HEADERS = {headers!r}


class Visitor(FastHttpUser):
    wait_time = constant(0)

    @task
    def fetch(self):
        # Redirects are not followed: a lost session would otherwise "succeed" on the login page.
        with self.client.get(
            PATH, headers=HEADERS, name={name!r}, allow_redirects=False, catch_response=True
        ) as answer:
            if answer.status_code != 200:
                answer.failure("HTTP %s" % answer.status_code)
'''


IDLE_CPU = 15.0  # per cent of the machine's CPUs: idle below this (the machine runs nothing else)
IDLE_TIMEOUT = 180.0


def wait_idle(sample: float = 0.5) -> float:
    """Wait until the machine has no work left, and return how long that took.

    A step at 50 users of a slow endpoint leaves work behind after locust stops (Session 7: the
    wide map feed's backlog made Open311's next step measure 2.4 req/s instead of 16 run alone):
    requests queued in gunicorn, and queries still running in PostgreSQL after their client
    left, so gunicorn's own processes may look idle while the database is not. The machine (the
    benchmark runs on an otherwise idle one) counts as idle once its CPUs were under IDLE_CPU
    busy over two samples in a row."""
    import psutil

    began = time.monotonic()
    quiet = 0
    while quiet < 2 and time.monotonic() - began < IDLE_TIMEOUT:
        quiet = quiet + 1 if psutil.cpu_percent(interval=sample) < IDLE_CPU else 0
    return time.monotonic() - began


def run_locust(
    target: Target, users_n: int, run_time: str, host: str, headers: dict[str, str], workdir: Path
) -> Result:
    """One headless locust run; its figures from the ``_stats.csv`` row of the endpoint."""
    locustfile = workdir / f"locust_{target.name}.py"
    locustfile.write_text(LOCUSTFILE.format(path=target.path, headers=headers, name=target.name))
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
        row = next((r for r in csv.DictReader(fh) if r["Name"] == target.name), None)
    if row is None:  # no request answered within the run (and its stop timeout): say so, go on
        nan = float("nan")
        return Result(target.name, users_n, 0, 0, 0.0, nan, nan, nan)
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
        setup = prepare(url, args.quarter)
        # Open311's search covers the last 90 days by default: on a store of past years (the demo is
        # 2015) that is an empty list, so the search ends at the store's latest report instead.
        window = f"?end_date={setup.latest:%Y-%m-%dT%H:%M:%SZ}" if setup.latest else ""
        bbox = ",".join(map(str, setup.bbox))
        targets = {
            "overview": Target("overview", "/", "none"),
            "quarter": Target("quarter", f"/quarters/{setup.quarter}", "session"),
            "map": Target("map", f"/geo/interventions.geojson?bbox={bbox}&zoom=13", "session"),
            "open311": Target("open311", f"/open311/v2/requests.json{window}", "key"),
        }
        port = free_port()
        host = f"http://127.0.0.1:{port}"
        print(f"store: {url.split('@')[-1]}")
        for target in (targets[name] for name in chosen):
            print(f"{target.name}: GET {target.path} ({target.auth})")
        print(f"load before: {load()}", flush=True)
        results: list[Result] = []
        started = time.monotonic()
        try:
            with gunicorn(url, instance, port, workdir / "gunicorn.log"):
                auth = {
                    "none": {},
                    "session": {"Cookie": login(host, setup.password)},
                    "key": {"Authorization": f"Bearer {setup.token}"},
                }
                for name in chosen:
                    for n in user_counts:
                        waited = wait_idle()  # no backlog of the previous step measured here
                        if waited > 2:
                            print(f"  (waited {waited:.0f} s for the server to go idle)", flush=True)
                        result = run_locust(
                            targets[name], n, args.run_time, host, auth[targets[name].auth], workdir
                        )
                        results.append(result)
                        print(
                            f"  {name:<9} {n:>3} users: {result.rps:7.1f} req/s, p50 {result.p50:,.0f} ms, "
                            f"p95 {result.p95:,.0f} ms, p99 {result.p99:,.0f} ms, {result.failures} failed",
                            flush=True,
                        )
        finally:
            revoke(url, setup.key_name)
        print(f"load after: {load()}; {time.monotonic() - started:.0f} s of load")
        print()
        print(table(results))
        OUT.mkdir(exist_ok=True)
        path = args.json or OUT / f"load-{datetime.now():%Y%m%d-%H%M%S}.json"
        path.write_text(json.dumps([r.__dict__ for r in results], indent=2))
        print(f"\nfigures saved to {path}")


if __name__ == "__main__":
    main()
