"""Adjusting p-values for testing many claims at once.

* Benjamini–Hochberg (``"fdr_bh"``): controls the false discovery rate — the expected share of
  false findings among the differences declared. Benjamini Y, Hochberg Y. Controlling the false
  discovery rate: a practical and powerful approach to multiple testing. J R Stat Soc B
  1995;57(1):289-300. Adjusted p_(i) = min over j ≥ i of m p_(j) / j, capped at 1.
* Holm (``"holm"``): controls the family-wise error rate — the chance of even one false finding.
  Holm S. A simple sequentially rejective multiple test procedure. Scand J Stat 1979;6:65-70.
  Adjusted p_(i) = max over j ≤ i of (m − j + 1) p_(j), capped at 1.

Missing p-values (NaN) are left out of the family and stay NaN.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["METHODS", "adjust"]

METHODS = ("fdr_bh", "holm")


def adjust(p_values: Sequence[float] | np.ndarray, method: str = "fdr_bh") -> np.ndarray:
    """Adjusted p-values, in the input's order.

    >>> adjust([0.01, 0.04, 0.03, 0.20]).round(4).tolist()
    [0.04, 0.0533, 0.0533, 0.2]
    >>> adjust([0.01, 0.04, 0.03, 0.20], "holm").round(4).tolist()
    [0.04, 0.09, 0.09, 0.2]
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = ok.size
    if m == 0:
        return out
    if np.any((p[ok] < 0) | (p[ok] > 1)):
        raise ValueError("p-values must lie between 0 and 1")
    order = ok[np.argsort(p[ok], kind="stable")]
    ranked = p[order]
    rank = np.arange(1, m + 1)
    if method == "fdr_bh":
        adj = np.minimum.accumulate((ranked * m / rank)[::-1])[::-1]
    else:
        adj = np.maximum.accumulate(ranked * (m - rank + 1))
    out[order] = np.minimum(adj, 1.0)
    return out
