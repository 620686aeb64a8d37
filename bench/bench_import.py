"""Bench: ``spinetrack import`` of CSV templates — rows per second and peak memory, beside the
naive way (one row at a time through the store's ORM writes, a commit per row).

Data: a simple seeded generator writes the CSV templates (patients.csv, episodes.csv,
procedures.csv, responses.csv) into a temporary folder: per patient one episode (MIS or open
discectomy), its index procedure and five PROM responses (baseline ODI, back and leg NRS; ODI at
3 and 12 months), so 8 rows per patient; ``--rows`` is the total.

Each measurement runs in a fresh subprocess (its own interpreter, so peak memory is its own):
peak RSS sampled every 20 ms by a psutil thread, minus the RSS before the import started.

- **bulk**: :func:`spinetrack.store.imports.write_records` over the files (three streaming
  passes, Core executemany in chunks, one transaction) into a fresh SQLite file;
- **naive**: ``Store.add_patient`` / ``add_episode`` / ``add_procedure`` / ``submit_response``
  per row (ORM ``session.add`` + flush, an audit row and a commit each; the REST API's path) on a
  slice of ``--naive-rows`` rows; its time for the full size is extrapolated linearly, and the
  table says so.

Run: ``.venv/bin/python bench/bench_import.py --rows 1000000`` (also measures 100,000 to show
memory does not grow with the rows). Writes ``bench/results/import.json``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "import.json"
ODI_ITEMS = ("pain_intensity", "personal_care", "lifting", "walking", "sitting", "standing", "sleeping", "sex_life",
             "social_life", "travelling")
ROWS_PER_PATIENT = 8


def generate(folder: Path, rows: int, seed: int = 7) -> int:
    """Write the four CSV templates with ``rows`` rows in all; returns the rows written."""
    import datetime as dt

    rng = random.Random(seed)
    n = max(1, rows // ROWS_PER_PATIENT)
    base = dt.date(2021, 1, 4)
    item_cols = [f"item_{c}" for c in ODI_ITEMS] + ["item_pain"]
    with (folder / "patients.csv").open("w", newline="") as fp, \
            (folder / "episodes.csv").open("w", newline="") as fe, \
            (folder / "procedures.csv").open("w", newline="") as fr, \
            (folder / "responses.csv").open("w", newline="") as fq:
        wp, we, wr, wq = csv.writer(fp), csv.writer(fe), csv.writer(fr), csv.writer(fq)
        wp.writerow(["source_id", "site", "birth_year", "sex", "bmi", "smoking", "diabetes", "asa_grade"])
        we.writerow(["source_id", "patient_source_id", "diagnosis_code", "levels", "treatment", "treatment_family",
                     "enrolled_on"])
        wr.writerow(["source_id", "episode_source_id", "procedure_code", "performed_on", "levels", "incision_mm",
                     "ebl_ml", "op_time_min", "los_days"])
        wq.writerow(["source_id", "episode_source_id", "instrument", "timepoint", "collected_on", *item_cols])
        for i in range(n):
            pid = f"P{i}"
            wp.writerow([pid, "BENCH", 1940 + rng.randrange(50), rng.choice(("female", "male")),
                         round(rng.uniform(19, 38), 1), rng.choice(("never", "former", "current")),
                         rng.choice(("yes", "no")), rng.randrange(1, 4)])
            enrolled = base + dt.timedelta(days=rng.randrange(900))
            op = enrolled + dt.timedelta(days=rng.randrange(7, 60))
            mis = rng.random() < 0.5
            we.writerow([pid, pid, "M51.16", "L4-L5", "mis" if mis else "open", "discectomy", enrolled.isoformat()])
            wr.writerow([pid, pid, "discectomy_tubular" if mis else "discectomy_open", op.isoformat(), "L4-L5",
                         rng.randrange(15, 90), rng.randrange(5, 300), rng.randrange(40, 180), rng.randrange(0, 4)])

            def odi(level: int) -> list[Any]:
                return [min(5, max(0, level + rng.randrange(-1, 2))) for _ in ODI_ITEMS] + [""]

            blank = [""] * len(ODI_ITEMS)
            wq.writerow([f"{pid}-b-odi", pid, "odi", "baseline", enrolled.isoformat(), *odi(3)])
            wq.writerow([f"{pid}-b-nb", pid, "nrs_back", "baseline", enrolled.isoformat(), *blank, rng.randrange(3, 9)])
            wq.writerow([f"{pid}-b-nl", pid, "nrs_leg", "baseline", enrolled.isoformat(), *blank, rng.randrange(4, 10)])
            wq.writerow([f"{pid}-3m", pid, "odi", "3m", (op + dt.timedelta(days=91)).isoformat(), *odi(1)])
            wq.writerow([f"{pid}-12m", pid, "odi", "12m", (op + dt.timedelta(days=365)).isoformat(), *odi(1)])
    return n * ROWS_PER_PATIENT


class PeakRss:
    """Peak resident set size of this process, sampled by a thread."""

    def __init__(self, every: float = 0.02) -> None:
        import psutil

        self.proc = psutil.Process()
        self.every = every
        self.start = self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(self.every)

    def __enter__(self) -> PeakRss:
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)


def _fresh_store(path: Path) -> Any:
    from spinetrack.store.migrate import upgrade
    from spinetrack.store.repositories import SYSTEM, Store
    from spinetrack.store.session import make_engine

    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    store = Store(engine)
    store.add_site(SYSTEM, code="BENCH", name="Bench clinic")
    return store


def worker_bulk(folder: Path, db: Path) -> dict[str, Any]:
    from spinetrack.interop.imports.csv_format import read_csv
    from spinetrack.store.imports import write_records
    from spinetrack.store.repositories import SYSTEM

    store = _fresh_store(db)
    src = read_csv(sorted(folder.glob("*.csv")))
    with PeakRss() as mem:
        t0 = time.perf_counter()
        res = write_records(store, SYSTEM, source_system="bench", records=src, files=src.files)
        seconds = time.perf_counter() - t0
    assert res.ok and res.stored, [p.message for p in res.errors[:5]]
    rows = res.totals().created
    return {"rows": rows, "seconds": seconds, "rows_per_s": rows / seconds,
            "peak_rss_mb": (mem.peak - mem.start) / 2**20}


def worker_naive(folder: Path, db: Path, limit: int) -> dict[str, Any]:
    """Row by row through the store (the REST API's path): ORM add + flush, audit, commit each."""
    from spinetrack.interop.imports.csv_format import read_csv
    from spinetrack.store.imports import IDENTITY_FIELDS
    from spinetrack.store.repositories import SYSTEM

    store = _fresh_store(db)
    site_id = 1
    ids: dict[tuple[str, str], int] = {}
    n = 0
    src = read_csv(sorted(folder.glob("*.csv")))
    patients = limit // ROWS_PER_PATIENT
    with PeakRss() as mem:
        t0 = time.perf_counter()
        for rec in src:
            if rec.entity == "patient":
                if n >= patients:
                    continue
                data = {k: v for k, v in rec.fields.items() if k not in IDENTITY_FIELDS}
                ids["patient", rec.source_id] = store.add_patient(SYSTEM, site_id, data)
            elif rec.entity == "episode":
                if ("patient", rec.parent or "") not in ids:
                    continue
                ids["episode", rec.source_id] = store.add_episode(SYSTEM, ids["patient", rec.parent or ""], rec.fields)
            elif rec.entity == "procedure":
                if ("episode", rec.parent or "") not in ids:
                    continue
                store.add_procedure(SYSTEM, ids["episode", rec.parent or ""], rec.fields)
            elif rec.entity == "response":
                if ("episode", rec.parent or "") not in ids:
                    continue
                store.submit_response(SYSTEM, ids["episode", rec.parent or ""], rec.fields, source="import")
            n += 1 if rec.entity == "patient" else 0
        seconds = time.perf_counter() - t0
    rows = patients * ROWS_PER_PATIENT
    return {"rows": rows, "seconds": seconds, "rows_per_s": rows / seconds,
            "peak_rss_mb": (mem.peak - mem.start) / 2**20}


def _subprocess(kind: str, folder: Path, db: Path, limit: int = 0) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--worker", kind, "--folder", str(folder), "--db", str(db),
                          "--limit", str(limit)], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--small", type=int, default=100_000, help="the smaller size, to show memory stays flat")
    ap.add_argument("--naive-rows", type=int, default=4_000)
    ap.add_argument("--worker", choices=("bulk", "naive"))
    ap.add_argument("--folder")
    ap.add_argument("--db")
    ap.add_argument("--limit", type=int, default=0)
    args = ap.parse_args()
    if args.worker:
        result = worker_bulk(Path(args.folder), Path(args.db)) if args.worker == "bulk" else \
            worker_naive(Path(args.folder), Path(args.db), args.limit)
        print(json.dumps(result))
        return
    from rich.console import Console
    from rich.table import Table

    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="spinetrack-bench-import-") as tmp:
        for size in sorted({args.small, args.rows}):
            folder = Path(tmp) / f"csv{size}"
            folder.mkdir()
            rows = generate(folder, size)
            mb = sum(p.stat().st_size for p in folder.glob("*.csv")) / 2**20
            bulk = _subprocess("bulk", folder, Path(tmp) / f"bulk{size}.db")
            runs.append({"method": "bulk (write_records)", "rows_in_files": rows, "csv_mb": round(mb, 1), **bulk,
                         "extrapolated": False})
            if size == max(args.small, args.rows):
                naive = _subprocess("naive", folder, Path(tmp) / "naive.db", args.naive_rows)
                est = rows / naive["rows_per_s"]
                runs.append({"method": f"naive per-row ORM (measured on {naive['rows']:,} rows)",
                             "rows_in_files": rows, "csv_mb": round(mb, 1), **naive, "extrapolated": True,
                             "extrapolated_seconds_for_all_rows": est})
    t = Table(title="spinetrack import: CSV templates into SQLite")
    for col in ("method", "rows", "seconds", "rows/s", "peak RSS (MB above start)"):
        t.add_column(col, justify="right" if col != "method" else "left")
    for r in runs:
        secs = (f"{r['extrapolated_seconds_for_all_rows']:,.0f} (extrapolated to {r['rows_in_files']:,})"
                if r["extrapolated"] else f"{r['seconds']:,.1f}")
        t.add_row(r["method"], f"{r['rows']:,}", secs, f"{r['rows_per_s']:,.0f}", f"{r['peak_rss_mb']:,.0f}")
    Console().print(t)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"bench": "import", "python": platform.python_version(), "cpus": os.cpu_count(),
                                   "machine": platform.machine(), "runs": runs}, indent=2) + "\n")


if __name__ == "__main__":
    main()
