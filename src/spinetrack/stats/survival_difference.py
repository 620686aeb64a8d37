"""Difference in weighted Kaplan–Meier survival at a horizon, with a sandwich interval that
accounts for the estimated propensity score.

The point estimate is ``S1(tau) - S0(tau)`` (or the difference in restricted mean survival
time up to ``tau``, :func:`influence_lookup` with ``functional="rmst"``), each arm's curve a weighted Kaplan–Meier from
grouped counts (:func:`spinetrack.stats.survival.kaplan_meier_from_counts`). Its variance comes
from the influence function of the weighted Kaplan–Meier estimator, stacked with the logistic
score of the propensity model (M-estimation, as :mod:`spinetrack.stats.effects` does for means).

Derivation. ``log S(tau) = SUM_{t_j <= tau} log(1 - d_j / n_j)`` with weighted events ``d_j``
and weighted numbers at risk ``n_j``. Differentiating with respect to row ``i``'s weight gives
``dS / dw_i = phi_i`` with::

    phi_i = S(tau) * ( C(min(T_i, tau)) - event_i * 1(T_i <= tau) / (n(T_i) - d(T_i)) )
    C(s)  = SUM_{t_j <= s} d_j / (n_j (n_j - d_j))

``S`` is homogeneous of degree 0 in the weights, so ``SUM_i w_i phi_i = 0`` and ``w_i phi_i`` is
row ``i``'s influence (it is the exact Greenwood-type linearisation; with unit weights and no
ties ``SUM (phi_i)^2`` reproduces the Greenwood variance to first order). The weights depend on
the propensity coefficients through ``dw_i / d beta = dw_i x_i``, so ``dS_a / d beta = g_a =
SUM_{arm a} dw_i phi_i x_i``. Stacking with the logistic score ``(t_i - e_i) x_i`` (information
``H = SUM e(1-e) x x'``, score outer product ``G = SUM (t-e)^2 x x'``), with
``c = H^-1 (g1 - g0)``::

    Var(S1 - S0) = V1 + V0 + 2 c' (B1 - B0) + c' G c
    V_a = SUM_{arm a} w^2 phi^2          B_a = SUM_{arm a} w phi (t - e) x

Engine contract, per arm: first the grouped counts (module :mod:`spinetrack.stats.survival`),
with every time beyond the horizon collapsed into one group; then, after joining each row with
the lookup table from :func:`influence_lookup` on (arm, time), one aggregate::

    sum_w2_phi2 = SUM w^2 phi^2      sum_dw_phi_x = SUM dw phi x (p)      sum_w_phi_r_x = SUM w phi r x (p)

where ``phi = S_arm * (cum - event * jump)`` from the lookup. :func:`survival_sums_numpy` computes
the same sums from row arrays (the test oracle).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from spinetrack.errors import InputError
from spinetrack.stats._common import check_ci_level, normal_quantile, two_sided_p_value
from spinetrack.stats.effects import EffectEstimate
from spinetrack.stats.survival import SurvivalCurve, grouped_counts_numpy, kaplan_meier_from_counts

__all__ = [
    "InfluenceLookup",
    "SurvivalArmSums",
    "estimate_survival_difference",
    "influence_lookup",
    "survival_sums_numpy",
]


@dataclass(frozen=True, eq=False)
class InfluenceLookup:
    """Per distinct time of one arm, the two terms of ``phi = cum - event * jump`` (already
    scaled by the functional: see :func:`influence_lookup`); ``value`` is the functional itself
    (``S(horizon)`` or the restricted mean)."""

    time: np.ndarray
    jump: np.ndarray
    cum: np.ndarray
    value: float
    horizon: float
    functional: str

    @property
    def survival(self) -> float:  # backwards-compatible name for the survival functional
        return self.value


@dataclass(frozen=True, eq=False)
class SurvivalArmSums:
    """One arm's sums for the sandwich (module docstring)."""

    n: int
    sum_w: float
    sum_w2: float
    sum_w2_phi2: float
    sum_dw_phi_x: np.ndarray
    sum_w_phi_r_x: np.ndarray


def influence_lookup(curve: SurvivalCurve, horizon: float, functional: str = "survival") -> InfluenceLookup:
    """The per-time terms of ``phi`` for one arm's curve (module docstring).

    ``functional="survival"``: ``S(tau)``, with ``jump = S(tau) / (n - d)`` at event times up to
    the horizon and ``cum = S(tau) C(min(time, tau))``.

    ``functional="rmst"``: the restricted mean ``R = integral_0^tau S(u) du = SUM_j a_j`` with
    ``a_j = S(t_j) (min(t_{j+1}, tau) - t_j)`` (plus ``t_1``, where ``S = 1``). Differentiating
    each ``S(t_j)`` as above gives, for a row leaving at ``T = t_m``::

        phi = SUM_{j<m} a_j C(t_j) + C(t_m) SUM_{j>=m} a_j  -  event * SUM_{j>=m} a_j / (n_m - d_m)

    Where the curve has reached 0 the terms vanish (the weights of rows that all have the event
    together do not move a zero survival).

    Parameters
    ----------
    curve : SurvivalCurve
        The arm's weighted Kaplan–Meier curve (times may extend past the horizon).
    horizon : float
    functional : {"survival", "rmst"}

    Returns
    -------
    InfluenceLookup

    Examples
    --------
    >>> c = kaplan_meier_from_counts([1.0, 2.0], [1.0, 0.0], removals=[1.0, 1.0])
    >>> lk = influence_lookup(c, 2.0)
    >>> lk.value, lk.jump.tolist(), lk.cum.tolist()   # S = 1/2; S/(2-1); S * 1/(2*1)
    (0.5, [0.5, 0.0], [0.25, 0.25])
    >>> influence_lookup(c, 2.0, "rmst").value          # 1 * 1 + 0.5 * (2 - 1)
    1.5
    """
    if not horizon > 0:
        raise InputError(f"horizon must be positive, got {horizon!r}")
    if functional not in ("survival", "rmst"):
        raise InputError(f"functional must be 'survival' or 'rmst', got {functional!r}")
    t = np.asarray(curve.time, dtype=float)
    d = np.asarray(curve.events, dtype=float)
    n = np.asarray(curve.at_risk, dtype=float)
    s = np.asarray(curve.survival, dtype=float)
    inside = t <= horizon
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.where(inside & (d > 0), 1.0 / (n - d), 0.0)
        inc = np.where(inside & (d > 0), d / (n * (n - d)), 0.0)
    c = np.cumsum(inc)
    if functional == "survival":
        if not np.all(np.isfinite(inv)):
            raise InputError("every row at risk had the event before the horizon: the survival is 0 and "
                             "its influence function is undefined; use the restricted mean instead")
        value = float(curve.survival_at(horizon))
        return InfluenceLookup(t, value * inv, value * c, value, float(horizon), functional)
    nxt = np.append(t[1:], np.inf)
    a = np.where(inside, s * (np.minimum(nxt, horizon) - t), 0.0)
    first = min(float(t[0]), float(horizon)) if t.size else float(horizon)
    value = first + float(a.sum())
    ac = np.where(a > 0, a * np.where(np.isfinite(c), c, 0.0), 0.0)
    prefix = np.concatenate([[0.0], np.cumsum(ac)[:-1]])
    tail = a[::-1].cumsum()[::-1]
    with np.errstate(invalid="ignore"):
        cum = prefix + np.where(tail > 0, c * tail, 0.0)
        jump = np.where(tail > 0, inv * tail, 0.0)
    return InfluenceLookup(t, jump, cum, value, float(horizon), functional)


def survival_sums_numpy(time: np.ndarray, event: np.ndarray, t: np.ndarray, X: np.ndarray, e: np.ndarray,
                        w: np.ndarray, dw: np.ndarray, horizon: float, functional: str = "survival"
                        ) -> tuple[dict[int, SurvivalCurve], dict[int, SurvivalArmSums]]:
    """Row-level oracle: each arm's curve and the sums of the module docstring.

    ``X`` is the propensity design including the intercept column; ``w``/``dw`` are the row
    weights and their derivatives with respect to the linear predictor.
    """
    curves: dict[int, SurvivalCurve] = {}
    sums: dict[int, SurvivalArmSums] = {}
    for arm in (1, 0):
        m = t == arm
        g = grouped_counts_numpy(time[m], event[m], w[m])
        curve = kaplan_meier_from_counts(g.time, g.events, removals=g.removals)
        lk = influence_lookup(curve, horizon, functional)
        idx = np.searchsorted(lk.time, time[m])
        ev = (event[m] == 1) & (time[m] <= horizon)
        phi = lk.cum[idx] - np.where(ev, lk.jump[idx], 0.0)
        r = t[m] - e[m]
        xm = X[m]
        curves[arm] = curve
        sums[arm] = SurvivalArmSums(int(m.sum()), float(w[m].sum()), float((w[m] ** 2).sum()),
                                    float(((w[m] * phi) ** 2).sum()), (dw[m] * phi) @ xm, (w[m] * phi * r) @ xm)
    return curves, sums


def estimate_survival_difference(
    treated: SurvivalArmSums, control: SurvivalArmSums, s_treated: float, s_control: float,
    info: np.ndarray, score_outer: np.ndarray, *, estimand: str, ci_level: float = 0.95,
    complement: bool = False, horizon: float | None = None, measure: str | None = None,
) -> EffectEstimate:
    """``S1(tau) - S0(tau)`` (or, with ``complement``, the difference in cumulative incidence
    ``F = 1 - S``, i.e. ``S0 - S1``) with the stacked sandwich interval.

    Parameters
    ----------
    treated, control : SurvivalArmSums
    s_treated, s_control : float
        Each arm's ``S(horizon)``.
    info, score_outer : ndarray (p, p)
        ``H = SUM e(1-e) x x'`` and ``G = SUM (t-e)^2 x x'`` of the propensity model over the
        rows it was fitted on.
    estimand : str
        ``"ATO"`` or ``"ATE"`` (label).
    ci_level : float, default 0.95
    complement : bool, default False
    horizon : float, optional
        For the method text.
    measure : str, optional
        Label of another functional given in ``s_treated``/``s_control`` (e.g. ``"restricted
        mean difference"`` with :func:`influence_lookup`'s ``"rmst"``); the arithmetic is the same.

    Returns
    -------
    EffectEstimate
        ``measure`` is ``"survival difference"`` or ``"cumulative incidence difference"``.

    References
    ----------
    Xie J, Liu C. Adjusted Kaplan-Meier estimator and log-rank test with inverse probability
    of treatment weighting for survival data. Stat Med. 2005;24(20):3089-3110.
    Stefanski LA, Boos DD. The calculus of M-estimation. Am Stat. 2002;56(1):29-38.
    Reid N. Influence functions for censored data. Ann Stat. 1981;9(1):78-92.

    Examples
    --------
    >>> import numpy as np
    >>> a = SurvivalArmSums(2, 2.0, 2.0, 0.125, np.zeros(1), np.zeros(1))
    >>> b = SurvivalArmSums(2, 2.0, 2.0, 0.0, np.zeros(1), np.zeros(1))
    >>> est = estimate_survival_difference(a, b, 0.5, 1.0, np.eye(1), np.eye(1), estimand="ATE")
    >>> est.estimate, round(est.standard_error, 4)
    (-0.5, 0.3536)
    """
    check_ci_level(ci_level)
    H = np.asarray(info, dtype=float)
    G = np.asarray(score_outer, dtype=float)
    dg = np.asarray(treated.sum_dw_phi_x, dtype=float) - np.asarray(control.sum_dw_phi_x, dtype=float)
    db = np.asarray(treated.sum_w_phi_r_x, dtype=float) - np.asarray(control.sum_w_phi_r_x, dtype=float)
    p = H.shape[0]
    if H.shape != (p, p) or G.shape != (p, p) or dg.shape != (p,) or db.shape != (p,):
        raise InputError("info, score_outer and the arm sums must share the propensity design's dimension")
    try:
        c = np.linalg.solve(H, dg)
    except np.linalg.LinAlgError as exc:
        raise InputError(f"the propensity information matrix is singular: {exc}") from exc
    var = treated.sum_w2_phi2 + control.sum_w2_phi2 + 2.0 * float(c @ db) + float(c @ G @ c)
    notes: list[str] = []
    if var < 0:
        notes.append("sandwich variance was negative through rounding and was set to zero")
        var = 0.0
    se = math.sqrt(var)
    diff = s_treated - s_control
    m1, m0 = s_treated, s_control
    label = measure or "survival difference"
    if complement:
        diff, m1, m0, label = -diff, 1.0 - s_treated, 1.0 - s_control, "cumulative incidence difference"
    z = normal_quantile(ci_level)
    at = "" if horizon is None else f" at {horizon:g}"
    return EffectEstimate(
        estimate=diff, ci_low=diff - z * se, ci_high=diff + z * se, ci_level=float(ci_level),
        standard_error=se, p_value=two_sided_p_value(diff / se) if se > 0 else float("nan"),
        measure=label, estimand=estimand, scale="difference", null_value=0.0,
        mean_treated=m1, mean_control=m0, n_treated=int(treated.n), n_control=int(control.n),
        ess_treated=treated.sum_w ** 2 / treated.sum_w2 if treated.sum_w2 > 0 else None,
        ess_control=control.sum_w ** 2 / control.sum_w2 if control.sum_w2 > 0 else None,
        method=f"weighted Kaplan-Meier {label}{at}; influence-function sandwich stacked with the "
               "propensity-score model (Xie & Liu 2005; Stefanski & Boos 2002)",
        warnings=tuple(notes),
    )
