"""Pseudonymised analysis tables in Parquet, streamed from the operational store.

``spinetrack snapshot --out DIR [--rekey SECRET]`` writes the files below into ``DIR``
(:func:`export_snapshot`). The layout is a contract that the analytics code relies on;
:data:`SCHEMA_VERSION` changes whenever a name or type changes.

Schema version 2
----------------
Keys: ``patient_key`` is ``P`` and the store's patient row id (``P17``), or with a rekeying
secret ``HMAC-SHA256(secret, "patient:<patient id>")`` as hex truncated to 16 characters: always
a key the store generated, never the pseudonymous id (which older versions let a client type).
``episode_key`` is the store's episode id, or with a secret the first 8 bytes of
``HMAC-SHA256(secret, "episode:<episode id>")`` read big-endian and masked to a non-negative
int64 (collisions are negligible: about 1 in 10^7 at 10^6 episodes). The same secret always
gives the same keys; without it, a rekeyed export cannot be linked back to the store.

Dates: no calendar date appears in any table. Events carry ``days_from_index`` (whole days
from the episode's index date, the date of the index procedure or of the decision for
conservative care; null only if the episode has no index date), and episodes carry the
``index_year``. Rows are ordered by the store's row ids, so the same database gives
identical files.

``patients.parquet`` (one row per patient)
    patient_key string, site string (site code), birth_year int16, sex string,
    bmi float64 (null), smoking string (null), diabetes bool (null), asa_grade int8 (null),
    work_status string (null), symptom_duration_weeks int32 (null),
    prior_spine_surgery bool (null)
``episodes.parquet`` (one row per episode of care)
    episode_key int64, patient_key string, diagnosis_code string (ICD-10-CM),
    diagnosis_group string, n_levels int8, levels string (e.g. ``"L4-L5,L5-S1"``),
    conservative_care string (null), conservative_care_weeks int32 (null),
    treatment string (conservative | mis | open; null), treatment_family string (null),
    index_year int16 (null), age_at_index int16 (null; index_year − birth_year),
    has_procedure bool, enrolment_days int32 (null; index date − enrolment date: the wait before
    treatment started), followup_days int32 (null; export date − index date: how long
    hospital-recorded events can have been seen, the administrative censoring time)
``procedures.parquet``
    episode_key int64, procedure_code string, family string, approach string,
    technique string (null; set for MIS), days_from_index int32 (0 for the index procedure),
    n_levels int8, incision_mm, ebl_ml, op_time_min, fluoro_s, fluoro_dose_mgy, los_days
    float64 (null), transfusion bool (null)
``complications.parquet``
    episode_key int64, category string, clavien_dindo string, days_from_index int32
``readmissions.parquet``
    episode_key int64, days_from_index int32
``reoperations.parquet``
    episode_key int64, reason string (a code), days_from_index int32
``outcomes.parquet`` (long form: one row per completed questionnaire)
    patient_key string, episode_key int64, instrument string, timepoint string,
    days_from_index int32 (null), score float64 (null when invalid or not applicable),
    valid bool, returned bool (null; for ``return_to_activity`` only, from the
    score detail's ``returned``). For ``return_to_activity`` the score is the days from the
    index date to the return: the days the patient gave, else the date of return they gave
    turned into days from the index date (null when neither: returned at an unknown time)
``manifest.json``
    schema_version, spinetrack_version, created_at (UTC, ISO 8601), source (database
    dialect and Alembic revision; never the URL), rekeyed, row_counts per table, keys (the
    columns that identify a row, from the store's constraints: ``patient_key``,
    ``episode_key``, and for ``outcomes`` episode, instrument and timepoint), tables (file,
    rows, columns, types, nullable per table) and ``excluded``: what never leaves the store.

Never exported: names, hospital numbers and contact details (``patient_identities`` is
never read), free text (complication detail, readmission reason, questionnaire answers),
exact dates and timestamps, user accounts and the audit trail. The export itself appends
one ``export``/``snapshot`` row to the audit trail.
"""

from __future__ import annotations

from spinetrack.snapshot.export import (
    BATCH_ROWS,
    EXCLUDED,
    SCHEMA_VERSION,
    SCHEMAS,
    TABLES,
    SnapshotResult,
    export_snapshot,
    rekey_episode,
    rekey_patient,
)

__all__ = [
    "BATCH_ROWS",
    "EXCLUDED",
    "SCHEMAS",
    "SCHEMA_VERSION",
    "TABLES",
    "SnapshotResult",
    "export_snapshot",
    "rekey_episode",
    "rekey_patient",
]
