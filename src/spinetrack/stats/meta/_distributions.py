"""Chi-square and Student t tail probabilities and quantiles in pure Python (private).

The pure core imports only the standard library and numpy at run time (``spinetrack.stats``
package docstring; ``tests/stats/test_package.py`` checks that importing it loads no scipy), so
the few distribution functions the meta-analysis needs are computed here:

* the regularized incomplete gamma function ``P(a, x)`` / ``Q(a, x)`` by its power series
  (``x < a + 1``) or Legendre's continued fraction (otherwise), and
* the regularized incomplete beta function ``I_x(a, b)`` by its continued fraction, evaluated
  with the modified Lentz algorithm,

both as in Press, Teukolsky, Vetterling & Flannery, *Numerical Recipes*, 3rd ed. (2007),
§6.2 and §6.4. Quantiles invert the distribution functions by bisection on a bracket, which is
slow by numerical standards (about 200 evaluations) but robust, and fast enough for the handful
of quantiles a meta-analysis needs. The tests compare every function with scipy.stats to a
relative error of 1e-10.
"""

from __future__ import annotations

import math
from collections.abc import Callable

__all__ = ["chi2_ppf", "chi2_sf", "t_ppf", "t_sf"]

_EPS = 1e-16
_TINY = 1e-300
_MAX_ITER = 10_000


def _gamma_series(a: float, x: float) -> float:
    """Regularized lower incomplete gamma ``P(a, x)`` by its series (good for ``x < a + 1``)."""
    term = 1.0 / a
    total = term
    ap = a
    for _ in range(_MAX_ITER):
        ap += 1.0
        term *= x / ap
        total += term
        if abs(term) < abs(total) * _EPS:
            break
    return total * math.exp(-x + a * math.log(x) - math.lgamma(a))


def _gamma_continued_fraction(a: float, x: float) -> float:
    """Regularized upper incomplete gamma ``Q(a, x)`` by Legendre's continued fraction."""
    b = x + 1.0 - a
    c = 1.0 / _TINY
    d = 1.0 / b
    h = d
    for i in range(1, _MAX_ITER):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        if abs(d) < _TINY:
            d = _TINY
        c = b + an / c
        if abs(c) < _TINY:
            c = _TINY
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return math.exp(-x + a * math.log(x) - math.lgamma(a)) * h


def _gamma_q(a: float, x: float) -> float:
    """Regularized upper incomplete gamma function ``Q(a, x) = 1 - P(a, x)``."""
    if x <= 0.0:
        return 1.0
    if math.isinf(x):
        return 0.0
    if x < a + 1.0:
        return 1.0 - _gamma_series(a, x)
    return _gamma_continued_fraction(a, x)


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    """Continued fraction for the incomplete beta function (modified Lentz)."""
    qab = a + b
    qap = a + 1.0
    qam = a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    if abs(d) < _TINY:
        d = _TINY
    d = 1.0 / d
    h = d
    for m in range(1, _MAX_ITER):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        if abs(d) < _TINY:
            d = _TINY
        c = 1.0 + aa / c
        if abs(c) < _TINY:
            c = _TINY
        d = 1.0 / d
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        if abs(d) < _TINY:
            d = _TINY
        c = 1.0 + aa / c
        if abs(c) < _TINY:
            c = _TINY
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return h


def _beta_inc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta function ``I_x(a, b)`` for ``0 <= x <= 1``."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log1p(-x))
    front = math.exp(log_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_continued_fraction(a, b, x) / a
    return 1.0 - front * _beta_continued_fraction(b, a, 1.0 - x) / b


def chi2_sf(x: float, df: float) -> float:
    """Upper tail ``P(X >= x)`` of a chi-square distribution with ``df`` degrees of freedom.

    Examples
    --------
    >>> round(chi2_sf(3.841458820694124, 1), 12)
    0.05
    """
    if df <= 0:
        raise ValueError("df must be positive")
    if math.isnan(x):
        return math.nan
    return _gamma_q(df / 2.0, x / 2.0) if x > 0 else 1.0


def t_sf(t: float, df: float) -> float:
    """Upper tail ``P(T >= t)`` of Student's t distribution with ``df`` degrees of freedom.

    Examples
    --------
    >>> round(t_sf(2.228138851986522, 10), 9)
    0.025
    """
    if df <= 0:
        raise ValueError("df must be positive")
    if math.isnan(t):
        return math.nan
    if math.isinf(t):
        return 0.0 if t > 0 else 1.0
    half_tail = 0.5 * _beta_inc(df / 2.0, 0.5, df / (df + t * t))
    return half_tail if t >= 0 else 1.0 - half_tail


def _bisect_decreasing(f: float, upper_tail: Callable[[float], float], lo: float, hi: float) -> float:
    """Find ``x`` in ``[lo, hi]`` with ``upper_tail(x) == f`` for a decreasing tail function."""
    for _ in range(400):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        if upper_tail(mid) > f:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def chi2_ppf(q: float, df: float) -> float:
    """Quantile: the ``x`` with ``P(X <= x) = q`` for a chi-square distribution.

    Examples
    --------
    >>> round(chi2_ppf(0.95, 1), 9)
    3.841458821
    """
    if not 0.0 < q < 1.0:
        raise ValueError("q must be strictly between 0 and 1")
    target = 1.0 - q
    hi = max(1.0, df)
    while chi2_sf(hi, df) > target:
        hi *= 2.0
    return _bisect_decreasing(target, lambda x: chi2_sf(x, df), 0.0, hi)


def t_ppf(q: float, df: float) -> float:
    """Quantile: the ``t`` with ``P(T <= t) = q`` for Student's t distribution.

    Examples
    --------
    >>> round(t_ppf(0.975, 12), 6)
    2.178813
    """
    if not 0.0 < q < 1.0:
        raise ValueError("q must be strictly between 0 and 1")
    if q == 0.5:
        return 0.0
    if q < 0.5:
        return -t_ppf(1.0 - q, df)
    target = 1.0 - q
    hi = 2.0
    while t_sf(hi, df) > target:
        hi *= 2.0
    return _bisect_decreasing(target, lambda x: t_sf(x, df), 0.0, hi)
