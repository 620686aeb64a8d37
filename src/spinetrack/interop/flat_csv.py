"""Flat CSV tables and a data dictionary for researchers using R, Stata or SPSS (``spinetrack export csv``).

The tables are the Parquet snapshot's (:mod:`spinetrack.snapshot`: the same columns, keys and
values; pseudonymised, with no calendar dates: events carry whole days from the episode's index
date) plus the questionnaire answers in long form:

``patients.csv``, ``episodes.csv``, ``procedures.csv``, ``complications.csv``, ``readmissions.csv``,
``reoperations.csv``, ``outcomes.csv`` (one row per completed questionnaire: its total score),
``prom_items.csv`` (one row per numeric item answer: patient_key, episode_key, instrument,
timepoint, item, value; dates and text answers are never exported), ``data_dictionary.csv``
(table, field, type, allowed_values, units, instrument, timepoint, description: one row per column,
plus one row per instrument for ``outcomes.score`` and per instrument item for ``prom_items.value``)
and ``manifest.json`` (row counts, rekeyed or not, export date).

CSV conventions: UTF-8, comma-separated, a header row, ``.`` as decimal point, empty field = missing,
booleans as ``1``/``0`` (what Stata and SPSS read as numbers; R's ``read.csv`` as integers).
The dictionary's ``type`` is one of ``integer``, ``number``, ``string``, ``boolean``.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, case, exists, func, select

from spinetrack import __version__, clock
from spinetrack.domain import comparisons
from spinetrack.domain.complications import ClavienDindo, ComplicationCategory, ReoperationReason
from spinetrack.domain.diagnosis import DIAGNOSES, DiagnosisGroup, Level
from spinetrack.domain.pathway import TIMEPOINTS, AsaGrade, Sex, SmokingStatus, WorkStatus
from spinetrack.domain.procedure import CATALOGUE, ConservativeOption, Technique
from spinetrack.errors import ValidationError
from spinetrack.instruments import registry
from spinetrack.interop.omop import item_values
from spinetrack.interop.omop_keys import (
    check_dir_target,
    check_secret,
    commit_dir,
    episode_key,
    patient_key,
    read_transaction,
    stream,
    surgeon_key,
)
from spinetrack.store.tables import (
    ComplicationRow,
    EpisodeRow,
    PatientRow,
    ProcedureRow,
    PromResponseRow,
    ReadmissionRow,
    ReoperationRow,
    SiteRow,
)

__all__ = ["COLUMNS", "TABLES", "CsvResult", "data_dictionary", "export_csv"]

BATCH_ROWS = 10_000
TABLES = ("patients", "episodes", "procedures", "complications", "readmissions", "reoperations", "outcomes",
          "prom_items")


@dataclass(frozen=True, slots=True)
class Field:
    """One column: name, dictionary type, allowed values ("" when open), units, description."""

    name: str
    type: str
    description: str
    allowed: str = ""
    units: str = ""


def _codes(values: Sequence[Any]) -> str:
    return "|".join(str(v) for v in values)


def _enum(cls: Any) -> str:
    return _codes([e.value for e in cls])


_EPISODE_KEY = Field("episode_key", "integer", "Pseudonymous episode key (the snapshot's episode_key).")
_PATIENT_KEY = Field("patient_key", "string", "Pseudonymous patient key (the snapshot's patient_key).")
_DAYS = Field("days_from_index", "integer", "Whole days from the episode's index date (procedure date, or the "
              "start of conservative care); empty when the episode has no index date.", units="days")
_TIMEPOINT = Field("timepoint", "string", "Follow-up timepoint.", _codes([t.code for t in TIMEPOINTS]))
_INSTRUMENT = Field("instrument", "string", "Questionnaire (instrument code).", _codes([i.definition.code
                                                                                        for i in registry.all()]))

COLUMNS: dict[str, tuple[Field, ...]] = {
    "patients": (
        _PATIENT_KEY,
        Field("site", "string", "Site code."),
        Field("birth_year", "integer", "Year of birth (no birth date is exported).", units="year"),
        Field("sex", "string", "Sex.", _enum(Sex)),
        Field("bmi", "number", "Body mass index.", "10 to 90", "kg/m2"),
        Field("smoking", "string", "Smoking status.", _enum(SmokingStatus)),
        Field("diabetes", "boolean", "Diabetes.", "0|1"),
        Field("asa_grade", "integer", "ASA physical status.", _codes([int(g) for g in AsaGrade])),
        Field("work_status", "string", "Work status at enrolment.", _enum(WorkStatus)),
        Field("symptom_duration_weeks", "integer", "Duration of symptoms before enrolment.", "0 or more", "weeks"),
        Field("prior_spine_surgery", "boolean", "Previous spine surgery.", "0|1"),
    ),
    "episodes": (
        _EPISODE_KEY, _PATIENT_KEY,
        Field("diagnosis_code", "string", "Diagnosis (ICD-10-CM).", _codes(sorted(DIAGNOSES))),
        Field("diagnosis_group", "string", "Diagnosis group (spinetrack's).", _enum(DiagnosisGroup)),
        Field("n_levels", "integer", "Number of spinal levels affected.", "1 to 5", "levels"),
        Field("levels", "string", "Levels, comma-separated, e.g. L4-L5,L5-S1.", _enum(Level)),
        Field("conservative_care", "string", "Conservative care given, comma-separated.", _enum(ConservativeOption)),
        Field("conservative_care_weeks", "integer", "Duration of conservative care.", "0 or more", "weeks"),
        Field("treatment", "string", "Treatment chosen.", _codes(comparisons.TREATMENTS)),
        Field("treatment_family", "string", "Procedure family of the treatment.", _codes(comparisons.FAMILIES)),
        Field("index_year", "integer", "Year of the index date.", units="year"),
        Field("age_at_index", "integer", "Age at the index date (index_year - birth_year).", units="years"),
        Field("has_procedure", "boolean", "At least one procedure recorded.", "0|1"),
        Field("enrolment_days", "integer", "Days from enrolment to the index date (the wait before treatment).",
              units="days"),
        Field("followup_days", "integer", "Days from the index date to the export date (administrative censoring).",
              units="days"),
    ),
    "procedures": (
        _EPISODE_KEY,
        Field("procedure_code", "string", "Procedure (spinetrack's catalogue).", _codes(sorted(CATALOGUE))),
        Field("family", "string", "Procedure family.", _codes(comparisons.FAMILIES)),
        Field("approach", "string", "Surgical approach.", _codes(comparisons.APPROACHES)),
        Field("technique", "string", "MIS technique (empty for open surgery).", _enum(Technique)),
        _DAYS,
        Field("n_levels", "integer", "Number of levels operated.", "1 to 5", "levels"),
        Field("incision_mm", "number", "Total incision length.", "0 or more", "mm"),
        Field("ebl_ml", "number", "Estimated blood loss.", "0 or more", "mL"),
        Field("op_time_min", "number", "Operating time.", "0 or more", "min"),
        Field("fluoro_s", "number", "Fluoroscopy time.", "0 or more", "s"),
        Field("fluoro_dose_mgy", "number", "Fluoroscopy dose.", "0 or more", "mGy"),
        Field("los_days", "number", "Length of hospital stay.", "0 or more", "days"),
        Field("transfusion", "boolean", "Blood transfusion given.", "0|1"),
        Field("surgeon", "string", "The operating surgeon as '<site>/<staff code>' (keyed when rekeyed), only for "
                                   "sites that take part in surgeon-level benchmarking; empty otherwise.", ""),
    ),
    "complications": (
        _EPISODE_KEY,
        Field("category", "string", "Complication category.", _enum(ComplicationCategory)),
        Field("clavien_dindo", "string", "Clavien-Dindo grade.", _enum(ClavienDindo)),
        _DAYS,
    ),
    "readmissions": (_EPISODE_KEY, _DAYS),
    "reoperations": (
        _EPISODE_KEY,
        Field("reason", "string", "Reason for the reoperation.", _enum(ReoperationReason)),
        _DAYS,
    ),
    "outcomes": (
        _PATIENT_KEY, _EPISODE_KEY, _INSTRUMENT, _TIMEPOINT,
        Field("days_from_index", "integer", "Days from the index date to the answer.", units="days"),
        Field("score", "number", "Total score (instrument rows below give each instrument's range and units); "
                                 "empty when invalid or not applicable."),
        Field("valid", "boolean", "The response was complete enough to score.", "0|1"),
        Field("returned", "boolean", "return_to_activity only: the patient has returned.", "0|1"),
    ),
    "prom_items": (
        _PATIENT_KEY, _EPISODE_KEY, _INSTRUMENT, _TIMEPOINT,
        Field("item", "string", "Item code within the instrument (instrument rows below list them)."),
        Field("value", "number", "The answer's scored value (instrument item rows below give the allowed values)."),
    ),
}


def data_dictionary() -> list[dict[str, str]]:
    """The rows of ``data_dictionary.csv``: one per column of every table, then one per
    instrument for ``outcomes.score`` and one per instrument item for ``prom_items.value``."""
    timepoints = _codes([t.code for t in TIMEPOINTS])
    rows = [{"table": t, "field": f.name, "type": f.type, "allowed_values": f.allowed, "units": f.units,
             "instrument": "", "timepoint": "", "description": f.description}
            for t in TABLES for f in COLUMNS[t]]
    for inst in registry.all():
        d = inst.definition
        better = "higher is better" if d.higher_is_better else "lower is better"
        rows.append({"table": "outcomes", "field": "score", "type": "number",
                     "allowed_values": f"{d.score_low:g} to {d.score_high:g}", "units": d.score_unit,
                     "instrument": d.code, "timepoint": timepoints,
                     "description": f"{d.title} total score ({better})."})
    for inst in registry.all():
        d = inst.definition
        if len(d.items) < 2:
            continue
        for it in d.items:
            if it.type.value == "date":
                continue
            rows.append({"table": "prom_items", "field": "value", "type": "number", "allowed_values":
                         _codes(it.values) if it.options else it.allowed_text(), "units": it.unit or "",
                         "instrument": d.code, "timepoint": timepoints, "description": f"item {it.code}"})
    return rows


# --------------------------------------------------------------------------- rows


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return 1 if value else 0
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ""
    return value


def _days(day: Any, index: Any) -> int | None:
    if day is None or index is None:
        return None
    return (_date(day) - _date(index)).days


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


Rows = Callable[[Connection, bytes | None, dt.date, int], Iterator[Sequence[Any]]]


def _patients(conn: Connection, secret: bytes | None, as_of: dt.date, batch: int) -> Iterator[Sequence[Any]]:
    P = PatientRow
    q = (select(P.id, SiteRow.code, P.birth_year, P.sex, P.bmi, P.smoking, P.diabetes, P.asa_grade, P.work_status,
                P.symptom_duration_weeks, P.prior_spine_surgery)
         .join(SiteRow, SiteRow.id == P.site_id).order_by(P.id))
    for rows in stream(conn, q, batch):
        for r in rows:
            yield (patient_key(secret, r[0]), *r[1:])


def _episodes(conn: Connection, secret: bytes | None, as_of: dt.date, batch: int) -> Iterator[Sequence[Any]]:
    E = EpisodeRow
    has_proc = exists().where(ProcedureRow.episode_id == E.id)
    q = (select(E.id, E.patient_id, E.diagnosis_code, E.diagnosis_group, E.n_levels, E.levels, E.conservative_care,
                E.conservative_care_weeks, E.treatment, E.treatment_family, E.index_date, PatientRow.birth_year,
                case((has_proc, 1), else_=0), E.enrolled_on)
         .join(PatientRow, PatientRow.id == E.patient_id).order_by(E.id))
    for rows in stream(conn, q, batch):
        for r in rows:
            index = None if r[10] is None else _date(r[10])
            year = None if index is None else index.year
            yield (episode_key(secret, r[0]), patient_key(secret, r[1]), *r[2:10], year,
                   None if year is None else year - r[11], bool(r[12]), _days(index, r[13]),
                   None if index is None else (as_of - index).days)


def _procedures(conn: Connection, secret: bytes | None, as_of: dt.date, batch: int) -> Iterator[Sequence[Any]]:
    R = ProcedureRow
    q = (select(R.episode_id, R.procedure_code, R.family, R.approach, R.technique, R.performed_on,
                EpisodeRow.index_date, R.n_levels, R.incision_mm, R.ebl_ml, R.op_time_min, R.fluoro_s,
                R.fluoro_dose_mgy, R.los_days, R.transfusion,
                case((SiteRow.benchmark_surgeons & R.surgeon.is_not(None), SiteRow.code + "/" + R.surgeon),
                     else_=None))
         .join(EpisodeRow, EpisodeRow.id == R.episode_id).join(PatientRow, PatientRow.id == EpisodeRow.patient_id)
         .join(SiteRow, SiteRow.id == PatientRow.site_id).order_by(R.id))
    for rows in stream(conn, q, batch):
        for r in rows:
            yield (episode_key(secret, r[0]), *r[1:5], _days(r[5], r[6]), *r[7:-1], surgeon_key(secret, r[-1]))


def _events(row: Any, *cols: Any) -> Rows:
    def rows_of(conn: Connection, secret: bytes | None, as_of: dt.date, batch: int) -> Iterator[Sequence[Any]]:
        q = (select(row.episode_id, *cols, EpisodeRow.index_date)
             .join(EpisodeRow, EpisodeRow.id == row.episode_id).order_by(row.id))
        for rows in stream(conn, q, batch):
            for r in rows:
                yield (episode_key(secret, r[0]), *r[1:-2], _days(r[-2], r[-1]))
    return rows_of


def _responses(conn: Connection, batch: int, *extra: Any) -> Iterator[Sequence[Any]]:
    R = PromResponseRow
    q = (select(EpisodeRow.patient_id, R.episode_id, R.instrument, R.timepoint, *extra)
         .join(EpisodeRow, EpisodeRow.id == R.episode_id).order_by(R.id))
    for rows in stream(conn, q, batch):
        yield from rows


def _outcomes(conn: Connection, secret: bytes | None, as_of: dt.date, batch: int) -> Iterator[Sequence[Any]]:
    """As the snapshot: ``returned`` (return_to_activity only) from the score detail; a return given
    as a date with no day count scores the days from the index date to it (none if before it)."""
    R = PromResponseRow
    for pid, eid, instrument, timepoint, days, score, valid, detail, index in _responses(
            conn, batch, R.days_from_index, R.score, R.valid, R.score_detail, EpisodeRow.index_date):
        returned = None
        if instrument == "return_to_activity" and isinstance(detail, dict):
            flag = detail.get("returned")
            returned = flag if isinstance(flag, bool) else None
            if score is None and isinstance(detail.get("date"), str) and index is not None:
                try:
                    gap = _days(dt.date.fromisoformat(detail["date"][:10]), index)
                except ValueError:
                    gap = None
                score = float(gap) if gap is not None and gap >= 0 else None
        yield (patient_key(secret, pid), episode_key(secret, eid), instrument, timepoint, days, score, bool(valid),
               returned)


def _items(conn: Connection, secret: bytes | None, as_of: dt.date, batch: int) -> Iterator[Sequence[Any]]:
    for pid, eid, instrument, timepoint, answers in _responses(conn, batch, PromResponseRow.answers):
        for code, value in item_values(instrument, answers):
            yield (patient_key(secret, pid), episode_key(secret, eid), instrument, timepoint, code,
                   int(value) if float(value).is_integer() else value)


_ROWS: dict[str, tuple[Rows, Any]] = {
    "patients": (_patients, PatientRow),
    "episodes": (_episodes, EpisodeRow),
    "procedures": (_procedures, ProcedureRow),
    "complications": (_events(ComplicationRow, ComplicationRow.category, ComplicationRow.clavien_dindo,
                              ComplicationRow.occurred_on), ComplicationRow),
    "readmissions": (_events(ReadmissionRow, ReadmissionRow.admitted_on), ReadmissionRow),
    "reoperations": (_events(ReoperationRow, ReoperationRow.reason, ReoperationRow.performed_on), ReoperationRow),
    "outcomes": (_outcomes, PromResponseRow),
    "prom_items": (_items, None),
}


# --------------------------------------------------------------------------- export


@dataclass(frozen=True, slots=True)
class CsvResult:
    """A finished CSV export: its directory and rows per table."""

    path: Path
    row_counts: dict[str, int]
    rekeyed: bool

    def as_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "row_counts": dict(self.row_counts), "rekeyed": self.rekeyed}


Progress = Callable[[str, int, int], None]


def export_csv(
    engine: Engine,
    out: str | os.PathLike[str],
    *,
    rekey_secret: str | bytes | None = None,
    overwrite: bool = False,
    batch_rows: int = BATCH_ROWS,
    progress: Progress | None = None,
    actor: str = "cli",
    actor_role: str = "system",
    now: dt.datetime | None = None,
) -> CsvResult:
    """Write the flat CSV tables, ``data_dictionary.csv`` and ``manifest.json`` into ``out``.

    Parameters are those of :func:`spinetrack.snapshot.export_snapshot`: ``out`` a new or empty
    directory (``overwrite`` replaces a non-empty one once the export is complete),
    ``rekey_secret`` (16+ bytes) for HMAC keys, ``batch_rows`` bounds memory, ``progress(table,
    rows_done, rows_total_or_0)`` after every batch, ``actor``/``actor_role`` name who the one
    ``export``/``csv`` audit row records, ``now`` the export time (its date ends follow-up).

    Raises
    ------
    ValidationError
        ``out`` is a file or a non-empty directory, the secret is short, or ``batch_rows`` < 1.
    """
    if isinstance(batch_rows, bool) or not isinstance(batch_rows, int) or batch_rows < 1:
        raise ValidationError(field="batch_rows", value=batch_rows, allowed="a whole number, 1 or more")
    secret = check_secret(rekey_secret)
    created = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(microsecond=0)
    as_of = created.date() if now is not None else clock.today()
    target = Path(out).absolute()
    check_dir_target(target, overwrite)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        counts: dict[str, int] = {}
        with read_transaction(engine) as conn:
            for table in TABLES:
                rows_of, row = _ROWS[table]
                total = (int(conn.execute(select(func.count()).select_from(row)).scalar_one())
                         if row is not None and progress else 0)
                counts[table] = _write(tmp / f"{table}.csv", [f.name for f in COLUMNS[table]],
                                       rows_of(conn, secret, as_of, batch_rows), table, total, batch_rows, progress)
        with (tmp / "data_dictionary.csv").open("w", encoding="utf-8", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=["table", "field", "type", "allowed_values", "units", "instrument",
                                               "timepoint", "description"], lineterminator="\n")
            w.writeheader()
            w.writerows(data_dictionary())
        manifest = {"format": "spinetrack flat CSV", "spinetrack_version": __version__,
                    "created_at": created.strftime("%Y-%m-%dT%H:%M:%SZ"), "rekeyed": secret is not None,
                    "row_counts": counts, "tables": {t: f"{t}.csv" for t in TABLES},
                    "dictionary": "data_dictionary.csv"}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        commit_dir(engine, tmp, target, entity="csv",
                   detail={"row_counts": counts, "rekeyed": secret is not None}, actor=actor, actor_role=actor_role)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return CsvResult(target, counts, secret is not None)


def _write(path: Path, header: list[str], rows: Iterator[Sequence[Any]], table: str, total: int, batch: int,
           progress: Progress | None) -> int:
    n = 0
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        if progress:
            progress(table, 0, total)
        for r in rows:
            w.writerow([_cell(v) for v in r])
            n += 1
            if progress and n % batch == 0:
                progress(table, n, max(total, n))
        if progress:
            progress(table, n, max(total, n))
    return n
