"""MCID thresholds with their citations (Ostelo RW et al., Spine 2008;33(1):90-94; Mannion AF et al.,
Eur Spine J 2009, PMC2899314, and 2005, PMC3454560) and the change classification."""

from __future__ import annotations

import pytest

from spinetrack.errors import ValidationError
from spinetrack.instruments import thresholds as T
from spinetrack.instruments.thresholds import ChangeClass, Threshold, classify_change


@pytest.mark.parametrize(("instrument", "absolute", "relative", "source_part"), [
    ("odi", 10, 0.30, "Ostelo"),        # Ostelo RW et al., Spine 2008;33(1):90-94
    ("nrs_back", 2, 0.30, "Ostelo"),
    ("nrs_leg", 2, 0.30, "Ostelo"),
    ("rmdq", 5, 0.30, "Ostelo"),
    ("comi_back", 2.2, None, "PMC2899314"),  # Mannion 2009, individual improvement
])
def test_default_thresholds_are_the_published_values(instrument: str, absolute: float, relative: float | None,
                                                     source_part: str) -> None:
    t = T.get(instrument)
    assert (t.absolute, t.relative) == (absolute, relative) and source_part in t.source


def test_comi_deterioration_and_group_thresholds() -> None:
    """Mannion 2009: individual deterioration >= 0.3 increase; group MCID 2.6."""
    assert T.get("comi_back", direction="deterioration").absolute == 0.3
    assert T.get("comi_back", "mannion2009_group").absolute == 2.6
    assert T.get("odi", "mannion2005_german_surgery").relative == 0.18  # PMC3454560


@pytest.mark.parametrize(("instrument", "base", "follow", "criterion", "expected"), [
    ("odi", 46, 36, "absolute", "improved"),      # exactly 10 points
    ("odi", 46, 37, "absolute", "unchanged"),     # 9 points
    ("odi", 20, 14, "relative", "improved"),      # 30 %
    ("odi", 20, 15, "relative", "unchanged"),     # 25 %
    ("odi", 20, 15, "either", "unchanged"),
    ("odi", 60, 50, "either", "improved"),
    ("odi", 30, 40, "absolute", "worsened"),      # mirrored 10-point threshold
    ("nrs_leg", 7, 5, "absolute", "improved"),
    ("nrs_leg", 7, 6, "absolute", "unchanged"),
    ("rmdq", 12, 7, "absolute", "improved"),
    ("comi_back", 6.0, 3.8, "absolute", "improved"),   # 2.2 decrease
    ("comi_back", 6.0, 3.9, "absolute", "unchanged"),
    ("comi_back", 4.0, 4.3, "absolute", "worsened"),   # 0.3 increase
    ("comi_back", 4.0, 4.2, "absolute", "unchanged"),
])
def test_classify_change(instrument: str, base: float, follow: float, criterion: str, expected: str) -> None:
    c = classify_change(instrument, base, follow, criterion=criterion)  # type: ignore[arg-type]
    assert c.category == ChangeClass(expected), c
    assert c.source  # the verdict carries its citation


def test_higher_is_better_direction_is_respected() -> None:
    t = Threshold("eq5d5l", "site_eq5d", "mcid", "improvement", 0.1, None, "site", "Site audit 2026 (example)")
    T.register(t, default=True)
    try:
        assert classify_change("eq5d5l", 0.5, 0.62).category is ChangeClass.IMPROVED
        assert classify_change("eq5d5l", 0.5, 0.38).category is ChangeClass.WORSENED
    finally:
        T._THRESHOLDS.remove(t)
        T._DEFAULT_SET.pop("eq5d5l")


def test_no_threshold_and_bad_registrations_are_refused() -> None:
    with pytest.raises(ValidationError) as err:
        classify_change("eq5d5l", 0.5, 0.7)
    assert err.value.field == "instrument" and "odi" in err.value.allowed
    with pytest.raises(ValidationError) as err:
        T.register(Threshold("odi", "x", "mcid", "improvement", 8, None, "site", " "))
    assert err.value.field == "threshold.source"
    with pytest.raises(ValidationError):
        T.register(Threshold("odi", "ostelo2008", "mcid", "improvement", 8, None, "site", "dup"))
    with pytest.raises(ValidationError) as err:
        classify_change("odi", 40, 30, criterion="sometimes")  # type: ignore[arg-type]
    assert err.value.field == "criterion"
    with pytest.raises(ValidationError) as err:
        classify_change("odi", 40, float("nan"))
    assert err.value.field == "followup"
