"""tau^2 estimators, Cochran's Q and the Q-profile interval against published values.
Tolerance: the printed precision unless a test says otherwise."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.meta_analysis import combine_effects

from spinetrack.errors import InputError
from spinetrack.stats.meta import (
    cochran_q,
    effect_sizes_binary,
    effect_sizes_continuous,
    estimate_tau2,
    generalized_q,
    q_profile_tau2_ci,
    typical_sampling_variance,
)
from spinetrack.stats.meta._distributions import chi2_ppf
from tests.stats.meta.reference_data import (
    BCG_ALLOC,
    BCG_CNEG,
    BCG_CPOS,
    BCG_TNEG,
    BCG_TPOS,
    CLASP_A,
    CLASP_C,
    CLASP_N1,
    CLASP_N2,
    HINE,
    NORMAND,
    assert_printed,
    column,
)

BCG_RR = effect_sizes_binary(events1=BCG_TPOS, n1=BCG_TPOS + BCG_TNEG, events2=BCG_CPOS, n2=BCG_CPOS + BCG_CNEG,
                             measure="RR")
CLASP_OR = effect_sizes_binary(events1=CLASP_A, n1=CLASP_N1, events2=CLASP_C, n2=CLASP_N2, measure="OR")


def test_bcg_tau2_by_dl_reml_pm() -> None:
    """Oracles (BCG, log RR): DL 0.3088 — metafor test_misc_metan_vs_rma.uni_with_dat.bcg.r
    (Stata metan, randomi); REML 0.3132 (SE 0.1664) — metafor rma.uni help page; PM 0.3181 —
    metafor test_misc_rma_uni.r gives 0.3181 for the iterated DL estimator ("DLIT"), whose fixed
    point is the Paule-Mandel equation Q(tau^2) = k - 1 (DerSimonian & Kacker 2007, §2.3);
    cross-checked against statsmodels ``combine_effects(method_re="iterated")`` (Paule-Mandel),
    rtol 1e-6."""
    dl = estimate_tau2(BCG_RR.yi, BCG_RR.vi, "DL")
    reml = estimate_tau2(BCG_RR.yi, BCG_RR.vi, "REML")
    pm = estimate_tau2(BCG_RR.yi, BCG_RR.vi, "PM")
    assert_printed(dl.tau2, "0.3088")
    assert_printed(reml.tau2, "0.3132")
    assert_printed(reml.standard_error, "0.1664")
    assert_printed(pm.tau2, "0.3181")
    sm = combine_effects(np.asarray(BCG_RR.yi), np.asarray(BCG_RR.vi), method_re="iterated")
    assert pm.tau2 == pytest.approx(sm.tau2, rel=1e-6)
    assert generalized_q(BCG_RR.yi, BCG_RR.vi, pm.tau2) == pytest.approx(12.0, rel=1e-10)
    assert dl.standard_error is None and pm.iterations > 0 and reml.iterations > 0


def test_clasp_tau_by_pm_dl_reml_matches_dersimonian_kacker_2007() -> None:
    """Oracle: DerSimonian & Kacker (2007) Tables 3 and 4 (pp. 111-112), as checked in metafor
    tests/testthat/test_analysis_example_dersimonian2007.r: tau = 0.3681 (PM), 0.2323 (DL),
    0.1843 (REML) for the CLASP log odds ratios."""
    assert_printed(estimate_tau2(CLASP_OR.yi, CLASP_OR.vi, "PM").tau2 ** 0.5, "0.3681")
    assert_printed(estimate_tau2(CLASP_OR.yi, CLASP_OR.vi, "DL").tau2 ** 0.5, "0.2323")
    assert_printed(estimate_tau2(CLASP_OR.yi, CLASP_OR.vi, "REML").tau2 ** 0.5, "0.1843")


def test_q_profile_interval_matches_metafor_confint() -> None:
    """Oracle: metafor tests/testthat/test_misc_confint.r, ``confint(rma(yi, vi, data=dat,
    method="DL"))`` for BCG: tau^2 0.3088 (0.1197, 1.1115). The limits are also checked as roots
    (Q(limit) equals the chi-square(12) 97.5% / 2.5% quantiles, rtol 1e-9)."""
    lo, hi = q_profile_tau2_ci(BCG_RR.yi, BCG_RR.vi)
    assert_printed(lo, "0.1197")
    assert_printed(hi, "1.1115")
    assert generalized_q(BCG_RR.yi, BCG_RR.vi, lo) == pytest.approx(chi2_ppf(0.975, 12), rel=1e-9)
    assert generalized_q(BCG_RR.yi, BCG_RR.vi, hi) == pytest.approx(chi2_ppf(0.025, 12), rel=1e-9)
    # lidocaine RDs: Q(0) = 0.8597 is below the 97.5% quantile (lower limit 0) but above the
    # 2.5% quantile 0.8312 (so the upper limit is a small positive root)
    hine = effect_sizes_binary(events1=column(HINE, 3), n1=column(HINE, 1), events2=column(HINE, 4),
                               n2=column(HINE, 2), measure="RD")
    lo0, hi0 = q_profile_tau2_ci(hine.yi, hine.vi)
    assert lo0 == 0.0 and 0.0 < hi0 < 1e-3
    assert generalized_q(hine.yi, hine.vi, hi0) == pytest.approx(chi2_ppf(0.025, 5), rel=1e-9)
    # below both quantiles: [0, 0]
    assert q_profile_tau2_ci([0.0, 0.001, 0.002], [1.0, 1.0, 1.0]) == (0.0, 0.0)


def test_reml_smd_normand_subset() -> None:
    """Oracle: metafor tests/testthat/test_misc_rma_uni.r, ``rma(yi, vi)`` on the SMDs of
    dat.normand1999[1:4]: tau^2 = 1.0090."""
    rows = NORMAND[:4]
    t = effect_sizes_continuous(n1=column(rows, 1), mean1=column(rows, 2), sd1=column(rows, 3), n2=column(rows, 4),
                                mean2=column(rows, 5), sd2=column(rows, 6), measure="SMD")
    assert_printed(estimate_tau2(t.yi, t.vi, "REML").tau2, "1.0090")


def test_tau2_zero_boundary_for_reml_and_pm() -> None:
    """Oracle: metafor dat.hine1989 help page, ``rma(yi, vi)`` (REML) on the lidocaine RDs:
    tau^2 = 0 (SE = 0.0006), Q(df = 5) = 0.8597. PM is 0 by definition when Q(0) <= k - 1
    (Paule & Mandel 1982), and statsmodels' Paule-Mandel agrees (atol 1e-12)."""
    t = effect_sizes_binary(events1=column(HINE, 3), n1=column(HINE, 1), events2=column(HINE, 4),
                            n2=column(HINE, 2), measure="RD")
    reml = estimate_tau2(t.yi, t.vi, "REML")
    assert reml.tau2 == 0.0
    assert_printed(reml.standard_error, "0.0006")
    assert_printed(cochran_q(t.yi, t.vi), "0.8597")
    assert estimate_tau2(t.yi, t.vi, "PM").tau2 == 0.0
    assert estimate_tau2(t.yi, t.vi, "DL").tau2 == 0.0
    sm = combine_effects(np.asarray(t.yi), np.asarray(t.vi), method_re="iterated")
    assert sm.tau2 == pytest.approx(0.0, abs=1e-12)


def test_common_tau2_across_subgroups_and_within_q() -> None:
    """Oracle: metafor rma.uni help page, ``rma(yi, vi, mods = ~ factor(alloc) - 1, data=dat)``
    on BCG: residual tau^2 = 0.3615 (SE = 0.2111), QE(df = 10) = 132.3676, I^2 = 88.77%."""
    est = estimate_tau2(BCG_RR.yi, BCG_RR.vi, "REML", groups=BCG_ALLOC)
    assert_printed(est.tau2, "0.3615")
    assert_printed(est.standard_error, "0.2111")
    assert_printed(cochran_q(BCG_RR.yi, BCG_RR.vi, groups=BCG_ALLOC), "132.3676")
    s2 = typical_sampling_variance(BCG_RR.vi, groups=BCG_ALLOC)
    assert_printed(100 * est.tau2 / (est.tau2 + s2), "88.77")


def test_degenerate_and_bad_input() -> None:
    assert estimate_tau2([0.3], [0.1], "REML").tau2 == 0.0
    assert np.isnan(q_profile_tau2_ci([0.3], [0.1])).all()
    assert np.isnan(typical_sampling_variance([0.1]))
    assert estimate_tau2([0.1, 0.5], [0.1, 0.2], "DL", groups=["a", "b"]).tau2 == 0.0
    with pytest.raises(InputError, match="tau\\^2 method"):
        estimate_tau2([0.1, 0.2], [0.1, 0.1], "HS")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="positive"):
        estimate_tau2([0.1, 0.2], [0.1, 0.0])
    with pytest.raises(InputError, match="groups"):
        cochran_q([0.1, 0.2], [0.1, 0.1], groups=["a"])
    assert estimate_tau2([0.1, 0.2], [0.1, 0.1]).as_dict()["method"] == "REML"
