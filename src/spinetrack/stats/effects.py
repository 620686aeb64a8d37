"""Weighted treatment-effect estimates whose intervals account for the estimated weights.

Two estimators, each finished here from sums that an engine computes in one aggregate query
after the propensity model has been fitted (``x`` = the propensity design row *including*
the intercept, ``t`` = treatment 0/1, ``y`` = outcome, ``e = expit(x' beta)``, ``w`` = the
row's weight and ``dw = dw/deta`` its derivative, both from :mod:`spinetrack.stats.weighting`).

1. Weighted difference in means / risks (Hajek form), overlap weights (ATO) or stabilized IPTW
   (ATE) — :func:`estimate_weighted_difference`; and the risk ratio with a log-scale
   delta-method interval — :func:`estimate_risk_ratio`.

   Stacked estimating equations (Lunceford & Davidian 2004; Li, Thomas & Li 2019), per row::

       psi_beta = (t - e) x                           # logistic score of the PS model
       psi_1    = t       w (y - mu1)                 # weighted mean, treated
       psi_0    = (1 - t) w (y - mu0)                 # weighted mean, control

   The sandwich ``V = A^-1 B A^-T`` (``A = -SUM d psi / d theta'``, ``B = SUM psi psi'``) has
   blocks that are polynomials in ``mu1``, ``mu0``; expanding them, everything follows from
   these sums, **per arm** (``GROUP BY t``; ``r = t - e``, so ``r = 1 - e`` for treated and
   ``-e`` for control rows)::

       n           = COUNT(*)
       sum_w       = SUM w              sum_wy      = SUM w y
       sum_w2      = SUM w^2            sum_w2y     = SUM w^2 y        sum_w2y2 = SUM w^2 y^2
       sum_dw_x    = SUM dw x           (p)         sum_dw_y_x  = SUM dw y x        (p)
       sum_w_r_x   = SUM w r x          (p)         sum_w_r_y_x = SUM w r y x       (p)
       sum_v_xx    = SUM e (1 - e) x x' (p x p)     sum_r2_xx   = SUM r^2 x x'      (p x p)

   (``p (p + 1) / 2`` distinct entries for each ``p x p`` sum; see
   :func:`spinetrack.stats.glm.symmetric_from_triangle`.) :func:`weighting_sums_numpy` is the
   row-level oracle that computes exactly these sums from arrays.

   Stabilizing constants cancel: stabilized and unstabilized IPTW give the same estimate and
   the same sandwich, provided ``dw`` is scaled like ``w``. The propensity model must be the
   unweighted logistic MLE on the same rows (after trimming, refit on the kept rows).

2. The weighted mean of one arm, with its standard error — :func:`weighted_mean_from_sums`.

The augmented (doubly robust) estimators start from the same propensity model and these
notations: augmented IPW for the ATE in :mod:`spinetrack.stats.aipw`, augmented overlap
weighting for the ATO in :mod:`spinetrack.stats.augmented_overlap`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from spinetrack.errors import InputError
from spinetrack.stats._common import (
    as_float_array,
    check_ci_level,
    normal_quantile,
    to_jsonable,
    two_sided_p_value,
)
from spinetrack.stats.weighting import ESTIMANDS, Estimand, compute_weights, weight_derivative

__all__ = [
    "ArmEstimatingSums",
    "EffectEstimate",
    "WeightedMeanEstimate",
    "WeightingSums",
    "estimate_risk_ratio",
    "estimate_weighted_difference",
    "weighted_mean_from_sums",
    "weighting_sums_numpy",
]


# --------------------------------------------------------------------------- result types


@dataclass(frozen=True)
class EffectEstimate:
    """A treatment-effect estimate with its interval.

    Attributes
    ----------
    estimate : float
        Difference (treated minus control) or ratio (treated over control).
    ci_low, ci_high : float
    ci_level : float
    standard_error : float
        On the analysis scale: of the difference, or of the log ratio (see ``scale``).
    p_value : float
        Two-sided Wald test of ``null_value``.
    measure : str
        ``"mean difference"``, ``"risk difference"`` or ``"risk ratio"``.
    estimand : str
        ``"ATO"`` (overlap population) or ``"ATE"``.
    scale : str
        ``"difference"`` or ``"log ratio"``.
    null_value : float
        0 for differences, 1 for ratios.
    mean_treated, mean_control : float
        Weighted (or potential-outcome) means per arm.
    n_treated, n_control : int
        Rows per arm.
    ess_treated, ess_control : float or None
        Kish effective sample sizes of the weights (None for AIPW).
    method : str
    warnings : tuple of str
    """

    estimate: float
    ci_low: float
    ci_high: float
    ci_level: float
    standard_error: float
    p_value: float
    measure: str
    estimand: str
    scale: str
    null_value: float
    mean_treated: float
    mean_control: float
    n_treated: int
    n_control: int
    ess_treated: float | None
    ess_control: float | None
    method: str
    warnings: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable mapping."""
        out = dict(self.__dict__)
        out["warnings"] = list(self.warnings)
        return to_jsonable(out)


@dataclass(frozen=True)
class WeightedMeanEstimate:
    """A weighted mean of an outcome with its spread.

    Attributes
    ----------
    estimate : float
        ``SUM w y / SUM w``.
    variance : float
        Weighted variance of the outcome ``SUM w (y - m)^2 / SUM w`` (NaN without ``sum_wy2``).
    standard_error : float
        Of the mean, weights taken as fixed (NaN when the needed sums are missing).
    ci_low, ci_high : float
    ci_level : float
    sum_w : float
    effective_n : float or None
        Kish effective sample size, when ``sum_w2`` is given.
    method : str
    """

    estimate: float
    variance: float
    standard_error: float
    ci_low: float
    ci_high: float
    ci_level: float
    sum_w: float
    effective_n: float | None
    method: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable mapping."""
        return to_jsonable(dict(self.__dict__))


# --------------------------------------------------------------------------- engine sums


@dataclass(frozen=True, eq=False)
class ArmEstimatingSums:
    """The per-arm sums of the weighted-difference sandwich (module docstring, item 1)."""

    n: int
    sum_w: float
    sum_wy: float
    sum_w2: float
    sum_w2y: float
    sum_w2y2: float
    sum_dw_x: np.ndarray
    sum_dw_y_x: np.ndarray
    sum_w_r_x: np.ndarray
    sum_w_r_y_x: np.ndarray
    sum_v_xx: np.ndarray
    sum_r2_xx: np.ndarray


@dataclass(frozen=True, eq=False)
class WeightingSums:
    """Both arms' sums plus the estimand the weights target (``"ATO"`` or ``"ATE"``)."""

    treated: ArmEstimatingSums
    control: ArmEstimatingSums
    estimand: str


def _check_rows(
    X: np.ndarray, t: np.ndarray, *others: tuple[np.ndarray, str]
) -> tuple[np.ndarray, np.ndarray]:
    Xa = as_float_array(X, "X", ndim=2)
    ta = as_float_array(t, "t", ndim=1)
    n = Xa.shape[0]
    if ta.shape[0] != n:
        raise InputError(f"t has {ta.shape[0]} rows but X has {n}")
    if np.any((ta != 0) & (ta != 1)):
        raise InputError("treatment t must be 0 or 1")
    if ta.sum() == 0 or ta.sum() == n:
        raise InputError("both arms need at least one row")
    for arr, name in others:
        if arr.shape != (n,):
            raise InputError(f"{name} must have one value per row ({n}), got shape {arr.shape}")
    return Xa, ta


def weighting_sums_numpy(
    X: np.ndarray,
    t: np.ndarray,
    y: np.ndarray,
    e: np.ndarray,
    estimand: Estimand = "ATO",
    *,
    p_treated: float | None = None,
) -> WeightingSums:
    """The engine's sandwich aggregate computed from row arrays (test oracle, small data).

    Parameters
    ----------
    X : ndarray, shape (n, p)
        Propensity design, intercept included (the one the PS model was fitted on).
    t : ndarray, shape (n,)
        Treatment 0/1.
    y : ndarray, shape (n,)
        Outcome (continuous, or 0/1 for risks).
    e : ndarray, shape (n,)
        Fitted propensity scores ``expit(X @ beta_hat)``.
    estimand : {"ATO", "ATE"}, default "ATO"
    p_treated : float, optional
        Stabilizing share for ATE weights (default: mean of ``t``; cancels anyway).

    Returns
    -------
    WeightingSums

    References
    ----------
    Lunceford JK, Davidian M. Stat Med. 2004;23(19):2937-2960.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.ones((4, 1)); t = np.array([1, 1, 0, 0]); y = np.array([3.0, 5.0, 1.0, 2.0])
    >>> sums = weighting_sums_numpy(X, t, y, np.full(4, 0.5), "ATO")
    >>> sums.treated.sum_w, sums.treated.sum_wy
    (1.0, 4.0)
    """
    ya = as_float_array(y, "y", ndim=1)
    ea = as_float_array(e, "e", ndim=1)
    Xa, ta = _check_rows(X, t, (ya, "y"), (ea, "e"))
    w = compute_weights(ea, ta, estimand, p_treated=p_treated)
    dw = weight_derivative(ea, ta, estimand, p_treated=p_treated)
    r = ta - ea
    v = ea * (1.0 - ea)
    arms = {}
    for arm in (1, 0):
        s = ta == arm
        xs, ws, ys, dws, rs = Xa[s], w[s], ya[s], dw[s], r[s]
        arms[arm] = ArmEstimatingSums(
            n=int(s.sum()),
            sum_w=float(ws.sum()),
            sum_wy=float(ws @ ys),
            sum_w2=float(ws @ ws),
            sum_w2y=float((ws * ws) @ ys),
            sum_w2y2=float((ws * ws) @ (ys * ys)),
            sum_dw_x=dws @ xs,
            sum_dw_y_x=(dws * ys) @ xs,
            sum_w_r_x=(ws * rs) @ xs,
            sum_w_r_y_x=(ws * rs * ys) @ xs,
            sum_v_xx=(xs * v[s][:, None]).T @ xs,
            sum_r2_xx=(xs * (rs * rs)[:, None]).T @ xs,
        )
    return WeightingSums(treated=arms[1], control=arms[0], estimand=estimand)


# --------------------------------------------------------------------------- finishing math


def _arm_arrays(arm: ArmEstimatingSums, label: str, p: int | None) -> tuple[int, dict[str, Any]]:
    vecs = {k: as_float_array(getattr(arm, k), f"{label}.{k}", ndim=1)
            for k in ("sum_dw_x", "sum_dw_y_x", "sum_w_r_x", "sum_w_r_y_x")}
    mats = {k: as_float_array(getattr(arm, k), f"{label}.{k}", ndim=2) for k in ("sum_v_xx", "sum_r2_xx")}
    q = vecs["sum_dw_x"].shape[0] if p is None else p
    for k, v in vecs.items():
        if v.shape != (q,):
            raise InputError(f"{label}.{k} must have shape ({q},), got {v.shape}")
    for k, m in mats.items():
        if m.shape != (q, q):
            raise InputError(f"{label}.{k} must have shape ({q}, {q}), got {m.shape}")
    scalars = {k: float(getattr(arm, k)) for k in ("sum_w", "sum_wy", "sum_w2", "sum_w2y", "sum_w2y2")}
    if not all(math.isfinite(v) for v in scalars.values()):
        raise InputError(f"{label}: sums must be finite")
    if scalars["sum_w"] <= 0 or scalars["sum_w2"] <= 0:
        raise InputError(f"{label}: the weights must have a positive sum")
    return q, {**vecs, **mats, **scalars}


def _stacked_covariance(sums: WeightingSums) -> tuple[float, float, np.ndarray, list[str]]:
    """``(mu1, mu0, Cov(mu1, mu0))`` from the sandwich of the stacked equations."""
    if sums.estimand not in ESTIMANDS:
        raise InputError(f"estimand must be one of {ESTIMANDS}, got {sums.estimand!r}")
    p, tr = _arm_arrays(sums.treated, "treated", None)
    _, co = _arm_arrays(sums.control, "control", p)
    mu1 = tr["sum_wy"] / tr["sum_w"]
    mu0 = co["sum_wy"] / co["sum_w"]
    H = tr["sum_v_xx"] + co["sum_v_xx"]        # A_beta,beta  = SUM e(1-e) x x'
    G = tr["sum_r2_xx"] + co["sum_r2_xx"]      # B_beta,beta  = SUM (t-e)^2 x x'
    a1 = -(tr["sum_dw_y_x"] - mu1 * tr["sum_dw_x"])   # A_mu1,beta = -SUM t (y-mu1) dw x
    a0 = -(co["sum_dw_y_x"] - mu0 * co["sum_dw_x"])
    b1 = tr["sum_w_r_y_x"] - mu1 * tr["sum_w_r_x"]    # B_mu1,beta = SUM t w (y-mu1)(t-e) x
    b0 = co["sum_w_r_y_x"] - mu0 * co["sum_w_r_x"]
    b11 = tr["sum_w2y2"] - 2.0 * mu1 * tr["sum_w2y"] + mu1 * mu1 * tr["sum_w2"]
    b00 = co["sum_w2y2"] - 2.0 * mu0 * co["sum_w2y"] + mu0 * mu0 * co["sum_w2"]
    A = np.zeros((p + 2, p + 2))
    A[:p, :p] = H
    A[p, :p], A[p, p] = a1, tr["sum_w"]
    A[p + 1, :p], A[p + 1, p + 1] = a0, co["sum_w"]
    B = np.zeros((p + 2, p + 2))
    B[:p, :p] = G
    B[:p, p] = B[p, :p] = b1
    B[:p, p + 1] = B[p + 1, :p] = b0
    B[p, p], B[p + 1, p + 1] = max(b11, 0.0), max(b00, 0.0)
    notes: list[str] = []
    try:
        ainv_b = np.linalg.solve(A, B)
        V = np.linalg.solve(A, ainv_b.T).T
    except np.linalg.LinAlgError as exc:
        raise InputError(f"the propensity information matrix is singular: {exc}") from exc
    cov = 0.5 * (V[p:, p:] + V[p:, p:].T)
    if cov[0, 0] < 0 or cov[1, 1] < 0:
        notes.append("sandwich variance was negative through rounding and was set to zero")
        cov[0, 0], cov[1, 1] = max(cov[0, 0], 0.0), max(cov[1, 1], 0.0)
    return mu1, mu0, cov, notes


_MEASURES = ("mean difference", "risk difference")


def estimate_weighted_difference(
    sums: WeightingSums,
    *,
    ci_level: float = 0.95,
    measure: Literal["mean difference", "risk difference"] = "mean difference",
    y_offset: float = 0.0,
) -> EffectEstimate:
    """Weighted difference ``mu1 - mu0`` with a sandwich interval for estimated weights.

    Parameters
    ----------
    sums : WeightingSums
        The engine's aggregate (module docstring, item 1) or :func:`weighting_sums_numpy`.
    ci_level : float, default 0.95
    measure : {"mean difference", "risk difference"}
        Label only; the arithmetic is the same (use 0/1 outcomes for risks).
    y_offset : float, default 0.0
        If the engine summed ``y - c`` for numerical stability, pass ``c``: it is added back
        to the reported arm means (the difference is unaffected).

    Returns
    -------
    EffectEstimate

    References
    ----------
    Lunceford JK, Davidian M. Stratification and weighting via the propensity score in
    estimation of causal treatment effects: a comparative study. Stat Med.
    2004;23(19):2937-2960.
    Li F, Morgan KL, Zaslavsky AM. Balancing covariates via propensity score weighting.
    J Am Stat Assoc. 2018;113(521):390-400.
    Stefanski LA, Boos DD. The calculus of M-estimation. Am Stat. 2002;56(1):29-38.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.ones((4, 1)); t = np.array([1, 1, 0, 0]); y = np.array([3.0, 5.0, 1.0, 2.0])
    >>> sums = weighting_sums_numpy(X, t, y, np.full(4, 0.5), "ATE")
    >>> est = estimate_weighted_difference(sums)
    >>> est.estimate, round(est.standard_error, 6)   # HC0: sqrt(2 / 2**2 + 0.5 / 2**2)
    (2.5, 0.790569)
    """
    check_ci_level(ci_level)
    if measure not in _MEASURES:
        raise InputError(f"measure must be one of {_MEASURES}, got {measure!r}")
    mu1, mu0, cov, notes = _stacked_covariance(sums)
    diff = mu1 - mu0
    var = cov[0, 0] + cov[1, 1] - 2.0 * cov[0, 1]
    se = math.sqrt(max(var, 0.0))
    z = normal_quantile(ci_level)
    label = "overlap weights (ATO)" if sums.estimand == "ATO" else "stabilized IPTW (ATE)"
    return EffectEstimate(
        estimate=diff,
        ci_low=diff - z * se,
        ci_high=diff + z * se,
        ci_level=float(ci_level),
        standard_error=se,
        p_value=two_sided_p_value(diff / se) if se > 0 else float("nan"),
        measure=measure,
        estimand=sums.estimand,
        scale="difference",
        null_value=0.0,
        mean_treated=mu1 + y_offset,
        mean_control=mu0 + y_offset,
        n_treated=int(sums.treated.n),
        n_control=int(sums.control.n),
        ess_treated=sums.treated.sum_w ** 2 / sums.treated.sum_w2,
        ess_control=sums.control.sum_w ** 2 / sums.control.sum_w2,
        method=f"weighted {measure}, {label}; M-estimation sandwich including the "
               "propensity-score model (Lunceford & Davidian 2004)",
        warnings=tuple(notes),
    )


def estimate_risk_ratio(sums: WeightingSums, *, ci_level: float = 0.95) -> EffectEstimate:
    """Weighted risk ratio ``mu1 / mu0`` for a 0/1 outcome, log-scale delta-method interval.

    ``Var log RR = V11 / mu1^2 + V00 / mu0^2 - 2 V10 / (mu1 mu0)`` with ``V`` the sandwich
    covariance of ``(mu1, mu0)`` (the arms covary through the propensity model).

    Parameters
    ----------
    sums : WeightingSums
        As for :func:`estimate_weighted_difference`, with ``y`` in {0, 1}.
    ci_level : float, default 0.95

    Returns
    -------
    EffectEstimate
        ``estimate`` is the ratio; ``standard_error`` is of ``log RR``.

    References
    ----------
    Lunceford JK, Davidian M. Stat Med. 2004;23(19):2937-2960.
    Agresti A. Categorical Data Analysis, 3rd ed. Wiley; 2013, §3.1.4 (delta method).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.ones((6, 1)); t = np.array([1, 1, 1, 0, 0, 0]); y = np.array([1, 1, 0, 1, 0, 0.0])
    >>> est = estimate_risk_ratio(weighting_sums_numpy(X, t, y, np.full(6, 0.5), "ATE"))
    >>> round(est.estimate, 6)
    2.0
    """
    check_ci_level(ci_level)
    mu1, mu0, cov, notes = _stacked_covariance(sums)
    if mu1 <= 0 or mu0 <= 0:
        raise InputError("the risk ratio needs a positive weighted risk in both arms")
    rr = mu1 / mu0
    var = cov[0, 0] / mu1**2 + cov[1, 1] / mu0**2 - 2.0 * cov[0, 1] / (mu1 * mu0)
    se = math.sqrt(max(var, 0.0))
    z = normal_quantile(ci_level)
    label = "overlap weights (ATO)" if sums.estimand == "ATO" else "stabilized IPTW (ATE)"
    return EffectEstimate(
        estimate=rr,
        ci_low=math.exp(math.log(rr) - z * se),
        ci_high=math.exp(math.log(rr) + z * se),
        ci_level=float(ci_level),
        standard_error=se,
        p_value=two_sided_p_value(math.log(rr) / se) if se > 0 else float("nan"),
        measure="risk ratio",
        estimand=sums.estimand,
        scale="log ratio",
        null_value=1.0,
        mean_treated=mu1,
        mean_control=mu0,
        n_treated=int(sums.treated.n),
        n_control=int(sums.control.n),
        ess_treated=sums.treated.sum_w ** 2 / sums.treated.sum_w2,
        ess_control=sums.control.sum_w ** 2 / sums.control.sum_w2,
        method=f"weighted risk ratio, {label}; M-estimation sandwich including the "
               "propensity-score model, delta method on the log scale",
        warnings=tuple(notes),
    )


# --------------------------------------------------------------------------- weighted mean


def weighted_mean_from_sums(
    sum_w: float,
    sum_wy: float,
    sum_wy2: float | None = None,
    *,
    sum_w2: float | None = None,
    sum_w2y: float | None = None,
    sum_w2y2: float | None = None,
    ci_level: float = 0.95,
) -> WeightedMeanEstimate:
    """Weighted mean, variance and standard error of an outcome from engine sums.

    ``m = SUM w y / SUM w``; ``variance = SUM w y^2 / SUM w - m^2``. Standard error of ``m``
    with the weights taken as fixed (ratio-estimator linearization)::

        Var m = SUM w^2 (y - m)^2 / (SUM w)^2
              = (sum_w2y2 - 2 m sum_w2y + m^2 sum_w2) / sum_w^2

    when the three ``w^2`` sums are given; otherwise, with ``sum_w2`` and ``sum_wy2`` only,
    the Kish approximation ``variance / ESS``; otherwise NaN.

    Parameters
    ----------
    sum_w, sum_wy : float
        ``SUM w``, ``SUM w y``.
    sum_wy2 : float, optional
        ``SUM w y^2``.
    sum_w2, sum_w2y, sum_w2y2 : float, optional
        ``SUM w^2``, ``SUM w^2 y``, ``SUM w^2 y^2``.
    ci_level : float, default 0.95

    Returns
    -------
    WeightedMeanEstimate

    References
    ----------
    Cochran WG. Sampling Techniques, 3rd ed. Wiley; 1977, §6.4 (ratio estimator variance).
    Kish L. Survey Sampling. Wiley; 1965, §11.7.

    Examples
    --------
    >>> est = weighted_mean_from_sums(2.0, 3.0, 5.0, sum_w2=2.0, sum_w2y=3.0, sum_w2y2=5.0)
    >>> est.estimate, est.variance, est.standard_error   # y = (1, 2), w = (1, 1)
    (1.5, 0.25, 0.3535533905932738)
    """
    check_ci_level(ci_level)
    sw = float(sum_w)
    if not (math.isfinite(sw) and sw > 0):
        raise InputError("sum_w must be positive")
    m = float(sum_wy) / sw
    variance = max(float(sum_wy2) / sw - m * m, 0.0) if sum_wy2 is not None else float("nan")
    ess = sw * sw / float(sum_w2) if sum_w2 is not None and sum_w2 > 0 else None
    if sum_w2 is not None and sum_w2y is not None and sum_w2y2 is not None:
        v_mean = max(float(sum_w2y2) - 2 * m * float(sum_w2y) + m * m * float(sum_w2), 0.0) / (sw * sw)
        how = "weights taken as fixed (linearization)"
    elif ess is not None and sum_wy2 is not None:
        v_mean = variance / ess
        how = "Kish approximation variance / effective n"
    else:
        v_mean = float("nan")
        how = "no standard error (sums of squared weights not given)"
    se = math.sqrt(v_mean) if math.isfinite(v_mean) else float("nan")
    z = normal_quantile(ci_level)
    return WeightedMeanEstimate(
        estimate=m, variance=variance, standard_error=se, ci_low=m - z * se, ci_high=m + z * se,
        ci_level=float(ci_level), sum_w=sw, effective_n=ess, method=f"weighted mean; {how}",
    )

