"""The private chi-square and t functions against scipy.stats (an established implementation;
scipy is a test-only dependency, pulled in by statsmodels). Tolerance: relative 1e-10 over
degrees of freedom 1-1000 and tails down to 1e-30."""

from __future__ import annotations

import pytest
from scipy import stats

from spinetrack.stats.meta._distributions import chi2_ppf, chi2_sf, t_ppf, t_sf

DFS = [1, 2, 3, 5, 12, 13, 30, 100, 1000]


@pytest.mark.parametrize("df", DFS)
def test_chi2_sf_and_ppf_match_scipy(df: int) -> None:
    for x in (1e-8, 0.01, 0.5, 1.0, 3.84, 10.0, 50.0, 152.233, 400.0):
        expected = stats.chi2.sf(x, df)
        if expected > 1e-300:
            assert chi2_sf(x, df) == pytest.approx(expected, rel=1e-10)
    for q in (0.001, 0.025, 0.5, 0.975, 0.999):
        assert chi2_ppf(q, df) == pytest.approx(stats.chi2.ppf(q, df), rel=1e-10)


@pytest.mark.parametrize("df", DFS)
def test_t_sf_and_ppf_match_scipy(df: int) -> None:
    for t in (-30.0, -3.0, -1.0, 0.0, 0.5, 1.0, 2.2, 5.0, 40.0):
        assert t_sf(t, df) == pytest.approx(stats.t.sf(t, df), rel=1e-10)
    for q in (0.001, 0.025, 0.975, 0.999):
        assert t_ppf(q, df) == pytest.approx(stats.t.ppf(q, df), rel=1e-10)
    assert t_ppf(0.5, df) == 0.0


def test_edges_and_bad_arguments() -> None:
    assert chi2_sf(0.0, 3) == 1.0 and chi2_sf(-1.0, 3) == 1.0
    assert t_sf(float("inf"), 4) == 0.0 and t_sf(float("-inf"), 4) == 1.0
    with pytest.raises(ValueError):
        chi2_sf(1.0, 0)
    with pytest.raises(ValueError):
        t_ppf(1.0, 5)
