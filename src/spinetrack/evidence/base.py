"""The literature base: schema, typed records and the validating loader.

Two package-data files (``spinetrack/evidence/data``; the column dictionary and provenance are
in ``data/SCHEMA.md``):

* ``studies.csv`` — one row per published figure: a pooled or single-study estimate, a pair of
  arm figures, or a narrative finding ("no significant difference"), with its citation.
  Loaded as :class:`PublishedEstimate`.
* ``arm_data.csv`` — arm-level summaries (n, mean, SD, events, percent, median/IQR) where a
  source gives them. Loaded as :class:`ArmSummary`.

Both carry numbers and citations only; the quoted source excerpts used to check them are *not*
shipped. Every file is validated when it is loaded: column names, types, the controlled
vocabularies below, ``ci_low <= estimate <= ci_high``, ``events <= n``, ``sd >= 0``, the sign
normalisation, the consistency of the reported finding with the interval, flagged rows never
poolable, a DOI, PMID or URL on every row, and unique ids. All problems in a file are reported
at once in an :class:`EvidenceDataError` that names the file, line, column and allowed values.

Sign convention: ``estimate`` is stored as the source prints it and ``sign_convention`` says
what it means; ``norm_estimate`` / ``norm_ci_low`` / ``norm_ci_high`` restate it as MIS minus
open (differences) or MIS over open (ratios). A source that prints the size of a reduction as
a positive number is stored with ``sign_convention = open_minus_mis``; it is never flipped in
place.

References
----------
The figures come from the sources named on each row. See ``data/SCHEMA.md`` for the rules
followed when carrying them (flags, units, what was not carried).
"""

from __future__ import annotations

import csv
import enum
import functools
import io
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Final, Protocol, TypeVar

from spinetrack.errors import ValidationError

__all__ = [
    "ARM_COLUMNS",
    "MAX_CELL_CHARS",
    "STUDY_COLUMNS",
    "ArmStatistic",
    "ArmSummary",
    "Certainty",
    "Citation",
    "Comparison",
    "DataProblem",
    "Design",
    "EvidenceDataError",
    "EvidenceRecord",
    "Finding",
    "Flag",
    "Measure",
    "Outcome",
    "PValue",
    "PublishedEstimate",
    "ScaleDirection",
    "SignConvention",
    "SpreadKind",
    "Timepoint",
    "Unit",
    "load_arm_data",
    "load_studies",
    "select",
]

_PACKAGE: Final = "spinetrack.evidence"
STUDIES_FILE: Final = "studies.csv"
ARM_FILE: Final = "arm_data.csv"
#: Longest cell accepted. Quoted source excerpts are not shipped; this keeps them out.
MAX_CELL_CHARS: Final = 300


# ----------------------------------------------------------------------------- vocabularies


class Comparison(enum.StrEnum):
    """The clinical comparison a figure belongs to (``cross_cutting``: mixed procedures)."""

    DISCECTOMY = "discectomy"
    DECOMPRESSION = "decompression"
    FUSION = "fusion"
    CROSS_CUTTING = "cross_cutting"


class Outcome(enum.StrEnum):
    """Controlled outcome vocabulary; the source's own wording is in ``outcome_label``."""

    RECURRENCE = "recurrence"
    INCISION_LENGTH = "incision_length"
    OPERATIVE_TIME = "operative_time"
    BLOOD_LOSS = "blood_loss"
    POSTOP_BLOOD_LOSS = "postop_blood_loss"
    TRANSFUSION = "transfusion"
    LENGTH_OF_STAY = "length_of_stay"
    COMPLICATIONS_ANY = "complications_any"
    COMPLICATIONS_MAJOR = "complications_major"
    INFECTION = "infection"
    DURAL_TEAR = "dural_tear"
    REOPERATION = "reoperation"
    ADJACENT_SEGMENT_DISEASE = "adjacent_segment_disease"
    FUSION_RATE = "fusion_rate"
    RADIATION_DOSE = "radiation_dose"
    RADIATION_EXPOSURE = "radiation_exposure"
    FLUOROSCOPY_TIME = "fluoroscopy_time"
    FLUOROSCOPY_COUNT = "fluoroscopy_count"
    LEG_PAIN = "leg_pain"
    BACK_PAIN = "back_pain"
    PAIN_UNSPECIFIED = "pain_unspecified"
    ODI = "odi"
    DISABILITY_OTHER = "disability_other"
    HEALTH_STATUS = "health_status"
    EQ5D = "eq5d"
    RETURN_TO_WORK = "return_to_work"
    OPIOID_USE = "opioid_use"
    GOOD_RECOVERY = "good_recovery"
    SATISFACTION = "satisfaction"
    OVERALL_CLINICAL = "overall_clinical"
    COST = "cost"


class Timepoint(enum.StrEnum):
    """Normalised timepoint; the source's wording is in ``timepoint``.

    ``up_to_24m`` is a figure accumulated or averaged over the first two years (not a value
    at 24 months); ``short_term`` / ``mid_term`` / ``long_term`` are the source's own labels
    (``long_term`` also covers anything beyond 24 months).
    """

    BASELINE = "baseline"
    PERIOP = "periop"
    EARLY_POSTOP = "early_postop"
    D30 = "30d"
    W2 = "2w"
    W6 = "6w"
    M3 = "3m"
    M12 = "12m"
    M24 = "24m"
    UP_TO_24M = "up_to_24m"
    SHORT_TERM = "short_term"
    MID_TERM = "mid_term"
    LONG_TERM = "long_term"
    UNKNOWN = "unknown"


class Measure(enum.StrEnum):
    """What ``estimate`` (or the arm columns) hold."""

    MD = "MD"                                          # (weighted) mean difference
    SMD = "SMD"
    RR = "RR"
    OR = "OR"
    RD = "RD"
    DIFFERENCE_UNSPECIFIED = "difference_unspecified"  # a difference whose estimator is not named
    RATIO_OF_MEANS = "ratio_of_means"
    PROPORTION_PAIR = "proportion_pair"                # mis_value / open_value in percent
    MEAN_PAIR = "mean_pair"
    MEDIAN_PAIR = "median_pair"
    COUNT_PAIR = "count_pair"
    RANGE_PAIR = "range_pair"                          # ranges only, in the spread columns
    SINGLE_ARM = "single_arm"                          # MIS arm only, no comparator
    COMBINED_PROPORTION = "combined_proportion"        # one percent for both arms together
    NARRATIVE = "narrative"                            # a direction / P value, no effect size


class Design(enum.StrEnum):
    """Evidence-quality label, shown wherever the figure is shown."""

    MA_RCT = "MA-RCT"
    MA_OBS = "MA-obs"
    SR = "SR"
    REVIEW = "review"
    RCT = "RCT"
    COHORT = "cohort"
    REGISTRY = "registry"
    CONF = "conf"
    SINGLE_ARM = "single_arm"


class Flag(enum.StrEnum):
    """Verification flags; a flagged row is never poolable."""

    UNVERIFIED = "unverified"
    CHECK_FULL_TEXT = "check_full_text"
    UNIT_NOT_STATED = "unit_not_stated"
    INCONSISTENT = "inconsistent"
    MEDIAN_NOT_MEAN = "median_not_mean"


class SignConvention(enum.StrEnum):
    """How to read ``estimate`` (see the module docstring)."""

    MIS_MINUS_OPEN = "mis_minus_open"
    OPEN_MINUS_MIS = "open_minus_mis"
    MIS_OVER_OPEN = "mis_over_open"
    OPEN_OVER_MIS = "open_over_mis"
    NOT_APPLICABLE = "not_applicable"


class ScaleDirection(enum.StrEnum):
    """Whether a lower or a higher value of the outcome quantity is better for the patient."""

    LOWER_BETTER = "lower_better"
    HIGHER_BETTER = "higher_better"
    UNKNOWN = "unknown"
    NOT_APPLICABLE = "not_applicable"


class Finding(enum.StrEnum):
    """The source's result in words: which arm it favours, if any."""

    FAVOURS_MIS = "favours_mis"
    FAVOURS_OPEN = "favours_open"
    NO_SIGNIFICANT_DIFFERENCE = "no_significant_difference"
    SIGNIFICANT_DIRECTION_NOT_STATED = "significant_direction_not_stated"
    NOT_TESTED = "not_tested"


class Unit(enum.StrEnum):
    """Units (``not_stated``: the source prints none; ``none``: narrative row, no number)."""

    ML = "mL"
    MIN = "min"
    S = "s"
    DAYS = "days"
    MM = "mm"
    CM = "cm"
    MGY = "mGy"
    MGY_PER_LEVEL = "mGy_per_level"
    PERCENT = "%"
    USD = "USD"
    RATIO = "ratio"
    VAS_0_100 = "VAS_0_100"
    VAS_POINTS = "VAS_points"
    NRS_0_10 = "NRS_points_0_10"
    ODI_POINTS = "ODI_points_0_100"
    RDQ_POINTS = "RDQ_points"
    FUNCTION_0_100 = "function_points_0_100"
    MME = "MME"
    COUNT = "count"
    NOT_STATED = "not_stated"
    NONE = "none"


class Certainty(enum.StrEnum):
    """Certainty of evidence (GRADE) as the source states it."""

    HIGH = "high"
    MODERATE = "moderate"
    LOW = "low"
    VERY_LOW = "very_low"
    VERY_LOW_TO_LOW = "very_low_to_low"


class SpreadKind(enum.StrEnum):
    """What the spread columns hold: an interquartile range or a (min-max) range."""

    IQR = "IQR"
    RANGE = "range"


class ArmStatistic(enum.StrEnum):
    """Which arm columns an :class:`ArmSummary` fills."""

    MEAN_SD = "mean_sd"
    MEAN_ONLY = "mean_only"
    PERCENT = "percent"
    EVENTS = "events"
    MEDIAN_IQR = "median_iqr"


_DIFFERENCES: Final = frozenset({Measure.MD, Measure.SMD, Measure.RD, Measure.DIFFERENCE_UNSPECIFIED})
_RATIOS: Final = frozenset({Measure.RR, Measure.OR, Measure.RATIO_OF_MEANS})
_POOLABLE_MEASURES: Final = frozenset({Measure.MD, Measure.SMD, Measure.RR, Measure.OR, Measure.RD})
_PAIRS: Final = frozenset({Measure.PROPORTION_PAIR, Measure.MEAN_PAIR, Measure.MEDIAN_PAIR, Measure.COUNT_PAIR})
_NORMALISED: Final = frozenset({SignConvention.MIS_MINUS_OPEN, SignConvention.OPEN_MINUS_MIS,
                                SignConvention.MIS_OVER_OPEN})
_META_DESIGNS: Final = frozenset({Design.MA_RCT, Design.MA_OBS, Design.SR, Design.REVIEW})


# ----------------------------------------------------------------------------- records


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
        return " ".join(parts + [". ".join(ids)]).strip()


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
        text = f"{self.file}, line {self.line}, column {self.column!r}: {self.value!r} is not allowed; allowed: {self.allowed}"
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


# ----------------------------------------------------------------------------- schema

_TEXT, _INT, _FLOAT, _BOOL, _ENUM, _FLAGS, _P = "text", "int", "float", "bool", "enum", "flags", "p"


@dataclass(frozen=True, slots=True)
class _Col:
    name: str
    kind: str
    required: bool = False
    vocab: type[enum.StrEnum] | None = None
    low: float | None = None
    high: float | None = None


def _c(name: str, kind: str = _TEXT, required: bool = False, vocab: type[enum.StrEnum] | None = None,
       low: float | None = None, high: float | None = None) -> _Col:
    return _Col(name, kind, required, vocab, low, high)


_CITATION_COLS: Final = (
    _c("authors"), _c("year", _INT, low=1900, high=2100), _c("title"), _c("journal"), _c("volume"), _c("issue"),
    _c("pages"), _c("doi"), _c("pmid"), _c("pmcid"), _c("url"), _c("alt_url"),
)

_STUDY_SCHEMA: Final = (
    _c("id", required=True), _c("comparison", _ENUM, True, Comparison), _c("subcomparison", required=True),
    _c("contrast", required=True), _c("outcome", _ENUM, True, Outcome), _c("outcome_label", required=True),
    _c("timepoint", required=True), _c("timepoint_norm", _ENUM, True, Timepoint),
    _c("measure", _ENUM, True, Measure), _c("estimate", _FLOAT), _c("ci_low", _FLOAT), _c("ci_high", _FLOAT),
    _c("ci_level", _FLOAT, low=0.5, high=0.999), _c("se", _FLOAT, low=0), _c("p", _P), _c("i2", _FLOAT, low=0, high=100),
    _c("sign_convention", _ENUM, True, SignConvention), _c("norm_estimate", _FLOAT), _c("norm_ci_low", _FLOAT),
    _c("norm_ci_high", _FLOAT), _c("scale_direction", _ENUM, True, ScaleDirection),
    _c("finding", _ENUM, True, Finding), _c("unit", _ENUM, True, Unit), _c("unit_assumed"),
    _c("mis_value", _FLOAT), _c("open_value", _FLOAT), _c("spread_kind", _ENUM, vocab=SpreadKind),
    _c("mis_spread_low", _FLOAT), _c("mis_spread_high", _FLOAT), _c("open_spread_low", _FLOAT),
    _c("open_spread_high", _FLOAT), _c("mis_events", _INT, low=0), _c("open_events", _INT, low=0),
    _c("n_mis", _INT, low=1), _c("n_open", _INT, low=1), _c("n_patients", _INT, low=1), _c("k_studies", _INT, low=1),
    _c("design", _ENUM, True, Design), _c("design_detail"), _c("certainty", _ENUM, vocab=Certainty),
    _c("flags", _FLAGS, vocab=Flag), _c("against_claim", _BOOL, True), _c("poolable", _BOOL, True), _c("arm_id"),
    _c("study", required=True), *_CITATION_COLS, _c("notes"),
)

_ARM_SCHEMA: Final = (
    _c("id", required=True), _c("comparison", _ENUM, True, Comparison), _c("subcomparison", required=True),
    _c("outcome", _ENUM, True, Outcome), _c("outcome_label", required=True), _c("study", required=True),
    _c("year", _INT, low=1900, high=2100), _c("design", _ENUM, True, Design), _c("design_detail"),
    _c("statistic", _ENUM, True, ArmStatistic),
    _c("mis_n", _INT, low=1), _c("mis_mean", _FLOAT), _c("mis_sd", _FLOAT, low=0), _c("mis_events", _INT, low=0),
    _c("mis_pct", _FLOAT, low=0, high=100), _c("mis_median", _FLOAT), _c("mis_q1", _FLOAT), _c("mis_q3", _FLOAT),
    _c("open_n", _INT, low=1), _c("open_mean", _FLOAT), _c("open_sd", _FLOAT, low=0), _c("open_events", _INT, low=0),
    _c("open_pct", _FLOAT, low=0, high=100), _c("open_median", _FLOAT), _c("open_q1", _FLOAT), _c("open_q3", _FLOAT),
    _c("unit", _ENUM, True, Unit), _c("timepoint", required=True), _c("timepoint_norm", _ENUM, True, Timepoint),
    _c("scale_direction", _ENUM, True, ScaleDirection), _c("flags", _FLAGS, vocab=Flag),
    _c("poolable", _BOOL, True), *(c for c in _CITATION_COLS if c.name != "year"), _c("notes"),
)

#: Column names of ``studies.csv`` and ``arm_data.csv``, in file order.
STUDY_COLUMNS: Final = tuple(c.name for c in _STUDY_SCHEMA)
ARM_COLUMNS: Final = tuple(c.name for c in _ARM_SCHEMA)

_ID_RE: Final = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_LABEL_RE: Final = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_DOI_RE: Final = re.compile(r"^10\.\d{4,9}/\S+$")
_PMID_RE: Final = re.compile(r"^\d{1,9}$")
_PMCID_RE: Final = re.compile(r"^PMC\d+$")
_URL_RE: Final = re.compile(r"^https?://\S+$")
_P_RE: Final = re.compile(r"^(<|>)?(\d+(\.\d+)?|\.\d+)$")
_BOOLS: Final = {"true": True, "false": False}

E = TypeVar("E", bound=enum.StrEnum)


class _Row:
    """Typed access to one CSV record; every bad cell becomes a :class:`DataProblem`."""

    def __init__(self, file: str, line: int, cells: dict[str, str], schema: dict[str, _Col],
                 problems: list[DataProblem]) -> None:
        self.file, self.line, self.cells, self.schema, self.problems = file, line, cells, schema, problems

    def problem(self, column: str, allowed: str, reason: str = "", value: str | None = None) -> None:
        self.problems.append(DataProblem(self.file, self.line, column,
                                         self.cells.get(column, "") if value is None else value, allowed, reason))

    def _raw(self, name: str) -> str:
        col = self.schema[name]
        raw = self.cells[name].strip()
        if col.required and not raw:
            self.problem(name, _allowed_text(col), "required")
        return raw

    def text(self, name: str) -> str:
        return self._raw(name)

    def integer(self, name: str) -> int | None:
        raw, col = self._raw(name), self.schema[name]
        if not raw:
            return None
        if not re.fullmatch(r"-?\d+", raw):
            self.problem(name, _allowed_text(col), "not a whole number")
            return None
        value = int(raw)
        if (col.low is not None and value < col.low) or (col.high is not None and value > col.high):
            self.problem(name, _allowed_text(col))
            return None
        return value

    def number(self, name: str) -> float | None:
        raw, col = self._raw(name), self.schema[name]
        if not raw:
            return None
        try:
            value = float(raw)
        except ValueError:
            self.problem(name, _allowed_text(col), "not a number")
            return None
        if not math.isfinite(value) or (col.low is not None and value < col.low) or (
                col.high is not None and value > col.high):
            self.problem(name, _allowed_text(col))
            return None
        return value

    def boolean(self, name: str) -> bool:
        raw = self._raw(name)
        if raw not in _BOOLS:
            if raw:
                self.problem(name, "true, false")
            return False
        return _BOOLS[raw]

    def choice(self, name: str, vocab: type[E]) -> E | None:
        raw = self._raw(name)
        if not raw:
            return None
        try:
            return vocab(raw)
        except ValueError:
            self.problem(name, ", ".join(m.value for m in vocab))
            return None

    def required_choice(self, name: str, vocab: type[E]) -> E:
        found = self.choice(name, vocab)
        return found if found is not None else next(iter(vocab))  # placeholder; a problem is recorded

    def flag_set(self, name: str) -> frozenset[Flag]:
        raw = self._raw(name)
        flags: set[Flag] = set()
        for part in (p.strip() for p in raw.split(";") if p.strip()):
            try:
                flags.add(Flag(part))
            except ValueError:
                self.problem(name, "';'-separated list of " + ", ".join(f.value for f in Flag),
                             f"unknown flag {part!r}")
        return frozenset(flags)

    def p_value(self, name: str) -> PValue | None:
        raw = self._raw(name)
        if not raw:
            return None
        m = _P_RE.match(raw)
        value = float(m.group(2)) if m else math.nan
        if not m or not 0.0 <= value <= 1.0:
            self.problem(name, "a P value between 0 and 1, optionally prefixed by < or > (e.g. 0.03, <0.001)")
            return None
        return PValue(value, m.group(1) or "=", m.group(2))

    def citation(self) -> Citation:
        year = self.integer("year") if "year" in self.schema else None
        return Citation(self.text("authors"), year, self.text("title"), self.text("journal"), self.text("volume"),
                        self.text("issue"), self.text("pages"), self.text("doi"), self.text("pmid"),
                        self.text("pmcid"), self.text("url"), self.text("alt_url"))


def _allowed_text(col: _Col) -> str:
    if col.vocab is not None:
        return ", ".join(m.value for m in col.vocab)
    if col.kind in (_INT, _FLOAT):
        what = "a whole number" if col.kind == _INT else "a finite number"
        if col.low is not None and col.high is not None:
            return f"{what} from {col.low:g} to {col.high:g}"
        if col.low is not None:
            return f"{what} of at least {col.low:g}"
        return what
    return "non-empty text" if col.required else "text"


# ----------------------------------------------------------------------------- reading


def _read_records(text: str, file: str, schema: Sequence[_Col],
                  problems: list[DataProblem]) -> list[tuple[int, dict[str, str]]]:
    """Split ``text`` into (line, {column: cell}) after checking the header and cell shapes."""
    names = [c.name for c in schema]
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        problems.append(DataProblem(file, 1, "(header)", "", ", ".join(names), "empty file"))
        return []
    header = [h.strip() for h in header]
    for h in header:
        if h not in names:
            problems.append(DataProblem(file, 1, h, h, ", ".join(names),
                                        "unknown column (quoted excerpts are not shipped)" if "excerpt" in h.lower()
                                        else "unknown column"))
    seen: set[str] = set()
    for h in header:
        if h in seen:
            problems.append(DataProblem(file, 1, h, h, "each column once", "duplicate column"))
        seen.add(h)
    for n in names:
        if n not in header:
            problems.append(DataProblem(file, 1, n, "", ", ".join(names), "missing column"))
    if problems:
        return []
    records: list[tuple[int, dict[str, str]]] = []
    for cells in reader:
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            problems.append(DataProblem(file, line, "(row)", f"{len(cells)} cells", f"{len(header)} cells",
                                        "wrong number of cells"))
            continue
        record = dict(zip(header, cells, strict=True))
        for name, cell in record.items():
            if "\n" in cell or "\r" in cell:
                problems.append(DataProblem(file, line, name, cell[:40] + "...", "one line of text",
                                            "line break in a cell"))
            elif len(cell) > MAX_CELL_CHARS:
                problems.append(DataProblem(file, line, name, cell[:40] + "...",
                                            f"at most {MAX_CELL_CHARS} characters",
                                            "too long (quoted excerpts are not shipped)"))
        records.append((line, record))
    return records


def _read_text(path: str | Path | None, default: str) -> tuple[str, str]:
    if path is None:
        return resources.files(_PACKAGE).joinpath("data").joinpath(default).read_text(encoding="utf-8"), default
    p = Path(path)
    return p.read_text(encoding="utf-8"), str(p)


def _check_common(r: _Row, ident: str, ids: dict[str, int], citation: Citation, subcomparison: str) -> None:
    if ident and not _ID_RE.match(ident):
        r.problem("id", "lower-case letters, digits and '-' (a stable slug)")
    elif ident in ids:
        r.problem("id", "a unique id", f"already used on line {ids[ident]}")
    else:
        ids[ident] = r.line
    if subcomparison and not _LABEL_RE.match(subcomparison):
        r.problem("subcomparison", "letters, digits and '_' (e.g. fusion_TLIF)")
    if not (citation.doi or citation.pmid or citation.url):
        r.problem("doi", "a DOI, a PMID or a URL on every row", "no citation link", value="")
    for col, value, pattern, what in (("doi", citation.doi, _DOI_RE, "a DOI such as 10.1186/s13018-018-0941-8"),
                                      ("pmid", citation.pmid, _PMID_RE, "digits"),
                                      ("pmcid", citation.pmcid, _PMCID_RE, "PMC followed by digits"),
                                      ("url", citation.url, _URL_RE, "an http(s) address"),
                                      ("alt_url", citation.alt_url, _URL_RE, "an http(s) address")):
        if value and not pattern.match(value):
            r.problem(col, what)


# ----------------------------------------------------------------------------- studies.csv


def _parse_estimate(r: _Row) -> PublishedEstimate:
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


def _present(*values: object) -> bool:
    return all(v is not None for v in values)


def _check_estimate(r: _Row, e: PublishedEstimate) -> None:
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
    if m in _PAIRS and not _present(e.mis_value, e.open_value):
        r.problem("mis_value" if e.mis_value is None else "open_value", "a number", f"required for {m.value}")
    if m is Measure.SINGLE_ARM and (e.mis_value is None or e.open_value is not None):
        r.problem("mis_value", "mis_value only (no comparator)", "single_arm")
    if m in (Measure.NARRATIVE, Measure.RANGE_PAIR, Measure.COMBINED_PROPORTION) and (
            e.mis_value is not None or e.open_value is not None):
        r.problem("mis_value", "empty", f"{m.value} rows have no arm values")
    if m is Measure.RANGE_PAIR and not _present(e.mis_spread_low, e.open_spread_low):
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
    if e.design in _META_DESIGNS and e.k_studies == 1:
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


def _check_arm_link(r: _Row, e: PublishedEstimate, arms: dict[str, ArmSummary]) -> None:
    if not e.arm_id:
        return
    arm = arms.get(e.arm_id)
    if arm is None:
        r.problem("arm_id", "an id from arm_data.csv", "unknown arm row")
        return
    if arm.outcome is not e.outcome or arm.comparison is not e.comparison:
        r.problem("arm_id", f"an arm row for {e.comparison.value}/{e.outcome.value}",
                  f"arm row is {arm.comparison.value}/{arm.outcome.value}")
    pairs = {ArmStatistic.MEAN_SD: (arm.mis_mean, arm.open_mean), ArmStatistic.MEAN_ONLY: (arm.mis_mean, arm.open_mean),
             ArmStatistic.PERCENT: (arm.mis_pct, arm.open_pct), ArmStatistic.MEDIAN_IQR: (arm.mis_median, arm.open_median),
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
    text, file = _read_text(path, STUDIES_FILE)
    return _load_studies(text, file, arm_rows)


def _load_studies(text: str, file: str, arm_rows: Sequence[ArmSummary]) -> tuple[PublishedEstimate, ...]:
    problems: list[DataProblem] = []
    schema = {c.name: c for c in _STUDY_SCHEMA}
    by_id = {a.id: a for a in arm_rows}
    ids: dict[str, int] = {}
    out: list[PublishedEstimate] = []
    for line, cells in _read_records(text, file, _STUDY_SCHEMA, problems):
        r = _Row(file, line, cells, schema, problems)
        before = len(problems)
        rec = _parse_estimate(r)
        if len(problems) == before:
            _check_common(r, rec.id, ids, rec.citation, rec.subcomparison)
            _check_estimate(r, rec)
            _check_arm_link(r, rec, by_id)
        if len(problems) == before:
            out.append(rec)
    if problems:
        raise EvidenceDataError(problems)
    return tuple(out)


@functools.cache
def _shipped_studies() -> tuple[PublishedEstimate, ...]:
    text, file = _read_text(None, STUDIES_FILE)
    return _load_studies(text, file, _shipped_arms())


# ----------------------------------------------------------------------------- arm_data.csv


def _parse_arm(r: _Row) -> ArmSummary:
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


def _check_arm(r: _Row, a: ArmSummary) -> None:
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
        if _present(q1, med, q3) and not q1 <= med <= q3:
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
    text, file = _read_text(path, ARM_FILE)
    return _load_arms(text, file)


def _load_arms(text: str, file: str) -> tuple[ArmSummary, ...]:
    problems: list[DataProblem] = []
    schema = {c.name: c for c in _ARM_SCHEMA}
    ids: dict[str, int] = {}
    out: list[ArmSummary] = []
    for line, cells in _read_records(text, file, _ARM_SCHEMA, problems):
        r = _Row(file, line, cells, schema, problems)
        before = len(problems)
        rec = _parse_arm(r)
        if len(problems) == before:
            _check_common(r, rec.id, ids, rec.citation, rec.subcomparison)
            _check_arm(r, rec)
        if len(problems) == before:
            out.append(rec)
    if problems:
        raise EvidenceDataError(problems)
    return tuple(out)


@functools.cache
def _shipped_arms() -> tuple[ArmSummary, ...]:
    text, file = _read_text(None, ARM_FILE)
    return _load_arms(text, file)


# ----------------------------------------------------------------------------- selection


class EvidenceRecord(Protocol):
    """What :func:`select` and the claims map need from a row (both record types qualify)."""

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
        A scorecard claim key (``analysis.claims``); keeps the rows that the claims map links to
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
        # imported here because claims_map builds on this module's vocabularies
        from spinetrack.evidence.claims_map import claim_evidence, relation

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
