"""Benchmark of ``spinetrack snapshot``: export time and peak memory at 10k, 100k and 1M patients.

For each size a demo database is built with ``load_demo`` (SQLite, seed 7; reused from
``--workdir`` when it is already there), then each export runs in a fresh process whose
resident memory is sampled with psutil every 20 ms (the child's own ``ru_maxrss`` is
recorded too). The streaming export (``export_snapshot``: server-side cursor → Arrow batches
→ ``ParquetWriter``) is run plain and with ``--rekey``; in the same run the usual way —
``pandas.read_sql`` of each whole table, joins and date arithmetic in pandas,
``DataFrame.to_parquet`` — is measured at the sizes where it fits in memory
(``--baseline-sizes``). Prints a Rich table and writes ``bench/results/snapshot.json``.

    .venv/bin/python bench/bench_snapshot.py                          # 10k, 100k, 1M (1M load ≈ 9 min)
    .venv/bin/python bench/bench_snapshot.py --sizes 10000 100000
    .venv/bin/python bench/bench_snapshot.py --workdir /tmp/snapbench # keep and reuse the databases
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SECRET = "bench-secret-0123456789abcdef"


# ------------------------------------------------------------------------------- child process

def child(mode: str, db: str, out: str) -> None:
    """One measured export in this (fresh) process; prints one JSON line."""
    from spinetrack.store.session import make_engine

    engine = make_engine(f"sqlite:///{db}")
    rss_idle = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    if mode in ("streaming", "streaming_rekey"):
        from spinetrack.snapshot import export_snapshot

        result = export_snapshot(engine, out, rekey_secret=SECRET if mode == "streaming_rekey" else None,
                                 actor="bench", actor_role="system")
        rows = result.row_counts
    else:
        rows = pandas_way(engine, Path(out))
    seconds = time.perf_counter() - t0
    engine.dispose()
    size = sum(p.stat().st_size for p in Path(out).iterdir())
    print(json.dumps({"mode": mode, "seconds": seconds, "rows": rows, "parquet_mb": size / 2**20,
                      "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "rss_after_imports_mb": rss_idle}))


def pandas_way(engine: Any, out: Path) -> dict[str, int]:
    """The usual way: read every whole table into pandas, join and compute there, write Parquet."""
    import pandas as pd
    from sqlalchemy import select

    from spinetrack.store.tables import (
        ComplicationRow,
        EpisodeRow,
        PatientRow,
        ProcedureRow,
        PromResponseRow,
        ReadmissionRow,
        ReoperationRow,
        SiteRow,
    )

    out.mkdir(parents=True)
    P, E, R = PatientRow, EpisodeRow, PromResponseRow
    with engine.connect() as c:
        sites = pd.read_sql(select(SiteRow.id.label("site_id"), SiteRow.code.label("site")), c)
        patients = pd.read_sql(select(P.id.label("patient_id"), P.pseudo_id, P.site_id, P.birth_year, P.sex, P.bmi,
                                      P.smoking, P.diabetes, P.asa_grade, P.work_status, P.symptom_duration_weeks,
                                      P.prior_spine_surgery).order_by(P.id), c)
        episodes = pd.read_sql(select(E.id.label("episode_id"), E.patient_id, E.diagnosis_code, E.diagnosis_group,
                                      E.n_levels, E.levels, E.conservative_care, E.conservative_care_weeks,
                                      E.treatment, E.treatment_family, E.index_date).order_by(E.id), c)
        procedures = pd.read_sql(select(ProcedureRow).order_by(ProcedureRow.id), c)
        complications = pd.read_sql(select(ComplicationRow).order_by(ComplicationRow.id), c)
        readmissions = pd.read_sql(select(ReadmissionRow).order_by(ReadmissionRow.id), c)
        reoperations = pd.read_sql(select(ReoperationRow).order_by(ReoperationRow.id), c)
        responses = pd.read_sql(select(R.episode_id, R.instrument, R.timepoint, R.days_from_index, R.score, R.valid,
                                       R.score_detail).order_by(R.id), c)
    patients = patients.merge(sites, on="site_id")
    episodes["index_date"] = pd.to_datetime(episodes["index_date"])
    episodes = episodes.merge(patients[["patient_id", "pseudo_id", "birth_year"]], on="patient_id")
    episodes["index_year"] = episodes["index_date"].dt.year.astype("Int16")
    episodes["age_at_index"] = (episodes["index_year"] - episodes["birth_year"]).astype("Int16")
    episodes["has_procedure"] = episodes["episode_id"].isin(procedures["episode_id"])
    index = episodes[["episode_id", "index_date"]]

    def days(df: pd.DataFrame, col: str) -> pd.DataFrame:
        df = df.merge(index, on="episode_id")
        df["days_from_index"] = (pd.to_datetime(df[col]) - df["index_date"]).dt.days.astype("Int32")
        return df

    tables = {
        "patients": patients.rename(columns={"pseudo_id": "patient_key"})[
            ["patient_key", "site", "birth_year", "sex", "bmi", "smoking", "diabetes", "asa_grade", "work_status",
             "symptom_duration_weeks", "prior_spine_surgery"]],
        "episodes": episodes.rename(columns={"episode_id": "episode_key", "pseudo_id": "patient_key"})[
            ["episode_key", "patient_key", "diagnosis_code", "diagnosis_group", "n_levels", "levels",
             "conservative_care", "conservative_care_weeks", "treatment", "treatment_family", "index_year",
             "age_at_index", "has_procedure"]],
        "procedures": days(procedures, "performed_on").rename(columns={"episode_id": "episode_key"})[
            ["episode_key", "procedure_code", "family", "approach", "technique", "days_from_index", "n_levels",
             "incision_mm", "ebl_ml", "op_time_min", "fluoro_s", "fluoro_dose_mgy", "los_days", "transfusion"]],
        "complications": days(complications, "occurred_on").rename(columns={"episode_id": "episode_key"})[
            ["episode_key", "category", "clavien_dindo", "days_from_index"]],
        "readmissions": days(readmissions, "admitted_on").rename(columns={"episode_id": "episode_key"})[
            ["episode_key", "days_from_index"]],
        "reoperations": days(reoperations, "performed_on").rename(columns={"episode_id": "episode_key"})[
            ["episode_key", "reason", "days_from_index"]],
    }
    responses = responses.merge(episodes[["episode_id", "pseudo_id"]], on="episode_id")
    responses["returned"] = [d.get("returned") if i == "return_to_activity" and isinstance(d, dict) else None
                             for i, d in zip(responses["instrument"], responses["score_detail"], strict=True)]
    tables["outcomes"] = responses.rename(columns={"pseudo_id": "patient_key", "episode_id": "episode_key"})[
        ["patient_key", "episode_key", "instrument", "timepoint", "days_from_index", "score", "valid", "returned"]]
    for name, df in tables.items():
        df.to_parquet(out / f"{name}.parquet", index=False, compression="zstd")
    return {name: len(df) for name, df in tables.items()}


# ------------------------------------------------------------------------------- parent process

def build(workdir: Path, patients: int, seed: int) -> Path:
    """The demo database for ``patients`` (built with load_demo unless already complete)."""
    db = workdir / f"demo-{patients}-seed{seed}.db"
    done = workdir / f"{db.name}.done"
    if done.exists():
        return db
    from spinetrack.store.migrate import upgrade
    from spinetrack.store.session import make_engine
    from spinetrack.synth.load import load_demo

    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    load_demo(engine, patients=patients, seed=seed)
    engine.dispose()
    done.write_text("complete\n")
    return db


def measure(mode: str, db: Path, workdir: Path) -> dict[str, Any]:
    import psutil

    out = workdir / f"out-{mode}"
    shutil.rmtree(out, ignore_errors=True)
    proc = psutil.Popen([sys.executable, str(Path(__file__).resolve()), "--child", mode, str(db), str(out)],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, proc.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.02)
    stdout, stderr = proc.communicate()
    shutil.rmtree(out, ignore_errors=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{mode} on {db.name} failed ({proc.returncode}):\n{stderr[-3000:]}")
    r = json.loads(stdout.strip().splitlines()[-1])
    r["peak_rss_mb"] = max(peak / 2**20, r["ru_maxrss_mb"])
    r["psutil_sampled_peak_mb"] = peak / 2**20
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--baseline-sizes", type=int, nargs="*", default=[10_000, 100_000],
                    help="sizes at which the pandas way is measured too")
    ap.add_argument("--no-rekey", action="store_true", help="skip the rekeyed streaming export")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--workdir", default=None, help="keep the databases here and reuse them (default: temporary)")
    args = ap.parse_args()

    from rich.console import Console
    from rich.table import Table

    console = Console(width=170)
    results = []
    tmp = None if args.workdir else tempfile.TemporaryDirectory()
    workdir = Path(args.workdir or tmp.name)  # type: ignore[union-attr]
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        for n in args.sizes:
            with console.status(f"building the demo database with {n:,} patients (load_demo) …"):
                t0 = time.perf_counter()
                db = build(workdir, n, args.seed)
            console.print(f"database {n:,}: ready in {time.perf_counter() - t0:.0f} s "
                          f"({db.stat().st_size / 2**20:,.0f} MB)")
            r: dict[str, Any] = {"patients": n, "db_mb": db.stat().st_size / 2**20}
            modes = ["streaming"] + ([] if args.no_rekey else ["streaming_rekey"]) + \
                (["pandas"] if n in args.baseline_sizes else [])
            for mode in modes:
                with console.status(f"{mode} export of {n:,} patients …"):
                    m = measure(mode, db, workdir)
                console.print(f"  {mode}: {m['seconds']:.1f} s, peak RSS {m['peak_rss_mb']:.0f} MB")
                r[mode] = m
            r["rows"] = r["streaming"]["rows"]
            if "pandas" in r:
                assert r["pandas"]["rows"] == r["rows"], (r["pandas"]["rows"], r["rows"])
                r["speedup_vs_pandas"] = r["pandas"]["seconds"] / r["streaming"]["seconds"]
                r["memory_ratio_pandas_over_streaming"] = r["pandas"]["peak_rss_mb"] / r["streaming"]["peak_rss_mb"]
            results.append(r)
            if tmp is not None:  # do not keep a multi-GB database around
                for suffix in ("", "-wal", "-shm"):
                    Path(str(db) + suffix).unlink(missing_ok=True)
    finally:
        if tmp is not None:
            tmp.cleanup()

    t = Table(title="spinetrack snapshot: streaming export vs pandas.read_sql → to_parquet "
                    "(SQLite, fresh process each)")
    for col in ("patients", "outcome rows", "DB MB", "stream s", "rows/s", "peak MB", "rekeyed s", "rekeyed MB",
                "Parquet MB", "pandas s", "pandas MB", "speed-up", "memory ratio"):
        t.add_column(col, justify="right")
    for r in results:
        s, k, p = r["streaming"], r.get("streaming_rekey"), r.get("pandas")
        total_rows = sum(r["rows"].values())
        t.add_row(f"{r['patients']:,}", f"{r['rows']['outcomes']:,}", f"{r['db_mb']:,.0f}", f"{s['seconds']:.1f}",
                  f"{total_rows / s['seconds']:,.0f}", f"{s['peak_rss_mb']:.0f}",
                  f"{k['seconds']:.1f}" if k else "—", f"{k['peak_rss_mb']:.0f}" if k else "—",
                  f"{s['parquet_mb']:.1f}",
                  f"{p['seconds']:.1f}" if p else "—", f"{p['peak_rss_mb']:.0f}" if p else "—",
                  f"{r['speedup_vs_pandas']:.1f}×" if p else "—",
                  f"{r['memory_ratio_pandas_over_streaming']:.1f}×" if p else "—")
    console.print(t)
    out = HERE / "results" / "snapshot.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({
        "benchmark": "spinetrack snapshot", "date": dt.date.today().isoformat(), "seed": args.seed,
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()},
        "notes": "SQLite store; peak_rss_mb = max(psutil RSS sampled every 20 ms, child ru_maxrss); "
                 "rows/s counts rows of all seven tables",
        "results": results}, indent=2) + "\n")
    console.print(f"written {out.relative_to(HERE.parent)}")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        main()
