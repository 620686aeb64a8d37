"""Calibration-in-the-large of a survival model by group of predicted risk, against the
Kaplan–Meier estimate.

:func:`calibrate_survival_groups` is the Greenwood–Nam–D'Agostino test: patients are split
into groups by predicted risk; in each, the Kaplan–Meier survival at a time ``t`` is compared
with the mean predicted survival, ``χ² = Σ (KM_g − S̄_g)² / Var_Greenwood(KM_g)`` on
``G − 1`` degrees of freedom, groups with fewer than 5 events by ``t`` being merged with their
neighbour (D'Agostino RB, Nam BH. Evaluation of the performance of survival analysis models:
discrimination and calibration measures. In: Handbook of Statistics 23. Elsevier; 2004:1-25;
Demler OV, Paynter NP, Cook NR. Tests of calibration and goodness-of-fit in the survival
setting. Stat Med. 2015;34(10):1659-1680).

:func:`calibrate_survival_groups` and :class:`SurvivalCalibrationTable` are re-exported by
:mod:`spinetrack.stats.aft` and :mod:`spinetrack.stats.prediction`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from spinetrack.errors import InputError
from spinetrack.stats._common import as_float_array, to_jsonable
from spinetrack.stats.meta._distributions import chi2_sf
from spinetrack.stats.survival import grouped_counts_numpy, kaplan_meier_from_counts

__all__ = ["SurvivalCalibrationTable", "calibrate_survival_groups"]


@dataclass(frozen=True)
class SurvivalCalibrationTable:
    """Observed (Kaplan–Meier) against mean predicted survival at ``time`` by group of
    predicted risk (module docstring): per group ``n``, events by ``time``, the mean predicted
    and the Kaplan–Meier survival with its Greenwood standard error; the Greenwood–Nam–
    D'Agostino ``chi2`` on ``df`` degrees of freedom and its ``p_value``."""

    time: float
    n: tuple[int, ...]
    events: tuple[int, ...]
    predicted: tuple[float, ...]
    observed: tuple[float, ...]
    standard_error: tuple[float, ...]
    chi2: float
    df: int
    p_value: float
    groups_requested: int
    method: str

    @property
    def max_abs_difference(self) -> float:
        """The largest ``|observed − predicted|`` survival over the groups."""
        return max(abs(o - p) for o, p in zip(self.observed, self.predicted, strict=True))

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = to_jsonable({
            "time": self.time, "chi2": self.chi2, "df": self.df, "p_value": self.p_value,
            "groups_requested": self.groups_requested, "method": self.method,
            "groups": [{"n": n, "events": e, "predicted": p, "observed": o, "standard_error": s}
                       for n, e, p, o, s in zip(self.n, self.events, self.predicted, self.observed,
                                                self.standard_error, strict=True)]})
        return out

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> SurvivalCalibrationTable:
        g = d["groups"]
        return SurvivalCalibrationTable(
            float(d["time"]), tuple(int(x["n"]) for x in g), tuple(int(x["events"]) for x in g),
            tuple(float(x["predicted"]) for x in g), tuple(float(x["observed"]) for x in g),
            tuple(float(x["standard_error"]) for x in g), float(d["chi2"]), int(d["df"]), float(d["p_value"]),
            int(d["groups_requested"]), d["method"])


def _km_at(time: np.ndarray, event: np.ndarray, at: float) -> tuple[float, float]:
    """Kaplan–Meier survival at ``at`` and its Greenwood variance (:mod:`spinetrack.stats.survival`)."""
    g = grouped_counts_numpy(time, event)
    curve = kaplan_meier_from_counts(g.time, g.events, removals=g.removals)
    idx = int(np.searchsorted(curve.time, at, side="right")) - 1
    if idx < 0:
        return 1.0, 0.0
    return float(curve.survival[idx]), float(curve.variance[idx])


def calibrate_survival_groups(time: Any, event: Any, predicted_survival: Any, at: float, *, groups: int = 5,
                              min_events: int = 5) -> SurvivalCalibrationTable:
    """Greenwood–Nam–D'Agostino calibration test at time ``at`` (module docstring).

    Patients are ordered by predicted survival at ``at`` (highest risk first) and split into
    ``groups`` groups of (nearly) equal size; a group with fewer than ``min_events`` events by
    ``at`` is merged with the next (the last with the one before), as Demler et al. (2015)
    advise. Each group's Kaplan–Meier survival at ``at`` (Greenwood variance) is compared with
    its mean predicted survival.

    Parameters
    ----------
    time, event : ndarray
        Follow-up times and 0/1 event indicators.
    predicted_survival : ndarray
        Each patient's predicted ``S(at | x)``.
    at : float
        The time of the comparison.
    groups, min_events : int
        Groups requested (5: quintiles of risk) and the fewest events by ``at`` a group keeps.

    Returns
    -------
    SurvivalCalibrationTable

    Raises
    ------
    spinetrack.errors.InputError
        Fewer than two groups remain after merging, or a group's Kaplan–Meier variance is 0.
    """
    t = as_float_array(time, "time", ndim=1)
    d = as_float_array(event, "event", ndim=1)
    s = as_float_array(predicted_survival, "predicted_survival", ndim=1)
    if not (t.size == d.size == s.size):
        raise InputError("time, event and predicted_survival must have the same length")
    order = np.argsort(s, kind="mergesort")
    parts = [list(p) for p in np.array_split(order, max(1, min(int(groups), t.size)))]
    early = (d == 1.0) & (t <= at)

    def n_events(idx: list[int]) -> int:
        return int(early[idx].sum())

    i = 0
    while i < len(parts) and len(parts) > 1:
        if n_events(parts[i]) < min_events:
            j = i + 1 if i + 1 < len(parts) else i - 1
            lo, hi = min(i, j), max(i, j)
            parts[lo:hi + 1] = [parts[lo] + parts[hi]]
            i = lo
            continue
        i += 1
    if len(parts) < 2:
        raise InputError(f"fewer than {min_events} events by time {at:g} in all but one group: the calibration "
                         "test needs at least two groups")
    n, ev, pred, obs, se = [], [], [], [], []
    chi2 = 0.0
    for idx in parts:
        ia = np.array(idx)
        km, var = _km_at(t[ia], d[ia], at)
        if not var > 0:
            raise InputError(f"a group's Kaplan-Meier variance at {at:g} is 0 (every patient of it had the event)")
        mean_pred = float(s[ia].mean())
        chi2 += (km - mean_pred) ** 2 / var
        n.append(int(ia.size))
        ev.append(n_events(idx))
        pred.append(mean_pred)
        obs.append(km)
        se.append(math.sqrt(var))
    df = len(parts) - 1
    return SurvivalCalibrationTable(float(at), tuple(n), tuple(ev), tuple(pred), tuple(obs), tuple(se), chi2, df,
                                    chi2_sf(chi2, df), int(groups),
                                    "Greenwood-Nam-D'Agostino: Kaplan-Meier against mean predicted survival by group "
                                    f"of predicted risk at t = {at:g} (groups with fewer than {min_events} events "
                                    "merged)")
