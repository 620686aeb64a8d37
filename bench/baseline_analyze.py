"""The claims scorecard the conventional way: pandas + statsmodels + lifelines in one process.

This is the baseline that ``bench/bench_analyze.py`` times against ``spinetrack analyze``. It
reads the snapshot's Parquet files into pandas (pyarrow; only the columns it uses), builds each
comparison's population and covariates in pandas by translating the SQL of
:mod:`spinetrack.analysis.design` (``population_sql``, ``covariate_columns``, and the outcomes of
``outcome_spec`` / ``analysis_table_sql`` / ``prom_wide_sql``, formerly ``outcome_sql``), and
then, per comparison:

* fits ONE propensity score on the whole comparison population with ``statsmodels.api.Logit``
  (covariates with no variation, 0/1 covariates constant within an arm, and collinear ones are
  dropped first, and a covariate that (quasi-)separates the arms when the fit does not converge,
  by the same rules as ``spinetrack.analysis.propensity``);
* overlap weights (ATO): treated ``1 − e``, control ``e``;
* balance: standardized mean differences before and after weighting, by numpy;
* per continuous / binary claim, on the rows with an observed outcome: the weighted difference
  MIS − open (a risk difference for binary claims) from ``sm.WLS(y, [1, t], weights=w)
  .fit(cov_type="HC0")`` — the usual robust interval, which ignores that the propensity score
  was estimated (the point estimate is the Hajek weighted difference, identical to ours);
* per time-to-event claim: ``lifelines.KaplanMeierFitter`` per arm with the weights, and the
  difference MIS − open of the claim's functional (``Claim.functional``): the survival at the
  horizon (``reoperation_free``: ``S(730)``) or the restricted mean up to it
  (``return_to_activity``: mean days not yet returned within 365), with Greenwood-type
  intervals on the weighted counts. Known difference: when the last weighted event empties the
  risk set, rounding leaves ``at_risk − observed`` a hair below 0, lifelines takes the log of it
  (NaN) and carries the previous value forward, so its curve stays above 0 where it should
  drop to 0 (and the restricted mean comes out larger);
* loss to follow-up and PROM trajectories, as the CLI reports them: per timepoint and arm, the
  patients who returned any PROM; per arm, instrument and timepoint, the overlap-weighted mean,
  SD and standard error (Kish effective size) of the valid scores — from one pandas pivot of the
  outcomes (instrument × timepoint per episode), merged into each comparison's population;
* surgical outcomes (procedures, complications, readmissions, reoperations) are not applicable
  to the surgery-vs-conservative comparison (as ``analysis.run.applicable``);
* with sensitivity: AIPW (ATE, doubly robust) with ``statsmodels`` OLS outcome models per arm
  on the propensity covariates, and E-values (risk ratio for binary claims, ``exp(0.91 d)``
  for continuous ones, as in :mod:`spinetrack.stats.sensitivity`). (The CLI's sensitivity
  analyses also fit inverse-probability-of-censoring models for the PROM claims; the baseline
  does not.)

It is written the way a competent analyst would: the outcome table of each claim is built once
and merged into each comparison's population. Everything lives in memory at once. Time and
peak memory are measured from outside, by ``bench/bench_analyze.py`` (fresh process, psutil RSS
sampled every 20 ms, plus ``ru_maxrss``).

    .venv/bin/python bench/baseline_analyze.py /path/to/snap [--no-sensitivity] [--out result.json]
"""

from __future__ import annotations

import argparse
import json
import math
import re
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from spinetrack.analysis.claims import CLAIMS, Claim, MetricKind
from spinetrack.analysis.design import (
    COMPARISONS,
    PROM_INSTRUMENTS,
    TIMEPOINTS,
    ComparisonSpec,
    covariate_columns,
)
from spinetrack.domain.diagnosis import DiagnosisGroup

__all__ = ["run_baseline"]

_REF_GROUP = DiagnosisGroup.DISC_HERNIATION_RADICULOPATHY.value
_Z95 = 1.959963984540054

# Only the columns the analysis reads (a fair baseline does not load what it never uses).
_COLUMNS: dict[str, list[str]] = {
    "patients": ["patient_key", "sex", "bmi", "smoking", "diabetes", "asa_grade", "symptom_duration_weeks",
                 "prior_spine_surgery"],
    "episodes": ["episode_key", "patient_key", "diagnosis_group", "n_levels", "treatment", "treatment_family",
                 "age_at_index", "has_procedure"],
    "procedures": ["episode_key", "days_from_index", "incision_mm", "ebl_ml", "op_time_min", "fluoro_s",
                   "fluoro_dose_mgy", "los_days", "transfusion"],
    "complications": ["episode_key", "category", "clavien_dindo"],
    "readmissions": ["episode_key"],
    "reoperations": ["episode_key", "days_from_index"],
    "outcomes": ["episode_key", "instrument", "timepoint", "days_from_index", "score", "valid", "returned"],
}


# ------------------------------------------------------------------------------- reading, covariates

def read_snapshot(snapshot_dir: Path) -> dict[str, pd.DataFrame]:
    """Every table the analysis needs, as pandas DataFrames."""
    return {name: pd.read_parquet(snapshot_dir / f"{name}.parquet", columns=cols) for name, cols in _COLUMNS.items()}


def _true(s: pd.Series) -> pd.Series:
    """SQL ``CASE WHEN s THEN 1.0 ELSE 0.0 END`` (null counts as not true)."""
    return s.eq(True).astype(float)


def baseline_scores(outcomes: pd.DataFrame) -> pd.DataFrame:
    """Baseline ODI / NRS back / NRS leg per episode (``_BASELINE`` in design.py): the maximum
    valid baseline score per instrument."""
    b = outcomes[(outcomes["timepoint"] == "baseline") & outcomes["valid"].eq(True)
                 & outcomes["instrument"].isin(["odi", "nrs_back", "nrs_leg"])]
    wide = b.groupby(["episode_key", "instrument"])["score"].max().unstack("instrument")
    wide = wide.reindex(columns=["odi", "nrs_back", "nrs_leg"])
    wide.columns = ["odi0", "back0", "leg0"]
    return wide.reset_index()


def prom_grid(outcomes: pd.DataFrame) -> pd.DataFrame:
    """The valid score of every instrument × timepoint of the trajectories per episode (the grid
    of ``prom_wide_sql``; the maximum if an episode had two), indexed by ``episode_key``."""
    p = outcomes[outcomes["valid"].eq(True) & outcomes["instrument"].isin(PROM_INSTRUMENTS)
                 & outcomes["timepoint"].isin(TIMEPOINTS)]
    wide = p.groupby(["episode_key", "instrument", "timepoint"])["score"].max().unstack(["instrument", "timepoint"])
    wide.columns = [f"{i}__{tp}" for i, tp in wide.columns]
    return wide.reindex(columns=[f"{i}__{tp}" for i in PROM_INSTRUMENTS for tp in TIMEPOINTS])


def followup_and_trajectories(pop: pd.DataFrame, grid: pd.DataFrame) -> tuple[list[dict[str, Any]],
                                                                            list[dict[str, Any]]]:
    """Loss to follow-up per timepoint and arm, and weighted PROM means per arm, instrument and
    timepoint (``analysis.scorecard._followup_and_trajectories``), with pandas."""
    g = pop[["episode_key", "t", "w"]].merge(grid, left_on="episode_key", right_index=True, how="left")
    arm = g["t"].to_numpy() == 1.0
    n = {1: int(arm.sum()), 0: int((~arm).sum())}
    followup = []
    for tp in TIMEPOINTS:
        returned = g[[f"{i}__{tp}" for i in PROM_INSTRUMENTS]].notna().any(axis=1).to_numpy()
        r1, r0 = int((returned & arm).sum()), int((returned & ~arm).sum())
        if r1 == 0 and r0 == 0:
            continue
        followup.append({"timepoint": tp, "population_treated": n[1], "population_control": n[0],
                         "returned_treated": r1, "returned_control": r0,
                         "lost_treated": 1.0 - r1 / n[1] if n[1] else None,
                         "lost_control": 1.0 - r0 / n[0] if n[0] else None})
    traj = []
    w = g["w"].to_numpy(float)
    for inst in PROM_INSTRUMENTS:
        for tp in TIMEPOINTS:
            y = g[f"{inst}__{tp}"].to_numpy(float)
            seen = ~np.isnan(y)
            for a, label in ((1, "treated"), (0, "control")):
                m = seen & (arm if a == 1 else ~arm)
                if not m.any():
                    continue
                wa, ya = w[m], y[m]
                sw = wa.sum()
                mean = float((wa * ya).sum() / sw)
                var = max(float((wa * ya * ya).sum() / sw) - mean * mean, 0.0)
                ess = sw * sw / float((wa * wa).sum())
                traj.append({"arm": label, "instrument": inst, "timepoint": tp, "n": int(m.sum()), "mean": mean,
                             "sd": var ** 0.5, "se": (var / ess) ** 0.5})
    return followup, traj


def episode_covariates(tables: dict[str, pd.DataFrame], baseline: pd.DataFrame) -> pd.DataFrame:
    """Episodes joined with patients and baseline scores, with every covariate of design.py
    (missing-indicator method, the same centring constants)."""
    e = tables["episodes"].merge(tables["patients"], on="patient_key", how="inner")
    e = e.merge(baseline, on="episode_key", how="left")
    x: dict[str, Any] = {}
    age = e["age_at_index"].astype(float)
    x["age10"] = (age.fillna(60.0) - 60.0) / 10.0
    x["age10_missing"] = age.isna().astype(float)
    x["male"] = (e["sex"] == "male").astype(float)
    bmi = e["bmi"].astype(float)
    x["bmi5"] = (bmi.fillna(28.0) - 28.0) / 5.0
    x["bmi5_missing"] = bmi.isna().astype(float)
    x["smoker_current"] = (e["smoking"] == "current").astype(float)
    x["smoker_current_missing"] = e["smoking"].isna().astype(float)
    x["smoker_former"] = (e["smoking"] == "former").astype(float)
    x["diabetes"] = _true(e["diabetes"])
    x["diabetes_missing"] = e["diabetes"].isna().astype(float)
    asa = e["asa_grade"].astype(float)
    x["asa"] = asa.fillna(2.0) - 2.0
    x["asa_missing"] = asa.isna().astype(float)
    for g in DiagnosisGroup:
        if g.value != _REF_GROUP:
            x[f"dx_{g.value}"] = (e["diagnosis_group"] == g.value).astype(float)
    x["extra_levels"] = e["n_levels"].astype(float) - 1.0
    x["odi0"] = (e["odi0"].fillna(45.0) - 45.0) / 10.0
    x["odi0_missing"] = e["odi0"].isna().astype(float)
    x["back0"] = e["back0"].fillna(6.0) - 6.0
    x["back0_missing"] = e["back0"].isna().astype(float)
    x["leg0"] = e["leg0"].fillna(6.0) - 6.0
    x["leg0_missing"] = e["leg0"].isna().astype(float)
    weeks = e["symptom_duration_weeks"].astype(float)
    x["log_symptom_weeks"] = np.log(1.0 + weeks.fillna(26.0))
    x["log_symptom_weeks_missing"] = weeks.isna().astype(float)
    x["prior_surgery"] = _true(e["prior_spine_surgery"])
    x["prior_surgery_missing"] = e["prior_spine_surgery"].isna().astype(float)
    for f in ("discectomy", "decompression", "fusion"):
        x[f"family_{f}"] = (e["treatment_family"] == f).astype(float)
    keys = e[["episode_key", "treatment", "treatment_family", "has_procedure", "odi0"]].rename(
        columns={"odi0": "odi0_raw"})
    return pd.concat([keys, pd.DataFrame({f"x_{k}": v for k, v in x.items()})], axis=1)


def population(spec: ComparisonSpec, cov: pd.DataFrame) -> pd.DataFrame:
    """``population_sql(spec)``: the comparison's episodes with ``t`` (1 treated, 0 control)."""
    mask = cov["treatment"].isin(spec.treated + spec.control)
    if spec.families:
        fam = cov["treatment_family"].isin(spec.families)
        mask &= (fam | (cov["treatment"] == "conservative")) if "conservative" in spec.control else fam
    if spec.require_procedure:
        mask &= cov["has_procedure"].eq(True)
    pop = cov.loc[mask].reset_index(drop=True)
    pop.insert(1, "t", pop["treatment"].isin(spec.treated).astype(float))
    return pop


# ------------------------------------------------------------------------------- outcomes per claim

_EQ = re.compile(r"^\s*(\w+)\s*=\s*'([^']*)'\s*$")
_IN = re.compile(r"^\s*(\w+)\s+IN\s*\(([^)]*)\)\s*$", re.IGNORECASE)


def _event_mask(df: pd.DataFrame, event_filter: str | None) -> pd.Series:
    """The complication filters of claims.py (``col = 'v'`` or ``col IN ('a', 'b')``) in pandas."""
    if event_filter in (None, "any"):
        return pd.Series(True, index=df.index)
    assert event_filter is not None
    if m := _EQ.match(event_filter):
        return df[m.group(1)] == m.group(2)
    if m := _IN.match(event_filter):
        values = [v.strip().strip("'") for v in m.group(2).split(",")]
        return df[m.group(1)].isin(values)
    raise ValueError(f"cannot translate the complication filter {event_filter!r}")


def outcome_table(claim: Claim, tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per episode the claim's outcome (``y``, or ``time``/``event``), independent of the
    comparison; joined with a population by :func:`claim_rows` (``outcome_sql``)."""
    if claim.table == "procedures":
        pr = tables["procedures"]
        pr = pr.loc[(pr["days_from_index"] == 0) & pr[claim.column].notna(), ["episode_key", claim.column]]
        return pd.DataFrame({"episode_key": pr["episode_key"].to_numpy(),
                             "y": pr[claim.column].astype(float).to_numpy()})
    if claim.table == "complications":
        c = tables["complications"]
        return pd.DataFrame({"episode_key": c.loc[_event_mask(c, claim.event_filter), "episode_key"].unique()})
    if claim.table == "readmissions":
        return pd.DataFrame({"episode_key": tables["readmissions"]["episode_key"].unique()})
    o = tables["outcomes"]
    if claim.kind is not MetricKind.TIME_TO_EVENT:
        sel = o.loc[(o["instrument"] == claim.instrument) & (o["timepoint"] == claim.timepoint)
                    & o["valid"].eq(True) & o["score"].notna(), ["episode_key", "score"]]
        # one valid score per episode and timepoint (the largest, should there be two)
        return sel.groupby("episode_key", as_index=False)["score"].max()
    if claim.key == "return_to_activity":
        r = o.loc[(o["instrument"] == "return_to_activity") & o["valid"].eq(True),
                  ["episode_key", "returned", "score", "days_from_index"]].copy()
        r["ret_score"] = r["score"].where(r["returned"].eq(True))
        g = r.groupby("episode_key").agg(t_ret=("ret_score", "min"), last_seen=("days_from_index", "max"))
        g["time"] = g["t_ret"].fillna(g["last_seen"].astype(float))
        g["event"] = g["t_ret"].notna().astype(float)
        return g.loc[g["time"].notna(), ["time", "event"]].reset_index()
    if claim.key == "reoperation_free":
        h = float(claim.horizon_days or 730)
        ro = tables["reoperations"].groupby("episode_key")["days_from_index"].min().rename("first_day")
        fu = o.loc[o["days_from_index"] > 0].groupby("episode_key")["days_from_index"].max().rename("last_seen")
        g = pd.concat([ro, fu], axis=1)  # outer join on episode_key: first_day or last_seen not null
        first, last = g["first_day"].astype(float), g["last_seen"].astype(float)
        hit = first.notna() & (first <= h)
        g["time"] = np.where(hit, first, np.minimum(last.fillna(0.0), h))
        g["event"] = hit.astype(float)
        return g[["time", "event"]].rename_axis("episode_key").reset_index()
    raise ValueError(f"no outcome translation for claim {claim.key!r}")


_SURGICAL_TABLES = ("procedures", "complications", "readmissions", "reoperations")


def applicable(spec: ComparisonSpec, claim: Claim) -> bool:
    """Surgical outcomes have no counterpart in a conservative-care control arm."""
    return not ("conservative" in spec.control and claim.table in _SURGICAL_TABLES)


def functional(claim: Claim) -> str:
    """``"survival"`` at the horizon or ``"rmst"`` up to it (claims.py; survival if unset)."""
    return getattr(claim, "functional", None) or "survival"


def claim_rows(claim: Claim, pop: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """``outcome_sql(claim)`` on one population: the rows with an observed outcome."""
    if claim.table in ("complications", "readmissions"):  # LEFT JOIN: no record counts as none
        df = pop.copy()
        df["y"] = df["episode_key"].isin(table["episode_key"]).astype(float)
        return df
    df = pop.merge(table, on="episode_key", how="inner")
    if claim.table == "outcomes" and claim.kind is not MetricKind.TIME_TO_EVENT:
        if claim.key == "odi_mcid_12m":
            from spinetrack.instruments import thresholds

            mcid = thresholds.get("odi").absolute
            df = df[df["odi0_raw"].notna()].copy()
            df["y"] = (df["odi0_raw"] - df["score"] >= mcid).astype(float)
        else:
            df["y"] = df["score"]
    return df


# ------------------------------------------------------------------------------- propensity, balance

def select_covariates(pop: pd.DataFrame, names: list[str]) -> tuple[list[str], list[str]]:
    """The rules of ``analysis.propensity``: drop columns with no variation and 0/1 columns constant
    within an arm (separation), then columns collinear with the ones kept (greedy on X'X)."""
    x = pop[names].to_numpy(dtype=float)
    t = pop["t"].to_numpy() == 1.0
    n = len(pop)
    s1, s2 = x.sum(axis=0), (x * x).sum(axis=0)
    keep, drop = [], []
    for j, c in enumerate(names):
        var = s2[j] / n - (s1[j] / n) ** 2 if n else 0.0
        separating = False
        if abs(s1[j] - s2[j]) < 1e-9 and t.any() and (~t).any():
            for arm in (t, ~t):
                ones = x[arm, j].sum()
                separating |= ones == 0.0 or ones == arm.sum()
        (keep if var > 1e-10 and not separating else drop).append(c)
    xk = np.column_stack([np.ones(n), pop[keep].to_numpy(dtype=float)])
    m = xk.T @ xk
    idx = [0]
    for j in range(1, m.shape[0]):
        sub = m[np.ix_([*idx, j], [*idx, j])]
        resid = sub[-1, -1] - sub[-1, :-1] @ np.linalg.solve(sub[:-1, :-1], sub[:-1, -1])
        if resid > 1e-8 * max(sub[-1, -1], 1.0):
            idx.append(j)
        else:
            drop.append(keep[j - 1])
    return [keep[j - 1] for j in idx[1:]], drop


def fit_propensity(t: np.ndarray, pop: pd.DataFrame, cols: list[str], max_drops: int = 5
                   ) -> tuple[Any, list[str], list[str]]:
    """``statsmodels.api.Logit`` of ``t`` on the covariates. When it does not converge or reports
    perfect separation (a rare level whose few patients all had one treatment), drop the
    covariate whose coefficient runs away — the largest |coefficient|, the intercept's turn
    going to the largest covariate — and refit, at most ``max_drops`` times (as
    ``analysis.propensity.fit_dropping_separators``)."""
    import statsmodels.api as sm

    cols, dropped = list(cols), []
    while True:
        x = np.column_stack([np.ones(len(t)), pop[cols].to_numpy(float)])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fit = sm.Logit(t, x).fit(disp=0, maxiter=100)
        separated = any("separation" in str(w.message).lower() for w in caught)
        if (fit.mle_retvals["converged"] and not separated) or not cols or len(dropped) >= max_drops:
            return fit, cols, dropped
        beta = np.abs(np.asarray(fit.params))
        j = int(np.argmax(beta))
        culprit = cols[j - 1] if j > 0 else cols[int(np.argmax(beta[1:]))]
        cols.remove(culprit)
        dropped.append(culprit)


def smd(x: np.ndarray, t: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted standardized mean differences, one per column (Austin 2009)."""
    out = []
    for arm in (t == 1.0, t == 0.0):
        wa, xa = w[arm], x[arm]
        m = wa @ xa / wa.sum()
        v = wa @ (xa - m) ** 2 / wa.sum()
        out.append((m, v))
    (m1, v1), (m0, v0) = out
    with np.errstate(divide="ignore", invalid="ignore"):
        return (m1 - m0) / np.sqrt((v1 + v0) / 2.0)


# ------------------------------------------------------------------------------- estimates

def _e_value(rr: float) -> float:
    rr = 1.0 / rr if rr < 1 else rr
    return rr + math.sqrt(rr * (rr - 1.0))


def _e_value_ci(rr: float, lo: float, hi: float) -> float:
    if rr >= 1:
        return 1.0 if lo <= 1 else _e_value(lo)
    return 1.0 if hi >= 1 else _e_value(hi)


def weighted_difference(df: pd.DataFrame, claim: Claim, cols: list[str], sensitivity: bool) -> dict[str, Any]:
    import statsmodels.api as sm

    y, t, w = df["y"].to_numpy(float), df["t"].to_numpy(float), df["w"].to_numpy(float)
    fit = sm.WLS(y, np.column_stack([np.ones_like(t), t]), weights=w).fit(cov_type="HC0")
    est, se = float(fit.params[1]), float(fit.bse[1])
    lo, hi = (float(v) for v in fit.conf_int()[1])
    tr, co = t == 1.0, t == 0.0
    out: dict[str, Any] = {"estimate": est, "ci_low": lo, "ci_high": hi, "se": se,
                           "naive_difference": float(y[tr].mean() - y[co].mean())}
    if not sensitivity:
        return out
    # AIPW (ATE): OLS outcome model per arm on the propensity covariates.
    x = np.column_stack([np.ones(len(df)), df[cols].to_numpy(float)])
    e = df["e"].to_numpy(float)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m1 = x @ sm.OLS(y[tr], x[tr]).fit().params
        m0 = x @ sm.OLS(y[co], x[co]).fit().params
    if any("rank-deficient" in str(c.message) for c in caught):
        out["aipw_note"] = "an outcome model's design is rank-deficient within an arm (pinv solution)"
    psi = m1 + t * (y - m1) / e - (m0 + (1.0 - t) * (y - m0) / (1.0 - e))
    a_est, a_se = float(psi.mean()), float(psi.std() / math.sqrt(len(psi)))
    out.update(aipw_estimate=a_est, aipw_ci_low=a_est - _Z95 * a_se, aipw_ci_high=a_est + _Z95 * a_se)
    # E-values
    if claim.kind is MetricKind.BINARY:
        mu = [float(np.average(y[a], weights=w[a])) for a in (tr, co)]
        if mu[0] > 0 and mu[1] > 0:
            var = [float(np.sum(w[a] ** 2 * (y[a] - m) ** 2) / w[a].sum() ** 2)
                   for a, m in zip((tr, co), mu, strict=True)]
            rr = mu[0] / mu[1]
            s = math.sqrt(var[0] / mu[0] ** 2 + var[1] / mu[1] ** 2)
            out.update(risk_ratio=rr, e_value=_e_value(rr),
                       e_value_ci=_e_value_ci(rr, rr * math.exp(-_Z95 * s), rr * math.exp(_Z95 * s)))
    else:
        sd = float(y.std(ddof=1))
        if sd > 0:
            d, sd_d = est / sd, se / sd
            rr = math.exp(0.91 * d)
            out.update(e_value=_e_value(rr),
                       e_value_ci=_e_value_ci(rr, math.exp(0.91 * d - 1.78 * sd_d), math.exp(0.91 * d + 1.78 * sd_d)))
    return out


def survival_difference(df: pd.DataFrame, claim: Claim) -> dict[str, Any]:
    """Weighted Kaplan–Meier per arm (lifelines) and the difference of S(horizon) or of the
    restricted mean survival time up to the horizon."""
    from lifelines import KaplanMeierFitter
    from lifelines.exceptions import StatisticalWarning
    from lifelines.utils import restricted_mean_survival_time

    h = float(claim.horizon_days or 0)
    s, v, rmst, rmst_var = {}, {}, {}, {}
    for arm in (1.0, 0.0):
        a = df[df["t"] == arm]
        kmf = KaplanMeierFitter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", StatisticalWarning)  # non-integer (propensity) weights
            kmf.fit(a["time"], a["event"], weights=a["w"])
        s[arm] = float(kmf.predict(h))
        rmst[arm] = float(restricted_mean_survival_time(kmf, t=h))  # exact for a KM fit
        # Greenwood on the weighted counts: Var S(h) = S(h)² Σ g_j and, for the restricted mean,
        # Σ A_j² g_j with A_j = ∫_{t_j}^{h} S (Klein & Moeschberger; R survRM2). A step where the
        # curve reaches 0 adds no term (S, and A, are 0 from there on).
        et = kmf.event_table.loc[kmf.event_table.index <= h]
        tj, d, n = et.index.to_numpy(float), et["observed"].to_numpy(float), et["at_risk"].to_numpy(float)
        ok = (d > 0) & (n - d > 1e-12)
        g = np.zeros_like(d)
        g[ok] = d[ok] / (n[ok] * (n[ok] - d[ok]))
        v[arm] = s[arm] ** 2 * float(g.sum())
        surv = np.cumprod(1.0 - np.where(n > 0, d / np.where(n > 0, n, 1.0), 0.0))  # S just after each t_j
        area_after = surv * np.diff(np.append(tj, h))  # ∫ over [t_j, t_{j+1}) (last piece to h)
        a_j = np.cumsum(area_after[::-1])[::-1]  # ∫_{t_j}^{h} S
        rmst_var[arm] = float(np.sum(a_j ** 2 * g))
    if functional(claim) == "rmst":
        measure, est, se = "restricted mean difference", rmst[1.0] - rmst[0.0], math.sqrt(rmst_var[1.0] + rmst_var[0.0])
    else:
        measure, est, se = "survival difference", s[1.0] - s[0.0], math.sqrt(v[1.0] + v[0.0])
    return {"measure": measure, "estimate": est, "ci_low": est - _Z95 * se, "ci_high": est + _Z95 * se, "se": se,
            "survival_treated": s[1.0], "survival_control": s[0.0], "horizon_days": h,
            "rmst_treated": rmst[1.0], "rmst_control": rmst[0.0], "rmst_difference": rmst[1.0] - rmst[0.0]}


# ------------------------------------------------------------------------------- the scorecard

def run_baseline(snapshot_dir: Path, *, sensitivity: bool = True) -> dict[str, Any]:
    """Every comparison × claim of the scorecard; returns ``{"results": [rows], "balance": …}``
    where each row has comparison, claim, estimate, ci_low, ci_high (and more)."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    tables = read_snapshot(Path(snapshot_dir))
    timings["read"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    cov = episode_covariates(tables, baseline_scores(tables["outcomes"]))
    grid = prom_grid(tables["outcomes"])
    outcome_tables = {c.key: outcome_table(c, tables) for c in CLAIMS}
    del tables
    timings["prepare"] = time.perf_counter() - t1
    results: list[dict[str, Any]] = []
    balance: dict[str, Any] = {}
    followup: dict[str, list[dict[str, Any]]] = {}
    trajectories: dict[str, list[dict[str, Any]]] = {}
    for spec in COMPARISONS:
        t2 = time.perf_counter()
        pop = population(spec, cov)
        names = [f"x_{n}" for c in covariate_columns(spec)
                 for n in (c.name, f"{c.name}_missing")[:1 + bool(c.missing_sql)]]
        cols, dropped = select_covariates(pop, names)
        t = pop["t"].to_numpy(float)
        ps, cols, separators = fit_propensity(t, pop, cols)
        dropped += separators
        e = np.asarray(ps.predict(np.column_stack([np.ones(len(pop)), pop[cols].to_numpy(float)])))
        pop["e"] = e
        pop["w"] = np.where(t == 1.0, 1.0 - e, e)
        xs = pop[cols].to_numpy(float)
        before, after = smd(xs, t, np.ones_like(t)), smd(xs, t, pop["w"].to_numpy())
        balance[spec.key] = {
            "n_treated": int(t.sum()), "n_control": int(len(t) - t.sum()), "covariates": cols, "dropped": dropped,
            "ps_converged": bool(ps.mle_retvals["converged"]),
            "smd_before": dict(zip(cols, before.tolist(), strict=True)),
            "smd_after": dict(zip(cols, after.tolist(), strict=True)),
            "max_abs_smd_before": float(np.nanmax(np.abs(before))) if cols else 0.0,
            "max_abs_smd_after": float(np.nanmax(np.abs(after))) if cols else 0.0,
        }
        followup[spec.key], trajectories[spec.key] = followup_and_trajectories(pop, grid)
        for claim in CLAIMS:
            df = claim_rows(claim, pop, outcome_tables[claim.key])
            nt = int((df["t"] == 1.0).sum())
            row: dict[str, Any] = {"comparison": spec.key, "claim": claim.key, "kind": str(claim.kind),
                                   "n_treated": nt, "n_control": len(df) - nt}
            if not applicable(spec, claim):
                row.update(estimate=None, ci_low=None, ci_high=None, status="not applicable")
            elif nt == 0 or nt == len(df):
                row.update(estimate=None, ci_low=None, ci_high=None, status="no rows in one arm")
            elif claim.kind is MetricKind.TIME_TO_EVENT:
                row.update(status="estimated", **survival_difference(df, claim))
            else:
                row["status"] = "estimated"
                row["measure"] = "risk difference" if claim.kind is MetricKind.BINARY else "mean difference"
                row.update(weighted_difference(df, claim, cols, sensitivity))
            results.append(row)
        timings[spec.key] = time.perf_counter() - t2
    timings["total"] = time.perf_counter() - t0
    return {"estimand": "ATO", "sensitivity": sensitivity, "results": results, "balance": balance,
            "followup": followup, "trajectories": trajectories, "timings": timings}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("snapshot", type=Path, help="snapshot directory (Parquet files + manifest.json)")
    ap.add_argument("--no-sensitivity", action="store_true", help="skip AIPW and E-values")
    ap.add_argument("--out", type=Path, default=None, help="write the full result here as JSON")
    args = ap.parse_args()
    t0 = time.perf_counter()
    res = run_baseline(args.snapshot, sensitivity=not args.no_sensitivity)
    seconds = time.perf_counter() - t0
    if args.out:
        args.out.write_text(json.dumps(res, indent=1, allow_nan=True) + "\n")
    rows = res["results"]
    print(json.dumps({
        "snapshot": str(args.snapshot), "seconds": round(seconds, 3), "results": len(rows),
        "estimated": sum(r["estimate"] is not None for r in rows),
        "timings": {k: round(v, 3) for k, v in res["timings"].items()},
        "max_abs_smd_after": {k: b["max_abs_smd_after"] for k, b in res["balance"].items()},
    }, indent=1))


if __name__ == "__main__":
    main()
