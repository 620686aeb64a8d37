"""Every row of the literature base as an :class:`EvidenceItem`: its effect as MIS − open or
MIS / open (published, or computed from the published arm data with a Wald interval), its
figure in words, its quality label, and the scorecard claims it informs.

:func:`build_items` lists the ``studies.csv`` rows, then the ``arm_data.csv`` rows no study row
points to; what is done with each row (:class:`ItemStatus`) is decided when the items are
grouped and pooled (``evidence.pooling``).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal

from spinetrack.errors import InputError
from spinetrack.evidence.arms import load_arm_data
from spinetrack.evidence.citations import citation_as_dict, citation_key
from spinetrack.evidence.claims_map import CLAIM_EVIDENCE, relation
from spinetrack.evidence.records import ArmSummary, Citation, PublishedEstimate
from spinetrack.evidence.studies import load_studies
from spinetrack.evidence.vocab import (
    META_DESIGNS,
    ArmStatistic,
    Comparison,
    Design,
    Finding,
    Flag,
    Measure,
    Outcome,
    Timepoint,
    Unit,
)
from spinetrack.evidence.wording import DESIGN_WORDS, FINDING_WORDS, FLAG_WORDS, unit_text
from spinetrack.stats.meta import effect_sizes_binary, effect_sizes_continuous, effect_sizes_from_ci

__all__ = ["CI_LEVEL", "CI_MEASURES", "EvidenceItem", "ItemStatus", "build_items", "with_changes"]

#: Level of every interval computed here.
CI_LEVEL: Final = 0.95
_EFFECT_MEASURES: Final = frozenset({Measure.MD, Measure.SMD, Measure.RR, Measure.OR, Measure.RD,
                                     Measure.DIFFERENCE_UNSPECIFIED, Measure.RATIO_OF_MEANS})
_RATIO_MEASURES: Final = frozenset({"RR", "OR", Measure.RATIO_OF_MEANS.value})
CI_MEASURES: Final[dict[str, Literal["MD", "SMD", "RR", "OR", "RD"]]] = {
    "MD": "MD", "SMD": "SMD", "RR": "RR", "OR": "OR", "RD": "RD"}


class ItemStatus(enum.StrEnum):
    """What was done with a literature row (the statuses are described in :mod:`spinetrack.evidence.pooling`)."""

    POOLED = "pooled"
    ALREADY_POOLED = "already_pooled"
    SINGLE_STUDY = "single_study"
    NOT_POOLED = "not_pooled"


def _num(x: float | None) -> str:
    """A number as text: up to 2 decimals (3 significant digits below 1), no trailing zeros."""
    if x is None or not math.isfinite(x):
        return "?"
    digits = max(2, 2 - math.floor(math.log10(abs(x)))) if x != 0 and abs(x) < 1 else 2
    text = f"{x:.{digits}f}"
    text = text.rstrip("0").rstrip(".") if "." in text else text
    return "0" if text in ("-0", "") else text


@dataclass(frozen=True, slots=True)
class _Effect:
    measure: str
    estimate: float
    ci_low: float | None
    ci_high: float | None
    yi: float | None
    vi: float | None
    source: str


@dataclass(frozen=True, eq=False)
class EvidenceItem:
    """One literature figure as :func:`~spinetrack.evidence.pooling.summarize_evidence` lists it.

    Attributes
    ----------
    id : str
        The ``studies.csv`` row id, or the ``arm_data.csv`` id for arm rows no study row
        points to.
    source : str
        ``"studies"`` or ``"arm_data"``.
    arm_id : str
        The linked ``arm_data.csv`` row of a study row, if any.
    study, study_key : str
        Study label and the source key (:func:`~spinetrack.evidence.citations.citation_key`) that decides independence.
    effect_measure : str or None
        Measure of ``estimate``: ``MD``, ``SMD``, ``RR``, ``OR``, ``RD``,
        ``difference_unspecified``; None without an effect.
    estimate, ci_low, ci_high : float or None
        The effect as MIS − open (differences) or MIS / open (ratios), in ``unit``; the
        published normalised figure, or computed here from the arm data (``effect_source``).
    effect_source : str or None
        ``"published"`` or ``"computed from the published arm data"``.
    yi, vi : float or None
        The effect on the analysis scale (log for ratios) and its variance, when it can be
        pooled.
    status : ItemStatus
    reasons : tuple of str
        Why the row has its status (always given for ``not_pooled``).
    claims : dict of str to str
        Claim key → relation (``same_scale``, ``convertible``, ``unit_mismatch``, ``proxy``,
        ``narrative``) for every scorecard claim the row informs.
    """

    id: str
    source: str
    arm_id: str
    study: str
    study_key: str
    comparison: Comparison
    subcomparison: str
    outcome: Outcome
    outcome_label: str
    timepoint: str
    timepoint_norm: Timepoint
    measure: Measure
    unit: Unit
    effect_measure: str | None
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    effect_source: str | None
    yi: float | None
    vi: float | None
    figure: str
    finding: Finding
    p: str
    mis_value: float | None
    open_value: float | None
    n_mis: int | None
    n_open: int | None
    n_patients: int | None
    k_studies: int | None
    design: Design
    design_detail: str
    certainty: str | None
    flags: tuple[str, ...]
    against_claim: bool
    poolable: bool
    citation: Citation
    notes: str
    status: ItemStatus = ItemStatus.NOT_POOLED
    reasons: tuple[str, ...] = ()
    claims: dict[str, str] = field(default_factory=dict)
    record: PublishedEstimate | ArmSummary | None = field(default=None, repr=False)
    arm: ArmSummary | None = field(default=None, repr=False)

    @property
    def is_published_pool(self) -> bool:
        """True for a meta-analysis, review, or any row pooling more than one study."""
        return self.design in META_DESIGNS or (self.k_studies or 1) > 1

    @property
    def is_ratio(self) -> bool:
        """True when ``estimate`` is a ratio (RR, OR, ratio of means)."""
        return self.effect_measure in _RATIO_MEASURES

    @property
    def usable(self) -> bool:
        """A primary study's effect that may enter a pool: unflagged, poolable, with ``yi``/``vi``."""
        return (not self.is_published_pool and not self.flags and self.yi is not None and self.vi is not None
                and self.effect_measure in ("MD", "SMD", "RR", "OR", "RD") and self.unit is not Unit.NOT_STATED
                and self.timepoint_norm is not Timepoint.BASELINE)

    @property
    def quality(self) -> str:
        """The quality label shown with the figure, e.g. ``meta-analysis of RCTs, 16 studies, GRADE low``."""
        parts = [DESIGN_WORDS.get(self.design, self.design.value)]
        if self.design is Design.CONF and self.is_published_pool:
            parts = ["meta-analysis in a conference abstract"]
        if self.is_published_pool and self.k_studies:
            parts.append(f"{self.k_studies} studies")
        if self.certainty:
            parts.append("GRADE " + self.certainty.replace("_", " "))
        return ", ".join(parts)

    @property
    def against(self) -> bool:
        """True when the row goes against the MIS claim (marked AGAINST, or favours open)."""
        return self.against_claim or self.finding is Finding.FAVOURS_OPEN

    def as_dict(self, *, compact: bool = False) -> dict[str, Any]:
        """JSON-serialisable mapping; ``compact`` leaves out the claim relations and arm values."""
        d: dict[str, Any] = {
            "id": self.id, "source": self.source, "arm_id": self.arm_id or None, "study": self.study,
            "comparison": self.comparison.value, "subcomparison": self.subcomparison,
            "outcome": self.outcome.value, "outcome_label": self.outcome_label, "timepoint": self.timepoint,
            "timepoint_norm": self.timepoint_norm.value, "measure": self.measure.value, "unit": self.unit.value,
            "effect_measure": self.effect_measure, "estimate": _finite(self.estimate),
            "ci_low": _finite(self.ci_low), "ci_high": _finite(self.ci_high),
            "ci_level": CI_LEVEL if self.ci_low is not None else None, "effect_source": self.effect_source,
            "figure": self.figure, "finding": self.finding.value, "p": self.p or None,
            "n_patients": self.n_patients, "k_studies": self.k_studies, "design": self.design.value,
            "design_detail": self.design_detail, "certainty": self.certainty, "quality": self.quality,
            "flags": list(self.flags), "flag_text": [FLAG_WORDS[Flag(f)] for f in self.flags],
            "against_claim": self.against_claim, "against": self.against, "poolable": self.poolable,
            "status": self.status.value, "reasons": list(self.reasons),
            "citation": citation_as_dict(self.citation, self.study), "notes": self.notes,
        }
        if not compact:
            d.update({"mis_value": self.mis_value, "open_value": self.open_value, "n_mis": self.n_mis,
                      "n_open": self.n_open, "yi": _finite(self.yi), "vi": _finite(self.vi),
                      "claims": dict(self.claims)})
        return d


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _arm_effect(arm: ArmSummary | None) -> _Effect | None:
    """MD (mean/SD) or RR (events) of a poolable arm row, with its Wald 95% interval."""
    if arm is None or not arm.poolable or arm.flags:
        return None
    src = "computed from the published arm data"
    try:
        if (arm.statistic is ArmStatistic.MEAN_SD and arm.mis_n and arm.open_n and arm.mis_mean is not None
                and arm.mis_sd is not None and arm.open_mean is not None and arm.open_sd is not None):
            t = effect_sizes_continuous(n1=[arm.mis_n], mean1=[arm.mis_mean], sd1=[arm.mis_sd], n2=[arm.open_n],
                                        mean2=[arm.open_mean], sd2=[arm.open_sd], measure="MD")
            lo, hi = t.study_intervals(CI_LEVEL)
            return _Effect("MD", float(t.yi[0]), float(lo[0]), float(hi[0]), float(t.yi[0]), float(t.vi[0]),
                           src + " (means and SDs; Wald interval)")
        if (arm.statistic is ArmStatistic.EVENTS and arm.mis_n and arm.open_n and arm.mis_events is not None
                and arm.open_events is not None):
            t = effect_sizes_binary(events1=[arm.mis_events], n1=[arm.mis_n], events2=[arm.open_events],
                                    n2=[arm.open_n], measure="RR")
            lo, hi = t.study_intervals(CI_LEVEL)
            corrected = " after adding 0.5 to each cell (a zero cell)" if bool(t.continuity_corrected[0]) else ""
            return _Effect("RR", math.exp(float(t.yi[0])), math.exp(float(lo[0])), math.exp(float(hi[0])),
                           float(t.yi[0]), float(t.vi[0]),
                           src + f" (events; Wald interval on the log scale{corrected})")
    except InputError:
        return None
    return None


def _published_effect(row: PublishedEstimate) -> _Effect | None:
    if row.measure not in _EFFECT_MEASURES or row.norm_estimate is None:
        return None
    lo, hi = row.norm_ci_low, row.norm_ci_high
    yi = vi = None
    meas = CI_MEASURES.get(row.measure.value)
    if meas is not None and lo is not None and hi is not None and row.poolable and not row.flags:
        try:
            t = effect_sizes_from_ci([row.norm_estimate], [lo], [hi], measure=meas,
                                     ci_level=row.ci_level or CI_LEVEL)
            yi, vi = float(t.yi[0]), float(t.vi[0])
        except InputError:
            yi = vi = None
    return _Effect(row.measure.value, row.norm_estimate, lo, hi, yi, vi, "published")


def _pair_figure(row: PublishedEstimate | None, arm: ArmSummary | None, unit: str) -> str:
    u = "" if unit in ("%", "count") else f" {unit_text(unit)}"
    pct = "%" if unit == "%" else ""
    if arm is not None:
        if arm.statistic is ArmStatistic.EVENTS:
            return f"MIS {arm.mis_events}/{arm.mis_n} vs open {arm.open_events}/{arm.open_n} events"
        if arm.statistic is ArmStatistic.PERCENT:
            return f"MIS {_num(arm.mis_pct)}% vs open {_num(arm.open_pct)}%" + _ns(arm.mis_n, arm.open_n)
        if arm.statistic is ArmStatistic.MEDIAN_IQR:
            return (f"median MIS {_num(arm.mis_median)} (IQR {_num(arm.mis_q1)}-{_num(arm.mis_q3)}) vs open "
                    f"{_num(arm.open_median)} (IQR {_num(arm.open_q1)}-{_num(arm.open_q3)}){u}")
        sd = arm.statistic is ArmStatistic.MEAN_SD
        mis = _num(arm.mis_mean) + (f" (SD {_num(arm.mis_sd)})" if sd else "")
        opn = _num(arm.open_mean) + (f" (SD {_num(arm.open_sd)})" if sd else "")
        return f"mean MIS {mis} vs open {opn}{u}" + _ns(arm.mis_n, arm.open_n) + ("" if sd else "; SD not reported")
    if row is None:
        return ""
    what = {Measure.MEDIAN_PAIR: "median ", Measure.MEAN_PAIR: "mean "}.get(row.measure, "")
    if row.mis_events is not None and row.open_events is not None:
        return f"MIS {row.mis_events}/{row.n_mis} vs open {row.open_events}/{row.n_open} events"
    return f"{what}MIS {_num(row.mis_value)}{pct} vs open {_num(row.open_value)}{pct}{u}" + _ns(row.n_mis, row.n_open)


def _ns(n_mis: int | None, n_open: int | None) -> str:
    return f" (n {n_mis} vs {n_open})" if n_mis and n_open else ""


def _figure(row: PublishedEstimate | None, arm: ArmSummary | None, effect: _Effect | None, measure: Measure,
            unit: Unit, finding: Finding, p: str) -> str:
    """The row's numbers in words, e.g. ``MD -269.5 (-292.9 to -246.2) mL``."""
    p_text = f", {p}" if p else ""
    u = f" {unit_text(unit)}".rstrip()
    if effect is not None:
        label = effect.measure
        est = _num(effect.estimate)
        if effect.ci_low is not None and effect.ci_high is not None:
            unit_part = "" if label in _RATIO_MEASURES else u
            text = f"{label} {est} ({_num(effect.ci_low)} to {_num(effect.ci_high)}){unit_part}"
        else:
            text = f"{label} {est}{'' if label in _RATIO_MEASURES else u} (no interval printed)"
        if effect.source != "published":
            text = f"{text}; from {_pair_figure(row, arm, unit.value)}"
        return text + p_text
    if measure is Measure.NARRATIVE:
        return f"narrative: {FINDING_WORDS[finding]}{p_text}"
    if measure is Measure.COMBINED_PROPORTION and row is not None:
        return f"both arms together: {_num(row.estimate)}%{p_text}"
    if measure is Measure.SINGLE_ARM and row is not None:
        return f"MIS arm only: {_num(row.mis_value)}{u}{p_text}"
    if measure is Measure.RANGE_PAIR and row is not None:
        return (f"ranges MIS {_num(row.mis_spread_low)}-{_num(row.mis_spread_high)} vs open "
                f"{_num(row.open_spread_low)}-{_num(row.open_spread_high)}{u}{p_text}")
    if measure in (Measure.DIFFERENCE_UNSPECIFIED, Measure.RATIO_OF_MEANS) and row is not None:
        if row.estimate is None and row.ci_low is not None:
            return f"{measure.value}: interval {_num(row.ci_low)} to {_num(row.ci_high)}{u} (no point estimate){p_text}"
        return f"{measure.value} {_num(row.estimate)} as printed ({row.sign_convention.value}){p_text}"
    text = _pair_figure(row, arm, unit.value)
    return (text or FINDING_WORDS[finding]) + p_text


def _item_from_study(row: PublishedEstimate, arm: ArmSummary | None) -> EvidenceItem:
    effect = _published_effect(row)
    if effect is None and row.measure in (Measure.MEAN_PAIR, Measure.PROPORTION_PAIR, Measure.COUNT_PAIR):
        effect = _arm_effect(arm)
    flags = tuple(sorted({f.value for f in row.flags} | ({f.value for f in arm.flags} if arm else set())))
    p = str(row.p) if row.p is not None else ""
    figure = _figure(row, arm, effect, row.measure, row.unit, row.finding, p)
    unit = row.unit
    n_patients = row.n_patients
    if effect is not None and effect.source != "published" and arm is not None and arm.mis_n and arm.open_n:
        n_patients = arm.mis_n + arm.open_n  # the patients in the two arms the effect compares
    return EvidenceItem(
        id=row.id, source="studies", arm_id=row.arm_id, study=row.study,
        study_key=citation_key(row.citation, row.study), comparison=row.comparison,
        subcomparison=row.subcomparison, outcome=row.outcome, outcome_label=row.outcome_label,
        timepoint=row.timepoint, timepoint_norm=row.timepoint_norm, measure=row.measure, unit=unit,
        effect_measure=None if effect is None else effect.measure,
        estimate=None if effect is None else effect.estimate, ci_low=None if effect is None else effect.ci_low,
        ci_high=None if effect is None else effect.ci_high, effect_source=None if effect is None else effect.source,
        yi=None if effect is None else effect.yi, vi=None if effect is None else effect.vi, figure=figure,
        finding=row.finding, p=p, mis_value=row.mis_value, open_value=row.open_value, n_mis=row.n_mis,
        n_open=row.n_open, n_patients=n_patients, k_studies=row.k_studies, design=row.design,
        design_detail=row.design_detail, certainty=None if row.certainty is None else row.certainty.value,
        flags=flags, against_claim=row.against_claim,
        poolable=row.poolable or bool(arm is not None and arm.poolable and effect is not None),
        citation=row.citation, notes=row.notes, record=row, arm=arm)


def _item_from_arm(arm: ArmSummary) -> EvidenceItem:
    effect = _arm_effect(arm)
    figure = _figure(None, arm, effect, arm.measure, arm.unit, Finding.NOT_TESTED, "")
    n = arm.mis_n + arm.open_n if arm.mis_n is not None and arm.open_n is not None else None
    return EvidenceItem(
        id=arm.id, source="arm_data", arm_id="", study=arm.study, study_key=citation_key(arm.citation, arm.study),
        comparison=arm.comparison, subcomparison=arm.subcomparison, outcome=arm.outcome,
        outcome_label=arm.outcome_label, timepoint=arm.timepoint, timepoint_norm=arm.timepoint_norm,
        measure=arm.measure, unit=arm.unit, effect_measure=None if effect is None else effect.measure,
        estimate=None if effect is None else effect.estimate, ci_low=None if effect is None else effect.ci_low,
        ci_high=None if effect is None else effect.ci_high, effect_source=None if effect is None else effect.source,
        yi=None if effect is None else effect.yi, vi=None if effect is None else effect.vi, figure=figure,
        finding=Finding.NOT_TESTED, p="", mis_value=arm.mis_mean, open_value=arm.open_mean, n_mis=arm.mis_n,
        n_open=arm.open_n, n_patients=n, k_studies=1, design=arm.design, design_detail=arm.design_detail,
        certainty=None, flags=tuple(sorted(f.value for f in arm.flags)), against_claim=False,
        poolable=arm.poolable, citation=arm.citation, notes=arm.notes, record=arm, arm=arm)


def _claim_relations(record: PublishedEstimate | ArmSummary | None) -> dict[str, str]:
    if record is None:
        return {}
    out: dict[str, str] = {}
    for ce in CLAIM_EVIDENCE:
        rel = relation(ce.claim, record)
        if rel is not None:
            out[ce.claim] = rel.value
    return out


def build_items(studies: Iterable[PublishedEstimate] | None = None,
                arms: Iterable[ArmSummary] | None = None) -> tuple[EvidenceItem, ...]:
    """Every literature row as an :class:`EvidenceItem` (status not yet decided).

    Study rows come first, in file order; then the arm rows that no study row points to
    (``arm_id``), so that no figure is listed twice.

    Parameters
    ----------
    studies, arms : iterable, optional
        Default: the shipped ``studies.csv`` and ``arm_data.csv``.

    Returns
    -------
    tuple of EvidenceItem

    Examples
    --------
    >>> items = {i.id: i for i in build_items()}
    >>> wu = items["arm-wu2018-ebl"]          # 79 MIS 163.7 (SD 49.6) vs 88 open 243.3 (SD 70.2) mL
    >>> wu.effect_measure, round(wu.estimate, 1), wu.effect_source.split(" (")[0]
    ('MD', -79.6, 'computed from the published arm data')
    """
    study_rows = tuple(load_studies() if studies is None else studies)
    arm_rows = tuple(load_arm_data() if arms is None else arms)
    by_id = {a.id: a for a in arm_rows}
    linked = {s.arm_id for s in study_rows if s.arm_id}
    items = [_item_from_study(s, by_id.get(s.arm_id)) for s in study_rows]
    items += [_item_from_arm(a) for a in arm_rows if a.id not in linked]
    return tuple(with_changes(i, claims=_claim_relations(i.record)) for i in items)


def with_changes(item: EvidenceItem, **changes: Any) -> EvidenceItem:
    return replace(item, **changes)
