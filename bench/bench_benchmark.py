"""Benchmark of ``spinetrack benchmark`` (registry benchmarking) against the usual way.

Per snapshot, each in a fresh child process, one at a time, taking turns over ``--repeat`` rounds:

* ``duckdb``   — ``spinetrack benchmark --snapshot DIR --json`` (risk models by aggregate IRLS, one
  grouped query for every site's O and E, the funnel limits and the CUSUM);
* ``spark``    — the same with ``--engine spark`` (local mode; at ``--spark-sizes`` only, once);
* ``baseline`` — ``bench/baseline_benchmark.py``: the same rows in pandas, statsmodels per outcome,
  pandas group-by, the CUSUM in a Python loop.

Seconds are the child's wall time (interpreter start and imports included); peak memory is the
child's tree (``bench_analyze.measure``). The observed and expected counts of every site and
outcome are compared between spinetrack and the baseline (largest relative difference of E).
Prints a Rich table and writes ``bench/results/benchmark.json``.

    .venv/bin/python bench/bench_benchmark.py --snapshot 20000=/tmp/snap20k --snapshot 100000=/tmp/snap100k
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from bench_analyze import machine_info, measure  # noqa: E402


def _run(name: str, cmd: list[str], env: dict[str, str], logdir: Path, timeout: float) -> tuple[dict[str, Any], Any]:
    out, err = logdir / f"{name}.out", logdir / f"{name}.err"
    r = measure(cmd, env=env, stdout=out, stderr=err, timeout=timeout)
    doc = None
    if r["returncode"] == 0:
        try:
            doc = json.loads(out.read_text(encoding="utf-8"))
        except ValueError:
            doc = None
    else:
        r["stderr_tail"] = err.read_text(encoding="utf-8", errors="replace")[-2000:]
    return r, doc


def _compare(cli: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    worst_e = 0.0
    same_n = same_o = True
    flags_differ = 0
    for o in cli["outcomes"]:
        ref = base["outcomes"].get(o["key"], {})
        for u in o["units"]:
            r = ref.get(u["unit"])
            if r is None or u["suppressed"]:
                continue
            same_n &= r["n"] == u["n"]
            same_o &= abs(r["o"] - u["observed"]) < 1e-6
            worst_e = max(worst_e, abs(r["e"] - u["expected"]) / max(abs(r["e"]), 1e-12))
            flags_differ += r["flag"] != u["flag"]
    return {"same_n": same_n, "same_observed": same_o, "max_rel_diff_expected": worst_e,
            "flags_differing": flags_differ,
            "note": "the baseline's flags use the normal approximation without overdispersion; spinetrack's use "
                    "exact binomial limits and, where the test finds it, additive random effects"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--snapshot", action="append", default=[], metavar="N=DIR", required=True)
    ap.add_argument("--spark-sizes", type=int, nargs="*", default=[])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=1800.0)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "benchmark.json")
    args = ap.parse_args()
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=True)
    snaps = {int(k): Path(v) for k, v in (s.split("=", 1) for s in args.snapshot)}
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    exe = str(ROOT / ".venv" / "bin")
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-benchmark-") as tmp:
        for n, snap in sorted(snaps.items()):
            logdir = Path(tmp) / f"p{n}"
            logdir.mkdir()
            runs: dict[str, list[dict[str, Any]]] = {"duckdb": [], "baseline": []}
            docs: dict[str, Any] = {}
            for k in range(args.repeat):
                for name, cmd in (("duckdb", [f"{exe}/spinetrack", "benchmark", "--snapshot", str(snap), "--json"]),
                                  ("baseline", [f"{exe}/python", str(HERE / "baseline_benchmark.py"), str(snap)])):
                    console.print(f"{n:,} patients: {name} (round {k + 1} of {args.repeat})")
                    r, doc = _run(f"{name}-{k}", cmd, env, logdir, args.timeout)
                    runs[name].append(r)
                    docs[name] = doc or docs.get(name)
            spark = None
            if n in args.spark_sizes:
                console.print(f"{n:,} patients: spark")
                spark, docs["spark"] = _run("spark", [f"{exe}/spinetrack", "benchmark", "--snapshot", str(snap),
                                                      "--engine", "spark", "--json"], env, logdir, args.timeout)
            med = {k: statistics.median(r["seconds"] for r in v) for k, v in runs.items()}
            row = {"patients": n, "snapshot": str(snap),
                   "duckdb": {"seconds": med["duckdb"], "all_seconds": [r["seconds"] for r in runs["duckdb"]],
                              "peak_rss_mb": max(r["peak_rss_mb"] for r in runs["duckdb"]),
                              "returncodes": [r["returncode"] for r in runs["duckdb"]]},
                   "baseline": {"seconds": med["baseline"], "all_seconds": [r["seconds"] for r in runs["baseline"]],
                                "peak_rss_mb": max(r["peak_rss_mb"] for r in runs["baseline"]),
                                "returncodes": [r["returncode"] for r in runs["baseline"]]},
                   "speedup_vs_baseline": med["baseline"] / med["duckdb"],
                   "spark": spark}
            if docs.get("duckdb") and docs.get("baseline"):
                row["agreement"] = _compare(docs["duckdb"], docs["baseline"])
                row["units"] = len(docs["duckdb"]["outcomes"][0]["units"])
            results.append(row)
    t = Table(title="spinetrack benchmark vs pandas + statsmodels (median wall time, peak memory)")
    for c in ("patients", "sites", "spinetrack (DuckDB)", "baseline", "ratio", "Spark local", "O, n equal",
              "max rel. diff E"):
        t.add_column(c, justify="right")
    for r in results:
        a = r.get("agreement", {})
        sp = r["spark"]
        t.add_row(f"{r['patients']:,}", str(r.get("units", "?")),
                  f"{r['duckdb']['seconds']:.1f} s, {r['duckdb']['peak_rss_mb']:.0f} MB",
                  f"{r['baseline']['seconds']:.1f} s, {r['baseline']['peak_rss_mb']:.0f} MB",
                  f"{r['speedup_vs_baseline']:.1f}x",
                  "—" if sp is None else f"{sp['seconds']:.1f} s, {sp['peak_rss_mb']:.0f} MB",
                  str(a.get("same_n") and a.get("same_observed")),
                  f"{a.get('max_rel_diff_expected', float('nan')):.1e}")
    Console().print(t)
    doc = {"benchmark": "spinetrack benchmark", "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
           "machine": machine_info(), "settings": {"repeat": args.repeat, "spark_sizes": args.spark_sizes},
           "notes": "seconds: child wall time incl. interpreter start, median over rounds (Spark once); baseline = "
                    "bench/baseline_benchmark.py (the same rows from DuckDB into pandas, statsmodels per outcome)",
           "results": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1, default=str) + "\n", encoding="utf-8")
    console.print(f"written {args.out}")


if __name__ == "__main__":
    main()
