"""Leave-one-out against metafor's own test values (BCG trials)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from spinetrack.errors import InputError
from spinetrack.stats.meta import (
    effect_sizes_binary,
    effect_sizes_from_variances,
    leave_one_out,
    pool_studies,
)
from tests.stats.meta.reference_data import BCG_CNEG, BCG_CPOS, BCG_LABELS, BCG_TNEG, BCG_TPOS

BCG_RR = effect_sizes_binary(events1=BCG_TPOS, n1=BCG_TPOS + BCG_TNEG, events2=BCG_CPOS, n2=BCG_CPOS + BCG_CNEG,
                             measure="RR", labels=BCG_LABELS)
FIELDS = ("estimate", "standard_error", "statistic", "p_value", "ci_low", "ci_high", "q", "q_p_value", "tau2", "i2",
          "h2")


def test_leave_one_out_reml_matches_metafor_leave1out() -> None:
    """Oracle: metafor tests/testthat/test_misc_influence.r, ``leave1out(rma(yi, vi))`` on BCG
    log RRs, first row (Aronson omitted), stored to full precision: estimate -0.707083788031436,
    se 0.189961024702717, z -3.72225717953459, p 0.000197449759023198, CI -1.07940055491509 to
    -0.334767021147788, Q 151.582572747109, Qp 7.0778599767807e-27, tau^2 0.336156745300306,
    I^2 93.2259349111223, H^2 14.762184698253. metafor's REML stops at a 1e-5 change in tau^2, so
    the comparison is at rtol 1e-6."""
    loo = leave_one_out(BCG_RR, method="REML")
    expected = (-0.707083788031436, 0.189961024702717, -3.72225717953459, 0.000197449759023198,
                -1.07940055491509, -0.334767021147788, 151.582572747109, 7.0778599767807e-27, 0.336156745300306,
                93.2259349111223, 14.762184698253)
    for field, value in zip(FIELDS, expected, strict=True):
        assert getattr(loo, field)[0] == pytest.approx(value, rel=1e-6), field
    assert loo.omitted == tuple(BCG_LABELS) and len(loo.results) == 13


def test_leave_one_out_mantel_haenszel_matches_metafor() -> None:
    """Oracle: metafor tests/testthat/test_misc_influence.r, ``leave1out(rma.mh(measure="RR",
    ...))`` first row: estimate -0.451379469928476, se 0.0394350331703394, z -11.4461541842439,
    p 2.45810944109134e-30, CI -0.528670714671484 to -0.374088225185468, Q 151.915260738878,
    Qp 6.05181927235005e-27, I^2 92.7591211399706, H^2 13.8104782489889 (closed form: rtol 1e-9)."""
    loo = leave_one_out(BCG_RR, method="MH")
    expected = (-0.451379469928476, 0.0394350331703394, -11.4461541842439, 2.45810944109134e-30,
                -0.528670714671484, -0.374088225185468, 151.915260738878, 6.05181927235005e-27, 0.0,
                92.7591211399706, 13.8104782489889)
    for field, value in zip(FIELDS, expected, strict=True):
        assert getattr(loo, field)[0] == pytest.approx(value, rel=1e-9, abs=1e-300), field


def test_rows_equal_separate_fits_and_serialise() -> None:
    """Oracle: pooling the table without study i directly (identity)."""
    loo = leave_one_out(BCG_RR, method="PM", hksj=True)
    direct = pool_studies(BCG_RR.subset(np.arange(13) != 4), method="PM", hksj=True)
    assert loo.estimate[4] == direct.estimate and loo.ci_high[4] == direct.ci_high
    d = json.loads(json.dumps(loo.as_dict(), allow_nan=False))
    assert d["rows"][0]["omitted"] == "Aronson, 1948" and d["hksj"] is True
    two = leave_one_out(effect_sizes_from_variances([0.1, 0.4], [0.1, 0.1]), method="REML")
    assert np.isnan(two.i2).all() and two.estimate.tolist() == [0.4, 0.1]
    with pytest.raises(InputError, match="at least 2"):
        leave_one_out(BCG_RR.subset([0]))
    with pytest.raises(InputError, match="3 with HKSJ"):
        leave_one_out(BCG_RR.subset([0, 1]), hksj=True)
