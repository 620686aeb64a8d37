"""Funnel plots for comparing units (sites, surgeons) with a target, after Spiegelhalter (2005).

A funnel plot puts each unit's indicator ``y`` (a risk-adjusted O/E ratio, a proportion or a
mean) against its precision ``rho`` (the expected count ``E``, the number of patients ``n``, or
``n / sigma^2``) and draws control limits around the target ``theta0`` that narrow as the
precision grows. A unit outside the 95% limits is an "alert", outside the 99.8% limits an
"alarm" (the two levels the paper recommends, §2 and §3).

What each function does, and where the formula comes from (Spiegelhalter DJ. Funnel plots for
comparing institutional performance. Stat Med 2005;24:1185-1202):

* :func:`funnel_limits` — the limits at each precision. Under the null the indicator has
  variance ``g(theta0) / rho`` (the paper's Table I: ``g = theta0`` for an indirectly
  standardised ratio with ``rho = E``; ``g = theta0 (1 - theta0)`` for a proportion with
  ``rho = n``; ``g = 1`` for a mean with ``rho = n / sigma^2``). For counts the paper's exact
  limits come from the discrete null distribution (Poisson with mean ``theta0 E``, binomial
  ``(n, theta0)``) with a linear interpolation between the steps of its distribution function
  (the paper's appendix): with ``r`` the smallest count whose cumulative probability reaches
  ``q``, ``alpha = (P(R <= r) - q) / P(R = r)`` and the limit is ``(r - alpha) / rho``. The
  normal limits ``theta0 ± z sqrt(g(theta0) / rho)`` (§3) serve the mean, and every limit that
  is adjusted for overdispersion: multiplicatively ``theta0 ± z sqrt(phi g / rho)`` and with
  additive random effects ``theta0 ± z sqrt(g / rho + tau2)`` (§6), as the paper does.
* :func:`estimate_overdispersion` — the paper's §6: ``phi`` is the mean of the squared z-scores
  after winsorising (the lowest and highest 10% pulled in to the 10th and 90th percentiles, so
  that a few true outliers do not inflate it); ``I phi`` is referred to a chi-square
  distribution as the test of no overdispersion; the between-unit variance is the moment
  estimator ``tau2 = (I phi - (I - 1)) / (sum w - sum w^2 / sum w)`` with ``w = 1 / s^2``,
  truncated at zero.
* :func:`choose_overdispersion` — which adjustment to use, with the reason in plain words.
* :func:`shrink` — empirical-Bayes (normal-normal) estimates: each unit pulled towards the
  target in proportion to how noisy it is.
* :func:`oe_interval` — the interval of one unit's O/E: exact Poisson (Garwood 1936) limits on
  ``O`` divided by ``E`` for a binary outcome, normal limits for a continuous one.
* :func:`flag` — "ok" / "alert" / "alarm".

Only numpy and the standard library at run time (chi-square quantiles and tails come from
:mod:`spinetrack.stats.meta._distributions`), like the rest of :mod:`spinetrack.stats`.

Examples
--------
>>> import numpy as np
>>> limits = funnel_limits(0.1, np.array([100.0, 1000.0]), kind="proportion", exact=False)
>>> [round(float(v), 4) for v in limits[0.95][1]]
[0.1588, 0.1186]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

from spinetrack.errors import ValidationError
from spinetrack.stats._common import to_jsonable
from spinetrack.stats.meta._distributions import chi2_ppf, chi2_sf

__all__ = [
    "FUNNEL_KINDS",
    "FUNNEL_LEVELS",
    "OE_KINDS",
    "OVERDISPERSION_METHODS",
    "Overdispersion",
    "choose_overdispersion",
    "estimate_overdispersion",
    "flag",
    "funnel_limits",
    "null_standard_error",
    "oe_interval",
    "overdispersion_parameters",
    "shrink",
]

FUNNEL_KINDS = ("ratio", "proportion", "mean")
OE_KINDS = ("binary", "continuous")
OVERDISPERSION_METHODS = ("auto", "none", "multiplicative", "additive")
FUNNEL_LEVELS = (0.95, 0.998)  # Spiegelhalter 2005, §2: roughly 2 and 3 standard deviations
_TEST_LEVEL = 0.05  # the overdispersion test rejects at 5% ("auto")
_TAIL_SD = 12.0  # half-width of the probability window, in null standard deviations (mass outside < 1e-30)
_STANDARD_NORMAL = NormalDist()


# --- validation -------------------------------------------------------------------------------


def _check_choice(field: str, value: Any, allowed: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise ValidationError(field=field, value=value, allowed=allowed)
    return value


def _check_level(field: str, level: Any) -> float:
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0.0 < float(level) < 1.0:
        raise ValidationError(field=field, value=level, allowed="a probability strictly between 0 and 1")
    return float(level)


def _check_number(field: str, value: Any, *, allowed: str, low: float | None = None, low_open: bool = True,
                  high: float | None = None, high_open: bool = True) -> float:
    """A finite real number within optional bounds, or a ValidationError naming ``field``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValidationError(field=field, value=value, allowed=allowed)
    x = float(value)
    bad = not math.isfinite(x)
    if low is not None:
        bad = bad or (x <= low if low_open else x < low)
    if high is not None:
        bad = bad or (x >= high if high_open else x > high)
    if bad:
        raise ValidationError(field=field, value=value, allowed=allowed)
    return x


def _as_vector(field: str, value: Any, *, allowed: str, positive: bool = False) -> np.ndarray:
    """A 1-D finite float array (a copy), or a ValidationError naming ``field``."""
    try:
        arr = np.array(value, dtype=float).reshape(-1) if np.ndim(value) <= 1 else None
    except (TypeError, ValueError):
        arr = None
    if arr is None or not np.all(np.isfinite(arr)) or (positive and np.any(arr <= 0)):
        shown = value if np.ndim(value) == 0 else f"array of {np.size(value)} values"
        raise ValidationError(field=field, value=shown, allowed=allowed)
    return arr


def _z(level: float) -> float:
    """Two-sided standard normal critical value: 1.959964 for 0.95, 3.090232 for 0.998."""
    return _STANDARD_NORMAL.inv_cdf(0.5 + level / 2.0)


# --- O/E intervals ----------------------------------------------------------------------------


def oe_interval(observed: float, expected: float, *, kind: str, level: float = 0.95,
                variance: float | None = None) -> tuple[float, float]:
    """The interval of one unit's observed / expected ratio.

    ``kind="binary"``: the observed count ``O`` is taken as Poisson and its exact (Garwood 1936)
    limits are ``chi2_{(1-level)/2}(2 O) / 2`` (0 when ``O = 0``) and
    ``chi2_{(1+level)/2}(2 O + 2) / 2``, each divided by ``E`` (the expected count is treated as
    known, as in indirect standardisation). ``kind="continuous"``: ``(O ± z sqrt(variance)) / E``
    where ``O`` is the observed total, ``E`` the expected total and ``variance`` the variance of
    ``O`` under the risk model (for example the sum of squared residual standard deviations).

    Parameters
    ----------
    observed, expected:
        ``O`` (>= 0 for binary) and ``E`` (> 0).
    kind:
        ``"binary"`` or ``"continuous"``.
    level:
        Two-sided coverage, strictly between 0 and 1.
    variance:
        Variance of ``O``; required for ``"continuous"``, ignored for ``"binary"``.

    Returns
    -------
    tuple of float
        ``(low, high)`` on the O/E scale.

    References
    ----------
    Garwood F. Fiducial limits for the Poisson distribution. Biometrika 1936;28:437-442.

    Examples
    --------
    >>> [round(v * 10, 3) for v in oe_interval(10, 10, kind="binary")]
    [4.795, 18.39]
    >>> [round(v, 4) for v in oe_interval(50.0, 40.0, kind="continuous", variance=16.0)]
    [1.054, 1.446]
    """
    kind = _check_choice("kind", kind, OE_KINDS)
    level = _check_level("level", level)
    e = _check_number("expected", expected, allowed="a positive finite number", low=0.0)
    if kind == "binary":
        o = _check_number("observed", observed, allowed="a count >= 0", low=0.0, low_open=False)
        alpha = 1.0 - level
        low = 0.0 if o == 0.0 else chi2_ppf(alpha / 2.0, 2.0 * o) / 2.0
        high = chi2_ppf(1.0 - alpha / 2.0, 2.0 * o + 2.0) / 2.0
        return low / e, high / e
    o = _check_number("observed", observed, allowed="a finite number")
    if variance is None:
        raise ValidationError(field="variance", value=None, allowed="a number >= 0 (needed for kind 'continuous')")
    v = _check_number("variance", variance, allowed="a finite number >= 0", low=0.0, low_open=False)
    half = _z(level) * math.sqrt(v)
    return (o - half) / e, (o + half) / e


# --- funnel limits ----------------------------------------------------------------------------


def null_standard_error(target: float, precision: np.ndarray, *, kind: str) -> np.ndarray:
    """Standard error of the indicator under the null, ``sqrt(g(theta0) / rho)`` (Spiegelhalter
    2005, Table I): ``sqrt(theta0 / E)`` for a ratio, ``sqrt(p0 (1 - p0) / n)`` for a proportion,
    ``1 / sqrt(rho)`` for a mean with ``rho = n / sigma^2``. Use it for the z-scores
    ``(y - theta0) / s`` handed to :func:`estimate_overdispersion`.

    Examples
    --------
    >>> null_standard_error(1.0, np.array([4.0, 100.0]), kind="ratio").tolist()
    [0.5, 0.1]
    """
    kind = _check_choice("kind", kind, FUNNEL_KINDS)
    theta0 = _check_target(target, kind)
    rho = _as_vector("precision", precision, allowed="positive finite numbers", positive=True)
    return np.sqrt(_g(theta0, kind) / rho)


def _check_target(target: Any, kind: str) -> float:
    if kind == "ratio":
        return _check_number("target", target, allowed="a positive finite ratio (usually 1)", low=0.0)
    if kind == "proportion":
        return _check_number("target", target, allowed="a proportion strictly between 0 and 1", low=0.0, high=1.0)
    return _check_number("target", target, allowed="a finite number")


def _g(theta0: float, kind: str) -> float:
    """The variance function of Spiegelhalter 2005, Table I: V(y | theta0) = g(theta0) / rho."""
    if kind == "ratio":
        return theta0
    if kind == "proportion":
        return theta0 * (1.0 - theta0)
    return 1.0


def funnel_limits(target: float, precision: np.ndarray, *, kind: str, levels: Sequence[float] = FUNNEL_LEVELS,
                  phi: float = 1.0, tau2: float = 0.0, exact: bool = True,
                  ) -> dict[float, tuple[np.ndarray, np.ndarray]]:
    """Funnel-plot control limits on the indicator's scale at each precision.

    Parameters
    ----------
    target:
        ``theta0``: 1 for an O/E ratio (or another positive target ratio), ``p0`` for a
        proportion, ``mu0`` for a mean.
    precision:
        ``rho`` per point: the expected count ``E`` (``"ratio"``), the number of patients ``n``
        (``"proportion"``, whole numbers), or ``n / sigma^2`` (``"mean"``).
    kind:
        ``"ratio"``, ``"proportion"`` or ``"mean"``.
    levels:
        Two-sided coverages; the paper's 0.95 and 0.998 by default.
    phi:
        Multiplicative overdispersion (>= 1 widens): the null variance becomes ``phi g / rho``.
    tau2:
        Additive between-unit variance on the indicator's scale: ``g / rho + tau2``.
    exact:
        For ``"ratio"`` and ``"proportion"`` without overdispersion (``phi == 1``,
        ``tau2 == 0``): the exact Poisson / binomial limits with the paper's interpolation (the
        default), or the normal approximation when False. Overdispersed limits and means are
        always normal, as in the paper (§6).

    Returns
    -------
    dict
        ``{level: (lower, upper)}``, arrays as long as ``precision``. Limits are kept within the
        indicator's range (a ratio's lower limit is at least 0; a proportion's limits lie in
        [0, 1]): for very small ``E`` even no events is unremarkable, and the interpolated lower
        limit would fall below 0.

    References
    ----------
    Spiegelhalter DJ. Funnel plots for comparing institutional performance. Stat Med
    2005;24:1185-1202 (Table I; §3 normal limits; appendix: exact limits for counts with
    interpolation; §6 overdispersion).

    Examples
    --------
    >>> lim = funnel_limits(1.0, np.array([10.0, 100.0]), kind="ratio")
    >>> [round(float(v), 4) for v in lim[0.998][1]]
    [2.0662, 1.318]
    >>> lim = funnel_limits(1.0, np.array([100.0]), kind="ratio", tau2=0.01)
    >>> round(float(lim[0.95][1][0]), 4)   # 1 + 1.959964 * sqrt(1/100 + 0.01)
    1.2772
    """
    kind = _check_choice("kind", kind, FUNNEL_KINDS)
    theta0 = _check_target(target, kind)
    rho = _as_vector("precision", precision, allowed="positive finite numbers", positive=True)
    phi = _check_number("phi", phi, allowed="a positive finite number (1 = no overdispersion)", low=0.0)
    tau2 = _check_number("tau2", tau2, allowed="a finite number >= 0", low=0.0, low_open=False)
    level_list = [_check_level("levels", lv) for lv in levels]
    if not level_list:
        raise ValidationError(field="levels", value=list(levels), allowed="at least one probability in (0, 1)")
    if kind == "proportion" and np.any(rho != np.round(rho)):
        raise ValidationError(field="precision", value=f"array of {rho.size} values",
                              allowed="whole numbers of patients for kind 'proportion'")

    use_exact = exact and kind != "mean" and phi == 1.0 and tau2 == 0.0
    out: dict[float, tuple[np.ndarray, np.ndarray]] = {}
    if use_exact:
        probs = [(1.0 - lv) / 2.0 for lv in level_list] + [(1.0 + lv) / 2.0 for lv in level_list]
        table = _exact_count_limits(theta0, rho, probs, kind)
        k = len(level_list)
        for i, lv in enumerate(level_list):
            out[lv] = _clip(table[i], table[k + i], kind)
        return out
    sd = np.sqrt(phi * _g(theta0, kind) / rho + tau2)
    for lv in level_list:
        half = _z(lv) * sd
        out[lv] = _clip(theta0 - half, theta0 + half, kind)
    return out


def _clip(low: np.ndarray, high: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    if kind == "ratio":
        return np.maximum(low, 0.0), high
    if kind == "proportion":
        return np.clip(low, 0.0, 1.0), np.clip(high, 0.0, 1.0)
    return low, high


_SMALL_LOG_FACTORIALS = np.array([math.lgamma(k + 1.0) for k in range(256)])


def _log_factorial(r: np.ndarray) -> np.ndarray:
    """``log(r!)`` for non-negative integers: a table below 256, Stirling's series above (the
    truncation error there is below 1e-19)."""
    r = np.asarray(r, dtype=np.int64)
    small = r < 256
    out = np.empty(r.shape, dtype=float)
    out[small] = _SMALL_LOG_FACTORIALS[r[small]]
    x = r[~small].astype(float) + 1.0
    out[~small] = ((x - 0.5) * np.log(x) - x + 0.5 * math.log(2.0 * math.pi)
                   + 1.0 / (12.0 * x) - 1.0 / (360.0 * x**3) + 1.0 / (1260.0 * x**5))
    return out


def _exact_count_limits(theta0: float, rho: np.ndarray, probs: Sequence[float], kind: str) -> np.ndarray:
    """Interpolated quantiles ``(r_q - alpha) / rho`` of the null count distribution, one row per
    probability ``q`` (Spiegelhalter 2005, appendix), one column per precision.

    The probabilities are summed over a window of ``±12`` null standard deviations (plus 10
    counts) around the mean, outside which the mass is far below double precision.
    """
    out = np.empty((len(probs), rho.size))
    q = np.asarray(probs)
    values, inverse = np.unique(rho, return_inverse=True)
    for col, value in enumerate(values):
        if kind == "ratio":
            mean = theta0 * value
            sd = math.sqrt(mean)
            lo = max(0, math.floor(mean - _TAIL_SD * sd - 10.0))
            hi = math.ceil(mean + _TAIL_SD * sd + 10.0)
            r = np.arange(lo, hi + 1)
            logpmf = r * math.log(mean) - mean - _log_factorial(r)
        else:
            n = round(value)
            mean = n * theta0
            sd = math.sqrt(mean * (1.0 - theta0))
            lo = max(0, math.floor(mean - _TAIL_SD * sd - 10.0))
            hi = min(n, math.ceil(mean + _TAIL_SD * sd + 10.0))
            r = np.arange(lo, hi + 1)
            logpmf = (_log_factorial(np.array([n]))[0] - _log_factorial(r) - _log_factorial(n - r)
                      + r * math.log(theta0) + (n - r) * math.log1p(-theta0))
        pmf = np.exp(logpmf - logpmf.max())
        pmf /= pmf.sum()
        cdf = np.cumsum(pmf)
        idx = np.minimum(np.searchsorted(cdf, q, side="left"), r.size - 1)
        alpha = (cdf[idx] - q) / pmf[idx]
        out[:, col] = (r[idx] - alpha) / value
    return out[:, inverse]


# --- overdispersion ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Overdispersion:
    """How much more the units vary than chance allows (Spiegelhalter 2005, §6).

    Attributes
    ----------
    phi : float
        Multiplicative overdispersion: the mean of the squared winsorised z-scores (1 = none).
    tau2 : float
        Additive between-unit variance on the indicator's scale (moment estimator, >= 0).
    chi2 : float
        The test statistic ``I phi``.
    df : int
        Its degrees of freedom (``I - 1`` when the target was estimated from the same units, as
        for an O/E whose risk model was fitted to the whole registry; ``I`` otherwise).
    p_value : float
        ``P(chi2_df >= I phi)``; NaN when there are too few units to test (``df = 0``).
    n_units : int
        ``I``, the number of units.
    """

    phi: float
    tau2: float
    chi2: float
    df: int
    p_value: float
    n_units: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable mapping (NaN becomes None)."""
        return dict(to_jsonable(dict(self.__dict__)))


def _winsorise(z: np.ndarray, fraction: float) -> np.ndarray:
    """Pull values below the ``fraction`` quantile up to it and values above the ``1 - fraction``
    quantile down to it (quantiles by linear interpolation between order statistics, numpy's
    default and R's type 7)."""
    if fraction == 0.0:
        return z.copy()
    low, high = np.quantile(z, [fraction, 1.0 - fraction])
    clipped: np.ndarray = np.clip(z, low, high)
    return clipped


def estimate_overdispersion(z: np.ndarray, se: np.ndarray, *, winsor: float = 0.1,
                            target_estimated: bool = True) -> Overdispersion:
    """Overdispersion of a set of units from their z-scores (Spiegelhalter 2005, §6).

    ``phi = (1/I) sum z_w^2`` with ``z_w`` the z-scores winsorised at ``winsor`` in each tail;
    the test of no overdispersion refers ``I phi`` to a chi-square distribution; and
    ``tau2 = max(0, (I phi - (I - 1)) / (sum w - sum w^2 / sum w))`` with ``w = 1 / se^2``, the
    method-of-moments (DerSimonian–Laird type) between-unit variance the paper uses for its
    additive random-effects limits.

    Parameters
    ----------
    z:
        The units' z-scores ``(y - theta0) / se`` under the null.
    se:
        The units' null standard errors on the indicator's scale (> 0), the ``s`` of the limits.
    winsor:
        Fraction winsorised in each tail, in [0, 0.5); the paper uses 10%.
    target_estimated:
        True (default) when the target came from the same units (the registry's own risk model
        or overall rate): the test has ``I - 1`` degrees of freedom, matching the ``I - 1`` of the
        moment estimator. False for an external target: ``I`` degrees of freedom.

    Returns
    -------
    Overdispersion

    Examples
    --------
    >>> od = estimate_overdispersion(np.array([-2.0, -1.0, 0.0, 1.0, 2.0]), np.ones(5), winsor=0.0)
    >>> od.phi, od.tau2, od.df
    (2.0, 1.5, 4)
    """
    zz = _as_vector("z", z, allowed="finite z-scores")
    s = _as_vector("se", se, allowed="positive finite standard errors", positive=True)
    if zz.size == 0:
        raise ValidationError(field="z", value="no units", allowed="at least one unit")
    if s.size != zz.size:
        raise ValidationError(field="se", value=f"{s.size} values", allowed=f"one per z-score ({zz.size})")
    winsor = _check_number("winsor", winsor, allowed="a fraction in [0, 0.5)", low=0.0, low_open=False, high=0.5)
    n = zz.size
    phi = float(np.mean(_winsorise(zz, winsor) ** 2))
    chi2 = n * phi
    df = n - 1 if target_estimated else n
    p_value = chi2_sf(chi2, df) if df > 0 else math.nan
    w = 1.0 / s**2
    denominator = float(w.sum() - (w**2).sum() / w.sum())
    tau2 = max(0.0, (chi2 - (n - 1)) / denominator) if n > 1 and denominator > 0 else 0.0
    return Overdispersion(phi=phi, tau2=tau2, chi2=chi2, df=df, p_value=p_value, n_units=n)


def choose_overdispersion(od: Overdispersion, method: str = "auto") -> tuple[str, str]:
    """Which overdispersion adjustment to use, and why, in plain words.

    ``"auto"``: no adjustment unless the test rejects "no overdispersion" at 5%; then additive
    random effects. Spiegelhalter (2005, §6 and the discussion) sets out the choice: the
    multiplicative adjustment widens every limit by the same factor ``sqrt(phi)``, so the
    limits still close in on the target for the largest units and they are flagged for
    differences too small to matter, while the additive model says that units truly differ by
    an amount that does not shrink with size, so the limits level off at ``± z tau``. In a
    registry whose units differ greatly in size the additive model is the fairer comparison.
    ``"none"``, ``"multiplicative"`` and ``"additive"`` force that method (the reason says so).

    Returns
    -------
    tuple of str
        ``(method used, reason)`` with the method one of ``"none"``, ``"multiplicative"``,
        ``"additive"``. Pass it to :func:`overdispersion_parameters` for the ``phi`` and ``tau2``
        of :func:`funnel_limits`.

    Examples
    --------
    >>> od = Overdispersion(phi=3.0, tau2=0.02, chi2=60.0, df=19, p_value=3.6e-06, n_units=20)
    >>> choose_overdispersion(od)[0]
    'additive'
    """
    method = _check_choice("method", method, OVERDISPERSION_METHODS)
    test = (f"overdispersion test: phi = {od.phi:.2f} on {od.n_units} units, "
            f"chi-square {od.chi2:.1f} on {od.df} df, {_format_p(od.p_value)}")
    if method == "none":
        return "none", f"set to no adjustment; {test}"
    if method == "multiplicative":
        used = max(od.phi, 1.0)
        return "multiplicative", (f"set to multiplicative: limits widened by sqrt(phi) = {math.sqrt(used):.2f}; {test}")
    if method == "additive":
        return "additive", (f"set to additive random effects: between-unit variance tau2 = {od.tau2:.4g} "
                            f"added to each unit's variance; {test}")
    if not math.isfinite(od.p_value):
        return "none", f"too few units ({od.n_units}) to test for overdispersion; limits from chance variation alone"
    if od.p_value >= _TEST_LEVEL or od.tau2 <= 0.0:
        return "none", (f"no evidence that units vary more than chance allows ({test}, not below 0.05); "
                        "limits from chance variation alone")
    return "additive", (f"units vary more than chance allows ({test}, below 0.05): additive random-effects "
                        f"limits with between-unit variance tau2 = {od.tau2:.4g}, which stay wide for the "
                        "largest units instead of closing in on the target (Spiegelhalter 2005, §6)")


def _format_p(p: float) -> str:
    if not math.isfinite(p):
        return "p not available"
    return "p < 0.0001" if p < 1e-4 else f"p = {p:.4f}"


def overdispersion_parameters(od: Overdispersion, method: str) -> tuple[float, float]:
    """``(phi, tau2)`` to hand to :func:`funnel_limits` for a method chosen by
    :func:`choose_overdispersion`: ``(1, 0)`` for ``"none"``, ``(max(phi, 1), 0)`` for
    ``"multiplicative"`` (limits are never narrowed for underdispersion), ``(1, tau2)`` for
    ``"additive"``.

    Examples
    --------
    >>> od = Overdispersion(phi=0.8, tau2=0.0, chi2=8.0, df=9, p_value=0.53, n_units=10)
    >>> overdispersion_parameters(od, "multiplicative")
    (1.0, 0.0)
    """
    method = _check_choice("method", method, OVERDISPERSION_METHODS[1:])
    if method == "multiplicative":
        return max(od.phi, 1.0), 0.0
    if method == "additive":
        return 1.0, od.tau2
    return 1.0, 0.0


# --- shrinkage and flags ----------------------------------------------------------------------


def shrink(y: np.ndarray, se: np.ndarray, target: float, tau2: float) -> np.ndarray:
    """Empirical-Bayes estimates under the normal-normal model ``y_i ~ N(theta_i, se_i^2)``,
    ``theta_i ~ N(target, tau2)``: the posterior mean ``target + B_i (y_i - target)`` with
    ``B_i = tau2 / (tau2 + se_i^2)``. A noisy (small) unit is pulled most towards the target;
    with ``tau2 = 0`` (no between-unit variation beyond chance) every unit's estimate is the
    target.

    Examples
    --------
    >>> shrink(np.array([2.0, 1.5]), np.array([1.0, 0.1]), 1.0, 0.04).round(4).tolist()
    [1.0385, 1.4]
    """
    yy = _as_vector("y", y, allowed="finite values")
    s = _as_vector("se", se, allowed="positive finite standard errors", positive=True)
    if s.size != yy.size:
        raise ValidationError(field="se", value=f"{s.size} values", allowed=f"one per estimate ({yy.size})")
    theta0 = _check_number("target", target, allowed="a finite number")
    t2 = _check_number("tau2", tau2, allowed="a finite number >= 0", low=0.0, low_open=False)
    weight = t2 / (t2 + s**2)
    return np.asarray(theta0 + weight * (yy - theta0))


def flag(y: np.ndarray, lower95: np.ndarray, upper95: np.ndarray, lower998: np.ndarray,
         upper998: np.ndarray) -> list[str]:
    """``"alarm"`` outside the 99.8% limits, ``"alert"`` outside the 95% limits only, ``"ok"``
    within them (a value on a limit is within). Spiegelhalter 2005, §2.

    Examples
    --------
    >>> flag(np.array([1.0, 1.5, 2.5]), np.full(3, 0.7), np.full(3, 1.3), np.full(3, 0.5), np.full(3, 2.0))
    ['ok', 'alert', 'alarm']
    """
    yy = _as_vector("y", y, allowed="finite values (leave out suppressed units)")
    arrays = {"lower95": lower95, "upper95": upper95, "lower998": lower998, "upper998": upper998}
    lim = {}
    for name, value in arrays.items():
        arr = _as_vector(name, value, allowed="finite limits")
        if arr.size != yy.size:
            raise ValidationError(field=name, value=f"{arr.size} values", allowed=f"one per unit ({yy.size})")
        lim[name] = arr
    alarm = (yy < lim["lower998"]) | (yy > lim["upper998"])
    alert = (yy < lim["lower95"]) | (yy > lim["upper95"])
    return ["alarm" if a else "alert" if b else "ok" for a, b in zip(alarm.tolist(), alert.tolist(), strict=True)]
