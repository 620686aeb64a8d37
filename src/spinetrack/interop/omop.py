"""Export the store as OMOP CDM 5.4 tables (``spinetrack export omop``), pseudonymised.

What goes where (the full mapping, field by field, is in ``docs/omop_export.md``):

* ``person``: one row per patient: gender (8507/8532/44814653/8551), year of birth only.
* ``observation_period``: one per person, from the first to the last recorded date (to the export
  date while any episode is still followed).
* ``visit_occurrence``: each procedure's hospital stay (inpatient 9201; 9202 for a day case,
  length of stay 0), each reoperation and readmission (9201), each episode's enrolment
  consultation (outpatient 9202).
* ``condition_occurrence``: each episode's diagnosis (ICD-10-CM source code) and each complication.
* ``procedure_occurrence``: each procedure (the MIS/open approach as modifier source value) and
  each reoperation.
* ``measurement``: the operation's measures (incision mm, blood loss mL, operating time min,
  fluoroscopy s and mGy), and any PROM total whose standard concept lies in the Measurement domain.
* ``observation``: PROM totals and the item answers of multi-item questionnaires (OHDSI's survey
  convention: one row per question/answer, scores as their own rows; type 32865 "Patient
  self-report"), and each complication's Clavien–Dindo grade.
* ``death``: the patients whose episode ended with ``end_reason = died`` (date: ``ended_on``).
* ``cdm_source``: one row describing the export.

Concept ids are 0 unless a site passes its Athena vocabulary (``vocabulary``); the fixed visit,
gender and type concepts of ``../shared/interop-codes.md`` section 3 are always used. Every row
keeps its source values (our codes, ICD-10-CM, instrument and timepoint).

Privacy: no names, hospital numbers, contact details, free text or record-keeping timestamps
leave the store (``patient_identities`` is never read; complication detail and readmission reason
are never selected; only numeric item answers of the instrument definitions leave the answers).
Clinical dates are kept (the snapshot already discloses them to the day, see the doc). Person ids:
:class:`~spinetrack.interop.omop_keys.PersonIds`; other ids are row numbers within the export.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, Engine, func, select, union_all

from spinetrack import __version__, clock
from spinetrack.domain.complications import ComplicationCategory
from spinetrack.domain.pathway import EpisodeEndReason
from spinetrack.errors import ValidationError
from spinetrack.instruments import registry
from spinetrack.instruments.base import ItemType
from spinetrack.interop.omop_keys import (
    PersonIds,
    audit_export,
    check_dir_target,
    check_secret,
    commit_dir,
    patient_key,
    read_transaction,
    stream,
)
from spinetrack.interop.omop_schema import column_names, create_table_sql
from spinetrack.interop.omop_vocab import Vocabulary, load_vocabulary
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

__all__ = [
    "COMPLICATION_SNOMED",
    "GENDER_CONCEPTS",
    "INSTRUMENT_CODES",
    "PROCEDURE_MEASURES",
    "PROCEDURE_SNOMED",
    "OmopResult",
    "export_omop",
    "target_kind",
]

BATCH_ROWS = 10_000

# ---------------------------------------------------------------- fixed concepts (interop-codes.md §3)
GENDER_CONCEPTS = {"male": 8507, "female": 8532, "other": 44814653, "unknown": 8551}
VISIT_INPATIENT = 9201
VISIT_OUTPATIENT = 9202
TYPE_EHR = 32817
TYPE_SELF_REPORT = 32865

# ---------------------------------------------------------------- source codes looked up in a vocabulary
# SNOMED CT codes from interop-codes.md §2 (IPS procedure / problem free sets), the same as the FHIR
# resources' (spinetrack.interop.fhir.codes; tests/interop/test_omop_export.py keeps them equal).
_DISC = "89355001"  # Discectomy for intervertebral herniated disc, nucleus pulposus
PROCEDURE_SNOMED: dict[str, str] = {
    "discectomy_open": _DISC, "discectomy_tubular": _DISC, "discectomy_endoscopic_tf": _DISC,
    "discectomy_endoscopic_il": _DISC,
    "decompression_open": "387731002",               # Laminectomy
    "decompression_tubular": "282191000",            # Laminotomy for decompression and exploration
    "decompression_endoscopic_il": "282191000",
    "fusion_open_tlif": "50172003", "fusion_open_plif": "50172003",  # Lumbar spinal fusion
    "fusion_open_plf": "34238000",                   # Lumbar and lumbosacral fusion by posterior technique
    "fusion_mis_tlif": "50172003", "fusion_endoscopic_tlif": "50172003",
}
_CC = ComplicationCategory
COMPLICATION_SNOMED: dict[str, str] = {
    _CC.SSI_SUPERFICIAL.value: "213287000",          # Postoperative wound infection-superficial
    _CC.SSI_DEEP.value: "213286009",                 # Postoperative wound infection-deep
    _CC.CAUDA_EQUINA_SYNDROME.value: "192970008",    # Cauda equina syndrome
    _CC.PULMONARY_EMBOLISM.value: "59282003",        # Pulmonary embolism
}
# PROM totals: (OMOP vocabulary_id, code): LOINC from interop-codes.md §1, SNOMED CT from §2 (EQ-5D-5L
# index value, an observable entity); other instruments have none listed.
INSTRUMENT_CODES: dict[str, tuple[str, str]] = {
    "odi": ("LOINC", "97909-6"), "nrs_back": ("LOINC", "72514-3"), "nrs_leg": ("LOINC", "72514-3"),
    "eq5d5l": ("SNOMED", "736534008"),
}
# The operation's measures → MEASUREMENT, with their units (as the field names carry them).
PROCEDURE_MEASURES: dict[str, str] = {
    "incision_mm": "mm", "ebl_ml": "mL", "op_time_min": "min", "fluoro_s": "s", "fluoro_dose_mgy": "mGy",
}

# Called after every batch: (table, rows written so far, rows expected or 0 when not known).
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True, slots=True)
class OmopResult:
    """A finished export: where (``target``: a directory, a DuckDB file, or ``postgresql`` with the
    schema, never the URL), what kind, rows per table, and the vocabulary release used."""

    target: str
    kind: str  # csv | duckdb | postgresql
    row_counts: dict[str, int]
    vocabulary_version: str
    rekeyed: bool
    empty_tables: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        return {"target": self.target, "kind": self.kind, "row_counts": dict(self.row_counts),
                "vocabulary_version": self.vocabulary_version, "rekeyed": self.rekeyed,
                "empty_tables": list(self.empty_tables)}


def target_kind(out: str) -> str:
    """``postgresql`` for a PostgreSQL URL, ``duckdb`` for a ``*.duckdb`` file, else ``csv`` (a directory)."""
    if out.startswith(("postgresql://", "postgresql+psycopg://", "postgres://")):
        return "postgresql"
    if out.endswith(".duckdb"):
        return "duckdb"
    return "csv"


# ---------------------------------------------------------------- CSV tables

def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


class _Table:
    """One OMOP table being written as CSV: header, ISO dates, empty for null; counts its rows."""

    def __init__(self, folder: Path, name: str) -> None:
        self.name = name
        self.columns = column_names(name)
        self._names = frozenset(self.columns)
        self._fh: IO[str] = (folder / f"{name}.csv").open("w", encoding="utf-8", newline="")
        self._w = csv.writer(self._fh, lineterminator="\n")
        self._w.writerow(self.columns)
        self.rows = 0

    def next_id(self) -> int:
        return self.rows + 1

    def write(self, **values: Any) -> int:
        if not values.keys() <= self._names:
            raise KeyError(f"{self.name}: no column {sorted(values.keys() - self._names)}")
        self._w.writerow([_cell(values.get(c)) for c in self.columns])
        self.rows += 1
        return self.rows

    def close(self) -> None:
        self._fh.close()


# ---------------------------------------------------------------- the export

@dataclass(slots=True)
class _Ctx:
    conn: Connection
    tables: dict[str, _Table]
    vocab: Vocabulary
    person: PersonIds
    secret: bytes | None
    as_of: dt.date
    batch: int
    progress: Progress | None
    counts: dict[str, int]

    def rows(self, query: Any, table: str, total: int = 0) -> Iterator[Any]:
        """Stream ``query``'s rows, reporting ``table``'s progress after each batch."""
        for batch in stream(self.conn, query, self.batch):
            yield from batch
            if self.progress:
                self.progress(table, self.tables[table].rows, total)


def _count(conn: Connection, row: Any) -> int:
    return int(conn.execute(select(func.count()).select_from(row)).scalar_one())


def _wanted_codes(conn: Connection) -> set[tuple[str, str]]:
    codes = {("ICD10CM", str(c)) for (c,) in conn.execute(select(EpisodeRow.diagnosis_code).distinct())}
    codes |= {("SNOMED", c) for c in (*PROCEDURE_SNOMED.values(), *COMPLICATION_SNOMED.values())}
    codes |= set(INSTRUMENT_CODES.values())
    codes |= {("LOINC", it.loinc) for inst in registry.all() for it in inst.definition.items if it.loinc}
    return codes


def _persons(ctx: _Ctx) -> None:
    P = PatientRow
    t = ctx.tables["person"]
    for pid, birth_year, sex in ctx.rows(select(P.id, P.birth_year, P.sex).order_by(P.id), "person",
                                         ctx.counts["patients"]):
        t.write(person_id=ctx.person(pid), gender_concept_id=GENDER_CONCEPTS.get(sex, 0), year_of_birth=birth_year,
                race_concept_id=0, ethnicity_concept_id=0, person_source_value=patient_key(ctx.secret, pid),
                gender_source_value=sex, gender_source_concept_id=0)


def _observation_periods(ctx: _Ctx) -> None:
    """One period per person: first to last recorded clinical date; to the export date while an
    episode is still followed (not ended), since events can still be recorded up to then."""
    E = EpisodeRow
    dates = union_all(
        select(E.patient_id.label("pid"), E.enrolled_on.label("d")),
        select(E.patient_id, E.index_date),
        select(E.patient_id, E.ended_on),
        select(E.patient_id, ProcedureRow.performed_on).join(E, E.id == ProcedureRow.episode_id),
        select(E.patient_id, ComplicationRow.occurred_on).join(E, E.id == ComplicationRow.episode_id),
        select(E.patient_id, ReadmissionRow.admitted_on).join(E, E.id == ReadmissionRow.episode_id),
        select(E.patient_id, ReoperationRow.performed_on).join(E, E.id == ReoperationRow.episode_id),
        select(E.patient_id, PromResponseRow.collected_on).join(E, E.id == PromResponseRow.episode_id),
    ).subquery()
    spans = (select(dates.c.pid, func.min(dates.c.d).label("lo"), func.max(dates.c.d).label("hi"))
             .where(dates.c.d.is_not(None)).group_by(dates.c.pid).subquery())
    open_eps = (select(E.patient_id.label("pid"), func.count().label("n")).where(E.ended_on.is_(None))
                .group_by(E.patient_id).subquery())
    query = (select(spans.c.pid, spans.c.lo, spans.c.hi, open_eps.c.n)
             .outerjoin(open_eps, open_eps.c.pid == spans.c.pid).order_by(spans.c.pid))
    t = ctx.tables["observation_period"]
    for pid, lo, hi, n_open in ctx.rows(query, "observation_period", ctx.counts["patients"]):
        end = max(hi, ctx.as_of) if n_open else hi
        person = ctx.person(pid)
        t.write(observation_period_id=person, person_id=person, observation_period_start_date=_date(lo),
                observation_period_end_date=_date(end), period_type_concept_id=TYPE_EHR)


def _date(value: Any) -> dt.date:
    """Dates as the driver returns them from an aggregate (SQLite: ISO text) → ``date``."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _visit_offsets(ctx: _Ctx) -> dict[str, int]:
    """Visit ids are numbered in the order written: procedure stays, reoperations, readmissions,
    enrolments; each kind's visit id is its offset plus the row's number (by store id) in its table."""
    c = ctx.counts
    return {"procedure": 0, "reoperation": c["procedures"], "readmission": c["procedures"] + c["reoperations"],
            "enrolment": c["procedures"] + c["reoperations"] + c["readmissions"]}


def _visits(ctx: _Ctx, offsets: Mapping[str, int]) -> None:
    E = EpisodeRow
    t = ctx.tables["visit_occurrence"]
    total = sum(ctx.counts[k] for k in ("procedures", "reoperations", "readmissions", "episodes"))

    def visit(kind: str, pid: int, start: dt.date, end: dt.date, concept: int) -> None:
        vid = t.write(visit_occurrence_id=t.next_id(), person_id=ctx.person(pid), visit_concept_id=concept,
                      visit_start_date=start, visit_end_date=end, visit_type_concept_id=TYPE_EHR,
                      visit_source_value=kind, visit_source_concept_id=0)
        assert vid > offsets[kind], "visit ids out of order"

    R = ProcedureRow
    q3 = select(E.patient_id, R.performed_on, R.los_days).join(E, E.id == R.episode_id).order_by(R.id)
    for pid, day, los in ctx.rows(q3, "visit_occurrence", total):
        stay = None if los is None else max(0, math.ceil(los))
        end = day if not stay else day + dt.timedelta(days=stay)
        visit("procedure", pid, day, end, VISIT_OUTPATIENT if stay == 0 else VISIT_INPATIENT)
    RO = ReoperationRow
    q = select(E.patient_id, RO.performed_on).join(E, E.id == RO.episode_id).order_by(RO.id)
    for pid, day in ctx.rows(q, "visit_occurrence", total):
        visit("reoperation", pid, day, day, VISIT_INPATIENT)
    RA = ReadmissionRow
    q = select(E.patient_id, RA.admitted_on).join(E, E.id == RA.episode_id).order_by(RA.id)
    for pid, day in ctx.rows(q, "visit_occurrence", total):
        visit("readmission", pid, day, day, VISIT_INPATIENT)
    for pid, day in ctx.rows(select(E.patient_id, E.enrolled_on).order_by(E.id), "visit_occurrence", total):
        visit("enrolment", pid, day, day, VISIT_OUTPATIENT)


def _procedure_numbers() -> Any:
    """Each procedure's row number by store id: its procedure_occurrence_id and its stay's visit id."""
    return select(ProcedureRow.id.label("id"),
                  func.row_number().over(order_by=ProcedureRow.id).label("n")).subquery()


def _conditions(ctx: _Ctx, offsets: Mapping[str, int]) -> None:
    E = EpisodeRow
    t = ctx.tables["condition_occurrence"]
    total = ctx.counts["episodes"] + ctx.counts["complications"]
    q = select(E.patient_id, E.diagnosis_code, E.enrolled_on).order_by(E.id)
    for k, (pid, code, day) in enumerate(ctx.rows(q, "condition_occurrence", total), start=1):
        m = ctx.vocab.lookup("ICD10CM", code)
        t.write(condition_occurrence_id=t.next_id(), person_id=ctx.person(pid), condition_concept_id=m.concept_id,
                condition_start_date=day, condition_type_concept_id=TYPE_EHR,
                visit_occurrence_id=offsets["enrolment"] + k, condition_source_value=code,
                condition_source_concept_id=m.source_concept_id)
    C = ComplicationRow
    pn = _procedure_numbers()
    q = (select(E.patient_id, C.category, C.occurred_on, pn.c.n).join(E, E.id == C.episode_id)
         .outerjoin(pn, pn.c.id == C.procedure_id).order_by(C.id))
    for pid, category, day, proc_n in ctx.rows(q, "condition_occurrence", total):
        m = ctx.vocab.lookup("SNOMED", COMPLICATION_SNOMED.get(category))
        t.write(condition_occurrence_id=t.next_id(), person_id=ctx.person(pid), condition_concept_id=m.concept_id,
                condition_start_date=day, condition_type_concept_id=TYPE_EHR,
                visit_occurrence_id=None if proc_n is None else offsets["procedure"] + int(proc_n),
                condition_source_value=f"complication:{category}", condition_source_concept_id=0)


def _procedures(ctx: _Ctx, offsets: Mapping[str, int]) -> None:
    E, R = EpisodeRow, ProcedureRow
    t, meas = ctx.tables["procedure_occurrence"], ctx.tables["measurement"]
    total = ctx.counts["procedures"] + ctx.counts["reoperations"]
    measures = [getattr(R, name) for name in PROCEDURE_MEASURES]
    q = (select(E.patient_id, R.procedure_code, R.approach, R.technique, R.performed_on, *measures)
         .join(E, E.id == R.episode_id).order_by(R.id))
    for k, (pid, code, approach, technique, day, *values) in enumerate(ctx.rows(q, "procedure_occurrence", total),
                                                                        start=1):
        m = ctx.vocab.lookup("SNOMED", PROCEDURE_SNOMED.get(code))
        person, visit = ctx.person(pid), offsets["procedure"] + k
        t.write(procedure_occurrence_id=t.next_id(), person_id=person, procedure_concept_id=m.concept_id,
                procedure_date=day, procedure_type_concept_id=TYPE_EHR, visit_occurrence_id=visit,
                procedure_source_value=code, procedure_source_concept_id=0,
                modifier_source_value=approach if technique is None else f"{approach}:{technique}")
        for (name, unit), value in zip(PROCEDURE_MEASURES.items(), values, strict=True):
            if value is not None:
                meas.write(measurement_id=meas.next_id(), person_id=person, measurement_concept_id=0,
                           measurement_date=day, measurement_type_concept_id=TYPE_EHR, value_as_number=float(value),
                           unit_concept_id=0, visit_occurrence_id=visit, measurement_source_value=name,
                           measurement_source_concept_id=0, unit_source_value=unit)
    RO = ReoperationRow
    q = select(E.patient_id, RO.reason, RO.performed_on).join(E, E.id == RO.episode_id).order_by(RO.id)
    for k, (pid, reason, day) in enumerate(ctx.rows(q, "procedure_occurrence", total), start=1):
        t.write(procedure_occurrence_id=t.next_id(), person_id=ctx.person(pid), procedure_concept_id=0,
                procedure_date=day, procedure_type_concept_id=TYPE_EHR,
                visit_occurrence_id=offsets["reoperation"] + k, procedure_source_value=f"reoperation:{reason}",
                procedure_source_concept_id=0)


def item_values(instrument: str, answers: Any) -> Iterator[tuple[str, float]]:
    """The numeric answers of a multi-item instrument's items, in item order: only values that
    the instrument's definition accepts (choices, whole numbers, decimals), never dates or text.
    Single-item instruments give nothing (their total is the answer)."""
    try:
        definition = registry.get(instrument).definition
    except ValidationError:
        return
    if len(definition.items) < 2 or not isinstance(answers, dict):
        return
    for item in definition.items:
        if item.type is ItemType.DATE:
            continue
        value = answers.get(item.code)
        if value is None:
            continue
        try:
            checked = item.check(instrument, value)
        except ValidationError:
            continue
        yield item.code, float(checked)


def _observations(ctx: _Ctx) -> None:
    """PROM totals and items (OHDSI survey convention), then each complication's Clavien–Dindo grade."""
    E, R = EpisodeRow, PromResponseRow
    obs, meas = ctx.tables["observation"], ctx.tables["measurement"]
    units = {inst.definition.code: inst.definition.score_unit for inst in registry.all()}
    item_loinc = {(inst.definition.code, it.code): it.loinc for inst in registry.all()
                  for it in inst.definition.items if it.loinc}
    q = (select(E.patient_id, R.instrument, R.timepoint, R.collected_on, R.score, R.answers)
         .join(E, E.id == R.episode_id).order_by(R.id))
    for pid, instrument, timepoint, day, score, answers in ctx.rows(q, "observation"):
        person = ctx.person(pid)
        if score is not None:
            vocab_id, code = INSTRUMENT_CODES.get(instrument, ("", None))
            m = ctx.vocab.lookup(vocab_id, code)
            source = f"{instrument}:{timepoint}"[:50]
            if m.domain_id == "Measurement":  # the domain decides the table (CDM 5.4 conventions)
                meas.write(measurement_id=meas.next_id(), person_id=person, measurement_concept_id=m.concept_id,
                           measurement_date=day, measurement_type_concept_id=TYPE_SELF_REPORT,
                           value_as_number=float(score), unit_concept_id=0, measurement_source_value=source,
                           measurement_source_concept_id=m.source_concept_id, unit_source_value=units.get(instrument))
            else:
                obs.write(observation_id=obs.next_id(), person_id=person, observation_concept_id=m.concept_id,
                          observation_date=day, observation_type_concept_id=TYPE_SELF_REPORT,
                          value_as_number=float(score), unit_concept_id=0, observation_source_value=source,
                          observation_source_concept_id=m.source_concept_id, unit_source_value=units.get(instrument))
        for code, value in item_values(instrument, answers):
            m = ctx.vocab.lookup("LOINC", item_loinc.get((instrument, code)))
            obs.write(observation_id=obs.next_id(), person_id=person, observation_concept_id=m.concept_id,
                      observation_date=day, observation_type_concept_id=TYPE_SELF_REPORT, value_as_number=value,
                      observation_source_value=f"{instrument}.{code}:{timepoint}"[:50],
                      observation_source_concept_id=m.source_concept_id, value_source_value=f"{value:g}")
    C = ComplicationRow
    q = select(E.patient_id, C.clavien_dindo, C.occurred_on).join(E, E.id == C.episode_id).order_by(C.id)
    first_complication = ctx.counts["episodes"]  # complications follow the diagnoses in condition_occurrence
    for k, (pid, grade, day) in enumerate(ctx.rows(q, "observation"), start=1):
        obs.write(observation_id=obs.next_id(), person_id=ctx.person(pid), observation_concept_id=0,
                  observation_date=day, observation_type_concept_id=TYPE_EHR, value_as_string=grade,
                  observation_source_value="clavien_dindo", value_source_value=grade,
                  observation_event_id=first_complication + k, obs_event_field_concept_id=0)


def _deaths(ctx: _Ctx) -> None:
    """A death where an episode ended with ``died`` (the earliest such end date per patient)."""
    E = EpisodeRow
    q = (select(E.patient_id, func.min(E.ended_on)).where(E.end_reason == EpisodeEndReason.DIED.value,
                                                         E.ended_on.is_not(None))
         .group_by(E.patient_id).order_by(E.patient_id))
    t = ctx.tables["death"]
    for pid, day in ctx.rows(q, "death"):
        t.write(person_id=ctx.person(pid), death_date=_date(day), death_type_concept_id=TYPE_EHR)


def _cdm_source(ctx: _Ctx, holder: str | None) -> None:
    sites = [str(n) for (n,) in ctx.conn.execute(select(SiteRow.name).order_by(SiteRow.id).limit(2))]
    if holder is None:
        holder = sites[0] if len(sites) == 1 else f"spinetrack registry ({_count(ctx.conn, SiteRow)} sites)"
    ctx.tables["cdm_source"].write(
        cdm_source_name="spinetrack outcomes registry", cdm_source_abbreviation="spinetrack",
        cdm_holder=holder[:255],
        source_description=("Pseudonymised export of a spinetrack store (lower back pain care: diagnoses, "
                            f"procedures, complications, patient-reported outcomes); spinetrack {__version__}."),
        cdm_etl_reference="docs/omop_export.md (spinetrack)",
        source_release_date=ctx.as_of, cdm_release_date=ctx.as_of, cdm_version="5.4", cdm_version_concept_id=0,
        vocabulary_version=ctx.vocab.version[:20])


_WRITE_ORDER = ("person", "observation_period", "visit_occurrence", "condition_occurrence", "procedure_occurrence",
                "measurement", "observation", "death", "cdm_source")


def _write_all(engine: Engine, folder: Path, *, vocabulary: str | os.PathLike[str] | None, secret: bytes | None,
               as_of: dt.date, batch: int, progress: Progress | None, holder: str | None) -> tuple[dict[str, int], str]:
    with read_transaction(engine) as conn:
        counts = {name: _count(conn, row) for name, row in (
            ("patients", PatientRow), ("episodes", EpisodeRow), ("procedures", ProcedureRow),
            ("complications", ComplicationRow), ("readmissions", ReadmissionRow), ("reoperations", ReoperationRow))}
        vocab = load_vocabulary(vocabulary, _wanted_codes(conn)) if vocabulary is not None else Vocabulary()
        tables = {name: _Table(folder, name) for name in _WRITE_ORDER}
        try:
            ctx = _Ctx(conn, tables, vocab, PersonIds(conn, secret, batch), secret, as_of, batch, progress, counts)
            offsets = _visit_offsets(ctx)
            _persons(ctx)
            _observation_periods(ctx)
            _visits(ctx, offsets)
            _conditions(ctx, offsets)
            _procedures(ctx, offsets)
            _observations(ctx)
            _deaths(ctx)
            _cdm_source(ctx, holder)
        finally:
            for t in tables.values():
                t.close()
        if progress:
            for name, t in tables.items():
                progress(name, t.rows, t.rows)
        return {name: t.rows for name, t in tables.items()}, vocab.version


def export_omop(
    engine: Engine,
    out: str | os.PathLike[str],
    *,
    vocabulary: str | os.PathLike[str] | None = None,
    rekey_secret: str | bytes | None = None,
    schema: str = "cdm",
    overwrite: bool = False,
    holder: str | None = None,
    batch_rows: int = BATCH_ROWS,
    progress: Progress | None = None,
    actor: str = "cli",
    actor_role: str = "system",
    now: dt.datetime | None = None,
) -> OmopResult:
    """Export the store as OMOP CDM 5.4 tables.

    Parameters
    ----------
    engine:
        The operational store (migrated).
    out:
        A directory (new or empty): one CSV per table, ``person.csv`` …; a ``*.duckdb`` file (new,
        unless ``overwrite``): the tables in DuckDB's ``main`` schema; or a PostgreSQL URL: the
        tables in ``schema`` (created if missing; existing OMOP tables there are replaced only
        with ``overwrite``).
    vocabulary:
        An Athena vocabulary folder (``CONCEPT.csv``, ``CONCEPT_RELATIONSHIP.csv``,
        ``VOCABULARY.csv``; tab-separated) to map source codes to concept ids; without it every
        mapped concept id is 0 (the fixed visit, gender and type concepts are always set).
    rekey_secret:
        Secret (16+ bytes) for HMAC person keys and ids (as the snapshot's ``--rekey``).
    schema:
        PostgreSQL schema to write into (default ``cdm``).
    overwrite:
        Replace an existing non-empty directory, DuckDB file or PostgreSQL tables.
    holder:
        ``cdm_source.cdm_holder`` (default: the site's name when the store has one site).
    batch_rows:
        Rows per database fetch; bounds memory.
    progress:
        ``progress(table, rows_done, rows_total_or_0)`` after every batch.
    actor, actor_role:
        Who the audit row names (one ``export``/``omop`` row with the row counts).
    now:
        The export time (default: now); its date is the release date and the open end of follow-up.

    Raises
    ------
    ValidationError
        Bad target (a non-empty directory, an existing file, a malformed schema name), a short
        secret, or a vocabulary folder without ``CONCEPT.csv``.
    """
    if isinstance(batch_rows, bool) or not isinstance(batch_rows, int) or batch_rows < 1:
        raise ValidationError(field="batch_rows", value=batch_rows, allowed="a whole number, 1 or more")
    secret = check_secret(rekey_secret)
    as_of = (now.astimezone(dt.UTC).date() if now is not None else clock.today())
    out_s = os.fspath(out)
    kind = target_kind(out_s)
    if kind == "postgresql" and not schema.replace("_", "").isalnum():
        raise ValidationError(field="schema", value=schema, allowed="letters, digits and underscores")
    target = Path(out_s).absolute() if kind != "postgresql" else None
    if target is not None:
        if kind == "duckdb":
            _check_file(target, overwrite)
        else:
            check_dir_target(target, overwrite)
        target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".omop.tmp-", dir=target.parent if target is not None else None))
    try:
        counts, version = _write_all(engine, tmp, vocabulary=vocabulary, secret=secret, as_of=as_of,
                                     batch=batch_rows, progress=progress, holder=holder)
        empty = tuple(t for t, n in counts.items() if n == 0)
        shown = (str(target) if target is not None else f"postgresql schema {schema}")
        result = OmopResult(shown, kind, counts, version, secret is not None, empty)
        detail = {"target": kind, "row_counts": counts, "rekeyed": secret is not None,
                  "vocabulary_version": version}
        if kind == "csv":
            assert target is not None
            commit_dir(engine, tmp, target, entity="omop", detail=detail, actor=actor, actor_role=actor_role)
        elif kind == "duckdb":
            assert target is not None
            from spinetrack.engines.omop_load import load_duckdb

            db = tmp / "omop.duckdb"
            load_duckdb(db, {t: create_table_sql(t) for t in _WRITE_ORDER}, tmp)
            audit_export(engine, entity="omop", detail=detail, actor=actor, actor_role=actor_role)
            if target.exists():
                target.unlink()
            shutil.move(str(db), target)
        else:
            _load_postgresql(out_s, schema, tmp, overwrite)
            audit_export(engine, entity="omop", detail=detail, actor=actor, actor_role=actor_role)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return result


def _check_file(target: Path, overwrite: bool) -> None:
    if target.exists() and (target.is_dir() or not overwrite):
        raise ValidationError(field="out", value=str(target), allowed="a new .duckdb file",
                              reason="that file exists; pass --overwrite to replace it")


def _load_postgresql(url: str, schema: str, folder: Path, overwrite: bool) -> None:
    """Create the tables in ``schema`` and COPY each CSV in, all in one transaction."""
    from sqlalchemy import text

    from spinetrack.store.session import make_engine

    pg = make_engine(url)
    try:
        with pg.begin() as conn:
            existing = set(conn.execute(text(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = :s"), {"s": schema}).scalars())
            clash = sorted(existing & set(_WRITE_ORDER))
            if clash and not overwrite:
                raise ValidationError(field="out", value=f"schema {schema}", allowed="a schema without OMOP tables",
                                      reason=f"tables exist ({', '.join(clash)}); pass --overwrite to replace them")
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            for name in _WRITE_ORDER:
                conn.execute(text(f'DROP TABLE IF EXISTS "{schema}".{name}'))
                conn.execute(text(create_table_sql(name, schema)))
            raw: Any = conn.connection.dbapi_connection
            with raw.cursor() as cur:
                for name in _WRITE_ORDER:
                    cols = ", ".join(column_names(name))
                    with (cur.copy(f'COPY "{schema}".{name} ({cols}) FROM STDIN WITH (FORMAT csv, HEADER true)')
                          as copy, (folder / f"{name}.csv").open("rb") as fh):
                        for chunk in iter(lambda: fh.read(1 << 20), b""):
                            copy.write(chunk)
    finally:
        pg.dispose()

