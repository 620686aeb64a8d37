"""Benchmark of the follow-up scheduler and its outbox: one day's run on 100,000 episodes, the
batched sender against the usual way, and ``kill -9`` of ``spinetrack followup run`` mid-batch.

Every message goes to a real SMTP server (aiosmtpd) started here on 127.0.0.1, which counts what
it receives per recipient; the scheduler runs as the real command, ``spinetrack followup run
--json``, in a subprocess with ``SPINETRACK_SMTP_URL`` pointing at it. SQLite file databases
(the default backend, ``synchronous=FULL``).

1. **One day on 100,000 episodes.** Patients with one episode each: ``--spread`` with index dates
   spread over the last six years and the next two months (85 % with an e-mail address, 10 % a
   phone only, 5 % neither; 95 % agreed to contact), and ``--due`` whose 3-month window opens on
   the day. *Yesterday's* run (in-process, messages to a null channel: the backlog of a first
   run) schedules every visit; *today's* run is timed: it opens the visits whose window opens
   today and delivers their invitations to the SMTP server. Reported: visits scheduled per second
   (yesterday), invitations created per second and messages delivered per second (today), the
   whole day's run in seconds, and the command's peak resident memory (``ru_maxrss`` of the
   child). Targets: >= 200 messages/s and a day of 10,000 due messages in <= 60 s.
2. **Against the usual way** (``--naive``, 2,000 due messages): the same scheduler with one
   message per transaction (claim, then record: ``send_batch=1``), one message at a time
   (``send_workers=1``; the record of one still overlaps the sending of the next) and a new SMTP
   connection per message, which is how a job that loops over due rows usually sends; the batched way claims 25
   per transaction, sends on 6 kept connections and overlaps the database work with the sending.
   Ratio of messages per second.
3. **kill -9** (``--kills`` times, ``--crash-due`` due messages): ``spinetrack followup run`` is
   killed with SIGKILL once the server has received a random (seeded) 40-200 more messages;
   the rows it left ``sending`` are the messages in flight. A final clean run follows. Reported:
   due, delivered (distinct recipients), duplicated (received more than once: at-least-once
   allows at most the messages in flight at the kills) and never sent (must be 0).

    .venv/bin/python bench/bench_followup.py                 # the full run (about 5 minutes)
    .venv/bin/python bench/bench_followup.py --spread 20000 --due 2000 --kills 3

Prints Rich tables and writes ``bench/results/followup.json``; exit code 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import os
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, func, insert, select

from spinetrack import followup
from spinetrack.followup.channels import SmtpChannel
from spinetrack.followup.outbox import Sender
from spinetrack.store.migrate import upgrade
from spinetrack.store.repositories import Store
from spinetrack.store.session import make_engine
from spinetrack.store.tables import (
    EpisodeRow,
    FollowupRow,
    InvitationRow,
    OutboxRow,
    PatientIdentityRow,
    PatientRow,
    SiteRow,
)

HERE = Path(__file__).parent
ROOT = HERE.parent
SPINETRACK = [sys.executable, "-m", "spinetrack.cli"]
MAIL_FROM = "North Spine Clinic <followup@north.example.org>"
THREE_MONTHS_OPENS = 64  # domain.pathway TIMEPOINTS: the 3-month window opens on day 64
console = Console()


# ------------------------------------------------------------------------------------ SMTP sink

class Sink:
    """An aiosmtpd handler that counts what it receives, per recipient."""

    def __init__(self) -> None:
        self.by_rcpt: Counter[str] = Counter()
        self.total = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.by_rcpt[rcpt] += 1
            self.total += 1
        return "250 OK"

    def reset(self) -> None:
        with self.lock:
            self.by_rcpt.clear()
            self.total = 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_smtp() -> tuple[Controller, Sink, str]:
    sink = Sink()
    port = _free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    return controller, sink, f"smtp://127.0.0.1:{port}"


# ------------------------------------------------------------------------------------ cohort

def build_cohort(url: str, *, spread: int, due: int, today: dt.date, seed: int = 18) -> Engine:
    """A migrated database with one site and ``spread + due`` patients (module docstring)."""
    engine = make_engine(url)
    upgrade(engine)
    rng = random.Random(seed)
    created = dt.datetime.combine(today, dt.time(8))
    with engine.begin() as c:
        site = c.execute(insert(SiteRow.__table__).returning(SiteRow.id), [
            {"code": "DEMO-N", "name": "North Spine Clinic", "created_at": created,
             "contact_phone": "+447700900001", "contact_email": "followup@north.example.org"}]).scalar_one()
    total, chunk = spread + due, 10_000
    for lo in range(0, total, chunk):
        idx = range(lo, min(lo + chunk, total))
        index_dates = [today - dt.timedelta(days=THREE_MONTHS_OPENS) if i >= spread
                       else today - dt.timedelta(days=rng.randint(-60, 6 * 365)) for i in idx]
        kinds = [("email" if i >= spread else rng.choices(("email", "sms", "none"), (85, 10, 5))[0]) for i in idx]
        with engine.begin() as c:
            pids = c.execute(insert(PatientRow.__table__).returning(PatientRow.id, sort_by_parameter_order=True), [
                {"pseudo_id": f"B-{i}", "site_id": site, "birth_year": 1960, "sex": "female", "created_at": created}
                for i in idx]).scalars().all()
            c.execute(insert(PatientIdentityRow.__table__), [
                {"patient_id": pid, "site_id": site, "full_name": f"Patient {i}",
                 "email": f"p{i}@example.org" if k == "email" else None,
                 "phone": f"+44770090{i % 10000:04d}" if k == "sms" else None,
                 "channel": None, "contact_consent": i >= spread or rng.random() < 0.95, "updated_at": created}
                for pid, i, k in zip(pids, idx, kinds, strict=True)])
            c.execute(insert(EpisodeRow.__table__), [
                {"patient_id": pid, "diagnosis_code": "M51.16", "diagnosis_group": "disc_herniation",
                 "levels": "L4-L5", "n_levels": 1, "treatment": "open",
                 "enrolled_on": d - dt.timedelta(days=30), "index_date": d, "created_at": created}
                for pid, d in zip(pids, index_dates, strict=True)])
    return engine


class NullChannel:
    """Takes every message and does nothing (yesterday's backlog)."""

    name = "email"

    def send(self, msg: Any) -> None:
        pass


def _count(engine: Engine, stmt: Any) -> int:
    with engine.connect() as c:
        return int(c.execute(stmt).scalar_one())


def _env(db: Path, smtp_url: str, today: dt.date) -> dict[str, str]:
    env = {**os.environ, "SPINETRACK_DATABASE_URL": f"sqlite:///{db}", "SPINETRACK_SMTP_URL": smtp_url,
           "SPINETRACK_MAIL_FROM": MAIL_FROM, "SPINETRACK_TODAY": today.isoformat(),
           "SPINETRACK_PUBLIC_URL": "https://north.example.org"}
    env.pop("SPINETRACK_SMS_URL", None)
    return env


# ------------------------------------------------------------------------------------ 1. one day

def one_day(work: Path, smtp_url: str, sink: Sink, *, spread: int, due: int, today: dt.date) -> dict[str, Any]:
    db = work / "day.db"
    t0 = time.perf_counter()
    engine = build_cohort(f"sqlite:///{db}", spread=spread, due=due, today=today)
    build_s = time.perf_counter() - t0
    yesterday = dt.datetime.combine(today - dt.timedelta(days=1), dt.time(9))
    t0 = time.perf_counter()
    first = followup.run(Store(engine), now=yesterday, channels={"email": NullChannel()},  # type: ignore[dict-item]
                         link_base="https://north.example.org")
    first_s = time.perf_counter() - t0
    engine.dispose()
    sink.reset()
    t0 = time.perf_counter()
    proc = subprocess.run([*SPINETRACK, "followup", "run", "--json"], env=_env(db, smtp_url, today),
                          capture_output=True, text=True, cwd=ROOT, check=False)
    day_s = time.perf_counter() - t0
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if proc.returncode != 0:
        raise RuntimeError(f"followup run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    report = json.loads(proc.stdout)
    timings = report["timings"]
    return {
        "episodes": spread + due, "build_seconds": round(build_s, 1),
        "yesterday": {"seconds": round(first_s, 2), "followups_created": first.followups_created,
                      "followups_per_s": round(first.followups_created / max(first.timings["schedule"], 1e-9)),
                      "invitations_created": first.invitations_created,
                      "invitations_per_s": round(first.invitations_created / max(first.timings["open"], 1e-9)),
                      "messages": first.messages_sent, "timings": first.timings},
        "today": {"seconds": round(day_s, 2), "run_seconds": report["seconds"], "timings": timings,
                  "invitations_created": report["invitations_created"],
                  "invitations_per_s": round(report["invitations_created"] / max(timings["open"], 1e-9)),
                  "messages_due": report["messages_due"], "messages_sent": report["messages_sent"],
                  "messages_failed": report["messages_failed"], "delivered_to_server": sink.total,
                  "messages_per_s": round(sink.total / max(timings.get("send", 0), 1e-9)),
                  "peak_rss_mib": round(peak_mib, 1)},
    }


# ------------------------------------------------------------------------------------ 2. usual way

class OneConnectionPerMessage:
    """The SMTP channel without its batch connection: connect, send, quit for every message."""

    name = "email"

    def __init__(self, channel: SmtpChannel) -> None:
        self.channel = channel

    def clone(self) -> OneConnectionPerMessage:
        return OneConnectionPerMessage(copy.copy(self.channel))  # its own (never opened) SMTP channel

    def send(self, msg: Any) -> None:
        self.channel.send(msg)


def naive(work: Path, smtp_url: str, sink: Sink, *, due: int, today: dt.date) -> dict[str, Any]:
    """The same due messages sent the batched way and the usual way, each on its own copy."""
    src = work / "naive.db"
    build_cohort(f"sqlite:///{src}", spread=0, due=due, today=today).dispose()
    now = dt.datetime.combine(today, dt.time(9))
    out: dict[str, Any] = {"due": due}
    for way in ("batched", "usual"):
        db = work / f"naive-{way}.db"
        shutil.copyfile(src, db)
        engine = make_engine(f"sqlite:///{db}")
        store = Store(engine)
        smtp = SmtpChannel.from_url(smtp_url, MAIL_FROM)
        channel: Any = smtp if way == "batched" else OneConnectionPerMessage(smtp)
        sink.reset()
        report = followup.run(store, now=now, channels={"email": channel}, link_base="https://north.example.org",
                              send_batch=None if way == "batched" else 1, send_workers=None if way == "batched" else 1)
        engine.dispose()
        send_s = report.timings["send"]
        out[way] = {"messages": sink.total, "send_seconds": send_s,
                    "messages_per_s": round(sink.total / max(send_s, 1e-9), 1),
                    "transactions_per_message": round(2 / (Sender.BATCH if way == "batched" else 1), 3)}
    out["ratio"] = round(out["batched"]["messages_per_s"] / max(out["usual"]["messages_per_s"], 1e-9), 2)
    return out


# ------------------------------------------------------------------------------------ 3. kill -9

def crash(work: Path, smtp_url: str, sink: Sink, *, due: int, kills: int, today: dt.date, seed: int = 7,
          name: str = "crash.db") -> dict[str, Any]:
    """Kill ``spinetrack followup run`` ``kills`` times mid-batch, then run it clean (module docstring)."""
    db = work / name
    build_cohort(f"sqlite:///{db}", spread=0, due=due, today=today).dispose()
    engine = make_engine(f"sqlite:///{db}")
    env = _env(db, smtp_url, today)
    rng = random.Random(seed)
    sink.reset()
    rounds = []
    for k in range(kills):
        target = sink.total + rng.randint(40, 200)
        proc = subprocess.Popen([*SPINETRACK, "followup", "run", "--json"], env=env, cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while sink.total < target and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        finished = proc.poll() is not None
        if not finished:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        if proc.stderr:
            proc.stderr.close()
        in_flight = _count(engine, select(func.count()).select_from(OutboxRow).where(
            OutboxRow.status == "sending", OutboxRow.claimed_by.like(f"%:{proc.pid}:%")))
        rounds.append({"round": k + 1, "killed": not finished, "received_so_far": sink.total,
                       "in_flight_at_kill": in_flight})
    final = subprocess.run([*SPINETRACK, "followup", "run", "--json"], env=env, cwd=ROOT, capture_output=True,
                           text=True, check=False)
    if final.returncode != 0:
        raise RuntimeError(f"final followup run failed:\n{final.stderr[-3000:]}")
    with engine.connect() as c:
        statuses = dict(c.execute(select(OutboxRow.status, func.count()).group_by(OutboxRow.status)).all())
        opened = c.execute(select(func.count()).select_from(FollowupRow).where(FollowupRow.status == "open")).scalar()
        invitations = c.execute(select(func.count()).select_from(InvitationRow)).scalar()
    engine.dispose()
    expected = {f"p{i}@example.org" for i in range(due)}
    delivered = set(sink.by_rcpt) & expected
    duplicated = sum(n - 1 for r, n in sink.by_rcpt.items() if n > 1)
    in_flight = sum(r["in_flight_at_kill"] for r in rounds)
    return {"due": due, "kills": sum(r["killed"] for r in rounds), "rounds": rounds,
            "received": sink.total, "delivered": len(delivered), "duplicated": duplicated,
            "in_flight_at_kills": in_flight, "never_sent": len(expected - delivered),
            "visits_open": opened, "invitations": invitations, "outbox": statuses,
            "ok": duplicated <= in_flight and not expected - delivered and statuses == {"sent": due}
            and invitations == due}


# ------------------------------------------------------------------------------------ report

def _tables(res: dict[str, Any]) -> list[Table]:
    out = []
    if "day" in res:
        d, y, t = res["day"], res["day"]["yesterday"], res["day"]["today"]
        tab = Table(title=f"One day's run on {d['episodes']:,} episodes (SQLite, SMTP on 127.0.0.1)")
        tab.add_column("measure")
        tab.add_column("value", justify="right")
        tab.add_column("target", justify="right")
        tab.add_row("yesterday: visits scheduled / s", f"{y['followups_per_s']:,}", "")
        tab.add_row("yesterday: visits scheduled", f"{y['followups_created']:,}", "")
        tab.add_row("yesterday: invitations created / s", f"{y['invitations_per_s']:,}", "")
        tab.add_row("yesterday: whole run, s (backlog to a null channel)", f"{y['seconds']:.1f}", "")
        tab.add_row("today: messages due", f"{t['messages_due']:,}", "")
        tab.add_row("today: invitations created / s", f"{t['invitations_per_s']:,}", "")
        tab.add_row("today: messages delivered to the server", f"{t['delivered_to_server']:,}", "")
        tab.add_row("today: messages delivered / s", f"{t['messages_per_s']:,}", ">= 200")
        tab.add_row("today: the day's run, s (command start to exit)", f"{t['seconds']:.1f}", "<= 60")
        tab.add_row("today: peak memory of the command, MiB", f"{t['peak_rss_mib']:.0f}", "")
        out.append(tab)
    if "naive" in res:
        n = res["naive"]
        tab = Table(title=f"Sending {n['due']:,} due messages: batched against the usual way")
        for col in ("way", "messages", "send s", "messages / s"):
            tab.add_column(col, justify="right" if col != "way" else "left")
        tab.add_row(f"batched ({Sender.BATCH} per claim, {Sender.WORKERS} SMTP connections)",
                    str(n["batched"]["messages"]),
                    f"{n['batched']['send_seconds']:.1f}", f"{n['batched']['messages_per_s']:.0f}")
        tab.add_row("usual (a transaction per message, a connection per message)", str(n["usual"]["messages"]),
                    f"{n['usual']['send_seconds']:.1f}", f"{n['usual']['messages_per_s']:.0f}")
        tab.add_row("ratio", "", "", f"{n['ratio']:.1f}x")
        out.append(tab)
    if "crash" in res:
        c = res["crash"]
        tab = Table(title=f"kill -9 of spinetrack followup run, {c['kills']} times mid-batch, then a clean run")
        for col in ("due", "delivered", "duplicated", "in flight at the kills", "never sent", "ok"):
            tab.add_column(col, justify="right")
        tab.add_row(str(c["due"]), str(c["delivered"]), str(c["duplicated"]), str(c["in_flight_at_kills"]),
                    str(c["never_sent"]), "yes" if c["ok"] else "NO")
        out.append(tab)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--spread", type=int, default=90_000, help="episodes with index dates spread over six years")
    ap.add_argument("--due", type=int, default=10_000, help="episodes whose 3-month window opens today")
    ap.add_argument("--naive", type=int, default=2_000, help="due messages for the comparison (0: skip)")
    ap.add_argument("--crash-due", type=int, default=2_000, help="due messages for the kill -9 rounds")
    ap.add_argument("--kills", type=int, default=5, help="kill -9 rounds (0: skip)")
    ap.add_argument("--today", type=dt.date.fromisoformat, default=dt.date(2026, 6, 1))
    ap.add_argument("--out", type=Path, default=HERE / "results" / "followup.json")
    args = ap.parse_args(argv)
    controller, sink, smtp_url = start_smtp()
    res: dict[str, Any] = {"when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "backend": "sqlite",
                           "cpus": os.cpu_count(), "python": sys.version.split()[0]}
    try:
        with tempfile.TemporaryDirectory(prefix="spinetrack-bench-followup-") as tmp:
            work = Path(tmp)
            res["day"] = one_day(work, smtp_url, sink, spread=args.spread, due=args.due, today=args.today)
            if args.naive:
                res["naive"] = naive(work, smtp_url, sink, due=args.naive, today=args.today)
            if args.kills:
                res["crash"] = crash(work, smtp_url, sink, due=args.crash_due, kills=args.kills, today=args.today)
    finally:
        controller.stop()
    for t in _tables(res):
        console.print(t)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2, default=str) + "\n")
    day = res["day"]["today"]
    missed = [name for name, ok in (
        ("messages/s >= 200", day["messages_per_s"] >= 200),
        ("day's run <= 60 s", day["seconds"] <= 60 or day["messages_due"] < 10_000 * 0.99),
        ("kill -9", res.get("crash", {}).get("ok", True))) if not ok]
    if missed:
        console.print(f"[red]missed:[/red] {', '.join(missed)}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
