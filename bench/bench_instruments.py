"""Benchmark of vectorised PROM scoring: 1,000,000 ODI responses and 1,000,000 EQ-5D-5L states.

Compares, in the same run, ``score_many`` (numpy, one call per column set) with the usual way:
scoring each response with the scalar ``score(answers)`` in a Python loop (measured on a
sample of ``--scalar-rows`` rows and reported per row, then scaled to 1M; the scalar path is
linear in rows). Both give the same numbers (tests/instruments/test_vectorised.py); the bench
checks it again on the sample. Prints a table and writes ``bench/results/instruments.json``.

    .venv/bin/python bench/bench_instruments.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import time
import tracemalloc
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from spinetrack import instruments
from spinetrack.instruments.odi import ITEM_CODES as ODI_ITEMS

HERE = Path(__file__).resolve().parent


def odi_columns(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    cols = {}
    for c in ODI_ITEMS:
        v = rng.integers(0, 6, n).astype(np.float64)
        v[rng.random(n) < 0.03] = np.nan  # about 3 % of sections unanswered
        cols[c] = v
    return cols


def eq_columns(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    cols = {d: rng.integers(1, 6, n).astype(np.float64) for d in ("MO", "SC", "UA", "PD", "AD")}
    cols["vas"] = rng.integers(0, 101, n).astype(np.float64)
    return cols


def rows_of(cols: dict[str, np.ndarray], k: int) -> list[dict]:
    keys = list(cols)
    return [{c: (None if np.isnan(cols[c][i]) else int(cols[c][i])) for c in keys} for i in range(k)]


def measure(code: str, cols: dict[str, np.ndarray], scalar_rows: int, **options: object) -> dict:
    inst = instruments.get(code)
    n = len(next(iter(cols.values())))
    inst.score_many({c: v[:1000] for c, v in cols.items()}, **options)  # warm-up
    tracemalloc.start()
    t0 = time.perf_counter()
    res = inst.score_many(cols, **options)
    vec_s = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rows = rows_of(cols, scalar_rows)
    t0 = time.perf_counter()
    totals = [inst.score(r, **options).total for r in rows]
    scalar_s = time.perf_counter() - t0
    want = np.array([np.nan if t is None else t for t in totals])
    assert np.allclose(res.total[:scalar_rows], want, equal_nan=True, atol=1e-12), "vectorised != scalar"
    per_row = scalar_s / scalar_rows
    return {"instrument": code, "rows": n, "options": options, "vectorised_seconds": vec_s,
            "vectorised_rows_per_second": n / vec_s, "vectorised_peak_mb": peak / 2**20,
            "scalar_rows_measured": scalar_rows, "scalar_seconds_per_row": per_row,
            "scalar_seconds_scaled_to_rows": per_row * n, "speedup": per_row * n / vec_s,
            "valid_share": float(res.valid.mean())}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--scalar-rows", type=int, default=50_000)
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()
    console = Console(width=150)
    rng = np.random.default_rng(args.seed)
    results = []
    with console.status("ODI …"):
        results.append(measure("odi", odi_columns(rng, args.rows), args.scalar_rows))
    eq_cols = eq_columns(rng, args.rows)
    for vs in ("England", "USA", "Germany"):
        with console.status(f"EQ-5D-5L ({vs}) …"):
            results.append(measure("eq5d5l", eq_cols, args.scalar_rows, value_set=vs))
    t = Table(title=f"Vectorised PROM scoring, {args.rows:,} responses (scalar loop measured on "
                    f"{args.scalar_rows:,} rows, scaled)")
    for col in ("instrument", "options", "vectorised s", "M rows/s", "peak MB", "scalar s (scaled)", "speed-up"):
        t.add_column(col, justify="right")
    for r in results:
        t.add_row(r["instrument"], json.dumps(r["options"]) if r["options"] else "", f"{r['vectorised_seconds']:.3f}",
                  f"{r['vectorised_rows_per_second'] / 1e6:.1f}", f"{r['vectorised_peak_mb']:.0f}",
                  f"{r['scalar_seconds_scaled_to_rows']:.1f}", f"{r['speedup']:.0f}×")
    console.print(t)
    out = HERE / "results" / "instruments.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"benchmark": "vectorised PROM scoring", "date": dt.date.today().isoformat(),
                               "machine": {"python": platform.python_version(), "platform": platform.platform()},
                               "seed": args.seed, "results": results}, indent=2))
    console.print(f"written {out}")


if __name__ == "__main__":
    main()
