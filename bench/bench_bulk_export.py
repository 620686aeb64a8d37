"""Benchmark of FHIR Bulk Data ``$export``: time, peak memory and resources/s, streaming vs naive.

A demo database of ``--patients`` patients (default 100,000; seed 7) is built with
:func:`spinetrack.synth.load.load_demo` in a temporary SQLite file (reused from ``--workdir`` when
already there). Then, each in a fresh process whose resident memory is sampled with psutil
every 20 ms by a thread of the parent:

Peak memory is the child's resident set sampled by the parent (its ``ru_maxrss`` is recorded but
not used: Linux carries the parent's high-water mark into a child across fork and exec).

* ``streaming``: what ``$export`` does: :func:`spinetrack.interop.bulk.run_fhir_export` on an
  export job — :func:`spinetrack.interop.fhir.stream_resources` (keyset batches) written line
  by line into NDJSON files of at most 100,000 resources each;
* ``naive``: the usual way: the whole list of resources built in memory first (``list(...)``
  of the same mappers), then ``json.dumps`` of each into one file per type. Its memory grows
  with the store (about 0.35 MB per patient), so it is measured at ``--naive-patients``
  (default 10,000), beside the streaming export at the same size.

Both use the researcher's pseudonymised scope (every site). Prints a Rich table and writes
``bench/results/bulk_export.json``.

    .venv/bin/python bench/bench_bulk_export.py                      # 100,000 patients
    .venv/bin/python bench/bench_bulk_export.py --patients 2000 --naive-patients 2000   # a quick check
    .venv/bin/python bench/bench_bulk_export.py --workdir /tmp/bulkbench --naive-patients 0
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


# ------------------------------------------------------------------------------- child process

def child(mode: str, db: str, out: str) -> None:
    """One measured export in this (fresh) process; prints one JSON line."""
    import psutil

    from spinetrack.interop import bulk
    from spinetrack.interop.fhir import FhirScope
    from spinetrack.store import export_jobs
    from spinetrack.store.repositories import Actor, Store
    from spinetrack.store.session import make_engine

    engine = make_engine(f"sqlite:///{db}")
    store = Store(engine)
    scope = FhirScope(site_id=None, identified=False)
    rss_idle = psutil.Process().memory_info().rss / 2**20
    t0 = time.perf_counter()
    if mode == "streaming":
        job = export_jobs.create_job(store, Actor("bench", "researcher"), kind="fhir", params={}, site_id=None,
                                     output_root=Path(out), request_url="http://bench/fhir/$export")
        status = bulk.run_fhir_export(store, job.id, scope=scope, types=None, since=None,
                                      file_base_url="http://bench/files")
        done = export_jobs.get_job(store, job.id)
        if status != "completed" or done is None or done.manifest is None:
            raise SystemExit(f"export {status}")
        counts: dict[str, int] = {}
        for o in done.manifest["output"]:
            counts[o["type"]] = counts.get(o["type"], 0) + o["count"]
        files = list(Path(done.output_dir or "").iterdir())
    else:
        counts = naive_way(store, scope, Path(out))
        files = list(Path(out).iterdir())
    seconds = time.perf_counter() - t0
    engine.dispose()
    print(json.dumps({"mode": mode, "seconds": seconds, "counts": counts, "resources": sum(counts.values()),
                      "ndjson_mb": sum(p.stat().st_size for p in files) / 2**20,
                      "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "rss_after_imports_mb": rss_idle}))


def naive_way(store: Any, scope: Any, out: Path) -> dict[str, int]:
    """The whole list of resources in memory first, then ``json.dumps`` of each."""
    from spinetrack.interop.fhir import stream_resources

    out.mkdir(parents=True, exist_ok=True)
    everything = list(stream_resources(store, scope, batch=1_000_000_000))  # one query per entity, all rows
    by_type: dict[str, list[dict[str, Any]]] = {}
    for rtype, res in everything:
        by_type.setdefault(rtype, []).append(res)
    for rtype, items in by_type.items():
        text = "".join(json.dumps(r) + "\n" for r in items)
        (out / f"{rtype}.ndjson").write_text(text, encoding="utf-8")
    return {t: len(v) for t, v in by_type.items()}


# ------------------------------------------------------------------------------- parent process

def build(workdir: Path, patients: int, seed: int) -> tuple[Path, float]:
    """The demo database (built with load_demo unless already complete) and the seconds it took."""
    db = workdir / f"demo-{patients}-seed{seed}.db"
    done = workdir / f"{db.name}.done"
    if done.exists():
        return db, 0.0
    from spinetrack.store.migrate import upgrade
    from spinetrack.store.session import make_engine
    from spinetrack.synth.load import load_demo

    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    t0 = time.perf_counter()
    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    load_demo(engine, patients=patients, seed=seed)
    engine.dispose()
    done.write_text("complete\n")
    return db, time.perf_counter() - t0


def measure(mode: str, db: Path, workdir: Path) -> dict[str, Any]:
    """Run one mode in a child process, its RSS sampled every 20 ms by a thread."""
    import psutil

    out = workdir / f"out-{mode}"
    shutil.rmtree(out, ignore_errors=True)
    proc = psutil.Popen([sys.executable, str(Path(__file__).resolve()), "--child", mode, str(db), str(out)],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = [0]

    def sample() -> None:
        while proc.poll() is None:
            try:
                peak[0] = max(peak[0], proc.memory_info().rss)
            except psutil.NoSuchProcess:
                break
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = proc.communicate()
    sampler.join()
    shutil.rmtree(out, ignore_errors=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{mode} on {db.name} failed ({proc.returncode}):\n{stderr[-3000:]}")
    r: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    # the sampled peak: the child's own ru_maxrss is not used, because Linux carries the parent's
    # high-water mark across fork and exec (the parent holds the loaded cohort's memory)
    r["peak_rss_mb"] = peak[0] / 2**20
    r["resources_per_s"] = r["resources"] / r["seconds"] if r["seconds"] else 0.0
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--patients", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--naive-patients", type=int, default=10_000,
                    help="the size at which both ways are measured side by side (the naive way holds every "
                         "resource in memory: about 0.35 MB per patient, so 100,000 patients would need ~35 GB); "
                         "0: the naive way is skipped")
    ap.add_argument("--workdir", default=None, help="keep the database here and reuse it (default: temporary)")
    ap.add_argument("--out", default=str(HERE / "results" / "bulk_export.json"))
    args = ap.parse_args()

    from rich.console import Console
    from rich.table import Table

    console = Console(width=150)
    tmp = None if args.workdir else tempfile.TemporaryDirectory(prefix="spinetrack-bulkbench-")
    workdir = Path(args.workdir or tmp.name)  # type: ignore[union-attr]
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        runs: list[tuple[int, str]] = [(args.patients, "streaming")]
        if args.naive_patients:
            if args.naive_patients != args.patients:
                runs.append((args.naive_patients, "streaming"))
            runs.append((args.naive_patients, "naive"))
        results = []
        load_s: dict[int, float] = {}
        for n, mode in runs:
            if n not in load_s:
                console.print(f"building a demo database of {n:,} patients (seed {args.seed}) …")
                _, load_s[n] = build(workdir, n, args.seed)
            console.print(f"{mode} export of {n:,} patients …")
            r = measure(mode, workdir / f"demo-{n}-seed{args.seed}.db", workdir)
            r["patients"] = n
            results.append(r)
            console.print(f"  {r['resources']:,} resources in {r['seconds']:.1f} s, peak RSS {r['peak_rss_mb']:.0f} MB")
    finally:
        if tmp is not None:
            tmp.cleanup()

    table = Table(title="FHIR Bulk $export (SQLite, pseudonymised, every site)")
    for col in ("way", "patients", "resources", "seconds", "resources/s", "peak RSS (MB)", "RSS after imports (MB)",
                "NDJSON (MB)"):
        table.add_column(col, justify="right" if col != "way" else "left")
    for r in results:
        table.add_row(r["mode"], f"{r['patients']:,}", f"{r['resources']:,}", f"{r['seconds']:.1f}",
                      f"{r['resources_per_s']:,.0f}", f"{r['peak_rss_mb']:.0f}",
                      f"{r['rss_after_imports_mb']:.0f}", f"{r['ndjson_mb']:.0f}")
    console.print(table)
    payload = {"benchmark": "bulk_export", "patients": args.patients, "naive_patients": args.naive_patients,
               "seed": args.seed,
               "database": "sqlite", "scope": "pseudonymised, every site", "load_seconds": load_s,
               "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
               "machine": {"python": platform.python_version(), "platform": platform.platform(),
                           "cpus": __import__("os").cpu_count()},
               "results": results}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    console.print(f"written {out}")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        main()
