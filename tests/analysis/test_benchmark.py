"""Registry benchmarking (``analysis.benchmark``): the numbers against a direct computation,
the planted sites found and the others left alone, and who sees what.

References:
* the risk model and O/E against statsmodels' GLM (binomial, logit link) and OLS fitted on the
  same rows read out of the engine, O and E summed per site in pandas;
* the risk-adjusted rate is the registry rate × O/E, the risk-adjusted mean the registry mean
  + (O − E)/n (indirect standardisation, Spiegelhalter 2005 Table I);
* the funnel limits at a unit's n are the formulas of Spiegelhalter 2005 (``stats.funnel``);
* the synthetic cohort's planted sites (``synth.effects.SITE_EFFECTS``): DEMO-05 doubles every
  surgical complication risk and adds 6 ODI points after surgery; DEMO-08 halves them and takes
  6 points off.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from spinetrack.analysis.benchmark import OUTCOMES, benchmark_snapshot, run_benchmark, view_for
from spinetrack.engines import get_engine
from spinetrack.errors import InputError, ValidationError

UNDER, OVER = "DEMO-05", "DEMO-08"


def build(directory: Path, *, patients: int, seed: int, sites: int, rekey: bool = False) -> Path:
    from spinetrack.snapshot.export import export_snapshot
    from spinetrack.store.migrate import upgrade
    from spinetrack.store.session import make_engine
    from spinetrack.synth.load import load_demo

    directory.mkdir(parents=True, exist_ok=True)
    eng = make_engine(f"sqlite:///{directory / 'demo.db'}")
    upgrade(eng)
    load_demo(eng, patients=patients, seed=seed, sites=sites)
    export_snapshot(eng, directory / "snap", rekey_secret="a-test-secret-of-32-characters!!" if rekey else None)
    eng.dispose()
    return directory / "snap"


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("bm_small"), patients=3000, seed=11, sites=12)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    snap = build(tmp_path_factory.mktemp("bm_registry"), patients=20000, seed=7, sites=12)
    return benchmark_snapshot(snap)


def _rows(snap: Path, outcome_key: str, covariates: list[str]) -> Any:
    """The benchmark population's rows for one outcome, as pandas, read from the engine."""
    import pandas as pd

    from spinetrack.analysis.benchmark import _base_sql, outcome
    from spinetrack.analysis.propensity import prepare_snapshot

    with get_engine("duckdb") as eng:
        eng.register_snapshot(snap)
        prepare_snapshot(eng)
        o = outcome(outcome_key)
        cols = ", ".join(["unit", f"y_{o.key}", *(f"x_{c}" for c in covariates)])
        rows = eng.sql(f"SELECT {cols} FROM ({_base_sql('site', None, 'all', [o])}) b WHERE y_{o.key} IS NOT NULL")
    return pd.DataFrame(rows, columns=["unit", "y", *covariates])


@pytest.mark.parametrize("key", ["any_complication", "odi_mcid_12m", "los_days"])
def test_observed_and_expected_match_statsmodels(small: Path, key: str) -> None:
    import statsmodels.api as sm

    doc = benchmark_snapshot(small, outcomes=[key])
    (o,) = doc["outcomes"]
    covs = o["model"]["covariates"]
    df = _rows(small, key, covs)
    x = sm.add_constant(df[covs].astype(float), has_constant="add")
    if o["kind"] == "binary":
        fit = sm.GLM(df["y"].astype(float), x, family=sm.families.Binomial()).fit(tol=1e-12)
    else:
        fit = sm.OLS(df["y"].astype(float), x).fit()
        assert math.isclose(o["model"]["residual_sd"], math.sqrt(fit.scale), rel_tol=1e-6)
    df["f"] = fit.fittedvalues
    per = df.groupby("unit").agg(n=("y", "size"), o=("y", "sum"), e=("f", "sum"))
    overall = df["y"].mean()
    assert math.isclose(o["overall"], overall, rel_tol=1e-9)
    assert o["n"] == len(df)
    for u in o["units"]:
        ref = per.loc[u["unit"]]
        assert u["n"] == ref.n
        assert math.isclose(u["observed"], ref.o, rel_tol=1e-9)
        assert math.isclose(u["expected"], ref.e, rel_tol=1e-6), (u["unit"], u["expected"], ref.e)
        assert math.isclose(u["oe"], ref.o / ref.e, rel_tol=1e-6)
        adjusted = overall * ref.o / ref.e if o["kind"] == "binary" else overall + (ref.o - ref.e) / ref.n
        assert math.isclose(u["adjusted"], adjusted, rel_tol=1e-6)
        assert u["oe_low"] < u["oe"] < u["oe_high"]
        lo95, hi95 = u["limits"]["95"]
        lo998, hi998 = u["limits"]["99.8"]
        assert lo998 < lo95 < o["overall"] < hi95 < hi998
        inside95 = lo95 <= u["adjusted"] <= hi95
        inside998 = lo998 <= u["adjusted"] <= hi998
        assert u["flag"] == ("ok" if inside95 else "alert" if inside998 else "alarm")


def test_funnel_limits_are_the_papers_formulas_for_a_mean(small: Path) -> None:
    """A mean's limits: target ± z sqrt(sigma^2 / n + tau2) (Spiegelhalter 2005, §3 and §6)."""
    from statistics import NormalDist

    doc = benchmark_snapshot(small, outcomes=["los_days"])
    (o,) = doc["outcomes"]
    sd = o["model"]["residual_sd"]
    tau2 = o["overdispersion"]["tau2"] if o["overdispersion"]["method"] == "additive" else 0.0
    phi = max(o["overdispersion"]["phi"], 1.0) if o["overdispersion"]["method"] == "multiplicative" else 1.0
    for u in o["units"]:
        for level, key in ((0.95, "95"), (0.998, "99.8")):
            z = NormalDist().inv_cdf(0.5 + level / 2)
            half = z * math.sqrt(phi * sd * sd / u["n"] + tau2)
            assert u["limits"][key][0] == pytest.approx(o["overall"] - half, rel=1e-9)
            assert u["limits"][key][1] == pytest.approx(o["overall"] + half, rel=1e-9)


def test_planted_sites_are_flagged_and_the_others_are_not(registry: dict[str, Any]) -> None:
    by = {o["key"]: {u["unit"]: u for u in o["units"]} for o in registry["outcomes"]}
    # the planted complication and ODI effects (synth.effects.SITE_EFFECTS)
    for key in ("any_complication", "infection", "odi_mcid_12m"):
        assert by[key][UNDER]["flag"] in ("alert", "alarm") and by[key][UNDER]["direction"] == "worse", key
        assert by[key][OVER]["flag"] in ("alert", "alarm") and by[key][OVER]["direction"] == "better", key
    assert by["any_complication"][UNDER]["oe"] > 1.4 and by["any_complication"][OVER]["oe"] < 0.7
    # no other site is an alarm (99.8%) on any outcome; a 95% alert is expected now and then
    others = [(k, u) for k, units in by.items() for code, u in units.items() if code not in (UNDER, OVER)]
    alarms = [(k, u["unit"]) for k, u in others if u["flag"] == "alarm"]
    assert not alarms
    alerts = sum(u["flag"] == "alert" for _, u in others)
    assert alerts <= 8, alerts  # 80 unit-outcomes at 5% each: 4 expected, 8 is above the 95th percentile
    # empirical Bayes (normal-normal): the registry value + tau2 / (tau2 + s^2) × the difference, with
    # s^2 = p(1 - p)/n for a share and tau2 the moment estimate from the z-scores not winsorised
    o = next(o for o in registry["outcomes"] if o["key"] == "odi_mcid_12m")
    assert o["overdispersion"]["method"] == "none" and o["overdispersion"]["tau2_shrinkage"] > 0
    t2, p = o["overdispersion"]["tau2_shrinkage"], o["overall"]
    for u in o["units"]:
        s2 = p * (1 - p) / u["n"]
        assert u["shrunken"] == pytest.approx(p + t2 / (t2 + s2) * (u["adjusted"] - p), rel=1e-9)
    assert abs(by["odi_mcid_12m"][UNDER]["shrunken"] - p) > 0.5 * abs(by["odi_mcid_12m"][UNDER]["adjusted"] - p)
    # the shrunken estimates lie between the registry value and the unit's own
    for key, units in by.items():
        overall = next(o["overall"] for o in registry["outcomes"] if o["key"] == key)
        for u in units.values():
            lo, hi = sorted((overall, u["adjusted"]))
            assert lo - 1e-12 <= u["shrunken"] <= hi + 1e-12


def test_cusum_signals_at_the_planted_sites(registry: dict[str, Any]) -> None:
    c = registry["cusum"]
    assert c["outcome"] == "any_complication" and c["h_worse"] > 0 and c["h_better"] > 0
    by = {u["unit"]: u for u in c["units"]}
    assert any(a["direction"] == "worse" for a in by[UNDER]["alarms"])
    assert any(a["direction"] == "better" for a in by[OVER]["alarms"])
    assert not any(a["direction"] == "better" for a in by[UNDER]["alarms"])
    assert not any(a["direction"] == "worse" for a in by[OVER]["alarms"])
    # the upper chart never goes past its limit without a signal there (it restarts at 0)
    for u in c["units"]:
        assert max(u["worse"]) < c["h_worse"] + 5 and min(u["better"]) > -(c["h_better"] + 5)
        for a in u["alarms"]:
            assert a["date"] >= "2018-01-01"


@pytest.mark.slow
def test_false_alarms_across_seeds_stay_at_the_stated_rate(tmp_path: Path) -> None:
    """Three more registries (other seeds): the planted sites flagged on any complication every
    time; among the 10 other sites × 8 outcomes × 3 seeds = 240 unit-outcomes the 99.8% limits
    allow 0.48 false alarms on average (at most 3 is the Poisson 99.8th percentile), and the
    CUSUM's false signals stay within what its in-control run length allows."""
    from scipy.stats import poisson

    alarms = alerts = cusum_false = 0
    cusum_expected = 0.0
    for seed in (1, 2, 3):
        doc = benchmark_snapshot(build(tmp_path / f"s{seed}", patients=12000, seed=seed, sites=12))
        for o in doc["outcomes"]:
            units = {u["unit"]: u for u in o["units"]}
            if o["key"] == "any_complication":
                assert units[UNDER]["flag"] != "ok" and units[UNDER]["direction"] == "worse"
                assert units[OVER]["flag"] != "ok" and units[OVER]["direction"] == "better"
            for code, u in units.items():
                if code not in (UNDER, OVER):
                    alarms += u["flag"] == "alarm"
                    alerts += u["flag"] == "alert"
        c = doc["cusum"]
        for u in c["units"]:
            if u["unit"] not in (UNDER, OVER):
                cusum_false += len(u["alarms"])
                cusum_expected += 2 * u["n"] / c["arl0"]  # two charts, about n / ARL0 signals each
    assert alarms <= poisson.ppf(0.998, 240 * 0.002), alarms
    assert alerts <= poisson.ppf(0.998, 240 * 0.05), alerts
    assert cusum_false <= poisson.ppf(0.998, cusum_expected), (cusum_false, cusum_expected)


def test_who_sees_what(registry: dict[str, Any]) -> None:
    clinic = view_for(registry, own_site="DEMO-N")
    text = json.dumps(clinic)
    codes = {u["unit"] for o in registry["outcomes"] for u in o["units"]}
    for code in codes - {"DEMO-N"}:
        assert f'"{code}"' not in text and f"{code}/" not in text, code
    for o in clinic["outcomes"]:
        assert o["units"][0]["own"] and o["units"][0]["label"] == "DEMO-N"
        assert sum(u["own"] for u in o["units"]) == 1
        assert {u["label"] for u in o["units"][1:]} == {f"Site {k}" for k in range(1, len(codes))}
    # the same pseudonym for the same site in every outcome and in the charts
    names = [{u["n"]: u["label"] for u in o["units"]} for o in clinic["outcomes"][:2]]
    assert names[0] == {u["n"]: u["label"] for u in clinic["outcomes"][0]["units"]}
    research = view_for(registry, own_site=None)
    text = json.dumps(research)
    for code in codes:
        assert f'"{code}"' not in text
    assert not any(u["own"] for o in research["outcomes"] for u in o["units"])


def test_small_units_are_suppressed(small: Path) -> None:
    from spinetrack.analysis.benchmark import Benchmark, benchmark_as_dict

    with get_engine("duckdb") as eng:
        eng.register_snapshot(small)
        b = run_benchmark(eng, outcomes=["any_complication"], cusum=False)
    doc = benchmark_as_dict(b, min_cell=10_000)  # every site below the cell size
    assert isinstance(b, Benchmark)
    for u in doc["outcomes"][0]["units"]:
        assert u["suppressed"] and u["observed"] is None and u["flag"] is None and u["n"] < 10_000


def test_surgeon_level(small: Path) -> None:
    doc = benchmark_snapshot(small, level="surgeon", outcomes=["any_complication"])
    units = doc["outcomes"][0]["units"]
    assert {u["unit"].split("/")[1] for u in units} == {"SURG-1", "SURG-2", "SURG-3", "SURG-4"}
    assert len(units) == 12 * 4
    mine = view_for(doc, own_site="DEMO-C")
    own = [u for u in mine["outcomes"][0]["units"] if u["own"]]
    assert sorted(u["label"] for u in own) == [f"DEMO-C/SURG-{k}" for k in range(1, 5)]
    assert all(u["label"].startswith("Surgeon ") for u in mine["outcomes"][0]["units"] if not u["own"])


def test_bad_input_names_the_field(small: Path) -> None:
    with get_engine("duckdb") as eng:
        eng.register_snapshot(small)
        for kw, field in (({"level": "ward"}, "level"), ({"outcomes": ["happiness"]}, "outcome"),
                          ({"approach": "robotic"}, "approach"), ({"overdispersion": "lots"}, "overdispersion"),
                          ({"arl0": 0.5}, "arl0")):
            with pytest.raises(ValidationError) as exc:
                run_benchmark(eng, **kw)
            assert exc.value.field == field
        with pytest.raises(InputError, match="no operated episodes indexed in 1990-1991"):
            run_benchmark(eng, years=(1990, 1991))


def test_every_outcome_is_benchmarked(small: Path) -> None:
    doc = benchmark_snapshot(small, years=(2019, 2021))
    assert [o["key"] for o in doc["outcomes"]] == [o.key for o in OUTCOMES]
    assert doc["years"] == [2019, 2021]
    for o in doc["outcomes"]:
        assert o["model"]["converged"]
        assert np.all(np.diff(o["funnel"]["grid"]) > 0)
        assert all(lo < o["overall"] < hi for lo, hi in zip(o["funnel"]["lower95"], o["funnel"]["upper95"],
                                                             strict=True))


@pytest.mark.spark
def test_duckdb_and_spark_agree(small: Path, spark_engine: Any) -> None:
    with get_engine("duckdb") as duck:
        duck.register_snapshot(small)
        a = run_benchmark(duck, cusum=True)
    spark_engine.register_snapshot(small)
    b = run_benchmark(spark_engine, cusum=True)
    for oa, ob in zip(a.outcomes, b.outcomes, strict=True):
        assert oa.covariates == ob.covariates
        for ua, ub in zip(oa.units, ob.units, strict=True):
            assert ua.unit == ub.unit and ua.n == ub.n and ua.flag == ub.flag
            for x, y in ((ua.observed, ub.observed), (ua.expected, ub.expected), (ua.adjusted, ub.adjusted),
                         (ua.shrunken, ub.shrunken)):
                assert abs(x - y) <= 1e-9 * max(abs(x), abs(y), 1e-12), (oa.outcome.key, ua.unit, x, y)
    assert a.cusum is not None and b.cusum is not None
    assert a.cusum.h_worse == pytest.approx(b.cusum.h_worse, rel=1e-9)
    for ca, cb in zip(a.cusum.units, b.cusum.units, strict=True):
        assert ca.alarms == cb.alarms


def test_a_long_chart_is_thinned_and_keeps_its_alarms() -> None:
    """A unit with more operations than the document keeps (1,000) is thinned evenly; every alarm
    stays, and its ``index`` points at its own date in the arrays shown."""
    import datetime as dt

    from spinetrack.analysis.benchmark import CusumUnit, _cusum_unit_dict

    n = 3000
    days = np.arange(n, 0, -1)  # in chart order: the oldest operation first
    worse = np.linspace(0, 5, n)
    alarms = ((1234, "worse"), (2777, "better"))
    u = CusumUnit("DEMO-01", n, days, worse, worse / 2, alarms)
    d = _cusum_unit_dict(u, dt.date(2026, 1, 1), 5)
    assert 1000 <= len(d["dates"]) <= 1002 and len(d["worse"]) == len(d["dates"]) == len(d["better"])
    for a, (op, _) in zip(d["alarms"], alarms, strict=True):
        assert a["operation"] == op
        expected = (dt.date(2026, 1, 1) - dt.timedelta(days=int(days[op]))).isoformat()
        assert d["dates"][a["index"]] == a["date"] == expected
        assert d["worse"][a["index"]] == pytest.approx(worse[op])
    assert d["better"][0] == -0.0 and d["better"][-1] == pytest.approx(-2.5)
