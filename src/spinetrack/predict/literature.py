"""The literature fallback: a published arm figure for an option × outcome the clinic's data
cannot predict (``predict.spec``, minimum-data rule).

The figure is the published **arm** of that option — MIS or open — in the evidence package
(``spinetrack/evidence/data/arm_data.csv``, :class:`~spinetrack.evidence.ArmSummary`), for the
average patient of that study: it is not adjusted to the patient, and it says so. Rules:

* rows of the option's procedure family only (``cross_cutting`` rows mix procedures), without a
  verification flag, with the outcome's quantity, unit and timepoint
  (:data:`LITERATURE_OUTCOMES`): a mean (``mean_sd`` or ``mean_only``) for a continuous outcome,
  events or a percentage for a probability;
* ONE study for both arms of a family × outcome, so that the MIS and open figures come from
  the same patients: a randomised trial before an observational study, then the larger study
  (both arms), the more recent, the first in the file; the other studies' figures for that arm
  are listed in the note;
* the interval is computed from the arm's own numbers where they allow it (mean ± 1.96·SD/√n;
  Wilson score interval for events or a percentage with n) and is absent otherwise;
* conservative care has no figure: the evidence package compares MIS with open surgery only.

Nothing is filled in: an option × outcome without an eligible row gets ``source = "none"`` and
the reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from spinetrack.domain.comparisons import CONSERVATIVE
from spinetrack.evidence import (
    ArmStatistic,
    ArmSummary,
    Design,
    Outcome,
    Timepoint,
    Unit,
    load_arm_data,
)
from spinetrack.stats._common import normal_quantile
from spinetrack.stats.prediction import wilson_interval

__all__ = ["LITERATURE_OUTCOMES", "LiteratureFigure", "literature_figure"]


@dataclass(frozen=True, slots=True)
class _Wanted:
    outcome: Outcome
    timepoints: frozenset[Timepoint] | None  # None: any (the source's timepoint is named in the note)
    units: frozenset[Unit]
    kind: str  # mean | probability
    what: str  # in words, for the reason when there is no row


_ANY_COMPLICATION_UNITS = frozenset({Unit.PERCENT, Unit.COUNT})
#: Which arm rows can stand in for each outcome (None: the evidence package has none that can).
LITERATURE_OUTCOMES: dict[str, _Wanted | None] = {
    "odi_mcid_12m": None,
    "odi_12m": _Wanted(Outcome.ODI, frozenset({Timepoint.M12}), frozenset({Unit.ODI_POINTS}), "mean",
                       "a mean ODI (0-100) at 12 months"),
    "leg_pain_12m": _Wanted(Outcome.LEG_PAIN, frozenset({Timepoint.M12}), frozenset({Unit.NRS_0_10}), "mean",
                            "a mean NRS leg pain (0-10) at 12 months"),
    "back_pain_12m": _Wanted(Outcome.BACK_PAIN, frozenset({Timepoint.M12}), frozenset({Unit.NRS_0_10}), "mean",
                             "a mean NRS back pain (0-10) at 12 months"),
    "length_of_stay": _Wanted(Outcome.LENGTH_OF_STAY, frozenset({Timepoint.PERIOP}), frozenset({Unit.DAYS}), "mean",
                              "a mean length of stay in days"),
    "any_complication": _Wanted(Outcome.COMPLICATIONS_ANY, None, _ANY_COMPLICATION_UNITS, "probability",
                                "the share with any complication"),
    "return_to_activity": None,
    "reoperation_2y": _Wanted(Outcome.REOPERATION, frozenset({Timepoint.UP_TO_24M, Timepoint.M24}),
                              frozenset({Unit.PERCENT, Unit.COUNT}), "probability",
                              "the share reoperated within 2 years"),
}
_NO_ROWS = {
    "odi_mcid_12m": "the evidence package has no published arm share of patients reaching the ODI MCID at 12 months",
    "return_to_activity": "the evidence package has no arm-level days to return to activity (return to work appears "
                          "only as narrative findings)",
}


@dataclass(frozen=True, slots=True)
class LiteratureFigure:
    """A published arm figure standing in for a prediction."""

    estimate: float
    ci_low: float | None
    ci_high: float | None
    n_patients: int | None
    citation: str
    note: str
    arm_id: str
    sd: float | None = None  # the arm's published standard deviation (means), for the spread of its patients

    def as_dict(self) -> dict[str, Any]:
        return {"estimate": self.estimate, "ci_low": self.ci_low, "ci_high": self.ci_high,
                "n_patients": self.n_patients, "citation": self.citation, "note": self.note, "arm_id": self.arm_id,
                "sd": self.sd}


def _arm_sd(a: ArmSummary, option: str) -> float | None:
    if a.statistic is not ArmStatistic.MEAN_SD:
        return None
    return a.mis_sd if option == "mis" else a.open_sd


def _arm_value(a: ArmSummary, option: str, kind: str) -> tuple[float, float | None, float | None, int | None] | None:
    n = a.mis_n if option == "mis" else a.open_n
    if kind == "mean":
        if a.statistic not in (ArmStatistic.MEAN_SD, ArmStatistic.MEAN_ONLY):
            return None
        mean = a.mis_mean if option == "mis" else a.open_mean
        sd = a.mis_sd if option == "mis" else a.open_sd
        if mean is None:
            return None
        if sd is not None and n:
            half = normal_quantile(0.95) * sd / math.sqrt(n)
            return mean, mean - half, mean + half, n
        return mean, None, None, n
    if a.statistic is ArmStatistic.EVENTS:
        ev = a.mis_events if option == "mis" else a.open_events
        if ev is None or not n:
            return None
        lo, hi = wilson_interval(ev, n)
        return ev / n, lo, hi, n
    if a.statistic is ArmStatistic.PERCENT:
        pct = a.mis_pct if option == "mis" else a.open_pct
        if pct is None:
            return None
        if n:
            lo, hi = wilson_interval(pct / 100.0 * n, n)
            return pct / 100.0, lo, hi, n
        return pct / 100.0, None, None, None
    return None


def _label(a: ArmSummary) -> str:
    year = f" {a.citation.year}" if a.citation.year else ""
    return f"{a.study}{year}".strip() or a.id


def _citation(a: ArmSummary) -> str:
    text = a.citation.format()
    study = a.study.strip()
    return f"{study}: {text}" if study and not text.startswith(study.rstrip(".")) else text


def _eligible(family: str, outcome_key: str, option: str) -> list[ArmSummary]:
    want = LITERATURE_OUTCOMES[outcome_key]
    assert want is not None
    out = []
    for a in load_arm_data():
        if a.comparison.value != family or a.outcome is not want.outcome or a.flagged or a.unit not in want.units:
            continue
        if want.timepoints is not None and a.timepoint_norm not in want.timepoints:
            continue
        if _arm_value(a, option, want.kind) is None:
            continue
        out.append(a)
    return out


def literature_figure(family: str | None, option: str, outcome_key: str) -> LiteratureFigure | str:
    """The published arm figure for ``option`` (``mis`` or ``open`` within ``family``) and the
    outcome, or the reason there is none (module docstring).

    Examples
    --------
    >>> f = literature_figure("discectomy", "mis", "reoperation_2y")
    >>> f.estimate, f.n_patients, "21792119" in f.citation
    (0.15, 167, True)
    >>> literature_figure("fusion", "mis", "odi_12m")
    'no unflagged published fusion MIS arm in the evidence package reports a mean ODI (0-100) at 12 months'
    """
    if option == CONSERVATIVE or family is None:
        return ("the evidence package (spinetrack/evidence/data) holds MIS-versus-open comparisons only: no published "
                "conservative-care arm")
    if outcome_key in _NO_ROWS:
        return _NO_ROWS[outcome_key]
    want = LITERATURE_OUTCOMES[outcome_key]
    assert want is not None
    rows = _eligible(family, outcome_key, option)
    if not rows:
        return (f"no unflagged published {family} {option.upper()} arm in the evidence package reports "
                f"{want.what}")
    order = {a.id: i for i, a in enumerate(load_arm_data())}

    def rank(a: ArmSummary) -> tuple[int, int, int, int]:
        return (0 if a.design is Design.RCT else 1, -((a.mis_n or 0) + (a.open_n or 0)), -(a.citation.year or 0),
                order[a.id])

    rows.sort(key=rank)
    best = rows[0]
    est, lo, hi, n = _arm_value(best, option, want.kind)  # type: ignore[misc]
    shown = f"{est:.3g}" if want.kind == "mean" else f"{est:.1%}"
    others = []
    for a in rows[1:]:
        v = _arm_value(a, option, want.kind)
        assert v is not None
        others.append(f"{v[0]:.3g} ({_label(a)})" if want.kind == "mean" else f"{v[0]:.1%} ({_label(a)})")
    note = (f"published {option.upper()} arm of {_label(best)} ({best.design.value}, {best.subcomparison}; "
            f"timepoint: {best.timepoint}): {shown} for the average patient of that study, not adjusted to this "
            "patient")
    if lo is None:
        note += "; no interval (the source gives no " + ("SD" if want.kind == "mean" else "arm size") + ")"
    if others:
        note += "; other published arms: " + ", ".join(others)
    return LiteratureFigure(est, lo, hi, n, _citation(best), note, best.id,
                            _arm_sd(best, option) if want.kind == "mean" else None)
