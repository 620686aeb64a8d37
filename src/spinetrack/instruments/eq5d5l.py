"""EQ-5D-5L: descriptive system, EQ VAS and the index value from a national value set.

Structure and scoring only: the EQ-5D wording is copyrighted (registration with the EuroQol
Research Foundation); the labels here are spinetrack's own neutral labels.

Items ``MO``, ``SC``, ``UA``, ``PD``, ``AD`` (levels 1-5, all required) and ``vas`` (EQ VAS,
0-100 integer, optional). ``score(answers, value_set="England")`` gives

``total``       the index value of the health state in that value set;
``subscales``   ``health_state`` (e.g. ``"21111"``, dimensions in the order above), ``vas``
                (``None`` when not answered) and ``value_set`` (the set's canonical name).

Value sets
----------
The coefficients ship as package data in ``value_sets/eq5d5l_value_sets.csv`` (one column per
set), with the source paper of every set in ``value_sets/eq5d5l_value_set_references.csv`` and
the dataset's origin and licence in ``value_sets/provenance.json`` (R package ``eq5d``, MIT).

For an *additive* set::

    index = StartValue + Intercept (only when the state is not 11111) + sum of the five decrements

where the decrement of dimension D at level L is row ``DL`` of the table. Level 1 has no
decrement: the table writes it ``NA`` (most sets) or ``0`` (England); both mean 0. The
coefficients are stored with their sign (negative), so they are *added*; this reproduces the
published minimum of the English set, -0.285 for 55555 (Devlin et al., Health Econ
2018;27(1):7-22).

Sets that use terms whose rule the coefficient table does not state (``MO45``...``AD45``,
``Num45sq``, ``N4``, ``N5``, ``MOAD``, ``PDAD``) are refused with a ValidationError ("not
supported yet: uses special terms ..."); :func:`unsupported_value_sets` lists them with the
reason. The source paper of such a set must be read before it is supported.

The index is the exact model value (each of the 3,125 states is summed once with
``math.fsum`` and looked up afterwards), not rounded: publications usually print three
decimals, so round for display only. Scalar and vectorised scoring read the same table, so
they give identical numbers.

A site adds its own additive set with :func:`register_value_set`.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import Any

import numpy as np

from spinetrack.errors import ValidationError
from spinetrack.i18n import N_
from spinetrack.instruments.base import (
    AnswerOption,
    Definition,
    Display,
    Instrument,
    Item,
    ItemType,
    Listing,
    Score,
    ScoreArray,
)

__all__ = [
    "COEFFICIENT_KEYS",
    "DEFAULT_VALUE_SET",
    "DIMENSIONS",
    "EQ5D5L",
    "SPECIAL_TERMS",
    "Eq5d5l",
    "ValueSet",
    "coefficients",
    "health_state",
    "index",
    "provenance",
    "reference",
    "register_value_set",
    "unsupported_value_sets",
    "value_sets",
]

DIMENSIONS = ("MO", "SC", "UA", "PD", "AD")
LEVELS = (1, 2, 3, 4, 5)
DEFAULT_VALUE_SET = "England"
# Terms some published sets add to the main effects; their rule is not given by the table.
SPECIAL_TERMS = ("MO45", "SC45", "UA45", "PD45", "AD45", "Num45sq", "N4", "N5", "MOAD", "PDAD")
LEVEL_KEYS = tuple(f"{d}{lv}" for d in DIMENSIONS for lv in LEVELS)
COEFFICIENT_KEYS = ("StartValue", "Intercept", *LEVEL_KEYS)
_N_STATES = 5 ** 5
_PLACE = np.array([625, 125, 25, 5, 1], dtype=np.intp)  # MO is the most significant digit

_PACKAGE = "spinetrack.instruments"
_DATA_DIR = "value_sets"
_COEF_FILE = "eq5d5l_value_sets.csv"
_REF_FILE = "eq5d5l_value_set_references.csv"


@dataclass(frozen=True, slots=True)
class ValueSet:
    """An additive EQ-5D-5L value set: ``decrements[d][level - 1]`` (level 1 → 0.0; five per dimension)."""

    name: str
    start: float
    intercept: float
    decrements: Mapping[str, tuple[float, ...]]
    reference: str
    builtin: bool

    def coefficients(self) -> dict[str, float]:
        out = {"StartValue": self.start, "Intercept": self.intercept}
        for d in DIMENSIONS:
            for lv in LEVELS:
                out[f"{d}{lv}"] = self.decrements[d][lv - 1]
        return out

    def value(self, levels: tuple[int, ...]) -> float:
        """The index of one state (levels 1-5 in DIMENSIONS order), summed exactly."""
        terms = [self.start]
        if any(lv != 1 for lv in levels):
            terms.append(self.intercept)
        terms.extend(self.decrements[d][lv - 1] for d, lv in zip(DIMENSIONS, levels, strict=True))
        return math.fsum(terms)

    def table(self) -> np.ndarray:
        """Index of all 3,125 states, position ``sum((level - 1) * 5 ** (4 - k))``."""
        return np.fromiter((self.value(s) for s in itertools.product(LEVELS, repeat=5)), dtype=np.float64,
                           count=_N_STATES)


# ---------------------------------------------------------------------------------------------
# Loading the shipped table
# ---------------------------------------------------------------------------------------------

def _read_text(name: str) -> str:
    return resources.files(_PACKAGE).joinpath(_DATA_DIR).joinpath(name).read_text(encoding="utf-8")


def _cell(raw: str) -> float | None:
    raw = raw.strip()
    return None if raw in ("", "NA") else float(raw)


def _citation(row: Mapping[str, str]) -> str:
    parts = []
    if row.get("DOI"):
        parts.append(f"doi:{row['DOI']}")
    if row.get("PubMed"):
        parts.append(f"PMID {row['PubMed']}")
    if row.get("ISBN"):
        parts.append(f"ISBN {row['ISBN']}")
    if row.get("ExternalURL"):
        parts.append(row["ExternalURL"])
    return f"EQ-5D-5L value set {row['Country']}: " + "; ".join(parts)


def _from_table(name: str, col: Mapping[str, float | None], ref: str) -> ValueSet | str:
    """A built-in set, or the reason it is not supported."""
    special = [t for t in SPECIAL_TERMS if col.get(t) is not None]
    if special:
        return (f"not supported yet: uses special terms {', '.join(special)}, whose rule is not given by the "
                "coefficient table or by its valuation paper as spinetrack ships it")
    level1 = [f"{d}1" for d in DIMENSIONS if col.get(f"{d}1") not in (None, 0.0)]
    if level1:
        return f"not supported yet: non-zero level-1 terms {', '.join(level1)} (not an additive decrement model)"
    missing = [k for k in LEVEL_KEYS if not k.endswith("1") and col.get(k) is None]
    if missing:
        return f"not supported: missing coefficients {', '.join(missing)}"
    start = col.get("StartValue")
    if start != 1.0:
        return f"not supported yet: StartValue {start} is not 1"
    vs = ValueSet(name, 1.0, col.get("Intercept") or 0.0,
                  MappingProxyType({d: (0.0, *(float(col[f"{d}{lv}"] or 0.0) for lv in LEVELS[1:]))
                                    for d in DIMENSIONS}), ref, builtin=True)
    problem = _consistency_problem(vs)
    return problem if problem else vs


def _consistency_problem(vs: ValueSet) -> str | None:
    if vs.intercept > 0:
        return f"Intercept {vs.intercept} is positive (states near 11111 would exceed 1)"
    for d in DIMENSIONS:
        dec = vs.decrements[d]
        if any(x > 0 for x in dec) or any(b > a for a, b in itertools.pairwise(dec)):
            return (f"{d} decrements {list(dec[1:])} are not all <= 0 and non-increasing with the level "
                    "(coefficients are added, so they must be negative)")
    return None


def _load_builtin() -> tuple[dict[str, ValueSet], dict[str, str]]:
    refs = {row["Country"]: _citation(row) for row in csv.DictReader(io.StringIO(_read_text(_REF_FILE)))}
    rows = list(csv.reader(io.StringIO(_read_text(_COEF_FILE))))
    header = rows[0][1:]
    table = {r[0]: r[1:] for r in rows[1:]}
    supported: dict[str, ValueSet] = {}
    unsupported: dict[str, str] = {}
    for i, name in enumerate(header):
        col = {key: _cell(vals[i]) for key, vals in table.items()}
        got = _from_table(name, col, refs.get(name, f"EQ-5D-5L value set {name}: no reference in {_REF_FILE}"))
        if isinstance(got, ValueSet):
            supported[name] = got
        else:
            unsupported[name] = got
    return supported, unsupported


_BUILTIN, _UNSUPPORTED = _load_builtin()
_REGISTERED: dict[str, ValueSet] = {}
_TABLES: dict[str, tuple[ValueSet, np.ndarray]] = {}
_LOCK = threading.Lock()


def _all_sets() -> dict[str, ValueSet]:
    return {**_BUILTIN, **_REGISTERED}


# ---------------------------------------------------------------------------------------------
# Public functions
# ---------------------------------------------------------------------------------------------

def value_sets() -> list[str]:
    """Names of the value sets that can be used: built-in additive sets, then registered ones."""
    return list(_all_sets())


def unsupported_value_sets() -> dict[str, str]:
    """Built-in value sets that are refused, with the reason."""
    return dict(_UNSUPPORTED)


def _resolve(value_set: Any) -> ValueSet:
    if value_set is None:
        value_set = DEFAULT_VALUE_SET
    sets = _all_sets()
    if isinstance(value_set, str):
        if value_set in sets:
            return sets[value_set]
        folded = value_set.strip().casefold()
        for name, vs in sets.items():
            if name.casefold() == folded:
                return vs
        for name, reason in _UNSUPPORTED.items():
            if name.casefold() == folded:
                raise ValidationError(field="value_set", value=value_set, allowed=list(sets), reason=reason)
    raise ValidationError(field="value_set", value=value_set, allowed=list(sets), reason="unknown value set")


def _table(vs: ValueSet) -> np.ndarray:
    cached = _TABLES.get(vs.name)
    if cached is not None and cached[0] is vs:
        return cached[1]
    tab = vs.table()
    tab.setflags(write=False)
    _TABLES[vs.name] = (vs, tab)
    return tab


def reference(value_set: str = DEFAULT_VALUE_SET) -> str:
    """The source of a value set (DOI / PubMed of the valuation paper, or the site's reference)."""
    return _resolve(value_set).reference


def coefficients(value_set: str = DEFAULT_VALUE_SET) -> dict[str, float]:
    """The coefficients of a value set, level 1 written as 0.0."""
    return _resolve(value_set).coefficients()


def provenance() -> dict[str, Any]:
    """Origin, licence and checksums of the shipped value-set table (``value_sets/provenance.json``)."""
    return json.loads(_read_text("provenance.json"))


def health_state(levels: Any) -> str:
    """The five-digit health state, e.g. ``"21111"``, of levels in DIMENSIONS order."""
    return "".join(str(int(v)) for v in levels)


def _check_states(states: Any) -> np.ndarray:
    arr = np.asarray(states)
    if arr.ndim != 2 or arr.shape[1] != 5:
        raise ValidationError(field="eq5d5l.states", value=f"shape {arr.shape}",
                              allowed="an array of shape (n, 5): levels of MO, SC, UA, PD, AD")
    if arr.dtype.kind not in "iuf":
        raise ValidationError(field="eq5d5l.states", value=str(arr.dtype), allowed="integer levels 1 to 5")
    if arr.size and (arr.min() < 1 or arr.max() > 5 or (arr.dtype.kind == "f" and not np.all(arr == np.floor(arr)))):
        bad = ~np.isin(arr, LEVELS)
        row, col = (int(i) for i in np.argwhere(bad)[0])
        raise ValidationError(field=f"eq5d5l.{DIMENSIONS[col]}[{row}]", value=arr[row, col].item(),
                              allowed=list(LEVELS))
    return arr.astype(np.intp, copy=False)


def index(states: Any, value_set: str = DEFAULT_VALUE_SET) -> np.ndarray:
    """Index values (float64, shape (n,)) of an integer array of states, shape (n, 5), levels 1-5."""
    table = _table(_resolve(value_set))
    arr = _check_states(states)
    pos = (arr[:, 0] - 1) * 625
    for k, place in enumerate((125, 25, 5, 1), start=1):
        pos += (arr[:, k] - 1) * place
    return table[pos]


def register_value_set(name: str, coefficients: Mapping[str, float], reference: str, *,
                       replace: bool = False) -> str:
    """Add a site's additive value set; returns its name.

    ``coefficients`` uses the keys of the shipped table: ``MO2``...``AD5`` (required; negative
    decrements, non-increasing with the level), ``MO1``...``AD1`` (optional, must be 0),
    ``StartValue`` (optional, must be 1) and ``Intercept`` (optional, <= 0; applied to every
    state but 11111). Special terms (``SPECIAL_TERMS``) are refused. ``reference`` cites the
    valuation paper. A built-in name cannot be taken; a registered one only with ``replace``.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValidationError(field="value_set.name", value=name, allowed="a non-empty name")
    name = name.strip()
    if not isinstance(reference, str) or not reference.strip():
        raise ValidationError(field=f"value_set.{name}.reference", value=reference,
                              allowed="a citation of the valuation paper (authors, journal, DOI)")
    if not isinstance(coefficients, Mapping):
        raise ValidationError(field=f"value_set.{name}.coefficients", value=type(coefficients).__name__,
                              allowed="a mapping of coefficient name → number")
    folded = name.casefold()
    for existing in (*_BUILTIN, *_UNSUPPORTED):
        if existing.casefold() == folded:
            raise ValidationError(field="value_set.name", value=name, allowed="a name not used by a built-in set",
                                  reason=f"{existing} is built in")
    coef: dict[str, float] = {}
    for key, val in coefficients.items():
        field = f"value_set.{name}.{key}"
        if key in SPECIAL_TERMS:
            raise ValidationError(field=field, value=val, allowed=list(COEFFICIENT_KEYS),
                                  reason=f"not supported yet: uses special terms ({key})")
        if key not in COEFFICIENT_KEYS:
            raise ValidationError(field=field, value=val, allowed=list(COEFFICIENT_KEYS), reason="unknown coefficient")
        if isinstance(val, bool) or not isinstance(val, (int, float)) or not math.isfinite(val):
            raise ValidationError(field=field, value=val, allowed="a finite number")
        coef[key] = float(val)
    for key in LEVEL_KEYS:
        if key.endswith("1"):
            if coef.get(key, 0.0) != 0.0:
                raise ValidationError(field=f"value_set.{name}.{key}", value=coef[key], allowed="0 or absent",
                                      reason="level 1 has no decrement in an additive set")
        elif key not in coef:
            raise ValidationError(field=f"value_set.{name}.{key}", value=None, allowed="a number <= 0",
                                  reason="required")
    if coef.get("StartValue", 1.0) != 1.0:
        raise ValidationError(field=f"value_set.{name}.StartValue", value=coef["StartValue"], allowed="1 or absent",
                              reason="an additive set gives 11111 the value 1")
    vs = ValueSet(name, 1.0, coef.get("Intercept", 0.0),
                  MappingProxyType({d: (0.0, *(coef[f"{d}{lv}"] for lv in LEVELS[1:])) for d in DIMENSIONS}),
                  reference.strip(), builtin=False)
    problem = _consistency_problem(vs)
    if problem:
        raise ValidationError(field=f"value_set.{name}.coefficients", value=None,
                              allowed="decrements <= 0, non-increasing with the level; Intercept <= 0", reason=problem)
    with _LOCK:
        clash = next((n for n in _REGISTERED if n.casefold() == folded), None)
        if clash is not None and not replace:
            raise ValidationError(field="value_set.name", value=name, allowed="a new name, or replace=True",
                                  reason=f"{clash} is already registered")
        if clash is not None:
            del _REGISTERED[clash]
            _TABLES.pop(clash, None)
        _REGISTERED[name] = vs
    return name


def _unregister_value_set(name: str) -> None:
    """Remove a registered set (for tests)."""
    with _LOCK:
        _REGISTERED.pop(name, None)
        _TABLES.pop(name, None)


# ---------------------------------------------------------------------------------------------
# The instrument
# ---------------------------------------------------------------------------------------------

_LEVELS_TEXT = (N_("Level 1 of 5 (no problem)"), N_("Level 2 of 5"), N_("Level 3 of 5"), N_("Level 4 of 5"),
                N_("Level 5 of 5 (most severe)"))
_LEVEL_OPTIONS = tuple(AnswerOption(str(v), v, label) for v, label in zip(LEVELS, _LEVELS_TEXT, strict=True))
_DIM_LABELS = (N_("Mobility"), N_("Self-care"), N_("Usual activities"), N_("Pain / discomfort"),
               N_("Anxiety / depression"))
# Lowest index any shipped additive set gives (its 55555); a registered set may go lower.
_MIN_INDEX = min(vs.value((5, 5, 5, 5, 5)) for vs in _BUILTIN.values())

DEFINITION = Definition(
    code="eq5d5l", title=N_("EQ-5D-5L"), version="5L",
    items=(*(Item(d, label, _LEVEL_OPTIONS) for d, label in zip(DIMENSIONS, _DIM_LABELS, strict=True)),
           Item("vas", N_("Self-rated health today, 0 to 100 (higher is better)"), type=ItemType.INTEGER, low=0,
                high=100, required=False)),
    score_low=_MIN_INDEX, score_high=1, score_unit="index", higher_is_better=True,
    reference="EuroQol Research Foundation (EQ-5D-5L); index from national value sets, each cited in "
              "spinetrack/instruments/value_sets/eq5d5l_value_set_references.csv",
    licence="Copyrighted; registration with the EuroQol Research Foundation. spinetrack ships structure and "
            "scoring only. Value-set coefficients from the R package eq5d (MIT); cite the original papers.",
    display=Display(
        plain_name=N_("Your health today"),
        choice_hint=N_("Choose the level that describes your health today: level 1 means no problem, level 5 the "
                       "most severe."),
        short="EQ-5D-5L index", axis="EQ-5D-5L index (1 = full health)", axis_range=(None, 1),
        report_short="EQ-5D-5L index", decimals=3),
    lists=frozenset({Listing.ANALYSED, Listing.TIMELINE, Listing.VISIT_DEFAULT}),
    value_set=True,
)


class Eq5d5l(Instrument):
    definition = DEFINITION

    def _score(self, answers: dict[str, Any], value_set: str | None = DEFAULT_VALUE_SET) -> Score:
        """Examples
        --------
        >>> s = EQ5D5L.score({"MO": 1, "SC": 1, "UA": 1, "PD": 1, "AD": 1, "vas": 90})
        >>> s.total, s.subscales["health_state"]
        (1.0, '11111')
        >>> round(EQ5D5L.score({"MO": 5, "SC": 5, "UA": 5, "PD": 5, "AD": 5}).total, 3)  # Devlin 2018
        -0.285
        """
        self._required(answers, *DIMENSIONS)
        vs = _resolve(value_set)
        levels = [answers[d] for d in DIMENSIONS]
        total = float(_table(vs)[sum((lv - 1) * int(p) for lv, p in zip(levels, _PLACE, strict=True))])
        vas = answers["vas"]
        return Score("eq5d5l", DEFINITION.version, total, 5 + (vas is not None), 6, True,
                     subscales={"health_state": health_state(levels), "vas": vas, "value_set": vs.name})

    def _score_many(self, cols: dict[str, np.ndarray], n: int, value_set: str | None = DEFAULT_VALUE_SET
                    ) -> ScoreArray:
        """Vectorised: NaN in any dimension → not valid, total NaN.

        Subscales: ``vas`` (float, NaN = not answered) and ``health_state`` as the five-digit
        number (e.g. 21111.0; NaN when a dimension is missing).
        """
        table = _table(_resolve(value_set))
        code = np.zeros(n)
        digits = np.zeros(n)
        for d, place in zip(DIMENSIONS, _PLACE, strict=True):
            code += (cols[d] - 1.0) * float(place)
            digits *= 10.0
            digits += cols[d]
        valid = ~np.isnan(code)
        total = table[np.where(valid, code, 0.0).astype(np.intp)]
        total[~valid] = np.nan
        answered = np.zeros(n, dtype=np.int8)
        for c in (*DIMENSIONS, "vas"):
            answered += ~np.isnan(cols[c])
        return ScoreArray("eq5d5l", total, valid, answered,
                          subscales={"health_state": digits, "vas": cols["vas"].copy()})


EQ5D5L = Eq5d5l()
