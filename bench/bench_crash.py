"""Crash test of the web app: ``kill -9`` of the server under load, 10 times per backend (SQLite
and PostgreSQL), and what the durability setting of SQLite costs.

For each backend, the same set-up as bench/bench_web_load.py (its helpers are imported, not
copied): a fresh database (an SQLite file; a throw-away PostgreSQL cluster as the tests start it,
or ``--pg-url``) with a small demo cohort, fresh patients at DEMO-N with a baseline invitation each,
every invitation opened over HTTP, ``spinetrack serve`` on 127.0.0.1. Then ``--rounds`` times:

1. ``--clients`` patients' phones submit their questionnaires concurrently (each request with its
   own ``Idempotency-Key``); once a random number of them (seeded, 20-120) have been answered,
   and 0-50 ms later, the server process is killed with SIGKILL while requests are in flight;
2. the server is started again and every request that got no answer (un-acknowledged) is sent
   again with the same idempotency key, as a phone retries;
3. the round's PROM rows are counted: **lost** = acknowledged (first time or on retry) but not
   stored, **duplicated** = one questionnaire of one visit stored more than once (the requests
   that were committed although their answer never came back, counted before the retry, are
   the ones a retry could store twice); and the audit chain is verified
   (:func:`spinetrack.store.audit.verify_chain`). At the end ``spinetrack audit verify --json``
   checks the whole chain once more, and SQLite gets ``PRAGMA integrity_check``.

The target is 0 lost, 0 duplicated and an intact chain on both backends. kill -9 tests a crash of
the application process; a power cut or kernel crash (what ``synchronous=FULL`` protects against
on SQLite) cannot be simulated here. Its price is measured instead, in the same run: single-PROM
transactions per second through the store, one after the other, with ``synchronous=NORMAL`` and
with ``FULL`` (alternating, ``--sync-repeats`` times each, median reported), and the bare SQLite
commit rate of each setting (the fsync floor of this disk).

    .venv/bin/python bench/bench_crash.py                          # both backends, 10 kills each
    .venv/bin/python bench/bench_crash.py --backends sqlite --rounds 3

Prints Rich tables and writes ``bench/results/crash.json``; exit code 1 when the target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import http.cookiejar
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
from rich.table import Table

from bench_web_load import (
    CLINICIAN,
    HERE,
    ROOT,
    Item,
    Server,
    Visit,
    _rid,
    _split,
    backend_database,
    build_items,
    console,
    discover,
    load_demo,
    machine_info,
    make_visits,
    open_sessions_http,
)

INSTRUMENTS = ("odi", "nrs_back", "nrs_leg", "eq5d5l")


# ------------------------------------------------------------------------------ one round


@dataclass
class Sent:
    """One submission: its request, the visit it belongs to, and what came back."""

    item: Item
    visit: Visit
    instrument: str
    tried: bool = False          # sent before the kill
    status: int | None = None    # HTTP status of the first attempt (None: no answer, the server died)
    rid: Any = None              # the stored response's id in the answer
    retry_status: int | None = None
    retry_error: str | None = None

    @property
    def acked(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def acked_on_retry(self) -> bool:
        return self.retry_status is not None and 200 <= self.retry_status < 300


@dataclass
class RoundResult:
    kill_at_acked: int             # the kill comes once this many answers have come back ...
    kill_delay_s: float            # ... and this much later
    kill_after_s: float = 0.0      # seconds from the start of the load to the kill
    sent: int = 0
    acked: int = 0
    refused: int = 0               # a 4xx/5xx answer before the kill (an error in the load itself)
    unacked: int = 0
    stored_before_retry: int = 0   # un-acknowledged but committed: the retry must not store it twice
    retried_ok: int = 0
    retry_failed: int = 0
    lost: int = 0
    duplicated: int = 0
    chain_ok: bool = False
    chain_rows: int = 0
    chain_bad: int = 0
    samples: list[str] = field(default_factory=list)


def _kill_tree(server: Server) -> None:
    """SIGKILL the server and any process it started (``--workers``), all at once."""
    try:
        procs = [psutil.Process(server.proc.pid), *psutil.Process(server.proc.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        procs = []
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    server.proc.wait(timeout=15)
    psutil.wait_procs(procs, timeout=15)


def _client(base_url: str) -> httpx.AsyncClient:
    # no cookie jar of its own: each request carries its visit's session in the Cookie header
    jar = http.cookiejar.CookieJar(policy=http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    return httpx.AsyncClient(base_url=base_url, timeout=20, cookies=jar)


async def _send(client: httpx.AsyncClient, method: str, s: Sent) -> tuple[int, str]:
    r = await client.request(method, s.item.path, json=s.item.body, headers=s.item.headers)
    return r.status_code, r.text


async def _load_then_kill(server: Server, method: str, per_client: list[list[Sent]], res: RoundResult,
                          max_seconds: float) -> None:
    """The phones submit until ``res.kill_at_acked`` answers have come back (or ``max_seconds``
    have passed), then, ``res.kill_delay_s`` later with requests in flight, the server is killed."""
    killed = asyncio.Event()
    reached = asyncio.Event()
    acked = [0]

    async def phone(queue: list[Sent]) -> None:
        async with _client(server.base_url) as client:
            for s in queue:
                if killed.is_set():
                    return
                res.sent += 1
                s.tried = True
                try:
                    status, text = await _send(client, method, s)
                except httpx.TransportError:
                    return  # no answer: the server died under this request
                s.status, s.rid = status, _rid(text)
                if s.acked:
                    acked[0] += 1
                    if acked[0] >= res.kill_at_acked:
                        reached.set()
                elif len(res.samples) < 5:
                    res.samples.append(f"{status} {s.item.path}: {text[:200]}")

    async def killer() -> None:
        t0 = time.perf_counter()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(reached.wait(), timeout=max_seconds)
        await asyncio.sleep(res.kill_delay_s)
        killed.set()
        _kill_tree(server)
        res.kill_after_s = round(time.perf_counter() - t0, 2)

    await asyncio.gather(killer(), *(phone(q) for q in per_client))


async def _retry(base_url: str, method: str, pending: list[Sent], attempts: int = 3) -> None:
    async with _client(base_url) as client:
        for s in pending:
            for _ in range(attempts):
                try:
                    status, text = await _send(client, method, s)
                except httpx.TransportError as exc:
                    s.retry_error = repr(exc)
                    await asyncio.sleep(0.5)
                    continue
                s.retry_status, s.rid = status, _rid(text) if 200 <= status < 300 else s.rid
                s.retry_error = None if 200 <= status < 300 else f"{status}: {text[:200]}"
                break


def _stored(url: str, sent: list[Sent]) -> tuple[set[int], Counter[tuple[int, str]]]:
    """The ids of the PROM rows of these submissions' episodes, and the rows per questionnaire."""
    from sqlalchemy import select

    from spinetrack.store.session import make_engine, read_only
    from spinetrack.store.tables import PromResponseRow

    engine = make_engine(url)
    try:
        with read_only(engine).connect() as c:
            rows = c.execute(select(PromResponseRow.id, PromResponseRow.episode_id, PromResponseRow.instrument)
                             .where(PromResponseRow.episode_id.in_(sorted({s.visit.episode_id for s in sent})))).all()
    finally:
        engine.dispose()
    return {r.id for r in rows}, Counter((r.episode_id, r.instrument) for r in rows)


def _check(url: str, sent: list[Sent], res: RoundResult) -> None:
    """Count lost and duplicated submissions of this round, and verify the audit chain."""
    from sqlalchemy.orm import Session

    from spinetrack.store import audit
    from spinetrack.store.session import make_engine, read_only

    ids, per_questionnaire = _stored(url, sent)
    res.duplicated = sum(n - 1 for n in per_questionnaire.values() if n > 1)
    for s in sent:
        if s.acked or s.acked_on_retry:
            stored = s.rid in ids if s.rid is not None else per_questionnaire[(s.visit.episode_id, s.instrument)] > 0
            res.lost += 0 if stored else 1
    engine = make_engine(url)
    try:
        with Session(read_only(engine)) as session, session.begin():
            chain = audit.verify_chain(session)
    finally:
        engine.dispose()
    res.chain_ok, res.chain_rows, res.chain_bad = chain.ok, chain.n_rows, chain.n_bad
    res.samples += [f"audit row {bad.id}: {bad.reason}" for bad in chain.bad_rows[:3]]


def _cli_verify(url: str) -> dict[str, Any]:
    """``spinetrack audit verify --json`` on the database, as an operator would run it."""
    proc = subprocess.run([sys.executable, "-m", "spinetrack.cli", "audit", "verify", "--json", "--database-url", url],
                          capture_output=True, text=True, check=False)
    try:
        doc = json.loads(proc.stdout)
    except ValueError:
        doc = {"ok": False, "error": (proc.stdout + proc.stderr)[-500:]}
    return {"exit_code": proc.returncode, **doc}


def _sqlite_integrity(url: str) -> str:
    with sqlite3.connect(url.removeprefix("sqlite:///")) as c:
        return str(c.execute("PRAGMA integrity_check").fetchone()[0])


# ------------------------------------------------------------------------------ one backend


def crash_backend(backend: str, url: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    from spinetrack.store.access import Access
    from spinetrack.store.repositories import Store
    from spinetrack.store.session import make_engine
    from spinetrack.synth.demo_access import DEMO_PASSWORD

    rng = random.Random(args.seed)
    codes = list(args.instruments)
    n_visits = args.rounds * args.visits_per_round
    t0 = time.perf_counter()
    with console.status(f"{backend}: demo cohort, logins and {n_visits} invited patients"):
        load_demo(url, args.patients, args.seed)
        visits = make_visits(url, n_visits, codes)
    console.print(f"{backend}: database ready in {time.perf_counter() - t0:.1f} s")
    engine = make_engine(url)
    store = Store(engine)
    access = Access(store)
    rounds: list[RoundResult] = []
    server = Server(url, workdir)
    try:
        ep, notes = discover(server.base_url, "auto")
        if not ep.is_submission:
            raise RuntimeError("no PROM submission endpoint in /openapi.json: " + "; ".join(notes))
        sessions = ([access.login(CLINICIAN, DEMO_PASSWORD, client="bench")] if ep.mode == "clinician" else [])
        with console.status(f"{backend}: opening {n_visits} patient sessions over HTTP"):
            if ep.mode == "patient":
                open_sessions_http(server.base_url, visits, access)
        for k in range(args.rounds):
            batch = visits[k * args.visits_per_round:(k + 1) * args.visits_per_round]
            per_client: list[list[Sent]] = []
            for i, group in enumerate(_split(batch, args.clients)):
                items = build_items(ep, group, codes, rng, f"crash-{backend}-{k}-{i}", access, store, sessions)
                per_client.append([Sent(item, v, code) for item, (v, code) in
                                   zip(items, [(v, c) for v in group for c in codes], strict=True)])
            res = RoundResult(kill_at_acked=rng.randint(*args.kill_at_acked),
                              kill_delay_s=round(rng.uniform(0.0, 0.05), 3))
            with console.status(f"{backend} round {k + 1}: {args.clients} phones, kill -9 after "
                                f"{res.kill_at_acked} answers"):
                asyncio.run(_load_then_kill(server, ep.method, per_client, res, args.round_seconds))
            sent = [s for q in per_client for s in q]
            res.acked = sum(s.acked for s in sent)
            res.refused = sum(s.status is not None and not s.acked for s in sent)
            pending = [s for s in sent if s.tried and s.status is None]
            res.unacked = len(pending)
            _, before_retry = _stored(url, pending)
            res.stored_before_retry = sum(before_retry[(s.visit.episode_id, s.instrument)] > 0 for s in pending)
            server = Server(url, workdir)  # restart: SQLite recovers its WAL, PostgreSQL rolled back
            asyncio.run(_retry(server.base_url, ep.method, pending))
            res.retried_ok = sum(s.acked_on_retry for s in pending)
            res.retry_failed = res.unacked - res.retried_ok
            res.samples += [f"retry of {s.item.key}: {s.retry_error}" for s in pending if s.retry_error][:3]
            _check(url, sent, res)
            rounds.append(res)
            console.print(f"{backend} round {k + 1:>2}: killed after {res.kill_after_s} s, sent {res.sent}, "
                          f"acked {res.acked}, unacked {res.unacked} ({res.stored_before_retry} already stored; "
                          f"retried ok {res.retried_ok}), "
                          f"lost {res.lost}, duplicated {res.duplicated}, "
                          f"chain {'ok' if res.chain_ok else f'BROKEN ({res.chain_bad} bad)'} ({res.chain_rows} rows)")
            for line in res.samples[:3]:
                console.print(f"[red]  {line}[/red]")
    finally:
        server.stop()
        engine.dispose()
    out: dict[str, Any] = {
        "backend": backend, "endpoint": {"mode": ep.mode, "method": ep.method, "path": ep.path},
        "rounds": [vars(r) for r in rounds],
        "totals": {k: sum(getattr(r, k) for r in rounds) for k in
                   ("sent", "acked", "refused", "unacked", "stored_before_retry", "retried_ok", "retry_failed", "lost",
                    "duplicated")},
        "chain_ok": all(r.chain_ok for r in rounds), "chain_rows": rounds[-1].chain_rows if rounds else 0,
        "cli_verify": _cli_verify(url)}
    if backend == "sqlite":
        out["integrity_check"] = _sqlite_integrity(url)
    return out


# ------------------------------------------------------------------------------ the price of FULL


def _store_rate(url: str, synchronous: str, n: int) -> float:
    """Single-PROM transactions per second through the store, one after the other."""
    from spinetrack.store.migrate import upgrade
    from spinetrack.store.repositories import SYSTEM, Actor, Store
    from spinetrack.store.session import make_engine

    engine = make_engine(url, sqlite_synchronous=synchronous)
    try:
        upgrade(engine)
        store = Store(engine)
        site = store.add_site(SYSTEM, code="SYNC", name="Sync")
        actor = Actor("bench", "clinician", site)
        pid = store.add_patient(actor, site, {"birth_year": 1970, "sex": "female"})
        episodes = [store.add_episode(actor, pid, {"diagnosis_code": "M51.16", "levels": "L4-L5",
                                                   "enrolled_on": "2024-01-01"}) for _ in range(n)]
        t0 = time.perf_counter()
        for eid in episodes:
            store.submit_response(actor, eid, {"instrument": "nrs_back", "timepoint": "baseline",
                                               "collected_on": "2024-01-02", "answers": {"pain": 5}})
        return n / (time.perf_counter() - t0)
    finally:
        engine.dispose()


def _commit_rate(path: Path, synchronous: str, n: int) -> float:
    """Bare SQLite: one 200-byte row per BEGIN IMMEDIATE ... COMMIT, WAL, the given sync level."""
    c = sqlite3.connect(path, isolation_level=None)
    try:
        c.execute("PRAGMA journal_mode=WAL")
        c.execute(f"PRAGMA synchronous={synchronous}")
        c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        t0 = time.perf_counter()
        for _ in range(n):
            c.execute("BEGIN IMMEDIATE")
            c.execute("INSERT INTO t (v) VALUES (?)", ("x" * 200,))
            c.execute("COMMIT")
        return n / (time.perf_counter() - t0)
    finally:
        c.close()


def measure_sync(workdir: Path, n: int, repeats: int) -> dict[str, Any]:
    """NORMAL and FULL alternately, ``repeats`` times each; medians (files on the same disk as
    the benchmark's working directory)."""
    store: dict[str, list[float]] = {"NORMAL": [], "FULL": []}
    bare: dict[str, list[float]] = {"NORMAL": [], "FULL": []}
    for rep in range(repeats):
        for mode in ("NORMAL", "FULL"):
            with console.status(f"synchronous={mode}: {n} single-PROM transactions (repeat {rep + 1})"):
                store[mode].append(_store_rate(f"sqlite:///{workdir / f'sync-{mode}-{rep}.db'}", mode, n))
                bare[mode].append(_commit_rate(workdir / f"bare-{mode}-{rep}.db", mode, 5 * n))
    med = {m: round(statistics.median(v), 1) for m, v in store.items()}
    med_bare = {m: round(statistics.median(v), 1) for m, v in bare.items()}
    return {"transactions": n, "repeats": repeats, "store_tx_per_s": med, "store_runs": store,
            "store_ms_per_tx": {m: round(1000 / v, 2) for m, v in med.items()},
            "full_over_normal": round(med["FULL"] / med["NORMAL"], 3),
            "bare_commits_per_s": med_bare, "bare_runs": bare}


# ------------------------------------------------------------------------------ main


def _tables(results: list[dict[str, Any]], sync: dict[str, Any] | None) -> list[Table]:
    t = Table(title="kill -9 of spinetrack serve under load, then restart and retry with the same Idempotency-Key")
    for col in ("backend", "kills", "sent", "acked", "unacked", "of which stored", "retried ok", "lost", "duplicated",
                "chain", "audit rows", "integrity"):
        t.add_column(col, justify="left" if col in ("backend", "chain", "integrity") else "right")
    for r in results:
        tot = r["totals"]
        chain = "intact" if r["chain_ok"] and r["cli_verify"].get("ok") else "BROKEN"
        t.add_row(r["backend"], str(len(r["rounds"])), str(tot["sent"]), str(tot["acked"]), str(tot["unacked"]),
                  str(tot["stored_before_retry"]), str(tot["retried_ok"]), str(tot["lost"]), str(tot["duplicated"]),
                  chain, str(r["cli_verify"].get("rows_checked", r["chain_rows"])), r.get("integrity_check", "—"))
    tables = [t]
    if sync is not None:
        s = Table(title=f"SQLite durability: {sync['transactions']} single-PROM transactions through the store, "
                        f"median of {sync['repeats']}")
        for col in ("synchronous", "transactions/s", "ms per transaction", "bare SQLite commits/s"):
            s.add_column(col, justify="left" if col == "synchronous" else "right")
        for mode in ("NORMAL", "FULL"):
            s.add_row(mode, f"{sync['store_tx_per_s'][mode]:.1f}", f"{sync['store_ms_per_tx'][mode]:.2f}",
                      f"{sync['bare_commits_per_s'][mode]:.0f}")
        tables.append(s)
    return tables


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backends", nargs="+", choices=("sqlite", "postgresql"), default=["sqlite", "postgresql"])
    ap.add_argument("--rounds", type=int, default=10, help="kills per backend")
    ap.add_argument("--clients", type=int, default=10, help="concurrent phones")
    ap.add_argument("--visits-per-round", type=int, default=60, help="fresh visits each round (4 submissions each)")
    ap.add_argument("--kill-at-acked", type=int, nargs=2, default=[20, 120], metavar=("LOW", "HIGH"),
                    help="each round's kill comes after a random number (seeded) of answered submissions")
    ap.add_argument("--round-seconds", type=float, default=10.0, help="the kill comes by then at the latest")
    ap.add_argument("--patients", type=int, default=50, help="demo cohort size")
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--instruments", nargs="+", default=list(INSTRUMENTS))
    ap.add_argument("--sync-transactions", type=int, default=200, help="0 skips the NORMAL/FULL measurement")
    ap.add_argument("--sync-repeats", type=int, default=3)
    ap.add_argument("--pg-url", default=os.environ.get("SPINETRACK_TEST_PG"),
                    help="an existing PostgreSQL server (default: start a throw-away cluster)")
    ap.add_argument("--workdir", type=Path, default=None,
                    help="where the SQLite files go (default: a temporary directory; keep it on a real disk, "
                         "not tmpfs, for the sync figures)")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "crash.json")
    args = ap.parse_args(argv)
    if args.rounds < 1 or args.clients < 1 or args.visits_per_round < args.clients:
        ap.error("--rounds and --clients must be positive, --visits-per-round at least --clients")
    if not 1 <= args.kill_at_acked[0] <= args.kill_at_acked[1] < args.visits_per_round * len(args.instruments):
        ap.error("--kill-at-acked LOW HIGH: 1 <= LOW <= HIGH < the submissions of a round")
    started = time.perf_counter()
    load_before = os.getloadavg()
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="spinetrack-crash-", dir=args.workdir) as tmp:
        sync = measure_sync(Path(tmp), args.sync_transactions, args.sync_repeats) if args.sync_transactions else None
        for backend in args.backends:
            with backend_database(backend, Path(tmp), args.pg_url) as (url, workdir):
                results.append(crash_backend(backend, url, args, workdir))
    for t in _tables(results, sync):
        console.print(t)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "benchmark": "spinetrack crash test (kill -9 under load) and the cost of SQLite synchronous=FULL",
        "date": dt.date.today().isoformat(),
        "machine": {**machine_info(), "load_average_1m_before": round(load_before[0], 2),
                    "load_average_1m_after": round(os.getloadavg()[0], 2)},
        "config": {"rounds": args.rounds, "clients": args.clients, "visits_per_round": args.visits_per_round,
                   "instruments": args.instruments, "demo_patients": args.patients, "seed": args.seed,
                   "kill": f"SIGKILL to spinetrack serve (and its children) 0-50 ms after a random "
                           f"{args.kill_at_acked[0]}-{args.kill_at_acked[1]} answered submissions "
                           f"(at most {args.round_seconds} s into the round)",
                   "retry": "every un-acknowledged request, same Idempotency-Key, up to 3 attempts"},
        "wall_seconds": round(time.perf_counter() - started, 1),
        "sync": sync, "results": results}, indent=2) + "\n")
    console.print(f"written {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    missed = [r["backend"] for r in results
              if r["totals"]["lost"] or r["totals"]["duplicated"] or not r["chain_ok"] or not r["cli_verify"].get("ok")
              or r["totals"]["retry_failed"]
              or r.get("integrity_check", "ok") != "ok"]
    if missed:
        console.print(f"[red]target missed on {missed}: lost, duplicated, failed retries or a broken chain[/red]")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
