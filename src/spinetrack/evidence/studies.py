"""``studies.csv``: one row per published figure — a pooled or single-study estimate, a pair of
arm figures, or a narrative finding ("no significant difference") — with its citation, loaded
as validated :class:`~spinetrack.evidence.records.PublishedEstimate` records.

Every file is validated when it is loaded: column names, types, the controlled vocabularies,
``ci_low <= estimate <= ci_high``, ``events <= n``, the sign normalisation, the consistency of
the reported finding with the interval, flagged rows never poolable, a DOI, PMID or URL on
every row, unique ids, and links to ``arm_data.csv`` rows that hold the same figures. All
problems in a file are reported at once in an
:class:`~spinetrack.evidence.records.EvidenceDataError` that names the file, line, column and
allowed values.

References
----------
The figures come from the sources named on each row. See ``data/SCHEMA.md`` for the rules
followed when carrying them (flags, units, what was not carried).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Final

from spinetrack.evidence.arms import load_arm_data
from spinetrack.evidence.reader import STUDIES_FILE, load_records, present, read_text
from spinetrack.evidence.records import ArmSummary, PublishedEstimate
from spinetrack.evidence.schema import STUDY_SCHEMA, Row
from spinetrack.evidence.vocab import (
    META_DESIGNS,
    ArmStatistic,
    Certainty,
    Comparison,
    Design,
    Finding,
    Flag,
    Measure,
    Outcome,
    ScaleDirection,
    SignConvention,
    SpreadKind,
    Timepoint,
    Unit,
)

__all__ = ["load_studies"]

_DIFFERENCES: Final = frozenset({Measure.MD, Measure.SMD, Measure.RD, Measure.DIFFERENCE_UNSPECIFIED})
_RATIOS: Final = frozenset({Measure.RR, Measure.OR, Measure.RATIO_OF_MEANS})
_POOLABLE_MEASURES: Final = frozenset({Measure.MD, Measure.SMD, Measure.RR, Measure.OR, Measure.RD})
_PAIRS: Final = frozenset({Measure.PROPORTION_PAIR, Measure.MEAN_PAIR, Measure.MEDIAN_PAIR, Measure.COUNT_PAIR})
_NORMALISED: Final = frozenset({SignConvention.MIS_MINUS_OPEN, SignConvention.OPEN_MINUS_MIS,
                                SignConvention.MIS_OVER_OPEN})


def _parse_estimate(r: Row) -> PublishedEstimate:
    return PublishedEstimate(
        id=r.text("id"), comparison=r.required_choice("comparison", Comparison), subcomparison=r.text("subcomparison"),
        contrast=r.text("contrast"), outcome=r.required_choice("outcome", Outcome),
        outcome_label=r.text("outcome_label"), timepoint=r.text("timepoint"),
        timepoint_norm=r.required_choice("timepoint_norm", Timepoint), measure=r.required_choice("measure", Measure),
        estimate=r.number("estimate"), ci_low=r.number("ci_low"), ci_high=r.number("ci_high"),
        ci_level=r.number("ci_level"), se=r.number("se"), p=r.p_value("p"), i2=r.number("i2"),
        sign_convention=r.required_choice("sign_convention", SignConvention),
        norm_estimate=r.number("norm_estimate"), norm_ci_low=r.number("norm_ci_low"),
        norm_ci_high=r.number("norm_ci_high"), scale_direction=r.required_choice("scale_direction", ScaleDirection),
        finding=r.required_choice("finding", Finding), unit=r.required_choice("unit", Unit),
        unit_assumed=r.text("unit_assumed"), mis_value=r.number("mis_value"), open_value=r.number("open_value"),
        spread_kind=r.choice("spread_kind", SpreadKind), mis_spread_low=r.number("mis_spread_low"),
        mis_spread_high=r.number("mis_spread_high"), open_spread_low=r.number("open_spread_low"),
        open_spread_high=r.number("open_spread_high"), mis_events=r.integer("mis_events"),
        open_events=r.integer("open_events"), n_mis=r.integer("n_mis"), n_open=r.integer("n_open"),
        n_patients=r.integer("n_patients"), k_studies=r.integer("k_studies"),
        design=r.required_choice("design", Design), design_detail=r.text("design_detail"),
        certainty=r.choice("certainty", Certainty), flags=r.flag_set("flags"),
        against_claim=r.boolean("against_claim"), poolable=r.boolean("poolable"), arm_id=r.text("arm_id"),
        study=r.text("study"), citation=r.citation(), notes=r.text("notes"),
    )


def _normalised(e: PublishedEstimate) -> tuple[float | None, float | None, float | None]:
    """(estimate, ci_low, ci_high) restated as MIS minus open / MIS over open, per the sign convention."""
    if e.sign_convention in (SignConvention.MIS_MINUS_OPEN, SignConvention.MIS_OVER_OPEN):
        return e.estimate, e.ci_low, e.ci_high
    if e.sign_convention is SignConvention.OPEN_MINUS_MIS:
        def neg(x: float | None) -> float | None:
            return None if x is None else -x
        return neg(e.estimate), neg(e.ci_high), neg(e.ci_low)
    return None, None, None


def _expected_finding(e: PublishedEstimate) -> Finding | None:
    """The finding implied by the normalised interval, or None when it cannot be derived."""
    if e.sign_convention not in _NORMALISED or e.norm_ci_low is None or e.norm_ci_high is None:
        return None
    null = 1.0 if e.measure in _RATIOS else 0.0
    if e.norm_ci_low <= null <= e.norm_ci_high:
        return Finding.NO_SIGNIFICANT_DIFFERENCE
    if e.scale_direction not in (ScaleDirection.LOWER_BETTER, ScaleDirection.HIGHER_BETTER):
        return Finding.SIGNIFICANT_DIRECTION_NOT_STATED
    mis_lower = e.norm_ci_high < null
    lower_better = e.scale_direction is ScaleDirection.LOWER_BETTER
    return Finding.FAVOURS_MIS if mis_lower == lower_better else Finding.FAVOURS_OPEN


def _check_estimate(r: Row, e: PublishedEstimate) -> None:
    """Cross-column rules of one studies.csv row, one block per rule."""
    m = e.measure
    # interval
    if (e.ci_low is None) != (e.ci_high is None):
        r.problem("ci_high" if e.ci_high is None else "ci_low", "both interval bounds or neither")
    if e.ci_low is not None and e.ci_high is not None:
        if e.ci_low > e.ci_high:
            r.problem("ci_low", f"at most ci_high ({e.ci_high:g})")
        if e.estimate is not None and not e.ci_low <= e.estimate <= e.ci_high:
            r.problem("estimate", f"between ci_low and ci_high ({e.ci_low:g} to {e.ci_high:g})")
        if e.ci_level is None:
            r.problem("ci_level", "the confidence level (e.g. 0.95)", "required with an interval")
    elif e.ci_level is not None:
        r.problem("ci_level", "empty when there is no interval")
    # measure-specific content
    has_effect = e.estimate is not None or e.ci_low is not None
    if m in _DIFFERENCES or m in _RATIOS:
        if not has_effect:
            r.problem("estimate", "an estimate or an interval", f"required for {m.value}")
        if e.estimate is None and e.ci_low is not None and not e.flags:
            r.problem("flags", "check_full_text", "an interval without its point estimate must be flagged")
        if m in _RATIOS:
            for col, v in (("estimate", e.estimate), ("ci_low", e.ci_low), ("ci_high", e.ci_high)):
                if v is not None and v <= 0:
                    r.problem(col, "a ratio above 0")
    else:
        if has_effect and m is not Measure.COMBINED_PROPORTION:
            r.problem("estimate", "empty", f"{m.value} rows keep their figures in mis_value/open_value")
        if m is Measure.COMBINED_PROPORTION and (e.estimate is None or not 0 <= e.estimate <= 100):
            r.problem("estimate", "a percent from 0 to 100", "combined_proportion")
    if m in _PAIRS and not present(e.mis_value, e.open_value):
        r.problem("mis_value" if e.mis_value is None else "open_value", "a number", f"required for {m.value}")
    if m is Measure.SINGLE_ARM and (e.mis_value is None or e.open_value is not None):
        r.problem("mis_value", "mis_value only (no comparator)", "single_arm")
    if m in (Measure.NARRATIVE, Measure.RANGE_PAIR, Measure.COMBINED_PROPORTION) and (
            e.mis_value is not None or e.open_value is not None):
        r.problem("mis_value", "empty", f"{m.value} rows have no arm values")
    if m is Measure.RANGE_PAIR and not present(e.mis_spread_low, e.open_spread_low):
        r.problem("mis_spread_low", "both ranges", "range_pair")
    if m in (Measure.PROPORTION_PAIR, Measure.COMBINED_PROPORTION) and e.unit is not Unit.PERCENT:
        r.problem("unit", "%", f"{m.value} rows are percentages")
    if m is Measure.PROPORTION_PAIR:
        for col, v in (("mis_value", e.mis_value), ("open_value", e.open_value)):
            if v is not None and not 0 <= v <= 100:
                r.problem(col, "a percent from 0 to 100")
    if m is Measure.COUNT_PAIR:
        for col, v in (("mis_value", e.mis_value), ("open_value", e.open_value)):
            if v is not None and (v < 0 or not float(v).is_integer()):
                r.problem(col, "a whole count of 0 or more")
    if m is Measure.MEDIAN_PAIR and Flag.MEDIAN_NOT_MEAN not in e.flags:
        r.problem("flags", "median_not_mean", "medians are flagged so that no one pools them as means")
    if m is Measure.NARRATIVE and e.unit is not Unit.NONE:
        r.problem("unit", "none", "narrative rows carry no number")
    elif m is not Measure.NARRATIVE and e.unit is Unit.NONE:
        r.problem("unit", ", ".join(u.value for u in Unit if u is not Unit.NONE), "none is for narrative rows")
    if (e.unit is Unit.NOT_STATED) != (Flag.UNIT_NOT_STATED in e.flags):
        r.problem("flags", "unit_not_stated exactly when unit is not_stated")
    if e.unit_assumed and e.unit is not Unit.NOT_STATED:
        r.problem("unit_assumed", "empty unless unit is not_stated")
    # spreads
    spreads = (e.mis_spread_low, e.mis_spread_high, e.open_spread_low, e.open_spread_high)
    if any(v is not None for v in spreads) and e.spread_kind is None:
        r.problem("spread_kind", "IQR, range", "required with spread columns")
    for arm, lo, mid, hi in (("mis", e.mis_spread_low, e.mis_value, e.mis_spread_high),
                             ("open", e.open_spread_low, e.open_value, e.open_spread_high)):
        if (lo is None) != (hi is None):
            r.problem(f"{arm}_spread_high", "both bounds or neither")
        elif lo is not None and hi is not None and (lo > hi or (mid is not None and not lo <= mid <= hi)):
            r.problem(f"{arm}_spread_low", f"{arm}_spread_low <= {arm}_value <= {arm}_spread_high")
    # counts
    for col, ev, n in (("mis_events", e.mis_events, e.n_mis), ("open_events", e.open_events, e.n_open)):
        if ev is not None and n is not None and ev > n:
            r.problem(col, f"at most the arm size ({n})")
    if e.n_mis is not None and e.n_open is not None and e.n_patients is not None and e.n_mis + e.n_open > e.n_patients:
        r.problem("n_patients", f"at least n_mis + n_open ({e.n_mis + e.n_open})")
    # sign convention and normalised columns
    allowed_signs = ({SignConvention.MIS_MINUS_OPEN, SignConvention.OPEN_MINUS_MIS} if m in _DIFFERENCES
                     else {SignConvention.MIS_OVER_OPEN, SignConvention.OPEN_OVER_MIS} if m in _RATIOS
                     else {SignConvention.NOT_APPLICABLE})
    if e.sign_convention not in allowed_signs:
        r.problem("sign_convention", ", ".join(sorted(s.value for s in allowed_signs)), f"for {m.value}")
    expected = _normalised(e)
    for col, got, want in zip(("norm_estimate", "norm_ci_low", "norm_ci_high"),
                              (e.norm_estimate, e.norm_ci_low, e.norm_ci_high), expected, strict=True):
        if got != want:
            r.problem(col, "empty" if want is None else f"{want:g}",
                      f"must restate the source figure as MIS vs open ({e.sign_convention.value})")
    # finding
    implied = _expected_finding(e)
    if implied is not None and e.finding is not implied:
        r.problem("finding", implied.value, "implied by the normalised interval and scale_direction")
    # design
    if e.design in META_DESIGNS and e.k_studies == 1:
        r.problem("k_studies", "more than 1 for a review or meta-analysis")
    # poolable
    if e.poolable:
        why = ("the row is flagged" if e.flags else
               f"{m.value} is not a poolable effect measure" if m not in _POOLABLE_MEASURES else
               "no point estimate" if e.estimate is None else
               "no interval or standard error" if e.ci_low is None and e.se is None else
               "no stated unit" if e.unit is Unit.NOT_STATED else "")
        if why:
            r.problem("poolable", "false", why)


def _check_arm_link(r: Row, e: PublishedEstimate, arms: dict[str, ArmSummary]) -> None:
    if not e.arm_id:
        return
    arm = arms.get(e.arm_id)
    if arm is None:
        r.problem("arm_id", "an id from arm_data.csv", "unknown arm row")
        return
    if arm.outcome is not e.outcome or arm.comparison is not e.comparison:
        r.problem("arm_id", f"an arm row for {e.comparison.value}/{e.outcome.value}",
                  f"arm row is {arm.comparison.value}/{arm.outcome.value}")
    pairs = {ArmStatistic.MEAN_SD: (arm.mis_mean, arm.open_mean),
             ArmStatistic.MEAN_ONLY: (arm.mis_mean, arm.open_mean),
             ArmStatistic.PERCENT: (arm.mis_pct, arm.open_pct),
             ArmStatistic.MEDIAN_IQR: (arm.mis_median, arm.open_median),
             ArmStatistic.EVENTS: (None if arm.mis_events is None else float(arm.mis_events),
                                   None if arm.open_events is None else float(arm.open_events))}
    mis, opn = pairs[arm.statistic]
    if arm.statistic is ArmStatistic.EVENTS and e.measure is not Measure.COUNT_PAIR:
        got: tuple[float | None, float | None] = (
            None if e.mis_events is None else float(e.mis_events),
            None if e.open_events is None else float(e.open_events))
    else:
        got = (e.mis_value, e.open_value)
    if got != (mis, opn):
        r.problem("arm_id", f"arm figures {mis!r} vs {opn!r}", f"row figures {got[0]!r} vs {got[1]!r} disagree")


def load_studies(path: str | Path | None = None, *,
                 arms: Iterable[ArmSummary] | None = None) -> tuple[PublishedEstimate, ...]:
    """Load and validate the published figures (``studies.csv``).

    Parameters
    ----------
    path : str or Path, optional
        A CSV with the ``studies.csv`` columns. Default: the shipped package data.
    arms : iterable of ArmSummary, optional
        Arm rows that ``arm_id`` may point to. Default: the shipped ``arm_data.csv``.

    Returns
    -------
    tuple of PublishedEstimate
        In file order.

    Raises
    ------
    EvidenceDataError
        Listing every problem with its file, line, column and the allowed values.

    Examples
    --------
    >>> rows = load_studies()
    >>> row = next(r for r in rows if r.id == "disc-intorth2014-recurrence")
    >>> (row.measure.value, row.estimate, row.ci_low, row.ci_high, row.against_claim)
    ('RR', 1.95, 1.19, 3.19, True)
    """
    if path is None and arms is None:
        return _shipped_studies()
    arm_rows = load_arm_data() if arms is None else tuple(arms)
    text, file = read_text(path, STUDIES_FILE)
    return _load_studies(text, file, arm_rows)


def _load_studies(text: str, file: str, arm_rows: Sequence[ArmSummary]) -> tuple[PublishedEstimate, ...]:
    by_id = {a.id: a for a in arm_rows}

    def check(r: Row, rec: PublishedEstimate) -> None:
        _check_estimate(r, rec)
        _check_arm_link(r, rec, by_id)

    return load_records(text, file, STUDY_SCHEMA, _parse_estimate, check)


@functools.cache
def _shipped_studies() -> tuple[PublishedEstimate, ...]:
    text, file = read_text(None, STUDIES_FILE)
    return _load_studies(text, file, load_arm_data())
