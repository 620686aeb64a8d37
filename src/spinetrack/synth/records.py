"""What one synthetic patient's records say, built from the generator's draws: the PROM item
answers around a latent score (ODI sections, EQ-5D-5L levels and VAS) and the ODI totals they
give, the imaging findings of a diagnosis group, the procedure code and technique of an
operation, and the complications of an episode. Pure functions of their arguments (and of the
random generator passed in); :mod:`spinetrack.synth.cohort` turns them into rows.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from spinetrack.instruments.eq5d5l import DEFAULT_VALUE_SET, health_state, index
from spinetrack.instruments.eq5d5l import DIMENSIONS as EQ5D_DIMENSIONS
from spinetrack.instruments.odi import ITEM_CODES as ODI_ITEM_CODES

__all__ = [
    "EQ5D_DIMENSIONS",
    "ODI_ITEM_CODES",
    "ODI_ITEM_OFFSET",
    "complication_rows",
    "eq5d_from",
    "eq5d_noise",
    "imaging_findings",
    "odi_from",
    "odi_noise",
    "odi_scores",
    "procedure_codes",
    "response_row",
]

ODI_ITEM_OFFSET = np.array([0.3, -0.6, 0.6, 0.1, 0.2, 0.3, -0.2, -0.1, 0.0, -0.6])  # synthetic item difficulty


def complication_rows(ev: dict[str, np.ndarray], i: int, pid: int) -> tuple[tuple[bool, str, str, int], ...]:
    """(happened, category, Clavien–Dindo grade, day after the index date) of patient ``i``."""
    return (
        (bool(ev["dural_tear"][i]), "dural_tear", "I" if (pid % 10) < 7 else "IIIb", 0),
        (bool(ev["ssi_superficial"][i]), "ssi_superficial", "II", 8 + pid % 20),
        (bool(ev["ssi_deep"][i]), "ssi_deep", "IIIb", 10 + pid % 30),
        (bool(ev["neurological_deficit"][i]), "neurological_deficit", "II" if pid % 3 else "IIIb", 1),
        (bool(ev["venous_thromboembolism"][i]), "venous_thromboembolism", "II" if pid % 4 else "IVa", 5 + pid % 20),
        (bool(ev["wrong_level"][i]), "wrong_level", "IIIb", 0),
    )


def procedure_codes(proc_u: np.ndarray, family: np.ndarray, mis: np.ndarray) -> list[tuple[str, str | None]]:
    u = proc_u.tolist()
    out: list[tuple[str, str | None]] = []
    for f, m, x in zip(family.tolist(), mis.tolist(), u, strict=True):
        if f == "discectomy":
            out.append(("discectomy_tubular", "tubular") if m and x < 0.6 else
                       ("discectomy_endoscopic_tf", "full_endoscopic_transforaminal") if m and x < 0.85 else
                       ("discectomy_endoscopic_il", "full_endoscopic_interlaminar") if m else ("discectomy_open", None))
        elif f == "decompression":
            out.append(("decompression_tubular", "tubular") if m and x < 0.7 else
                       ("decompression_endoscopic_il", "full_endoscopic_interlaminar") if m else
                       ("decompression_open", None))
        elif f == "fusion":
            out.append(("fusion_mis_tlif", "percutaneous") if m and x < 0.85 else
                       ("fusion_endoscopic_tlif", "full_endoscopic_transforaminal") if m else
                       ("fusion_open_tlif", None) if x < 0.6 else ("fusion_open_plif", None) if x < 0.85 else
                       ("fusion_open_plf", None))
        else:
            out.append(("", None))
    return out


def odi_noise(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Item noise and the skipped sections (sex_life skipped by about 1 in 5)."""
    noise = rng.normal(0, 0.6, (n, 10))
    missing = rng.random((n, 10)) < np.where(np.arange(10) == 7, 0.2, 0.01)[None, :]
    return noise, missing


def odi_from(latent: np.ndarray, noise: np.ndarray, missing: np.ndarray) -> list[list[int]]:
    """Item scores 0-5 around ``latent``/20; a skipped section is -1."""
    raw = latent[:, None] / 20 + ODI_ITEM_OFFSET[None, :] + noise
    items = np.clip(np.round(raw), 0, 5).astype(int)
    return np.where(missing, -1, items).tolist()


def odi_scores(items: list[list[int]] | np.ndarray) -> np.ndarray:
    """ODI 2.1a totals of item rows (-1 = skipped; more than two skipped → NaN), as
    ``instruments.odi`` scores them (tests/synth checks that they agree)."""
    a = np.asarray(items, dtype=float)
    answered = a >= 0
    n_ans = answered.sum(axis=1)
    total = np.where(answered, a, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(10 - n_ans <= 2, total / (5 * n_ans) * 100, np.nan)


def eq5d_noise(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    return rng.normal(0, 0.12, (n, 5)), rng.normal(0, 9, n)


def eq5d_from(odi: np.ndarray, back: np.ndarray, leg: np.ndarray, noise: np.ndarray, vas_noise: np.ndarray
               ) -> list[tuple[list[int], int]]:
    d = odi / 100
    p = np.maximum(back, leg) / 10
    x = np.stack([0.9 * d + 0.1 * p, 0.7 * d, 0.9 * d + 0.1 * p, 0.25 * d + 0.75 * p, 0.35 * d + 0.2 * p], axis=1)
    levels = np.clip(1 + np.floor((x + noise) * 5), 1, 5).astype(int)
    vas = np.clip(np.round(92 - 0.45 * odi - 2.2 * (back + leg) / 2 + vas_noise), 0, 100).astype(int)
    return list(zip(levels.tolist(), vas.tolist(), strict=True))


def imaging_findings(rng: np.random.Generator, pid: int, group: str, levels: list[str]) -> list[dict[str, Any]]:
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
        zone = ("subarticular" if u[1] < 0.6 else "central" if u[1] < 0.75 else "foraminal" if u[1] < 0.95
                else "extraforaminal")
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


def response_row(episode_id: int, tp: str, inst: str, collected_on: dt.date, days: int | None, ans: Any,
                 created_at: dt.datetime) -> dict[str, Any]:
    """One response row: the answers as given, and the total and detail that the instrument's
    ``score(answers)`` gives them (``Score.total`` and ``Score.detail()``; tests/synth checks that
    they agree)."""
    detail: dict[str, Any] | None = None
    valid = True
    if inst == "odi":
        answers = {code: (None if v < 0 else v) for code, v in zip(ODI_ITEM_CODES, ans, strict=True)}
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
        answers = dict(zip(EQ5D_DIMENSIONS, dims, strict=True))
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
    else:  # return_to_activity: ans = None for "not yet", else ("days", n), ("date", iso) or ("neither", None)
        if ans is None:
            answers, total, detail = {"returned": 0}, None, {"n_answered": 1, "band": "not yet", "returned": False}
        elif ans[0] == "days":
            answers, total = {"returned": 1, "days": ans[1]}, float(ans[1])
            detail = {"n_answered": 2, "band": "returned", "returned": True}
        elif ans[0] == "date":
            answers, total = {"returned": 1, "date": ans[1]}, None
            detail = {"n_answered": 2, "band": "returned", "returned": True, "date": ans[1]}
        else:
            answers, total = {"returned": 1}, None
            detail = {"n_answered": 1, "band": "returned", "returned": True}
        version = "1"
    return {
        "episode_id": episode_id, "timepoint": tp, "instrument": inst, "instrument_version": version,
        "collected_on": collected_on, "days_from_index": days, "answers": answers, "score": total,
        "score_detail": detail or None, "valid": valid, "source": "synthetic", "idempotency_key": None,
        "created_at": created_at,
    }
