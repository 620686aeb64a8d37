"""NRS, global outcome and return-to-activity items: validation and scoring (NRS 0 no pain to
10 worst imaginable; registries and the ICHOM Low Back Pain Standard Set, Clement RC et al., Acta
Orthop 2015;86(5):523-533, collect global outcome and work status)."""

from __future__ import annotations

import pytest

from spinetrack import instruments
from spinetrack.errors import ValidationError


@pytest.mark.parametrize("code", ["nrs_back", "nrs_leg"])
def test_nrs_scores_the_answer_and_refuses_out_of_range(code: str) -> None:
    inst = instruments.get(code)
    assert [inst.score({"pain": v}).total for v in (0, 7, 10)] == [0.0, 7.0, 10.0]
    for bad in (11, -1, 3.5, True, "7"):
        with pytest.raises(ValidationError) as err:
            inst.score({"pain": bad})
        assert err.value.field == f"{code}.pain" and err.value.allowed.endswith("9, 10")
    with pytest.raises(ValidationError) as err:
        inst.score({})
    assert err.value.reason == "required"


def test_global_outcome_good_is_helped_or_helped_a_lot() -> None:
    g = instruments.get("global_outcome")
    assert [g.score({"outcome": v}).band for v in range(1, 6)] == ["good", "good", "poor", "poor", "poor"]
    s = g.score({"outcome": 2, "satisfaction": 1})
    assert s.subscales["satisfaction"] == 1 and s.n_answered == 2


def test_return_to_activity_days_date_and_not_yet() -> None:
    rta = instruments.get("return_to_activity")
    assert rta.score({"returned": 1, "days": 30}).total == 30.0
    dated = rta.score({"returned": 1, "date": "2025-03-02"})
    assert dated.total is None and dated.subscales["date"] == "2025-03-02" and dated.valid
    not_yet = rta.score({"returned": 0})
    assert not_yet.total is None and not_yet.band == "not yet" and not_yet.subscales["returned"] is False
    with pytest.raises(ValidationError) as err:
        rta.score({"returned": 0, "days": 5})
    assert err.value.field == "return_to_activity.days"
    # back, but the patient does not remember when: valid, no total (the analysis places the
    # return between the last "not yet" answer and this one: interval-censored)
    unknown = rta.score({"returned": 1})
    assert unknown.valid and unknown.total is None and unknown.band == "returned" and unknown.subscales["returned"]
    with pytest.raises(ValidationError) as err:
        rta.score({"returned": 1, "date": "2025-02-30"})
    assert err.value.field == "return_to_activity.date" and "ISO date" in err.value.allowed
    with pytest.raises(ValidationError) as err:
        rta.score({"returned": 1, "days": 4000})
    assert err.value.allowed.startswith("0 to 3650")


def test_answers_must_be_an_object() -> None:
    with pytest.raises(ValidationError) as err:
        instruments.get("odi").score([1, 2, 3])  # type: ignore[arg-type]
    assert err.value.field == "odi.answers"
