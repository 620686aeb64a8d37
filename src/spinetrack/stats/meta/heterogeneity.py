"""Between-study variance ``tau^2``: estimators, Cochran's Q and the Q-profile interval.

The random-effects model is ``y_i = mu_g(i) + u_i + e_i`` with ``u_i ~ N(0, tau^2)`` and
``e_i ~ N(0, v_i)``, ``v_i`` known. Usually there is one mean ``mu`` (``groups=None``); with
``groups`` every subgroup has its own mean and ``tau^2`` is common to all (a mixed-effects model
with a categorical moderator — metafor's ``rma(yi, vi, mods = ~ factor(group))``). With weights
``w_i(tau^2) = 1 / (v_i + tau^2)`` and ``mu_g`` the weighted mean of subgroup ``g``, the
generalized Q statistic is::

    Q(tau^2) = SUM_i w_i(tau^2) (y_i - mu_g(i)(tau^2))^2,     df = k - G

``Q(0)`` is Cochran's Q. The estimators (Veroniki et al. 2016 review them all):

* ``"DL"`` (DerSimonian & Laird 1986), method of moments:
  ``tau^2 = max(0, (Q(0) - df) / tr P)`` with ``tr P = SUM_g (SUM w - SUM w^2 / SUM w)``,
  ``w = 1/v``.
* ``"PM"`` (Paule & Mandel 1982): the ``tau^2 >= 0`` solving ``Q(tau^2) = df`` (0 when
  ``Q(0) <= df``); found by bisection (``Q`` decreases in ``tau^2``).
* ``"REML"`` (restricted maximum likelihood; Viechtbauer 2005): Fisher scoring
  ``tau^2 <- max(0, tau^2 + (y'PPy - tr P) / tr PP)``, with
  ``P = W - W X (X'WX)^-1 X'W`` (block diagonal by subgroup), until the step is below
  ``1e-10 (1 + tau^2)``; a boundary maximum gives ``tau^2 = 0``.

Standard error of ``tau^2`` — the one metafor's ``rma.uni`` computes and prints for each of
these estimators (metafor 5.1-12, ``R/rma.uni.r``), with ``k`` studies and ``p`` means
(``p = G`` subgroups, 1 without ``groups``), ``df = k - p``:

* DL: ``sqrt(2 df + 4 tau^2 tr P + 2 tau^4 tr PP) / tr P`` with ``P`` built from ``w = 1/v``
  (``tau^2 = 0`` weights) — the standard deviation of ``(Q - df) / tr P`` under the
  random-effects model, evaluated at the estimate: ``Q = y'Py`` is a quadratic form in normal
  ``y`` with covariance ``Sigma = V + tau^2 I``, so ``Var Q = 2 tr(P Sigma P Sigma)``, and
  ``P V P = P``. A DL ``tau^2`` truncated at 0 has the standard error ``sqrt(2 df) / tr P``.
* REML: ``sqrt(2 / tr PP)`` with ``w = 1/(v + tau^2)``: the inverse of the expected (Fisher)
  information of the restricted likelihood.
* PM: ``sqrt(2 k^2 / df) / SUM w`` with ``w = 1/(v + tau^2)`` — metafor's equation, which equals
  ``(k/df) sqrt(2 tr(PVPV) + 4 tau^2 tr(PVP) + 2 tau^4 tr PP) / SUM w`` because ``P Sigma P = P``.

Without degrees of freedom (one study per subgroup) ``tau^2`` is 0 by definition and there is
no standard error (None); a ``tau^2`` fixed by the caller is not estimated and has none either.

Q-profile interval (Viechtbauer 2007): the ``tau^2`` values where ``Q(tau^2)`` equals the
``1 - alpha/2`` and ``alpha/2`` quantiles of chi-square(df); a bound is 0 when ``Q(0)`` is
already below the matching quantile. It does not depend on the estimator.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from spinetrack.errors import InputError
from spinetrack.stats._common import as_float_array, check_ci_level, to_jsonable
from spinetrack.stats.meta._distributions import chi2_ppf

__all__ = [
    "TAU2_METHODS",
    "Tau2Estimate",
    "Tau2Method",
    "cochran_q",
    "estimate_tau2",
    "generalized_q",
    "q_profile_tau2_ci",
    "typical_sampling_variance",
]

Tau2Method = Literal["DL", "REML", "PM"]
TAU2_METHODS: tuple[str, ...] = ("DL", "REML", "PM")
_REML_TOL = 1e-10
_REML_MAX_ITER = 500


@dataclass(frozen=True, slots=True)
class Tau2Estimate:
    """An estimate of the between-study variance.

    Attributes
    ----------
    tau2 : float
    standard_error : float or None
        Standard error of ``tau2`` as metafor computes it for the method (module docstring);
        None without degrees of freedom.
    method : str
    iterations : int
        Fisher-scoring steps (REML) or bisection steps (PM); 0 for DL.
    """

    tau2: float
    standard_error: float | None
    method: str
    iterations: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable mapping."""
        return dict(to_jsonable({"tau2": self.tau2, "standard_error": self.standard_error,
                                 "method": self.method, "iterations": self.iterations}))


def _codes(groups: Sequence[Any] | np.ndarray | None, k: int) -> tuple[np.ndarray, int]:
    if groups is None:
        return np.zeros(k, dtype=np.intp), 1
    g = np.asarray(groups)
    if g.shape != (k,):
        raise InputError(f"groups must have one entry per study ({k})")
    _, codes = np.unique(g, return_inverse=True)
    return codes.astype(np.intp), int(codes.max()) + 1


def _prepare(
    yi: Any, vi: Any, groups: Sequence[Any] | np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    y = as_float_array(yi, "yi", ndim=1)
    v = as_float_array(vi, "vi", ndim=1)
    if y.shape != v.shape or y.size == 0:
        raise InputError("yi and vi must be non-empty and of the same length")
    if np.any(v <= 0):
        raise InputError("sampling variances must be positive")
    codes, n_groups = _codes(groups, y.size)
    return y, v, codes, n_groups


def _blocks(y: np.ndarray, v: np.ndarray, codes: np.ndarray, n_groups: int, tau2: float
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weights, per-study residuals from the subgroup means, and per-group weight sums."""
    w = 1.0 / (v + tau2)
    sw = np.bincount(codes, weights=w, minlength=n_groups)
    mu = np.bincount(codes, weights=w * y, minlength=n_groups) / sw
    return w, y - mu[codes], sw


def generalized_q(yi: Any, vi: Any, tau2: float, groups: Sequence[Any] | np.ndarray | None = None) -> float:
    """``Q(tau^2) = SUM w_i (y_i - mu_g)^2`` with ``w_i = 1/(v_i + tau^2)`` (see module docstring).

    Examples
    --------
    >>> round(generalized_q([0.0, 1.0], [1.0, 1.0], 0.0), 6)
    0.5
    """
    y, v, codes, n_groups = _prepare(yi, vi, groups)
    w, r, _ = _blocks(y, v, codes, n_groups, float(tau2))
    return float(np.sum(w * r * r))


def cochran_q(yi: Any, vi: Any, groups: Sequence[Any] | np.ndarray | None = None) -> float:
    """Cochran's Q: the generalized Q at ``tau^2 = 0`` (within-subgroup Q summed over subgroups).

    References
    ----------
    Cochran WG. The combination of estimates from different experiments. Biometrics.
    1954;10(1):101-129.

    Examples
    --------
    >>> round(cochran_q([0.0, 1.0, 2.0], [1.0, 1.0, 1.0]), 6)
    2.0
    """
    return generalized_q(yi, vi, 0.0, groups)


def typical_sampling_variance(vi: Any, groups: Sequence[Any] | np.ndarray | None = None) -> float:
    """The "typical" within-study variance ``(k - G) / tr P`` (``w = 1/v``) behind ``I^2``.

    ``I^2 = 100 tau^2 / (tau^2 + s^2)`` and ``H^2 = (tau^2 + s^2) / s^2`` with this ``s^2``
    (Higgins & Thompson 2002; metafor's definition for every ``tau^2`` estimator).

    Examples
    --------
    >>> round(typical_sampling_variance([0.5, 0.5, 0.5]), 6)
    0.5
    """
    v = as_float_array(vi, "vi", ndim=1)
    codes, n_groups = _codes(groups, v.size)
    df = v.size - n_groups
    if df <= 0:
        return math.nan
    w = 1.0 / v
    sw = np.bincount(codes, weights=w, minlength=n_groups)
    sw2 = np.bincount(codes, weights=w * w, minlength=n_groups)
    return float(df / np.sum(sw - sw2 / sw))


def _solve_decreasing(f: Callable[[float], float], target: float, start: float) -> tuple[float, int]:
    """The ``x >= 0`` with ``f(x) = target`` for decreasing ``f`` and ``f(0) > target``."""
    lo, hi = 0.0, max(start, 1e-8)
    steps = 0
    while f(hi) > target:
        lo, hi = hi, hi * 2.0
        steps += 1
        if hi > 1e300:
            raise InputError("the Q-profile equation has no finite solution")
    for _ in range(300):
        mid = 0.5 * (lo + hi)
        steps += 1
        if mid in (lo, hi) or hi - lo <= 1e-14 * max(1.0, hi):
            break
        if f(mid) > target:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi), steps


def _dl_standard_error(y: np.ndarray, v: np.ndarray, codes: np.ndarray, n_groups: int, tau2: float) -> float:
    """metafor's DL standard error: sqrt(2 df + 4 tau^2 tr P + 2 tau^4 tr PP) / tr P, w = 1/v."""
    _, tr_p, tr_pp = _reml_terms(y, v, codes, n_groups, 0.0)
    df = y.size - n_groups
    t = max(tau2, 0.0)
    return math.sqrt(2.0 * df + 4.0 * t * tr_p + 2.0 * t * t * tr_pp) / tr_p


def _pm_standard_error(v: np.ndarray, n_groups: int, tau2: float) -> float:
    """metafor's PM standard error: sqrt(2 k^2 / df) / SUM w, w = 1/(v + tau^2)."""
    k = v.size
    return math.sqrt(2.0 * k * k / (k - n_groups)) / float(np.sum(1.0 / (v + tau2)))


def _dl(y: np.ndarray, v: np.ndarray, codes: np.ndarray, n_groups: int) -> float:
    df = y.size - n_groups
    if df <= 0:
        return 0.0
    w, r, sw = _blocks(y, v, codes, n_groups, 0.0)
    q = float(np.sum(w * r * r))
    sw2 = np.bincount(codes, weights=w * w, minlength=n_groups)
    return max(0.0, (q - df) / float(np.sum(sw - sw2 / sw)))


def _reml_terms(y: np.ndarray, v: np.ndarray, codes: np.ndarray, n_groups: int, tau2: float
                ) -> tuple[float, float, float]:
    """``y'PPy``, ``tr P`` and ``tr PP`` for the block-diagonal REML ``P`` matrix."""
    w, r, sw = _blocks(y, v, codes, n_groups, tau2)
    sw2 = np.bincount(codes, weights=w * w, minlength=n_groups)
    sw3 = np.bincount(codes, weights=w**3, minlength=n_groups)
    ypp = float(np.sum((w * r) ** 2))
    tr_p = float(np.sum(w) - np.sum(sw2 / sw))
    tr_pp = float(np.sum(w * w) - 2.0 * np.sum(sw3 / sw) + np.sum((sw2 / sw) ** 2))
    return ypp, tr_p, tr_pp


def _reml(y: np.ndarray, v: np.ndarray, codes: np.ndarray, n_groups: int) -> tuple[float, float, int]:
    tau2 = _dl(y, v, codes, n_groups)
    for it in range(1, _REML_MAX_ITER + 1):  # noqa: B007 - the iteration count is returned after the loop
        ypp, tr_p, tr_pp = _reml_terms(y, v, codes, n_groups, tau2)
        new = max(0.0, tau2 + (ypp - tr_p) / tr_pp)
        if abs(new - tau2) <= _REML_TOL * (1.0 + tau2):
            tau2 = new
            break
        tau2 = new
    else:  # pragma: no cover - Fisher scoring on a one-parameter REML surface converges in practice
        def score(t: float) -> float:
            a, b, _ = _reml_terms(y, v, codes, n_groups, t)
            return a - b

        if score(0.0) <= 0:
            tau2 = 0.0
        else:
            tau2, _ = _solve_decreasing(score, 0.0, max(tau2, 1e-4))
        it = _REML_MAX_ITER
    _, _, tr_pp = _reml_terms(y, v, codes, n_groups, tau2)
    return tau2, math.sqrt(2.0 / tr_pp), it


def estimate_tau2(
    yi: Any,
    vi: Any,
    method: Tau2Method = "REML",
    groups: Sequence[Any] | np.ndarray | None = None,
) -> Tau2Estimate:
    """Estimate the between-study variance by DerSimonian–Laird, REML or Paule–Mandel.

    Parameters
    ----------
    yi, vi : array_like
        Study estimates and sampling variances.
    method : {"DL", "REML", "PM"}, default "REML"
    groups : array_like, optional
        Subgroup of each study; each subgroup gets its own mean and ``tau^2`` is common.

    Returns
    -------
    Tau2Estimate
        With the standard error of ``tau2`` metafor gives for the method (module docstring);
        ``tau2 = 0`` and no standard error when there are no degrees of freedom left (one
        study per subgroup).

    References
    ----------
    DerSimonian R, Laird N. Meta-analysis in clinical trials. Control Clin Trials.
    1986;7(3):177-188.
    Paule RC, Mandel J. Consensus values and weighting factors. J Res Natl Bur Stand.
    1982;87(5):377-385.
    Viechtbauer W. Bias and efficiency of meta-analytic variance estimators in the
    random-effects model. J Educ Behav Stat. 2005;30(3):261-293.
    Veroniki AA, Jackson D, Viechtbauer W, et al. Methods to estimate the between-study
    variance and its uncertainty in meta-analysis. Res Synth Methods. 2016;7(1):55-79.
    Viechtbauer W. Conducting meta-analyses in R with the metafor package. J Stat Softw.
    2010;36(3):1-48 (``rma.uni``: the standard errors of ``tau^2``, metafor 5.1-12).

    Examples
    --------
    >>> est = estimate_tau2([0.0, 1.0, 2.0], [0.1, 0.1, 0.1], "DL")
    >>> round(est.tau2, 6)   # (Q - df) / tr P = (20 - 2) / (30 - 10)
    0.9
    >>> round(est.standard_error, 6)   # sqrt(2*2 + 4*0.9*20 + 2*0.81*200) / 20
    1.0
    """
    if method not in TAU2_METHODS:
        raise InputError(f"tau^2 method must be one of {', '.join(TAU2_METHODS)}, got {method!r}")
    y, v, codes, n_groups = _prepare(yi, vi, groups)
    df = y.size - n_groups
    if df <= 0:
        return Tau2Estimate(0.0, None, method, 0)
    if method == "DL":
        tau2 = _dl(y, v, codes, n_groups)
        return Tau2Estimate(tau2, _dl_standard_error(y, v, codes, n_groups, tau2), method, 0)
    if method == "REML":
        tau2, se, iterations = _reml(y, v, codes, n_groups)
        return Tau2Estimate(tau2, se, method, iterations)

    def q_of(t: float) -> float:
        w, r, _ = _blocks(y, v, codes, n_groups, t)
        return float(np.sum(w * r * r))

    if q_of(0.0) <= df:
        return Tau2Estimate(0.0, _pm_standard_error(v, n_groups, 0.0), method, 0)
    tau2, steps = _solve_decreasing(q_of, float(df), max(_dl(y, v, codes, n_groups), float(np.var(y))))
    return Tau2Estimate(tau2, _pm_standard_error(v, n_groups, tau2), method, steps)


def q_profile_tau2_ci(
    yi: Any,
    vi: Any,
    ci_level: float = 0.95,
    groups: Sequence[Any] | np.ndarray | None = None,
) -> tuple[float, float]:
    """Q-profile confidence interval for ``tau^2`` (Viechtbauer 2007).

    Parameters
    ----------
    yi, vi : array_like
    ci_level : float, default 0.95
    groups : array_like, optional
        Subgroups with their own means (common ``tau^2``).

    Returns
    -------
    (float, float)
        Lower and upper limit; ``(nan, nan)`` without degrees of freedom.

    References
    ----------
    Viechtbauer W. Confidence intervals for the amount of heterogeneity in meta-analysis.
    Stat Med. 2007;26(1):37-52.

    Examples
    --------
    >>> q_profile_tau2_ci([0.0, 0.01, 0.02], [1.0, 1.0, 1.0])   # Q(0) tiny: both limits 0
    (0.0, 0.0)
    """
    check_ci_level(ci_level)
    y, v, codes, n_groups = _prepare(yi, vi, groups)
    df = y.size - n_groups
    if df <= 0:
        return (math.nan, math.nan)

    def q_of(t: float) -> float:
        w, r, _ = _blocks(y, v, codes, n_groups, t)
        return float(np.sum(w * r * r))

    alpha = 1.0 - ci_level
    crit_low = chi2_ppf(1.0 - alpha / 2.0, df)   # Q(tau2_low) = upper quantile
    crit_high = chi2_ppf(alpha / 2.0, df)        # Q(tau2_high) = lower quantile
    q0 = q_of(0.0)
    start = max(_dl(y, v, codes, n_groups), float(np.var(y)), 1e-4)
    low = 0.0 if q0 <= crit_low else _solve_decreasing(q_of, crit_low, start)[0]
    high = 0.0 if q0 <= crit_high else _solve_decreasing(q_of, crit_high, start)[0]
    return (low, high)
