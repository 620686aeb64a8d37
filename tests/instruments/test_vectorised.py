"""The vectorised path (``score_many``) gives the same numbers as the scalar path (``score``)
for every instrument, on random responses with missing answers (hypothesis)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spinetrack import instruments
from spinetrack.errors import ValidationError
from spinetrack.instruments.base import ItemType

CODES = [i.definition.code for i in instruments.all()]


def _answer(item: Any) -> st.SearchStrategy[Any]:
    if item.type is ItemType.DATE:
        return st.none()
    if item.type is ItemType.CHOICE:
        values = st.sampled_from(list(item.values))
    else:
        values = st.integers(int(item.low), int(item.high))
    return st.one_of(st.none(), values, values, values)  # mostly answered


def _rows(code: str) -> st.SearchStrategy[list[dict[str, Any]]]:
    items = instruments.get(code).definition.items
    row = st.fixed_dictionaries({it.code: _answer(it) for it in items})
    return st.lists(row, min_size=1, max_size=40)


@pytest.mark.parametrize("code", CODES)
def test_score_many_equals_score_row_by_row(code: str) -> None:
    inst = instruments.get(code)

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(_rows(code))
    def check(rows: list[dict[str, Any]]) -> None:
        cols = {it.code: np.array([np.nan if r[it.code] is None else r[it.code] for r in rows], dtype=float)
                for it in inst.definition.items if it.type is not ItemType.DATE}
        many = inst.score_many(cols)
        assert len(many) == len(rows)
        for k, r in enumerate(rows):
            try:
                s = inst.score(r)
                total, valid = s.total, s.valid
            except ValidationError:
                total, valid = None, False
            assert bool(many.valid[k]) == valid, (k, r)
            if total is None:
                assert math.isnan(many.total[k]), (k, r)
            else:
                assert many.total[k] == pytest.approx(total, abs=1e-12), (k, r)

    check()


def test_score_many_refuses_out_of_range_values_naming_the_row() -> None:
    cols = {"pain_intensity": np.array([0, 1, 7.0])}
    with pytest.raises(ValidationError) as err:
        instruments.get("odi").score_many(cols)
    assert err.value.field == "odi.pain_intensity[2]" and err.value.allowed == "0, 1, 2, 3, 4, 5"
    with pytest.raises(ValidationError) as err:
        instruments.get("odi").score_many({"running": np.zeros(2)})
    assert err.value.field == "odi.running"
    with pytest.raises(ValidationError):
        instruments.get("odi").score_many({"walking": np.zeros(2), "sitting": np.zeros(3)})


def test_odi_vectorised_matches_the_manual_example() -> None:
    """Fairbank & Pynsent 2000 (Spine 25(22):2940-52): 16/50 = 32 %, 16/45 = 35.6 %."""
    from spinetrack.instruments.odi import ITEM_CODES

    rows = np.array([[2, 2, 2, 2, 2, 2, 2, 0, 1, 1], [0, 2, 2, 2, 2, 2, 2, np.nan, 2, 2]], dtype=float)
    res = instruments.get("odi").score_many({c: rows[:, i] for i, c in enumerate(ITEM_CODES)})
    assert res.total[0] == pytest.approx(32.0) and round(res.total[1], 1) == 35.6
