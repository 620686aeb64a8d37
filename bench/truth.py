"""The truth check: do the scorecard's intervals cover the true effects, and are its verdicts right?

For each seed: a synthetic cohort is loaded into a fresh SQLite store with ``load_demo`` while
``synth.truth.Truth`` records every comparison × claim's true effect from each patient's
outcomes under both options (common random numbers); the store is exported
(``export_snapshot``) and the whole scorecard run on DuckDB (``analyze_snapshot``, the code
behind ``spinetrack analyze --json``, sensitivity analyses off). Each estimated cell is then set
beside its truth (``synth.truth.compare``), and over all seeds (``synth.truth.summarise``):

* coverage — the share of cells whose 95% interval holds the true overlap-population effect
  (target: at least 93%);
* false verdicts — among cells whose true effect is zero, the share called ``supported`` or
  ``contradicted`` (target: at most 5%);
* time-to-event bias — each time-to-event cell's mean estimate over the seeds within 10% of the
  mean truth, or 0.01 absolute (on the probability scale; 1% of the horizon for a restricted
  mean in days), with each arm's restricted mean beside its truth.

Prints Rich tables and writes ``bench/results/truth.json``.

    .venv/bin/python bench/truth.py                       # 5 seeds × 20,000 patients (~6 min on 2 cores)
    .venv/bin/python bench/truth.py --seeds 11 12 --patients 5000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TARGETS = {"coverage_min": 0.93, "false_verdict_share_max": 0.05}
DEFAULT_SEEDS = (101, 202, 303, 404, 505)


def one_seed(seed: int, patients: int, workdir: str, threads: int = 1) -> dict[str, Any]:
    """Load, snapshot and analyse one synthetic cohort; return its truth, its scorecard rows
    beside the truth and the seconds each step took."""
    os.environ.setdefault("SPINETRACK_TODAY", "2026-12-06")  # the extraction date of the snapshot
    from spinetrack.analysis.scorecard import analyze_snapshot
    from spinetrack.snapshot.export import export_snapshot
    from spinetrack.store.migrate import upgrade
    from spinetrack.store.session import make_engine
    from spinetrack.synth.load import load_demo
    from spinetrack.synth.truth import Truth, compare

    work = Path(workdir) / f"seed{seed}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    t0 = time.perf_counter()
    eng = make_engine(f"sqlite:///{work / 'store.db'}")
    upgrade(eng)
    truth = Truth()
    load_demo(eng, patients=patients, seed=seed, truth=truth)
    t1 = time.perf_counter()
    export_snapshot(eng, work / "snap")
    eng.dispose()
    t2 = time.perf_counter()
    doc = analyze_snapshot(work / "snap", engine="duckdb",
                           engine_options={"threads": threads, "memory_limit": "1GB"}, sensitivity=False)
    t3 = time.perf_counter()
    true = truth.result()
    rows = compare(doc, true)
    shutil.rmtree(work, ignore_errors=True)
    return {"seed": seed, "patients": patients, "truth": true, "rows": rows,
            "seconds": {"demo_and_truth": t1 - t0, "snapshot": t2 - t1, "analyze": t3 - t2}}


def run(seeds: list[int], patients: int, workers: int = 2, workdir: str | None = None) -> dict[str, Any]:
    """Every seed (``workers`` at a time) and the summary over all of them."""
    from spinetrack.synth.truth import summarise

    tmp = workdir or tempfile.mkdtemp(prefix="spinetrack-truth-")
    try:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            per_seed = list(pool.map(one_seed, seeds, [patients] * len(seeds), [tmp] * len(seeds)))
    finally:
        if workdir is None:
            shutil.rmtree(tmp, ignore_errors=True)
    rows = [r for s in per_seed for r in s["rows"]]
    summary = summarise(rows)
    summary["per_seed"] = [{"seed": s["seed"], **{k: v for k, v in summarise(s["rows"]).items()
                                                 if k != "time_to_event"}, "seconds": s["seconds"]}
                           for s in per_seed]
    summary["targets"] = TARGETS
    summary["met"] = {
        "coverage": summary["coverage"] >= TARGETS["coverage_min"],
        "false_verdicts": summary["false_verdict_share"] <= TARGETS["false_verdict_share_max"],
        "time_to_event_bias": all(b["within"] for b in summary["time_to_event"]),
    }
    summary["seeds"] = list(seeds)
    summary["patients"] = patients
    summary["rows"] = rows
    return summary


def _print(summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console()
    t = Table(title=f"Truth check: {len(summary['seeds'])} seeds × {summary['patients']:,} patients (DuckDB, ATO)")
    for col in ("seed", "cells", "covered", "coverage", "null cells", "false verdicts", "missed cells"):
        t.add_column(col, justify="right" if col not in ("missed cells",) else "left")
    for s in summary["per_seed"]:
        t.add_row(str(s["seed"]), str(s["cells"]), str(s["covered"]), f"{s['coverage']:.1%}", str(s["null_cells"]),
                  str(s["false_verdicts"]), ", ".join(s["missed_cells"]))
    t.add_row("all", str(summary["cells"]), str(summary["covered"]), f"{summary['coverage']:.1%}",
              str(summary["null_cells"]), f"{summary['false_verdicts']} ({summary['false_verdict_share']:.1%})",
              "", style="bold")
    con.print(t)
    b = Table(title="Time-to-event claims: mean over seeds (restricted means in days, survival as probability)")
    for col in ("comparison", "claim", "estimate", "truth", "tolerance", "within", "treated arm est / truth",
                "control arm est / truth"):
        b.add_column(col, justify="left" if col in ("comparison", "claim") else "right")
    for r in summary["time_to_event"]:
        arms = [f"{r['arms'][a]['estimate']:.1f} / {r['arms'][a]['truth']:.1f}" if a in r["arms"] else "—"
                for a in ("treated", "control")]
        b.add_row(r["comparison"], r["claim"], f"{r['mean_estimate']:.4f}", f"{r['mean_truth']:.4f}",
                  f"±{r['tolerance']:.3g}", "yes" if r["within"] else "NO", *arms)
    con.print(b)
    met = summary["met"]
    con.print(f"targets: coverage ≥ {TARGETS['coverage_min']:.0%}: {'met' if met['coverage'] else 'NOT met'}; "
              f"false verdicts ≤ {TARGETS['false_verdict_share_max']:.0%} of null cells: "
              f"{'met' if met['false_verdicts'] else 'NOT met'}; time-to-event bias: "
              f"{'met' if met['time_to_event_bias'] else 'NOT met'}")
    if summary["false_verdict_cells"]:
        con.print("false verdicts: " + "; ".join(summary["false_verdict_cells"]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS))
    ap.add_argument("--patients", type=int, default=20_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "truth.json")
    args = ap.parse_args(argv)
    started = time.perf_counter()
    summary = run(args.seeds, args.patients, args.workers)
    summary["seconds"] = time.perf_counter() - started
    summary["machine"] = {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": os.cpu_count()}
    _print(summary)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # the summary indented; the cells one per line (beside their truth), so the file stays readable
    rows = summary.pop("rows")
    text = json.dumps(summary, indent=1, default=float)
    cells = ",\n  ".join(json.dumps(r, default=float) for r in rows)
    args.out.write_text(text[:-1].rstrip() + ',\n "rows": [\n  ' + cells + "\n ]\n}\n", encoding="utf-8")
    print(f"written {args.out} ({summary['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
