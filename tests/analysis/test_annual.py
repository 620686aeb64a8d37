"""The annual report's numbers on a small synthetic snapshot, against pandas over the same Parquet
files (the reference: a direct row-level computation written out here, independent of the SQL):
cohort and case mix, follow-up completeness counted by hand, outcomes by procedure family and
approach, the small-cell rule, and who sees what."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from spinetrack.analysis.annual import annual_data, annual_view, site_labels
from spinetrack.analysis.design import PROM_INSTRUMENTS
from spinetrack.domain.pathway import TIMEPOINTS
from spinetrack.engines import get_engine
from spinetrack.errors import ValidationError
from spinetrack.instruments import thresholds
from tests.analysis.conftest import build_snapshot

BENCH = Path(__file__).parents[1] / "reports" / "benchmark_example.json"


@pytest.fixture(scope="module")
def snap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_snapshot(tmp_path_factory.mktemp("annual"), patients=700, seed=11)


@pytest.fixture(scope="module")
def frames(snap: Path) -> dict[str, pd.DataFrame]:
    return {t: pd.read_parquet(snap / f"{t}.parquet") for t in
            ("patients", "episodes", "procedures", "complications", "readmissions", "outcomes")}


@pytest.fixture(scope="module")
def year(frames: dict[str, pd.DataFrame]) -> int:
    """The year with the most episodes (the synthetic cohort's years move with today's date)."""
    return int(frames["episodes"]["index_year"].value_counts().idxmax())


@pytest.fixture(scope="module")
def doc(snap: Path, year: int) -> dict[str, Any]:
    bench = json.loads(BENCH.read_text(encoding="utf-8"))
    eng = get_engine("duckdb")
    try:
        eng.register_snapshot(snap)
        out = annual_data(eng, year, benchmark=bench)
    finally:
        eng.close()
    json.dumps(out, allow_nan=False)  # JSON values only
    return out


@pytest.fixture(scope="module")
def cohort(frames: dict[str, pd.DataFrame], year: int) -> pd.DataFrame:
    e = frames["episodes"]
    return e[e["index_year"] == year].merge(frames["patients"], on="patient_key")


def _cell(n: int) -> dict[str, Any]:
    small = 0 < n < 5
    return {"n": None if small else n, "suppressed": small}


def test_cohort_counts_match_pandas(doc: dict[str, Any], cohort: pd.DataFrame) -> None:
    reg = next(b for b in doc["cohort"] if b["site"] is None)
    assert reg["episodes"]["n"] == len(cohort)
    assert reg["patients"]["n"] == cohort["patient_key"].nunique()
    assert reg["sites"] == cohort["site"].nunique()
    assert doc["sites"] == sorted(cohort["site"].unique())
    for site, g in cohort.groupby("site"):
        b = next(b for b in doc["cohort"] if b["site"] == site)
        assert b["episodes"] == _cell(len(g))
        ages = g["age_at_index"].dropna().astype(float)
        assert b["age_years"]["mean"] == pytest.approx(ages.mean(), rel=1e-12)
        assert b["age_years"]["sd"] == pytest.approx(ages.std(ddof=1), rel=1e-9)
        for var, values in (("sex", g["sex"]), ("asa_grade", g["asa_grade"].dropna().astype(int).astype(str)),
                            ("smoking", g["smoking"].fillna("not recorded"))):
            cells = {c["level"]: c for c in b["categories"][var]}
            assert set(cells) == set(values.unique())
            for level, n in values.value_counts().items():
                c = cells[level]
                if c["suppressed"]:  # 1 to 4 patients, or hidden with one (secondary suppression)
                    assert c["n"] is None
                else:
                    assert c["n"] == int(n) and n >= 5


def test_small_cells_are_suppressed(doc: dict[str, Any], cohort: pd.DataFrame) -> None:
    """Every count of 1 to 4 in the case mix arrives as ``n = None, suppressed``; the synthetic
    cohort has some (pandas finds them), so the rule is exercised, not assumed."""
    small = 0
    for site, g in cohort.groupby("site"):
        b = next(b for b in doc["cohort"] if b["site"] == site)
        dx = {c["level"]: c for c in b["categories"]["diagnosis_group"]}
        for level, n in g["diagnosis_group"].value_counts().items():
            if 0 < n < 5:
                small += 1
                assert dx[level] == {"level": level, "label": dx[level]["label"], "n": None, "suppressed": True}
    rows = [r for r in doc["outcomes"]["rows"] if r["site"] is not None]
    for r in rows:
        for v in r["values"].values():
            if v["suppressed"]:
                small += 1
                assert v.get("mean") is None and v.get("value") is None and v.get("events") is None
                assert v["n"] is None or (v["n"] >= 5 and v["bound"] in ("fewer_than_5", "all_but_fewer_than_5"))
    assert small > 0


def test_no_hidden_case_mix_count_can_be_recovered_by_subtraction(doc: dict[str, Any], cohort: pd.DataFrame) -> None:
    """Secondary suppression: in no row (a level over the sites, the registry total shown) and no
    column (a site's levels of a variable, its episode total shown) is one count hidden alone;
    and every hidden count is either 1 to 4 (pandas) or hidden with such a one."""
    blocks = {b["site"]: b for b in doc["cohort"]}
    for var in blocks[None]["categories"]:
        for site, b in blocks.items():
            hidden = [c for c in b["categories"][var] if c["suppressed"]]
            assert len(hidden) != 1, (site, var)
        levels = {c["level"] for b in blocks.values() for c in b["categories"][var]}
        for level in levels:
            cells = [c for s, b in blocks.items() if s is not None for c in b["categories"][var] if c["level"] == level]
            assert sum(c["suppressed"] for c in cells) != 1, (var, level)
    dx = cohort.groupby(["site", "diagnosis_group"]).size()
    assert ((dx > 0) & (dx < 5)).any()  # the synthetic year has primary cells to protect


def test_followup_completeness_against_a_hand_count(doc: dict[str, Any], cohort: pd.DataFrame,
                                                   frames: dict[str, pd.DataFrame]) -> None:
    """Due: the timepoint's target day on or before the extraction date (followup_days ≥ target);
    returned: any analysed questionnaire valid with a score at the timepoint."""
    o = frames["outcomes"]
    answered = o[o["valid"] & o["score"].notna() & o["instrument"].isin(PROM_INSTRUMENTS)]
    target = {tp.code: tp.target_days for tp in TIMEPOINTS}
    checked = 0
    for cell in doc["followup"]:
        g = cohort if cell["site"] is None else cohort[cohort["site"] == cell["site"]]
        due = g[g["followup_days"] >= target[cell["timepoint"]]]
        back = set(answered.loc[answered["timepoint"] == cell["timepoint"], "episode_key"])
        returned = int(due["episode_key"].isin(back).sum())
        if cell["suppressed"]:
            assert 0 < len(due) < 5 or 0 < returned < 5 or 0 < len(due) - returned < 5
            continue
        assert (cell["due"], cell["returned"]) == (len(due), returned), cell
        checked += 1
    assert checked >= 8
    reg12 = next(c for c in doc["followup"] if c["site"] is None and c["timepoint"] == "12m")
    assert reg12["share"] == pytest.approx(reg12["returned"] / reg12["due"])


def test_outcomes_by_procedure_family_and_approach_match_pandas(doc: dict[str, Any], cohort: pd.DataFrame,
                                                               frames: dict[str, pd.DataFrame]) -> None:
    comp = set(frames["complications"]["episode_key"])
    readm = set(frames["readmissions"]["episode_key"])
    o = frames["outcomes"]
    odi = o[(o["instrument"] == "odi") & o["valid"] & o["score"].notna()]
    base = odi[odi["timepoint"] == "baseline"].set_index("episode_key")["score"]
    m12 = odi[odi["timepoint"] == "12m"].set_index("episode_key")["score"]
    pr = frames["procedures"]
    los = pr[pr["days_from_index"] == 0].set_index("episode_key")["los_days"]
    mcid = thresholds.get("odi").absolute
    assert doc["mcid"]["absolute"] == mcid
    c = cohort.copy()
    c["grp"] = c.apply(lambda r: "conservative" if r["treatment"] == "conservative"
                       else f"{r['treatment_family']}:{r['treatment']}", axis=1)
    for grp, g in c.groupby("grp"):
        row = next(r for r in doc["outcomes"]["rows"]
                   if r["dimension"] == "procedure" and r["group"] == grp and r["site"] is None)
        v = row["values"]
        n = len(g)
        for key, events in (("any_complication", int(g["episode_key"].isin(comp).sum())),
                            ("readmission", int(g["episode_key"].isin(readm).sum()))):
            if 0 < events < 5 or 0 < n - events < 5:  # bounded, not shown
                assert (v[key]["n"], v[key]["events"], v[key]["value"]) == (n, None, None), key
                assert v[key]["bound"] == ("fewer_than_5" if events < 5 else "all_but_fewer_than_5")
            else:
                assert (v[key]["n"], v[key]["events"]) == (n, events), key
        both = pd.concat([base.rename("b"), m12.rename("m")], axis=1).dropna()
        both = both[both.index.isin(g["episode_key"])]
        if len(both) >= 5:
            improved = int(((both["b"] - both["m"]) >= mcid).sum())
            assert v["odi_mcid_12m"]["n"] == len(both)
            small = 0 < improved < 5 or 0 < len(both) - improved < 5
            assert v["odi_mcid_12m"]["events"] == (None if small else improved)
            assert v["odi_12m"]["mean"] == pytest.approx(m12[m12.index.isin(g["episode_key"])].mean(), rel=1e-12)
        stays = los[los.index.isin(g["episode_key"])].dropna()
        if len(stays) >= 5:
            assert v["los_days"]["mean"] == pytest.approx(stays.mean(), rel=1e-12)
            assert v["los_days"]["sd"] == pytest.approx(stays.std(ddof=1), rel=1e-9)
        else:
            assert v["los_days"]["mean"] is None
    assert "MIS" in next(r["label"] for r in doc["outcomes"]["rows"] if r["group"].endswith(":mis"))


def test_bad_year_names_the_field_and_the_years_on_record(snap: Path, frames: dict[str, pd.DataFrame]) -> None:
    eng = get_engine("duckdb")
    try:
        eng.register_snapshot(snap)
        with pytest.raises(ValidationError) as err:
            annual_data(eng, 1901, benchmark={})
        assert err.value.field == "year"
        years = sorted(int(y) for y in frames["episodes"]["index_year"].dropna().unique())
        assert err.value.allowed == ", ".join(str(y) for y in years)
        with pytest.raises(ValidationError):
            annual_data(eng, "2021", benchmark={})  # type: ignore[arg-type]
    finally:
        eng.close()


def test_clinic_view_names_only_its_own_site(doc: dict[str, Any]) -> None:
    own = doc["sites"][1]
    view = annual_view(doc, own_site=own)
    others = [s for s in doc["sites"] if s != own]
    text = json.dumps(view)
    assert own in text and not any(s in text for s in [*others, "DEMO-W"])  # DEMO-W: benchmarked only
    labels = site_labels([*doc["sites"], "DEMO-W"], own_site=own)
    assert view["sites"][0] == own and set(view["sites"][1:]) == {labels[s] for s in others}
    units = view["benchmark"]["outcomes"][0]["units"]
    assert [u["own"] for u in units if u["label"] == own] == [True]
    assert all(u["suppressed"] for u in units if u["n"] < 5)
    assert site_labels(doc["sites"], own_site=None, pseudonymise_all=True) == {
        s: f"Site {k}" for k, s in enumerate(sorted(doc["sites"]), start=1)}
    with pytest.raises(ValidationError) as err:
        annual_view(doc, own_site="NOPE")
    assert err.value.field == "site"
    assert not math.isnan(view["cohort"][0]["age_years"]["mean"])


def test_with_the_registry_benchmark_names_agree_with_view_for(snap: Path, year: int) -> None:
    """Run without a benchmark document, annual_data benchmarks the year's sites itself (dates of
    the CUSUM from the extraction date), and a clinic's view gives every other site the name the
    benchmark's own rule gives it (``view_for``), in the tables and on the charts alike."""
    from spinetrack.analysis.benchmark import view_for

    eng = get_engine("duckdb")
    try:
        eng.register_snapshot(snap)
        doc = annual_data(eng, year)
    finally:
        eng.close()
    bench = doc["benchmark"]
    assert bench["years"] == [year, year] and bench["level"] == "site"
    for u in bench["cusum"]["units"]:
        assert all(d[:4].isdigit() and int(d[:4]) == year for d in u["dates"])
    own = doc["sites"][0]
    view = annual_view(doc, own_site=own)
    expected = view_for(bench, own_site=own)
    labels = {tuple(sorted((u["n"], u["label"]) for u in o["units"])) for o in expected["outcomes"]}
    assert labels == {tuple(sorted((u["n"], u["label"]) for u in o["units"])) for o in view["benchmark"]["outcomes"]}
    by_n = {u["n"]: u["label"] for u in expected["cusum"]["units"]}
    for b in view["cohort"][1:]:
        assert b["site"] in by_n.values()
    assert sorted(view["sites"]) == sorted({u["label"] for u in expected["cusum"]["units"]})


def _close(a: Any, b: Any, path: str = "") -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            _close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _close(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, (int, float)):
        assert b == pytest.approx(a, rel=1e-9, abs=1e-12), path
    else:
        assert a == b, path


def test_duckdb_and_spark_agree(snap: Path, year: int, doc: dict[str, Any], spark_engine: Any) -> None:
    """The same document from Spark (local mode) as from DuckDB, numbers to rel. 1e-9."""
    spark_engine.register_snapshot(snap)
    other = annual_data(spark_engine, year, benchmark=doc["benchmark"])
    _close({k: v for k, v in doc.items() if k != "engine"}, {k: v for k, v in other.items() if k != "engine"})
