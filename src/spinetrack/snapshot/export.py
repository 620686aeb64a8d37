"""Stream the operational store into pseudonymised Parquet analysis tables (``spinetrack snapshot``).

Every table is read with one cursor on the driver connection (a named, server-side cursor
on PostgreSQL; SQLite's cursor steps through the result lazily by itself) in batches of
``batch_rows`` rows. Each batch goes from the driver's row tuples to Arrow in one call, is
normalised to the schema and appended to a :class:`pyarrow.parquet.ParquetWriter` as one row
group, so memory is bounded by one batch whatever the size of the store. All tables are read in one read
transaction (PostgreSQL ``REPEATABLE READ READ ONLY``; SQLite one ``BEGIN`` on a WAL
database), so the files are one consistent picture of the store.

The files are written into a hidden temporary directory next to the target and renamed
into place only after every table and the manifest are complete and the audit row is
written; a failed export leaves no half snapshot behind. The schema is documented in
:mod:`spinetrack.snapshot`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, Select, case, exists, func, select
from sqlalchemy.orm import Session

from spinetrack import __version__, clock
from spinetrack.errors import ValidationError
from spinetrack.store import audit
from spinetrack.store import keys as store_keys
from spinetrack.store.keys import MIN_SECRET_LENGTH
from spinetrack.store.session import read_only
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
    "BATCH_ROWS",
    "EXCLUDED",
    "MIN_SECRET_LENGTH",
    "SCHEMAS",
    "SCHEMA_VERSION",
    "TABLES",
    "SnapshotResult",
    "export_snapshot",
    "patient_key",
    "rekey_episode",
    "rekey_patient",
]

SCHEMA_VERSION = "3"  # 3: procedures.surgeon (issue 21)
BATCH_ROWS = 50_000
_INT63 = 0x7FFF_FFFF_FFFF_FFFF
TABLES = ("patients", "episodes", "procedures", "complications", "readmissions", "reoperations", "outcomes")
# the columns that identify a row, from the store's primary keys and unique constraints (one PROM
# response per episode, timepoint and instrument: uq_prom_responses_episode_tp_instrument); the
# manifest declares them and the engines rely on them (``engines.base.snapshot_unique_keys``)
KEYS = {"patients": ("patient_key",), "episodes": ("episode_key",),
        "outcomes": ("episode_key", "instrument", "timepoint")}
EXCLUDED = ("Excluded by design: patient names, hospital numbers and contact details (e-mail, telephone); "
            "the patient_identities table is never read. No free text: complication detail, readmission reason, "
            "questionnaire answers and score details (only the return-to-activity flag 'returned' is kept). "
            "No exact dates: enrolment, index, procedure, event and collection dates and record timestamps are "
            "replaced by the index year and day offsets from the index date. Not exported either: the store's "
            "patient row ids, user accounts, sessions, invitations and the audit trail.")

# Called after every batch with (table, rows written so far, rows expected in the table).
Progress = Callable[[str, int, int], None]


def _f(name: str, typ: pa.DataType, nullable: bool = True) -> pa.Field:
    return pa.field(name, typ, nullable=nullable)


_S, _B, _F64 = pa.string(), pa.bool_(), pa.float64()
SCHEMAS: dict[str, pa.Schema] = {
    "patients": pa.schema([
        _f("patient_key", _S, False), _f("site", _S, False), _f("birth_year", pa.int16(), False),
        _f("sex", _S, False), _f("bmi", _F64), _f("smoking", _S), _f("diabetes", _B), _f("asa_grade", pa.int8()),
        _f("work_status", _S), _f("symptom_duration_weeks", pa.int32()), _f("prior_spine_surgery", _B),
    ]),
    "episodes": pa.schema([
        _f("episode_key", pa.int64(), False), _f("patient_key", _S, False), _f("diagnosis_code", _S, False),
        _f("diagnosis_group", _S, False), _f("n_levels", pa.int8(), False), _f("levels", _S, False),
        _f("conservative_care", _S), _f("conservative_care_weeks", pa.int32()), _f("treatment", _S),
        _f("treatment_family", _S), _f("index_year", pa.int16()), _f("age_at_index", pa.int16()),
        _f("has_procedure", _B, False), _f("enrolment_days", pa.int32()), _f("followup_days", pa.int32()),
    ]),
    "procedures": pa.schema([
        _f("episode_key", pa.int64(), False), _f("procedure_code", _S, False), _f("family", _S, False),
        _f("approach", _S, False), _f("technique", _S), _f("days_from_index", pa.int32()),
        _f("n_levels", pa.int8(), False), _f("incision_mm", _F64), _f("ebl_ml", _F64), _f("op_time_min", _F64),
        _f("fluoro_s", _F64), _f("fluoro_dose_mgy", _F64), _f("los_days", _F64), _f("transfusion", _B),
        _f("surgeon", _S),
    ]),
    "complications": pa.schema([
        _f("episode_key", pa.int64(), False), _f("category", _S, False), _f("clavien_dindo", _S, False),
        _f("days_from_index", pa.int32()),
    ]),
    "readmissions": pa.schema([_f("episode_key", pa.int64(), False), _f("days_from_index", pa.int32())]),
    "reoperations": pa.schema([
        _f("episode_key", pa.int64(), False), _f("reason", _S, False), _f("days_from_index", pa.int32()),
    ]),
    "outcomes": pa.schema([
        _f("patient_key", _S, False), _f("episode_key", pa.int64(), False), _f("instrument", _S, False),
        _f("timepoint", _S, False), _f("days_from_index", pa.int32()), _f("score", _F64),
        _f("valid", _B, False), _f("returned", _B),
    ]),
}
_FILE_METADATA = {b"spinetrack.snapshot.schema_version": SCHEMA_VERSION.encode()}


@dataclass(frozen=True, slots=True)
class SnapshotResult:
    """A finished snapshot: where it is and its manifest (as written to ``manifest.json``)."""

    path: Path
    manifest: dict[str, Any]

    @property
    def row_counts(self) -> dict[str, int]:
        return dict(self.manifest["row_counts"])


# ------------------------------------------------------------------------------------- rekeying

def patient_key(patient_id: int) -> str:
    """The export key of a patient without rekeying: ``P`` and the store's row id (``P17``).

    Always a key the store generated, never the pseudonymous id, which older versions let a
    client type (a hospital number typed there would otherwise leave in every snapshot)."""
    return f"P{patient_id}"


def rekey_patient(secret: bytes, patient_id: int) -> str:
    """``HMAC-SHA256(secret, "patient:<patient id>")`` as hex, truncated to 16 characters (64 bits)
    (``store.keys.patient_key``: the OMOP and CSV exports key patients the same way)."""
    return str(store_keys.patient_key(secret, patient_id))


def rekey_episode(secret: bytes, episode_id: int) -> int:
    """The first 8 bytes of ``HMAC-SHA256(secret, "episode:<id>")``, big-endian, as a non-negative
    int64 (``store.keys.episode_key``)."""
    return store_keys.episode_key(secret, episode_id)


class _HmacSha256:
    """HMAC-SHA256 (RFC 2104) under one key, with the padded key states hashed once: the same
    bytes as :func:`hmac.digest`, about three times faster per message (OpenSSL 3 pays a fixed
    cost per ``hmac.digest`` call, which matters at tens of millions of keys)."""

    def __init__(self, key: bytes) -> None:
        if len(key) > 64:
            key = hashlib.sha256(key).digest()
        key = key.ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def __call__(self, message: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()


class _Keys:
    """Turns store identifiers into export keys: unchanged, or HMAC under the secret; and holds
    the export's extraction date (``as_of``), from which each episode's administrative follow-up
    is counted.

    Each batch's distinct identifiers are keyed once and spread back with ``take``; nothing
    is cached across batches, so memory stays bounded.
    """

    def __init__(self, secret: bytes | None, as_of: dt.date | None = None) -> None:
        self.secret = secret
        self.as_of = as_of or dt.date.today()
        self._mac = _HmacSha256(secret) if secret is not None else None

    def _map(self, values: pa.Array, fn: Callable[[_HmacSha256, Any], Any], typ: pa.DataType) -> pa.Array:
        if self._mac is None:
            return values.cast(typ)
        mac = self._mac
        distinct = pc.unique(values)
        keyed = pa.array([None if v is None else fn(mac, v) for v in distinct.to_pylist()], typ)
        return pc.take(keyed, pc.index_in(values, value_set=distinct))

    def patients(self, values: pa.Array) -> pa.Array:
        """Store patient ids → ``P<id>`` (:func:`patient_key`), or the HMAC of ``patient:<id>``."""
        if self._mac is None:
            return pc.binary_join_element_wise(pa.scalar("P"), values.cast(pa.string()), "")
        return self._map(values, lambda mac, v: mac(b"patient:%d" % v).hex()[:16], pa.string())

    def surgeons(self, values: pa.Array) -> pa.Array:
        """``<site>/<surgeon>`` unchanged, or ``<site>/S`` + the HMAC of ``surgeon:<site>/<surgeon>``
        (the site code is in the snapshot already; the staff identifier is not)."""
        if self._mac is None:
            return values.cast(pa.string())
        secret = self.secret
        return self._map(values, lambda _mac, v: store_keys.surgeon_key(secret, v), pa.string())

    def episodes(self, values: pa.Array) -> pa.Array:
        return self._map(values, lambda mac, v: int.from_bytes(mac(b"episode:%d" % v)[:8], "big") & _INT63,
                         pa.int64())


# ------------------------------------------------------------------------------------- tables
#
# Rows come straight from the driver's cursor (no ORM or Row objects) and are turned into Arrow
# in one call per batch: the row tuples are read as one struct array whose field types are what
# the driver returns (SQLite: 0/1 for booleans and ISO strings for dates), then normalised.

_RAW = {  # kind → Arrow type of what the driver returns, per dialect
    "str": (pa.string(), pa.string()), "int": (pa.int64(), pa.int64()), "float": (_F64, _F64),
    "bool": (pa.int64(), _B), "flag": (pa.int64(), pa.int64()), "date": (pa.string(), pa.date32()),
}
_NORMAL = {"str": _S, "int": pa.int64(), "float": _F64, "bool": _B, "flag": _B, "date": pa.date32()}


def _days(event: pa.Array, index: pa.Array) -> pa.Array:
    """Whole days from the episode's index date (null when either date is missing)."""
    return pc.subtract_checked(event.cast(pa.int32()), index.cast(pa.int32()))


_AnySelect = Select[*tuple[Any, ...]]  # a SELECT of any number of columns of any type


@dataclass(frozen=True, slots=True)
class _Spec:
    count_from: Any  # ORM class whose row count is the expected number of rows
    query: Callable[[], _AnySelect]  # ordered by the store's row id: identical exports
    kinds: tuple[str, ...]  # one per selected column
    build: Callable[[list[pa.Array], _Keys], list[pa.Array]]  # normalised columns → SCHEMAS order

    def raw_type(self, dialect: str) -> pa.StructType:
        i = 0 if dialect == "sqlite" else 1
        return pa.struct([pa.field(f"c{n}", _RAW[k][i]) for n, k in enumerate(self.kinds)])


def _patients_query() -> _AnySelect:
    P = PatientRow
    return (select(P.id, SiteRow.code, P.birth_year, P.sex, P.bmi, P.smoking, P.diabetes, P.asa_grade,
                   P.work_status, P.symptom_duration_weeks, P.prior_spine_surgery)
            .join(SiteRow, SiteRow.id == P.site_id).order_by(P.id))


def _patients_build(c: list[pa.Array], keys: _Keys) -> list[pa.Array]:
    return [keys.patients(c[0]), *c[1:]]


def _episodes_query() -> _AnySelect:
    E = EpisodeRow
    has_proc = exists().where(ProcedureRow.episode_id == E.id)
    return (select(E.id, E.patient_id, E.diagnosis_code, E.diagnosis_group, E.n_levels, E.levels,
                   E.conservative_care, E.conservative_care_weeks, E.treatment, E.treatment_family, E.index_date,
                   PatientRow.birth_year, case((has_proc, 1), else_=0), E.enrolled_on)
            .join(PatientRow, PatientRow.id == E.patient_id).order_by(E.id))


def _episodes_build(c: list[pa.Array], keys: _Keys) -> list[pa.Array]:
    """… plus ``enrolment_days`` (index date − enrolment date: the wait before treatment starts)
    and ``followup_days`` (extraction date − index date: how long hospital-recorded events such
    as reoperations can have been seen; the administrative censoring time)."""
    index_year = pc.year(c[10])
    as_of = pa.scalar(keys.as_of, pa.date32()).cast(pa.int32())
    return [keys.episodes(c[0]), keys.patients(c[1]), *c[2:10], index_year,
            pc.subtract_checked(index_year, c[11]), c[12], _days(c[10], c[13]),
            pc.subtract_checked(as_of, c[10].cast(pa.int32()))]


def _procedures_query() -> _AnySelect:
    """… and the surgeon as ``<site code>/<surgeon>``, only where the site takes part in
    surgeon-level benchmarking (``sites.benchmark_surgeons``; NULL otherwise)."""
    R = ProcedureRow
    surgeon = case((SiteRow.benchmark_surgeons & R.surgeon.is_not(None), SiteRow.code + "/" + R.surgeon),
                   else_=None)
    return (select(R.episode_id, R.procedure_code, R.family, R.approach, R.technique, R.performed_on,
                   EpisodeRow.index_date, R.n_levels, R.incision_mm, R.ebl_ml, R.op_time_min, R.fluoro_s,
                   R.fluoro_dose_mgy, R.los_days, R.transfusion, surgeon)
            .join(EpisodeRow, EpisodeRow.id == R.episode_id).join(PatientRow, PatientRow.id == EpisodeRow.patient_id)
            .join(SiteRow, SiteRow.id == PatientRow.site_id).order_by(R.id))


def _procedures_build(c: list[pa.Array], keys: _Keys) -> list[pa.Array]:
    return [keys.episodes(c[0]), *c[1:5], _days(c[5], c[6]), *c[7:-1], keys.surgeons(c[-1])]


def _event_query(row: Any, *cols: Any) -> Callable[[], _AnySelect]:
    def query() -> _AnySelect:
        return (select(row.episode_id, *cols, EpisodeRow.index_date)
                .join(EpisodeRow, EpisodeRow.id == row.episode_id).order_by(row.id))
    return query


def _event_build(c: list[pa.Array], keys: _Keys) -> list[pa.Array]:
    """episode id, codes…, event date, index date → episode_key, codes…, days_from_index."""
    return [keys.episodes(c[0]), *c[1:-2], _days(c[-2], c[-1])]


def _outcomes_query() -> _AnySelect:
    R = PromResponseRow
    # Only the boolean "returned" and the date of return of return_to_activity leave
    # score_detail, extracted in SQL: no JSON (which may hold free text) is ever fetched.
    rta = R.instrument == "return_to_activity"
    returned = case((rta, R.score_detail["returned"].as_boolean()), else_=None)
    returned_on = case((rta, R.score_detail["date"].as_string()), else_=None)
    return (select(EpisodeRow.patient_id, R.episode_id, R.instrument, R.timepoint, R.days_from_index, R.score,
                   R.valid, returned, returned_on, EpisodeRow.index_date)
            .join(EpisodeRow, EpisodeRow.id == R.episode_id).order_by(R.id))


def _outcomes_build(c: list[pa.Array], keys: _Keys) -> list[pa.Array]:
    """A return to activity answered with a date (and no day count) gets its score from the date:
    whole days from the index date, the clock of every other event. A date before the index date
    gives no score (the return's timing is then unknown, as for a return answered without a date)."""
    score = c[5]
    if pc.any(pc.is_valid(c[8])).as_py():
        days = _days(pc.cast(c[8], pa.date32()), c[9])
        days = pc.if_else(pc.greater_equal(days, 0), days, pa.scalar(None, pa.int32()))
        score = pc.coalesce(score, days.cast(_F64))
    return [keys.patients(c[0]), keys.episodes(c[1]), *c[2:5], score, *c[6:8]]


_SPECS: dict[str, _Spec] = {
    "patients": _Spec(PatientRow, _patients_query,
                      ("int", "str", "int", "str", "float", "str", "bool", "int", "str", "int", "bool"),
                      _patients_build),
    "episodes": _Spec(EpisodeRow, _episodes_query,
                      ("int", "int", "str", "str", "int", "str", "str", "int", "str", "str", "date", "int", "flag",
                       "date"),
                      _episodes_build),
    "procedures": _Spec(ProcedureRow, _procedures_query,
                        ("int", "str", "str", "str", "str", "date", "date", "int", "float", "float", "float",
                         "float", "float", "float", "bool", "str"),
                        _procedures_build),
    "complications": _Spec(ComplicationRow, _event_query(ComplicationRow, ComplicationRow.category,
                                                         ComplicationRow.clavien_dindo, ComplicationRow.occurred_on),
                           ("int", "str", "str", "date", "date"), _event_build),
    "readmissions": _Spec(ReadmissionRow, _event_query(ReadmissionRow, ReadmissionRow.admitted_on),
                          ("int", "date", "date"), _event_build),
    "reoperations": _Spec(ReoperationRow, _event_query(ReoperationRow, ReoperationRow.reason,
                                                       ReoperationRow.performed_on),
                          ("int", "str", "date", "date"), _event_build),
    "outcomes": _Spec(PromResponseRow, _outcomes_query,
                      ("int", "int", "str", "str", "int", "float", "bool", "bool", "str", "date"), _outcomes_build),
}


# ------------------------------------------------------------------------------------- export

@contextmanager
def _read_snapshot(engine: Engine) -> Iterator[Connection]:
    """One connection holding one read transaction for the whole export."""
    with read_only(engine).connect() as conn:  # on SQLite: a deferred BEGIN, one WAL snapshot, no write lock
        if engine.dialect.name == "postgresql":
            conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        conn.begin()
        try:
            yield conn
        finally:
            conn.rollback()


def _batches(conn: Connection, table: str, spec: _Spec, batch_rows: int) -> Iterator[Sequence[Any]]:
    """The rows of ``spec``'s query in batches, from a server-side cursor on PostgreSQL (SQLite's
    cursor steps through the result lazily by itself)."""
    dialect = conn.dialect
    sql = str(spec.query().compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    dbapi_conn = conn.connection.dbapi_connection
    assert dbapi_conn is not None
    if dialect.name == "postgresql":
        cursor = dbapi_conn.cursor(name=f"spinetrack_snapshot_{table}")
        # psycopg's server-side cursor has itersize; SQLAlchemy's DBAPI cursor protocol does not declare it
        cursor.itersize = batch_rows  # type: ignore[attr-defined]
    else:
        cursor = dbapi_conn.cursor()
    try:
        cursor.execute(sql)
        while True:
            rows = cursor.fetchmany(batch_rows)
            if not rows:
                return
            yield rows
            del rows  # hold one batch at a time, not two, while the next is fetched
    finally:
        cursor.close()


def _write_table(conn: Connection, table: str, path: Path, keys: _Keys, batch_rows: int,
                 progress: Progress | None) -> int:
    spec = _SPECS[table]
    schema = SCHEMAS[table]
    raw_type = spec.raw_type(conn.dialect.name)
    total = conn.execute(select(func.count()).select_from(spec.count_from)).scalar_one() if progress else 0
    if progress:
        progress(table, 0, total)
    n = 0
    with pq.ParquetWriter(path, schema.with_metadata(_FILE_METADATA), compression="zstd") as writer:
        for rows in _batches(conn, table, spec, batch_rows):
            raw = pa.array(rows, type=raw_type).flatten()
            normal = [col.cast(_NORMAL[kind]) for col, kind in zip(raw, spec.kinds, strict=True)]
            out = [col.cast(f.type) for col, f in zip(spec.build(normal, keys), schema, strict=True)]
            writer.write_batch(pa.RecordBatch.from_arrays(out, schema=schema))
            n += len(rows)
            del rows, raw, normal, out
            if progress:
                progress(table, n, max(total, n))
    return n


def export_snapshot(
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
) -> SnapshotResult:
    """Export the store's clinical tables as pseudonymised Parquet files into ``out``.

    Parameters
    ----------
    engine:
        The operational store (migrated).
    out:
        Target directory; must be new or empty unless ``overwrite``.
    rekey_secret:
        When given, patient and episode keys are HMAC-SHA256 of the store's ids under this
        secret (at least :data:`MIN_SECRET_LENGTH` bytes), so the export cannot be linked back
        to the store without it. The same secret always gives the same keys.
    overwrite:
        Replace a non-empty ``out`` (only once the new snapshot is complete).
    batch_rows:
        Rows per database fetch and per Parquet row group; bounds memory.
    progress:
        ``progress(table, rows_done, rows_total)`` before the first and after every batch.
    actor, actor_role:
        Who is recorded in the audit row of the export.
    now:
        Creation time written to the manifest (default: the current UTC time).

    Returns
    -------
    SnapshotResult
        The final directory and the manifest.

    Raises
    ------
    ValidationError
        ``out`` is a file or a non-empty directory (without ``overwrite``), the secret is
        too short, or ``batch_rows`` is not a positive whole number.
    """
    if isinstance(batch_rows, bool) or not isinstance(batch_rows, int) or batch_rows < 1:
        raise ValidationError(field="batch_rows", value=batch_rows, allowed="a whole number, 1 or more")
    target = Path(out).absolute()
    store_keys.check_dir_target(target, overwrite)
    created = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(microsecond=0)
    keys = _Keys(store_keys.check_secret(rekey_secret), as_of=created.date() if now is not None else clock.today())
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        counts: dict[str, int] = {}
        with _read_snapshot(engine) as conn:
            revision = MigrationContext.configure(conn).get_current_revision()
            for table in TABLES:
                counts[table] = _write_table(conn, table, tmp / f"{table}.parquet", keys, batch_rows, progress)
            sources = {str(src): int(n) for src, n in conn.execute(
                select(PromResponseRow.source, func.count()).group_by(PromResponseRow.source)).all()}
        manifest = _manifest(engine.dialect.name, revision, counts, keys.secret is not None, created, sources)
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        _commit(engine, tmp, target, manifest, actor, actor_role)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return SnapshotResult(target, manifest)


def _manifest(dialect: str, revision: str | None, counts: dict[str, int], rekeyed: bool,
              created: dt.datetime, sources: dict[str, int] | None = None) -> dict[str, Any]:
    """The manifest. ``sources`` counts questionnaire responses by origin (patient, clinician,
    import, synthetic); when any are synthetic (``spinetrack demo``) the manifest says so under
    ``synthetic``, and every report made from the snapshot carries the warning."""
    sources = dict(sorted((sources or {}).items()))
    n_synthetic = sources.get("synthetic", 0)
    synthetic: dict[str, Any] | bool = (
        {"generator": "spinetrack demo", "responses": n_synthetic, "of_responses": sum(sources.values())}
        if n_synthetic else False)
    return {
        "schema_version": SCHEMA_VERSION,
        "spinetrack_version": __version__,
        "created_at": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "source": {"dialect": dialect, "alembic_revision": revision},
        "rekeyed": rekeyed,
        "synthetic": synthetic,
        "response_sources": sources,
        "row_counts": dict(counts),
        "keys": {t: list(cols) for t, cols in KEYS.items()},
        "tables": {
            t: {"file": f"{t}.parquet", "rows": counts[t], "columns": SCHEMAS[t].names,
                "types": {f.name: str(f.type) for f in SCHEMAS[t]},
                "nullable": {f.name: f.nullable for f in SCHEMAS[t]}}
            for t in TABLES
        },
        "excluded": EXCLUDED,
    }


def _commit(engine: Engine, tmp: Path, target: Path, manifest: dict[str, Any], actor: str, actor_role: str) -> None:
    """Append the audit row and move the snapshot into place as one step: the audit row is
    committed only if the move succeeded, and the snapshot is taken back out if the commit fails."""
    old: Path | None = None
    moved = False
    try:
        with Session(engine) as s, s.begin():
            audit.append(s, actor=actor, actor_role=actor_role, action="export", entity="snapshot",
                         detail={"schema_version": SCHEMA_VERSION, "row_counts": manifest["row_counts"],
                                 "rekeyed": manifest["rekeyed"]})
            if target.is_dir() and any(target.iterdir()):
                old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
                os.replace(target, old)
            try:
                os.replace(tmp, target)
                moved = True
            except BaseException:
                if old is not None:
                    os.replace(old, target)
                    old = None
                raise
    except BaseException:
        if moved:  # the audit row did not commit: take the snapshot back out
            shutil.rmtree(target, ignore_errors=True)
            if old is not None:
                os.replace(old, target)
                old = None
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
