"""Pooling the literature base: every figure in a group, independent primary studies pooled.

:func:`summarize_evidence` sorts every row of the literature base (``studies.csv`` and the
``arm_data.csv`` rows no study row points to) into groups of one **comparison, outcome,
normalised timepoint and effect family** (continuous or binary), and says for every row what
was done with it:

``pooled``
    One of at least two *independent* primary studies (RCTs, cohorts, registries, single-study
    conference abstracts; never a meta-analysis or review) that were pooled here.
``already_pooled``
    A published pooled estimate (a meta-analysis, a systematic review, or any row pooling more
    than one study). It is shown as published and **never re-pooled**: not with other
    meta-analyses (they share trials) and not with its own trials.
``single_study``
    A primary study with a usable effect (an estimate with an interval, or arm means with SDs,
    or events per arm) but no second independent study to pool it with (or a different unit or
    measure from the studies that were pooled).
``not_pooled``
    Listed but not pooled, with the reasons: a verification flag (``unverified``,
    ``check_full_text``, ``unit_not_stated``, ``inconsistent``, ``median_not_mean``), a
    narrative finding without an effect size, medians, arm means without SDs, percentages
    without event counts, no interval, a single arm, or baseline values.

Pooling rule (one pool per group at most)
-----------------------------------------
* Effect per study: arm means and SDs → mean difference (MD, MIS − open, variance
  ``sd1²/n1 + sd2²/n2``); events per arm → risk ratio (RR, MIS / open, 0.5 added to the
  cells of a study with a zero cell); a published estimate with a 95% interval → its variance
  back-calculated from the interval (:func:`~spinetrack.stats.meta.effect_sizes_from_ci`, on
  the log scale for ratios). A study contributes once, however many rows it has.
* Continuous groups pool the largest set of at least two studies that share a unit, as an MD
  in that unit. Only when no two studies share a unit, and every study gives arm means and SDs,
  are they pooled as a standardised mean difference (Hedges' g), and the pool says so: an SMD
  has no clinical unit. Binary groups pool the largest set of at least two studies with the
  same measure (RR before OR before RD on ties).
* Model: random effects, REML ``tau²``, Hartung–Knapp–Sidik–Jonkman interval with a t
  distribution on ``k − 1`` degrees of freedom, prediction interval; heterogeneity reported
  as ``tau²``, ``I²`` and Cochran's Q (:func:`spinetrack.stats.meta.pool_studies`). With two
  studies a note says that the HKSJ interval (t with 1 df) is very wide.

References
----------
Viechtbauer W. Conducting meta-analyses in R with the metafor package. J Stat Softw.
2010;36(3):1-48.
Hartung J, Knapp G. A refined method for the meta-analysis of controlled clinical trials
with binary outcome. Stat Med. 2001;20(24):3875-3889.
Sidik K, Jonkman JN. A simple confidence interval for meta-analysis. Stat Med.
2002;21(21):3153-3159.
Higgins JPT, Thomas J, Chandler J, et al. (eds). Cochrane Handbook for Systematic Reviews of
Interventions, version 6.4; 2023, chapters 6 and 10.

Examples
--------
>>> report = summarize_evidence(claim="blood_loss", comparison="fusion")
>>> group = next(g for g in report.groups if g.outcome == "blood_loss" and g.comparison == "fusion")
>>> item = next(i for i in group.items if i.id == "fus-park2018-blood-loss")
>>> item.status.value, item.estimate, item.ci_low, item.ci_high
('already_pooled', -269.5, -292.9, -246.2)
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from spinetrack.domain.comparisons import COMPARISONS, FAMILIES
from spinetrack.errors import ValidationError
from spinetrack.evidence.citations import citation_as_dict, short_citation
from spinetrack.evidence.claims_map import CLAIM_EVIDENCE, claim_evidence
from spinetrack.evidence.items import CI_LEVEL, CI_MEASURES, EvidenceItem, ItemStatus, build_items, with_changes
from spinetrack.evidence.records import ArmSummary, Citation, PublishedEstimate
from spinetrack.evidence.vocab import (
    ArmStatistic,
    Comparison,
    Flag,
    Measure,
    Outcome,
    Timepoint,
    Unit,
)
from spinetrack.evidence.wording import FLAG_WORDS
from spinetrack.stats.meta import (
    MetaResult,
    effect_sizes_continuous,
    effect_sizes_from_variances,
    pool_studies,
)

__all__ = [
    "COMPARISON_KEYS",
    "POOLING_METHOD",
    "EvidenceGroup",
    "EvidenceReport",
    "PooledEstimate",
    "evidence_groups",
    "summarize_evidence",
]

#: The random-effects model of every pool built here (stated with each pool).
POOLING_METHOD: Final = ("random effects, REML tau^2, Hartung-Knapp-Sidik-Jonkman interval (t, k - 1 df) and "
                         "prediction interval")
#: Comparison keys accepted by :func:`summarize_evidence`: the procedure families, ``cross_cutting``
#: (mixed lumbar procedures) and the scorecard's other comparisons.
COMPARISON_KEYS: Final = (*FAMILIES, Comparison.CROSS_CUTTING.value,
                          *(c.key for c in COMPARISONS if c.key not in FAMILIES))

_CONTINUOUS_MEASURES: Final = frozenset({Measure.MD, Measure.SMD, Measure.DIFFERENCE_UNSPECIFIED,
                                         Measure.RATIO_OF_MEANS, Measure.MEAN_PAIR, Measure.MEDIAN_PAIR,
                                         Measure.RANGE_PAIR})
_BINARY_MEASURES: Final = frozenset({Measure.RR, Measure.OR, Measure.RD, Measure.PROPORTION_PAIR,
                                     Measure.COUNT_PAIR, Measure.COMBINED_PROPORTION})
_BINARY_OUTCOMES: Final = frozenset({
    Outcome.RECURRENCE, Outcome.TRANSFUSION, Outcome.COMPLICATIONS_ANY, Outcome.COMPLICATIONS_MAJOR,
    Outcome.INFECTION, Outcome.DURAL_TEAR, Outcome.REOPERATION, Outcome.ADJACENT_SEGMENT_DISEASE,
    Outcome.FUSION_RATE, Outcome.GOOD_RECOVERY, Outcome.SATISFACTION})
_COMPARISON_ORDER: Final = {c: i for i, c in enumerate(Comparison)}
_OUTCOME_ORDER: Final = {o: i for i, o in enumerate(Outcome)}
_TIME_ORDER: Final = {t: i for i, t in enumerate(Timepoint)}
_BINARY_POOL_ORDER: Final = ("RR", "OR", "RD")


# ----------------------------------------------------------------------------- groups and pools


def _family(item: EvidenceItem) -> str:
    if item.measure in _CONTINUOUS_MEASURES:
        return "continuous"
    if item.measure in _BINARY_MEASURES:
        return "binary"
    if item.measure is Measure.SINGLE_ARM and item.unit is not Unit.PERCENT:
        return "continuous"
    return "binary" if item.outcome in _BINARY_OUTCOMES or item.unit is Unit.PERCENT else "continuous"


@dataclass(frozen=True, eq=False)
class PooledEstimate:
    """Our own random-effects pool of independent primary studies in one group.

    ``estimate``, ``ci_low``, ``ci_high``, ``pi_low``, ``pi_high`` are on the display scale
    (ratios exponentiated); ``result`` is the full :class:`~spinetrack.stats.meta.MetaResult`.
    """

    measure: str
    unit: str
    k: int
    n_patients: int | None
    estimate: float
    ci_low: float
    ci_high: float
    ci_level: float
    pi_low: float | None
    pi_high: float | None
    tau2: float
    i2: float | None
    q: float
    q_df: int
    q_p_value: float | None
    method: str
    description: str
    study_ids: tuple[str, ...]
    citations: tuple[Citation, ...]
    notes: tuple[str, ...]
    result: MetaResult

    @property
    def is_ratio(self) -> bool:
        """True for RR and OR."""
        return self.measure in ("RR", "OR")

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable mapping (the full meta-analysis under ``meta``)."""
        return {
            "measure": self.measure, "unit": self.unit, "k": self.k, "n_patients": self.n_patients,
            "estimate": self.estimate, "ci_low": self.ci_low, "ci_high": self.ci_high, "ci_level": self.ci_level,
            "pi_low": self.pi_low, "pi_high": self.pi_high, "tau2": self.tau2, "i2": self.i2, "q": self.q,
            "q_df": self.q_df, "q_p_value": self.q_p_value, "method": self.method, "hksj": True,
            "description": self.description, "study_ids": list(self.study_ids),
            "citations": [citation_as_dict(c) for c in self.citations], "notes": list(self.notes),
            "meta": self.result.as_dict(),
        }


@dataclass(frozen=True, eq=False)
class EvidenceGroup:
    """The rows of one comparison, outcome, normalised timepoint and effect family."""

    comparison: Comparison
    outcome: Outcome
    timepoint_norm: Timepoint
    family: str
    units: tuple[str, ...]
    items: tuple[EvidenceItem, ...]
    pooled: PooledEstimate | None
    note: str

    @property
    def claims(self) -> tuple[str, ...]:
        """Claim keys any row of the group informs, in the scorecard's order."""
        keys = {k for i in self.items for k in i.claims}
        return tuple(ce.claim for ce in CLAIM_EVIDENCE if ce.claim in keys)

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable mapping."""
        return {
            "comparison": self.comparison.value, "outcome": self.outcome.value,
            "timepoint_norm": self.timepoint_norm.value, "family": self.family, "units": list(self.units),
            "claims": list(self.claims), "pooled": None if self.pooled is None else self.pooled.as_dict(),
            "note": self.note, "items": [i.as_dict() for i in self.items],
        }


@dataclass(frozen=True, eq=False)
class EvidenceReport:
    """What :func:`summarize_evidence` returns: the groups that match the filters."""

    claims: tuple[str, ...]
    comparison: str | None
    groups: tuple[EvidenceGroup, ...]
    method: str
    notes: tuple[str, ...]

    @property
    def items(self) -> tuple[EvidenceItem, ...]:
        """Every listed row, group by group."""
        return tuple(i for g in self.groups for i in g.items)

    def counts(self) -> dict[str, int]:
        """Rows per status."""
        out = {s.value: 0 for s in ItemStatus}
        for i in self.items:
            out[i.status.value] += 1
        return out

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable mapping (the document of ``spinetrack evidence --json``)."""
        return {
            "claims": list(self.claims), "comparison": self.comparison, "method": self.method,
            "notes": list(self.notes), "counts": self.counts(),
            "pooled_groups": sum(1 for g in self.groups if g.pooled is not None),
            "groups": [g.as_dict() for g in self.groups],
        }


def _has_events(item: EvidenceItem) -> bool:
    row = item.record if isinstance(item.record, PublishedEstimate) else None
    arm_events = item.arm is not None and item.arm.statistic is ArmStatistic.EVENTS
    return arm_events or (row is not None and row.mis_events is not None and row.open_events is not None)


def _not_pooled_reasons(item: EvidenceItem) -> list[str]:
    """Why a row cannot enter a pool, in words (the flags first, then what the data lack)."""
    out: list[str] = []
    if item.flags:
        out.append("flagged: " + ", ".join(FLAG_WORDS[Flag(f)] for f in item.flags))
    m = item.measure
    if item.timepoint_norm is Timepoint.BASELINE:
        out.append("baseline (pre-operative) values: not an outcome")
    if m is Measure.NARRATIVE:
        out.append("narrative finding: no effect size")
    elif m is Measure.MEDIAN_PAIR or Flag.MEDIAN_NOT_MEAN.value in item.flags:
        out.append("medians are not means")
    elif m is Measure.SINGLE_ARM:
        out.append("one arm only: no comparator")
    elif m is Measure.COMBINED_PROPORTION:
        out.append("one figure for both arms together: no comparison")
    elif m is Measure.RANGE_PAIR:
        out.append("ranges only")
    elif m is Measure.DIFFERENCE_UNSPECIFIED:
        out.append("estimator not named" + ("; no point estimate" if item.estimate is None else ""))
    elif m is Measure.RATIO_OF_MEANS and item.estimate is None:
        out.append("ratio printed as open over MIS; not a poolable measure")
    elif m is Measure.MEAN_PAIR and (item.arm is None or item.arm.statistic is not ArmStatistic.MEAN_SD):
        out.append("arm means without SDs")
    elif m in (Measure.PROPORTION_PAIR, Measure.COUNT_PAIR) and not _has_events(item):
        out.append("percentages without event counts")
    elif item.estimate is not None and item.ci_low is None:
        out.append("no interval printed")
    if item.unit is Unit.NOT_STATED and not any("unit" in r for r in out):
        out.append("unit not stated")
    if not out:
        out.append("not marked poolable in the data")
    return out


def _decide(group_items: list[EvidenceItem]) -> tuple[list[EvidenceItem], PooledEstimate | None, str]:
    """Set every item's status; pool the group's independent primary studies when there are two."""
    decided: dict[str, EvidenceItem] = {}
    candidates: list[EvidenceItem] = []
    seen_studies: dict[str, str] = {}
    for it in group_items:
        if it.is_published_pool:
            if it.flags or it.estimate is None or it.measure is Measure.NARRATIVE:
                reasons = _not_pooled_reasons(it)
                reasons.append(f"published pooled estimate ({it.k_studies or 'several'} studies): never re-pooled")
                decided[it.id] = with_changes(it, status=ItemStatus.NOT_POOLED, reasons=tuple(reasons))
            else:
                why = [(f"published pooled estimate ({it.quality}): shown as published, never re-pooled with other "
                        "meta-analyses or with its own trials")]
                if it.ci_low is None:
                    why.append("no interval printed")
                decided[it.id] = with_changes(it, status=ItemStatus.ALREADY_POOLED, reasons=tuple(why))
        elif it.usable:
            if it.study_key in seen_studies:
                decided[it.id] = with_changes(it, status=ItemStatus.SINGLE_STUDY, reasons=(
                    f"another figure of the same study ({seen_studies[it.study_key]}): not independent",))
            else:
                seen_studies[it.study_key] = it.id
                candidates.append(it)
        else:
            decided[it.id] = with_changes(it, status=ItemStatus.NOT_POOLED, reasons=tuple(_not_pooled_reasons(it)))

    members, measure, unit, smd = _choose_pool(candidates)
    pooled: PooledEstimate | None = None
    note = ""
    if members:
        pooled = _pool(members, measure, unit, smd)
        member_ids = {m.id for m in members}
        for it in candidates:
            if it.id in member_ids:
                decided[it.id] = with_changes(it, status=ItemStatus.POOLED, reasons=(
                    (f"pooled here with {len(members) - 1} other independent primary "
                     f"stud{'y' if len(members) == 2 else 'ies'}"),))
            else:
                what = f"{it.effect_measure} in {it.unit.value}" if _family(it) == "continuous" else it.effect_measure
                decided[it.id] = with_changes(it, status=ItemStatus.SINGLE_STUDY, reasons=(
                    f"not pooled with the others: {what}, the pool is {measure} ({unit})",))
    else:
        n = len(candidates)
        note = ("no independent primary study with a usable effect" if n == 0 else
                "one independent primary study with a usable effect: nothing to pool" if n == 1 else
                "independent primary studies differ in unit or measure and cannot be standardised: not pooled")
        for it in candidates:
            decided[it.id] = with_changes(it, status=ItemStatus.SINGLE_STUDY, reasons=(
                "the only independent primary study with a usable effect in this group" if n == 1 else
                "no second independent study on the same unit or measure",))
    return [decided[i.id] for i in group_items], pooled, note


def _choose_pool(candidates: list[EvidenceItem]) -> tuple[list[EvidenceItem], str, str, bool]:
    """The studies to pool, the measure, the unit and whether it is an SMD (empty when none)."""
    if len(candidates) < 2:
        return [], "", "", False
    if _family(candidates[0]) == "continuous":
        by_unit: dict[str, list[EvidenceItem]] = {}
        for c in candidates:
            if c.effect_measure == "MD":
                by_unit.setdefault(c.unit.value, []).append(c)
        best = max(by_unit.values(), key=len, default=[])
        if len(best) >= 2:
            return best, "MD", best[0].unit.value, False
        with_sd = [c for c in candidates if c.arm is not None and c.arm.statistic is ArmStatistic.MEAN_SD]
        if len(with_sd) == len(candidates) and len({c.unit for c in candidates}) > 1:
            return candidates, "SMD", "SD units", True
        return [], "", "", False
    by_measure: dict[str, list[EvidenceItem]] = {}
    for c in candidates:
        if c.effect_measure in _BINARY_POOL_ORDER:
            by_measure.setdefault(str(c.effect_measure), []).append(c)
    ranked = sorted(by_measure, key=lambda m: (-len(by_measure[m]), _BINARY_POOL_ORDER.index(m)))
    if ranked and len(by_measure[ranked[0]]) >= 2:
        meas = ranked[0]
        return by_measure[meas], meas, "ratio" if meas in ("RR", "OR") else "risk", False
    return [], "", "", False


def _pool(members: list[EvidenceItem], measure: str, unit: str, smd: bool) -> PooledEstimate:
    labels = [short_citation(m.citation, m.study) for m in members]
    notes: list[str] = []
    if smd:
        arms = [m.arm for m in members if m.arm is not None]

        def col(name: str) -> list[float]:
            return [float(getattr(a, name)) for a in arms]

        table = effect_sizes_continuous(n1=col("mis_n"), mean1=col("mis_mean"), sd1=col("mis_sd"), n2=col("open_n"),
                                        mean2=col("open_mean"), sd2=col("open_sd"), measure="SMD", labels=labels)
        notes.append("units differ (" + ", ".join(sorted({m.unit.value for m in members})) + "): pooled as a "
                     "standardised mean difference (Hedges' g), which has no clinical unit")
    else:
        meas = CI_MEASURES[measure]
        yi = [float(m.yi) for m in members if m.yi is not None]
        vi = [float(m.vi) for m in members if m.vi is not None]
        table = effect_sizes_from_variances(yi, vi, measure=meas, labels=labels)
    result = pool_studies(table, method="REML", hksj=True, ci_level=CI_LEVEL)
    if len(members) == 2 and not any("2 studies" in n for n in result.notes):
        notes.append("only 2 studies: the HKSJ interval uses t with 1 degree of freedom and is very wide")
    notes.append("the primary studies pooled here may also be part of the published meta-analyses listed "
                 "with them; the two kinds of figure are not independent and are never combined")
    ns = [m.n_patients for m in members]
    r = result.ratio
    return PooledEstimate(
        measure=measure, unit=unit, k=result.k, n_patients=sum(n for n in ns if n is not None) if all(
            n is not None for n in ns) else None,
        estimate=r.estimate if r else result.estimate, ci_low=r.ci_low if r else result.ci_low,
        ci_high=r.ci_high if r else result.ci_high, ci_level=result.ci_level,
        pi_low=(r.pi_low if r else result.pi_low), pi_high=(r.pi_high if r else result.pi_high),
        tau2=result.tau2, i2=result.i2, q=result.q, q_df=result.q_df, q_p_value=result.q_p_value,
        method="REML", description=result.description, study_ids=tuple(m.id for m in members),
        citations=tuple(m.citation for m in members), notes=(*result.notes, *notes), result=result)


def _group_items(items: Sequence[EvidenceItem]) -> tuple[EvidenceGroup, ...]:
    buckets: dict[tuple[Comparison, Outcome, Timepoint, str], list[EvidenceItem]] = {}
    for it in items:
        buckets.setdefault((it.comparison, it.outcome, it.timepoint_norm, _family(it)), []).append(it)
    groups: list[EvidenceGroup] = []
    for (cmp, out, tp, fam), members in buckets.items():
        decided, pooled, note = _decide(members)
        units = tuple(dict.fromkeys(i.unit.value for i in decided if i.unit not in (Unit.NONE,)))
        groups.append(EvidenceGroup(cmp, out, tp, fam, units, tuple(decided), pooled, note))
    groups.sort(key=lambda g: (_COMPARISON_ORDER[g.comparison], _OUTCOME_ORDER[g.outcome],
                               _TIME_ORDER[g.timepoint_norm], g.family))
    return tuple(groups)


@functools.cache
def _shipped_groups() -> tuple[EvidenceGroup, ...]:
    return _group_items(build_items())


def evidence_groups(studies: Iterable[PublishedEstimate] | None = None,
                    arms: Iterable[ArmSummary] | None = None) -> tuple[EvidenceGroup, ...]:
    """Every group of the literature base with its pool (cached for the shipped data)."""
    if studies is None and arms is None:
        return _shipped_groups()
    return _group_items(build_items(studies, arms))


def _claim_keys(claim: str | Iterable[str] | None) -> tuple[str, ...]:
    if claim is None:
        return ()
    keys = (claim,) if isinstance(claim, str) else tuple(claim)
    for k in keys:
        claim_evidence(k)  # an unknown key raises a ValidationError naming the known ones
    return tuple(dict.fromkeys(keys))


def summarize_evidence(claim: str | Iterable[str] | None = None, comparison: str | None = None, *,
                       studies: Iterable[PublishedEstimate] | None = None,
                       arms: Iterable[ArmSummary] | None = None) -> EvidenceReport:
    """The literature base in groups, with what was pooled, what was already pooled and why the
    rest was not (module docstring).

    Parameters
    ----------
    claim : str or iterable of str, optional
        Scorecard claim key(s) (``domain.claims``): keep the groups whose rows inform the
        claim (any relation of the claims map). Default: every group.
    comparison : str, optional
        ``discectomy``, ``decompression`` or ``fusion`` (with the ``cross_cutting`` rows of mixed
        lumbar procedures), ``cross_cutting``, ``pooled`` (all) or ``surgery_vs_conservative``
        (nothing: the base compares MIS with open surgery only).
    studies, arms : iterable, optional
        Literature rows to use instead of the shipped package data (for tests and local files).

    Returns
    -------
    EvidenceReport

    Raises
    ------
    ValidationError
        For an unknown claim key or comparison, naming the allowed values.

    Examples
    --------
    >>> r = summarize_evidence(claim="fluoro_dose", comparison="fusion")
    >>> g = next(g for g in r.groups if g.outcome == "radiation_dose")
    >>> [(i.id, i.status.value) for i in g.items][:2]
    [('fus-pmc8119907-dose-total', 'single_study'), ('fus-pmc8119907-dose-intraop', 'single_study')]
    """
    keys = _claim_keys(claim)
    if comparison is not None and comparison not in COMPARISON_KEYS:
        raise ValidationError(field="comparison", value=comparison, allowed=COMPARISON_KEYS)
    notes: list[str] = []
    groups = evidence_groups(studies, arms)
    spec = next((c for c in COMPARISONS if c.key == comparison), None)
    if spec is not None and spec.against_conservative:
        groups = ()
        notes.append("The literature base compares MIS with open surgery only; it holds no figure for surgery "
                     "versus conservative care.")
    elif comparison in FAMILIES:
        groups = tuple(g for g in groups if g.comparison in (Comparison(comparison), Comparison.CROSS_CUTTING))
    elif spec is not None and set(spec.families) != set(FAMILIES):  # some procedure families only
        chosen = {Comparison(f) for f in spec.families} | {Comparison.CROSS_CUTTING}
        groups = tuple(g for g in groups if g.comparison in chosen)
    elif comparison == "cross_cutting":
        groups = tuple(g for g in groups if g.comparison is Comparison.CROSS_CUTTING)
    if keys:
        groups = tuple(g for g in groups if any(k in g.claims for k in keys))
        for k in keys:
            ce = claim_evidence(k)
            if not any(k in g.claims for g in groups):
                notes.append(f"{k}: no literature row informs this claim"
                             + (f" here ({ce.gap})" if ce.gap else " for this comparison") + ".")
    if groups and not any(g.pooled for g in groups):
        notes.append("No group has two independent primary studies with a usable effect on one unit: nothing is "
                     "pooled here; published meta-analyses are shown as published.")
    method = (f"{POOLING_METHOD}, over at least two independent primary studies (not meta-analyses or reviews) of "
              "one comparison, outcome, timepoint and effect family; arm means and SDs give mean differences "
              "(standardised only when no two studies share a unit), events give risk ratios, published estimates "
              "with a 95% interval give their back-calculated variance. Published meta-analyses are listed as "
              "already pooled and never re-pooled; flagged, non-poolable, median and narrative rows are listed "
              "with the reason and never pooled.")
    return EvidenceReport(keys, comparison, groups, method, tuple(notes))
