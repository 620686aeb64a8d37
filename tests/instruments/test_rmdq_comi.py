"""RMDQ and COMI-back scoring against their published rules.

RMDQ: STANDARDS.md (Roland & Morris 1983; Roland & Fairbank 2000) — score = number of "yes"
(0-24). COMI-back: Mannion AF et al., Eur Spine J 2009 (PMC2899314), 0-10 index, with the
combining rule STANDARDS.md gives (pain = worse of back and leg; 5-point items rescaled to 0-10;
index = mean of the domains; disability = mean of social and work disability).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spinetrack.errors import ValidationError
from spinetrack.instruments.comi import COMI_BACK
from spinetrack.instruments.rmdq import ITEM_CODES, RMDQ


def test_rmdq_counts_yes_answers() -> None:
    answers = dict.fromkeys(ITEM_CODES, 0)
    assert RMDQ.score(answers).total == 0.0
    for code in ITEM_CODES[:7]:
        answers[code] = 1
    assert RMDQ.score(answers).total == 7.0
    assert RMDQ.score(dict.fromkeys(ITEM_CODES, 1)).total == 24.0


def test_rmdq_with_an_unanswered_item_is_stored_invalid() -> None:
    answers = dict.fromkeys(ITEM_CODES[:23], 1)
    s = RMDQ.score(answers)
    assert not s.valid and s.total is None and s.n_answered == 23 and "1 items unanswered" in (s.reason or "")


@pytest.mark.parametrize(("answers", "field"), [({"s01": 2}, "rmdq.s01"), ({"s25": 1}, "rmdq.s25"),
                                                ({"s03": "yes"}, "rmdq.s03")])
def test_rmdq_refuses_bad_answers(answers: dict, field: str) -> None:
    with pytest.raises(ValidationError) as err:
        RMDQ.score(answers)
    assert err.value.field == field


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 1), min_size=24, max_size=24), st.integers(0, 23))
def test_rmdq_is_in_range_and_monotone(values: list[int], flip: int) -> None:
    answers = dict(zip(ITEM_CODES, values))
    s = RMDQ.score(answers).total
    assert s is not None and 0 <= s <= 24
    if values[flip] == 0:
        answers[ITEM_CODES[flip]] = 1
        assert RMDQ.score(answers).total == s + 1


FULL = {"back_pain": 6, "leg_pain": 8, "function": 3, "wellbeing": 4, "quality_of_life": 3,
        "social_disability": 2, "work_disability": 5}


def test_comi_worked_example() -> None:
    """pain max(6, 8) = 8; function (3-1)*2.5 = 5; wellbeing (4-1)*2.5 = 7.5; QoL 5;
    disability mean((2-1)*2.5, (5-1)*2.5) = mean(2.5, 10) = 6.25; index (8+5+7.5+5+6.25)/5 = 6.35."""
    s = COMI_BACK.score(FULL)
    assert s.valid and s.total == pytest.approx(6.35)
    assert dict(s.subscales) == {"pain": 8.0, "function": 5.0, "wellbeing": 7.5, "quality_of_life": 5.0,
                                 "disability": 6.25}


def test_comi_best_and_worst_states_span_0_to_10() -> None:
    best = {"back_pain": 0, "leg_pain": 0, "function": 1, "wellbeing": 1, "quality_of_life": 1,
            "social_disability": 1, "work_disability": 1}
    worst = {"back_pain": 10, "leg_pain": 10, "function": 5, "wellbeing": 5, "quality_of_life": 5,
             "social_disability": 5, "work_disability": 5}
    assert COMI_BACK.score(best).total == 0.0 and COMI_BACK.score(worst).total == 10.0


def test_comi_domain_with_two_items_uses_the_one_answered_and_a_missing_domain_is_invalid() -> None:
    one_pain = {**FULL, "leg_pain": None}
    assert COMI_BACK.score(one_pain).subscales["pain"] == 6.0
    one_dis = {**FULL, "social_disability": None}
    assert COMI_BACK.score(one_dis).subscales["disability"] == 10.0
    no_wellbeing = {**FULL, "wellbeing": None}
    s = COMI_BACK.score(no_wellbeing)
    assert not s.valid and s.total is None and "wellbeing" in (s.reason or "")
    s = COMI_BACK.score({**FULL, "back_pain": None, "leg_pain": None})
    assert not s.valid and "pain" in (s.reason or "")


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries({"back_pain": st.integers(0, 10), "leg_pain": st.integers(0, 10),
                              "function": st.integers(1, 5), "wellbeing": st.integers(1, 5),
                              "quality_of_life": st.integers(1, 5), "social_disability": st.integers(1, 5),
                              "work_disability": st.integers(1, 5)}),
       st.sampled_from(list(FULL)))
def test_comi_in_range_and_never_better_when_an_answer_gets_worse(answers: dict, item: str) -> None:
    s = COMI_BACK.score(answers).total
    assert s is not None and 0 <= s <= 10
    top = 10 if item.endswith("_pain") else 5
    if answers[item] < top:
        worse = {**answers, item: answers[item] + 1}
        assert COMI_BACK.score(worse).total >= s  # type: ignore[operator]
