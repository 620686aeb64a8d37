"""Synthetic snapshots and trained models for the prediction tests.

The cohorts come from ``spinetrack.synth`` (planted, documented effects: ``synth/effects.py``),
loaded into SQLite and exported as a snapshot (``tests/analysis/conftest.py``). Models are
trained on one seed's cohort (``TRAIN``) and validated on another seed's (``VALIDATE``); the
sizes keep the whole package under about a minute on two cores.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.analysis.conftest import build_snapshot

TRAIN = {"patients": 6000, "seed": 21}
VALIDATE = {"patients": 4000, "seed": 22}
BOOTSTRAP = 50  # resamples per model: enough for a stable optimism-corrected slope (B=50 and 100 agree)
SEED = 5


@dataclass(frozen=True)
class ValidationRow:
    episode_key: Any
    profile: Any                      # PatientProfile
    option: str                       # conservative | mis | open: the treatment received
    family: str | None                # the episode's procedure family (None: conservative care)
    outcomes: dict[str, tuple[float, ...] | None]  # outcome key -> (y,) or (time, event); None: not observed


# the outcome columns are evaluated over the analysis table alone (their SQL names its columns
# unqualified), then joined to the episode and patient records
_PROFILE_SQL = """
WITH oc AS (SELECT episode_key AS oc_key{outcomes} FROM analysis_all)
SELECT a.episode_key, a.treatment, a.treatment_family, ep.diagnosis_group, ep.n_levels, ep.age_at_index,
       p.sex, p.bmi, p.smoking, p.diabetes, p.asa_grade, a.odi0_raw, a.back0_raw, a.leg0_raw,
       p.symptom_duration_weeks, p.prior_spine_surgery{oc}{extra}
FROM analysis_all a JOIN oc ON oc.oc_key = a.episode_key JOIN episodes ep ON ep.episode_key = a.episode_key
JOIN patients p ON p.patient_key = ep.patient_key
ORDER BY a.episode_key
"""


def validation_rows(snapshot: Path, extra_columns: list[str] | None = None) -> tuple[list[ValidationRow], list[tuple]]:
    """Every episode of the snapshot with its profile (built from the raw snapshot columns, as a
    clinic would from its records), the option it received and its observed outcomes (the
    outcome columns of ``predict.spec.OUTCOMES`` over the analysis table); plus the values of
    ``extra_columns`` (SQL over the analysis table ``a``) per row."""
    from spinetrack.analysis.propensity import prepare_snapshot
    from spinetrack.engines import get_engine
    from spinetrack.predict import PatientProfile
    from spinetrack.predict.spec import OUTCOMES

    outcomes: list[str] = []
    layout: list[tuple[str, int]] = []
    for o in OUTCOMES:
        outcomes.append(f"CASE WHEN ({o.where}) THEN 1 ELSE 0 END")
        outcomes += [f"CAST(({e}) AS DOUBLE)" for _, e in o.columns]
        layout.append((o.key, len(o.columns)))
    with get_engine("duckdb") as eng:
        eng.register_snapshot(snapshot)
        prepare_snapshot(eng)
        rows = eng.sql(_PROFILE_SQL.format(
            outcomes="".join(f", {e} AS c{i}" for i, e in enumerate(outcomes)),
            oc="".join(f", oc.c{i}" for i in range(len(outcomes))),
            extra="".join(f", {e}" for e in extra_columns or [])))
    out, more = [], []
    for r in rows:
        prof = PatientProfile(
            diagnosis_group=r[3], n_levels=int(r[4]), age_years=None if r[5] is None else float(r[5]), sex=r[6],
            bmi=r[7], smoking=r[8], diabetes=r[9], asa_grade=r[10], odi_pct=r[11], nrs_back=r[12], nrs_leg=r[13],
            symptom_duration_weeks=r[14], prior_spine_surgery=r[15])
        outcomes: dict[str, tuple[float, ...] | None] = {}
        k = 16
        for key, width in layout:
            outcomes[key] = tuple(float(v) for v in r[k + 1:k + 1 + width]) if r[k] == 1 else None
            k += 1 + width
        out.append(ValidationRow(r[0], prof, r[1], r[2], outcomes))
        more.append(tuple(r[k:]))
    return out, more


@pytest.fixture(scope="session")
def snapshot_factory(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    cache: dict[tuple[int, int], Path] = {}

    def make(patients: int, seed: int) -> Path:
        if (patients, seed) not in cache:
            cache[(patients, seed)] = build_snapshot(tmp_path_factory.mktemp("snapshot"), patients=patients,
                                                     seed=seed)
        return cache[(patients, seed)]

    return make


@pytest.fixture(scope="session")
def trained(snapshot_factory, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Models trained on the ``TRAIN`` cohort (written to a temporary directory)."""
    from spinetrack.predict import train_models

    snap = snapshot_factory(**TRAIN)
    return train_models(snap, "duckdb", tmp_path_factory.mktemp("models"), bootstrap=BOOTSTRAP, seed=SEED)


@pytest.fixture(scope="session")
def validation(snapshot_factory):  # type: ignore[no-untyped-def]
    rows, _ = validation_rows(snapshot_factory(**VALIDATE))
    return rows


@pytest.fixture(scope="session")
def validation_predictions(trained, validation):  # type: ignore[no-untyped-def]
    """``predict_options`` for every patient of the validation cohort."""
    from spinetrack.predict import predict_options

    return [predict_options(r.profile, trained.models) for r in validation]
