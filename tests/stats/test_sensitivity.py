"""E-values (``spinetrack.stats.sensitivity``).

Oracles: the worked example of VanderWeele & Ding (Ann Intern Med 2017;167:268-274) —
formula-fed infants' respiratory death, RR 3.9 (95% CI 1.8 to 8.7), E-value 7.26 — whose
value 7.263034 is printed by episensr's ``confounders.evalue(est = 3.9, type = "RR")``
(D. Haine, "New in episensr 0.9.3 - E-value", https://www.denishaine.ca/blog/episensr-vdw/);
otherwise hand-derived values from the formulas written in each test, which are those of the
R package EValue (``evalues.RR``, ``evalues.MD``: RR = exp(0.91 d), CI exp(0.91 d ± 1.78 se)).
"""

from __future__ import annotations

import json
import math

import pytest

from spinetrack.errors import InputError
from spinetrack.stats.sensitivity import (
    e_value,
    evalue_mean_difference,
    evalue_risk_ratio,
    evalue_smd,
)


def test_evalue_vanderweele_ding_breastfeeding_example() -> None:
    """Oracle: VanderWeele & Ding (2017) breastfeeding example, RR 3.9 (1.8, 8.7): point
    E-value 7.263034 (episensr output, 6 decimals); CI E-value from the lower limit,
    1.8 + sqrt(1.8 * 0.8) = 1.8 + 1.2 = 3.0 exactly. Tolerance 5e-7 / 1e-12."""
    res = evalue_risk_ratio(3.9, 1.8, 8.7)
    assert res.e_value == pytest.approx(7.263034, abs=5e-7)
    assert res.e_value_ci == pytest.approx(3.0, rel=1e-12)
    assert res.measure == "risk ratio"


def test_evalue_protective_estimate_uses_upper_limit() -> None:
    """Oracle: EValue's leukemia example ``evalues.RR(0.80, 0.71, 0.91)``, hand-derived:
    1/0.80 = 1.25 → 1.25 + sqrt(1.25 * 0.25); CI: the limit closer to 1 is 0.91 →
    1/0.91 + sqrt(1/0.91 * (1/0.91 - 1)). Symmetry: E(0.8) = E(1.25). rtol 1e-12."""
    res = evalue_risk_ratio(0.80, 0.71, 0.91)
    assert res.e_value == pytest.approx(1.25 + math.sqrt(1.25 * 0.25), rel=1e-12)
    assert res.e_value == pytest.approx(1.809017, abs=5e-7)
    inv = 1 / 0.91
    assert res.e_value_ci == pytest.approx(inv + math.sqrt(inv * (inv - 1)), rel=1e-12)
    assert e_value(0.8) == pytest.approx(e_value(1 / 0.8), rel=1e-12)


def test_evalue_ci_including_null_is_one() -> None:
    """Oracle: VanderWeele & Ding (2017): if the interval includes 1 its E-value is 1."""
    assert evalue_risk_ratio(1.3, 0.9, 1.8).e_value_ci == 1.0
    assert evalue_risk_ratio(0.7, 0.4, 1.2).e_value_ci == 1.0
    assert evalue_risk_ratio(1.0, 0.8, 1.2).e_value == 1.0
    assert evalue_risk_ratio(2.0).e_value_ci is None


def test_evalue_smd_conversion() -> None:
    """Oracle: EValue ``evalues.MD(0.5, 0.25)`` formulas by hand: RR = exp(0.91 * 0.5),
    CI exp(0.455 ± 1.78 * 0.25) = (exp(0.010), exp(0.900)); E = RR + sqrt(RR (RR - 1)); the
    CI E-value is that of exp(0.010). rtol 1e-12."""
    res = evalue_smd(0.5, 0.25)
    rr = math.exp(0.455)
    assert res.risk_ratio == pytest.approx(rr, rel=1e-12)
    assert res.ci_low == pytest.approx(math.exp(0.01), rel=1e-12)
    assert res.ci_high == pytest.approx(math.exp(0.9), rel=1e-12)
    assert res.e_value == pytest.approx(rr + math.sqrt(rr * (rr - 1)), rel=1e-12)
    lo = math.exp(0.01)
    assert res.e_value_ci == pytest.approx(lo + math.sqrt(lo * (lo - 1)), rel=1e-12)
    # a negative d is protective: the same E-value as +d
    assert evalue_smd(-0.5, 0.25).e_value == pytest.approx(res.e_value, rel=1e-12)
    # a mean difference of 5 points with outcome SD 10 is d = 0.5
    assert evalue_mean_difference(5.0, 2.5, 10.0).e_value == pytest.approx(res.e_value, rel=1e-12)
    assert json.loads(json.dumps(res.as_dict()))["measure"] == "standardized mean difference"


def test_evalue_refuses_bad_input() -> None:
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(InputError):
            e_value(bad)
    with pytest.raises(InputError, match="ci_low"):
        evalue_risk_ratio(1.5, 1.8, 2.0)
    with pytest.raises(InputError, match="ci_high"):
        evalue_risk_ratio(1.5, 1.2, 1.4)
    with pytest.raises(InputError):
        evalue_smd(0.5, -0.1)
    with pytest.raises(InputError):
        evalue_mean_difference(1.0, 0.5, 0.0)
