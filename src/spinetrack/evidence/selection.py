"""Selecting literature rows by comparison, outcome or scorecard claim.

Selection by claim uses the claims map (:func:`spinetrack.evidence.claims_map.relation`), so
this module sits above both the records and the claims map.

Examples
--------
>>> from spinetrack.evidence.studies import load_studies
>>> rows = select(load_studies(), claim="length_of_stay", comparison="fusion")
>>> all(r.outcome.value == "length_of_stay" for r in rows)
True
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from spinetrack.errors import ValidationError
from spinetrack.evidence.claims_map import claim_evidence, relation
from spinetrack.evidence.records import EvidenceRecord
from spinetrack.evidence.vocab import Comparison, Outcome

__all__ = ["select"]

R = TypeVar("R", bound=EvidenceRecord)


def _as_comparison(value: Comparison | str) -> Comparison | None:
    if value == "pooled":
        return None
    try:
        return Comparison(value)
    except ValueError:
        raise ValidationError(field="comparison", value=value,
                              allowed=[*(c.value for c in Comparison), "pooled"]) from None


def select(rows: Iterable[R], *, comparison: Comparison | str | None = None,
           outcome: Outcome | str | Iterable[Outcome | str] | None = None, claim: str | None = None,
           include_cross_cutting: bool = True, poolable_only: bool = False) -> tuple[R, ...]:
    """Rows of one comparison / outcome / scorecard claim.

    Parameters
    ----------
    rows : iterable of PublishedEstimate or ArmSummary
        For example ``load_studies()``.
    comparison : str, optional
        ``discectomy``, ``decompression``, ``fusion``, ``cross_cutting``, or ``pooled`` (all).
    outcome : str or iterable of str, optional
        One or more :class:`Outcome` values.
    claim : str, optional
        A scorecard claim key (``domain.claims``); keeps the rows that the claims map links to
        it (see :func:`spinetrack.evidence.claims_map.relation` for how each row relates).
    include_cross_cutting : bool
        With a specific ``comparison``, also keep ``cross_cutting`` rows (default), since those
        come from mixed lumbar procedures that include it.
    poolable_only : bool
        Keep only rows marked poolable.

    Returns
    -------
    tuple
        The kept rows, in input order.

    Examples
    --------
    >>> from spinetrack.evidence.studies import load_studies
    >>> rows = select(load_studies(), comparison="fusion", outcome="blood_loss", include_cross_cutting=False)
    >>> sorted({r.comparison.value for r in rows}), all(r.outcome.value == "blood_loss" for r in rows)
    (['fusion'], True)
    """
    wanted_cmp = None if comparison is None else _as_comparison(comparison)
    wanted_out: frozenset[Outcome] | None = None
    if outcome is not None:
        items = [outcome] if isinstance(outcome, str) else list(outcome)
        try:
            wanted_out = frozenset(Outcome(o) for o in items)
        except ValueError:
            raise ValidationError(field="outcome", value=outcome, allowed=[o.value for o in Outcome]) from None
    relate: Callable[[str, EvidenceRecord], object] | None = None
    if claim is not None:
        claim_evidence(claim)  # unknown keys raise a ValidationError naming the allowed keys
        relate = relation
    out: list[R] = []
    for row in rows:
        if wanted_cmp is not None and row.comparison is not wanted_cmp and not (
                include_cross_cutting and row.comparison is Comparison.CROSS_CUTTING):
            continue
        if wanted_out is not None and row.outcome not in wanted_out:
            continue
        if poolable_only and not row.poolable:
            continue
        if relate is not None and claim is not None and relate(claim, row) is None:
            continue
        out.append(row)
    return tuple(out)
