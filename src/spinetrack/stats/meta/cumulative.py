"""Cumulative meta-analysis: the pooled result as studies accumulate (usually by year).

Studies are sorted by ``order`` (a stable sort: ties keep the table's order, as R's ``order``)
and pooled step by step: the ``j``-th row pools the first ``j`` studies by the chosen method,
re-estimating ``tau^2`` each time (metafor's ``cumul``). With ``collapse_ties=True`` studies
with the same ``order`` value enter together (one row per distinct value; metafor
``collapse=TRUE``). The first rows rest on one or two studies: read them as the history of the
evidence, not as estimates to act on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from spinetrack.errors import InputError
from spinetrack.stats._common import as_float_array, freeze, to_jsonable
from spinetrack.stats.meta.effects import EffectSizeTable
from spinetrack.stats.meta.models import MetaResult, Method, pool_studies

__all__ = ["CumulativeTable", "cumulative_meta_analysis"]


@dataclass(frozen=True, eq=False)
class CumulativeTable:
    """One row per step of the cumulative meta-analysis.

    Attributes
    ----------
    measure, method : str
    hksj : bool
    added : tuple of str
        Label(s) of the study (studies, joined by ``"; "``) added at each step.
    order_value : ndarray
        The ``order`` value (year) of each step.
    k : ndarray
        Number of studies pooled at each step.
    estimate, standard_error, ci_low, ci_high, p_value, tau2, i2 : ndarray
        NaN where undefined.
    ratio_estimate : ndarray or None
        ``exp(estimate)`` for RR/OR.
    results : tuple of MetaResult
    """

    measure: str
    method: str
    hksj: bool
    added: tuple[str, ...]
    order_value: np.ndarray
    k: np.ndarray
    estimate: np.ndarray
    standard_error: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    p_value: np.ndarray
    tau2: np.ndarray
    i2: np.ndarray
    ratio_estimate: np.ndarray | None
    results: tuple[MetaResult, ...]

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable mapping: one record per step."""
        rows = []
        for i, label in enumerate(self.added):
            row = {"added": label, **{f: getattr(self, f)[i] for f in (
                "order_value", "k", "estimate", "standard_error", "ci_low", "ci_high", "p_value", "tau2", "i2")}}
            if self.ratio_estimate is not None:
                row["ratio_estimate"] = self.ratio_estimate[i]
            rows.append(row)
        return dict(to_jsonable({"measure": self.measure, "method": self.method, "hksj": self.hksj, "rows": rows}))


def cumulative_meta_analysis(
    table: EffectSizeTable,
    order: Sequence[float] | np.ndarray,
    *,
    method: Method = "REML",
    hksj: bool = False,
    ci_level: float = 0.95,
    collapse_ties: bool = False,
) -> CumulativeTable:
    """Pool the first 1, 2, ..., k studies in the order given by ``order``.

    Parameters
    ----------
    table : EffectSizeTable
    order : array_like
        One value per study (e.g. the publication year); ascending order is used.
    method, hksj, ci_level
        As for :func:`~spinetrack.stats.meta.models.pool_studies`; HKSJ is applied from the step
        with 2 studies on.
    collapse_ties : bool, default False
        Add studies with equal ``order`` in one step.

    Returns
    -------
    CumulativeTable

    References
    ----------
    Lau J, Antman EM, Jimenez-Silva J, Kupelnick B, Mosteller F, Chalmers TC. Cumulative
    meta-analysis of therapeutic trials for myocardial infarction. N Engl J Med.
    1992;327(4):248-254.

    Examples
    --------
    >>> from spinetrack.stats.meta.reported import effect_sizes_from_variances
    >>> t = effect_sizes_from_variances([1.0, 0.0, 2.0], [1.0, 1.0, 1.0])
    >>> cumulative_meta_analysis(t, [2001, 1999, 2000], method="FE").estimate.tolist()
    [0.0, 1.0, 1.0]
    """
    values = as_float_array(order, "order", ndim=1)
    if values.size != table.k:
        raise InputError(f"order must have one value per study ({table.k}), got {values.size}")
    idx = np.argsort(values, kind="stable")
    steps: list[np.ndarray] = []
    if collapse_ties:
        for value in np.unique(values):
            steps.append(idx[: int(np.sum(values <= value))])
    else:
        steps = [idx[: j + 1] for j in range(table.k)]
    results: list[MetaResult] = []
    added: list[str] = []
    previous = 0
    for rows in steps:
        results.append(pool_studies(table.subset(rows), method=method, hksj=hksj and rows.size >= 2,
                                    ci_level=ci_level))
        added.append("; ".join(table.labels[i] for i in rows[previous:]))
        previous = rows.size

    def col(name: str) -> np.ndarray:
        return freeze(np.array([np.nan if getattr(r, name) is None else getattr(r, name) for r in results],
                               dtype=float))

    estimate = col("estimate")
    return CumulativeTable(
        measure=table.measure, method=method, hksj=hksj, added=tuple(added),
        order_value=freeze(np.array([values[rows[-1]] for rows in steps])),
        k=freeze(np.array([rows.size for rows in steps])),
        estimate=estimate, standard_error=col("standard_error"), ci_low=col("ci_low"), ci_high=col("ci_high"),
        p_value=col("p_value"), tau2=col("tau2"), i2=col("i2"),
        ratio_estimate=freeze(np.exp(estimate)) if table.is_ratio else None, results=tuple(results),
    )
