"""The columns of ``studies.csv`` and ``arm_data.csv`` and typed access to one record.

Each column is declared once (:class:`Column`: name, kind, required, vocabulary, bounds); the
column names in file order are :data:`STUDY_COLUMNS` and :data:`ARM_COLUMNS`. :class:`Row` reads
one CSV record cell by cell and turns every bad cell into a
:class:`~spinetrack.evidence.records.DataProblem` that names the allowed values.
"""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass
from typing import Final, TypeVar

from spinetrack.evidence.records import Citation, DataProblem, PValue
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

__all__ = ["ARM_COLUMNS", "ARM_SCHEMA", "STUDY_COLUMNS", "STUDY_SCHEMA", "Column", "Row", "allowed_text"]

_TEXT, _INT, _FLOAT, _BOOL, _ENUM, _FLAGS, _P = "text", "int", "float", "bool", "enum", "flags", "p"


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    kind: str
    required: bool = False
    vocab: type[enum.StrEnum] | None = None
    low: float | None = None
    high: float | None = None


def _c(name: str, kind: str = _TEXT, required: bool = False, vocab: type[enum.StrEnum] | None = None,
       low: float | None = None, high: float | None = None) -> Column:
    return Column(name, kind, required, vocab, low, high)


_CITATION_COLS: Final = (
    _c("authors"), _c("year", _INT, low=1900, high=2100), _c("title"), _c("journal"), _c("volume"), _c("issue"),
    _c("pages"), _c("doi"), _c("pmid"), _c("pmcid"), _c("url"), _c("alt_url"),
)

STUDY_SCHEMA: Final = (
    _c("id", required=True), _c("comparison", _ENUM, True, Comparison), _c("subcomparison", required=True),
    _c("contrast", required=True), _c("outcome", _ENUM, True, Outcome), _c("outcome_label", required=True),
    _c("timepoint", required=True), _c("timepoint_norm", _ENUM, True, Timepoint),
    _c("measure", _ENUM, True, Measure), _c("estimate", _FLOAT), _c("ci_low", _FLOAT), _c("ci_high", _FLOAT),
    _c("ci_level", _FLOAT, low=0.5, high=0.999), _c("se", _FLOAT, low=0), _c("p", _P),
    _c("i2", _FLOAT, low=0, high=100),
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

ARM_SCHEMA: Final = (
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
STUDY_COLUMNS: Final = tuple(c.name for c in STUDY_SCHEMA)
ARM_COLUMNS: Final = tuple(c.name for c in ARM_SCHEMA)
_P_RE: Final = re.compile(r"^(<|>)?(\d+(\.\d+)?|\.\d+)$")
_BOOLS: Final = {"true": True, "false": False}

E = TypeVar("E", bound=enum.StrEnum)


class Row:
    """Typed access to one CSV record; every bad cell becomes a :class:`~spinetrack.evidence.records.DataProblem`."""

    def __init__(self, file: str, line: int, cells: dict[str, str], schema: dict[str, Column],
                 problems: list[DataProblem]) -> None:
        self.file, self.line, self.cells, self.schema, self.problems = file, line, cells, schema, problems

    def problem(self, column: str, allowed: str, reason: str = "", value: str | None = None) -> None:
        self.problems.append(DataProblem(self.file, self.line, column,
                                         self.cells.get(column, "") if value is None else value, allowed, reason))

    def _raw(self, name: str) -> str:
        col = self.schema[name]
        raw = self.cells[name].strip()
        if col.required and not raw:
            self.problem(name, allowed_text(col), "required")
        return raw

    def text(self, name: str) -> str:
        return self._raw(name)

    def integer(self, name: str) -> int | None:
        raw, col = self._raw(name), self.schema[name]
        if not raw:
            return None
        if not re.fullmatch(r"-?\d+", raw):
            self.problem(name, allowed_text(col), "not a whole number")
            return None
        value = int(raw)
        if (col.low is not None and value < col.low) or (col.high is not None and value > col.high):
            self.problem(name, allowed_text(col))
            return None
        return value

    def number(self, name: str) -> float | None:
        raw, col = self._raw(name), self.schema[name]
        if not raw:
            return None
        try:
            value = float(raw)
        except ValueError:
            self.problem(name, allowed_text(col), "not a number")
            return None
        if not math.isfinite(value) or (col.low is not None and value < col.low) or (
                col.high is not None and value > col.high):
            self.problem(name, allowed_text(col))
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


def allowed_text(col: Column) -> str:
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
