"""Leave-one-out sensitivity analysis: the pooled result with each study removed in turn.

For study ``i`` the remaining ``k - 1`` studies are pooled by the same method (re-estimating
``tau^2``), as metafor's ``leave1out``. A study whose removal moves the estimate across the null,
or changes ``I^2`` a lot, deserves a second look; the table only reports, it never drops studies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from spinetrack.errors import InputError
from spinetrack.stats._common import freeze, to_jsonable
from spinetrack.stats.meta.effects import EffectSizeTable
from spinetrack.stats.meta.models import MetaResult, Method, PredictionInterval, pool_studies

__all__ = ["LeaveOneOutTable", "leave_one_out"]


def _column(results: list[MetaResult], name: str) -> np.ndarray:
    return freeze(np.array([np.nan if getattr(r, name) is None else getattr(r, name) for r in results],
                           dtype=float))


@dataclass(frozen=True, eq=False)
class LeaveOneOutTable:
    """One row per omitted study: the pooled result of the other ``k - 1`` studies.

    Attributes
    ----------
    measure, method : str
    hksj : bool
    omitted : tuple of str
        Label of the study left out in each row.
    estimate, standard_error, statistic, p_value, ci_low, ci_high : ndarray
    q, q_p_value, tau2, i2, h2 : ndarray
        NaN where undefined (``k - 1 = 1``).
    results : tuple of MetaResult
        The full result of every row.
    """

    measure: str
    method: str
    hksj: bool
    omitted: tuple[str, ...]
    estimate: np.ndarray
    standard_error: np.ndarray
    statistic: np.ndarray
    p_value: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    q: np.ndarray
    q_p_value: np.ndarray
    tau2: np.ndarray
    i2: np.ndarray
    h2: np.ndarray
    results: tuple[MetaResult, ...]

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable mapping: one record per omitted study."""
        rows = []
        for i, label in enumerate(self.omitted):
            rows.append({"omitted": label, **{f: getattr(self, f)[i] for f in (
                "estimate", "standard_error", "statistic", "p_value", "ci_low", "ci_high", "q", "q_p_value",
                "tau2", "i2", "h2")}})
        return dict(to_jsonable({"measure": self.measure, "method": self.method, "hksj": self.hksj, "rows": rows}))


def leave_one_out(
    table: EffectSizeTable,
    *,
    method: Method = "REML",
    hksj: bool = False,
    ci_level: float = 0.95,
    prediction_interval: PredictionInterval = "metafor",
) -> LeaveOneOutTable:
    """Pool all studies but one, for each study in turn.

    Parameters
    ----------
    table : EffectSizeTable
        At least 2 studies (3 with ``hksj``).
    method, hksj, ci_level, prediction_interval
        As for :func:`~spinetrack.stats.meta.models.pool_studies`.

    Returns
    -------
    LeaveOneOutTable

    References
    ----------
    Viechtbauer W, Cheung MWL. Outlier and influence diagnostics for meta-analysis. Res Synth
    Methods. 2010;1(2):112-125.

    Examples
    --------
    >>> from spinetrack.stats.meta.reported import effect_sizes_from_variances
    >>> t = effect_sizes_from_variances([0.0, 1.0, 2.0], [1.0, 1.0, 1.0])
    >>> leave_one_out(t, method="FE").estimate.tolist()
    [1.5, 1.0, 0.5]
    """
    if table.k < 2 or (hksj and table.k < 3):
        raise InputError("leave-one-out needs at least 2 studies (3 with HKSJ)")
    results = [
        pool_studies(table.subset(np.arange(table.k) != i), method=method, hksj=hksj, ci_level=ci_level,
                     prediction_interval=prediction_interval)
        for i in range(table.k)
    ]
    return LeaveOneOutTable(
        measure=table.measure, method=method, hksj=hksj, omitted=table.labels,
        estimate=_column(results, "estimate"), standard_error=_column(results, "standard_error"),
        statistic=_column(results, "statistic"), p_value=_column(results, "p_value"),
        ci_low=_column(results, "ci_low"), ci_high=_column(results, "ci_high"),
        q=_column(results, "q"), q_p_value=_column(results, "q_p_value"), tau2=_column(results, "tau2"),
        i2=_column(results, "i2"), h2=_column(results, "h2"), results=tuple(results),
    )
