"""The true effect of every comparison × claim in a synthetic cohort, from each patient's
outcomes under both options (``spinetrack demo --truth-out``).

The generator draws every random number a patient's outcomes depend on before any treatment is
applied (``synth.cohort.Draws``), so the outcomes under MIS, open surgery or conservative care
are computed from the same numbers (common random numbers): ``Y(1) − Y(0)`` is the treatment's
effect for that patient, free of sampling noise. For each comparison of the scorecard
(``analysis.design.COMPARISONS``) and each claim that applies to it (``analysis.run.applicable``)
this module sums, over the comparison's population:

* ``ate`` — the mean of ``Y(1) − Y(0)``: the average effect in the whole population;
* ``ato`` — the mean weighted by ``e(1 − e)``, the overlap weights, with ``e`` the TRUE
  probability of the treated option: for MIS versus open, the generator's probability of MIS
  given the patient's characteristics averaged over the sites (site moves the choice of
  approach but no outcome, so the analysis rightly does not adjust for it); for surgery versus
  conservative care, the generator's probability of surgery. This is the overlap population the
  scorecard's primary (ATO) estimates target;
* the same for each arm (``ato_treated``, ``ato_control``, ``ate_treated``, ``ate_control``).

Each claim's ``Y`` is what its row estimates: the value as recorded (rounded as the store keeps
it; questionnaire scores as the instruments score the items), risks as 0/1, the survival at the
horizon as 0/1 (no event by the horizon), the restricted mean as ``min(T, horizon)``. A
questionnaire score that would be invalid (more than two ODI sections skipped — the skip does
not depend on treatment) leaves that patient out of that claim's sums.

Populations: MIS versus open within the families of the comparison, among the patients who
were operated; surgery versus conservative care among the patients whose diagnosis has a
surgical option (``domain.options``), whichever treatment they had — as the analysis does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from spinetrack.analysis.claims import CLAIMS, Claim
from spinetrack.analysis.design import COMPARISONS, ComparisonSpec
from spinetrack.analysis.run import applicable
from spinetrack.instruments import thresholds
from spinetrack.instruments.eq5d5l import DEFAULT_VALUE_SET, index
from spinetrack.synth.cohort import SITE_MIS_LOGIT, ChunkDraws, Outcomes, potential_outcomes
from spinetrack.synth.records import odi_scores

__all__ = ["Truth"]

_MAJOR = ("IIIa", "IIIb", "IVa", "IVb", "V")
_SUMS = ("h", "h_y1", "h_y0", "n", "y1", "y0")


def _logistic(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _prom(o: Outcomes, d: Any, instrument: str, tp: str) -> np.ndarray:
    """The scored questionnaire at a timepoint (NaN where the response would be invalid)."""
    f = o.followup[tp] if tp != "baseline" else None
    if instrument == "odi":
        return odi_scores(d.odi0_items if f is None else f["odi_items"])
    if instrument == "nrs_back":
        return (np.clip(np.round(d.back0_latent), 0, 10) if f is None else f["back"]).astype(float)
    if instrument == "nrs_leg":
        return (np.clip(np.round(d.leg0_latent), 0, 10) if f is None else f["leg"]).astype(float)
    if instrument == "eq5d5l":
        states = d.eq0 if f is None else f["eq"]
        return index(np.array([s for s, _vas in states]), DEFAULT_VALUE_SET)
    raise KeyError(instrument)


def _major(o: Outcomes, pid: np.ndarray) -> np.ndarray:
    """Any complication of Clavien–Dindo grade III or worse, with the grades the generator
    records (``synth.records.complication_rows``)."""
    ev = o.events
    return (ev["dural_tear"] & (pid % 10 >= 7)) | ev["ssi_deep"] | (ev["neurological_deficit"] & (pid % 3 == 0)) \
        | (ev["venous_thromboembolism"] & (pid % 4 == 0)) | ev["wrong_level"]


def claim_values(c: Claim, o: Outcomes, d: Any, pid: np.ndarray) -> np.ndarray:
    """The value each patient's row contributes to claim ``c``'s estimate under outcomes ``o``
    (NaN: would not be observed whatever the treatment)."""
    m, ev = o.measures, o.events
    h = float(c.horizon_days or 0)
    if c.table == "procedures":
        if c.column == "transfusion":
            return ev["transfusion"].astype(float)
        digits = {"incision_mm": 0, "ebl_ml": 0, "fluoro_s": 1, "fluoro_dose_mgy": 2}.get(c.column)
        v = m[c.column]
        return np.round(v, digits) if digits is not None else v
    if c.table == "complications":
        if c.key == "any_complication":
            return np.logical_or.reduce([ev[k] for k in ("dural_tear", "ssi_superficial", "ssi_deep",
                                                        "neurological_deficit", "venous_thromboembolism",
                                                        "wrong_level")]).astype(float)
        if c.key == "major_complication":
            return _major(o, pid).astype(float)
        if c.key == "ssi":
            return (ev["ssi_superficial"] | ev["ssi_deep"]).astype(float)
        return ev[c.key].astype(float)
    if c.table == "readmissions":
        return o.readmit.astype(float)
    if c.table == "reoperations":
        event = o.malposition if c.key == "revision_malposition" else (o.reop | o.malposition)
        return 1.0 - event.astype(float)  # every generated reoperation falls within two years
    if c.instrument == "return_to_activity":
        t = o.rta_days + (o.wait if c.clock == "enrolment" else 0)
        return np.minimum(t, h).astype(float)
    if c.key == "odi_mcid_12m":
        base, later = _prom(o, d, "odi", "baseline"), _prom(o, d, "odi", "12m")
        absolute = thresholds.get("odi").absolute
        assert absolute is not None, "the ODI threshold has an absolute value"
        mcid = float(absolute)
        return np.where(np.isnan(base) | np.isnan(later), np.nan, (base - later >= mcid).astype(float))
    if c.table == "outcomes" and c.instrument and c.timepoint:
        return _prom(o, d, c.instrument, c.timepoint)
    raise KeyError(c.key)


class Truth:
    """Accumulates the true effects chunk by chunk (module docstring); :meth:`result` gives
    ``{comparison: {claim: {"ato": …, "ate": …, …}}}`` with the keys of ``analyze --json``."""

    def __init__(self, comparisons: tuple[ComparisonSpec, ...] = COMPARISONS,
                 claims: tuple[Claim, ...] = CLAIMS) -> None:
        self.comparisons = comparisons
        self.claims = claims
        self.sums: dict[tuple[str, str], dict[str, float]] = {
            (s.key, c.key): dict.fromkeys(_SUMS, 0.0) for s in comparisons for c in claims if applicable(s, c)}

    def add(self, chunk: ChunkDraws) -> None:
        """Add one chunk's patients."""
        d, fu, extra = chunk.draws, chunk.followup, chunk.extra
        n = d.n
        pid = np.arange(chunk.first_id, chunk.first_id + n)
        everyone = np.ones(n, dtype=bool)
        arms: dict[str, Outcomes] = {}

        def arm(name: str) -> Outcomes:
            if name not in arms:
                surgical = {"mis": everyone, "open": everyone, "surgery": everyone, "conservative": ~everyone}[name]
                mis = {"mis": everyone, "open": ~everyone, "surgery": d.mis_if_operated,
                       "conservative": ~everyone}[name]
                arms[name] = potential_outcomes(d, fu, extra, surgical, mis)
            return arms[name]

        offsets = SITE_MIS_LOGIT[np.arange(chunk.n_sites) % 3]
        e_mis = np.mean([_logistic(d.mis_logit_no_site + off) for off in offsets], axis=0)
        with np.errstate(over="ignore"):
            e_surgery = np.where(d.p_surg > 0, _logistic(np.where(d.p_surg > 0, d.surg_logit, 0.0)), 0.0)
        for spec in self.comparisons:
            if "conservative" in spec.control:
                pop = np.isin(d.group, spec.eligible_diagnoses) if spec.eligible_diagnoses else everyone
                e, treated, control = e_surgery, "surgery", "conservative"
            else:
                pop = d.surgical & np.isin(d.family_if_operated, spec.families)
                e, treated, control = e_mis, "mis", "open"
            if not pop.any():
                continue
            h = e * (1.0 - e)
            for c in self.claims:
                if (spec.key, c.key) not in self.sums:
                    continue
                y1 = claim_values(c, arm(treated), d, pid)[pop]
                y0 = claim_values(c, arm(control), d, pid)[pop]
                ok = ~(np.isnan(y1) | np.isnan(y0))
                hw = h[pop][ok]
                s = self.sums[(spec.key, c.key)]
                s["h"] += float(hw.sum())
                s["h_y1"] += float(hw @ y1[ok])
                s["h_y0"] += float(hw @ y0[ok])
                s["n"] += float(ok.sum())
                s["y1"] += float(y1[ok].sum())
                s["y0"] += float(y0[ok].sum())

    def result(self) -> dict[str, dict[str, dict[str, float]]]:
        out: dict[str, dict[str, dict[str, float]]] = {}
        for (comp, key), s in self.sums.items():
            if s["n"] == 0 or s["h"] == 0:
                continue
            t1, t0 = s["h_y1"] / s["h"], s["h_y0"] / s["h"]
            a1, a0 = s["y1"] / s["n"], s["y0"] / s["n"]
            out.setdefault(comp, {})[key] = {"ato": t1 - t0, "ate": a1 - a0, "ato_treated": t1, "ato_control": t0,
                                             "ate_treated": a1, "ate_control": a0, "n": int(s["n"])}
        return out

    def write(self, path: str | Path) -> dict[str, Any]:
        """Write :meth:`result` as JSON to ``path`` and return it."""
        doc = self.result()
        Path(path).write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        return doc




# ------------------------------------------------------------------------------ the truth check

#: Within this fraction of the truth (or the absolute tolerance below) a time-to-event claim's
#: mean estimate counts as unbiased.
TTE_RELATIVE_TOLERANCE = 0.10
#: Absolute tolerance of a time-to-event claim: 0.01 on the probability scale (survival at the
#: horizon); for a restricted mean in days, 0.01 of the horizon — the same 0.01 on the scale of
#: the restricted mean divided by the horizon, which is the average of a survival probability.
TTE_ABSOLUTE_TOLERANCE = 0.01
#: A true effect this close to 0 counts as "no effect" (common random numbers make it exactly 0).
NULL_TOLERANCE = 1e-9


def compare(doc: dict[str, Any], truth: dict[str, dict[str, dict[str, float]]], *,
            estimand: str = "ato") -> list[dict[str, Any]]:
    """One row per estimated scorecard cell of ``doc`` (``analyze --json``) beside its truth:
    whether the interval covers it, and whether a claim with no true effect got a verdict of a
    difference (``supported`` or ``contradicted``: a false verdict)."""
    rows = []
    for r in doc["results"]:
        if r.get("estimate") is None:
            continue
        t = truth.get(r["comparison"], {}).get(r["claim"])
        if t is None:
            raise KeyError(f"no true effect for {r['comparison']} / {r['claim']}")
        x = float(t[estimand])
        null = abs(x) < NULL_TOLERANCE
        rows.append({
            "comparison": r["comparison"], "claim": r["claim"], "kind": r["kind"], "status": r["status"],
            "estimate": r["estimate"], "ci_low": r["ci_low"], "ci_high": r["ci_high"], "truth": x,
            "truth_treated": t.get(f"{estimand}_treated"), "truth_control": t.get(f"{estimand}_control"),
            "covered": bool(r["ci_low"] <= x <= r["ci_high"]), "null": null, "verdict": r["verdict"],
            "false_verdict": null and r["verdict"] in ("supported", "contradicted"),
            "horizon_days": r.get("horizon_days"), "unit": r.get("unit"),
            "rmst": r.get("rmst"),
        })
    return rows


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Coverage, false verdicts on claims with no true effect, and — over seeds — each
    time-to-event cell's mean estimate beside its mean truth (rows of several seeds)."""
    cells = len(rows)
    covered = sum(r["covered"] for r in rows)
    nulls = [r for r in rows if r["null"]]
    false = [r for r in nulls if r["false_verdict"]]
    tte: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        if r["kind"] == "time_to_event":
            tte.setdefault((r["comparison"], r["claim"]), []).append(r)
    bias = []
    for (comp, key), rs in sorted(tte.items()):
        est = float(np.mean([r["estimate"] for r in rs]))
        tru = float(np.mean([r["truth"] for r in rs]))
        days = rs[0].get("unit") == "days"
        scale = float(rs[0]["horizon_days"] or 1) if days else 1.0
        tol = max(TTE_RELATIVE_TOLERANCE * abs(tru), TTE_ABSOLUTE_TOLERANCE * scale)
        arms = {}
        for arm in ("treated", "control"):
            if days and all(r.get("rmst") and r.get(f"truth_{arm}") is not None for r in rs):
                e_arm = float(np.mean([r["rmst"][arm] for r in rs]))
                t_arm = float(np.mean([r[f"truth_{arm}"] for r in rs]))
                arms[arm] = {"estimate": e_arm, "truth": t_arm,
                             "within": abs(e_arm - t_arm) <= TTE_RELATIVE_TOLERANCE * abs(t_arm)}
        bias.append({"comparison": comp, "claim": key, "seeds": len(rs), "mean_estimate": est, "mean_truth": tru,
                     "tolerance": tol, "within": abs(est - tru) <= tol, "arms": arms})
    return {"cells": cells, "covered": covered, "coverage": covered / cells if cells else float("nan"),
            "null_cells": len(nulls), "false_verdicts": len(false),
            "false_verdict_share": len(false) / len(nulls) if nulls else 0.0,
            "false_verdict_cells": [f"{r['comparison']}/{r['claim']}: {r['verdict']}" for r in false],
            "missed_cells": [f"{r['comparison']}/{r['claim']}" for r in rows if not r["covered"]],
            "time_to_event": bias}
