"""Clinical thresholds (minimal clinically important difference, good outcome) per instrument,
each with its citation, and the classification of a baseline → follow-up pair.

The thresholds are data (``instruments/data/thresholds.csv``, from the papers below); a site adds
its own with :func:`register` (a citation is required). Shipped sets:

* ``ostelo2008`` — ODI 10 points or 30 %; NRS back/leg 2 points or 30 %; RMDQ 5 points or 30 %
  (Ostelo RW et al., Spine 2008;33(1):90-94, international consensus).
* ``mannion2009_individual`` — COMI-back individual improvement ≥ 2.2 points decrease,
  deterioration ≥ 0.3 points increase; ``mannion2009_group`` — group MCID 2.6 (Mannion AF et al.,
  Eur Spine J 2009, PMC2899314).
* ``mannion2005_german_surgery`` — ODI ≥ 18 % reduction from baseline = good outcome at 6
  months after surgery (German ODI 2.1; Mannion AF et al., Eur Spine J 2005, PMC3454560).

Not shipped: PASS (patient acceptable symptom state) values and an EQ-5D-5L MCID — the
sources above give none; a site can register them with a citation.

Classification rules (spinetrack's, documented): the change is taken in the instrument's
"better" direction. *Improved* when the improvement reaches the threshold — absolute,
relative (to baseline) or either, as asked (``criterion``; default ``"absolute"``, the
instrument-scale MCID). *Worsened* when the deterioration reaches the set's deterioration
threshold if it has one (COMI), else the improvement threshold mirrored (no separate published
value in our sources). Otherwise *unchanged*. A relative criterion needs a non-zero baseline.
"""

from __future__ import annotations

import csv
import enum
import io
import math
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

from spinetrack.errors import ValidationError
from spinetrack.instruments.registry import get as get_instrument

__all__ = ["Change", "ChangeClass", "Threshold", "all_thresholds", "classify_change", "default_set", "get", "register"]

Criterion = Literal["absolute", "relative", "either"]
_CRITERIA = ("absolute", "relative", "either")


class ChangeClass(enum.StrEnum):
    IMPROVED = "improved"
    UNCHANGED = "unchanged"
    WORSENED = "worsened"


@dataclass(frozen=True, slots=True)
class Threshold:
    instrument: str
    threshold_set: str
    kind: str               # mcid, good_outcome
    direction: str          # improvement, deterioration
    absolute: float | None  # in the instrument's points
    relative: float | None  # fraction of the baseline score
    population: str
    source: str


@dataclass(frozen=True, slots=True)
class Change:
    """A classified change; ``improvement`` is positive when the patient got better."""

    instrument: str
    baseline: float
    followup: float
    improvement: float
    relative_improvement: float | None
    category: ChangeClass
    threshold_set: str
    criterion: str
    source: str

    def as_dict(self) -> dict[str, Any]:
        return {"instrument": self.instrument, "baseline": self.baseline, "followup": self.followup,
                "improvement": self.improvement, "relative_improvement": self.relative_improvement,
                "category": str(self.category), "threshold_set": self.threshold_set,
                "criterion": self.criterion, "source": self.source}


def _num(text: str) -> float | None:
    return float(text) if text.strip() else None


def _load() -> list[Threshold]:
    text = resources.files("spinetrack.instruments").joinpath("data/thresholds.csv").read_text(encoding="utf-8")
    return [Threshold(r["instrument"], r["threshold_set"], r["kind"], r["direction"], _num(r["absolute"]),
                      _num(r["relative"]), r["population"], r["source"]) for r in csv.DictReader(io.StringIO(text))]


_THRESHOLDS: list[Threshold] = _load()
_DEFAULT_SET = {"odi": "ostelo2008", "nrs_back": "ostelo2008", "nrs_leg": "ostelo2008", "rmdq": "ostelo2008",
                "comi_back": "mannion2009_individual"}


def all_thresholds(instrument: str | None = None) -> list[Threshold]:
    return [t for t in _THRESHOLDS if instrument is None or t.instrument == instrument]


def default_set(instrument: str) -> str:
    if instrument not in _DEFAULT_SET:
        raise ValidationError(field="instrument", value=instrument, allowed=sorted(_DEFAULT_SET),
                              reason="no clinical threshold is known for this instrument; "
                                     "register one with its citation")
    return _DEFAULT_SET[instrument]


def get(instrument: str, threshold_set: str | None = None, direction: str = "improvement",
        kind: str | None = None) -> Threshold:
    """The threshold of ``instrument`` in ``threshold_set`` (default: the instrument's default set)."""
    tset = threshold_set or default_set(instrument)
    found = [t for t in _THRESHOLDS if t.instrument == instrument and t.threshold_set == tset
             and t.direction == direction and (kind is None or t.kind == kind)]
    if not found:
        sets = sorted({t.threshold_set for t in _THRESHOLDS if t.instrument == instrument})
        raise ValidationError(field="threshold_set", value=tset, allowed=sets or ["(none for this instrument)"],
                              reason=f"no {direction} threshold for {instrument}")
    return found[0]


def register(threshold: Threshold, *, default: bool = False) -> None:
    """Add a site's threshold. It must carry a citation and at least one finite value."""
    if not threshold.source.strip():
        raise ValidationError(field="threshold.source", value=threshold.source, allowed="a citation",
                              reason="every threshold needs its source")
    if threshold.direction not in ("improvement", "deterioration"):
        raise ValidationError(field="threshold.direction", value=threshold.direction,
                              allowed=["improvement", "deterioration"])
    values = [v for v in (threshold.absolute, threshold.relative) if v is not None]
    if not values or not all(math.isfinite(v) and v > 0 for v in values):
        raise ValidationError(field="threshold.absolute", value=(threshold.absolute, threshold.relative),
                              allowed="a positive absolute and/or relative value")
    if any(t.instrument == threshold.instrument and t.threshold_set == threshold.threshold_set
           and t.direction == threshold.direction for t in _THRESHOLDS):
        raise ValidationError(field="threshold.threshold_set", value=threshold.threshold_set,
                              allowed="a set name not yet used for this instrument and direction")
    _THRESHOLDS.append(threshold)
    if default:
        _DEFAULT_SET[threshold.instrument] = threshold.threshold_set


def _reaches(delta: float, rel: float | None, t: Threshold, criterion: str) -> bool:
    abs_ok = t.absolute is not None and delta >= t.absolute - 1e-9
    rel_ok = t.relative is not None and rel is not None and rel >= t.relative - 1e-9
    if criterion == "absolute":
        if t.absolute is None:
            return rel_ok  # the set has only a relative value (e.g. mannion2005)
        return abs_ok
    if criterion == "relative":
        if t.relative is None:
            return abs_ok
        return rel_ok
    return abs_ok or rel_ok


def classify_change(instrument: str, baseline: float, followup: float, *, threshold_set: str | None = None,
                    criterion: Criterion = "absolute", higher_is_better: bool | None = None) -> Change:
    """Classify a baseline → follow-up pair as improved, unchanged or worsened.

    >>> classify_change("odi", 46, 30).category.value   # 16 points better ≥ 10 (Ostelo 2008)
    'improved'
    """
    if criterion not in _CRITERIA:
        raise ValidationError(field="criterion", value=criterion, allowed=_CRITERIA)
    for name, v in (("baseline", baseline), ("followup", followup)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValidationError(field=name, value=v, allowed="a finite score")
    if higher_is_better is None:
        higher_is_better = get_instrument(instrument).definition.higher_is_better
    imp_t = get(instrument, threshold_set)
    tset = imp_t.threshold_set
    try:
        det_t = get(instrument, tset, direction="deterioration")
    except ValidationError:
        det_t = imp_t
    sign = 1.0 if higher_is_better else -1.0
    improvement = sign * (followup - baseline)
    rel = improvement / abs(baseline) if baseline != 0 else None
    if criterion == "relative" and rel is None and imp_t.absolute is None:
        raise ValidationError(field="baseline", value=baseline, allowed="a non-zero baseline",
                              reason="a relative threshold needs a baseline above 0")
    if _reaches(improvement, rel, imp_t, criterion):
        cat = ChangeClass.IMPROVED
    elif _reaches(-improvement, None if rel is None else -rel, det_t, criterion):
        cat = ChangeClass.WORSENED
    else:
        cat = ChangeClass.UNCHANGED
    return Change(instrument, float(baseline), float(followup), improvement, rel, cat, tset, criterion,
                  imp_t.source)
