"""What matters most to the patient: the values-clarification step of the decision aid (IPDAS
values clarification, as in Option Grid and other IPDAS-certified aids).

The patient weighs four factors, each from 0 ("does not matter to me") to 4 ("matters most to
me"), in plain words. Nothing is pre-set: a factor the patient has not weighed is simply absent,
never a default that would pre-judge the answer. The weights are stored as given
(``store.preferences``) and shown beside the numbers to the clinician; they never change any
number of the aid: they are what the patient says, not an input of a model.

Pure: no I/O. Labels are marked with ``N_`` and translated where they are shown.

References
----------
Elwyn G, O'Connor A, Stacey D, et al. Developing a quality criteria framework for patient
decision aids: online international Delphi consensus process (IPDAS). BMJ 2006;333:417.
Witteman HO, Scherer LD, Gavaruzzi T, et al. Design features of explicit values clarification
methods: a systematic review. Med Decis Making 2016;36(4):453-471.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from spinetrack.errors import ValidationError
from spinetrack.i18n import N_

__all__ = ["FACTORS", "LEVELS", "MAX_WEIGHT", "Factor", "factor", "validate_weights"]

MAX_WEIGHT = 4


@dataclass(frozen=True)
class Factor:
    key: str
    label: str      # the question's subject, N_-marked: translate with gettext where shown
    hint: str       # one plain sentence about what it means


FACTORS: tuple[Factor, ...] = (
    Factor("recovery_time", N_("Getting back to my usual activities quickly"),
           N_("How soon you can work, walk and do what you like again.")),
    Factor("pain_relief", N_("Less pain in my leg or back"),
           N_("How much the pain goes down after one year.")),
    Factor("complication_risk", N_("A low chance of problems from the treatment"),
           N_("For example an infection, or needing another operation.")),
    Factor("avoid_surgery", N_("Not having an operation"),
           N_("Some people prefer to try every other treatment first.")),
)

LEVELS: tuple[tuple[int, str], ...] = (
    (0, N_("Does not matter to me")),
    (1, N_("Matters a little")),
    (2, N_("Matters somewhat")),
    (3, N_("Matters a lot")),
    (4, N_("Matters most to me")),
)

_KEYS = tuple(f.key for f in FACTORS)


def factor(key: str) -> Factor:
    for f in FACTORS:
        if f.key == key:
            return f
    raise KeyError(key)


def validate_weights(data: Mapping[str, Any]) -> dict[str, int]:
    """The weights as stored: ``{factor: 0..4}`` for the factors given (at least one).

    Accepts integers or their digits as text (a form's values). Raises
    :class:`~spinetrack.errors.ValidationError` naming the field (``preferences.<factor>``) and
    the allowed values; an unknown factor is refused naming the known ones.

    Examples
    --------
    >>> validate_weights({"pain_relief": "4", "avoid_surgery": 0})
    {'pain_relief': 4, 'avoid_surgery': 0}
    >>> validate_weights({"pain_relief": 7})
    Traceback (most recent call last):
    ...
    spinetrack.errors.ValidationError: preferences.pain_relief: 7 is not allowed; allowed: a whole number from 0 to 4
    """
    if not isinstance(data, Mapping):
        raise ValidationError(field="preferences", value=data, allowed="an object of factor: 0-4")
    out: dict[str, int] = {}
    for key, raw in data.items():
        if key not in _KEYS:
            raise ValidationError(field=f"preferences.{key}", value=raw, allowed=_KEYS,
                                  reason="unknown factor")
        value: int | None = None
        if isinstance(raw, bool):
            value = None
        elif isinstance(raw, int):
            value = raw
        elif isinstance(raw, str) and raw.strip().isdigit():
            value = int(raw.strip())
        if value is None or not 0 <= value <= MAX_WEIGHT:
            raise ValidationError(field=f"preferences.{key}", value=raw,
                                  allowed=f"a whole number from 0 to {MAX_WEIGHT}")
        out[key] = value
    if not out:
        raise ValidationError(field="preferences", value=dict(data),
                              allowed=f"at least one of {', '.join(_KEYS)}, each 0 to {MAX_WEIGHT}")
    return {k: out[k] for k in _KEYS if k in out}
