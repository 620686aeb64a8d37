"""Subgroup analysis and the test for subgroup differences (Q between).

Each subgroup ``g`` is pooled by the chosen method, giving ``mu_g`` with a model-based standard
error ``s_g``. The test for subgroup differences is the Wald (Cochran-type) statistic on the
subgroup estimates::

    Q_between = SUM_g W_g (mu_g - mu_bar)^2,   W_g = 1 / s_g^2,   mu_bar = SUM W_g mu_g / SUM W_g

with ``G - 1`` degrees of freedom (Borenstein et al. 2009, ch. 19; Cochrane Handbook §10.11.3.1).
How ``tau^2`` enters (``tau2``):

* ``"separate"`` (default; RevMan and the R package meta): every subgroup has its own
  ``tau^2``, estimated from its own studies;
* ``"common"``: one ``tau^2`` for all subgroups, estimated from the within-subgroup residuals
  (metafor's ``rma(yi, vi, mods = ~ factor(group))``, whose ``QM`` equals ``Q_between`` here);
* fixed-effect methods (FE, MH) have no ``tau^2``; for FE, ``Q_between`` equals
  ``Q_total - SUM Q_within``.

Under HKSJ the subgroup intervals use the HKSJ variance, but ``Q_between`` uses the model-based
standard errors ``1/sqrt(SUM w*)`` (the chi-square reference needs them).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from spinetrack.errors import InputError
from spinetrack.stats._common import to_jsonable
from spinetrack.stats.meta._distributions import chi2_sf
from spinetrack.stats.meta.effects import EffectSizeTable
from spinetrack.stats.meta.heterogeneity import cochran_q, estimate_tau2
from spinetrack.stats.meta.models import RANDOM_METHODS, MetaResult, Method, pool_studies

__all__ = ["SubgroupResult", "Tau2Mode", "subgroup_analysis"]

Tau2Mode = Literal["separate", "common"]


@dataclass(frozen=True, eq=False)
class SubgroupResult:
    """Per-subgroup pooled results and the test for subgroup differences.

    Attributes
    ----------
    measure, method : str
    tau2_mode : str
        ``"separate"``, ``"common"`` or ``"none"`` (fixed-effect methods).
    group_labels : tuple of str
        In order of first appearance.
    subgroups : tuple of MetaResult
        One per group, same order.
    overall : MetaResult
        All studies pooled together by the same method.
    tau2_common : float or None
        The common ``tau^2`` (``tau2_mode="common"``).
    tau2_common_se : float or None
        Its standard error, as metafor gives it for the method (metafor's residual
        ``tau^2 (SE = ...)`` of ``rma(yi, vi, mods = ~ factor(group))``); the subgroup results
        themselves take this ``tau^2`` as given and carry no standard error of it.
    q_between, q_between_df, q_between_p_value
        Test for subgroup differences.
    q_within, q_within_df
        Sum of the within-subgroup Cochran Q statistics and of their degrees of freedom.
    notes : tuple of str
    """

    measure: str
    method: str
    tau2_mode: str
    group_labels: tuple[str, ...]
    subgroups: tuple[MetaResult, ...]
    overall: MetaResult
    tau2_common: float | None
    tau2_common_se: float | None
    q_between: float
    q_between_df: int
    q_between_p_value: float
    q_within: float
    q_within_df: int
    notes: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable mapping (each subgroup as :meth:`MetaResult.as_dict`)."""
        return dict(to_jsonable({
            "measure": self.measure,
            "method": self.method,
            "tau2_mode": self.tau2_mode,
            "tau2_common": self.tau2_common,
            "tau2_common_se": self.tau2_common_se,
            "subgroups": [dict(group=g, **r.as_dict()) for g, r in zip(self.group_labels, self.subgroups,
                                                                       strict=True)],
            "q_between": self.q_between,
            "q_between_df": self.q_between_df,
            "q_between_p_value": self.q_between_p_value,
            "q_within": self.q_within,
            "q_within_df": self.q_within_df,
            "notes": list(self.notes),
        }))


def _model_se(result: MetaResult) -> float:
    """Standard error of a subgroup estimate without the HKSJ adjustment."""
    if result.method == "MH":
        return result.standard_error
    w = 1.0 / (np.asarray(result.vi) + result.tau2)
    return 1.0 / math.sqrt(float(np.sum(w)))


def subgroup_analysis(
    table: EffectSizeTable,
    groups: Sequence[str],
    *,
    method: Method = "REML",
    hksj: bool = False,
    ci_level: float = 0.95,
    tau2: Tau2Mode = "separate",
) -> SubgroupResult:
    """Pool each subgroup and test whether the subgroup estimates differ.

    Parameters
    ----------
    table : EffectSizeTable
    groups : sequence of str
        Subgroup of each study (same order as ``table``).
    method : {"FE", "MH", "DL", "REML", "PM"}, default "REML"
    hksj : bool, default False
    ci_level : float, default 0.95
    tau2 : {"separate", "common"}, default "separate"
        Random effects only: a ``tau^2`` per subgroup or one common ``tau^2``.

    Returns
    -------
    SubgroupResult

    References
    ----------
    Borenstein M, Hedges LV, Higgins JPT, Rothstein HR. Introduction to Meta-Analysis.
    Wiley; 2009, chapter 19.
    Deeks JJ, Higgins JPT, Altman DG (eds). Chapter 10: Analysing data and undertaking
    meta-analyses. Cochrane Handbook for Systematic Reviews of Interventions, version 6.4;
    2023, §10.11.3.1.
    Viechtbauer W. J Stat Softw. 2010;36(3):1-48 (mixed-effects model with a factor).

    Examples
    --------
    >>> from spinetrack.stats.meta.reported import effect_sizes_from_variances
    >>> t = effect_sizes_from_variances([0.1, 0.2, 0.8, 0.9], [0.01] * 4)
    >>> s = subgroup_analysis(t, ["a", "a", "b", "b"], method="FE")
    >>> round(s.q_between, 4), s.q_between_df   # 200 * 0.35^2 * 2: two groups of weight 200
    (49.0, 1)
    """
    labels = [str(g) for g in groups]
    if len(labels) != table.k:
        raise InputError(f"groups must have one entry per study ({table.k}), got {len(labels)}")
    if tau2 not in ("separate", "common"):
        raise InputError(f"tau2 must be 'separate' or 'common', got {tau2!r}")
    order = list(dict.fromkeys(labels))
    if len(order) < 2:
        raise InputError("a subgroup analysis needs at least 2 subgroups")
    codes = np.array([order.index(g) for g in labels])
    random = method in RANDOM_METHODS
    mode = ("separate" if tau2 == "separate" else "common") if random else "none"
    notes: list[str] = []
    tau2_common: float | None = None
    tau2_common_se: float | None = None
    if mode == "common":
        common = estimate_tau2(table.yi, table.vi, method, groups=codes)  # type: ignore[arg-type]
        tau2_common, tau2_common_se = common.tau2, common.standard_error
    results: list[MetaResult] = []
    for g in range(len(order)):
        sub = table.subset(codes == g)
        hk = hksj and sub.k >= 2
        if hksj and not hk:
            notes.append(f"subgroup {order[g]!r} has one study: pooled without HKSJ")
        results.append(pool_studies(sub, method=method, hksj=hk, ci_level=ci_level, tau2_fixed=tau2_common))
        if sub.k == 1:
            notes.append(f"subgroup {order[g]!r} has one study: its estimate is that study's")
    overall = pool_studies(table, method=method, hksj=hksj and table.k >= 2, ci_level=ci_level)
    est = np.array([r.estimate for r in results])
    w = np.array([1.0 / _model_se(r) ** 2 for r in results])
    mu_bar = float(np.sum(w * est) / np.sum(w))
    q_between = float(np.sum(w * (est - mu_bar) ** 2))
    df = len(order) - 1
    if hksj:
        notes.append("Q between uses the model-based (not HKSJ) standard errors of the subgroup estimates")
    q_within = cochran_q(table.yi, table.vi, groups=codes)
    return SubgroupResult(
        measure=table.measure, method=method, tau2_mode=mode, group_labels=tuple(order),
        subgroups=tuple(results), overall=overall, tau2_common=tau2_common, tau2_common_se=tau2_common_se,
        q_between=q_between, q_between_df=df, q_between_p_value=chi2_sf(q_between, df),
        q_within=q_within, q_within_df=table.k - len(order), notes=tuple(notes),
    )
