"""``arm_data.csv``: arm-level summaries (n, mean, SD, events, percent, median/IQR) where a source
gives them, loaded as validated :class:`~spinetrack.evidence.records.ArmSummary` records.

Each row fills the arm columns its ``statistic`` names and no others; medians are flagged
``median_not_mean``; a row is poolable only with the figures a pool needs (means with SDs, or
events). All problems in a file are reported at once in an
:class:`~spinetrack.evidence.records.EvidenceDataError`.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Final

from spinetrack.evidence.reader import ARM_FILE, load_records, present, read_text
from spinetrack.evidence.records import ArmSummary
from spinetrack.evidence.schema import ARM_SCHEMA, Row
from spinetrack.evidence.vocab import (
    ArmStatistic,
    Comparison,
    Design,
    Flag,
    Outcome,
    ScaleDirection,
    Timepoint,
    Unit,
)

__all__ = ["load_arm_data"]


def _parse_arm(r: Row) -> ArmSummary:
    return ArmSummary(
        id=r.text("id"), comparison=r.required_choice("comparison", Comparison), subcomparison=r.text("subcomparison"),
        outcome=r.required_choice("outcome", Outcome), outcome_label=r.text("outcome_label"), study=r.text("study"),
        design=r.required_choice("design", Design), design_detail=r.text("design_detail"),
        statistic=r.required_choice("statistic", ArmStatistic),
        mis_n=r.integer("mis_n"), mis_mean=r.number("mis_mean"), mis_sd=r.number("mis_sd"),
        mis_events=r.integer("mis_events"), mis_pct=r.number("mis_pct"), mis_median=r.number("mis_median"),
        mis_q1=r.number("mis_q1"), mis_q3=r.number("mis_q3"),
        open_n=r.integer("open_n"), open_mean=r.number("open_mean"), open_sd=r.number("open_sd"),
        open_events=r.integer("open_events"), open_pct=r.number("open_pct"), open_median=r.number("open_median"),
        open_q1=r.number("open_q1"), open_q3=r.number("open_q3"),
        unit=r.required_choice("unit", Unit), timepoint=r.text("timepoint"),
        timepoint_norm=r.required_choice("timepoint_norm", Timepoint),
        scale_direction=r.required_choice("scale_direction", ScaleDirection), flags=r.flag_set("flags"),
        poolable=r.boolean("poolable"), citation=r.citation(), notes=r.text("notes"),
    )


_ARM_FIELDS: Final[dict[ArmStatistic, tuple[str, ...]]] = {
    ArmStatistic.MEAN_SD: ("mean", "sd"),
    ArmStatistic.MEAN_ONLY: ("mean",),
    ArmStatistic.PERCENT: ("pct",),
    ArmStatistic.EVENTS: ("events",),
    ArmStatistic.MEDIAN_IQR: ("median", "q1", "q3"),
}
_ALL_ARM_FIELDS: Final = ("mean", "sd", "events", "pct", "median", "q1", "q3")


def _check_arm(r: Row, a: ArmSummary) -> None:
    needed = _ARM_FIELDS[a.statistic]
    for arm in ("mis", "open"):
        for f in _ALL_ARM_FIELDS:
            value = getattr(a, f"{arm}_{f}")
            if f in needed and value is None:
                r.problem(f"{arm}_{f}", "a number", f"required for statistic {a.statistic.value}")
            elif f not in needed and value is not None:
                r.problem(f"{arm}_{f}", "empty", f"not used by statistic {a.statistic.value}")
        n, events = getattr(a, f"{arm}_n"), getattr(a, f"{arm}_events")
        if a.statistic in (ArmStatistic.MEAN_SD, ArmStatistic.EVENTS, ArmStatistic.MEDIAN_IQR) and n is None:
            r.problem(f"{arm}_n", "the arm size", f"required for statistic {a.statistic.value}")
        if events is not None and n is not None and events > n:
            r.problem(f"{arm}_events", f"at most {arm}_n ({n})")
        q1, med, q3 = getattr(a, f"{arm}_q1"), getattr(a, f"{arm}_median"), getattr(a, f"{arm}_q3")
        if present(q1, med, q3) and not q1 <= med <= q3:
            r.problem(f"{arm}_median", f"{arm}_q1 <= {arm}_median <= {arm}_q3")
    if a.statistic is ArmStatistic.PERCENT and a.unit is not Unit.PERCENT:
        r.problem("unit", "%", "statistic percent")
    if a.statistic is ArmStatistic.EVENTS and a.unit is not Unit.COUNT:
        r.problem("unit", "count", "statistic events")
    if a.unit in (Unit.NONE, Unit.NOT_STATED, Unit.RATIO):
        r.problem("unit", "the unit of the arm figures")
    if a.statistic is ArmStatistic.MEDIAN_IQR and Flag.MEDIAN_NOT_MEAN not in a.flags:
        r.problem("flags", "median_not_mean", "medians are flagged so that no one pools them as means")
    if a.poolable:
        why = ("the row is flagged" if a.flags else
               "SD missing" if a.statistic is ArmStatistic.MEAN_ONLY else
               "events not reported" if a.statistic is ArmStatistic.PERCENT else
               "medians are not means" if a.statistic is ArmStatistic.MEDIAN_IQR else "")
        if why:
            r.problem("poolable", "false", why)


def load_arm_data(path: str | Path | None = None) -> tuple[ArmSummary, ...]:
    """Load and validate the arm-level data (``arm_data.csv``).

    Parameters
    ----------
    path : str or Path, optional
        A CSV with the ``arm_data.csv`` columns. Default: the shipped package data.

    Returns
    -------
    tuple of ArmSummary
        In file order.

    Raises
    ------
    EvidenceDataError
        Listing every problem with its file, line, column and the allowed values.

    Examples
    --------
    >>> arm = next(a for a in load_arm_data() if a.id == "arm-wu2018-ebl")
    >>> (arm.mis_n, arm.mis_mean, arm.mis_sd, arm.open_n, arm.open_mean, arm.open_sd)
    (79, 163.7, 49.6, 88, 243.3, 70.2)
    """
    if path is None:
        return _shipped_arms()
    text, file = read_text(path, ARM_FILE)
    return _load_arms(text, file)


def _load_arms(text: str, file: str) -> tuple[ArmSummary, ...]:
    return load_records(text, file, ARM_SCHEMA, _parse_arm, _check_arm)


@functools.cache
def _shipped_arms() -> tuple[ArmSummary, ...]:
    text, file = read_text(None, ARM_FILE)
    return _load_arms(text, file)
