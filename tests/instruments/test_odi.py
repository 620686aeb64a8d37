"""ODI 2.1a scoring against the manual's worked examples (tests/reference/odi.csv names the source)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from spinetrack import instruments
from spinetrack.errors import ValidationError
from spinetrack.instruments import odi

REF = Path(__file__).parents[1] / "reference" / "odi.csv"


def _cases() -> list[dict[str, str]]:
    lines = [ln for ln in REF.read_text().splitlines() if not ln.startswith("#")]
    return list(csv.DictReader(lines))


@pytest.mark.parametrize("case", _cases(), ids=lambda c: f"{c['expected_pct']}")
def test_odi_matches_manual_examples(case: dict[str, str]) -> None:
    """Fairbank & Pynsent 2000 (via STANDARDS.md): 16/50 = 32%, 16/45 = 35.6%; exact to 0.1."""
    answers = {k: (None if case[k] == "" else int(case[k])) for k in odi.ITEM_CODES}
    s = instruments.get("odi").score(answers)
    assert s.valid and round(s.total, 1) == float(case["expected_pct"])
    assert s.band == case["expected_band"]


def test_odi_more_than_two_missing_sections_is_invalid_without_total() -> None:
    answers = dict.fromkeys(odi.ITEM_CODES[:7], 2)
    s = odi.score(answers)
    assert not s.valid and s.total is None and "3 sections unanswered" in (s.reason or "")
    assert odi.score(answers, max_missing=3).total == pytest.approx(14 / 35 * 100)


@pytest.mark.parametrize(("answers", "field", "allowed"), [
    ({"walking": 6}, "odi.walking", "0, 1, 2, 3, 4, 5"),
    ({"walking": -1}, "odi.walking", "0, 1, 2, 3, 4, 5"),
    ({"walking": "a lot"}, "odi.walking", "0, 1, 2, 3, 4, 5"),
    ({"running": 1}, "odi.running", "pain_intensity"),
])
def test_odi_refuses_bad_answers_naming_item_and_allowed_values(answers: dict, field: str, allowed: str) -> None:
    with pytest.raises(ValidationError) as err:
        odi.score(answers)
    assert err.value.field == field and allowed in err.value.allowed


def test_followup_instruments_validate_and_score() -> None:
    assert instruments.get("nrs_leg").score({"pain": 7}).total == 7.0
    with pytest.raises(ValidationError) as err:
        instruments.get("nrs_back").score({"pain": 11})
    assert err.value.field == "nrs_back.pain" and err.value.allowed.endswith("10")
    eq = instruments.get("eq5d5l").score({"MO": 2, "SC": 1, "UA": 1, "PD": 1, "AD": 1, "vas": 80})
    assert eq.subscales["health_state"] == "21111" and eq.total == 80.0
    with pytest.raises(ValidationError) as err:
        instruments.get("eq5d5l").score({"MO": 6, "SC": 1, "UA": 1, "PD": 1, "AD": 1})
    assert err.value.field == "eq5d5l.MO"
    rta = instruments.get("return_to_activity")
    assert rta.score({"returned": 1, "days": 30}).total == 30.0
    assert rta.score({"returned": 0}).total is None
    with pytest.raises(ValidationError):
        rta.score({"returned": 0, "days": 5})
    with pytest.raises(ValidationError) as err:
        instruments.get("sf36")
    assert err.value.field == "instrument" and "odi" in err.value.allowed
