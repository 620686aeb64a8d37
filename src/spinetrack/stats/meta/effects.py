"""Study-level effect sizes and their sampling variances (the input of every pooling method).

One :class:`EffectSizeTable` holds, per study, the estimate ``yi`` on the analysis scale and its
sampling variance ``vi`` — the two numbers every inverse-variance method needs — plus the 2x2
counts when they are known (the Mantel–Haenszel method pools the counts, not ``yi``).

Measures (the names and formulas of metafor's ``escalc``; Viechtbauer 2010)::

    MD   m1 - m2                       vi = sd1^2/n1 + sd2^2/n2 ("unequal", metafor vtype "LS")
                                          or sp^2 (1/n1 + 1/n2) ("pooled", metafor vtype "HO")
    SMD  Hedges' g = J(m) (m1 - m2) / sp,   m = n1 + n2 - 2,  sp^2 pooled variance
         J(m) = Gamma(m/2) / (sqrt(m/2) Gamma((m-1)/2))   the EXACT correction (Hedges 1981),
                as metafor's measure "SMD" (not the approximation 1 - 3/(4m - 1))
         vi = 1/n1 + 1/n2 + g^2 / (2 (n1 + n2))           large-sample variance (metafor "LS")
    RR   log(p1 / p2)                  vi = 1/a - 1/n1 + 1/c - 1/n2
    OR   log(a d / (b c))              vi = 1/a + 1/b + 1/c + 1/d
    RD   p1 - p2                       vi = p1 (1 - p1)/n1 + p2 (1 - p2)/n2
    GEN  any estimate already on its analysis scale (log scale for ratios)

with arm 1 the experimental arm, ``a``/``c`` the events and ``b``/``d`` the non-events in arms
1/2. Ratios are analysed on the log scale and back-transformed for display.

Zero cells (2x2 measures): by default 0.5 is added to every cell of a study that has a zero
cell (metafor's ``add=1/2, to="only0"``); ``continuity_to`` also offers ``"all"`` (every
study), ``"if0all"`` (every study if any has a zero cell) and ``"none"``. Studies without any
event (or with only events) in both arms carry no information on a ratio and are excluded for
RR and OR by default (metafor's ``drop00=TRUE``; RevMan does the same), with a note; for RD
they are kept (a difference of 0 is informative).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from spinetrack.errors import InputError
from spinetrack.stats._common import (
    as_float_array,
    freeze,
    normal_quantile,
    to_jsonable,
)

__all__ = [
    "MEASURES",
    "RATIO_MEASURES",
    "ContinuityTo",
    "EffectSizeTable",
    "ExcludedStudy",
    "Measure",
    "effect_sizes_binary",
    "effect_sizes_continuous",
    "hedges_correction",
]

Measure = Literal["MD", "SMD", "RR", "OR", "RD", "GEN"]
ContinuityTo = Literal["only0", "all", "if0all", "none"]
MEASURES: tuple[str, ...] = ("MD", "SMD", "RR", "OR", "RD", "GEN")
RATIO_MEASURES: tuple[str, ...] = ("RR", "OR")
_CONTINUITY_TO = ("only0", "all", "if0all", "none")


@dataclass(frozen=True, slots=True)
class ExcludedStudy:
    """A study left out of the analysis, and why."""

    label: str
    reason: str


@dataclass(frozen=True, eq=False)
class EffectSizeTable:
    """Per-study estimates on the analysis scale, ready to pool.

    Attributes
    ----------
    measure : str
        One of :data:`MEASURES`.
    labels : tuple of str
        Study labels, one per row.
    yi, vi : ndarray
        Estimate (log scale for RR/OR) and its sampling variance.
    events1, n1, events2, n2 : ndarray or None
        The 2x2 counts as given (before any continuity correction), for RR/OR/RD tables built
        from counts; ``None`` otherwise. The Mantel–Haenszel method needs them.
    continuity_corrected : ndarray of bool
        Whether the continuity correction was added to the study's cells.
    excluded : tuple of ExcludedStudy
        Studies dropped while building the table (double-zero studies for RR/OR).
    notes : tuple of str
        What was done to the data (corrections, exclusions), in words.
    method : str
        How ``yi`` and ``vi`` were computed.
    source_index : ndarray of int
        Position of each study in the arrays the table was built from (studies excluded while
        building it are missing).
    """

    measure: str
    labels: tuple[str, ...]
    yi: np.ndarray
    vi: np.ndarray
    events1: np.ndarray | None
    n1: np.ndarray | None
    events2: np.ndarray | None
    n2: np.ndarray | None
    continuity_corrected: np.ndarray
    excluded: tuple[ExcludedStudy, ...]
    notes: tuple[str, ...]
    method: str
    source_index: np.ndarray

    @property
    def k(self) -> int:
        """Number of studies in the table."""
        return int(self.yi.size)

    @property
    def is_ratio(self) -> bool:
        """True for RR and OR (analysed on the log scale)."""
        return self.measure in RATIO_MEASURES

    @property
    def has_counts(self) -> bool:
        """True when the 2x2 counts are known (the Mantel–Haenszel method needs them)."""
        return self.events1 is not None

    def standard_errors(self) -> np.ndarray:
        """``sqrt(vi)``."""
        return np.asarray(np.sqrt(self.vi))

    def study_intervals(self, ci_level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """Wald interval ``yi ± z sqrt(vi)`` of each study on the analysis scale."""
        z = normal_quantile(ci_level)
        half = z * np.sqrt(self.vi)
        return self.yi - half, self.yi + half

    def subset(self, rows: np.ndarray | Sequence[int] | Sequence[bool]) -> EffectSizeTable:
        """The table restricted to ``rows`` (a boolean mask or integer indices), same order.

        Exclusions and notes made while building the table are kept.
        """
        idx = np.arange(self.k)[np.asarray(rows)]

        def take(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else freeze(a[idx].copy())

        return EffectSizeTable(
            measure=self.measure,
            labels=tuple(self.labels[i] for i in idx),
            yi=freeze(self.yi[idx].copy()),
            vi=freeze(self.vi[idx].copy()),
            events1=take(self.events1),
            n1=take(self.n1),
            events2=take(self.events2),
            n2=take(self.n2),
            continuity_corrected=freeze(self.continuity_corrected[idx].copy()),
            excluded=self.excluded,
            notes=self.notes,
            method=self.method,
            source_index=freeze(self.source_index[idx].copy()),
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable mapping (NaN becomes null)."""
        return dict(to_jsonable({
            "measure": self.measure,
            "k": self.k,
            "labels": list(self.labels),
            "yi": self.yi,
            "vi": self.vi,
            "continuity_corrected": self.continuity_corrected,
            "excluded": [{"label": e.label, "reason": e.reason} for e in self.excluded],
            "notes": list(self.notes),
            "method": self.method,
        }))


def _labels(labels: Sequence[str] | None, k: int) -> tuple[str, ...]:
    if labels is None:
        return tuple(f"Study {i + 1}" for i in range(k))
    out = tuple(str(x) for x in labels)
    if len(out) != k:
        raise InputError(f"labels must have one entry per study ({k}), got {len(out)}")
    return out


def _vectors(k_name: str, **arrays: Any) -> dict[str, np.ndarray]:
    out = {name: as_float_array(a, name, ndim=1) for name, a in arrays.items()}
    sizes = {a.size for a in out.values()}
    if len(sizes) != 1:
        raise InputError(f"{', '.join(out)} must all have the same length")
    if sizes == {0}:
        raise InputError(f"at least one study is needed ({k_name})")
    return out


def _rows(mask: np.ndarray) -> str:
    return ", ".join(str(i + 1) for i in np.flatnonzero(mask))


def hedges_correction(df: np.ndarray | float) -> np.ndarray:
    """Hedges' exact small-sample correction ``J(m) = Γ(m/2) / (sqrt(m/2) Γ((m-1)/2))``.

    Parameters
    ----------
    df : array_like
        ``m = n1 + n2 - 2`` (must exceed 1).

    Returns
    -------
    ndarray

    References
    ----------
    Hedges LV. Distribution theory for Glass's estimator of effect size and related
    estimators. J Educ Stat. 1981;6(2):107-128.

    Examples
    --------
    >>> float(np.round(hedges_correction(20.0), 6))   # the approximation 1 - 3/79 gives 0.962025
    0.961945
    """
    m = np.asarray(df, dtype=float)
    if np.any(m <= 1):
        raise InputError("the small-sample correction needs n1 + n2 - 2 > 1")
    lg = np.vectorize(math.lgamma, otypes=[float])
    return np.asarray(np.exp(lg(m / 2.0) - 0.5 * np.log(m / 2.0) - lg((m - 1.0) / 2.0)), dtype=float)


def effect_sizes_continuous(
    *,
    n1: Sequence[float] | np.ndarray,
    mean1: Sequence[float] | np.ndarray,
    sd1: Sequence[float] | np.ndarray,
    n2: Sequence[float] | np.ndarray,
    mean2: Sequence[float] | np.ndarray,
    sd2: Sequence[float] | np.ndarray,
    measure: Literal["MD", "SMD"],
    labels: Sequence[str] | None = None,
    md_variance: Literal["unequal", "pooled"] = "unequal",
) -> EffectSizeTable:
    """Mean differences or Hedges' g from arm-level means, SDs and sizes.

    Parameters
    ----------
    n1, mean1, sd1, n2, mean2, sd2 : array_like
        Size, mean and standard deviation of arm 1 (experimental) and arm 2 (comparator).
    measure : {"MD", "SMD"}
        Raw mean difference or standardized mean difference (Hedges' g, exact correction).
    labels : sequence of str, optional
    md_variance : {"unequal", "pooled"}, default "unequal"
        For MD: ``sd1^2/n1 + sd2^2/n2`` or the pooled-SD variance ``sp^2 (1/n1 + 1/n2)``.

    Returns
    -------
    EffectSizeTable

    References
    ----------
    Hedges LV, Olkin I. Statistical Methods for Meta-Analysis. Academic Press; 1985.
    Viechtbauer W. Conducting meta-analyses in R with the metafor package. J Stat Softw.
    2010;36(3):1-48 (``escalc`` measures "MD" and "SMD").

    Examples
    --------
    >>> t = effect_sizes_continuous(n1=[155], mean1=[55], sd1=[47], n2=[156], mean2=[75],
    ...                             sd2=[64], measure="SMD")
    >>> float(np.round(t.yi[0], 4)), float(np.round(t.vi[0], 4))
    (-0.3552, 0.0131)
    """
    if measure not in ("MD", "SMD"):
        raise InputError(f"measure must be 'MD' or 'SMD' for arm-level means, got {measure!r}")
    if md_variance not in ("unequal", "pooled"):
        raise InputError(f"md_variance must be 'unequal' or 'pooled', got {md_variance!r}")
    v = _vectors("n1", n1=n1, mean1=mean1, sd1=sd1, n2=n2, mean2=mean2, sd2=sd2)
    k = v["n1"].size
    names = _labels(labels, k)
    for arm in ("n1", "n2"):
        if np.any(v[arm] < 1):
            raise InputError(f"{arm} must be at least 1 (studies {_rows(v[arm] < 1)})")
    for arm in ("sd1", "sd2"):
        if np.any(v[arm] < 0):
            raise InputError(f"{arm} must be non-negative (studies {_rows(v[arm] < 0)})")
    n_1, n_2 = v["n1"], v["n2"]
    df = n_1 + n_2 - 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        sp2 = ((n_1 - 1) * v["sd1"] ** 2 + (n_2 - 1) * v["sd2"] ** 2) / df
    diff = v["mean1"] - v["mean2"]
    if measure == "MD":
        if md_variance == "pooled":
            if np.any(df <= 0):
                raise InputError(f"a pooled SD needs n1 + n2 > 2 (studies {_rows(df <= 0)})")
            vi = sp2 * (1 / n_1 + 1 / n_2)
        else:
            vi = v["sd1"] ** 2 / n_1 + v["sd2"] ** 2 / n_2
        yi = diff
        method = ("mean difference (arm 1 - arm 2); variance "
                  + ("sd1^2/n1 + sd2^2/n2" if md_variance == "unequal" else "sp^2 (1/n1 + 1/n2), pooled SD"))
    else:
        if np.any(df <= 1):
            raise InputError(f"Hedges' g needs n1 + n2 >= 4 (studies {_rows(df <= 1)})")
        if np.any(sp2 <= 0):
            raise InputError(f"Hedges' g needs a positive pooled SD (studies {_rows(sp2 <= 0)})")
        yi = hedges_correction(df) * diff / np.sqrt(sp2)
        vi = 1 / n_1 + 1 / n_2 + yi**2 / (2 * (n_1 + n_2))
        method = ("Hedges' g (standardized mean difference with the exact small-sample correction "
                  "J = Gamma(m/2) / (sqrt(m/2) Gamma((m-1)/2)), metafor escalc 'SMD'); "
                  "large-sample variance 1/n1 + 1/n2 + g^2 / (2 (n1 + n2))")
    if np.any(~(vi > 0)):
        raise InputError(f"sampling variance is zero (both SDs 0?) for studies {_rows(~(vi > 0))}")
    return EffectSizeTable(
        measure=measure, labels=names, yi=freeze(yi), vi=freeze(vi),
        events1=None, n1=None, events2=None, n2=None,
        continuity_corrected=freeze(np.zeros(k, dtype=bool)), excluded=(), notes=(), method=method,
        source_index=freeze(np.arange(k)),
    )


def effect_sizes_binary(
    *,
    events1: Sequence[float] | np.ndarray,
    n1: Sequence[float] | np.ndarray,
    events2: Sequence[float] | np.ndarray,
    n2: Sequence[float] | np.ndarray,
    measure: Literal["RR", "OR", "RD"],
    labels: Sequence[str] | None = None,
    continuity: float = 0.5,
    continuity_to: ContinuityTo = "only0",
    drop_double_zero: bool | None = None,
) -> EffectSizeTable:
    """Log risk ratios, log odds ratios or risk differences from 2x2 counts.

    Parameters
    ----------
    events1, n1, events2, n2 : array_like
        Events and participants in arm 1 (experimental) and arm 2 (comparator).
    measure : {"RR", "OR", "RD"}
    labels : sequence of str, optional
    continuity : float, default 0.5
        Value added to the cells (see ``continuity_to``).
    continuity_to : {"only0", "all", "if0all", "none"}, default "only0"
        Add ``continuity`` to every cell of the studies with a zero cell (``"only0"``, metafor's
        default), of all studies (``"all"``), of all studies when any has a zero cell
        (``"if0all"``), or never (``"none"``: a zero cell is then an error for RR/OR).
    drop_double_zero : bool, optional
        Exclude studies with no events (or only events) in both arms. Default: True for RR and
        OR, False for RD.

    Returns
    -------
    EffectSizeTable
        With the (uncorrected) counts of the studies kept.

    References
    ----------
    Viechtbauer W. J Stat Softw. 2010;36(3):1-48 (``escalc``: "RR", "OR", "RD"; ``add``,
    ``to``, ``drop00``).
    Sweeting MJ, Sutton AJ, Lambert PC. What to add to nothing? Use and avoidance of continuity
    corrections in meta-analysis of sparse data. Stat Med. 2004;23(9):1351-1375.

    Examples
    --------
    >>> t = effect_sizes_binary(events1=[4], n1=[123], events2=[11], n2=[139], measure="RR")
    >>> float(np.round(t.yi[0], 4)), float(np.round(t.vi[0], 4))
    (-0.8893, 0.3256)
    """
    if measure not in ("RR", "OR", "RD"):
        raise InputError(f"measure must be 'RR', 'OR' or 'RD' for 2x2 counts, got {measure!r}")
    if continuity_to not in _CONTINUITY_TO:
        raise InputError(f"continuity_to must be one of {', '.join(_CONTINUITY_TO)}, got {continuity_to!r}")
    if not (math.isfinite(continuity) and continuity >= 0):
        raise InputError(f"continuity must be a non-negative number, got {continuity!r}")
    v = _vectors("events1", events1=events1, n1=n1, events2=events2, n2=n2)
    k = v["n1"].size
    names = _labels(labels, k)
    for arm in ("n1", "n2"):
        if np.any(v[arm] < 1):
            raise InputError(f"{arm} must be at least 1 (studies {_rows(v[arm] < 1)})")
    for ev, n in (("events1", "n1"), ("events2", "n2")):
        bad = (v[ev] < 0) | (v[ev] > v[n])
        if np.any(bad):
            raise InputError(f"{ev} must be between 0 and {n} (studies {_rows(bad)})")
    a, c = v["events1"], v["events2"]
    b, d = v["n1"] - a, v["n2"] - c
    if drop_double_zero is None:
        drop_double_zero = measure in RATIO_MEASURES
    double = ((a == 0) & (c == 0)) | ((b == 0) & (d == 0))
    excluded: list[ExcludedStudy] = []
    notes: list[str] = []
    keep = np.ones(k, dtype=bool)
    if drop_double_zero and np.any(double):
        keep = ~double
        for i in np.flatnonzero(double):
            why = ("no events in either arm" if a[i] == 0 and c[i] == 0
                   else "every participant had the event in both arms")
            excluded.append(ExcludedStudy(names[i], f"{why}: carries no information on the {measure}"))
        notes.append(f"{int(double.sum())} double-zero stud{'y' if double.sum() == 1 else 'ies'} excluded "
                     f"({', '.join(e.label for e in excluded)}), as metafor drop00 = TRUE")
    if not np.any(keep):
        raise InputError("no study is left after excluding studies without events (or with only events) in both arms")
    a, b, c, d = a[keep], b[keep], c[keep], d[keep]
    names = tuple(n for n, kept in zip(names, keep, strict=True) if kept)
    zero = (a == 0) | (b == 0) | (c == 0) | (d == 0)
    if continuity_to == "all":
        corrected = np.ones(a.size, dtype=bool)
    elif continuity_to == "only0":
        corrected = zero.copy()
    elif continuity_to == "if0all":
        corrected = np.full(a.size, bool(np.any(zero)))
    else:
        corrected = np.zeros(a.size, dtype=bool)
    if continuity == 0:
        corrected = np.zeros(a.size, dtype=bool)
    add = np.where(corrected, continuity, 0.0)
    ac, bc, cc, dc = a + add, b + add, c + add, d + add
    n1c, n2c = ac + bc, cc + dc
    p1, p2 = ac / n1c, cc / n2c
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure == "RR":
            yi = np.log(p1) - np.log(p2)
            vi = 1 / ac - 1 / n1c + 1 / cc - 1 / n2c
            what = "log risk ratio; variance 1/a - 1/n1 + 1/c - 1/n2"
        elif measure == "OR":
            yi = np.log(ac * dc / (bc * cc))
            vi = 1 / ac + 1 / bc + 1 / cc + 1 / dc
            what = "log odds ratio; variance 1/a + 1/b + 1/c + 1/d"
        else:
            yi = p1 - p2
            vi = p1 * (1 - p1) / n1c + p2 * (1 - p2) / n2c
            what = "risk difference; variance p1 (1 - p1)/n1 + p2 (1 - p2)/n2"
    bad = ~np.isfinite(yi) | ~(vi > 0) | ~np.isfinite(vi)
    if np.any(bad):
        who = ", ".join(names[i] for i in np.flatnonzero(bad))
        raise InputError(f"the {measure} or its variance is undefined for {who} (a zero cell without continuity "
                         "correction, or no variation in either arm)")
    if np.any(corrected):
        notes.append(f"{continuity:g} added to every cell of {int(corrected.sum())} stud"
                     f"{'y' if corrected.sum() == 1 else 'ies'} ({continuity_to})")
    method = f"{what}; continuity correction {continuity:g} ({continuity_to})"
    return EffectSizeTable(
        measure=measure, labels=names, yi=freeze(yi), vi=freeze(vi),
        events1=freeze(a.copy()), n1=freeze(a + b), events2=freeze(c.copy()), n2=freeze(c + d),
        continuity_corrected=freeze(corrected), excluded=tuple(excluded), notes=tuple(notes), method=method,
        source_index=freeze(np.flatnonzero(keep)),
    )
