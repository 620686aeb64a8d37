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

from spinetrack.domain.comparisons import FAMILIES
from spinetrack.domain.diagnosis import DIAGNOSES, Level
from spinetrack.domain.pathway import TIMEPOINTS
from spinetrack.store.repositories import PSEUDO_ID_ALPHABET
from spinetrack.synth import effects as E
from spinetrack.synth.records import (
    complication_rows,
    eq5d_from,
    eq5d_noise,
    imaging_findings,
    odi_from,
    odi_noise,
    odi_scores,
    procedure_codes,
    response_row,
)

__all__ = ["CHUNK_SIZE", "FOLLOWUP", "FOLLOWUP_V3", "Chunk", "ChunkDraws", "Dating", "Draws", "Outcomes",
           "generate_chunk", "odi_scores", "potential_outcomes", "pseudo_id"]

CHUNK_SIZE = 5000
EPOCH = np.datetime64("2018-01-01")
ENROL_SPAN_DAYS = 5 * 365  # enrolment 2018-01-01 … 2022-12-31: 24-month follow-up is complete by 2025
GROUPS = tuple(E.DIAGNOSIS_MIX)
LEVELS = tuple(lvl.value for lvl in Level)  # L1-L2 … L5-S1
_COLLECTED = {  # timepoint → half window for jitter (days), instruments collected (synthetic)
    "2w": (5, ("nrs_back", "nrs_leg")),
    "6w": (8, ("odi", "nrs_back", "nrs_leg", "return_to_activity")),
    "3m": (20, ("odi", "nrs_back", "nrs_leg", "eq5d5l", "global_outcome", "return_to_activity")),
    "12m": (45, ("odi", "nrs_back", "nrs_leg", "eq5d5l", "global_outcome", "return_to_activity")),
    "24m": (60, ("odi", "nrs_back", "nrs_leg", "eq5d5l", "global_outcome")),
}
#: The simulated follow-up visits: timepoint, target day (the follow-up schedule's), half window
#: for jitter, instruments collected.
FOLLOWUP: tuple[tuple[str, int, int, tuple[str, ...]], ...] = tuple(
    (tp.code, tp.target_days, *_COLLECTED[tp.code]) for tp in TIMEPOINTS if tp.code in _COLLECTED)
#: Follow-up visits added in generator version 3, drawn from their own stream
#: (:func:`_draw_followup_v3`) so that the version 1 and 2 draws, and every row they give, are
#: unchanged: the 6-month visit of the ICHOM Low Back Pain set (half window for jitter synthetic).
FOLLOWUP_V3: tuple[tuple[str, int, int, tuple[str, ...]], ...] = tuple(
    (tp.code, tp.target_days, 30, ("odi", "nrs_back", "nrs_leg", "eq5d5l", "global_outcome"))
    for tp in TIMEPOINTS if tp.code == "6m")
# Improvement trajectory: share of the final improvement reached at each follow-up (synthetic;
# 6 months between 3 and 12 months).
TRAJ_SURGERY = {"2w": 0.55, "6w": 0.70, "3m": 0.85, "6m": 0.92, "12m": 1.0, "24m": 0.95}
TRAJ_CONSERVATIVE = {"2w": 0.10, "6w": 0.25, "3m": 0.50, "6m": 0.65, "12m": 0.80, "24m": 0.85}

_CODES_BY_GROUP: dict[str, dict[str, list[str]]] = {}
for _d in DIAGNOSES.values():
    _CODES_BY_GROUP.setdefault(_d.group.value, {}).setdefault(_d.region, []).append(_d.code)


_ID_SPACE = len(PSEUDO_ID_ALPHABET) ** 10  # 30^10: the ids of the form ST-XXXXXXXXXX


def _id_step() -> int:
    """A step coprime to the id space (not divisible by 2, 3 or 5), so that ``index * step`` taken
    modulo the space is a bijection: no two patients of one seed ever share an id."""
    step = 0x9E3779B97F4A7C15 % _ID_SPACE
    while step % 2 == 0 or step % 3 == 0 or step % 5 == 0:
        step += 1
    return step


_ID_STEP = _id_step()


def pseudo_id(seed: int, index: int) -> str:
    """A stable pseudonymous id that reveals neither order nor seed at a glance, in the form the
    store gives a patient enrolled by hand (``ST-`` and 10 letters and digits without look-alikes),
    so that a demo patient is shown and looked up by the same kind of identifier as any other.
    Distinct for every index of a seed (a bijection of the index, offset by the seed's hash), so a
    cohort of up to ``MAX_PATIENTS`` never meets the unique constraint."""
    offset = int.from_bytes(hashlib.blake2b(f"{seed}".encode(), digest_size=8).digest(), "big")
    value = (offset + index * _ID_STEP) % _ID_SPACE
    chars = []
    for _ in range(10):
        value, k = divmod(value, len(PSEUDO_ID_ALPHABET))
        chars.append(PSEUDO_ID_ALPHABET[k])
    return "ST-" + "".join(chars)


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


def _dates(days: np.ndarray, shift_days: int = 0) -> list[dt.date]:
    return (EPOCH + (days + shift_days).astype("timedelta64[D]")).astype("datetime64[D]").tolist()


@dataclass(frozen=True, slots=True)
class Dating:
    """Where the cohort sits in time: every date is moved by ``shift_days`` (0: the generator's
    own calendar, enrolment from :data:`EPOCH` over :data:`ENROL_SPAN_DAYS`), and nothing dated
    after ``cutoff`` is stored (a response, operation, complication, readmission or reoperation
    after today has not happened). Only dates move: every drawn value stays as drawn."""

    shift_days: int = 0
    cutoff: dt.date | None = None

    @classmethod
    def relative_to(cls, today: dt.date, *, lag_days: int = 14) -> Dating:
        """The cohort moved so that its last enrolment falls ``lag_days`` before ``today``
        (``today`` is the cutoff)."""
        last = (EPOCH + np.timedelta64(ENROL_SPAN_DAYS - 1, "D")).astype(dt.date)
        return cls(shift_days=(today - dt.timedelta(days=lag_days) - last).days, cutoff=today)

    def happened(self, day: dt.date) -> bool:
        return self.cutoff is None or day <= self.cutoff


def _logistic(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class Draws:
    """Everything drawn at random for one chunk, before any treatment is applied: the case mix,
    the uniform numbers that decide treatment, and the noise of every outcome. Outcomes are then
    a deterministic function of these draws and a treatment (:func:`potential_outcomes`), so the
    same patient's outcome under each option uses the same random numbers (common random
    numbers): the difference between two options is the treatment's effect for that patient."""

    def __init__(self, **kw: Any) -> None:
        self.__dict__.update(kw)

    def __getattr__(self, name: str) -> Any:
        """Only for a name that was not drawn (the drawn ones are instance attributes): an
        AttributeError, as for any object; typed so that the drawn names read as ``Any``."""
        raise AttributeError(f"{type(self).__name__!s} has no draw {name!r}")


def _draw_patients(rng: np.random.Generator, n: int, n_sites: int) -> Draws:
    """Case mix, treatment choice and the noise of the procedure, complication and per-patient
    PROM terms, in the order generator version 1 drew them (identical rows for a seed)."""
    site = rng.integers(0, n_sites, n)
    group_idx = rng.choice(len(GROUPS), n, p=np.array(list(E.DIAGNOSIS_MIX.values())))
    group = np.array(GROUPS)[group_idx]
    age_mean = np.array([E.AGE[g][0] for g in GROUPS])[group_idx]
    age_sd = np.array([E.AGE[g][1] for g in GROUPS])[group_idx]
    age = np.clip(np.round(rng.normal(age_mean, age_sd)), 18, 92).astype(int)
    female = rng.random(n) < np.where(
        np.isin(group, ("stenosis_with_claudication", "degenerative_spondylolisthesis")), 0.58, 0.48)
    bmi = np.clip(rng.normal(28.0, 4.8, n), 17, 55).round(1)
    smoke_u = rng.random(n)
    smoking = np.where(smoke_u < 0.20, "current", np.where(smoke_u < 0.50, "former", "never"))
    diabetes = rng.random(n) < _logistic(-2.6 + 0.045 * (age - 55) + 0.09 * (bmi - 28))
    asa_latent = 0.035 * (age - 55) + 0.9 * diabetes + 0.07 * (bmi - 28) + rng.normal(0, 0.7, n)
    asa = np.digitize(asa_latent, [-0.9, 0.6, 2.2]) + 1  # 1..4
    prior = rng.random(n) < np.where(np.isin(group, ("degenerative_spondylolisthesis", "stenosis_with_claudication",
                                                      "stenosis_without_claudication")), 0.12, 0.07)
    sym_median = np.where(group == "disc_herniation_radiculopathy", 16,
                          np.where(np.char.startswith(group.astype(str), "stenosis"), 60, 40))
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

    # ---- baseline severity --------------------------------------------------------------
    sev = rng.normal(0, 1, n) + 0.15 * (asa - 2)
    odi0_mean = np.select(
        [group == "disc_herniation_radiculopathy", sten, group == "degenerative_spondylolisthesis",
         group == "degenerative_disc_disease"], [48, 44, 44, 42], 32)
    odi0_latent = np.clip(odi0_mean + 11 * sev + 0.08 * (age - 55), 4, 96)
    back0_mean = np.select([group == "degenerative_disc_disease", group == "nonspecific_low_back_pain"],
                           [6.6, 6.0], 5.4)
    leg0_mean = np.select([group == "disc_herniation_radiculopathy", sten, group == "degenerative_spondylolisthesis"],
                          [7.2, 6.4, 5.6], 3.0)
    back0_latent = np.clip(back0_mean + 1.0 * sev + rng.normal(0, 1.0, n), 0, 10)
    leg0_latent = np.clip(leg0_mean + 1.0 * sev + rng.normal(0, 1.2, n), 0, 10)

    # ---- treatment (confounded) ----------------------------------------------------------
    p_surg = np.array([E.P_SURGERY[g] for g in GROUPS])[group_idx]
    with np.errstate(divide="ignore"):
        surg_logit = np.log(p_surg) - np.log1p(-p_surg) + 0.5 * sev + 0.004 * (symptom_weeks - 30)
    surg_u = rng.random(n)
    surgical = (p_surg > 0) & (surg_u < _logistic(surg_logit))
    fam_u = rng.random(n)
    # the family that would treat the patient if operated (whether or not they were)
    family_if_operated = np.select(
        [group == "disc_herniation_radiculopathy", sten, group == "degenerative_spondylolisthesis",
         group == "degenerative_disc_disease"],
        [np.full(n, "discectomy"), np.where(fam_u < 0.9, "decompression", "fusion"),
         np.where(fam_u < 0.75, "fusion", "decompression"), np.full(n, "fusion")], "none")
    s = E.MIS_SLOPES
    mis_logit_no_site = (np.array([E.MIS_LOGIT.get(f, 0.0) for f in family_if_operated])
                         + s["age_per_10y"] * (age - 55) / 10 + s["asa_per_grade"] * (asa - 2)
                         + s["per_extra_level"] * (n_levels - 1) + s["odi0_per_10"] * (odi0_latent - 45) / 10
                         + s["prior_surgery"] * prior)
    mis_u = rng.random(n)
    mis_if_operated = mis_u < _logistic(mis_logit_no_site + SITE_MIS_LOGIT[site % 3])

    # ---- dates --------------------------------------------------------------------------
    enrol_day = rng.integers(0, ENROL_SPAN_DAYS, n)
    wait_surgery = rng.integers(14, 120, n)
    wait_conservative = rng.integers(0, 14, n)

    proc_u = rng.random(n)
    measure_noise = {outcome: rng.normal(0, 1, n) for outcome in _NOISE_SD}
    risk_u = {k: rng.random(n) for k in ("transfusion", "dural", "ssi", "ssi_deep", "neuro", "vte", "wrong", "reop")}
    reop_day = rng.integers(14, 730, n)
    readmit_u = (rng.random(n), rng.random(n))
    u_odi = rng.normal(0, 6, n)
    u_pain = rng.normal(0, 0.8, n)
    rta_noise = rng.normal(0, 0.6, n)
    dropout_day = rng.exponential(1 / E.DROPOUT_HAZARD_PER_DAY, n) * np.exp(-(0.35 * (smoking == "current")
                                                                             - 0.1 * (age - 55) / 10))
    odi0_items = odi_from(odi0_latent, *odi_noise(rng, n))
    eq0 = eq5d_from(odi0_latent, back0_latent, leg0_latent, *eq5d_noise(rng, n))
    return Draws(
        n=n, site=site, group=group, age=age, sex=np.where(female, "female", "male"), bmi=bmi, smoking=smoking,
        diabetes=diabetes, asa=asa, prior=prior, symptom_weeks=symptom_weeks, work=work, n_levels=n_levels,
        lowest=lowest, odi0_latent=odi0_latent, back0_latent=back0_latent, leg0_latent=leg0_latent,
        p_surg=p_surg, surg_logit=surg_logit, surgical=surgical, family_if_operated=family_if_operated,
        mis_logit_no_site=mis_logit_no_site, mis_if_operated=mis_if_operated, mis=surgical & mis_if_operated,
        enrol_day=enrol_day, wait_surgery=wait_surgery, wait_conservative=wait_conservative, proc_u=proc_u,
        measure_noise=measure_noise, risk_u=risk_u, reop_day=reop_day, readmit_u=readmit_u, u_odi=u_odi,
        u_pain=u_pain, rta_noise=rta_noise, dropout_day=dropout_day, odi0_items=odi0_items, eq0=eq0,
        ref={"age": (age - 55) / 10, "asa": asa - 2, "lv": n_levels - 1, "bmi": (bmi - 28) / 5},
    )


def _draw_followup(rng: np.random.Generator, n: int) -> dict[str, dict[str, Any]]:
    """The noise of every follow-up timepoint, in generator version 1's order."""
    out: dict[str, dict[str, Any]] = {}
    for tp, target, half, insts in FOLLOWUP:
        d: dict[str, Any] = {"days": target + np.clip(np.round(rng.normal(0, half / 2, n)), -half, half).astype(int)}
        d["present_u"] = rng.random(n)
        d["odi"], d["back"], d["leg"] = rng.normal(0, 7, n), rng.normal(0, 1.0, n), rng.normal(0, 1.1, n)
        d["odi_items"] = odi_noise(rng, n) if "odi" in insts else None
        d["eq"] = eq5d_noise(rng, n) if "eq5d5l" in insts else None
        d["glob"] = rng.normal(0, 0.15, n)
        out[tp] = d
    return out


def _draw_followup_v3(seed: int, chunk_index: int, n: int) -> dict[str, dict[str, Any]]:
    """The noise of the visits of :data:`FOLLOWUP_V3`, from their own stream (generator version 3)."""
    rng = np.random.default_rng([seed, chunk_index, 3])
    out: dict[str, dict[str, Any]] = {}
    for tp, target, half, _insts in FOLLOWUP_V3:
        d: dict[str, Any] = {"days": target + np.clip(np.round(rng.normal(0, half / 2, n)), -half, half).astype(int)}
        d["present_u"] = rng.random(n)
        d["odi"], d["back"], d["leg"] = rng.normal(0, 7, n), rng.normal(0, 1.0, n), rng.normal(0, 1.1, n)
        d["odi_items"] = odi_noise(rng, n)
        d["eq"] = eq5d_noise(rng, n)
        d["glob"] = rng.normal(0, 0.15, n)
        out[tp] = d
    return out


def _draw_extra(seed: int, chunk_index: int, n: int) -> dict[str, np.ndarray]:
    """Draws added in generator version 2, from their own stream (so version 1's rows for a seed
    are unchanged): how each follow-up answer gives the date of return, and revisions for a
    malpositioned implant."""
    rng = np.random.default_rng([seed, chunk_index, 2])
    return {"answer_u": rng.random((len(FOLLOWUP), n)), "malposition_u": rng.random(n),
            "malposition_day": rng.integers(1, 730, n)}


@dataclass(frozen=True)
class ChunkDraws:
    """One chunk's draws and what is needed to apply a treatment to them (``synth.truth``)."""

    first_id: int
    n_sites: int
    draws: Draws
    followup: dict[str, dict[str, Any]]
    extra: dict[str, np.ndarray]


@dataclass
class Outcomes:
    """The outcomes of one chunk's patients under one treatment assignment (``surgical``, ``mis``
    per patient): what would be recorded if every questionnaire were returned."""

    surgical: np.ndarray
    mis: np.ndarray
    family: np.ndarray
    measures: dict[str, np.ndarray]
    events: dict[str, np.ndarray]
    reop: np.ndarray
    malposition: np.ndarray
    readmit: np.ndarray
    rta_days: np.ndarray
    wait: np.ndarray
    followup: dict[str, dict[str, Any]]  # per timepoint: latent and answered PROMs


_NOISE_SD = {"ebl_ml": 0.35, "op_time_min": 0.18, "los_days": 0.35, "fluoro_s": 0.30, "fluoro_dose_mgy": 0.35,
             "incision_mm": 0.12}
_SLOPES = {  # synthetic covariate effects (per 10 years, per ASA grade, per 5 BMI units), in outcome units
    "ebl_ml": (5.0, 15.0, 12.0), "op_time_min": (2.0, 6.0, 8.0), "los_days": (0.35, 0.45, 0.1),
    "fluoro_s": (0.0, 0.0, 3.0), "fluoro_dose_mgy": (0.0, 0.0, 1.5), "incision_mm": (0.0, 0.0, 3.0),
}
# Site preference for MIS on the log-odds scale (by site number modulo 3; synthetic). Site affects
# the choice of approach only, never an outcome: it is not a confounder.
SITE_MIS_LOGIT = np.array([0.5, 0.0, -0.5])


def site_effects(site: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per patient, the planted site's multiplier of surgical complication risks and its ODI
    points after surgery (:data:`~spinetrack.synth.effects.SITE_EFFECTS`): 1 and 0 elsewhere,
    so that a cohort without the planted sites is exactly what generator version 3 wrote."""
    rr = np.ones(site.shape)
    odi = np.zeros(site.shape)
    for number, eff in E.SITE_EFFECTS.items():
        rr[site == number] = eff["complication_rr"]
        odi[site == number] = eff["odi_points"]
    return rr, odi


def potential_outcomes(d: Draws, fu: dict[str, dict[str, Any]], extra: dict[str, np.ndarray],
                       surgical: np.ndarray, mis: np.ndarray) -> Outcomes:
    """Every outcome of the chunk's patients had they received ``surgical`` (bool per patient;
    the family is the one that treats their diagnosis, :attr:`Draws.family_if_operated`) with
    the approach ``mis`` (bool per patient, ignored where not surgical). A pure function of the
    draws: the realized cohort is ``potential_outcomes(d, …, d.surgical, d.mis)``."""
    n = d.n
    mis = surgical & mis
    family = np.where(surgical, d.family_if_operated, "none")
    ref = d.ref
    measures: dict[str, np.ndarray] = {}
    for outcome in _NOISE_SD:
        base = np.zeros(n)
        eff = np.zeros(n)
        per_level = np.zeros(n)
        for f in FAMILIES:
            m = family == f
            base[m] = E.OPEN_BASE[f][outcome]
            eff[m] = E.planted(f, outcome).value
            per_level[m] = E.PER_EXTRA_LEVEL.get(outcome, {}).get(f, 0.0)
        if outcome == "incision_mm":
            per_level = base * 0.4  # a longer exposure per extra level (synthetic)
        a, b, c = _SLOPES[outcome]
        mean = base + per_level * ref["lv"] + a * ref["age"] + b * ref["asa"] + c * ref["bmi"] + eff * mis
        sd = _NOISE_SD[outcome] * np.maximum(base + eff * mis, 1.0)
        val = mean + d.measure_noise[outcome] * sd
        floor = {"los_days": 0.0, "incision_mm": 8.0, "op_time_min": 15.0}.get(outcome, 0.0)
        measures[outcome] = np.maximum(val, floor)
    measures["los_days"] = np.round(measures["los_days"] * 2) / 2  # half days

    def risk(outcome: str, extra_logrisk: np.ndarray | float = 0.0) -> np.ndarray:
        base = np.zeros(n)
        rr = np.ones(n)
        for f in FAMILIES:
            m = family == f
            base[m] = E.OPEN_BASE[f].get(outcome, 0.0)
            rr[m] = E.planted(f, outcome).value if (f, outcome) in E._BY_KEY else 1.0
        mult = np.exp(0.15 * ref["age"] + 0.25 * ref["asa"] + 0.2 * ref["lv"] + extra_logrisk)
        return np.clip(base * mult * np.where(mis, rr, 1.0), 0, 0.95)

    u = d.risk_u
    current_smoker = d.smoking == "current"
    site_rr, site_odi = site_effects(d.site)  # 1 and 0 except at the planted sites (version 4)
    ev = {
        "transfusion": surgical & (u["transfusion"] < risk("transfusion")),
        "dural_tear": surgical & (u["dural"] < risk("dural_tear", 0.5 * d.prior) * site_rr),
    }
    ssi = surgical & (u["ssi"] < risk("ssi", 0.4 * d.diabetes + 0.3 * current_smoker + 0.3 * ref["bmi"]) * site_rr)
    ev["ssi_deep"] = ssi & (u["ssi_deep"] < 0.4)
    ev["ssi_superficial"] = ssi & ~ev["ssi_deep"]
    ev["neurological_deficit"] = surgical & (u["neuro"] < 0.015 * np.exp(0.2 * ref["lv"]) * site_rr)
    ev["venous_thromboembolism"] = surgical & (u["vte"] < 0.006 * np.exp(0.3 * ref["age"]) * site_rr)
    ev["wrong_level"] = surgical & (u["wrong"] < 0.003 * site_rr)
    reop = surgical & (u["reop"] < risk("reoperation_2y", 0.3 * current_smoker + 0.3 * d.prior))
    readmit = surgical & ((ev["ssi_deep"] | ev["venous_thromboembolism"]) & (d.readmit_u[0] < 0.7)
                          | (d.readmit_u[1] < 0.025))
    malposition_base = np.where(family == "fusion", E.MALPOSITION_REVISION_2Y, 0.0)
    rr_malposition = np.where(family == "fusion", E.planted("fusion", "revision_malposition").value, 1.0)
    malposition = surgical & (extra["malposition_u"] < np.clip(
        malposition_base * np.where(mis, rr_malposition, 1.0), 0, 0.95))

    # ---- PROM trajectories ----------------------------------------------------------------
    r_odi = np.where(surgical, np.select([family == "discectomy", family == "decompression"], [0.62, 0.5], 0.5), 0.35)
    r_back = np.where(surgical, np.select([family == "discectomy"], [0.45], 0.5), 0.35)
    r_leg = np.where(surgical, np.select([family == "discectomy", family == "decompression"], [0.72, 0.6], 0.5), 0.35)
    worse = (1.0 * ref["age"] + 2.0 * ref["asa"] + 3.0 * ref["lv"] + 3.0 * current_smoker + 2.0 * d.diabetes
             + 3.0 * d.prior)
    eff_odi = np.zeros(n)
    eff_back = np.zeros(n)
    eff_leg = np.zeros(n)
    for f in FAMILIES:
        m = (family == f) & mis
        eff_odi[m] = E.planted(f, "odi").value
        eff_back[m] = E.planted(f, "nrs_back").value
        eff_leg[m] = E.planted(f, "nrs_leg").value
    base_rta = np.select([family == "discectomy", family == "decompression", family == "fusion"], [35, 45, 100], 45)
    rta_days = np.round(base_rta * np.exp(d.rta_noise + 0.1 * ref["age"] + 0.2 * ref["asa"] + 0.15 * ref["lv"]))
    followup: dict[str, dict[str, Any]] = {}
    for tp, _target, _half, insts in FOLLOWUP + FOLLOWUP_V3:
        if tp not in fu:  # draws made before version 3 have no 6-month visit
            continue
        z = fu[tp]
        frac = np.where(surgical, TRAJ_SURGERY[tp], TRAJ_CONSERVATIVE[tp])
        odi_t = np.clip(d.odi0_latent * (1 - r_odi * frac) + worse * np.minimum(1.0, frac * 1.2) + eff_odi + d.u_odi
                        + z["odi"] + np.where(surgical, site_odi, 0.0) * np.minimum(1.0, frac * 1.2), 0, 100)
        back_t = np.clip(d.back0_latent * (1 - r_back * frac) + 0.25 * worse / 3 + eff_back + d.u_pain + z["back"],
                         0, 10)
        leg_t = np.clip(d.leg0_latent * (1 - r_leg * frac) + 0.25 * worse / 3 + eff_leg + d.u_pain + z["leg"], 0, 10)
        rel = (d.odi0_latent - odi_t) / np.maximum(d.odi0_latent, 1.0) + z["glob"]
        followup[tp] = {
            "odi_items": odi_from(odi_t, *z["odi_items"]) if "odi" in insts else None,
            "eq": eq5d_from(odi_t, back_t, leg_t, *z["eq"]) if "eq5d5l" in insts else None,
            "back": np.clip(np.round(back_t), 0, 10).astype(int),
            "leg": np.clip(np.round(leg_t), 0, 10).astype(int),
            "glob": np.select([rel >= 0.5, rel >= 0.3, rel >= 0.1, rel >= -0.05], [1, 2, 3, 4], 5),
        }
    wait = np.where(surgical, d.wait_surgery, d.wait_conservative)
    return Outcomes(surgical, mis, family, measures, ev, reop, malposition, readmit, rta_days, wait, followup)


def generate_chunk(seed: int, chunk_index: int, first_id: int, n: int, site_ids: list[int],
                   created_at: dt.datetime, *, draws: list[ChunkDraws] | None = None,
                   dating: Dating | None = None) -> Chunk:
    """Generate ``n`` patients with ids ``first_id …`` (one episode each, same id). When
    ``draws`` is a list, the chunk's random draws are appended to it, so that a caller can
    compute the patients' outcomes under other treatments (``synth.truth``). ``dating`` moves
    the calendar and leaves out what lies after its cutoff (:class:`Dating`); the random draws,
    and so every value that is stored, are the same with or without it. An episode whose index
    date (operation or start of conservative care) falls after the cutoff is stored as enrolled
    and not yet treated: no treatment, no index date, no procedure."""
    dating = dating or Dating()
    shift = dating.shift_days
    rng = np.random.default_rng([seed, chunk_index])
    ids = np.arange(first_id, first_id + n)
    d = _draw_patients(rng, n, len(site_ids))
    surgical, mis = d.surgical, d.mis
    index_day = d.enrol_day + np.where(surgical, d.wait_surgery, d.wait_conservative)

    chunk = Chunk()
    enrol_dates = _dates(d.enrol_day, shift)
    index_dates = _dates(index_day, shift)
    treated = np.array([dating.happened(x) for x in index_dates], dtype=bool)
    proc_code = procedure_codes(d.proc_u, d.family_if_operated, mis)

    # ---- rows ---------------------------------------------------------------------------
    idl = ids.tolist()
    family = np.where(surgical, d.family_if_operated, "none")
    treatment = np.where(~surgical, "conservative", np.where(mis, "mis", "open"))
    group, sex, smoking, work, family, treatment = (
        a.tolist() for a in (d.group, d.sex, d.smoking, d.work, family, treatment))  # numpy str_ → str
    lumbosacral = d.lowest == 4
    back0 = np.clip(np.round(d.back0_latent), 0, 10).astype(int)
    leg0 = np.clip(np.round(d.leg0_latent), 0, 10).astype(int)
    for i in range(n):
        pid = idl[i]
        g = group[i]
        lvl_idx = range(d.lowest[i] - d.n_levels[i] + 1, d.lowest[i] + 1)
        levels = ",".join(LEVELS[j] for j in lvl_idx)
        region = "lumbosacral" if lumbosacral[i] and "lumbosacral" in _CODES_BY_GROUP[g] else "lumbar"
        codes = _CODES_BY_GROUP[g][region]
        code = codes[int(rng.integers(len(codes)))] if len(codes) > 1 else codes[0]
        fam = family[i]
        chunk.patients.append({
            "id": pid, "pseudo_id": pseudo_id(seed, pid), "site_id": site_ids[d.site[i]],
            "birth_year": int(enrol_dates[i].year - d.age[i]), "sex": sex[i], "bmi": float(d.bmi[i]),
            "smoking": smoking[i], "diabetes": bool(d.diabetes[i]), "asa_grade": int(d.asa[i]), "work_status": work[i],
            "symptom_duration_weeks": int(d.symptom_weeks[i]), "prior_spine_surgery": bool(d.prior[i]),
            "created_at": created_at,
        })
        care = ["physiotherapy", "medication"] + (["injection"] if (pid * 7919) % 10 < 4 else [])
        chunk.episodes.append({
            "id": pid, "patient_id": pid, "diagnosis_code": code, "diagnosis_group": g, "levels": levels,
            "n_levels": int(d.n_levels[i]), "conservative_care": ",".join(care),
            "conservative_care_weeks": int(min(d.symptom_weeks[i], 6 + (pid * 31) % 40)),
            "treatment": treatment[i], "treatment_family": None if fam == "none" else fam,
            "enrolled_on": enrol_dates[i], "index_date": index_dates[i], "created_at": created_at,
        })
        if not treated[i]:  # the operation or care starts after the cutoff: enrolled, not yet treated
            chunk.episodes[-1].update(treatment=None, treatment_family=None, index_date=None)
        chunk.findings.extend(imaging_findings(rng, pid, g, [LEVELS[j] for j in lvl_idx]))
        # baseline responses (collected at enrolment)
        base_days: int | None = int(d.enrol_day[i] - index_day[i]) if treated[i] else None
        base = (enrol_dates[i], base_days)
        for inst, given in (("odi", d.odi0_items[i]), ("nrs_back", back0[i]), ("nrs_leg", leg0[i]),
                            ("eq5d5l", d.eq0[i])):
            chunk.responses.append(response_row(pid, "baseline", inst, *base, given, created_at))

    fu = _draw_followup(rng, n)
    fu.update(_draw_followup_v3(seed, chunk_index, n))
    extra = _draw_extra(seed, chunk_index, n)
    real = potential_outcomes(d, fu, extra, surgical, mis)
    if draws is not None:
        draws.append(ChunkDraws(first_id, len(site_ids), d, fu, extra))
    _surgical_rows(chunk, d, real, extra, idl, index_dates, proc_code, created_at, dating)

    # follow-ups, per timepoint
    ans_by = E.RETURN_ANSWERED_BY
    for k, (tp, _target, _half, insts) in enumerate(FOLLOWUP):
        z = fu[tp]
        o = real.followup[tp]
        days = z["days"]
        present = (days < d.dropout_day) & (z["present_u"] >= E.SPORADIC_MISSING)
        coll = _dates(index_day + days, shift)
        au = extra["answer_u"][k]
        for i in np.flatnonzero(present).tolist():
            if not dating.happened(coll[i]):
                continue
            pid = idl[i]
            dd = int(days[i])
            for inst in insts:
                if inst == "odi":
                    ans: Any = o["odi_items"][i]
                elif inst == "nrs_back":
                    ans = o["back"][i]
                elif inst == "nrs_leg":
                    ans = o["leg"][i]
                elif inst == "eq5d5l":
                    ans = o["eq"][i]
                elif inst == "global_outcome":
                    ans = int(o["glob"][i])
                else:  # return to activity: "not yet", or back with the days, the date or neither
                    r = int(real.rta_days[i])
                    if r > dd:
                        ans = None
                    elif au[i] < ans_by["days"]:
                        ans = ("days", r)
                    elif au[i] < ans_by["days"] + ans_by["date"]:
                        ans = ("date", (index_dates[i] + dt.timedelta(days=r)).isoformat())
                    else:
                        ans = ("neither", None)
                chunk.responses.append(response_row(pid, tp, inst, coll[i], dd, ans, created_at))
    for tp, _target, _half, insts in FOLLOWUP_V3:  # after the others: their rows keep their order
        z = fu[tp]
        o = real.followup[tp]
        days = z["days"]
        present = (days < d.dropout_day) & (z["present_u"] >= E.SPORADIC_MISSING)
        coll = _dates(index_day + days, shift)
        for i in np.flatnonzero(present).tolist():
            if not dating.happened(coll[i]):
                continue
            answers = {"odi": o["odi_items"][i], "nrs_back": o["back"][i], "nrs_leg": o["leg"][i], "eq5d5l": o["eq"][i],
                       "global_outcome": int(o["glob"][i])}
            for inst in insts:
                chunk.responses.append(response_row(idl[i], tp, inst, coll[i], int(days[i]), answers[inst],
                                                    created_at))
    return chunk


SURGEONS_PER_SITE = 4  # synthetic: each demo site's operating surgeons, SURG-1 … SURG-4


def _surgeon(pid: int) -> str:
    """The operating surgeon of patient ``pid``'s procedure: spread evenly over the site's
    surgeons by a multiplicative hash of the id (Knuth's constant), so that no random number is
    drawn and every other value of the cohort is unchanged. No surgeon effect is planted."""
    return f"SURG-{(pid * 2654435761) % 4294967296 % SURGEONS_PER_SITE + 1}"


def _surgical_rows(chunk: Chunk, d: Draws, o: Outcomes, extra: dict[str, np.ndarray], idl: list[int],
                   index_dates: list[dt.date],
                   proc_code: list[tuple[str, str | None]], created_at: dt.datetime, dating: Dating) -> None:
    """The procedure, complications, readmission and reoperations of the operated patients (what
    happened by ``dating.cutoff``)."""
    ev = o.events
    for i in np.flatnonzero(o.surgical).tolist():
        pid = idl[i]
        fam = str(o.family[i])
        idx_date = index_dates[i]
        if not dating.happened(idx_date):
            continue
        levels = chunk.episodes[i]["levels"]
        m = o.measures
        chunk.procedures.append({
            "id": pid, "episode_id": pid, "procedure_code": proc_code[i][0], "family": fam,
            "approach": "mis" if o.mis[i] else "open", "technique": proc_code[i][1], "performed_on": idx_date,
            "levels": levels, "n_levels": int(d.n_levels[i]),
            "incision_mm": round(float(m["incision_mm"][i])), "ebl_ml": round(float(m["ebl_ml"][i])),
            "op_time_min": round(float(m["op_time_min"][i])), "fluoro_s": round(float(m["fluoro_s"][i]), 1),
            "fluoro_dose_mgy": round(float(m["fluoro_dose_mgy"][i]), 2), "los_days": float(m["los_days"][i]),
            "transfusion": bool(ev["transfusion"][i]), "created_at": created_at, "surgeon": _surgeon(pid),
        })
        for flag, cat, grade, day in complication_rows(ev, i, pid):
            if flag and dating.happened(idx_date + dt.timedelta(days=day)):
                chunk.complications.append({
                    "episode_id": pid, "procedure_id": pid, "category": cat, "clavien_dindo": grade,
                    "occurred_on": idx_date + dt.timedelta(days=day), "detail": None, "created_at": created_at,
                })
        admitted_on = idx_date + dt.timedelta(days=int(m["los_days"][i]) + 3 + pid % 40)
        if o.readmit[i] and dating.happened(admitted_on):
            chunk.readmissions.append({"episode_id": pid, "admitted_on": admitted_on, "reason": None,
                                       "created_at": created_at})
        reop_on = idx_date + dt.timedelta(days=int(d.reop_day[i]))
        if o.reop[i] and dating.happened(reop_on):
            reason = {"discectomy": "recurrent_herniation", "decompression": "restenosis"}.get(
                fam, "nonunion_or_implant")
            chunk.reoperations.append({"episode_id": pid, "performed_on": reop_on, "reason": reason,
                                       "levels": levels, "created_at": created_at})
        revised_on = idx_date + dt.timedelta(days=int(extra["malposition_day"][i]))
        if o.malposition[i] and dating.happened(revised_on):
            chunk.reoperations.append({"episode_id": pid, "performed_on": revised_on, "reason": "implant_malposition",
                                       "levels": levels, "created_at": created_at})
