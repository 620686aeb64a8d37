"""Seeded, vectorised generation of a synthetic cohort, one chunk of patients at a time.

Chunk ``k`` of seed ``s`` is drawn from ``numpy.random.default_rng([s, k])`` with a fixed chunk
size, so the same seed gives byte-identical rows however the cohort is consumed, and memory
stays bounded by one chunk. Every setting and planted effect comes from
:mod:`spinetrack.synth.effects`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spinetrack.domain.diagnosis import DIAGNOSES, Level
from spinetrack.instruments.eq5d5l import DEFAULT_VALUE_SET, health_state, index
from spinetrack.synth import effects as E

__all__ = ["CHUNK_SIZE", "Chunk", "generate_chunk", "pseudo_id"]

CHUNK_SIZE = 5000
EPOCH = np.datetime64("2018-01-01")
ENROL_SPAN_DAYS = 5 * 365  # enrolment 2018-01-01 … 2022-12-31: 24-month follow-up is complete by 2025
GROUPS = tuple(E.DIAGNOSIS_MIX)
LEVELS = tuple(lvl.value for lvl in Level)  # L1-L2 … L5-S1
FOLLOWUP = (  # timepoint, target day, half window for jitter, instruments collected
    ("2w", 14, 5, ("nrs_back", "nrs_leg")),
    ("6w", 42, 8, ("odi", "nrs_back", "nrs_leg", "return_to_activity")),
    ("3m", 91, 20, ("odi", "nrs_back", "nrs_leg", "eq5d5l", "global_outcome", "return_to_activity")),
    ("12m", 365, 45, ("odi", "nrs_back", "nrs_leg", "eq5d5l", "global_outcome", "return_to_activity")),
    ("24m", 730, 60, ("odi", "nrs_back", "nrs_leg", "eq5d5l", "global_outcome")),
)
# Improvement trajectory: share of the final improvement reached at each follow-up (synthetic).
TRAJ_SURGERY = {"2w": 0.55, "6w": 0.70, "3m": 0.85, "12m": 1.0, "24m": 0.95}
TRAJ_CONSERVATIVE = {"2w": 0.10, "6w": 0.25, "3m": 0.50, "12m": 0.80, "24m": 0.85}
ODI_ITEMS = ("pain_intensity", "personal_care", "lifting", "walking", "sitting", "standing", "sleeping",
             "sex_life", "social_life", "travelling")
ODI_ITEM_OFFSET = np.array([0.3, -0.6, 0.6, 0.1, 0.2, 0.3, -0.2, -0.1, 0.0, -0.6])  # synthetic item difficulty

_CODES_BY_GROUP: dict[str, dict[str, list[str]]] = {}
for _d in DIAGNOSES.values():
    _CODES_BY_GROUP.setdefault(_d.group.value, {}).setdefault(_d.region, []).append(_d.code)


def pseudo_id(seed: int, index: int) -> str:
    """A stable pseudonymous id that reveals neither order nor seed."""
    return "P" + hashlib.blake2b(f"{seed}:{index}".encode(), digest_size=8).hexdigest()


@dataclass
class Chunk:
    """Rows of one chunk, as mappings ready for ``Table.insert()``."""

    patients: list[dict[str, Any]] = field(default_factory=list)
    episodes: list[dict[str, Any]] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)
    procedures: list[dict[str, Any]] = field(default_factory=list)
    complications: list[dict[str, Any]] = field(default_factory=list)
    readmissions: list[dict[str, Any]] = field(default_factory=list)
    reoperations: list[dict[str, Any]] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)


def _dates(days: np.ndarray) -> list[dt.date]:
    return (EPOCH + days.astype("timedelta64[D]")).astype("datetime64[D]").tolist()


def _logistic(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _round1(x: np.ndarray) -> list[float]:
    return np.round(x, 1).tolist()


def generate_chunk(seed: int, chunk_index: int, first_id: int, n: int, site_ids: list[int],
                   created_at: dt.datetime) -> Chunk:
    """Generate ``n`` patients with ids ``first_id …`` (one episode each, same id)."""
    rng = np.random.default_rng([seed, chunk_index])
    ids = np.arange(first_id, first_id + n)

    # ---- case mix ---------------------------------------------------------------------
    site = rng.integers(0, len(site_ids), n)
    group_idx = rng.choice(len(GROUPS), n, p=np.array(list(E.DIAGNOSIS_MIX.values())))
    group = np.array(GROUPS)[group_idx]
    age_mean = np.array([E.AGE[g][0] for g in GROUPS])[group_idx]
    age_sd = np.array([E.AGE[g][1] for g in GROUPS])[group_idx]
    age = np.clip(np.round(rng.normal(age_mean, age_sd)), 18, 92).astype(int)
    female = rng.random(n) < np.where(np.isin(group, ("stenosis_with_claudication", "degenerative_spondylolisthesis")), 0.58, 0.48)
    sex = np.where(female, "female", "male")
    bmi = np.clip(rng.normal(28.0, 4.8, n), 17, 55).round(1)
    smoke_u = rng.random(n)
    smoking = np.where(smoke_u < 0.20, "current", np.where(smoke_u < 0.50, "former", "never"))
    current_smoker = smoking == "current"
    diabetes = rng.random(n) < _logistic(-2.6 + 0.045 * (age - 55) + 0.09 * (bmi - 28))
    asa_latent = 0.035 * (age - 55) + 0.9 * diabetes + 0.07 * (bmi - 28) + rng.normal(0, 0.7, n)
    asa = np.digitize(asa_latent, [-0.9, 0.6, 2.2]) + 1  # 1..4
    prior = rng.random(n) < np.where(np.isin(group, ("degenerative_spondylolisthesis", "stenosis_with_claudication",
                                                      "stenosis_without_claudication")), 0.12, 0.07)
    sym_median = np.where(group == "disc_herniation_radiculopathy", 16, np.where(np.char.startswith(group.astype(str), "stenosis"), 60, 40))
    symptom_weeks = np.clip(np.round(sym_median * np.exp(rng.normal(0, 0.7, n))), 1, 1040).astype(int)
    work_u = rng.random(n)
    work = np.where(age >= 66, np.where(work_u < 0.9, "retired", "employed"),
                    np.select([work_u < 0.66, work_u < 0.82, work_u < 0.90, work_u < 0.95],
                              ["employed", "sick_leave", "unemployed", "homemaker"], "student"))

    # ---- levels -------------------------------------------------------------------------
    n_levels = np.ones(n, dtype=int)
    u = rng.random(n)
    sten = np.char.startswith(group.astype(str), "stenosis")
    n_levels = np.where(sten, np.select([u < 0.5, u < 0.85], [1, 2], 3), n_levels)
    n_levels = np.where(group == "degenerative_spondylolisthesis", np.where(u < 0.8, 1, 2), n_levels)
    n_levels = np.where(group == "degenerative_disc_disease", np.where(u < 0.7, 1, 2), n_levels)
    v = rng.random(n)
    lowest = np.where(v < 0.35, 4, np.where(v < 0.85, 3, 2))  # index in LEVELS of the most caudal level
    lowest = np.where(group == "degenerative_spondylolisthesis", np.where(v < 0.75, 3, 4), lowest)
    lowest = np.maximum(lowest, n_levels - 1)
    lumbosacral = lowest == 4

    # ---- baseline severity --------------------------------------------------------------
    sev = rng.normal(0, 1, n) + 0.15 * (asa - 2)
    odi0_mean = np.select(
        [group == "disc_herniation_radiculopathy", sten, group == "degenerative_spondylolisthesis",
         group == "degenerative_disc_disease"], [48, 44, 44, 42], 32)
    odi0_latent = np.clip(odi0_mean + 11 * sev + 0.08 * (age - 55), 4, 96)
    back0_mean = np.select([group == "degenerative_disc_disease", group == "nonspecific_low_back_pain"], [6.6, 6.0], 5.4)
    leg0_mean = np.select([group == "disc_herniation_radiculopathy", sten, group == "degenerative_spondylolisthesis"],
                          [7.2, 6.4, 5.6], 3.0)
    back0_latent = np.clip(back0_mean + 1.0 * sev + rng.normal(0, 1.0, n), 0, 10)
    leg0_latent = np.clip(leg0_mean + 1.0 * sev + rng.normal(0, 1.2, n), 0, 10)

    # ---- treatment (confounded) ----------------------------------------------------------
    p_surg = np.array([E.P_SURGERY[g] for g in GROUPS])[group_idx]
    with np.errstate(divide="ignore"):
        surg_logit = np.log(p_surg) - np.log1p(-p_surg) + 0.5 * sev + 0.004 * (symptom_weeks - 30)
    surgical = (p_surg > 0) & (rng.random(n) < _logistic(surg_logit))
    fam_u = rng.random(n)
    family = np.select(
        [group == "disc_herniation_radiculopathy", sten, group == "degenerative_spondylolisthesis",
         group == "degenerative_disc_disease"],
        [np.full(n, "discectomy"), np.where(fam_u < 0.9, "decompression", "fusion"),
         np.where(fam_u < 0.75, "fusion", "decompression"), np.full(n, "fusion")], "none")
    family = np.where(surgical, family, "none")
    s = E.MIS_SLOPES
    mis_logit = (np.array([E.MIS_LOGIT.get(f, 0.0) for f in family]) + np.array([0.5, 0.0, -0.5])[site % 3]
                 + s["age_per_10y"] * (age - 55) / 10 + s["asa_per_grade"] * (asa - 2)
                 + s["per_extra_level"] * (n_levels - 1) + s["odi0_per_10"] * (odi0_latent - 45) / 10
                 + s["prior_surgery"] * prior)
    mis = surgical & (rng.random(n) < _logistic(mis_logit))
    treatment = np.where(~surgical, "conservative", np.where(mis, "mis", "open"))

    # ---- dates --------------------------------------------------------------------------
    enrol_day = rng.integers(0, ENROL_SPAN_DAYS, n)
    wait = np.where(surgical, rng.integers(14, 120, n), rng.integers(0, 14, n))
    index_day = enrol_day + wait

    chunk = Chunk()
    enrol_dates = _dates(enrol_day)
    index_dates = _dates(index_day)

    # ---- procedures and their measures ---------------------------------------------------
    proc_code = _procedure_codes(rng, family, mis)
    fam_arr = family
    measures: dict[str, np.ndarray] = {}
    ref = {"age": (age - 55) / 10, "asa": asa - 2, "lv": n_levels - 1, "bmi": (bmi - 28) / 5}
    noise_sd = {"ebl_ml": 0.35, "op_time_min": 0.18, "los_days": 0.35, "fluoro_s": 0.30, "fluoro_dose_mgy": 0.35,
                "incision_mm": 0.12}
    slopes = {  # synthetic covariate effects (per 10 years, per ASA grade, per 5 BMI units), in outcome units
        "ebl_ml": (5.0, 15.0, 12.0), "op_time_min": (2.0, 6.0, 8.0), "los_days": (0.35, 0.45, 0.1),
        "fluoro_s": (0.0, 0.0, 3.0), "fluoro_dose_mgy": (0.0, 0.0, 1.5), "incision_mm": (0.0, 0.0, 3.0),
    }
    for outcome in noise_sd:
        base = np.zeros(n)
        eff = np.zeros(n)
        per_level = np.zeros(n)
        for f in ("discectomy", "decompression", "fusion"):
            m = fam_arr == f
            base[m] = E.OPEN_BASE[f][outcome]
            eff[m] = E.planted(f, outcome).value
            per_level[m] = E.PER_EXTRA_LEVEL.get(outcome, {}).get(f, 0.0)
        if outcome == "incision_mm":
            per_level = base * 0.4  # a longer exposure per extra level (synthetic)
        a, b, c = slopes[outcome]
        mean = base + per_level * ref["lv"] + a * ref["age"] + b * ref["asa"] + c * ref["bmi"] + eff * mis
        sd = noise_sd[outcome] * np.maximum(base + eff * mis, 1.0)
        val = mean + rng.normal(0, 1, n) * sd
        floor = {"los_days": 0.0, "incision_mm": 8.0, "op_time_min": 15.0}.get(outcome, 0.0)
        measures[outcome] = np.maximum(val, floor)
    measures["los_days"] = np.round(measures["los_days"] * 2) / 2  # half days

    def risk(outcome: str, extra: np.ndarray | float = 0.0) -> np.ndarray:
        base = np.zeros(n)
        rr = np.ones(n)
        for f in ("discectomy", "decompression", "fusion"):
            m = fam_arr == f
            base[m] = E.OPEN_BASE[f][outcome]
            rr[m] = E.planted(f, outcome).value
        mult = np.exp(0.15 * ref["age"] + 0.25 * ref["asa"] + 0.2 * ref["lv"] + extra)
        return np.clip(base * mult * np.where(mis, rr, 1.0), 0, 0.95)

    transfusion = surgical & (rng.random(n) < risk("transfusion"))
    dural = surgical & (rng.random(n) < risk("dural_tear", 0.5 * prior))
    ssi = surgical & (rng.random(n) < risk("ssi", 0.4 * diabetes + 0.3 * current_smoker + 0.3 * ref["bmi"]))
    ssi_deep = ssi & (rng.random(n) < 0.4)
    neuro = surgical & (rng.random(n) < 0.015 * np.exp(0.2 * ref["lv"]))
    vte = surgical & (rng.random(n) < 0.006 * np.exp(0.3 * ref["age"]))
    wrong = surgical & (rng.random(n) < 0.003)
    reop = surgical & (rng.random(n) < risk("reoperation_2y", 0.3 * current_smoker + 0.3 * prior))
    reop_day = rng.integers(14, 730, n)
    readmit = surgical & ((ssi_deep | vte) & (rng.random(n) < 0.7) | (rng.random(n) < 0.025))

    # ---- PROM trajectories ----------------------------------------------------------------
    r_odi = np.where(surgical, np.select([family == "discectomy", family == "decompression"], [0.62, 0.5], 0.5), 0.35)
    r_back = np.where(surgical, np.select([family == "discectomy"], [0.45], 0.5), 0.35)
    r_leg = np.where(surgical, np.select([family == "discectomy", family == "decompression"], [0.72, 0.6], 0.5), 0.35)
    worse = (1.0 * ref["age"] + 2.0 * ref["asa"] + 3.0 * ref["lv"] + 3.0 * current_smoker + 2.0 * diabetes
             + 3.0 * prior)
    eff_odi = np.zeros(n)
    eff_back = np.zeros(n)
    eff_leg = np.zeros(n)
    for f in ("discectomy", "decompression", "fusion"):
        m = (fam_arr == f) & mis
        eff_odi[m] = E.planted(f, "odi").value
        eff_back[m] = E.planted(f, "nrs_back").value
        eff_leg[m] = E.planted(f, "nrs_leg").value
    u_odi = rng.normal(0, 6, n)
    u_pain = rng.normal(0, 0.8, n)
    base_rta = np.select([family == "discectomy", family == "decompression", family == "fusion"], [35, 45, 100], 45)
    rta_days = np.round(base_rta * np.exp(rng.normal(0, 0.6, n) + 0.1 * ref["age"] + 0.2 * ref["asa"] + 0.15 * ref["lv"]))
    dropout_day = rng.exponential(1 / E.DROPOUT_HAZARD_PER_DAY, n) * np.exp(-(0.35 * current_smoker - 0.1 * ref["age"]))

    odi0_items = _odi_items(rng, odi0_latent)
    back0 = np.clip(np.round(back0_latent), 0, 10).astype(int)
    leg0 = np.clip(np.round(leg0_latent), 0, 10).astype(int)
    eq0 = _eq5d(rng, odi0_latent, back0_latent, leg0_latent)

    # ---- rows ---------------------------------------------------------------------------
    idl = ids.tolist()
    group, sex, smoking, work, family, treatment = (
        a.tolist() for a in (group, sex, smoking, work, family, treatment))  # numpy str_ → str
    for i in range(n):
        pid = idl[i]
        g = group[i]
        lvl_idx = range(lowest[i] - n_levels[i] + 1, lowest[i] + 1)
        levels = ",".join(LEVELS[j] for j in lvl_idx)
        region = "lumbosacral" if lumbosacral[i] and "lumbosacral" in _CODES_BY_GROUP[g] else "lumbar"
        codes = _CODES_BY_GROUP[g][region]
        code = codes[int(rng.integers(len(codes)))] if len(codes) > 1 else codes[0]
        fam = family[i]
        chunk.patients.append({
            "id": pid, "pseudo_id": pseudo_id(seed, pid), "site_id": site_ids[site[i]],
            "birth_year": int(enrol_dates[i].year - age[i]), "sex": sex[i], "bmi": float(bmi[i]),
            "smoking": smoking[i], "diabetes": bool(diabetes[i]), "asa_grade": int(asa[i]), "work_status": work[i],
            "symptom_duration_weeks": int(symptom_weeks[i]), "prior_spine_surgery": bool(prior[i]), "created_at": created_at,
        })
        care = ["physiotherapy", "medication"] + (["injection"] if (pid * 7919) % 10 < 4 else [])
        chunk.episodes.append({
            "id": pid, "patient_id": pid, "diagnosis_code": code, "diagnosis_group": g, "levels": levels,
            "n_levels": int(n_levels[i]), "conservative_care": ",".join(care),
            "conservative_care_weeks": int(min(symptom_weeks[i], 6 + (pid * 31) % 40)),
            "treatment": treatment[i], "treatment_family": None if fam == "none" else fam,
            "enrolled_on": enrol_dates[i], "index_date": index_dates[i], "created_at": created_at,
        })
        chunk.findings.extend(_findings(rng, pid, g, [LEVELS[j] for j in lvl_idx]))
        if surgical[i]:
            idx_date = index_dates[i]
            chunk.procedures.append({
                "id": pid, "episode_id": pid, "procedure_code": proc_code[i][0], "family": fam,
                "approach": "mis" if mis[i] else "open", "technique": proc_code[i][1], "performed_on": idx_date,
                "levels": levels, "n_levels": int(n_levels[i]),
                "incision_mm": round(float(measures["incision_mm"][i])), "ebl_ml": round(float(measures["ebl_ml"][i])),
                "op_time_min": round(float(measures["op_time_min"][i])), "fluoro_s": round(float(measures["fluoro_s"][i]), 1),
                "fluoro_dose_mgy": round(float(measures["fluoro_dose_mgy"][i]), 2), "los_days": float(measures["los_days"][i]),
                "transfusion": bool(transfusion[i]), "created_at": created_at,
            })
            for flag, cat, grade, day in (
                (dural[i], "dural_tear", "I" if (pid % 10) < 7 else "IIIb", 0),
                (ssi[i] and not ssi_deep[i], "ssi_superficial", "II", 8 + pid % 20),
                (ssi_deep[i], "ssi_deep", "IIIb", 10 + pid % 30),
                (neuro[i], "neurological_deficit", "II" if pid % 3 else "IIIb", 1),
                (vte[i], "venous_thromboembolism", "II" if pid % 4 else "IVa", 5 + pid % 20),
                (wrong[i], "wrong_level", "IIIb", 0),
            ):
                if flag:
                    chunk.complications.append({
                        "episode_id": pid, "procedure_id": pid, "category": cat, "clavien_dindo": grade,
                        "occurred_on": idx_date + dt.timedelta(days=day), "detail": None, "created_at": created_at,
                    })
            if readmit[i]:
                chunk.readmissions.append({"episode_id": pid, "admitted_on": idx_date + dt.timedelta(
                    days=int(measures["los_days"][i]) + 3 + pid % 40), "reason": None, "created_at": created_at})
            if reop[i]:
                reason = {"discectomy": "recurrent_herniation", "decompression": "restenosis"}.get(fam, "nonunion_or_implant")
                chunk.reoperations.append({"episode_id": pid, "performed_on": idx_date + dt.timedelta(days=int(reop_day[i])),
                                           "reason": reason, "levels": levels, "created_at": created_at})
        # baseline responses (collected at enrolment)
        base_days = int(enrol_day[i] - index_day[i])
        _add_response(chunk, pid, "baseline", "odi", enrol_dates[i], base_days, odi0_items[i], created_at)
        _add_response(chunk, pid, "baseline", "nrs_back", enrol_dates[i], base_days, back0[i], created_at)
        _add_response(chunk, pid, "baseline", "nrs_leg", enrol_dates[i], base_days, leg0[i], created_at)
        _add_response(chunk, pid, "baseline", "eq5d5l", enrol_dates[i], base_days, eq0[i], created_at)

    # follow-ups, vectorised per timepoint
    traj_s, traj_c = TRAJ_SURGERY, TRAJ_CONSERVATIVE
    for tp, target, half, insts in FOLLOWUP:
        frac = np.where(surgical, traj_s[tp], traj_c[tp])
        days = target + np.clip(np.round(rng.normal(0, half / 2, n)), -half, half).astype(int)
        present = (days < dropout_day) & (rng.random(n) >= E.SPORADIC_MISSING)
        odi_t = np.clip(odi0_latent * (1 - r_odi * frac) + worse * np.minimum(1.0, frac * 1.2) + eff_odi + u_odi
                        + rng.normal(0, 7, n), 0, 100)
        back_t = np.clip(back0_latent * (1 - r_back * frac) + 0.25 * worse / 3 + eff_back + u_pain + rng.normal(0, 1.0, n), 0, 10)
        leg_t = np.clip(leg0_latent * (1 - r_leg * frac) + 0.25 * worse / 3 + eff_leg + u_pain + rng.normal(0, 1.1, n), 0, 10)
        odi_items = _odi_items(rng, odi_t) if "odi" in insts else None
        eq = _eq5d(rng, odi_t, back_t, leg_t) if "eq5d5l" in insts else None
        back_i = np.clip(np.round(back_t), 0, 10).astype(int)
        leg_i = np.clip(np.round(leg_t), 0, 10).astype(int)
        rel = (odi0_latent - odi_t) / np.maximum(odi0_latent, 1.0) + rng.normal(0, 0.15, n)
        glob = np.select([rel >= 0.5, rel >= 0.3, rel >= 0.1, rel >= -0.05], [1, 2, 3, 4], 5)
        coll = _dates(index_day + days)
        for i in np.flatnonzero(present).tolist():
            pid = idl[i]
            d = int(days[i])
            for inst in insts:
                if inst == "odi":
                    ans: Any = odi_items[i]  # type: ignore[index]
                elif inst == "nrs_back":
                    ans = back_i[i]
                elif inst == "nrs_leg":
                    ans = leg_i[i]
                elif inst == "eq5d5l":
                    ans = eq[i]  # type: ignore[index]
                elif inst == "global_outcome":
                    ans = int(glob[i])
                else:
                    ans = int(rta_days[i]) if rta_days[i] <= d else None
                _add_response(chunk, pid, tp, inst, coll[i], d, ans, created_at)
    return chunk


def _procedure_codes(rng: np.random.Generator, family: np.ndarray, mis: np.ndarray) -> list[tuple[str, str | None]]:
    u = rng.random(len(family)).tolist()
    out: list[tuple[str, str | None]] = []
    for f, m, x in zip(family.tolist(), mis.tolist(), u):
        if f == "discectomy":
            out.append(("discectomy_tubular", "tubular") if m and x < 0.6 else
                       ("discectomy_endoscopic_tf", "full_endoscopic_transforaminal") if m and x < 0.85 else
                       ("discectomy_endoscopic_il", "full_endoscopic_interlaminar") if m else ("discectomy_open", None))
        elif f == "decompression":
            out.append(("decompression_tubular", "tubular") if m and x < 0.7 else
                       ("decompression_endoscopic_il", "full_endoscopic_interlaminar") if m else ("decompression_open", None))
        elif f == "fusion":
            out.append(("fusion_mis_tlif", "percutaneous") if m and x < 0.85 else
                       ("fusion_endoscopic_tlif", "full_endoscopic_transforaminal") if m else
                       ("fusion_open_tlif", None) if x < 0.6 else ("fusion_open_plif", None) if x < 0.85 else
                       ("fusion_open_plf", None))
        else:
            out.append(("", None))
    return out


def _odi_items(rng: np.random.Generator, latent: np.ndarray) -> list[list[int]]:
    """Item scores 0-5 around ``latent``/20, with sex_life skipped by about 1 in 5 (None)."""
    n = len(latent)
    raw = latent[:, None] / 20 + ODI_ITEM_OFFSET[None, :] + rng.normal(0, 0.6, (n, 10))
    items = np.clip(np.round(raw), 0, 5).astype(int)
    missing = rng.random((n, 10)) < np.where(np.arange(10) == 7, 0.2, 0.01)[None, :]
    items = np.where(missing, -1, items)
    return items.tolist()


def _eq5d(rng: np.random.Generator, odi: np.ndarray, back: np.ndarray, leg: np.ndarray) -> list[tuple[list[int], int]]:
    n = len(odi)
    d = odi / 100
    p = np.maximum(back, leg) / 10
    x = np.stack([0.9 * d + 0.1 * p, 0.7 * d, 0.9 * d + 0.1 * p, 0.25 * d + 0.75 * p, 0.35 * d + 0.2 * p], axis=1)
    x = x + rng.normal(0, 0.12, (n, 5))
    levels = np.clip(1 + np.floor(x * 5), 1, 5).astype(int)
    vas = np.clip(np.round(92 - 0.45 * odi - 2.2 * (back + leg) / 2 + rng.normal(0, 9, n)), 0, 100).astype(int)
    return list(zip(levels.tolist(), vas.tolist()))


def _findings(rng: np.random.Generator, pid: int, group: str, levels: list[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def row(level: str, kind: str, **kw: Any) -> dict[str, Any]:
        base = {"episode_id": pid, "level": level, "kind": kind, "morphology": None, "zone": None, "pfirrmann": None,
                "stenosis_grade": None, "meyerding": None}
        base.update(kw)
        return base

    u = rng.random(4)
    main = levels[-1]
    if group == "disc_herniation_radiculopathy":
        morph = "protrusion" if u[0] < 0.45 else "extrusion" if u[0] < 0.9 else "sequestration"
        zone = "subarticular" if u[1] < 0.6 else "central" if u[1] < 0.75 else "foraminal" if u[1] < 0.95 else "extraforaminal"
        out.append(row(main, "disc_herniation", morphology=morph, zone=zone))
        out.append(row(main, "disc_degeneration", pfirrmann="III" if u[2] < 0.55 else "IV"))
    elif group.startswith("stenosis"):
        for lv in levels:
            out.append(row(lv, "central_stenosis", stenosis_grade="B" if u[0] < 0.2 else "C" if u[0] < 0.75 else "D"))
    elif group == "degenerative_spondylolisthesis":
        out.append(row(main, "spondylolisthesis", meyerding="I" if u[0] < 0.75 else "II"))
        out.append(row(main, "central_stenosis", stenosis_grade="B" if u[1] < 0.4 else "C"))
    elif group == "degenerative_disc_disease":
        for lv in levels:
            out.append(row(lv, "disc_degeneration", pfirrmann="IV" if u[0] < 0.6 else "V"))
    elif u[0] < 0.5:
        out.append(row(main, "disc_degeneration", pfirrmann="II" if u[1] < 0.5 else "III"))
    return out


_EQ_DIMS = ("MO", "SC", "UA", "PD", "AD")


def _add_response(chunk: Chunk, episode_id: int, tp: str, inst: str, collected_on: dt.date, days: int, ans: Any,
                  created_at: dt.datetime) -> None:
    """Append one response: the answers as given, and the total and detail that the instrument's
    ``score(answers)`` gives them (``Score.total`` and ``Score.detail()``; tests/synth checks that
    they agree)."""
    detail: dict[str, Any] | None = None
    valid = True
    if inst == "odi":
        answers = {code: (None if v < 0 else v) for code, v in zip(ODI_ITEMS, ans)}
        vals = [v for v in ans if v >= 0]
        n_ans = len(vals)
        valid = 10 - n_ans <= 2
        total = sum(vals) / (5 * n_ans) * 100 if valid else None
        detail = {"n_answered": n_ans} if n_ans < 10 else {}
        if total is not None:
            detail["band"] = ("minimal disability" if total <= 20 else "moderate disability" if total <= 40 else
                              "severe disability" if total <= 60 else "crippled" if total <= 80 else "bed-bound")
        else:
            detail["reason"] = f"{10 - n_ans} sections unanswered; at most 2 allowed"
        version = "2.1a"
    elif inst in ("nrs_back", "nrs_leg"):
        answers = {"pain": int(ans)}
        total = float(ans)
        version = "1"
    elif inst == "eq5d5l":
        dims, vas = ans
        answers = dict(zip(_EQ_DIMS, dims))
        answers["vas"] = vas
        # EQ5D5L.score(answers): total = index in the default value set (England); same lookup table.
        total = float(index(np.array([dims]), DEFAULT_VALUE_SET)[0])
        detail = {"n_answered": 5} if vas is None else {}
        detail.update({"health_state": health_state(dims), "vas": vas, "value_set": DEFAULT_VALUE_SET})
        version = "5L"
    elif inst == "global_outcome":
        answers = {"outcome": ans}
        total = float(ans)
        detail = {"n_answered": 1, "band": "good" if ans <= 2 else "poor"}  # satisfaction not generated
        version = "1"
    else:  # return_to_activity: ans = days, or None for "not yet"
        if ans is None:
            answers, total, detail = {"returned": 0}, None, {"n_answered": 1, "band": "not yet", "returned": False}
        else:
            answers, total = {"returned": 1, "days": ans}, float(ans)
            detail = {"n_answered": 2, "band": "returned", "returned": True}
        version = "1"
    chunk.responses.append({
        "episode_id": episode_id, "timepoint": tp, "instrument": inst, "instrument_version": version,
        "collected_on": collected_on, "days_from_index": days, "answers": answers, "score": total,
        "score_detail": detail or None, "valid": valid, "source": "synthetic", "idempotency_key": None,
        "created_at": created_at,
    })
