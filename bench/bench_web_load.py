"""Load test of the web app on loopback: PROM submissions per second and p50/p99 latency at 1, 10
and 50 concurrent clients, on SQLite and on PostgreSQL, beside the same submissions in-process.

For each backend: a fresh database (an SQLite file; a PostgreSQL cluster started like the tests
do, tests/conftest.py ``_PgServer``, or ``--pg-url``) with a small demo cohort and the demo logins
(``spinetrack demo``); then, before the servers start, one fresh patient per visit at DEMO-N with
a baseline invitation for ``--instruments`` (made directly with :class:`Access`). Then
``spinetrack serve`` on 127.0.0.1: one uvicorn process, and on PostgreSQL also
``--workers N`` for each N of ``--pg-workers`` (default 2), side by side on their own ports.
Every invitation is opened over HTTP (``GET /p/<token>`` → the ``st_patient`` cookie) and each
client submits its own visits' questionnaires, one request after the other, with an
``Idempotency-Key`` and the session's ``X-CSRF-Token``; a share of them (``--replay-share``) is
sent twice and must answer with the same response. Every level stops at ``--max-requests``
requests or ``--max-seconds``, whichever comes first. After each level the stored rows are
counted: exactly one per accepted submission (no duplicates, none lost).

The baseline, "the usual way" without a web server: the same submissions made in-process through
the store (``Access.submit``, a thread per client) on the same database, so the ratio is the cost
of HTTP, the web framework and the session checks. Level by level the configurations take turns
(HTTP on each server, then in-process), so that a slow phase of a shared machine falls on all of
them rather than on one.

The load comes from one process on the same cores: a minimal HTTP/1.1 keep-alive client per
simulated phone (asyncio streams, about 0.4 ms of CPU a request; httpx cost about 4 ms, which
capped the measurement near 250 requests/s on two cores). The CPU seconds of server (all its
processes) and client are reported for each level.

The submission endpoint is found in ``/openapi.json`` (``--via auto``): the patient-session API
(a POST under ``/api/v1/visit`` whose path names responses), else the clinician API
(``POST /api/v1/episodes/{id}/responses``, each client its own north.clinician session), else
only a probe of the HTTP stack (``GET /api/v1/auth/me``, not a PROM submission; reported as such).

    .venv/bin/python bench/bench_web_load.py                        # both backends, 1/10/50 clients
    .venv/bin/python bench/bench_web_load.py --backends sqlite --levels 10 --max-requests 200

Prints a table and the load targets (each with ``met``), and writes
``bench/results/web_load.json`` (the run's date and start time, the machine, its load average
before and after, and the git commit).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import http.cookiejar
import json
import math
import os
import platform
import random
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # for tests.conftest (the PostgreSQL server the tests use)

SITE = "DEMO-N"
CLINICIAN = "north.clinician"
PATIENT_COOKIE = "st_patient"
SESSION_COOKIE = "st_session"
console = Console(width=160)


# ------------------------------------------------------------------------------ answers


def make_answers(code: str, rng: random.Random) -> dict[str, Any]:
    """A complete, valid answer set for ``code`` (every item answered from its options/range)."""
    from spinetrack import instruments
    from spinetrack.instruments.base import ItemType

    out: dict[str, Any] = {}
    for item in instruments.get(code).definition.items:
        if item.options:
            out[item.code] = rng.choice(item.options).value
        elif item.type is ItemType.INTEGER and item.low is not None and item.high is not None:
            out[item.code] = rng.randint(int(item.low), int(item.high))
        elif item.required:
            raise ValueError(f"no generator for required item {code}.{item.code}")
    return out


# ------------------------------------------------------------------------------ databases


def load_demo(url: str, patients: int, seed: int) -> None:
    proc = subprocess.run([sys.executable, "-m", "spinetrack.cli", "demo", "--patients", str(patients), "--seed",
                           str(seed), "--database-url", url, "--json"], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"spinetrack demo failed:\n{proc.stdout}\n{proc.stderr}")


class PgDatabase:
    """A fresh database on a throw-away PostgreSQL cluster (tests/conftest.py ``_PgServer``), or
    on an existing server given as ``--pg-url``."""

    def __init__(self, server_url: str | None) -> None:
        self.server = None
        if server_url is None:
            from tests.conftest import _pg_bindir, _PgServer

            bindir = _pg_bindir()
            if bindir is None:
                raise RuntimeError("PostgreSQL server binaries not found (scripts/ensure-system-deps.sh installs them)")
            self.server = _PgServer(bindir)
            server_url = self.server.start()
        from sqlalchemy import create_engine, text

        from spinetrack.store.session import _normalise_url

        self.name = f"bench_{uuid.uuid4().hex[:10]}"
        self.admin = create_engine(_normalise_url(server_url), isolation_level="AUTOCOMMIT")
        with self.admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{self.name}"'))
        self.url = _normalise_url(server_url).rsplit("/", 1)[0] + f"/{self.name}"

    def close(self) -> None:
        from sqlalchemy import text

        try:
            with self.admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
            self.admin.dispose()
        finally:
            if self.server is not None:
                self.server.stop()


@contextmanager
def backend_database(backend: str, tmp: Path, pg_url: str | None) -> Iterator[tuple[str, Path]]:
    """A fresh database for ``backend`` and a working directory for it under ``tmp``: an SQLite
    file there, or a database on PostgreSQL (:class:`PgDatabase`), dropped afterwards."""
    workdir = tmp / backend
    workdir.mkdir()
    if backend == "sqlite":
        yield f"sqlite:///{workdir / 'bench.db'}", workdir
        return
    pg = PgDatabase(pg_url)
    try:
        yield pg.url, workdir
    finally:
        pg.close()


# ------------------------------------------------------------------------------ visits


@dataclass
class Visit:
    token: str
    episode_id: int
    invitation_id: int
    session: str | None = None   # patient session token (st_patient cookie)
    csrf: str | None = None
    view: Any = None             # InvitationView, for the in-process baseline


def make_visits(url: str, n: int, instrument_codes: Sequence[str]) -> list[Visit]:
    """``n`` fresh patients at DEMO-N, each with an episode (no procedure yet, so a baseline visit
    is due today) and a baseline invitation for ``instrument_codes``; made in-process."""
    from sqlalchemy import select

    from spinetrack.store.access import Access
    from spinetrack.store.repositories import Actor, Store
    from spinetrack.store.session import make_engine
    from spinetrack.store.tables import SiteRow

    engine = make_engine(url)
    try:
        store = Store(engine)
        access = Access(store)
        with engine.connect() as c:
            site_id = c.execute(select(SiteRow.id).where(SiteRow.code == SITE)).scalar_one()
        actor = Actor("bench", "clinician", site_id)
        enrolled = (dt.date.today() - dt.timedelta(days=7)).isoformat()
        out = []
        for _ in range(n):
            pid = store.add_patient(actor, site_id, {"birth_year": 1965, "sex": "male", "bmi": 27.5,
                                                     "smoking": "never", "diabetes": False, "asa_grade": 2})
            eid = store.add_episode(actor, pid, {"diagnosis_code": "M51.16", "levels": "L4-L5",
                                                 "enrolled_on": enrolled, "treatment": "mis",
                                                 "treatment_family": "discectomy"})
            inv, token = access.create_invitation(actor, eid, timepoint="baseline",
                                                  instrument_codes=list(instrument_codes))
            out.append(Visit(token, eid, inv))
        return out
    finally:
        engine.dispose()


# ------------------------------------------------------------------------------ the server


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``spinetrack serve`` on 127.0.0.1 and a free port: one uvicorn process, or ``workers``
    processes (``--workers``, PostgreSQL only)."""

    def __init__(self, url: str, workdir: Path, workers: int = 1) -> None:
        self.workers = workers
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"serve-{self.port}.log"
        env = {**os.environ, "SPINETRACK_DATABASE_URL": url, "SPINETRACK_ENV": "development"}
        with self.log_path.open("wb") as log:
            # uvicorn's access log is left on: it is part of what a default deployment pays.
            self.proc = subprocess.Popen([sys.executable, "-m", "spinetrack.cli", "serve", "--host", "127.0.0.1",
                                          "--port", str(self.port),
                                          *(["--workers", str(workers)] if workers > 1 else [])],
                                         env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if httpx.get(self.base_url + "/healthz", timeout=2).status_code == 200:
                    self.ps = psutil.Process(self.proc.pid)
                    # every worker up (uvicorn's supervisor spawns them; the first answers alone)
                    while workers > 1 and time.monotonic() < deadline and \
                            sum("spawn_main" in " ".join(c.cmdline()) for c in self.ps.children()) < workers:
                        time.sleep(0.2)
                    if workers > 1:
                        time.sleep(1.0)  # the last one spawned imports the app
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"spinetrack serve did not start:\n{self.log_path.read_text(errors='replace')[-3000:]}")

    def cpu_seconds(self) -> float:
        """CPU seconds of the server: the uvicorn process and its worker processes."""
        total = 0.0
        for p in [self.ps, *self.ps.children(recursive=True)]:
            try:
                t = p.cpu_times()
            except psutil.Error:
                continue
            total += t.user + t.system
        return total

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)


# ------------------------------------------------------------------------------ endpoints


@dataclass
class Endpoint:
    mode: str                 # "patient", "clinician" or "probe"
    method: str
    path: str                 # template: {instrument} and/or an episode id parameter
    body_fields: set[str] | None = None  # properties of the request body schema (None: unknown)
    episode_param: str | None = None

    @property
    def is_submission(self) -> bool:
        return self.mode in ("patient", "clinician")


def _schema_fields(spec: dict[str, Any], op: dict[str, Any]) -> set[str] | None:
    try:
        schema = op["requestBody"]["content"]["application/json"]["schema"]
    except KeyError:
        return None
    for _ in range(5):
        if "$ref" in schema:
            schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
        elif "allOf" in schema and len(schema["allOf"]) == 1:
            schema = schema["allOf"][0]
        else:
            break
    props = schema.get("properties")
    return set(props) if isinstance(props, dict) else None


def discover(base_url: str, via: str) -> tuple[Endpoint, list[str]]:
    """Find the submission endpoint in /openapi.json; returns it and notes on what was missing."""
    spec = httpx.get(base_url + "/openapi.json", timeout=10).json()
    paths: dict[str, dict[str, Any]] = spec.get("paths", {})
    notes: list[str] = []
    found: dict[str, Endpoint] = {}
    for path, ops in paths.items():
        op = ops.get("post")
        if op is None:
            continue
        if path.startswith("/api/v1/visit") and re.search(r"respons|submi", path) and "patient" not in found:
            found["patient"] = Endpoint("patient", "POST", path, _schema_fields(spec, op))
        m = re.fullmatch(r"/api/v1/episodes/\{(\w+)\}/responses", path)
        if m and "clinician" not in found:
            found["clinician"] = Endpoint("clinician", "POST", path, _schema_fields(spec, op), m.group(1))
    order = {"auto": ["patient", "clinician"], "patient": ["patient"], "clinician": ["clinician"], "probe": []}[via]
    for mode in order:
        if mode in found:
            return found[mode], notes
        notes.append(f"{mode} submission endpoint not in /openapi.json "
                     + ("(a POST under /api/v1/visit naming responses)" if mode == "patient"
                        else "(POST /api/v1/episodes/{id}/responses)"))
    if "/api/v1/auth/me" not in paths:
        raise RuntimeError("neither a PROM submission endpoint nor /api/v1/auth/me in /openapi.json")
    notes.append("measured GET /api/v1/auth/me (HTTP stack + session check) instead of PROM submissions")
    return Endpoint("probe", "GET", "/api/v1/auth/me"), notes


# ------------------------------------------------------------------------------ work items


@dataclass
class Item:
    """One request: for HTTP (method, path, body, headers) and its in-process twin (call)."""

    path: str
    body: dict[str, Any] | None
    headers: dict[str, str]
    call: Callable[[], Any]
    key: str | None = None
    replay: bool = False     # send it again with the same Idempotency-Key (a phone retrying)


def build_items(ep: Endpoint, visits: Sequence[Visit], codes: Sequence[str], rng: random.Random, key_prefix: str,
                access: Any, store: Any, probe_sessions: Sequence[tuple[str, Any]] = (),
                probe_count: int = 0, replay_share: float = 0.0) -> list[Item]:
    """The requests of one client, in order: each visit's questionnaires one after the other."""
    from spinetrack.store.repositories import Actor

    items: list[Item] = []
    if ep.mode == "probe":
        token, _user = probe_sessions[0]
        return [Item(ep.path, None, {"Cookie": f"{SESSION_COOKIE}={token}"},
                     (lambda t=token: access.resolve_session(t))) for _ in range(probe_count)]
    for v in visits:
        for code in codes:
            answers = make_answers(code, rng)
            key = f"{key_prefix}-{uuid.uuid4().hex}"
            if ep.mode == "patient":
                path = ep.path.replace("{instrument}", code)
                body: dict[str, Any] = {"answers": answers}
                fields = ep.body_fields
                if fields is None or "instrument" in fields or "{instrument}" not in ep.path:
                    body["instrument"] = code
                if fields and "timepoint" in fields:
                    body["timepoint"] = "baseline"
                if fields and "collected_on" in fields:
                    body["collected_on"] = dt.date.today().isoformat()
                if fields and "idempotency_key" in fields:
                    body["idempotency_key"] = key
                headers = {"Cookie": f"{PATIENT_COOKIE}={v.session}", "X-CSRF-Token": v.csrf or "",
                           "Idempotency-Key": key}

                def call(v: Visit = v, code: str = code, answers: dict[str, Any] = answers, key: str = key) -> Any:
                    return access.submit(v.view, code, answers, idempotency_key=key)
            else:  # clinician
                assert ep.episode_param is not None
                path = ep.path.replace("{" + ep.episode_param + "}", str(v.episode_id))
                body = {"instrument": code, "timepoint": "baseline", "collected_on": dt.date.today().isoformat(),
                        "answers": answers}
                if ep.body_fields and "idempotency_key" in ep.body_fields:
                    body["idempotency_key"] = key
                token, user = probe_sessions[0]
                headers = {"Cookie": f"{SESSION_COOKIE}={token}", "X-CSRF-Token": user.csrf_token,
                           "Idempotency-Key": key}
                actor = Actor(user.username, user.role, user.site_id)

                def call(v: Visit = v, body: dict[str, Any] = body, key: str = key, actor: Actor = actor) -> Any:
                    data = {k: body[k] for k in ("instrument", "timepoint", "collected_on", "answers")}
                    return store.submit_response(actor, v.episode_id, data, source="clinician", idempotency_key=key)
            items.append(Item(path, body, headers, call, key, replay=rng.random() < replay_share))
    return items


# ------------------------------------------------------------------------------ measuring


@dataclass
class LevelResult:
    clients: int
    requests: int = 0
    ok: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    error_samples: list[str] = field(default_factory=list)
    server_cpu_s: float | None = None
    client_cpu_s: float | None = None
    stored_rows: int | None = None
    replays: int = 0
    replay_failures: int = 0

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies_ms)
        return {"clients": self.clients, "requests": self.requests, "ok": self.ok, "errors": self.errors,
                "seconds": round(self.seconds, 4),
                "per_second": round(self.ok / self.seconds, 2) if self.seconds else None,
                "p50_ms": round(_quantile(lat, 0.50), 3) if lat else None,
                "p99_ms": round(_quantile(lat, 0.99), 3) if lat else None,
                "max_ms": round(lat[-1], 3) if lat else None,
                "server_cpu_s": None if self.server_cpu_s is None else round(self.server_cpu_s, 3),
                "client_cpu_s": None if self.client_cpu_s is None else round(self.client_cpu_s, 3),
                "stored_rows": self.stored_rows, "replays": self.replays, "replay_failures": self.replay_failures,
                "error_samples": self.error_samples}


def _quantile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolation quantile (numpy's default) of already sorted values."""
    if len(sorted_values) == 1:
        return sorted_values[0]
    pos = q * (len(sorted_values) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def _rid(text: str) -> Any:
    """The stored response's id in a submission answer (None when there is none)."""
    try:
        body = json.loads(text)
    except ValueError:
        return None
    return body.get("response_id", body.get("id")) if isinstance(body, dict) else None


def _client_cpu() -> float:
    t = psutil.Process().cpu_times()
    return float(t.user + t.system)


class RawHttpClient:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams, for the load only: httpx costs
    about 4 ms of CPU per request, which on a 2-core machine shared with the server capped the
    measurement itself (at 250 requests/s the client alone would fill one core). It sends what a
    phone sends (the cookie, ``X-CSRF-Token``, ``Idempotency-Key``, a JSON body) and reads a
    ``Content-Length`` answer; anything else is reported as an error."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> tuple[int, str]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", "Accept: application/json",
                 *(f"{k}: {v}" for k, v in headers.items())]
        if body is not None:
            lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b""))
        status_line = await self.reader.readline()
        if not status_line:
            await self.close()
            raise ConnectionError("server closed the connection")
        status = int(status_line.split(b" ", 2)[1])
        length, close = None, False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
            elif name == b"transfer-encoding":
                raise ConnectionError("chunked answers are not read by this client")
        text = (await self.reader.readexactly(length)).decode() if length else ""
        if close:
            await self.close()
        return status, text

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


async def _run_http(base_url: str, ep: Endpoint, per_client: list[list[Item]], max_requests: int,
                    max_seconds: float) -> LevelResult:
    res = LevelResult(clients=len(per_client))
    budget = [max_requests]
    deadline = time.perf_counter() + max_seconds
    host, port = base_url.split("://", 1)[1].rsplit(":", 1)

    async def one_client(items: list[Item]) -> None:
        # Its own keep-alive connection; the session travels in the Cookie header.
        client = RawHttpClient(host, int(port))
        try:
            for item in items:
                if budget[0] <= 0 or time.perf_counter() >= deadline:
                    return
                budget[0] -= 1
                body = None if item.body is None else json.dumps(item.body).encode()
                t0 = time.perf_counter()
                try:
                    status, text = await client.request(ep.method, item.path, body, item.headers)
                except (OSError, ValueError, asyncio.IncompleteReadError) as exc:
                    status, text = 0, repr(exc)
                    await client.close()
                ms = (time.perf_counter() - t0) * 1000
                res.requests += 1
                if 200 <= status < 300:
                    res.ok += 1
                    res.latencies_ms.append(ms)
                else:
                    res.errors += 1
                    if len(res.error_samples) < 5:
                        res.error_samples.append(f"{status} {item.path}: {text[:300]}")
                if item.replay and 200 <= status < 300:
                    # The same request again (the phone never saw the answer): must not store twice,
                    # and must answer with the same response. Not counted in ok/latency.
                    try:
                        again, again_text = await client.request(ep.method, item.path, body, item.headers)
                        same = again in (200, 201) and _rid(again_text) == _rid(text)
                    except (OSError, ValueError, asyncio.IncompleteReadError):
                        same = False
                        await client.close()
                    res.replays += 1
                    if not same:
                        res.replay_failures += 1
                        if len(res.error_samples) < 5:
                            res.error_samples.append(f"replay of {item.key} differed")
        finally:
            await client.close()

    c0 = _client_cpu()
    t0 = time.perf_counter()
    await asyncio.gather(*(one_client(items) for items in per_client))
    res.seconds = time.perf_counter() - t0
    res.client_cpu_s = _client_cpu() - c0
    return res


def run_direct(per_client: list[list[Item]], max_requests: int, max_seconds: float) -> LevelResult:
    """The same work in-process through the store, one thread per client (no HTTP)."""
    res = LevelResult(clients=len(per_client))
    lock = threading.Lock()
    budget = [max_requests]
    deadline = time.perf_counter() + max_seconds

    def one_client(items: list[Item]) -> None:
        for item in items:
            with lock:
                if budget[0] <= 0 or time.perf_counter() >= deadline:
                    return
                budget[0] -= 1
            t0 = time.perf_counter()
            rid = None
            try:
                rid = item.call()
                ok, err = True, ""
            except Exception as exc:  # reported and counted, not raised
                ok, err = False, f"{type(exc).__name__}: {exc}"
            ms = (time.perf_counter() - t0) * 1000
            if ok and item.replay:
                try:
                    same = item.call() == rid
                except Exception:
                    same = False
                with lock:
                    res.replays += 1
                    res.replay_failures += 0 if same else 1
            with lock:
                res.requests += 1
                if ok:
                    res.ok += 1
                    res.latencies_ms.append(ms)
                else:
                    res.errors += 1
                    if len(res.error_samples) < 5:
                        res.error_samples.append(err[:300])

    c0 = _client_cpu()
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(per_client)) as pool:
        list(pool.map(one_client, per_client))
    res.seconds = time.perf_counter() - t0
    res.client_cpu_s = _client_cpu() - c0
    return res


def count_rows(url: str, visits: Sequence[Visit]) -> int:
    """PROM responses stored for these visits' episodes (each level has its own fresh episodes;
    the API stores a hash of the client's key, so rows are counted by episode, not by key)."""
    from sqlalchemy import func, select

    from spinetrack.store.session import make_engine
    from spinetrack.store.tables import PromResponseRow

    engine = make_engine(url)
    try:
        with engine.connect() as c:
            return int(c.execute(select(func.count()).select_from(PromResponseRow).where(
                PromResponseRow.episode_id.in_([v.episode_id for v in visits]))).scalar_one())
    finally:
        engine.dispose()


def _split(visits: list[Visit], clients: int) -> list[list[Visit]]:
    return [visits[i::clients] for i in range(clients)]


# ------------------------------------------------------------------------------ one backend


def open_sessions_http(base_url: str, visits: Sequence[Visit], access: Any) -> dict[str, int]:
    """Open each invitation as a phone does: ``GET /p/<token>`` (→ the ``st_patient`` cookie),
    then ``GET /api/v1/visit`` for the session's CSRF token. Falls back to opening in-process, or
    to reading the CSRF token from the database, when either answer is missing."""
    counts = {"opened_over_http": 0, "csrf_over_http": 0}
    jar = http.cookiejar.CookieJar(policy=http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    with httpx.Client(base_url=base_url, timeout=30, cookies=jar) as client:
        for v in visits:
            r = client.get(f"/p/{v.token}", follow_redirects=False)
            cookie = r.cookies.get(PATIENT_COOKIE)
            if r.status_code in (302, 303) and cookie:
                v.session = cookie
                counts["opened_over_http"] += 1
            else:
                v.session, _ = access.open_invitation(v.token)
            r = client.get("/api/v1/visit", headers={"Cookie": f"{PATIENT_COOKIE}={v.session}"})
            csrf = r.json().get("csrf_token") if r.status_code == 200 else None
            if csrf:
                v.csrf = csrf
                counts["csrf_over_http"] += 1
            else:
                view = access.resolve_patient_session(v.session)
                if view is None:
                    raise RuntimeError(f"patient session of invitation {v.invitation_id} did not resolve")
                v.csrf = view.csrf_token
    return counts


def _print_level(label: str, res: LevelResult) -> dict[str, Any]:
    s = res.summary()
    console.print(f"{label} {res.clients:>2} clients: {s['ok']}/{s['requests']} ok, {s['per_second']}/s, "
                  f"p50 {s['p50_ms']} ms, p99 {s['p99_ms']} ms"
                  + (f", stored {res.stored_rows}" if res.stored_rows is not None else "")
                  + (f", replays {res.replays} ({res.replay_failures} differed)" if res.replays else ""))
    for e in res.error_samples[:2]:
        console.print(f"[red]  {e}[/red]")
    return s


def bench_backend(backend: str, url: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """One backend: every server configuration (one process; on PostgreSQL also each of
    ``--pg-workers``) started side by side, then level by level the configurations and the
    in-process baseline take turns (HTTP on each server, then in-process), so that a slow phase
    of a shared machine falls on all of them rather than on one."""
    from spinetrack.store.access import Access
    from spinetrack.store.repositories import Store
    from spinetrack.store.session import make_engine

    codes = list(args.instruments)
    k = len(codes)
    rng = random.Random(args.seed)
    worker_counts = sorted(set(args.pg_workers)) if backend == "postgresql" else [1]
    per_level = {c: math.ceil(args.max_requests / k) + c for c in args.levels}
    runs = len(worker_counts) + 1  # every server configuration, and the in-process baseline
    n_visits = len(worker_counts) + runs * sum(per_level.values())  # a warm-up visit per server, then the levels
    t0 = time.perf_counter()
    with console.status(f"{backend}: demo cohort ({args.patients} patients) and logins"):
        load_demo(url, args.patients, args.seed)
    with console.status(f"{backend}: {n_visits} fresh patients with a baseline invitation"):
        visits = make_visits(url, n_visits, codes)
    console.print(f"{backend}: database ready ({args.patients} demo patients + {n_visits} invited) "
                  f"in {time.perf_counter() - t0:.1f} s")
    engine = make_engine(url)
    store = Store(engine)
    access = Access(store)
    pool = list(visits)
    warm = {w: [pool.pop(0)] for w in worker_counts}
    http_visits: dict[int, dict[int, list[Visit]]] = {w: {} for w in worker_counts}
    direct_visits: dict[int, list[Visit]] = {}
    for c in args.levels:
        for w in worker_counts:
            http_visits[w][c], pool = pool[:per_level[c]], pool[per_level[c]:]
        direct_visits[c], pool = pool[:per_level[c]], pool[per_level[c]:]
    out: dict[str, Any] = {"backend": backend, "server_processes": worker_counts, "levels": [], "notes": []}
    servers: dict[int, Server] = {}
    try:
        for w in worker_counts:
            with console.status(f"{backend}: starting spinetrack serve --workers {w}"):
                servers[w] = Server(url, workdir, w)
        ep, notes = discover(servers[1].base_url, args.via)
        out["endpoint"] = {"mode": ep.mode, "method": ep.method, "path": ep.path}
        out["notes"] += notes
        for n in notes:
            console.print(f"[yellow]{backend}: {n}[/yellow]")
        sessions: list[tuple[str, Any]] = []
        if ep.mode in ("clinician", "probe"):
            from spinetrack.synth.demo_access import DEMO_PASSWORD

            with console.status(f"{backend}: {max(args.levels)} clinician sign-ins"):
                sessions = [access.login(CLINICIAN, DEMO_PASSWORD, client="bench") for _ in range(max(args.levels))]
        if ep.mode == "patient":
            with console.status(f"{backend}: opening the patient sessions"):
                for w, server in servers.items():
                    all_http = warm[w] + [v for c in args.levels for v in http_visits[w][c]]
                    counts = open_sessions_http(server.base_url, all_http, access)
                    out.setdefault("patient_sessions", {})[str(w)] = {"total": len(all_http), **counts}
                for c in args.levels:
                    for v in direct_visits[c]:
                        v.session, v.view = access.open_invitation(v.token)

        def items_for(vs: list[list[Visit]], prefix: str, c: int) -> list[list[Item]]:
            return [build_items(ep, group, codes, rng, prefix, access, store, sessions[i:i + 1] or sessions,
                                probe_count=math.ceil(args.max_requests / c) + 1, replay_share=args.replay_share)
                    for i, group in enumerate(vs)]

        # Warm-up (not measured): first requests pay for imports, caches and connections.
        for w, server in servers.items():
            asyncio.run(_run_http(server.base_url, ep, items_for([warm[w]], f"bench-{backend}-{w}w-warm", 1),
                                  2 * k, 30))
        for c in args.levels:
            entry: dict[str, Any] = {"clients": c}
            for w, server in servers.items():
                label = f"{backend} HTTP ({w} process{'es' if w > 1 else ''})"
                per_client = items_for(_split(http_visits[w][c], c), f"bench-{backend}-{w}w-http-{c}", c)
                s0 = server.cpu_seconds()
                with console.status(f"{label}: {c} concurrent clients"):
                    res = asyncio.run(_run_http(server.base_url, ep, per_client, args.max_requests,
                                                args.max_seconds))
                res.server_cpu_s = server.cpu_seconds() - s0
                if ep.is_submission:
                    res.stored_rows = count_rows(url, http_visits[w][c])
                entry["http" if w == 1 else f"http_{w}_processes"] = _print_level(label, res)
            # The usual way, in-process through the store on the same database (the servers idle).
            per_client = items_for(_split(direct_visits[c], c), f"bench-{backend}-direct-{c}", c)
            with console.status(f"{backend}: {c} concurrent clients in-process (store)"):
                res = run_direct(per_client, args.max_requests, args.max_seconds)
            if ep.is_submission:
                res.stored_rows = count_rows(url, direct_visits[c])
            entry["direct"] = d = _print_level(f"{backend} in-process", res)
            h = entry["http"]
            entry["throughput_ratio_http_over_direct"] = (round(h["per_second"] / d["per_second"], 3)
                                                          if h["per_second"] and d["per_second"] else None)
            entry["p50_ratio_http_over_direct"] = (round(h["p50_ms"] / d["p50_ms"], 3)
                                                   if h["p50_ms"] and d["p50_ms"] else None)
            for w in worker_counts:
                if w != 1:
                    hw = entry[f"http_{w}_processes"]
                    entry[f"throughput_ratio_{w}_over_1_process"] = (
                        round(hw["per_second"] / h["per_second"], 3) if hw["per_second"] and h["per_second"]
                        else None)
            out["levels"].append(entry)
    finally:
        for server in servers.values():
            server.stop()
    engine.dispose()
    return out


# ------------------------------------------------------------------------------ main


def _table(results: list[dict[str, Any]]) -> Table:
    t = Table(title="spinetrack web load on loopback: PROM submissions over HTTP (spinetrack serve) vs the same "
                    "calls in-process through the store, same run")
    for col in ("backend", "server", "clients", "ok/req", "req/s", "p50 ms", "p99 ms", "server CPU ms/req",
                "in-process req/s", "in-process p50 ms", "in-process p99 ms", "HTTP/in-process req/s",
                "vs 1 process"):
        t.add_column(col, justify="right" if col not in ("backend", "server") else "left")

    def f(v: Any, spec: str = ".1f") -> str:
        return "—" if v is None else format(v, spec)

    for r in results:
        for lvl in r["levels"]:
            d = lvl.get("direct", {})
            for w in r.get("server_processes", [1]):
                h = lvl["http"] if w == 1 else lvl[f"http_{w}_processes"]
                cpu = h["server_cpu_s"] / h["requests"] * 1000 if h["server_cpu_s"] and h["requests"] else None
                t.add_row(r["backend"], f"{w} process{'es' if w > 1 else ''}", str(lvl["clients"]),
                          f"{h['ok']}/{h['requests']}", f(h["per_second"]), f(h["p50_ms"], ".2f"),
                          f(h["p99_ms"], ".2f"), f(cpu, ".2f"),
                          f(d.get("per_second")) if w == 1 else "", f(d.get("p50_ms"), ".2f") if w == 1 else "",
                          f(d.get("p99_ms"), ".2f") if w == 1 else "",
                          f(lvl.get("throughput_ratio_http_over_direct"), ".2f") if w == 1 else "",
                          f(lvl.get(f"throughput_ratio_{w}_over_1_process"), ".2f") if w > 1 else "")
    return t


# Figures of the code before the submission path became one transaction (quiet machine,
# --backends sqlite --max-requests 400):
# 56, 59 and 53 submissions/s at 1, 10 and 50 clients (p99 1.7 s at 50), in-process 266/s.
BEFORE_SQLITE_10_CLIENTS = 58.0


def evaluate_targets(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The load targets, each with the measured value and ``met`` (None: not measured in
    this run, e.g. a level or backend left out)."""
    by = {r["backend"]: {lvl["clients"]: lvl for lvl in r["levels"]} for r in results}
    sqlite, pg = by.get("sqlite", {}), by.get("postgresql", {})

    def target(name: str, value: float | None, op: str, bound: float, note: str) -> dict[str, Any]:
        met = None if value is None else (value >= bound if op == ">=" else value <= bound)
        return {"target": name, "value": None if value is None else round(value, 3), "op": op, "bound": bound,
                "met": met, "note": note}

    ten = sqlite.get(10, {}).get("http") or {}
    ratios = [lvl.get("throughput_ratio_http_over_direct") for lvl in sqlite.values()]
    fifty = sqlite.get(50, {}).get("http") or {}
    top = max(pg) if pg else None
    pg_ratio = pg[top].get("throughput_ratio_2_over_1_process") if top is not None else None
    return [
        target("sqlite submissions/s at 10 clients", ten.get("per_second"), ">=", 5 * BEFORE_SQLITE_10_CLIENTS,
               f"5x the {BEFORE_SQLITE_10_CLIENTS:.0f}/s of the code before issue 16"),
        target("sqlite HTTP/in-process req/s (lowest level)",
               min(x for x in ratios if x is not None) if any(x is not None for x in ratios) else None, ">=", 0.5,
               "HTTP within 2x of the in-process baseline of the same run, at every level"),
        target("sqlite p99 ms at 50 clients", fifty.get("p99_ms"), "<=", 150.0, ""),
        target(f"postgresql 2 processes / 1 process req/s at {top} clients", pg_ratio, ">=", 1.6,
               "spinetrack serve --workers 2 against one process, same run"),
    ]


def machine_info() -> dict[str, Any]:
    cpu_model = platform.processor()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            cpu_model = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), cpu_model)
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                                check=False).stdout.strip() or None
    except OSError:
        commit = None
    return {"python": platform.python_version(), "platform": platform.platform(), "cpu_model": cpu_model,
            "cpus": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "git_commit": commit}


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backends", nargs="+", choices=("sqlite", "postgresql"), default=["sqlite", "postgresql"])
    ap.add_argument("--levels", type=int, nargs="+", default=[1, 10, 50], help="concurrent clients")
    ap.add_argument("--max-requests", type=int, default=400, help="cap per level (each of HTTP and in-process)")
    ap.add_argument("--max-seconds", type=float, default=30.0, help="time cap per level")
    ap.add_argument("--patients", type=int, default=200, help="demo cohort size")
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--instruments", nargs="+", default=["odi", "nrs_back", "nrs_leg", "eq5d5l"])
    ap.add_argument("--replay-share", type=float, default=0.05,
                    help="share of submissions sent twice with the same Idempotency-Key (checked: same answer, "
                         "one stored row); the replays take time in the level but are not counted as submissions")
    ap.add_argument("--via", choices=("auto", "patient", "clinician", "probe"), default="auto")
    ap.add_argument("--pg-url", default=os.environ.get("SPINETRACK_TEST_PG"),
                    help="an existing PostgreSQL server (default: start a throw-away cluster)")
    ap.add_argument("--pg-workers", type=int, nargs="+", default=[1, 2],
                    help="server processes to measure on PostgreSQL (spinetrack serve --workers N)")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "web_load.json")
    args = ap.parse_args(argv)
    if 1 not in args.pg_workers:
        args.pg_workers = [1, *args.pg_workers]  # the ratios are against one process
    if any(c < 1 for c in args.levels) or args.max_requests < 1 or args.max_seconds <= 0 or min(args.pg_workers) < 1:
        ap.error("levels, --max-requests and --max-seconds must be positive")
    results = []
    started = time.perf_counter()
    started_utc = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="spinetrack-webload-") as tmp:
        for backend in args.backends:
            with backend_database(backend, Path(tmp), args.pg_url) as (url, workdir):
                results.append(bench_backend(backend, url, args, workdir))
    console.print(_table(results))
    targets = evaluate_targets(results)
    tt = Table(title="issue 16 targets")
    for col in ("target", "value", "bound", "met"):
        tt.add_column(col, justify="left" if col == "target" else "right")
    for x in targets:
        tt.add_row(x["target"], "—" if x["value"] is None else f"{x['value']:.2f}", f"{x['op']} {x['bound']:g}",
                   {True: "[green]yes[/green]", False: "[red]no[/red]", None: "not measured"}[x["met"]])
    console.print(tt)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "benchmark": "spinetrack web load (PROM submissions on loopback)",
        "date": dt.date.today().isoformat(),
        "started_utc": started_utc,
        "machine": {**machine_info(),
                    # other work on the machine skews every number: the 1-minute load average
                    "load_average_1m_before": round(load_before[0], 2),
                    "load_average_1m_after": round(os.getloadavg()[0], 2)},
        "config": {"levels": args.levels, "max_requests_per_level": args.max_requests,
                   "max_seconds_per_level": args.max_seconds, "demo_patients": args.patients, "seed": args.seed,
                   "instruments": args.instruments, "via": args.via, "replay_share": args.replay_share,
                   "server": "spinetrack serve: 1 uvicorn process; on PostgreSQL also --workers N "
                             f"(N in {sorted(set(args.pg_workers))})",
                   "client": "a minimal HTTP/1.1 keep-alive client per client (asyncio streams), one process",
                   "baseline": "the same calls in-process through Access.submit / Store (a thread per client)"},
        "targets": targets,
        "wall_seconds": round(time.perf_counter() - started, 1),
        "results": results}, indent=2) + "\n")
    console.print(f"written {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    runs = [x for r in results for lvl in r["levels"]
            for x in (lvl.get("http"), lvl.get("direct"), *(lvl.get(f"http_{w}_processes")
                                                           for w in r.get("server_processes", []) if w != 1))
            if x is not None]
    bad = [x["clients"] for x in runs if x["errors"] or x["replay_failures"]
           or (x.get("stored_rows") is not None and x["stored_rows"] != x["ok"])]
    if bad:
        console.print(f"[red]errors or stored-row mismatches at {bad} clients[/red]")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
