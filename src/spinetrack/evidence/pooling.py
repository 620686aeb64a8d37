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

import enum
import functools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal

from spinetrack.errors import InputError, ValidationError
from spinetrack.evidence.base import (
    ArmStatistic,
    ArmSummary,
    Citation,
    Comparison,
    Design,
    Finding,
    Flag,
    Measure,
    Outcome,
    PublishedEstimate,
    Timepoint,
    Unit,
    load_arm_data,
    load_studies,
)
from spinetrack.evidence.claims_map import CLAIM_EVIDENCE, claim_evidence, relation
from spinetrack.stats.meta import (
    MetaResult,
    effect_sizes_binary,
    effect_sizes_continuous,
    effect_sizes_from_ci,
    effect_sizes_from_variances,
    pool_studies,
)

__all__ = [
    "COMPARISON_KEYS",
    "POOLING_METHOD",
    "EvidenceGroup",
    "EvidenceItem",
    "EvidenceReport",
    "ItemStatus",
    "PooledEstimate",
    "build_items",
    "citation_as_dict",
    "citation_key",
    "evidence_groups",
    "short_citation",
    "summarize_evidence",
    "unit_text",
]

#: The random-effects model of every pool built here (stated with each pool).
POOLING_METHOD: Final = ("random effects, REML tau^2, Hartung-Knapp-Sidik-Jonkman interval (t, k - 1 df) and "
                         "prediction interval")
#: Comparison keys accepted by :func:`summarize_evidence` (the scorecard's keys plus ``cross_cutting``).
COMPARISON_KEYS: Final = ("discectomy", "decompression", "fusion", "cross_cutting", "pooled",
                          "surgery_vs_conservative")

_CI_LEVEL: Final = 0.95
_META_DESIGNS: Final = frozenset({Design.MA_RCT, Design.MA_OBS, Design.SR, Design.REVIEW})
_EFFECT_MEASURES: Final = frozenset({Measure.MD, Measure.SMD, Measure.RR, Measure.OR, Measure.RD,
                                     Measure.DIFFERENCE_UNSPECIFIED, Measure.RATIO_OF_MEANS})
_RATIO_MEASURES: Final = frozenset({"RR", "OR", Measure.RATIO_OF_MEANS.value})
_CONTINUOUS_MEASURES: Final = frozenset({Measure.MD, Measure.SMD, Measure.DIFFERENCE_UNSPECIFIED,
                                         Measure.RATIO_OF_MEANS, Measure.MEAN_PAIR, Measure.MEDIAN_PAIR,
                                         Measure.RANGE_PAIR})
_BINARY_MEASURES: Final = frozenset({Measure.RR, Measure.OR, Measure.RD, Measure.PROPORTION_PAIR,
                                     Measure.COUNT_PAIR, Measure.COMBINED_PROPORTION})
_BINARY_OUTCOMES: Final = frozenset({
    Outcome.RECURRENCE, Outcome.TRANSFUSION, Outcome.COMPLICATIONS_ANY, Outcome.COMPLICATIONS_MAJOR,
    Outcome.INFECTION, Outcome.DURAL_TEAR, Outcome.REOPERATION, Outcome.ADJACENT_SEGMENT_DISEASE,
    Outcome.FUSION_RATE, Outcome.GOOD_RECOVERY, Outcome.SATISFACTION})
_FLAG_WORDS: Final = {
    Flag.UNVERIFIED: "unverified",
    Flag.CHECK_FULL_TEXT: "not yet checked against the full text",
    Flag.UNIT_NOT_STATED: "unit not stated",
    Flag.INCONSISTENT: "printed numbers inconsistent",
    Flag.MEDIAN_NOT_MEAN: "medians, not means",
}
_FINDING_WORDS: Final = {
    Finding.FAVOURS_MIS: "favours MIS",
    Finding.FAVOURS_OPEN: "favours open",
    Finding.NO_SIGNIFICANT_DIFFERENCE: "no significant difference",
    Finding.SIGNIFICANT_DIRECTION_NOT_STATED: "significant, direction not stated",
    Finding.NOT_TESTED: "not tested",
}
_DESIGN_WORDS: Final = {
    Design.MA_RCT: "meta-analysis of RCTs",
    Design.MA_OBS: "meta-analysis including observational studies",
    Design.SR: "systematic review",
    Design.REVIEW: "narrative review",
    Design.RCT: "RCT",
    Design.COHORT: "cohort study",
    Design.REGISTRY: "registry study",
    Design.CONF: "conference abstract",
    Design.SINGLE_ARM: "single-arm series",
}
_UNIT_WORDS: Final = {
    Unit.NOT_STATED: "(unit not stated)", Unit.VAS_0_100: "VAS points (0-100)", Unit.VAS_POINTS: "VAS points",
    Unit.NRS_0_10: "NRS points (0-10)", Unit.ODI_POINTS: "ODI points", Unit.RDQ_POINTS: "RDQ points",
    Unit.FUNCTION_0_100: "function points (0-100)", Unit.MGY_PER_LEVEL: "mGy per level", Unit.PERCENT: "%",
    Unit.NONE: "", Unit.RATIO: "", Unit.COUNT: "",
}
_COMPARISON_ORDER: Final = {c: i for i, c in enumerate(Comparison)}
_OUTCOME_ORDER: Final = {o: i for i, o in enumerate(Outcome)}
_TIME_ORDER: Final = {t: i for i, t in enumerate(Timepoint)}


class ItemStatus(enum.StrEnum):
    """What was done with a literature row (see the module docstring)."""

    POOLED = "pooled"
    ALREADY_POOLED = "already_pooled"
    SINGLE_STUDY = "single_study"
    NOT_POOLED = "not_pooled"


# ----------------------------------------------------------------------------- citations


def citation_key(citation: Citation, study: str = "") -> str:
    """A stable key for one source: DOI, else PMID, else PMCID, else address, else the label.

    Rows with the same key come from the same publication, so they are never treated as
    independent studies.

    Examples
    --------
    >>> c = Citation("", 2018, "", "Yonsei Med J", "", "", "", "10.3349/YMJ.2018.59.4.524", "", "", "", "")
    >>> citation_key(c)
    'doi:10.3349/ymj.2018.59.4.524'
    """
    if citation.doi:
        return "doi:" + citation.doi.lower()
    if citation.pmid:
        return "pmid:" + citation.pmid
    if citation.pmcid:
        return "pmc:" + citation.pmcid.upper()
    if citation.url:
        return "url:" + citation.url
    return "study:" + study


def short_citation(citation: Citation, study: str = "") -> str:
    """``Park Y et al. 2018``-style label (first author, year), else the study label.

    Examples
    --------
    >>> short_citation(Citation("Sun ZJ, Li WJ, Zhao Y, Qiu GX", 2013, "", "Chin Med J", "126", "20",
    ...                         "3962", "", "", "", "", ""))
    'Sun ZJ et al. 2013'
    """
    authors = citation.authors.strip()
    if authors:
        first = authors.split(",")[0].replace(" et al.", "").replace(" et al", "").strip()
        many = "," in authors or "et al" in authors
        text = first + (" et al." if many else "")
        return f"{text} {citation.year}" if citation.year else text
    if study:
        return study
    return " ".join(x for x in (citation.journal, str(citation.year or "")) if x) or citation.link


def citation_as_dict(citation: Citation, study: str = "") -> dict[str, Any]:
    """JSON form of a citation: its fields, the one-line ``text``, ``short`` label, ``key`` and
    the DOI / PubMed / PMC links (``doi_url``, ``pubmed_url``, ``pmc_url``) when known.

    Examples
    --------
    >>> c = Citation("Smith N et al.", 2013, "", "Eur Spine J", "22", "11", "2458-2465",
    ...              "10.1007/s00586-013-2848-8", "23793558", "", "", "")
    >>> d = citation_as_dict(c)
    >>> d["doi_url"], d["pubmed_url"], d["short"]
    ('https://doi.org/10.1007/s00586-013-2848-8', 'https://pubmed.ncbi.nlm.nih.gov/23793558/', 'Smith N et al. 2013')
    """
    return {
        "authors": citation.authors, "year": citation.year, "title": citation.title, "journal": citation.journal,
        "volume": citation.volume, "issue": citation.issue, "pages": citation.pages, "doi": citation.doi,
        "pmid": citation.pmid, "pmcid": citation.pmcid, "url": citation.url, "alt_url": citation.alt_url,
        "study": study, "text": citation.format(), "short": short_citation(citation, study),
        "key": citation_key(citation, study),
        "doi_url": f"https://doi.org/{citation.doi}" if citation.doi else None,
        "pubmed_url": f"https://pubmed.ncbi.nlm.nih.gov/{citation.pmid}/" if citation.pmid else None,
        "pmc_url": f"https://pmc.ncbi.nlm.nih.gov/articles/{citation.pmcid}/" if citation.pmcid else None,
    }


# ----------------------------------------------------------------------------- items


def _num(x: float | None) -> str:
    """A number as text: up to 2 decimals (3 significant digits below 1), no trailing zeros."""
    if x is None or not math.isfinite(x):
        return "?"
    if x != 0 and abs(x) < 1:
        text = f"{x:.{max(2, 2 - math.floor(math.log10(abs(x))))}f}"
    else:
        text = f"{x:.2f}"
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
    """One literature figure as :func:`summarize_evidence` lists it.

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
        Study label and the source key (:func:`citation_key`) that decides independence.
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
        return self.design in _META_DESIGNS or (self.k_studies or 1) > 1

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
        parts = [_DESIGN_WORDS.get(self.design, self.design.value)]
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
            "ci_level": _CI_LEVEL if self.ci_low is not None else None, "effect_source": self.effect_source,
            "figure": self.figure, "finding": self.finding.value, "p": self.p or None,
            "n_patients": self.n_patients, "k_studies": self.k_studies, "design": self.design.value,
            "design_detail": self.design_detail, "certainty": self.certainty, "quality": self.quality,
            "flags": list(self.flags), "flag_text": [_FLAG_WORDS[Flag(f)] for f in self.flags],
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
            lo, hi = t.study_intervals(_CI_LEVEL)
            return _Effect("MD", float(t.yi[0]), float(lo[0]), float(hi[0]), float(t.yi[0]), float(t.vi[0]),
                           src + " (means and SDs; Wald interval)")
        if (arm.statistic is ArmStatistic.EVENTS and arm.mis_n and arm.open_n and arm.mis_events is not None
                and arm.open_events is not None):
            t = effect_sizes_binary(events1=[arm.mis_events], n1=[arm.mis_n], events2=[arm.open_events],
                                    n2=[arm.open_n], measure="RR")
            lo, hi = t.study_intervals(_CI_LEVEL)
            corrected = " after adding 0.5 to each cell (a zero cell)" if bool(t.continuity_corrected[0]) else ""
            return _Effect("RR", math.exp(float(t.yi[0])), math.exp(float(lo[0])), math.exp(float(hi[0])),
                           float(t.yi[0]), float(t.vi[0]), src + f" (events; Wald interval on the log scale{corrected})")
    except InputError:
        return None
    return None


_BINARY_POOL_ORDER: Final = ("RR", "OR", "RD")
_CI_MEASURES: Final[dict[str, Literal["MD", "SMD", "RR", "OR", "RD"]]] = {
    "MD": "MD", "SMD": "SMD", "RR": "RR", "OR": "OR", "RD": "RD"}


def _published_effect(row: PublishedEstimate) -> _Effect | None:
    if row.measure not in _EFFECT_MEASURES or row.norm_estimate is None:
        return None
    lo, hi = row.norm_ci_low, row.norm_ci_high
    yi = vi = None
    meas = _CI_MEASURES.get(row.measure.value)
    if meas is not None and lo is not None and hi is not None and row.poolable and not row.flags:
        try:
            t = effect_sizes_from_ci([row.norm_estimate], [lo], [hi], measure=meas,
                                     ci_level=row.ci_level or _CI_LEVEL)
            yi, vi = float(t.yi[0]), float(t.vi[0])
        except InputError:
            yi = vi = None
    return _Effect(row.measure.value, row.norm_estimate, lo, hi, yi, vi, "published")


def unit_text(unit: Unit | str) -> str:
    """A unit code in words (``VAS_0_100`` → ``VAS points (0-100)``; empty for ratios and counts).

    Examples
    --------
    >>> unit_text("not_stated"), unit_text("mL")
    ('(unit not stated)', 'mL')
    """
    try:
        code = Unit(unit)
    except ValueError:
        return str(unit)
    return _UNIT_WORDS.get(code, code.value)


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
            text = f"{label} {est} ({_num(effect.ci_low)} to {_num(effect.ci_high)}){'' if label in _RATIO_MEASURES else u}"
        else:
            text = f"{label} {est}{'' if label in _RATIO_MEASURES else u} (no interval printed)"
        if effect.source != "published":
            text = f"{text}; from {_pair_figure(row, arm, unit.value)}"
        return text + p_text
    if measure is Measure.NARRATIVE:
        return f"narrative: {_FINDING_WORDS[finding]}{p_text}"
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
    return (text or _FINDING_WORDS[finding]) + p_text


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
    return tuple(_with(i, claims=_claim_relations(i.record)) for i in items)


def _with(item: EvidenceItem, **changes: Any) -> EvidenceItem:
    return replace(item, **changes)


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
        out.append("flagged: " + ", ".join(_FLAG_WORDS[Flag(f)] for f in item.flags))
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
                decided[it.id] = _with(it, status=ItemStatus.NOT_POOLED, reasons=tuple(reasons))
            else:
                why = [(f"published pooled estimate ({it.quality}): shown as published, never re-pooled with other "
                        "meta-analyses or with its own trials")]
                if it.ci_low is None:
                    why.append("no interval printed")
                decided[it.id] = _with(it, status=ItemStatus.ALREADY_POOLED, reasons=tuple(why))
        elif it.usable:
            if it.study_key in seen_studies:
                decided[it.id] = _with(it, status=ItemStatus.SINGLE_STUDY, reasons=(
                    f"another figure of the same study ({seen_studies[it.study_key]}): not independent",))
            else:
                seen_studies[it.study_key] = it.id
                candidates.append(it)
        else:
            decided[it.id] = _with(it, status=ItemStatus.NOT_POOLED, reasons=tuple(_not_pooled_reasons(it)))

    members, measure, unit, smd = _choose_pool(candidates)
    pooled: PooledEstimate | None = None
    note = ""
    if members:
        pooled = _pool(members, measure, unit, smd)
        member_ids = {m.id for m in members}
        for it in candidates:
            if it.id in member_ids:
                decided[it.id] = _with(it, status=ItemStatus.POOLED, reasons=(
                    (f"pooled here with {len(members) - 1} other independent primary "
                     f"stud{'y' if len(members) == 2 else 'ies'}"),))
            else:
                what = f"{it.effect_measure} in {it.unit.value}" if _family(it) == "continuous" else it.effect_measure
                decided[it.id] = _with(it, status=ItemStatus.SINGLE_STUDY, reasons=(
                    f"not pooled with the others: {what}, the pool is {measure} ({unit})",))
    else:
        n = len(candidates)
        note = ("no independent primary study with a usable effect" if n == 0 else
                "one independent primary study with a usable effect: nothing to pool" if n == 1 else
                "independent primary studies differ in unit or measure and cannot be standardised: not pooled")
        for it in candidates:
            decided[it.id] = _with(it, status=ItemStatus.SINGLE_STUDY, reasons=(
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
        meas = _CI_MEASURES[measure]
        yi = [float(m.yi) for m in members if m.yi is not None]
        vi = [float(m.vi) for m in members if m.vi is not None]
        table = effect_sizes_from_variances(yi, vi, measure=meas, labels=labels)
    result = pool_studies(table, method="REML", hksj=True, ci_level=_CI_LEVEL)
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
        Scorecard claim key(s) (``analysis.claims``): keep the groups whose rows inform the
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
    if comparison == "surgery_vs_conservative":
        groups = ()
        notes.append("The literature base compares MIS with open surgery only; it holds no figure for surgery "
                     "versus conservative care.")
    elif comparison in ("discectomy", "decompression", "fusion"):
        groups = tuple(g for g in groups if g.comparison in (Comparison(comparison), Comparison.CROSS_CUTTING))
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
