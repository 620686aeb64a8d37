"""Load test of the web app on loopback: PROM submissions per second and p50/p99 latency at 1, 10
and 50 concurrent clients, on SQLite and on PostgreSQL.

For each backend: a fresh database (an SQLite file; a PostgreSQL cluster started like the tests
do, tests/conftest.py ``_PgServer``, or ``--pg-url``) with a small demo cohort and the demo logins
(``spinetrack demo``); then, before the server starts, one fresh patient per visit at DEMO-N with a
baseline invitation for ``--instruments`` (made directly with :class:`Access`). Then
``spinetrack serve`` (one uvicorn process) on 127.0.0.1; every invitation is opened over HTTP
(``GET /p/<token>`` → the ``st_patient`` cookie) and each client submits its own visits'
questionnaires, one request after the other, with an ``Idempotency-Key`` and the session's
``X-CSRF-Token``. Every level stops at ``--max-requests`` requests or ``--max-seconds``,
whichever comes first. After each level the stored rows are counted: exactly one per accepted
submission (no duplicates, none lost).

The baseline, "the usual way" without a web server: the same submissions made in-process through
the store (``Access.submit``, a thread per client) on the same database once the server has
stopped, so the ratio is the cost of HTTP, the web framework and the session checks.

The submission endpoint is found in ``/openapi.json`` (``--via auto``): the patient-session API
(a POST under ``/api/v1/visit`` whose path names responses), else the clinician API
(``POST /api/v1/episodes/{id}/responses``, each client its own north.clinician session), else
only a probe of the HTTP stack (``GET /api/v1/auth/me``, not a PROM submission; reported as such).

    .venv/bin/python bench/bench_web_load.py                        # both backends, 1/10/50 clients
    .venv/bin/python bench/bench_web_load.py --backends sqlite --levels 1 10 --max-requests 100

Prints a table and writes ``bench/results/web_load.json``. The load generator runs in this one
Python process (asyncio + httpx), on the same two cores as the server: at 50 clients the client
can be a bottleneck too; the CPU seconds of server and client are reported for each level.
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
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
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
            eid = store.add_episode(actor, pid, {"diagnosis_code": "M51.16", "levels": "L4-L5", "enrolled_on": enrolled,
                                                 "treatment": "mis", "treatment_family": "discectomy"})
            inv, token = access.create_invitation(actor, eid, timepoint="baseline", instrument_codes=list(instrument_codes))
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
    """``spinetrack serve`` (one uvicorn process) on 127.0.0.1 and a free port."""

    def __init__(self, url: str, workdir: Path) -> None:
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"serve-{self.port}.log"
        env = {**os.environ, "SPINETRACK_DATABASE_URL": url, "SPINETRACK_ENV": "development"}
        with self.log_path.open("wb") as log:
            # uvicorn's access log is left on: it is part of what a default deployment pays.
            self.proc = subprocess.Popen([sys.executable, "-m", "spinetrack.cli", "serve", "--host", "127.0.0.1",
                                          "--port", str(self.port)], env=env, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if httpx.get(self.base_url + "/healthz", timeout=2).status_code == 200:
                    self.ps = psutil.Process(self.proc.pid)
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"spinetrack serve did not start:\n{self.log_path.read_text(errors='replace')[-3000:]}")

    def cpu_seconds(self) -> float:
        t = self.ps.cpu_times()
        return float(t.user + t.system)

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
                "seconds": round(self.seconds, 4), "per_second": round(self.ok / self.seconds, 2) if self.seconds else None,
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


async def _run_http(base_url: str, ep: Endpoint, per_client: list[list[Item]], max_requests: int,
                    max_seconds: float) -> LevelResult:
    res = LevelResult(clients=len(per_client))
    budget = [max_requests]
    deadline = time.perf_counter() + max_seconds

    async def one_client(items: list[Item]) -> None:
        # Its own connection and no shared cookie jar: the session travels in the Cookie header.
        jar = http.cookiejar.CookieJar(policy=http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        async with httpx.AsyncClient(base_url=base_url, timeout=60, cookies=jar) as client:
            for item in items:
                if budget[0] <= 0 or time.perf_counter() >= deadline:
                    return
                budget[0] -= 1
                t0 = time.perf_counter()
                try:
                    r = await client.request(ep.method, item.path, json=item.body, headers=item.headers)
                    status, text = r.status_code, r.text
                except httpx.HTTPError as exc:
                    status, text = 0, repr(exc)
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
                        again = await client.request(ep.method, item.path, json=item.body, headers=item.headers)
                        same = again.status_code in (200, 201) and _rid(again.text) == _rid(text)
                    except httpx.HTTPError:
                        same = False
                    res.replays += 1
                    if not same:
                        res.replay_failures += 1
                        if len(res.error_samples) < 5:
                            res.error_samples.append(f"replay of {item.key} differed")

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
            except Exception as exc:  # noqa: BLE001 (reported, counted)
                ok, err = False, f"{type(exc).__name__}: {exc}"
            ms = (time.perf_counter() - t0) * 1000
            if ok and item.replay:
                try:
                    same = item.call() == rid
                except Exception:  # noqa: BLE001
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


def bench_backend(backend: str, url: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    from spinetrack.store.access import Access
    from spinetrack.store.repositories import Store
    from spinetrack.store.session import make_engine
    from spinetrack.synth.demo_access import DEMO_PASSWORD

    codes = list(args.instruments)
    k = len(codes)
    rng = random.Random(args.seed)
    per_level = {c: math.ceil(args.max_requests / k) + c for c in args.levels}
    n_visits = 1 + 2 * sum(per_level.values())  # warm-up, then HTTP and direct for every level
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
    warm, pool = visits[:1], visits[1:]
    http_visits: dict[int, list[Visit]] = {}
    direct_visits: dict[int, list[Visit]] = {}
    for c in args.levels:
        http_visits[c], pool = pool[:per_level[c]], pool[per_level[c]:]
        direct_visits[c], pool = pool[:per_level[c]], pool[per_level[c]:]
    out: dict[str, Any] = {"backend": backend, "levels": [], "notes": []}
    server = Server(url, workdir)
    try:
        ep, notes = discover(server.base_url, args.via)
        out["endpoint"] = {"mode": ep.mode, "method": ep.method, "path": ep.path}
        out["notes"] += notes
        for n in notes:
            console.print(f"[yellow]{backend}: {n}[/yellow]")
        sessions: list[tuple[str, Any]] = []
        if ep.mode in ("clinician", "probe"):
            with console.status(f"{backend}: {max(args.levels)} clinician sign-ins"):
                sessions = [access.login(CLINICIAN, DEMO_PASSWORD, client="bench") for _ in range(max(args.levels))]
        with console.status(f"{backend}: opening the patient sessions"):
            all_http = warm + [v for c in args.levels for v in http_visits[c]]
            if ep.mode == "patient":
                counts = open_sessions_http(server.base_url, all_http, access)
                out["patient_sessions"] = {"total": len(all_http), **counts}
                if counts["opened_over_http"] < len(all_http) or counts["csrf_over_http"] < len(all_http):
                    out["notes"].append(f"of {len(all_http)} patient sessions, {counts['opened_over_http']} opened "
                                        f"over HTTP (GET /p/<token>), {counts['csrf_over_http']} got their CSRF token "
                                        "over HTTP (GET /api/v1/visit); the rest in-process")

        def items_for(vs: list[list[Visit]], prefix: str, c: int) -> list[list[Item]]:
            return [build_items(ep, group, codes, rng, prefix, access, store, sessions[i:i + 1] or sessions,
                                probe_count=math.ceil(args.max_requests / c) + 1, replay_share=args.replay_share)
                    for i, group in enumerate(vs)]

        # Warm-up (not measured): first requests pay for imports, caches and connections.
        asyncio.run(_run_http(server.base_url, ep, items_for([warm], f"bench-{backend}-warm", 1), 2 * k, 30))
        for c in args.levels:
            prefix = f"bench-{backend}-http-{c}"
            per_client = items_for(_split(http_visits[c], c), prefix, c)
            s0 = server.cpu_seconds()
            with console.status(f"{backend}: {c} concurrent clients over HTTP"):
                res = asyncio.run(_run_http(server.base_url, ep, per_client, args.max_requests, args.max_seconds))
            res.server_cpu_s = server.cpu_seconds() - s0
            if ep.is_submission:
                res.stored_rows = count_rows(url, http_visits[c])
            out["levels"].append({"clients": c, "http": res.summary()})
            s = res.summary()
            console.print(f"{backend} HTTP {c:>2} clients: {s['ok']}/{s['requests']} ok, {s['per_second']}/s, "
                          f"p50 {s['p50_ms']} ms, p99 {s['p99_ms']} ms"
                          + (f", stored {res.stored_rows}" if res.stored_rows is not None else "")
                          + (f", replays {res.replays} ({res.replay_failures} differed)" if res.replays else ""))
            for e in res.error_samples[:2]:
                console.print(f"[red]  {e}[/red]")
    finally:
        server.stop()
    # The usual way, in-process, on the same database once the server has stopped.
    if ep.mode == "patient":
        with console.status(f"{backend}: opening the sessions for the in-process runs"):
            for c in args.levels:
                for v in direct_visits[c]:
                    v.session, v.view = access.open_invitation(v.token)
    for entry, c in zip(out["levels"], args.levels, strict=True):
        prefix = f"bench-{backend}-direct-{c}"
        per_client = items_for(_split(direct_visits[c], c), prefix, c)
        with console.status(f"{backend}: {c} concurrent clients in-process (store)"):
            res = run_direct(per_client, args.max_requests, args.max_seconds)
        if ep.is_submission:
            res.stored_rows = count_rows(url, direct_visits[c])
        entry["direct"] = d = res.summary()
        h = entry["http"]
        entry["throughput_ratio_http_over_direct"] = (round(h["per_second"] / d["per_second"], 3)
                                                      if h["per_second"] and d["per_second"] else None)
        entry["p50_ratio_http_over_direct"] = (round(h["p50_ms"] / d["p50_ms"], 3)
                                               if h["p50_ms"] and d["p50_ms"] else None)
        console.print(f"{backend} direct {c:>2} clients: {d['ok']}/{d['requests']} ok, {d['per_second']}/s, "
                      f"p50 {d['p50_ms']} ms, p99 {d['p99_ms']} ms"
                      + (f", stored {res.stored_rows}" if res.stored_rows is not None else "")
                      + (f", replays {res.replays} ({res.replay_failures} differed)" if res.replays else ""))
    engine.dispose()
    return out


# ------------------------------------------------------------------------------ main


def _table(results: list[dict[str, Any]]) -> Table:
    t = Table(title="spinetrack web load on loopback: PROM submissions over HTTP (one uvicorn process) vs the same "
                    "calls in-process through the store")
    for col in ("backend", "endpoint", "clients", "ok/req", "req/s", "p50 ms", "p99 ms", "server CPU s",
                "in-process req/s", "in-process p50 ms", "in-process p99 ms", "HTTP/in-process req/s",
                "HTTP/in-process p50"):
        t.add_column(col, justify="right" if col not in ("backend", "endpoint") else "left")

    def f(v: Any, spec: str = ".1f") -> str:
        return "—" if v is None else format(v, spec)

    for r in results:
        for lvl in r["levels"]:
            h, d = lvl["http"], lvl.get("direct", {})
            t.add_row(r["backend"], r["endpoint"]["mode"], str(lvl["clients"]), f"{h['ok']}/{h['requests']}",
                      f(h["per_second"]), f(h["p50_ms"], ".2f"), f(h["p99_ms"], ".2f"), f(h["server_cpu_s"], ".2f"),
                      f(d.get("per_second")), f(d.get("p50_ms"), ".2f"), f(d.get("p99_ms"), ".2f"),
                      f(lvl.get("throughput_ratio_http_over_direct"), ".2f"),
                      f(lvl.get("p50_ratio_http_over_direct"), ".2f"))
    return t


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
    ap.add_argument("--out", type=Path, default=HERE / "results" / "web_load.json")
    args = ap.parse_args(argv)
    if any(c < 1 for c in args.levels) or args.max_requests < 1 or args.max_seconds <= 0:
        ap.error("levels, --max-requests and --max-seconds must be positive")
    results = []
    started = time.perf_counter()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="spinetrack-webload-") as tmp:
        for backend in args.backends:
            workdir = Path(tmp) / backend
            workdir.mkdir()
            if backend == "sqlite":
                results.append(bench_backend(backend, f"sqlite:///{workdir / 'bench.db'}", args, workdir))
            else:
                pg = PgDatabase(args.pg_url)
                try:
                    results.append(bench_backend(backend, pg.url, args, workdir))
                finally:
                    pg.close()
    console.print(_table(results))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "benchmark": "spinetrack web load (PROM submissions on loopback)",
        "date": dt.date.today().isoformat(),
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "cpus": os.cpu_count(),
                    # other work on the machine skews every number: the 1-minute load average
                    "load_average_1m_before": round(load_before[0], 2),
                    "load_average_1m_after": round(os.getloadavg()[0], 2)},
        "config": {"levels": args.levels, "max_requests_per_level": args.max_requests,
                   "max_seconds_per_level": args.max_seconds, "demo_patients": args.patients, "seed": args.seed,
                   "instruments": args.instruments, "via": args.via, "replay_share": args.replay_share, "server": "spinetrack serve (1 uvicorn process)",
                   "client": "httpx.AsyncClient per client, one process (asyncio)",
                   "baseline": "the same calls in-process through Access.submit / Store (a thread per client)"},
        "wall_seconds": round(time.perf_counter() - started, 1),
        "results": results}, indent=2) + "\n")
    console.print(f"written {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    bad = [(r["backend"], lvl["clients"]) for r in results for lvl in r["levels"]
           if lvl["http"]["errors"] or lvl.get("direct", {}).get("errors") or lvl["http"]["replay_failures"]
           or lvl.get("direct", {}).get("replay_failures")
           or any(x.get("stored_rows") is not None and x["stored_rows"] != x["ok"]
                  for x in (lvl["http"], lvl.get("direct", {})))]
    if bad:
        console.print(f"[red]errors or stored-row mismatches at {bad}[/red]")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
