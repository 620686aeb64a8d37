"""The typed records of the literature base: a published figure, an arm-level summary, their
citation and P value, and the error that lists every problem of a data file.

Sign convention: ``estimate`` is stored as the source prints it and ``sign_convention`` says
what it means; ``norm_estimate`` / ``norm_ci_low`` / ``norm_ci_high`` restate it as MIS minus
open (differences) or MIS over open (ratios). A source that prints the size of a reduction as
a positive number is stored with ``sign_convention = open_minus_mis``; it is never flipped in
place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from spinetrack.errors import ValidationError
from spinetrack.evidence.vocab import (
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

__all__ = [
    "ArmSummary",
    "Citation",
    "DataProblem",
    "EvidenceDataError",
    "EvidenceRecord",
    "PValue",
    "PublishedEstimate",
]


@dataclass(frozen=True, slots=True)
class Citation:
    """Where a figure comes from. ``url`` is the preferred address (DOI, else PubMed, else
    PMC, else the page the figure was read on); ``alt_url`` an optional second address."""

    authors: str
    year: int | None
    title: str
    journal: str
    volume: str
    issue: str
    pages: str
    doi: str
    pmid: str
    pmcid: str
    url: str
    alt_url: str

    @property
    def link(self) -> str:
        """The preferred address of the source."""
        if self.url:
            return self.url
        if self.doi:
            return f"https://doi.org/{self.doi}"
        return f"https://pubmed.ncbi.nlm.nih.gov/{self.pmid}/" if self.pmid else ""

    def format(self) -> str:
        """One-line reference, e.g. ``Park Y, ... Yonsei Med J 2018;59(4):524-538. doi:...``.

        Examples
        --------
        >>> c = Citation("Smith N et al.", 2013, "", "Eur Spine J", "22", "11", "2458-2465",
        ...              "10.1007/s00586-013-2848-8", "23793558", "", "", "")
        >>> c.format()
        'Smith N et al. Eur Spine J 2013;22(11):2458-2465. doi:10.1007/s00586-013-2848-8. PMID 23793558'
        """
        parts: list[str] = []
        if self.authors:
            parts.append(self.authors.rstrip(".") + ".")
        if self.title:
            parts.append(self.title.rstrip(".") + ".")
        src = self.journal
        if self.year is not None:
            src = f"{src} {self.year}".strip()
        loc = self.volume + (f"({self.issue})" if self.issue else "")
        if self.pages:
            loc = f"{loc}:{self.pages}" if loc else self.pages
        if loc:
            src = f"{src};{loc}"
        if src:
            parts.append(src + ".")
        ids = [f"doi:{self.doi}"] if self.doi else []
        ids += [f"PMID {self.pmid}"] if self.pmid else []
        if not ids and self.link:
            ids.append(self.link)
        return " ".join([*parts, ". ".join(ids)]).strip()


@dataclass(frozen=True, slots=True)
class PValue:
    """A P value: ``relation`` is ``"="``, ``"<"`` or ``">"``; ``printed`` keeps the digits as
    written in the data file, trailing zeros included (``"0.000"``, ``"0.00001"``).

    Examples
    --------
    >>> str(PValue(0.00001, "<", "0.00001"))
    'P < 0.00001'
    """

    value: float
    relation: str = "="
    printed: str = ""

    def __str__(self) -> str:
        return f"P {self.relation} {self.printed or repr(self.value)}"


@dataclass(frozen=True, slots=True)
class PublishedEstimate:
    """One published figure (one row of ``studies.csv``). Column meanings: ``data/SCHEMA.md``."""

    id: str
    comparison: Comparison
    subcomparison: str
    contrast: str
    outcome: Outcome
    outcome_label: str
    timepoint: str
    timepoint_norm: Timepoint
    measure: Measure
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    ci_level: float | None
    se: float | None
    p: PValue | None
    i2: float | None
    sign_convention: SignConvention
    norm_estimate: float | None
    norm_ci_low: float | None
    norm_ci_high: float | None
    scale_direction: ScaleDirection
    finding: Finding
    unit: Unit
    unit_assumed: str
    mis_value: float | None
    open_value: float | None
    spread_kind: SpreadKind | None
    mis_spread_low: float | None
    mis_spread_high: float | None
    open_spread_low: float | None
    open_spread_high: float | None
    mis_events: int | None
    open_events: int | None
    n_mis: int | None
    n_open: int | None
    n_patients: int | None
    k_studies: int | None
    design: Design
    design_detail: str
    certainty: Certainty | None
    flags: frozenset[Flag]
    against_claim: bool
    poolable: bool
    arm_id: str
    study: str
    citation: Citation
    notes: str

    @property
    def flagged(self) -> bool:
        """True when any verification flag is set (the row is then never poolable)."""
        return bool(self.flags)


@dataclass(frozen=True, slots=True)
class ArmSummary:
    """Arm-level summary of one outcome in one study (one row of ``arm_data.csv``)."""

    id: str
    comparison: Comparison
    subcomparison: str
    outcome: Outcome
    outcome_label: str
    study: str
    design: Design
    design_detail: str
    statistic: ArmStatistic
    mis_n: int | None
    mis_mean: float | None
    mis_sd: float | None
    mis_events: int | None
    mis_pct: float | None
    mis_median: float | None
    mis_q1: float | None
    mis_q3: float | None
    open_n: int | None
    open_mean: float | None
    open_sd: float | None
    open_events: int | None
    open_pct: float | None
    open_median: float | None
    open_q1: float | None
    open_q3: float | None
    unit: Unit
    timepoint: str
    timepoint_norm: Timepoint
    scale_direction: ScaleDirection
    flags: frozenset[Flag]
    poolable: bool
    citation: Citation
    notes: str

    @property
    def measure(self) -> Measure:
        """The :class:`Measure` of a study row holding the same two arm figures."""
        return {ArmStatistic.MEAN_SD: Measure.MEAN_PAIR, ArmStatistic.MEAN_ONLY: Measure.MEAN_PAIR,
                ArmStatistic.PERCENT: Measure.PROPORTION_PAIR, ArmStatistic.EVENTS: Measure.COUNT_PAIR,
                ArmStatistic.MEDIAN_IQR: Measure.MEDIAN_PAIR}[self.statistic]

    @property
    def flagged(self) -> bool:
        """True when any verification flag is set (the row is then never poolable)."""
        return bool(self.flags)


# ----------------------------------------------------------------------------- errors


@dataclass(frozen=True, slots=True)
class DataProblem:
    """One invalid cell (or header) of a data file."""

    file: str
    line: int
    column: str
    value: str
    allowed: str
    reason: str = ""

    def __str__(self) -> str:
        text = (f"{self.file}, line {self.line}, column {self.column!r}: {self.value!r} is not allowed; "
                f"allowed: {self.allowed}")
        return text + (f" ({self.reason})" if self.reason else "")


class EvidenceDataError(ValidationError):
    """A literature data file does not match its schema. ``problems`` lists every problem;
    ``field`` names the first as ``"<file>:<line>:<column>"``."""

    def __init__(self, problems: Sequence[DataProblem]) -> None:
        if not problems:
            raise ValueError("EvidenceDataError needs at least one problem")
        first = problems[0]
        super().__init__(field=f"{first.file}:{first.line}:{first.column}", value=first.value,
                         allowed=first.allowed, reason=first.reason or None)
        self.problems: tuple[DataProblem, ...] = tuple(problems)
        shown = "\n".join(f"  - {p}" for p in self.problems[:50])
        more = f"\n  ... and {len(self.problems) - 50} more" if len(self.problems) > 50 else ""
        self.args = (f"{len(self.problems)} problem(s) in {first.file}:\n{shown}{more}",)


# ----------------------------------------------------------------------------- what a row offers


class EvidenceRecord(Protocol):
    """What :func:`~spinetrack.evidence.selection.select` and the claims map need from a row (both record
    types qualify)."""

    @property
    def comparison(self) -> Comparison: ...
    @property
    def outcome(self) -> Outcome: ...
    @property
    def timepoint_norm(self) -> Timepoint: ...
    @property
    def unit(self) -> Unit: ...
    @property
    def measure(self) -> Measure: ...
    @property
    def scale_direction(self) -> ScaleDirection: ...
    @property
    def poolable(self) -> bool: ...
