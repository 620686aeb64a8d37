"""What every PROM instrument shares: its definition (items, answer options, licence, codes),
the typed score result, validation, and the vectorised result.

Each instrument module defines one :class:`Instrument` subclass instance. Its public surface:

``definition``                     a :class:`Definition` (items with codes, neutral labels,
                                   answer options with codes and values; version; licence note;
                                   LOINC codes where they exist; score range and direction).
``score(answers, **options)``      one response → :class:`Score`; invalid *input* (unknown item,
                                   value out of range, wrong type) raises
                                   :class:`~spinetrack.errors.ValidationError` naming the item and
                                   the allowed values; a well-formed response that cannot give a
                                   valid total (too many missing sections) returns a Score with
                                   ``valid=False`` and the reason, so it can still be stored.
``score_many(columns, **options)`` a column per item (numpy arrays; NaN = missing) →
                                   :class:`ScoreArray`, the same numbers as ``score`` row by row.
``check(answers)``                 validation alone; ``score(..., strict=True)`` raises on an
                                   invalid total instead of returning it.

The labels shipped here are spinetrack's own short neutral labels, **not the validated
wording** of any instrument (ODI and EQ-5D wording is copyrighted); a site loads its licensed
wording with :mod:`spinetrack.instruments.wording`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spinetrack.domain._validate import EARLIEST_DATE
from spinetrack.errors import ValidationError
from spinetrack.i18n import N_

__all__ = [
    "DEMO_LABEL_NOTE",
    "AnswerOption",
    "Definition",
    "Display",
    "Instrument",
    "Item",
    "ItemType",
    "Listing",
    "Score",
    "ScoreArray",
    "as_float_column",
    "check_item_codes",
]

LATEST_ANSWER_DATE = dt.date(2100, 12, 31)
"""The latest date a date item accepts (with :data:`spinetrack.domain._validate.EARLIEST_DATE`,
1900-01-01, a data-entry range: instruments read no clock, the store checks timing)."""
DEMO_LABEL_NOTE = ("spinetrack's own short neutral labels for demonstration; not the validated wording of the "
                   "instrument. Load a licensed wording pack for clinical use.")


class ItemType(enum.StrEnum):
    """How an item is answered (maps to FHIR ``Questionnaire.item.type``)."""

    CHOICE = "choice"      # one of ``options`` (by value)
    INTEGER = "integer"    # a whole number in [low, high]
    DECIMAL = "decimal"    # a number in [low, high]
    DATE = "date"          # an ISO date


@dataclass(frozen=True, slots=True)
class AnswerOption:
    """One answer: a stable ``code``, the ``value`` that is scored, a neutral ``label``."""

    code: str
    value: int
    label: str


@dataclass(frozen=True, slots=True)
class Item:
    """One item. ``options`` for a choice; ``low``/``high`` for a number."""

    code: str
    label: str
    options: tuple[AnswerOption, ...] = ()
    low: float | None = None
    high: float | None = None
    required: bool = True
    type: ItemType = ItemType.CHOICE
    loinc: str | None = None
    unit: str | None = None

    def __post_init__(self) -> None:
        if self.type is ItemType.CHOICE and not self.options:
            raise ValueError(f"choice item {self.code} needs options")
        if self.type in (ItemType.INTEGER, ItemType.DECIMAL) and (self.low is None or self.high is None):
            raise ValueError(f"numeric item {self.code} needs low and high")

    @property
    def values(self) -> tuple[int, ...]:
        return tuple(o.value for o in self.options)

    def allowed_text(self) -> str:
        if self.type is ItemType.CHOICE:
            return ", ".join(str(v) for v in self.values)
        if self.type is ItemType.DATE:
            return "an ISO date (YYYY-MM-DD)"
        assert self.low is not None and self.high is not None
        whole = " (whole numbers)" if self.type is ItemType.INTEGER else ""
        return f"{self.low:g} to {self.high:g}{whole}"

    def allowed(self) -> list[int] | str:
        return list(self.values) if self.type is ItemType.CHOICE else self.allowed_text()

    def check(self, instrument: str, value: Any) -> Any:
        """Return the value normalised (ints for choices and integers), or raise naming the item."""
        name = f"{instrument}.{self.code}"
        if value is None:
            return None
        if self.type is ItemType.DATE:
            day: dt.date | None = value if isinstance(value, dt.date) else None
            if isinstance(value, str):
                with contextlib.suppress(ValueError):
                    day = dt.date.fromisoformat(value)
            if day is None:
                raise ValidationError(field=name, value=value, allowed=self.allowed_text())
            # catches years 0001 and 9999 (typing errors)
            if not EARLIEST_DATE <= (day.date() if isinstance(day, dt.datetime) else day) <= LATEST_ANSWER_DATE:
                raise ValidationError(field=name, value=day.isoformat(), allowed=(
                    f"a date from {EARLIEST_DATE.isoformat()} to {LATEST_ANSWER_DATE.isoformat()}"))
            return day.isoformat()
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValidationError(field=name, value=value, allowed=self.allowed(), reason=N_("not a number"))
        try:
            finite = math.isfinite(value)
        except OverflowError:
            finite = False
        if not finite:
            raise ValidationError(field=name, value=value, allowed=self.allowed())
        if self.type is ItemType.CHOICE:
            if value not in self.values:
                raise ValidationError(field=name, value=value, allowed=self.allowed())
            return int(value)
        assert self.low is not None and self.high is not None
        if not self.low <= value <= self.high:
            raise ValidationError(field=name, value=value, allowed=self.allowed_text())
        if self.type is ItemType.INTEGER:
            if not float(value).is_integer():
                raise ValidationError(field=name, value=value, allowed=self.allowed_text())
            return int(value)
        return float(value)


class Listing(enum.StrEnum):
    """The lists of instruments that spinetrack's pages and analysis show, each derived from the
    instruments whose :attr:`Definition.lists` name it (in registry order)."""

    ANALYSED = "analysed"                # the analysis' PROM grid (a score per timepoint), the report's trajectories
    TIMELINE = "timeline"                # the clinic's patient timeline and outcome tables
    PATIENT_RESULTS = "patient_results"  # the patient's own results page
    VISIT_DEFAULT = "visit_default"      # ticked by default when the clinic invites a patient to a visit


@dataclass(frozen=True, slots=True)
class Display:
    """How spinetrack names an instrument and its score on its pages: spinetrack's own plain
    words, never the instrument's licensed wording. ``None`` where a page falls back to the title
    (or does not list the instrument)."""

    plain_name: str | None = None        # the patient pages' plain-language name
    choice_hint: str | None = None       # how to answer a choice item, on the patient pages
    skip_hint: str | None = None         # said on an optional item (else the pages' default)
    result_name: str | None = None       # what the score is called in a sentence of the patient's results
    result_scale: str | None = None      # its scale in words ("0 to 10")
    result_trace: str | None = None      # its series name in the patient's result plots
    short: str | None = None             # short name on the clinic pages and plots
    axis: str | None = None              # y-axis title of the clinic plots
    axis_range: tuple[float | None, float | None] | None = None  # y-axis range of the clinic plots
    report_short: str | None = None      # short axis label in the scorecard report
    decimals: int = 1                    # decimals of a score (a mean, a median) in the pages' tables


@dataclass(frozen=True, slots=True)
class Definition:
    """The structure of an instrument: everything but the licensed wording.

    Besides the structure: ``display`` (its names on spinetrack's pages), ``lists`` (the
    :class:`Listing` it belongs to), ``value_set`` (scored with the installation's national
    value set, the ``value_set`` option of ``score``, when the store scores a response) and
    ``own_wording`` (spinetrack's own instrument, worded in full by us: its labels are what the
    patient reads; otherwise they are numbered demonstration labels, :mod:`spinetrack.instruments.wording`).

    The texts (title, item and option labels, the display names) are English, marked with
    ``N_`` for the ``questionnaires`` catalog and translated where they are shown.
    """

    code: str
    title: str
    version: str
    items: tuple[Item, ...]
    score_low: float
    score_high: float
    higher_is_better: bool
    reference: str
    licence: str
    score_unit: str = "points"
    loinc: str | None = None          # LOINC code of the panel / total score, where one exists
    labels_note: str = DEMO_LABEL_NOTE
    display: Display = Display()
    lists: frozenset[Listing] = frozenset()
    value_set: bool = False
    own_wording: bool = False         # worded in full by spinetrack (no licence needed): the patient reads it as is

    def item(self, code: str) -> Item:
        for it in self.items:
            if it.code == code:
                return it
        raise ValidationError(field=f"{self.code}.{code}", value=code, allowed=list(self.item_codes),
                              reason=N_("unknown item"))

    @property
    def item_codes(self) -> tuple[str, ...]:
        return tuple(it.code for it in self.items)

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code, "title": self.title, "version": self.version, "reference": self.reference,
            "licence": self.licence, "loinc": self.loinc, "labels_note": self.labels_note,
            "score": {"low": self.score_low, "high": self.score_high, "unit": self.score_unit,
                      "higher_is_better": self.higher_is_better},
            "items": [{"code": it.code, "label": it.label, "type": str(it.type), "required": it.required,
                       "loinc": it.loinc, "unit": it.unit, "low": it.low, "high": it.high,
                       "options": [{"code": o.code, "value": o.value, "label": o.label} for o in it.options]}
                      for it in self.items],
        }


@dataclass(frozen=True, slots=True)
class Score:
    """The score of one response.

    ``total`` is the instrument's main score on its own scale (``None`` when the response is
    not valid or has no single total); ``subscales`` holds other named values (e.g. the
    EQ-5D-5L health state and VAS, the COMI domains).
    """

    instrument: str
    version: str
    total: float | None
    n_answered: int
    n_items: int
    valid: bool
    reason: str | None = None
    band: str | None = None
    subscales: Mapping[str, Any] = field(default_factory=dict)

    def detail(self) -> dict[str, Any] | None:
        """The compact detail stored beside ``total``: only what the total does not say.

        Holds ``n_answered`` when items were skipped, ``band`` and ``reason`` when set, and the
        subscales; ``None`` when there is nothing to add.
        """
        out: dict[str, Any] = {}
        if self.n_answered < self.n_items:
            out["n_answered"] = self.n_answered
        if self.band is not None:
            out["band"] = self.band
        if self.reason is not None:
            out["reason"] = self.reason
        out.update(self.subscales)
        return out or None

    def as_dict(self) -> dict[str, Any]:
        """The result object of the CLI and API: the total under ``score``."""
        return {
            "instrument": self.instrument,
            "version": self.version,
            "score": self.total,
            "valid": self.valid,
            "reason": self.reason,
            "band": self.band,
            "n_answered": self.n_answered,
            "n_items": self.n_items,
            "subscales": dict(self.subscales),
        }


@dataclass(frozen=True, slots=True)
class ScoreArray:
    """Vectorised scores: ``total`` (float64, NaN where not valid), ``valid`` and ``n_answered``."""

    instrument: str
    total: np.ndarray
    valid: np.ndarray
    n_answered: np.ndarray
    subscales: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.total.shape[0])


def as_float_column(instrument: str, item: Item, column: Any, n: int | None = None) -> np.ndarray:
    """A column of answers as float64 (NaN = missing), refusing values the item does not allow."""
    arr = np.asarray(column, dtype=np.float64)
    if arr.ndim != 1 or (n is not None and arr.shape[0] != n):
        raise ValidationError(field=f"{instrument}.{item.code}", value=f"shape {arr.shape}",
                              allowed=f"a 1-D column of length {n}")
    if item.type is ItemType.CHOICE:
        values = sorted(item.values)
        lo, hi = values[0], values[-1]
        contiguous = values == list(range(lo, hi + 1))
        whole = True
    else:
        lo, hi, contiguous, whole = item.low, item.high, True, item.type is ItemType.INTEGER  # type: ignore[assignment]
    # One pass of comparisons; NaN (missing) compares False everywhere and is never "bad".
    bad = (arr < lo) | (arr > hi) | np.isinf(arr)
    if whole:
        with np.errstate(invalid="ignore"):
            bad |= np.not_equal(np.floor(arr), arr) & ~np.isnan(arr)
    if not contiguous:
        bad |= ~np.isin(arr, np.asarray(values, dtype=np.float64)) & ~np.isnan(arr)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValidationError(field=f"{instrument}.{item.code}[{first}]", value=float(arr[first]),
                              allowed=item.allowed())
    return arr


class Instrument:
    """Base class: subclasses set ``definition`` and implement ``_score`` and ``_score_many``."""

    definition: Definition

    # Short aliases the store uses.
    @property
    def NAME(self) -> str:
        return self.definition.code

    @property
    def ITEMS(self) -> tuple[Item, ...]:
        return self.definition.items

    def check(self, answers: Mapping[str, Any]) -> dict[str, Any]:
        """Validate a response: returns the answers normalised, every item code present."""
        return check_item_codes(self.definition.code, self.definition.items, answers)

    def score(self, answers: Mapping[str, Any], *, strict: bool = False, **options: Any) -> Score:
        result = self._score(self.check(answers), **options)
        if strict and not result.valid:
            raise ValidationError(field=self.definition.code, value=None, allowed="a valid response",
                                  reason=result.reason or N_("not valid"))
        return result

    def score_many(self, columns: Mapping[str, Any], **options: Any) -> ScoreArray:
        """Score many responses: ``columns`` maps item code → 1-D array (NaN = missing)."""
        code = self.definition.code
        unknown = set(columns) - set(self.definition.item_codes)
        if unknown:
            name = sorted(unknown)[0]
            raise ValidationError(field=f"{code}.{name}", value=name, allowed=list(self.definition.item_codes),
                                  reason=N_("unknown item"))
        lengths = {len(np.asarray(c)) for c in columns.values()}
        if len(lengths) > 1:
            raise ValidationError(field=code, value=sorted(lengths), allowed="columns of equal length")
        n = lengths.pop() if lengths else 0
        cols = {}
        for it in self.definition.items:
            if it.type is ItemType.DATE:
                continue
            cols[it.code] = (as_float_column(code, it, columns[it.code], n) if it.code in columns
                             else np.full(n, np.nan))
        return self._score_many(cols, n, **options)

    # A subclass defines ``_score(self, answers, *, <its options>)`` and
    # ``_score_many(self, cols, n, *, <its options>)``: each instrument has its own options, so the
    # base signatures accept any (``*args: Any, **options: Any``).
    def _score(self, *args: Any, **options: Any) -> Score:
        raise NotImplementedError

    def _score_many(self, *args: Any, **options: Any) -> ScoreArray:
        raise NotImplementedError

    def _required(self, answers: Mapping[str, Any], *codes: str) -> None:
        for c in codes:
            if answers.get(c) is None:
                it = self.definition.item(c)
                raise ValidationError(field=f"{self.definition.code}.{c}", value=None, allowed=it.allowed(),
                                      reason=N_("required"))

    def __repr__(self) -> str:
        return f"<Instrument {self.definition.code} {self.definition.version}>"


def check_item_codes(instrument: str, items: tuple[Item, ...], answers: Mapping[str, Any]) -> dict[str, Any]:
    """Refuse unknown item codes and out-of-range values, naming the item and allowed values.

    Returns ``{code: normalised value or None}`` for every item of the instrument.
    """
    if not isinstance(answers, Mapping):
        raise ValidationError(field=f"{instrument}.answers", value=type(answers).__name__,
                              allowed="an object of item code → value")
    by_code = {it.code: it for it in items}
    for code in answers:
        if code not in by_code:
            raise ValidationError(field=f"{instrument}.{code}", value=answers[code], allowed=list(by_code),
                                  reason=N_("unknown item"))
    return {code: it.check(instrument, answers.get(code)) for code, it in by_code.items()}
