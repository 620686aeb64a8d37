"""A patient's profile encodes exactly as the analysis table encodes the same patient.

Oracle: the covariate SQL of ``analysis.design.covariate_columns`` itself, run by DuckDB — on
every episode of a synthetic snapshot (the ``x_*`` columns of the analysis table) and on
hand-made rows with every kind of missing value.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from spinetrack.errors import ValidationError
from spinetrack.predict import PatientProfile, encode_profile
from spinetrack.predict.spec import COVARIATES
from tests.predict.conftest import VALIDATE, validation_rows


def test_encoding_matches_the_analysis_table_on_a_snapshot(snapshot_factory) -> None:  # type: ignore[no-untyped-def]
    rows, sql_values = validation_rows(snapshot_factory(**VALIDATE), [f"a.{c}" for c in COVARIATES])
    assert len(rows) == VALIDATE["patients"]
    ours = np.array([[encode_profile(r.profile)[c] for c in COVARIATES] for r in rows])
    np.testing.assert_allclose(ours, np.array(sql_values, dtype=float), rtol=0, atol=1e-12)
    assert ours[:, COVARIATES.index("x_odi0_missing")].sum() >= 1  # the snapshot has a missing baseline ODI


def test_encoding_matches_the_design_sql_with_missing_values() -> None:
    from spinetrack.analysis.design import ComparisonSpec, covariate_columns
    from spinetrack.engines import get_engine

    cases = [
        # age, sex, bmi, smoking, diabetes, asa, dx, levels, odi, back, leg, weeks, prior
        (71, "male", 31.2, "current", True, 3, "degenerative_spondylolisthesis", 2, 52.0, 7.0, 4.0, 30, True),
        (None, None, None, None, None, None, "disc_herniation_radiculopathy", 1, None, None, None, None, None),
        (35, "female", 22.0, "former", False, 1, "nonspecific_low_back_pain", 1, 12.0, 3.0, 0.0, 0, False),
        (88, "other", 45.0, "never", None, 5, "stenosis_with_claudication", 3, 96.0, 10.0, 10.0, 520, None),
        (50, "unknown", None, "never", True, None, "stenosis_without_claudication", 1, 40.0, None, 6.0, None, True),
    ]
    names = ["age_at_index", "sex", "bmi", "smoking", "diabetes", "asa_grade", "diagnosis_group", "n_levels",
             "odi__baseline", "nrs_back__baseline", "nrs_leg__baseline", "symptom_duration_weeks",
             "prior_spine_surgery"]
    cols = {n: [c[i] for c in cases] for i, n in enumerate(names)}
    cols["id"] = list(range(len(cases)))
    spec = ComparisonSpec("t", "t", family_covariates=False)
    exprs = []
    for c in covariate_columns(spec):
        exprs.append(f"CAST({c.sql} AS DOUBLE)")
        if c.missing_sql:
            exprs.append(f"CAST({c.missing_sql} AS DOUBLE)")
    with get_engine("duckdb") as eng:
        eng.register_arrays("t", cols)
        got = eng.sql(f"SELECT {', '.join(exprs)} FROM t p JOIN t e ON e.id = p.id JOIN t pw ON pw.id = p.id "
                      "ORDER BY p.id")
    for case, sql_row in zip(cases, got, strict=True):
        prof = PatientProfile(diagnosis_group=case[6], n_levels=case[7], age_years=case[0], sex=case[1], bmi=case[2],
                              smoking=case[3], diabetes=case[4], asa_grade=case[5], odi_pct=case[8], nrs_back=case[9],
                              nrs_leg=case[10], symptom_duration_weeks=case[11], prior_spine_surgery=case[12])
        x = encode_profile(prof)
        np.testing.assert_allclose([x[c] for c in COVARIATES], sql_row, rtol=0, atol=1e-12)


def test_profile_from_the_stored_records() -> None:
    from spinetrack.domain.pathway import EpisodeRecord, PatientRecord

    patient = PatientRecord.create({"pseudo_id": "P-1", "birth_year": 1960, "sex": "female", "bmi": 27.5,
                                    "smoking": "never", "diabetes": False, "asa_grade": 2,
                                    "symptom_duration_weeks": 40, "prior_spine_surgery": False},
                                   today=dt.date(2025, 6, 1))
    episode = EpisodeRecord.create({"diagnosis_code": "M48.062", "levels": "L3-L4,L4-L5",
                                    "enrolled_on": "2025-05-01"})
    prof = PatientProfile.from_records(patient, episode, {"odi": 48.0, "nrs_leg": 7.0})
    assert (prof.age_years, prof.diagnosis_group, prof.n_levels) == (65.0, "stenosis_with_claudication", 2)
    assert (prof.odi_pct, prof.nrs_leg, prof.nrs_back) == (48.0, 7.0, None)
    assert prof.missing() == ("nrs_back",)
    assert encode_profile(prof)["x_back0_missing"] == 1.0


def test_age_is_taken_at_the_episodes_baseline_not_today() -> None:
    """An episode of 2019 with its 2019 baseline scores is described by the
    patient's age then — the index year minus the birth year, the snapshot's ``age_at_index``
    (oracle: the analysis table's SQL, ``index_year − birth_year``) — not by today's age
    (2026 − 1960 = 66). Before treatment starts (no index date) the enrolment year is used."""
    from spinetrack.domain.pathway import EpisodeRecord, PatientRecord

    patient = PatientRecord.create({"pseudo_id": "P-2", "birth_year": 1960, "sex": "male"}, today=dt.date(2026, 11, 26))
    treated = EpisodeRecord.create({"diagnosis_code": "M51.16", "levels": "L4-L5", "enrolled_on": "2018-12-10",
                                    "treatment": "mis", "treatment_family": "discectomy", "index_date": "2019-02-01"})
    assert PatientProfile.from_records(patient, treated, {"odi": 40.0}).age_years == 59.0  # 2019 - 1960
    waiting = EpisodeRecord.create({"diagnosis_code": "M51.16", "levels": "L4-L5", "enrolled_on": "2018-12-10"})
    assert PatientProfile.from_records(patient, waiting, {}).age_years == 58.0  # 2018 - 1960


@pytest.mark.parametrize(("field", "value"), [("diagnosis_group", "back_ache"), ("asa_grade", 7), ("sex", "x"),
                                              ("odi_pct", 101.0), ("n_levels", 0), ("smoking", "sometimes"),
                                              ("diabetes", "yes")])
def test_profile_refuses_values_naming_the_field(field: str, value: object) -> None:
    kw = {"diagnosis_group": "disc_herniation_radiculopathy", "n_levels": 1, field: value}
    with pytest.raises(ValidationError) as exc:
        PatientProfile(**kw)  # type: ignore[arg-type]
    assert exc.value.field == f"profile.{field}"


def test_encoding_refuses_a_covariate_it_does_not_know(monkeypatch: pytest.MonkeyPatch) -> None:
    import spinetrack.predict.profile as mod

    monkeypatch.setattr(mod, "COVARIATES", (*COVARIATES, "x_new_covariate"))
    with pytest.raises(RuntimeError, match="x_new_covariate"):
        encode_profile(PatientProfile("disc_herniation_radiculopathy", 1))


@pytest.mark.parametrize("name", ["profile", "literature"])
def test_docstring_examples_run(name: str) -> None:
    """Oracle: the expected output written in each docstring (doctest)."""
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(f"spinetrack.predict.{name}"))
    assert result.attempted > 0 and result.failed == 0
