"""The usual way of benchmarking sites, for ``bench/bench_benchmark.py`` to compare with
``spinetrack benchmark``: the rows in a pandas data frame, one statsmodels GLM (binomial, logit)
or OLS per outcome, expected values summed per site with pandas, and the funnel limits and the
CUSUM in numpy / Python.

To compare the modelling and nothing else, the rows come from the same place as spinetrack's:
DuckDB runs spinetrack's own SQL for the benchmark population (every operated episode with its
case-mix covariates and outcomes) once and hands the whole table to pandas — what an analyst does
with a registry extract. The covariates: every case-mix column that varies, less those collinear
with the ones before it (statsmodels keeps a column that separates a rare outcome, with a runaway
coefficient, where spinetrack drops it and says so: the expected counts then differ a little).
Prints a JSON document: per outcome and site n, O, E and the flag.

    .venv/bin/python bench/baseline_benchmark.py SNAPSHOT_DIR [--outcomes a,b]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("snapshot")
    ap.add_argument("--outcomes", default=None)
    args = ap.parse_args()
    t0 = time.perf_counter()
    import pandas as pd
    import statsmodels.api as sm
    from scipy.stats import norm

    from spinetrack.analysis.benchmark import OUTCOMES, _base_sql, _covariates
    from spinetrack.analysis.propensity import prepare_snapshot
    from spinetrack.engines import get_engine

    chosen = [o for o in OUTCOMES if args.outcomes is None or o.key in args.outcomes.split(",")]
    with get_engine("duckdb") as eng:
        eng.register_snapshot(args.snapshot)
        prepare_snapshot(eng)
        sql = _base_sql("site", None, "all", chosen)
        covs = _covariates()
        cols = ["unit", "followup_days", "episode_key", *covs, *(f"y_{o.key}" for o in chosen)]
        rows = eng.sql(f"SELECT {', '.join(cols)} FROM ({sql}) b")
    df = pd.DataFrame(rows, columns=cols)
    t_rows = time.perf_counter() - t0
    out: dict[str, object] = {"rows": len(df), "seconds_reading_rows": t_rows, "outcomes": {}}
    z95, z998 = norm.ppf(0.975), norm.ppf(0.999)
    for o in chosen:
        d = df[df[f"y_{o.key}"].notna()]
        x = d[covs].astype(float)
        x = x.loc[:, x.std() > 0]
        # drop collinear columns greedily (what the model can identify)
        keep: list[str] = []
        for c in x.columns:
            if np.linalg.matrix_rank(x[[*keep, c]].to_numpy()) == len(keep) + 1:
                keep.append(c)
        design = sm.add_constant(x[keep], has_constant="add")
        y = d[f"y_{o.key}"].astype(float)
        model = sm.GLM(y, design, family=sm.families.Binomial()) if o.kind == "binary" else sm.OLS(y, design)
        fit = model.fit()
        d = d.assign(f=fit.fittedvalues)
        per = d.groupby("unit").agg(n=(f"y_{o.key}", "size"), o=(f"y_{o.key}", "sum"), e=("f", "sum"))
        target = float(y.mean())
        if o.kind == "binary":
            adjusted = target * per.o / per.e
            se = np.sqrt(target * (1 - target) / per.n)
        else:
            sd = float(np.sqrt(fit.scale))
            adjusted = target + (per.o - per.e) / per.n
            se = sd / np.sqrt(per.n)
        flags = np.where(np.abs(adjusted - target) > z998 * se, "alarm",
                         np.where(np.abs(adjusted - target) > z95 * se, "alert", "ok"))
        out["outcomes"][o.key] = {u: {"n": int(r.n), "o": float(r.o), "e": float(r.e), "flag": str(f)}  # type: ignore[index]
                                  for (u, r), f in zip(per.iterrows(), flags, strict=True)}
        if o.key == "any_complication":  # the CUSUM, patient by patient, per site
            d = d.sort_values(["unit", "followup_days", "episode_key"], ascending=[True, False, True])
            for _unit, g in d.groupby("unit"):
                xs = 0.0
                for yy, p in zip(g[f"y_{o.key}"].to_numpy(), g["f"].to_numpy(), strict=True):
                    xs = max(0.0, xs + yy * np.log(2.0) - np.log(1 - p + 2.0 * p))
    out["seconds"] = time.perf_counter() - t0
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
