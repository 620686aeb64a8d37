"""Egger's regression test against the metafor ``regtest`` help page."""

from __future__ import annotations

import json

import pytest

from spinetrack.errors import InputError
from spinetrack.stats.meta import effect_sizes_binary, effect_sizes_from_variances, egger_test
from tests.stats.meta.reference_data import MAGNESIUM, assert_printed, column


def test_classical_egger_test_matches_metafor_regtest() -> None:
    """Oracle: metafor regtest help page (docs/reference/regtest.html), ``regtest(res,
    model="lm")`` (the classical Egger test) for dat.egger2001 without ISIS-4 (log ORs, 0.5 added
    to the zero-cell trial): t = -3.1783, df = 13, p = 0.0073; limit estimate b = -0.1512
    (CI -0.5130, 0.2106)."""
    a, n1, c, n2 = (column(MAGNESIUM, i) for i in (2, 3, 4, 5))
    e = egger_test(effect_sizes_binary(events1=a, n1=n1, events2=c, n2=n2, measure="OR"))
    assert_printed(e.statistic, "-3.1783")
    assert_printed(e.p_value, "0.0073")
    assert_printed(e.limit_estimate, "-0.1512")
    assert_printed(e.limit_ci_low, "-0.5130")
    assert_printed(e.limit_ci_high, "0.2106")
    assert e.df == 13 and e.k == 15 and e.notes == ()
    assert e.asymmetry / e.asymmetry_standard_error == pytest.approx(e.statistic)
    assert json.loads(json.dumps(e.as_dict()))["df"] == 13


def test_small_k_note_and_errors() -> None:
    e = egger_test(effect_sizes_from_variances([0.1, 0.3, 0.2, 0.6], [0.01, 0.04, 0.02, 0.09]))
    assert e.df == 2 and "low power" in e.notes[0]
    with pytest.raises(InputError, match="at least 3"):
        egger_test(effect_sizes_from_variances([0.1, 0.3], [0.01, 0.04]))
    with pytest.raises(InputError, match="no residual"):
        egger_test(effect_sizes_from_variances([0.1, 0.2, 0.3], [0.01, 0.04, 0.09]))
