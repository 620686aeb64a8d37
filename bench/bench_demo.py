"""Benchmark of ``spinetrack demo``: time and peak memory for 10k, 100k and 1M patients.

Each load runs in a fresh process into a fresh SQLite file, and is compared in the same run
with the usual way of doing the same work (ORM objects in one session, one commit) at the
sizes where that is feasible. Prints a table and writes ``bench/results/demo.json``.

    .venv/bin/python bench/bench_demo.py                  # 10k, 100k, 1M (about 15 minutes)
    .venv/bin/python bench/bench_demo.py --sizes 10000    # quick
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent


def run(mode: str, patients: int, seed: int, workdir: Path) -> dict:
    db = workdir / f"{mode}-{patients}.db"
    out = subprocess.run([sys.executable, str(HERE / "_run_load.py"), mode, str(patients), str(seed), f"sqlite:///{db}"],
                         check=True, capture_output=True, text=True)
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--orm-sizes", type=int, nargs="*", default=[10_000, 100_000],
                    help="sizes at which the usual ORM way is measured too")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args()
    console = Console(width=150)
    results = []
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        for n in args.sizes:
            with console.status(f"spinetrack demo --patients {n} …"):
                r = run("streaming", n, args.seed, Path(tmp))
            console.print(f"streaming {n}: {r['seconds']:.1f} s, peak {r['peak_rss_mb']:.0f} MB")
            if n in args.orm_sizes:
                with console.status(f"ORM (usual way) {n} …"):
                    o = run("orm", n, args.seed, Path(tmp))
                console.print(f"ORM {n}: {o['seconds']:.1f} s, peak {o['peak_rss_mb']:.0f} MB")
                r["orm_seconds"], r["orm_peak_rss_mb"] = o["seconds"], o["peak_rss_mb"]
                r["speedup_vs_orm"] = o["seconds"] / r["seconds"]
                r["memory_ratio_orm_over_streaming"] = o["peak_rss_mb"] / r["peak_rss_mb"]
            results.append(r)
    t = Table(title="spinetrack demo: streaming load vs the usual ORM way (SQLite, one process each)")
    for col in ("patients", "PROM rows", "seconds", "patients/s", "peak RSS MB", "DB MB", "ORM seconds",
                "ORM peak MB", "speed-up", "memory ratio"):
        t.add_column(col, justify="right")
    for r in results:
        t.add_row(f"{r['patients']:,}", f"{r['responses']:,}", f"{r['seconds']:.1f}",
                  f"{r['patients'] / r['seconds']:,.0f}",
                  f"{r['peak_rss_mb']:.0f}", f"{r['db_mb']:.0f}",
                  f"{r['orm_seconds']:.1f}" if "orm_seconds" in r else "—",
                  f"{r['orm_peak_rss_mb']:.0f}" if "orm_peak_rss_mb" in r else "—",
                  f"{r['speedup_vs_orm']:.1f}×" if "speedup_vs_orm" in r else "—",
                  f"{r['memory_ratio_orm_over_streaming']:.1f}×" if "memory_ratio_orm_over_streaming" in r else "—")
    console.print(t)
    out = HERE / "results" / "demo.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"benchmark": "spinetrack demo", "date": dt.date.today().isoformat(),
                               "machine": {"python": platform.python_version(), "platform": platform.platform()},
                               "seed": args.seed, "results": results}, indent=2) + "\n")
    console.print(f"written {out.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
