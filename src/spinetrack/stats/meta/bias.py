"""Egger's regression test for funnel-plot asymmetry (small-study effects).

Classical form (Egger et al. 1997), written as a weighted regression of the estimates on their
standard errors (metafor ``regtest(model="lm", predictor="sei")``; Sterne & Egger 2005)::

    y_i = b0 + b1 * se_i + e_i,    weights 1/v_i,   Var(e_i) = phi * v_i

fitted by weighted least squares with the multiplicative dispersion ``phi`` estimated from the
residuals (``phi = SUM w r^2 / (k - 2)``). ``b1`` is Egger's "bias" coefficient (the intercept
of the original standard-normal-deviate-on-precision regression) and is tested with
``t = b1 / SE(b1)`` on ``k - 2`` degrees of freedom; ``b0`` is the "limit estimate" as
``se -> 0`` (the PET estimate of Stanley & Doucouliagos 2014).

Asymmetry is not proof of publication bias (heterogeneity, chance and artefacts cause it too),
and the test has little power with fewer than 10 studies (Sterne et al. 2011); a note says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from spinetrack.errors import InputError
from spinetrack.stats._common import check_ci_level, to_jsonable
from spinetrack.stats.meta._distributions import t_ppf, t_sf
from spinetrack.stats.meta.effects import EffectSizeTable

__all__ = ["EggerTestResult", "egger_test"]


@dataclass(frozen=True, slots=True)
class EggerTestResult:
    """Egger's regression test.

    Attributes
    ----------
    k : int
    asymmetry : float
        ``b1``, the coefficient of the standard error (Egger's bias coefficient).
    asymmetry_standard_error : float
    statistic : float
        ``t = b1 / SE(b1)``.
    df : int
        ``k - 2``.
    p_value : float
        Two-sided.
    limit_estimate, limit_ci_low, limit_ci_high : float
        ``b0`` and its t interval (analysis scale).
    ci_level : float
    method : str
    notes : tuple of str
    """

    k: int
    asymmetry: float
    asymmetry_standard_error: float
    statistic: float
    df: int
    p_value: float
    limit_estimate: float
    limit_ci_low: float
    limit_ci_high: float
    ci_level: float
    method: str
    notes: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable mapping."""
        d = {f: getattr(self, f) for f in self.__slots__}
        d["notes"] = list(self.notes)
        return dict(to_jsonable(d))


def egger_test(table: EffectSizeTable, *, ci_level: float = 0.95) -> EggerTestResult:
    """Egger's regression test for funnel-plot asymmetry.

    Parameters
    ----------
    table : EffectSizeTable
        At least 3 studies.
    ci_level : float, default 0.95
        For the limit estimate's interval.

    Returns
    -------
    EggerTestResult

    References
    ----------
    Egger M, Davey Smith G, Schneider M, Minder C. Bias in meta-analysis detected by a simple,
    graphical test. BMJ. 1997;315(7109):629-634.
    Sterne JAC, Egger M. Regression methods to detect publication and other bias in
    meta-analysis. In: Rothstein HR, Sutton AJ, Borenstein M (eds). Publication Bias in
    Meta-Analysis. Wiley; 2005:99-110.
    Sterne JAC, Sutton AJ, Ioannidis JPA, et al. Recommendations for examining and
    interpreting funnel plot asymmetry in meta-analyses of randomised controlled trials. BMJ.
    2011;343:d4002.

    Examples
    --------
    >>> from spinetrack.stats.meta.reported import effect_sizes_from_variances
    >>> t = effect_sizes_from_variances([0.1, 0.3, 0.2, 0.6], [0.01, 0.04, 0.02, 0.09])
    >>> round(egger_test(t).asymmetry, 4)
    2.3492
    """
    check_ci_level(ci_level)
    k = table.k
    if k < 3:
        raise InputError("Egger's test needs at least 3 studies")
    y = np.asarray(table.yi, dtype=float)
    v = np.asarray(table.vi, dtype=float)
    se = np.sqrt(v)
    w = 1.0 / v
    x = np.column_stack([np.ones(k), se])
    xtw = x.T * w
    cov_unscaled = np.linalg.inv(xtw @ x)
    beta = cov_unscaled @ (xtw @ y)
    resid = y - x @ beta
    df = k - 2
    phi = float(np.sum(w * resid**2)) / df
    cov = phi * cov_unscaled
    b0, b1 = float(beta[0]), float(beta[1])
    se_b0, se_b1 = math.sqrt(float(cov[0, 0])), math.sqrt(float(cov[1, 1]))
    if not phi > 1e-14 * max(1e-300, float(np.sum(w * y * y)) / df):
        raise InputError("Egger's test is undefined here: the estimates lie exactly on a line in their standard "
                         "errors (no residual variation)")
    statistic = b1 / se_b1
    crit = t_ppf(1.0 - (1.0 - ci_level) / 2.0, df)
    notes: list[str] = []
    if k < 10:
        notes.append(f"only {k} studies: the test has low power below 10 studies (Sterne et al. 2011)")
    return EggerTestResult(
        k=k, asymmetry=b1, asymmetry_standard_error=se_b1, statistic=statistic, df=df,
        p_value=2.0 * t_sf(abs(statistic), df), limit_estimate=b0, limit_ci_low=b0 - crit * se_b0,
        limit_ci_high=b0 + crit * se_b0, ci_level=float(ci_level),
        method="Egger's test: weighted regression of the estimates on their standard errors (weights 1/v) with "
               "multiplicative dispersion; t test of the slope on k - 2 df",
        notes=tuple(notes),
    )
