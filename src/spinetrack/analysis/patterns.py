"""Sums over the design matrix, grouped by covariate pattern.

The statistics need sums of the form ``SUM u·x`` (a p-vector) and ``SUM u·x·x'`` (a p × p
matrix) for row weights ``u`` (the IRLS weight μ(1 − μ), the residual t − e, w, ∂w/∂e · y …)
and the design row ``x`` (intercept, covariates). Written directly, the matrix is
``p (p + 1) / 2`` sums — 465 for 30 covariates — each a product per row, and that dominates
the cost of an aggregate at a million rows.

Most covariates are 0/1 indicators (sex, smoking, diabetes, diagnosis group, missing-value
indicators …). Pack them into one integer column, the *pattern code* (bit ``k`` = indicator
``k``), and group by it: within a pattern every indicator is constant, so the engine only sums
``u``, ``u·c`` and ``u·c·c'`` over the few continuous columns ``c`` (``1 + k + k (k + 1) / 2``
sums for ``k`` continuous columns — 45 for 8), per pattern, and the full vector or matrix is
assembled here from the pattern sums:

* ``SUM u·b_j``     = Σ_g b_j(g) · S_u(g)
* ``SUM u·b_i·b_j`` = Σ_g b_i(g) b_j(g) · S_u(g)
* ``SUM u·b_j·c``   = Σ_g b_j(g) · S_uc(g)

This is the classical covariate-pattern reduction of logistic regression (Hosmer, Lemeshow &
Sturdivant, *Applied Logistic Regression*, 3rd ed., 2013, §1.4 / §5.2): an exact regrouping of
the same sums (results agree to rounding), and the number of patterns — a few hundred in a
registry — is what comes back to Python. When a design has no pattern code (a plain view in a
test) the same functions write the direct sums.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["PATTERN_CODE", "Design", "GroupedSums"]

PATTERN_CODE = "xcode"


@dataclass(frozen=True)
class Design:
    """The model's design: ``columns`` (covariates, in model order; the intercept is implicit
    and first) and, when the view has a pattern code, which bit of ``code`` holds each 0/1
    column."""

    columns: tuple[str, ...]
    code: str | None = None
    bits: dict[str, int] = field(default_factory=dict)

    @staticmethod
    def of(columns: Sequence[str], bits: dict[str, int] | None = None, code: str = PATTERN_CODE) -> Design:
        coded = {c: b for c, b in (bits or {}).items() if c in columns}
        return Design(tuple(columns), code if coded else None, coded)

    @property
    def p(self) -> int:
        return len(self.columns) + 1

    @property
    def continuous(self) -> list[str]:
        return [c for c in self.columns if c not in self.bits]

    @property
    def keys(self) -> list[str]:
        return [self.code] if self.code else []

    # ---------------------------------------------------------------- SQL
    def vector(self, u: str) -> list[str]:
        """Aggregates for ``SUM u·x``: Σu and Σu·c per continuous column."""
        return [f"SUM({u})"] + [f"SUM(({u}) * {c})" for c in self.continuous]

    def squares(self, u: str) -> list[str]:
        """Aggregates for the diagonal ``SUM u·x²`` beyond :meth:`vector` (continuous columns only:
        for an indicator x² = x)."""
        return [f"SUM(({u}) * {c} * {c})" for c in self.continuous]

    def matrix(self, u: str) -> list[str]:
        """Aggregates for ``SUM u·x·x'``: :meth:`vector` plus Σu·c·c' over pairs of continuous
        columns."""
        cont = self.continuous
        return self.vector(u) + [f"SUM(({u}) * {cont[i]} * {cont[j]})"
                                 for i in range(len(cont)) for j in range(i, len(cont))]

    def n_vector(self) -> int:
        return 1 + len(self.continuous)

    def n_matrix(self) -> int:
        k = len(self.continuous)
        return 1 + k + k * (k + 1) // 2


class GroupedSums:
    """The rows of one grouped query (keys, then aggregates) for one arm or all, read back into
    full vectors and matrices. ``groups`` are the key columns before the pattern code (e.g. the
    arm); rows are selected with :meth:`select`."""

    def __init__(self, design: Design, rows: list[tuple[Any, ...]], n_groups: int) -> None:
        self.design = design
        self.n_groups = n_groups
        nk = n_groups + len(design.keys)
        self._keys = [tuple(r[:n_groups]) for r in rows]
        self._codes = (np.array([int(r[n_groups]) if r[n_groups] is not None else 0 for r in rows], dtype=np.int64)
                       if design.code else np.zeros(len(rows), dtype=np.int64))
        self._vals = np.array([[np.nan if v is None else float(v) for v in r[nk:]] for r in rows],
                              dtype=float).reshape(len(rows), -1)
        self._sel = np.ones(len(rows), dtype=bool)
        self._pos = 0

    def group_keys(self) -> list[tuple[Any, ...]]:
        return sorted(set(self._keys))

    def select(self, key: tuple[Any, ...] | None) -> GroupedSums:
        """Restrict to the rows of one group key (``None``: all rows); resets the read position."""
        self._sel = np.array([key is None or k == key for k in self._keys], dtype=bool)
        self._pos = 0
        return self

    def select_where(self, keep: Callable[[tuple[Any, ...]], bool]) -> GroupedSums:
        """Restrict to the rows whose group key ``keep`` accepts (e.g. an arm and a bit of a
        mask key); resets the read position."""
        self._sel = np.array([bool(keep(k)) for k in self._keys], dtype=bool)
        self._pos = 0
        return self

    def selected(self) -> int:
        """The number of rows selected."""
        return int(self._sel.sum())

    def seek(self, position: int) -> None:
        """Read from aggregate number ``position`` (0: the first after the keys) on."""
        self._pos = position

    def _take(self, n: int) -> np.ndarray:
        block = self._vals[self._sel, self._pos:self._pos + n]
        self._pos += n
        return np.asarray(np.nan_to_num(block, nan=0.0), dtype=float)

    def skip(self, n: int) -> None:
        self._pos += n

    def scalars(self, n: int) -> np.ndarray:
        """``n`` plain aggregates, summed over the selected rows."""
        return np.asarray(self._take(n).sum(axis=0), dtype=float)

    def _bits(self) -> np.ndarray:
        codes = self._codes[self._sel]
        d = self.design
        shifts = np.array([d.bits[c] for c in d.columns if c in d.bits], dtype=np.int64)
        return ((codes[:, None] >> shifts[None, :]) & 1).astype(float)

    def _order(self) -> tuple[list[int], list[int]]:
        d = self.design
        bin_pos = [1 + i for i, c in enumerate(d.columns) if c in d.bits]
        cont_pos = [1 + i for i, c in enumerate(d.columns) if c not in d.bits]
        return bin_pos, cont_pos

    def vector(self) -> np.ndarray:
        """``SUM u·x`` (length p) from the next :meth:`Design.vector` block."""
        d = self.design
        s = self._take(d.n_vector())
        bin_pos, cont_pos = self._order()
        out = np.zeros(d.p)
        out[0] = s[:, 0].sum()
        if bin_pos:
            out[bin_pos] = self._bits().T @ s[:, 0]
        out[cont_pos] = s[:, 1:].sum(axis=0)
        return out

    def vector_and_squares(self) -> tuple[np.ndarray, np.ndarray]:
        """(``SUM u·x``, ``SUM u·x²``) per covariate (intercept excluded) from a
        :meth:`Design.vector` block followed by a :meth:`Design.squares` block."""
        v = self.vector()
        sq_cont = self._take(len(self.design.continuous)).sum(axis=0)
        sq = v[1:].copy()  # indicators: x² = x
        _, cont_pos = self._order()
        sq[[c - 1 for c in cont_pos]] = sq_cont
        return v[1:], sq

    def matrix(self) -> np.ndarray:
        """``SUM u·x·x'`` (p × p) from the next :meth:`Design.matrix` block."""
        d = self.design
        k = len(d.continuous)
        s = self._take(d.n_matrix())
        s0, s1, s2 = s[:, 0], s[:, 1:1 + k], s[:, 1 + k:]
        bin_pos, cont_pos = self._order()
        m = np.zeros((d.p, d.p))
        m[0, 0] = s0.sum()
        if k:
            m[0, cont_pos] = m[cont_pos, 0] = s1.sum(axis=0)
            cc = np.zeros((k, k))
            cc[np.triu_indices(k)] = s2.sum(axis=0)
            m[np.ix_(cont_pos, cont_pos)] = cc + np.triu(cc, 1).T
        if bin_pos:
            b = self._bits()
            m[0, bin_pos] = m[bin_pos, 0] = b.T @ s0
            m[np.ix_(bin_pos, bin_pos)] = b.T @ (b * s0[:, None])
            if k:
                bc = b.T @ s1
                m[np.ix_(bin_pos, cont_pos)] = bc
                m[np.ix_(cont_pos, bin_pos)] = bc.T
        return m
