"""Cumulative meta-analysis by publication year against metafor's ``cumul`` (BCG trials)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from spinetrack.errors import InputError
from spinetrack.stats.meta import cumulative_meta_analysis, effect_sizes_binary
from tests.stats.meta.reference_data import (
    BCG_CNEG,
    BCG_CPOS,
    BCG_LABELS,
    BCG_TNEG,
    BCG_TPOS,
    BCG_YEAR,
)

BCG_RR = effect_sizes_binary(events1=BCG_TPOS, n1=BCG_TPOS + BCG_TNEG, events2=BCG_CPOS, n2=BCG_CPOS + BCG_CNEG,
                             measure="RR", labels=BCG_LABELS)


def test_cumulative_reml_by_year_matches_metafor_cumul() -> None:
    """Oracle: metafor tests/testthat/test_misc_cumul.r, ``cumul(rma(yi, vi), order=year)``:
    13 estimates (6 decimals), their exp(), and with ``collapse=TRUE`` (the two 1973 trials enter
    together) 12 values. metafor's REML stops at a 1e-5 change in tau^2, which shows in the 6th
    decimal of three steps (e.g. -1.001094 vs -1.001096 here): tolerance 5e-6."""
    c = cumulative_meta_analysis(BCG_RR, BCG_YEAR, method="REML")
    expected = [-0.889311, -1.325003, -0.97208, -1.001094, -1.101424, -0.973464, -0.901251, -0.788566, -0.865607,
                -0.785211, -0.708206, -0.794768, -0.714532]
    np.testing.assert_allclose(c.estimate, expected, atol=5e-6, rtol=0)
    assert c.ratio_estimate is not None
    np.testing.assert_allclose(c.ratio_estimate, [0.410939, 0.265802, 0.378296, 0.367477, 0.332398, 0.377772,
                                                  0.406061, 0.454496, 0.420796, 0.456024, 0.492527, 0.451686,
                                                  0.489421], atol=5e-6, rtol=0)
    assert c.k.tolist() == list(range(1, 14)) and c.added[0] == "Aronson, 1948"
    assert c.order_value.tolist() == sorted(BCG_YEAR)
    collapsed = cumulative_meta_analysis(BCG_RR, BCG_YEAR, method="REML", collapse_ties=True)
    assert collapsed.ratio_estimate is not None
    np.testing.assert_allclose(collapsed.ratio_estimate, [0.410939, 0.265802, 0.378296, 0.367477, 0.332398,
                                                          0.377772, 0.406061, 0.420796, 0.456024, 0.492527,
                                                          0.451686, 0.489421], atol=5e-6, rtol=0)
    assert collapsed.added[7] == "Frimodt-Moller et al, 1973; Vandiviere et al, 1973" and collapsed.k[7] == 9


def test_cumulative_mantel_haenszel_matches_metafor_cumul() -> None:
    """Oracle: metafor tests/testthat/test_misc_cumul.r, ``cumul(rma.mh(measure="RR", ...),
    order=year)`` (6 decimals; closed form, so the printed precision)."""
    c = cumulative_meta_analysis(BCG_RR, BCG_YEAR, method="MH")
    expected = [-0.889311, -1.351739, -0.827295, -0.837892, -0.894003, -0.850672, -0.835785, -0.774442, -0.789605,
                -0.666015, -0.635076, -0.775798, -0.45371]
    np.testing.assert_allclose(c.estimate, expected, atol=5e-7 + 1e-12, rtol=0)


def test_first_step_is_one_study_and_errors() -> None:
    c = cumulative_meta_analysis(BCG_RR, BCG_YEAR, method="DL", hksj=True)
    assert not c.results[0].hksj and c.results[1].hksj and np.isnan(c.i2[0])
    d = json.loads(json.dumps(c.as_dict(), allow_nan=False))
    assert d["rows"][0]["k"] == 1 and d["rows"][0]["i2"] is None and "ratio_estimate" in d["rows"][0]
    with pytest.raises(InputError, match="one value per study"):
        cumulative_meta_analysis(BCG_RR, [1, 2])
