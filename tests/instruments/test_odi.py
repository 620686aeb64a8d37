"""ODI 2.1a scoring against the manual's worked examples (tests/reference/odi.csv names the source)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spinetrack import instruments
from spinetrack.errors import ValidationError
from spinetrack.instruments import odi
from spinetrack.instruments.odi import ODI

REF = Path(__file__).parents[1] / "reference" / "odi.csv"


def _cases() -> list[dict[str, str]]:
    lines = [ln for ln in REF.read_text().splitlines() if not ln.startswith("#")]
    return list(csv.DictReader(lines))


@pytest.mark.parametrize("case", _cases(), ids=lambda c: f"{c['expected_pct']}")
def test_odi_matches_manual_examples(case: dict[str, str]) -> None:
    """Fairbank & Pynsent 2000 (Spine 25(22):2940-52): 16/50 = 32%, 16/45 = 35.6%; exact to 0.1."""
    answers = {k: (None if case[k] == "" else int(case[k])) for k in odi.ITEM_CODES}
    s = instruments.get("odi").score(answers)
    assert s.valid and round(s.total, 1) == float(case["expected_pct"])
    assert s.band == case["expected_band"]


def test_odi_more_than_two_missing_sections_is_invalid_without_total() -> None:
    answers = dict.fromkeys(odi.ITEM_CODES[:7], 2)
    s = ODI.score(answers)
    assert not s.valid and s.total is None and "3 sections unanswered" in (s.reason or "")
    assert ODI.score(answers, max_missing=3).total == pytest.approx(14 / 35 * 100)


@pytest.mark.parametrize(("answers", "field", "allowed"), [
    ({"walking": 6}, "odi.walking", "0, 1, 2, 3, 4, 5"),
    ({"walking": -1}, "odi.walking", "0, 1, 2, 3, 4, 5"),
    ({"walking": "a lot"}, "odi.walking", "0, 1, 2, 3, 4, 5"),
    ({"running": 1}, "odi.running", "pain_intensity"),
])
def test_odi_refuses_bad_answers_naming_item_and_allowed_values(answers: dict, field: str, allowed: str) -> None:
    with pytest.raises(ValidationError) as err:
        ODI.score(answers)
    assert err.value.field == field and allowed in err.value.allowed


def test_odi_two_marks_in_one_section_enter_the_higher_and_bands_follow_the_manual() -> None:
    """Fairbank & Pynsent 2000: bands 0-20 minimal, 21-40 moderate, 41-60 severe,
    61-80 crippled, 81-100 bed-bound; boundaries belong to the lower band."""
    assert [odi.band(x) for x in (0, 20, 20.5, 40, 41, 60, 61, 80, 81, 100)] == [
        "minimal disability", "minimal disability", "moderate disability", "moderate disability",
        "severe disability", "severe disability", "crippled", "crippled", "bed-bound", "bed-bound"]
    all5 = dict.fromkeys(odi.ITEM_CODES, 5)
    assert ODI.score(all5).total == 100.0 and ODI.score(dict.fromkeys(odi.ITEM_CODES, 0)).total == 0.0


def test_odi_strict_raises_on_an_invalid_total() -> None:
    with pytest.raises(ValidationError) as err:
        ODI.score(dict.fromkeys(odi.ITEM_CODES[:5], 1), strict=True)
    assert "5 sections unanswered" in str(err.value)


def test_unknown_instrument_lists_the_registered_codes() -> None:
    with pytest.raises(ValidationError) as err:
        instruments.get("sf36")
    assert err.value.field == "instrument"
    assert err.value.allowed.split(", ") == ["odi", "nrs_back", "nrs_leg", "eq5d5l", "rmdq", "comi_back",
                                             "return_to_activity", "global_outcome", "work_status", "analgesics"]


# ---- properties the scoring rule implies (Fairbank & Pynsent 2000) ----------------------------

_sections = st.lists(st.one_of(st.none(), st.integers(0, 5), st.integers(0, 5), st.integers(0, 5)),
                     min_size=10, max_size=10)


@settings(max_examples=300, deadline=None)
@given(_sections)
def test_odi_range_and_validity_follow_the_missing_rule(values: list[int | None]) -> None:
    s = ODI.score(dict(zip(odi.ITEM_CODES, values, strict=True)))
    missing = values.count(None)
    assert s.valid == (missing <= odi.MAX_MISSING)
    if s.valid:
        assert s.total is not None and 0 <= s.total <= 100 and s.band == odi.band(s.total)


@settings(max_examples=300, deadline=None)
@given(_sections, st.integers(0, 9))
def test_odi_never_decreases_when_a_section_gets_worse(values: list[int | None], k: int) -> None:
    s = ODI.score(dict(zip(odi.ITEM_CODES, values, strict=True)))
    v = values[k]
    if s.valid and v is not None and v < 5:
        worse = list(values)
        worse[k] = v + 1
        assert ODI.score(dict(zip(odi.ITEM_CODES, worse, strict=True))).total > s.total  # type: ignore[operator]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 5), min_size=8, max_size=10), st.randoms(use_true_random=False))
def test_odi_depends_only_on_answered_values_not_on_which_sections_are_missing(
        answered: list[int], rnd: object) -> None:
    """Score = sum / (5 x answered) x 100: moving the missing sections elsewhere, or filling a
    missing section with the mean of the others (when whole), leaves the score unchanged."""
    values: list[int | None] = answered + [None] * (10 - len(answered))
    a = ODI.score(dict(zip(odi.ITEM_CODES, values, strict=True))).total
    shuffled = list(values)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert ODI.score(dict(zip(odi.ITEM_CODES, shuffled, strict=True))).total == pytest.approx(a)
    if len(answered) < 10 and sum(answered) % len(answered) == 0:
        filled = answered + [sum(answered) // len(answered)] + [None] * (9 - len(answered))
        assert ODI.score(dict(zip(odi.ITEM_CODES, filled, strict=True))).total == pytest.approx(a)
