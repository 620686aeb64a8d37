"""Augmented overlap weighting — the doubly robust check of an overlap-weighted (ATO) estimate.

The augmented weighting estimator of Mao, Li & Greene (2019, §3.2) for the weighted average
treatment effect with tilting function ``h(e)``, here the overlap tilt ``h = e (1 - e)`` whose
balancing weights are ``w = h / e = 1 - e`` for treated and ``w = h / (1 - e) = e`` for control
rows (the ``w`` of :func:`spinetrack.stats.weighting.overlap_weights`)::

    tau = SUM h (m1 - m0) / SUM h  +  SUM_t w (y - m1) / SUM_t w  -  SUM_c w (y - m0) / SUM_c w

(``SUM_t``/``SUM_c`` over treated/control rows; ``m_a = z' gamma_a`` the arm's least-squares
outcome regression, fitted on that arm). It targets the same estimand as the plain
overlap-weighted difference, and it is consistent for it when either the propensity model or
both outcome regressions are correct. (The usual AIPW, ``estimate_aipw``, targets the ATE.)

Its variance is the M-estimation sandwich ``V = A^-1 B A^-T`` of the stacked estimating
equations, per row (Stefanski & Boos 2002; the stacking of the R package PSW's ``psw.aug``,
Mao, Li & Greene 2019, Appendix)::

    psi_beta = (t - e) x                    # propensity model (all rows it was fitted on)
    psi_g1   = t z (y - m1)                 # outcome regression, treated
    psi_g0   = (1 - t) z (y - m0)           # outcome regression, control
    psi_a1   = h (m1 - a1)                  psi_a0 = h (m0 - a0)
    psi_c1   = t w (y - m1 - c1)            psi_c0 = (1 - t) w (y - m0 - c0)

with ``tau = a1 + c1 - a0 - c0``: it accounts for the estimated propensity score AND the two
estimated outcome regressions. Rather than expanding ``B`` (``p x q`` and ``q x q`` matrices
of sums), the influence function ``phi = lambda' psi`` with ``A' lambda = (0, 0, 0, 1, -1, 1, -1)``
is evaluated per row; ``A`` is block-triangular, so with ``u = y - m_t`` (the row's own arm)
and ``h' = dh/d eta = h (1 - 2e)``, ``dw = dw/d eta``::

    lambda_a1 = 1 / SUM h                  lambda_c1 =  1 / SUM_t w     lambda_c0 = -1 / SUM_c w
    (SUM_t z z') lambda_g1 =   SUM h z / SUM h - SUM_t w z / SUM_t w
    (SUM_c z z') lambda_g0 = -(SUM h z / SUM h - SUM_c w z / SUM_c w)
    H lambda_beta = SUM h' (m1 - m0 - (a1 - a0)) x / SUM h
                    + SUM_t dw (u - c1) x / SUM_t w  -  SUM_c dw (u - c0) x / SUM_c w

    phi = (t - e) lambda_beta' x  +  phi_out,
    phi_out = t (lambda_g1' z) u + (1 - t) (lambda_g0' z) u + h (m1 - m0 - (a1 - a0)) / SUM h
              + t w (u - c1) / SUM_t w - (1 - t) w (u - c0) / SUM_c w

    Var(tau) = SUM phi^2 = lambda_beta' G lambda_beta + 2 SUM (t - e)(lambda_beta' x) phi_out
                           + SUM phi_out^2

(``H = SUM e (1 - e) x x'``, ``G = SUM (t - e)^2 x x'`` over the rows the propensity model was
fitted on; ``phi_out`` is zero on rows without an observed outcome). Hence two aggregates after
the outcome regressions (``X'X``, ``X'y`` per arm):

(a) per arm (``GROUP BY t``), over the rows with an outcome — :class:`AugmentedArmSums`::

        n, SUM h, SUM h m1, SUM h m0, SUM w, SUM w u
        SUM h' x, SUM h' (m1 - m0) x, SUM dw x, SUM dw u x     (p-vectors, PS design x)
        SUM h z, SUM w z, SUM z z'                             (outcome design z)

    (``SUM h m_a = gamma_a' SUM h z`` and ``SUM w u = SUM w y - gamma_a' SUM w z``: an engine
    that already has ``SUM w``, ``SUM w y``, ``SUM w x``, ``SUM dw x`` and ``X'X`` per arm
    from the weighted-difference query needs only ``SUM h x``, ``SUM h' x``,
    ``SUM h' (m1 - m0) x`` and ``SUM dw u x`` more);

    → :func:`compute_augmented_influence` (estimate and ``lambda``);

(b) over the same rows: ``SUM (t - e)(lambda_beta' x) phi_out`` and ``SUM phi_out^2`` —
    :class:`AugmentedVarianceSums` → :func:`estimate_augmented_overlap`.

:func:`augmented_overlap_sums_numpy` and :func:`augmented_variance_sums_numpy` are the
row-level oracles computing exactly these sums from arrays. The variance is HC0-type (no
small-sample factor), like every sandwich in :mod:`spinetrack.stats.effects`.
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
    safe_cholesky,
    two_sided_p_value,
)
from spinetrack.stats.effects import EffectEstimate
from spinetrack.stats.weighting import overlap_weights, weight_derivative

__all__ = [
    "AugmentedArmSums",
    "AugmentedInfluence",
    "AugmentedVarianceSums",
    "AugmentedWeightingSums",
    "augmented_overlap_sums_numpy",
    "augmented_variance_sums_numpy",
    "compute_augmented_influence",
    "estimate_augmented_overlap",
]


@dataclass(frozen=True, eq=False)
class AugmentedArmSums:
    """One arm's sums over the rows with an observed outcome (module docstring, part 2a).

    ``x`` is the propensity design (``p`` columns, intercept first), ``z`` the outcome design
    (``q`` columns, intercept first), ``h = e (1 - e)``, ``dh = h (1 - 2e)``, ``w``/``dw`` the
    overlap weight and its derivative in ``eta``, ``m1``/``m0`` the two arms' fitted outcome
    regressions and ``u = y - m`` of this arm: ``sum_dh_d_x = SUM dh (m1 - m0) x``.
    ``sum_zz`` is the arm's least-squares cross-product ``SUM z z'`` (the one its regression
    was fitted from).
    """

    n: int
    sum_h: float
    sum_h_m1: float
    sum_h_m0: float
    sum_w: float
    sum_w_u: float
    sum_dh_x: np.ndarray
    sum_dh_d_x: np.ndarray
    sum_dw_x: np.ndarray
    sum_dw_u_x: np.ndarray
    sum_h_z: np.ndarray
    sum_w_z: np.ndarray
    sum_zz: np.ndarray


@dataclass(frozen=True, eq=False)
class AugmentedWeightingSums:
    """Both arms' sums plus the propensity information ``H = SUM e (1 - e) x x'`` over the rows
    the propensity model was fitted on."""

    treated: AugmentedArmSums
    control: AugmentedArmSums
    info: np.ndarray


@dataclass(frozen=True, eq=False)
class AugmentedInfluence:
    """The augmented overlap estimate and the coefficients of its influence function.

    Attributes
    ----------
    estimate : float
        ``tau = a1 + c1 - a0 - c0``.
    mean_treated, mean_control : float
        ``a1 + c1`` and ``a0 + c0``: the potential-outcome means in the overlap population.
    regression_difference : float
        ``a1 - a0 = SUM h (m1 - m0) / SUM h``.
    residual_treated, residual_control : float
        ``c1``, ``c0``: the weighted mean residual of each arm.
    sum_h, sum_w_treated, sum_w_control : float
    coef_propensity : ndarray, shape (p,)
        ``lambda_beta``.
    coef_treated, coef_control : ndarray, shape (q,)
        ``lambda_g1``, ``lambda_g0``.
    n_treated, n_control : int
    """

    estimate: float
    mean_treated: float
    mean_control: float
    regression_difference: float
    residual_treated: float
    residual_control: float
    sum_h: float
    sum_w_treated: float
    sum_w_control: float
    coef_propensity: np.ndarray
    coef_treated: np.ndarray
    coef_control: np.ndarray
    n_treated: int
    n_control: int


@dataclass(frozen=True)
class AugmentedVarianceSums:
    """Sums of the influence function over the rows with an outcome (module docstring, part 2b):
    ``SUM (t - e)(lambda_beta' x) phi_out`` and ``SUM phi_out^2``."""

    sum_ps_phi: float
    sum_phi2: float


def _solve_spd(mat: np.ndarray, rhs: np.ndarray, what: str) -> np.ndarray:
    chol = safe_cholesky(0.5 * (mat + mat.T))
    if chol is None:
        raise InputError(f"{what} is singular")
    return np.linalg.solve(chol.T, np.linalg.solve(chol, rhs))


def _arm_checked(arm: AugmentedArmSums, label: str, p: int | None, q: int | None
                 ) -> tuple[int, int, dict[str, Any]]:
    xs = {k: as_float_array(getattr(arm, k), f"{label}.{k}", ndim=1)
          for k in ("sum_dh_x", "sum_dh_d_x", "sum_dw_x", "sum_dw_u_x")}
    zs = {k: as_float_array(getattr(arm, k), f"{label}.{k}", ndim=1) for k in ("sum_h_z", "sum_w_z")}
    pp = xs["sum_dh_x"].shape[0] if p is None else p
    qq = zs["sum_h_z"].shape[0] if q is None else q
    for k, v in xs.items():
        if v.shape != (pp,):
            raise InputError(f"{label}.{k} must have shape ({pp},), got {v.shape}")
    for k, v in zs.items():
        if v.shape != (qq,):
            raise InputError(f"{label}.{k} must have shape ({qq},), got {v.shape}")
    zz = as_float_array(arm.sum_zz, f"{label}.sum_zz", ndim=2)
    if zz.shape != (qq, qq):
        raise InputError(f"{label}.sum_zz must have shape ({qq}, {qq}), got {zz.shape}")
    sc = {k: float(getattr(arm, k)) for k in ("sum_h", "sum_h_m1", "sum_h_m0", "sum_w", "sum_w_u")}
    if not all(math.isfinite(v) for v in sc.values()):
        raise InputError(f"{label}: sums must be finite")
    if int(arm.n) < 1 or sc["sum_w"] <= 0:
        raise InputError(f"{label}: the arm needs rows with a positive sum of weights")
    return pp, qq, {**xs, **zs, **sc, "sum_zz": zz}


def compute_augmented_influence(sums: AugmentedWeightingSums) -> AugmentedInfluence:
    """The augmented overlap-weight estimate and its influence-function coefficients.

    Parameters
    ----------
    sums : AugmentedWeightingSums
        The engine's per-arm aggregate (module docstring, part 2a) or
        :func:`augmented_overlap_sums_numpy`.

    Returns
    -------
    AugmentedInfluence

    References
    ----------
    Mao H, Li L, Greene T. Propensity score weighting analysis and treatment effect discovery.
    Stat Methods Med Res. 2019;28(8):2439-2454 (§3.2, augmented weighting estimator).
    Stefanski LA, Boos DD. The calculus of M-estimation. Am Stat. 2002;56(1):29-38.

    Examples
    --------
    One covariate-free row per arm and e = 1/2: h = 1/4, w = 1/2; the regressions fit exactly
    (m1 = 3, m0 = 1), so tau = a1 - a0 = 2.

    >>> import numpy as np
    >>> one = np.ones((2, 1))
    >>> s = augmented_overlap_sums_numpy(one, one, np.array([1, 0]), np.array([3.0, 1.0]),
    ...                                  np.full(2, 0.5), np.array([3.0]), np.array([1.0]))
    >>> inf = compute_augmented_influence(s)
    >>> inf.estimate, inf.mean_treated, inf.mean_control
    (2.0, 3.0, 1.0)
    """
    p, q, tr = _arm_checked(sums.treated, "treated", None, None)
    _, _, co = _arm_checked(sums.control, "control", p, q)
    H = as_float_array(sums.info, "info", ndim=2)
    if H.shape != (p, p):
        raise InputError(f"info must have shape ({p}, {p}), got {H.shape}")
    s_h = tr["sum_h"] + co["sum_h"]
    if s_h <= 0:
        raise InputError("the overlap tilt e(1 - e) must have a positive sum")
    a1 = (tr["sum_h_m1"] + co["sum_h_m1"]) / s_h
    a0 = (tr["sum_h_m0"] + co["sum_h_m0"]) / s_h
    c1 = tr["sum_w_u"] / tr["sum_w"]
    c0 = co["sum_w_u"] / co["sum_w"]
    hz = (tr["sum_h_z"] + co["sum_h_z"]) / s_h
    g1 = _solve_spd(tr["sum_zz"], hz - tr["sum_w_z"] / tr["sum_w"], "the treated outcome-regression X'X")
    g0 = _solve_spd(co["sum_zz"], -(hz - co["sum_w_z"] / co["sum_w"]), "the control outcome-regression X'X")
    delta = a1 - a0
    dh = tr["sum_dh_x"] + co["sum_dh_x"]
    dh_m = tr["sum_dh_d_x"] + co["sum_dh_d_x"]
    rhs = ((dh_m - delta * dh) / s_h + (tr["sum_dw_u_x"] - c1 * tr["sum_dw_x"]) / tr["sum_w"]
           - (co["sum_dw_u_x"] - c0 * co["sum_dw_x"]) / co["sum_w"])
    try:
        beta = np.linalg.solve(H, rhs)
    except np.linalg.LinAlgError as exc:
        raise InputError(f"the propensity information matrix is singular: {exc}") from exc
    return AugmentedInfluence(
        estimate=delta + c1 - c0, mean_treated=a1 + c1, mean_control=a0 + c0, regression_difference=delta,
        residual_treated=c1, residual_control=c0, sum_h=s_h, sum_w_treated=tr["sum_w"],
        sum_w_control=co["sum_w"], coef_propensity=beta, coef_treated=g1, coef_control=g0,
        n_treated=int(sums.treated.n), n_control=int(sums.control.n))


def _rows(X: np.ndarray, Z: np.ndarray, t: np.ndarray, y: np.ndarray, e: np.ndarray, gamma_treated: np.ndarray,
          gamma_control: np.ndarray) -> tuple[np.ndarray, ...]:
    Xa = as_float_array(X, "X", ndim=2)
    Za = as_float_array(Z, "Z", ndim=2)
    ya = as_float_array(y, "y", ndim=1)
    n = Xa.shape[0]
    if Za.shape[0] != n or ya.shape != (n,):
        raise InputError(f"X, Z and y must have the same rows ({n})")
    ea, ta = as_float_array(e, "e", ndim=1), as_float_array(t, "t", ndim=1)
    w = overlap_weights(ea, ta)  # checks e in (0, 1), t in {0, 1}, matching shapes
    if w.shape != (n,):
        raise InputError(f"t and e must have one value per row ({n})")
    if ta.sum() in (0, n):
        raise InputError("both arms need at least one row")
    dw = weight_derivative(ea, ta, "ATO")
    m1 = Za @ as_float_array(gamma_treated, "gamma_treated", ndim=1)
    m0 = Za @ as_float_array(gamma_control, "gamma_control", ndim=1)
    u = ya - np.where(ta == 1, m1, m0)
    h = ea * (1.0 - ea)
    return Xa, Za, ta, ea, w, dw, m1, m0, u, h


def augmented_overlap_sums_numpy(
    X: np.ndarray,
    Z: np.ndarray,
    t: np.ndarray,
    y: np.ndarray,
    e: np.ndarray,
    gamma_treated: np.ndarray,
    gamma_control: np.ndarray,
    *,
    info: np.ndarray | None = None,
) -> AugmentedWeightingSums:
    """The engine's per-arm aggregate (module docstring, part 2a) from row arrays (oracle).

    Parameters
    ----------
    X : ndarray, shape (n, p)
        Propensity design, intercept included.
    Z : ndarray, shape (n, q)
        Outcome design, intercept included (the one ``gamma`` was fitted on).
    t, y, e : ndarray, shape (n,)
        Treatment 0/1, outcome, fitted propensity score.
    gamma_treated, gamma_control : ndarray, shape (q,)
        Each arm's least-squares outcome-regression coefficients.
    info : ndarray, shape (p, p), optional
        ``H`` over the rows the propensity model was fitted on; by default over these rows.

    Returns
    -------
    AugmentedWeightingSums

    References
    ----------
    Mao H, Li L, Greene T. Stat Methods Med Res. 2019;28(8):2439-2454.

    Examples
    --------
    >>> import numpy as np
    >>> one = np.ones((2, 1))
    >>> s = augmented_overlap_sums_numpy(one, one, np.array([1, 0]), np.array([3.0, 1.0]),
    ...                                  np.full(2, 0.5), np.array([3.0]), np.array([1.0]))
    >>> s.treated.sum_h, s.treated.sum_w, float(s.info[0, 0])
    (0.25, 0.5, 0.5)
    """
    Xa, Za, ta, ea, w, dw, m1, m0, u, h = _rows(X, Z, t, y, e, gamma_treated, gamma_control)
    dh = h * (1.0 - 2.0 * ea)
    arms = {}
    for arm in (1, 0):
        s = ta == arm
        xs, zs = Xa[s], Za[s]
        arms[arm] = AugmentedArmSums(
            n=int(s.sum()), sum_h=float(h[s].sum()), sum_h_m1=float(h[s] @ m1[s]), sum_h_m0=float(h[s] @ m0[s]),
            sum_w=float(w[s].sum()), sum_w_u=float(w[s] @ u[s]),
            sum_dh_x=dh[s] @ xs, sum_dh_d_x=(dh[s] * (m1 - m0)[s]) @ xs,
            sum_dw_x=dw[s] @ xs, sum_dw_u_x=(dw[s] * u[s]) @ xs,
            sum_h_z=h[s] @ zs, sum_w_z=w[s] @ zs, sum_zz=zs.T @ zs)
    H = (Xa * h[:, None]).T @ Xa if info is None else as_float_array(info, "info", ndim=2)
    return AugmentedWeightingSums(treated=arms[1], control=arms[0], info=H)


def augmented_variance_sums_numpy(
    X: np.ndarray,
    Z: np.ndarray,
    t: np.ndarray,
    y: np.ndarray,
    e: np.ndarray,
    gamma_treated: np.ndarray,
    gamma_control: np.ndarray,
    influence: AugmentedInfluence,
) -> AugmentedVarianceSums:
    """The engine's second aggregate (module docstring, part 2b) from row arrays (oracle).

    Parameters
    ----------
    X, Z, t, y, e, gamma_treated, gamma_control
        As for :func:`augmented_overlap_sums_numpy` (the rows with an observed outcome).
    influence : AugmentedInfluence
        From :func:`compute_augmented_influence`.

    Returns
    -------
    AugmentedVarianceSums

    References
    ----------
    Stefanski LA, Boos DD. Am Stat. 2002;56(1):29-38.

    Examples
    --------
    >>> import numpy as np
    >>> one = np.ones((2, 1)); t = np.array([1, 0]); y = np.array([3.0, 1.0]); e = np.full(2, 0.5)
    >>> g1, g0 = np.array([3.0]), np.array([1.0])
    >>> inf = compute_augmented_influence(augmented_overlap_sums_numpy(one, one, t, y, e, g1, g0))
    >>> augmented_variance_sums_numpy(one, one, t, y, e, g1, g0, inf)   # residuals all zero
    AugmentedVarianceSums(sum_ps_phi=0.0, sum_phi2=0.0)
    """
    Xa, Za, ta, ea, w, _dw, m1, m0, u, h = _rows(X, Z, t, y, e, gamma_treated, gamma_control)
    inf = influence
    treated = ta == 1
    phi = (np.where(treated, Za @ inf.coef_treated, Za @ inf.coef_control) * u
           + h * (m1 - m0 - inf.regression_difference) / inf.sum_h
           + np.where(treated, w * (u - inf.residual_treated) / inf.sum_w_treated,
                      -w * (u - inf.residual_control) / inf.sum_w_control))
    ps = (ta - ea) * (Xa @ inf.coef_propensity)
    return AugmentedVarianceSums(sum_ps_phi=float(ps @ phi), sum_phi2=float(phi @ phi))


def estimate_augmented_overlap(
    influence: AugmentedInfluence,
    variance: AugmentedVarianceSums,
    score_outer: np.ndarray,
    *,
    ci_level: float = 0.95,
    measure: Literal["mean difference", "risk difference"] = "mean difference",
) -> EffectEstimate:
    """Augmented overlap-weight (doubly robust ATO) estimate with its sandwich interval.

    ``Var = lambda_beta' G lambda_beta + 2 sum_ps_phi + sum_phi2`` (module docstring, part 2):
    the M-estimation sandwich including the propensity model and both outcome regressions.

    Parameters
    ----------
    influence : AugmentedInfluence
    variance : AugmentedVarianceSums
    score_outer : ndarray, shape (p, p)
        ``G = SUM (t - e)^2 x x'`` over the rows the propensity model was fitted on.
    ci_level : float, default 0.95
    measure : {"mean difference", "risk difference"}
        Label only (a risk difference uses linear outcome regressions of the 0/1 outcome).

    Returns
    -------
    EffectEstimate
        ``estimand`` is ``"ATO"``; ``ess_treated``/``ess_control`` are None.

    References
    ----------
    Mao H, Li L, Greene T. Propensity score weighting analysis and treatment effect discovery.
    Stat Methods Med Res. 2019;28(8):2439-2454.
    Li F, Morgan KL, Zaslavsky AM. Balancing covariates via propensity score weighting.
    J Am Stat Assoc. 2018;113(521):390-400.

    Examples
    --------
    >>> import numpy as np
    >>> inf = AugmentedInfluence(2.0, 3.0, 1.0, 2.0, 0.0, 0.0, 1.0, 1.0, 1.0, np.zeros(1),
    ...                          np.zeros(1), np.zeros(1), 10, 10)
    >>> est = estimate_augmented_overlap(inf, AugmentedVarianceSums(0.0, 0.25), np.eye(1))
    >>> est.estimate, est.standard_error
    (2.0, 0.5)
    """
    check_ci_level(ci_level)
    if measure not in ("mean difference", "risk difference"):
        raise InputError(f"measure must be 'mean difference' or 'risk difference', got {measure!r}")
    lam = as_float_array(influence.coef_propensity, "coef_propensity", ndim=1)
    G = as_float_array(score_outer, "score_outer", ndim=2)
    if G.shape != (lam.size, lam.size):
        raise InputError(f"score_outer must have shape ({lam.size}, {lam.size}), got {G.shape}")
    var = float(lam @ G @ lam) + 2.0 * float(variance.sum_ps_phi) + float(variance.sum_phi2)
    notes = ("sandwich variance was negative through rounding and was set to zero",) if var < 0 else ()
    se = math.sqrt(max(var, 0.0))
    est = influence.estimate
    z = normal_quantile(ci_level)
    return EffectEstimate(
        estimate=est, ci_low=est - z * se, ci_high=est + z * se, ci_level=float(ci_level), standard_error=se,
        p_value=two_sided_p_value(est / se) if se > 0 else float("nan"), measure=measure, estimand="ATO",
        scale="difference", null_value=0.0, mean_treated=influence.mean_treated,
        mean_control=influence.mean_control, n_treated=influence.n_treated, n_control=influence.n_control,
        ess_treated=None, ess_control=None,
        method="augmented overlap weighting (Mao, Li & Greene 2019), linear outcome regressions per arm; "
               "M-estimation sandwich including the propensity-score model and the outcome regressions",
        warnings=notes)
