"""The one writer of every import (CSV, REDCap, FHIR files, and the FHIR server's create and
transaction interactions): validate everything first, then store, idempotently and audited.

:func:`write_records` takes :class:`SourceRecord` objects (our field names and codes, each with
its source id, its parent's source id and where it came from) and works in three passes over
them, so that memory holds keys and a few facts per parent, never whole rows:

1. **keys** — every record's own fields are checked with the domain rules
   (:mod:`spinetrack.domain.pathway`); source ids are collected (a repeated one is an error);
   for the parents (sites, patients, episodes) the facts their children are checked against are
   kept (an episode's treatment, levels and dates, and its procedures' date). Patients' and
   episodes' facts move to a scratch SQLite file past :data:`SPILL_AT` entries (:class:`_Facts`);
   the other rows keep only a 64-bit hash of their source id (and a response one of its
   episode, timepoint and instrument) in a flat array — a repeated hash is re-checked exactly in
   pass 2, so a hash collision never reports a false duplicate. So memory stays flat whatever
   the number of rows (``bench/bench_import.py``). Then the
   references are resolved (a parent missing from the input is looked up among the records an
   earlier import of the same source stored) and a rejected parent rejects its children.
2. **children** — complications, readmissions, reoperations and PROM responses are checked
   against their episode (its index procedure's date, the follow-up windows); each response is
   scored exactly as :meth:`spinetrack.store.repositories.Store.insert_response` scores it, so
   an out-of-range answer is refused here.
3. **write** — unless ``dry_run``, or any record is invalid and not ``partial``: the records are
   written in chunks of :data:`CHUNK_SIZE` with SQLAlchemy Core ``insert()`` executemany
   (RETURNING the new ids), and each stored row is remembered in ``source_records``
   (source system + entity + source id → row id + content hash). Importing the same source
   again updates a record whose content changed, leaves an unchanged one alone and never adds a
   duplicate.

Transactions. Without ``partial`` the import is all-or-nothing in **one transaction** (on SQLite
and PostgreSQL alike): the database itself guarantees that a failure half-way (a uniqueness rule
found at write time, a crash, a full disk) leaves nothing behind, with no clean-up code to get
wrong; the price is that on SQLite other writers wait for the import (it holds the write lock),
and on PostgreSQL one long transaction. With ``partial`` each chunk is its own transaction, so
the valid records are kept whatever happens later.

Audit. Without ``partial``: one audit row (action ``import``, entity ``import``) in the import's
transaction, with the source system, the files' SHA-256 hashes and the counts. With ``partial``
one such row per chunk transaction (no stored row is ever unaudited), the last carrying the
totals. A dry run stores nothing and appends nothing.

Order. Inputs in parent-first order (sites, patients, episodes, procedures, then the rest — as
the CSV, REDCap and NDJSON readers produce them) are written in one streaming pass; a record
whose parent comes later is held until the end of the pass (so an unordered input costs memory,
not correctness).

A source may also report what it could not read at all (a FHIR resource its parser refused) as
:class:`RecordProblem` objects in a ``problems`` attribute filled while it is iterated: the
writer adds them to the report after the first pass, and refuses those records' children.

The records may be any iterable; a one-shot iterator (a generator) is read into a list first,
since three passes need to read it three times. The file readers pass a re-iterable object that
re-reads the files on each pass, which is what keeps a million-row import in bounded memory.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import pickle
import sqlite3
import sys
import uuid
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, cast

import numpy as np
from sqlalchemy import Connection, Table, bindparam, delete, func, insert, select, tuple_, update
from sqlalchemy.orm import Session

from spinetrack import instruments
from spinetrack.clock import utcnow
from spinetrack.domain import check_text
from spinetrack.domain.diagnosis import format_levels, get_diagnosis, parse_levels
from spinetrack.domain.pathway import (
    ComplicationRecord,
    EpisodeEnd,
    EpisodeRecord,
    PatientRecord,
    ProcedureRecord,
    PromResponseRecord,
    ReadmissionRecord,
    ReoperationRecord,
    Timepoint,
    TreatmentArm,
    check_episode_end,
)
from spinetrack.domain.procedure import ProcedureFamily
from spinetrack.errors import NotFoundError, PermissionDeniedError, ValidationError
from spinetrack.store import audit
from spinetrack.store.repositories import SITE_ROLES, Actor, Store, new_pseudo_id, validate_identity
from spinetrack.store.tables import (
    ComplicationRow,
    EpisodeRow,
    ImagingFindingRow,
    PatientIdentityRow,
    PatientRow,
    ProcedureRow,
    PromResponseRow,
    ReadmissionRow,
    ReoperationRow,
    SiteRow,
    SourceRecordRow,
    TimepointRow,
)

__all__ = [
    "CHUNK_SIZE",
    "ENTITIES",
    "IDENTITY_FIELDS",
    "MAX_ERRORS_KEPT",
    "PARENT_ENTITY",
    "EntityCounts",
    "ImportResult",
    "RecordProblem",
    "SourceRecord",
    "write_records",
]

#: The record kinds an import can carry, parents before children (the order they are written in).
ENTITIES: Final[tuple[str, ...]] = (
    "site", "patient", "episode", "procedure", "complication", "readmission", "reoperation", "response")
#: Which entity a record's ``parent`` names (a patient's parent is its site, by code or source id).
PARENT_ENTITY: Final[dict[str, str | None]] = {
    "site": None, "patient": "site", "episode": "patient", "procedure": "episode", "complication": "episode",
    "readmission": "episode", "reoperation": "episode", "response": "episode"}
#: The patient's identifying details, stored apart from the clinical record (``patient_identities``).
IDENTITY_FIELDS: Final[tuple[str, ...]] = ("full_name", "mrn", "email", "phone", "language")
CHUNK_SIZE: Final = 5000
#: Patients or episodes beyond which their facts move from memory to a scratch SQLite file.
SPILL_AT = 20_000
MAX_ERRORS_KEPT: Final = 100_000
MAX_IDS_KEPT: Final = 10_000
_RANK = {e: i for i, e in enumerate(ENTITIES)}
_LEAVES = ("complication", "readmission", "reoperation", "response")
_HASHED = ("procedure", *_LEAVES)  # record types whose repeated source ids are found by hash (module docstring)
_SITE_FIELDS = ("code", "name", "country")


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """One record to import, in our vocabulary (defined here, in the store, because the writer
    needs it and the store may not import ``interop``; :mod:`spinetrack.interop.imports.records`
    re-exports it for the readers).

    ``entity``: one of :data:`ENTITIES`. ``source_id``: the record's id in its source, unique per
    entity within one source system (it is what makes a re-import update instead of duplicate).
    ``fields``: our field names and codes, as the store's ``add_*`` methods and the REST create
    bodies take them (patient identity fields — :data:`IDENTITY_FIELDS` — under the patient when
    present); dates as ISO strings or :class:`datetime.date`. ``parent``: the parent's source id —
    the patient for an episode; the episode for a procedure, complication, readmission,
    reoperation or response; the site (code or source id) for a patient; ``None`` for a site, or
    for a patient when ``site_code`` puts everything under one site. ``location``: where it came
    from, for the error report (``"patients.csv:12"``, ``"Bundle.entry[3]"``).
    """

    entity: str
    source_id: str
    fields: dict[str, Any]
    parent: str | None
    location: str


@dataclass(frozen=True, slots=True)
class RecordProblem:
    """One reason a record was refused: where, which record, which field, the value and what
    would have been accepted, in plain words."""

    location: str
    entity: str
    source_id: str
    field: str
    value: Any
    allowed: str
    reason: str | None = None

    @property
    def message(self) -> str:
        shown = "(empty)" if self.value is None or self.value == "" else repr(self.value)
        text = f"{self.field}: {shown} is not allowed"
        if self.allowed:
            text += f"; allowed: {self.allowed}"
        return text + (f" ({self.reason})" if self.reason else "")

    def as_dict(self) -> dict[str, Any]:
        value = self.value if isinstance(self.value, (str, int, float, bool, type(None))) else str(self.value)
        return {"location": self.location, "entity": self.entity, "source_id": self.source_id, "field": self.field,
                "value": value, "allowed": self.allowed, "reason": self.reason, "message": self.message}


@dataclass(slots=True)
class EntityCounts:
    """Per entity: records created, updated (content changed), unchanged, and rejected."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged,
                "rejected": self.rejected}


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What an import did.

    ``stored``: whether anything was written (False for a dry run, and for an input with errors
    without ``partial``; then ``counts`` say what would have been created / updated / unchanged,
    and ``rejected`` counts the invalid records). ``errors``: the first :data:`MAX_ERRORS_KEPT`
    problems, in input order; ``n_errors`` counts them all (one problem per refused record: the
    first found). ``ids``: entity → source id → stored row id for every record created, updated or
    unchanged (for the FHIR server's answers; kept for the first :data:`MAX_IDS_KEPT` records
    only, ``ids_complete`` says whether all are there).
    """

    import_id: str
    source_system: str
    stored: bool
    dry_run: bool
    partial: bool
    counts: dict[str, EntityCounts]
    errors: tuple[RecordProblem, ...]
    n_errors: int
    ids: dict[str, dict[str, int]]
    ids_complete: bool
    files: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.n_errors == 0

    def totals(self) -> EntityCounts:
        out = EntityCounts()
        for c in self.counts.values():
            out.created += c.created
            out.updated += c.updated
            out.unchanged += c.unchanged
            out.rejected += c.rejected
        return out

    def as_dict(self, *, max_errors: int | None = None) -> dict[str, Any]:
        errors = self.errors if max_errors is None else self.errors[:max_errors]
        return {"import_id": self.import_id, "source_system": self.source_system, "stored": self.stored,
                "dry_run": self.dry_run, "partial": self.partial, "files": dict(self.files),
                "counts": {e: c.as_dict() for e, c in self.counts.items()}, "totals": self.totals().as_dict(),
                "n_errors": self.n_errors, "errors": [p.as_dict() for p in errors]}


# ---------------------------------------------------------------------------------------------- facts


@dataclass(slots=True)
class _Episode:
    """What an episode's children are checked against (kept per episode between passes)."""

    patient: str | None  # the patient's source id (None: the episode is already stored, from the DB)
    rec: EpisodeRecord | None  # None for a stored episode: then the stored facts below
    index_date: dt.date | None
    procedure_date: dt.date | None = None  # the index procedure's date (all its procedures share it)
    has_procedure: bool = False
    store_id: int | None = None
    site_id: int | None = None


class _Facts:
    """A dict of facts per source id (patients, episodes) that moves to a scratch SQLite database
    (the standard library's, a private temporary file) once it holds more than :data:`SPILL_AT`
    entries, so that memory stays flat however many patients an import holds. Values are pickled;
    a value read is a copy, so a changed value is written back (``facts[key] = value``)."""

    def __init__(self) -> None:
        self._mem: dict[str, Any] | None = {}
        self._db: sqlite3.Connection | None = None

    def _spill(self) -> None:
        assert self._mem is not None
        db = sqlite3.connect("")  # "": a private temporary database on disk, removed when closed
        db.execute("PRAGMA journal_mode=OFF")
        db.execute("PRAGMA synchronous=OFF")
        db.execute("CREATE TABLE kv (k TEXT PRIMARY KEY, v BLOB) WITHOUT ROWID")
        db.executemany("INSERT INTO kv VALUES (?, ?)", ((k, pickle.dumps(v, 5)) for k, v in self._mem.items()))
        self._db, self._mem = db, None

    def __setitem__(self, key: str, value: Any) -> None:
        if self._mem is not None:
            self._mem[key] = value
            if len(self._mem) > SPILL_AT:
                self._spill()
            return
        assert self._db is not None
        self._db.execute("INSERT OR REPLACE INTO kv VALUES (?, ?)", (key, pickle.dumps(value, 5)))

    def get(self, key: str | None) -> Any:
        if key is None:
            return None
        if self._mem is not None:
            return self._mem.get(key)
        assert self._db is not None
        row = self._db.execute("SELECT v FROM kv WHERE k = ?", (key,)).fetchone()
        return None if row is None else pickle.loads(row[0])  # our own scratch data

    def __getitem__(self, key: str) -> Any:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        if self._mem is not None:
            return key in self._mem
        assert self._db is not None
        return self._db.execute("SELECT 1 FROM kv WHERE k = ?", (key,)).fetchone() is not None

    def pop(self, key: str) -> None:
        if self._mem is not None:
            self._mem.pop(key, None)
        else:
            assert self._db is not None
            self._db.execute("DELETE FROM kv WHERE k = ?", (key,))

    def items(self) -> Iterator[tuple[str, Any]]:
        """Every entry (do not write to this table while iterating)."""
        if self._mem is not None:
            yield from list(self._mem.items())
            return
        assert self._db is not None
        for k, v in self._db.execute("SELECT k, v FROM kv"):
            yield k, pickle.loads(v)

    def values(self) -> Iterator[Any]:
        for _k, v in self.items():
            yield v

    @property
    def spilled(self) -> bool:
        return self._db is not None

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        self._mem = {}


@dataclass(slots=True)
class _Pass:
    """The state the passes share: keys, facts, rejections and the problems found."""

    source_system: str
    actor: Actor
    site_code: str | None
    partial: bool
    value_set: str
    errors: list[RecordProblem] = field(default_factory=list)
    seqs: list[int] = field(default_factory=list)  # each problem's record's place in the input (to sort)
    at: int = 0  # the place of the record being checked
    n_errors: int = 0
    seen: dict[str, set[str]] = field(default_factory=lambda: {e: set() for e in ENTITIES})
    dups: dict[str, set[str]] = field(default_factory=lambda: {e: set() for e in ENTITIES})
    rejected: dict[str, set[str]] = field(default_factory=lambda: {e: set() for e in ENTITIES})
    refused: dict[str, int] = field(default_factory=dict)  # records refused per entity (one problem each)
    sites: dict[str, str] = field(default_factory=dict)  # site source id -> code
    ignored_sites: set[str] = field(default_factory=set)  # with --site: the input's other sites, not used
    patient_site: _Facts = field(default_factory=_Facts)  # patient sid -> its site as given
    episodes: _Facts = field(default_factory=_Facts)  # episode sid -> _Episode
    procedures: list[tuple[str, str, str, ProcedureRecord]] = field(default_factory=list)  # sid, ep, loc, rec
    # leaves (most of the rows): 64-bit hashes of their source ids and of each response's (episode,
    # timepoint, instrument) in flat arrays (8 bytes a row); a repeated hash is a suspect, checked
    # exactly in pass 2 (so a hash collision never reports a false duplicate)
    leaf_hashes: dict[str, array[int]] = field(default_factory=lambda: {e: array("q") for e in _HASHED})
    response_hashes: array[int] = field(default_factory=lambda: array("q"))
    leaf_suspects: dict[str, set[int]] = field(default_factory=dict)
    response_suspects: set[int] = field(default_factory=set)
    child_parents: set[str] = field(default_factory=set)  # episodes named by children, not (yet) in the input
    schedule: tuple[Timepoint, ...] = ()
    site_ids: dict[str, int] = field(default_factory=dict)  # site code -> stored id (existing sites)
    stored_patients: dict[str, tuple[int, int]] = field(default_factory=dict)  # sid -> (row id, site id)

    def problem(self, rec: SourceRecord, fld: str, value: Any, allowed: Any, reason: str | None = None) -> None:
        self.rejected.setdefault(rec.entity, set()).add(rec.source_id)
        self.refused[rec.entity] = self.refused.get(rec.entity, 0) + 1
        self.n_errors += 1
        if len(self.errors) < MAX_ERRORS_KEPT:
            if not isinstance(allowed, str):
                allowed = ", ".join(str(a) for a in allowed)
            self.errors.append(RecordProblem(rec.location, rec.entity, rec.source_id, fld, value, allowed, reason))
            self.seqs.append(self.at)

    def add(self, p: RecordProblem) -> None:
        """A problem a source found reading its files (``records.problems``): counted, and its
        record's children refused with it."""
        self.rejected.setdefault(p.entity, set()).add(p.source_id)
        self.refused[p.entity] = self.refused.get(p.entity, 0) + 1
        self.n_errors += 1
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append(p)
            self.seqs.append(0)

    def refuse(self, rec: SourceRecord, exc: ValidationError) -> None:
        self.problem(rec, exc.field, exc.value, exc.allowed, exc.reason)

    def is_rejected(self, entity: str, sid: str | None) -> bool:
        return sid is not None and sid in self.rejected.get(entity, ())


def _site_code(rec: SourceRecord) -> str | None:
    code = rec.fields.get("code")
    return code.strip() if isinstance(code, str) else None


def _content_hash(rec: SourceRecord, parent: str | None) -> str:
    payload = json.dumps({"f": rec.fields, "p": parent}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _clinical(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if k not in IDENTITY_FIELDS}


def _identity(fields: Mapping[str, Any]) -> dict[str, Any] | None:
    ident = {k: fields[k] for k in IDENTITY_FIELDS if k in fields and fields[k] is not None}
    return ident or None


def _patient_record(fields: Mapping[str, Any]) -> PatientRecord:
    data = _clinical(fields)
    if not data.get("pseudo_id"):
        data["pseudo_id"] = "ST-PLACEHOLDER"  # drawn at write time (new_pseudo_id) when none is given
    return PatientRecord.create(data)


def _site_fields(fields: Mapping[str, Any]) -> tuple[str, str, str | None]:
    unknown = [k for k in fields if k not in _SITE_FIELDS]
    if unknown:
        raise ValidationError(field=f"site.{unknown[0]}", value=fields[unknown[0]], allowed=list(_SITE_FIELDS),
                              reason="unknown field")
    code = fields.get("code")
    if not isinstance(code, str) or not check_text(code.strip(), "site.code", max_length=32, optional=False):
        raise ValidationError(field="site.code", value=code, allowed="1 to 32 characters")
    name = fields.get("name") or code
    if not isinstance(name, str) or not check_text(name.strip(), "site.name", max_length=200, optional=False):
        raise ValidationError(field="site.name", value=name, allowed="1 to 200 characters")
    country = fields.get("country") or None
    if country is not None and (not isinstance(country, str) or len(country) != 2 or not country.isalpha()):
        raise ValidationError(field="site.country", value=country, allowed="a two-letter ISO 3166 country code")
    return code.strip(), name.strip(), country.upper() if country else None


# ---------------------------------------------------------------------------------------------- entry


def write_records(
    store: Store,
    actor: Actor,
    *,
    source_system: str,
    records: Iterable[SourceRecord],
    partial: bool = False,
    dry_run: bool = False,
    site_code: str | None = None,
    files: Mapping[str, str] | None = None,
    chunk_size: int = CHUNK_SIZE,
    progress: Callable[[str, int], None] | None = None,
) -> ImportResult:
    """Validate every record, then store them (see the module docstring for the passes, the
    transactions and the audit).

    Parameters
    ----------
    store:
        The operational store (its engine and EQ-5D value set, used to score responses).
    actor:
        ``system`` (the command line), or a clinician / coordinator (the FHIR server): clinic roles
        import into their own site only and may not create sites; other roles are refused.
    source_system:
        Names the source (``"csv:registry-2024"``, a REDCap URL, a FHIR base URL): with the
        entity and the source id it identifies a record across imports. 1 to 200 characters.
    records:
        The records; a re-iterable (a list, or an object whose ``__iter__`` re-reads the files)
        keeps memory bounded, a one-shot iterator is read into a list.
    partial:
        Store the valid records (and those whose parents are valid), one transaction per chunk,
        and report the rest; without it any invalid record means nothing is stored.
    dry_run:
        Validate and count (created / updated / unchanged, looking up earlier imports) without
        storing anything.
    site_code:
        Put every patient under this existing site (a clinic role's own site when omitted);
        otherwise each patient's parent names its site, by code or by a site record's source id,
        and sites in the records are created or matched by code.
    files:
        File name → SHA-256 of the files read, for the audit row.
    progress:
        Called with ``(phase, records done)`` as the passes go (``"check"``, ``"write"``).

    Raises
    ------
    PermissionDeniedError
        A role that may not import patient data.
    ValidationError
        ``source_system`` or ``site_code`` unusable (the whole import is refused; record problems
        are reported in the result, never raised).
    """
    if actor.role not in (*SITE_ROLES, "system"):
        raise PermissionDeniedError(f"role {actor.role!r} may not import patient records", role=actor.role)
    if not isinstance(source_system, str) or not 1 <= len(source_system.strip()) <= 200:
        raise ValidationError(field="source_system", value=source_system, allowed="1 to 200 characters")
    if isinstance(records, Iterator):
        records = list(records)
    st = _Pass(source_system=source_system.strip(), actor=actor, site_code=site_code, partial=partial,
               value_set=store.eq5d_value_set)
    try:
        return _run(store, st, records, dry_run=dry_run, partial=partial, files=files, chunk_size=chunk_size,
                    progress=progress)
    finally:
        st.episodes.close()
        st.patient_site.close()


def _run(store: Store, st: _Pass, records: Iterable[SourceRecord], *, dry_run: bool, partial: bool,
         files: Mapping[str, str] | None, chunk_size: int, progress: Callable[[str, int], None] | None) -> ImportResult:
    _load_context(store, st)
    _pass_keys(st, records, progress)
    for p in list(getattr(records, "problems", None) or ()):  # what the source itself could not read
        st.add(p)
    _resolve(store, st)
    _pass_children(st, records, progress)
    import_id = uuid.uuid4().hex
    counts = {e: EntityCounts() for e in ENTITIES}
    ids: dict[str, dict[str, int]] = {e: {} for e in ENTITIES}
    files = dict(files or {})
    for entity, n in st.refused.items():
        if entity in counts:
            counts[entity].rejected = n
    write = not dry_run and (partial or st.n_errors == 0)
    writer = _Writer(store, st, counts, ids, import_id, files, write=write, chunk_size=chunk_size)
    if write or dry_run:  # an invalid input without partial: nothing is stored, only the problems reported
        writer.run(records, progress)
    complete = sum(len(v) for v in ids.values()) < MAX_IDS_KEPT
    return ImportResult(import_id, st.source_system, write and writer.stored_any, dry_run, partial, counts,
                        tuple(st.errors), st.n_errors, ids, complete, files)


# ---------------------------------------------------------------------------------------------- passes


def _load_context(store: Store, st: _Pass) -> None:
    """The schedule and the existing sites (few rows), and the forced site."""
    with store.engine.connect() as conn:
        tps = TimepointRow.__table__
        st.schedule = tuple(Timepoint(*r) for r in conn.execute(
            select(tps.c.code, tps.c.label, tps.c.target_days, tps.c.window_from_days, tps.c.window_to_days)
            .order_by(tps.c.position)))
        st.site_ids = {code: int(sid) for sid, code in conn.execute(select(SiteRow.id, SiteRow.code))}
    if st.actor.role in SITE_ROLES:
        own = [code for code, sid in st.site_ids.items() if sid == st.actor.site_id]
        if st.site_code is not None and st.site_code not in own:
            raise ValidationError(field="site", value=st.site_code, allowed=own,
                                  reason="you may import into your own site only")
        st.site_code = own[0] if own else None
        if st.site_code is None:
            raise NotFoundError(entity="site", key=st.actor.site_id)
    elif st.site_code is not None and st.site_code not in st.site_ids:
        raise ValidationError(field="site", value=st.site_code, allowed=sorted(st.site_ids),
                              reason="no such site; create it first (spinetrack init) or leave --site out")


def _pass_keys(st: _Pass, records: Iterable[SourceRecord], progress: Callable[[str, int], None] | None) -> None:
    """Pass 1: each record's own fields, the keys, and the parents' facts."""
    pseudo_seen: set[str] = set()
    for n, rec in enumerate(records, 1):
        st.at = n
        if progress is not None and n % 10_000 == 0:
            progress("check", 10_000)
        if rec.entity not in _RANK:
            st.problem(rec, "entity", rec.entity, list(ENTITIES))
            continue
        sid = rec.source_id
        if not isinstance(sid, str) or not sid.strip() or len(sid) > 200:
            st.problem(rec, f"{rec.entity}.source_id", sid, "1 to 200 characters", "every record needs its source id")
            continue
        if rec.entity in _LEAVES:
            st.leaf_hashes[rec.entity].append(hash(sid))
            if rec.entity == "response":
                st.response_hashes.append(hash(_response_key(rec)))
            if not rec.parent:
                st.problem(rec, f"{rec.entity}.episode_source_id", rec.parent, "the source id of its episode",
                           "required")
            elif rec.parent not in st.episodes:
                st.child_parents.add(rec.parent)
            continue
        if rec.entity == "procedure":
            st.leaf_hashes["procedure"].append(hash(sid))
        # sites, patients and episodes: their fact tables (and the refused ids) are the set of ids seen
        seen = st.seen[rec.entity]
        known = (sid in st.patient_site if rec.entity == "patient" else sid in st.episodes
                 if rec.entity == "episode" else sid in seen if rec.entity == "site" else False) \
            or (rec.entity != "procedure" and sid in st.rejected[rec.entity])
        if known:
            st.dups[rec.entity].add(sid)
            st.problem(rec, f"{rec.entity}.source_id", sid, "a source id used once per record type",
                       f"another {rec.entity} record of this import has the same source id")
            continue
        if rec.entity == "site":
            seen.add(sid)
        if not isinstance(rec.fields, Mapping):
            st.problem(rec, rec.entity, type(rec.fields).__name__, "an object of field → value")
            continue
        parent_entity = PARENT_ENTITY[rec.entity]
        if parent_entity in ("patient", "episode") and not rec.parent:
            st.problem(rec, f"{rec.entity}.{parent_entity}_source_id", rec.parent,
                       f"the source id of its {parent_entity}", "required")
            continue
        try:
            if rec.entity == "site":
                code, _name, _country = _site_fields(rec.fields)
                st.sites[sid] = code
            elif rec.entity == "patient":
                prec = _patient_record(rec.fields)
                ident = _identity(rec.fields)
                checked = validate_identity(ident) if ident is not None else None
                pseudo = rec.fields.get("pseudo_id") or None
                if pseudo is not None:
                    if pseudo in pseudo_seen:
                        raise ValidationError(field="patient.pseudo_id", value=pseudo, allowed="a pseudonymous id "
                                              "used once", reason="another patient of this import has it")
                    pseudo_seen.add(prec.pseudo_id)
                del checked  # validated only: the identity is read again when written
                st.patient_site[sid] = sys.intern(rec.parent) if rec.parent else None  # a handful of sites
            elif rec.entity == "episode":
                erec, _end = _episode_record(rec.fields)
                assert rec.parent is not None
                # only what a procedure is checked against (no findings or care list held)
                compact = EpisodeRecord(erec.diagnosis, _shared_levels(erec.levels), erec.enrolled_on,
                                        treatment=erec.treatment, treatment_family=erec.treatment_family,
                                        index_date=erec.index_date)
                st.episodes[sid] = _Episode(rec.parent, compact, erec.index_date)
            elif rec.entity == "procedure":
                assert rec.parent is not None
                proc = ProcedureRecord.create(rec.fields)
                facts = st.episodes.get(rec.parent)
                if facts is None or facts.rec is None:  # its episode comes later, or was stored before: at the end
                    st.procedures.append((sid, rec.parent, rec.location, proc))
                else:  # parent first, as the readers write them: checked now, nothing held
                    _fold_procedure(facts, proc)
                    st.episodes[rec.parent] = facts
        except ValidationError as exc:
            st.refuse(rec, exc)


_LEVELS: dict[tuple[Any, ...], tuple[Any, ...]] = {}


def _shared_levels(levels: tuple[Any, ...]) -> tuple[Any, ...]:
    """One tuple object per distinct set of levels (a few dozen), shared by all episodes."""
    return _LEVELS.setdefault(levels, levels)


def _response_key(rec: SourceRecord) -> tuple[str | None, str, str]:
    f = rec.fields if isinstance(rec.fields, Mapping) else {}
    return (rec.parent, str(f.get("timepoint")), str(f.get("instrument")))


def _repeated(values: array[int]) -> set[int]:
    """The values that occur more than once (numpy sorts the flat array: no per-row objects)."""
    if len(values) < 2:
        return set()
    a = np.sort(np.frombuffer(values, dtype=np.int64))
    same = a[1:] == a[:-1]
    return {int(v) for v in np.unique(a[1:][same])}


def _lookup(conn: Connection, source_system: str, entity: str,
            sids: Sequence[str]) -> dict[str, tuple[int, str | None]]:
    """Source id → (stored row id, content hash) of the records an earlier import stored."""
    sr = SourceRecordRow.__table__
    out: dict[str, tuple[int, str | None]] = {}
    for i in range(0, len(sids), 500):
        part = list(sids[i:i + 500])
        for sid, eid, h in conn.execute(select(sr.c.source_id, sr.c.entity_id, sr.c.content_hash).where(
                sr.c.source_system == source_system, sr.c.entity == entity, sr.c.source_id.in_(part))):
            out[sid] = (int(eid), h)
    return out


def _resolve(store: Store, st: _Pass) -> None:
    """Between the passes: sites → patients → episodes → procedures, each against its parent
    (in this input or stored by an earlier import of the same source); a rejected parent rejects
    its children. Fixes each episode's index date (its own, or its procedures' date)."""
    actor_site = st.site_ids.get(st.site_code) if st.site_code else None
    # sites: a clinic role may not create sites; an existing code is matched
    for sid, code in st.sites.items():
        if st.site_code is not None and code != st.site_code:
            if st.actor.role == "system":  # --site: the files' sites are not used (e.g. an export's Organizations)
                st.ignored_sites.add(sid)
            else:
                _problem_key(st, "site", sid, "site.code", code, [st.site_code],
                             "a clinic may import into its own site only")
    codes_in_input = set(st.sites.values())
    # patients → site
    for sid, parent in st.patient_site.items():
        if st.is_rejected("patient", sid):
            continue
        if st.site_code is not None:
            continue
        if parent is None:
            _problem_key(st, "patient", sid, "patient.site", None, "a site code or a site record's source id",
                         "required (or give --site)")
            continue
        code = st.sites.get(parent, parent)
        if parent in st.sites and st.is_rejected("site", parent):
            _problem_key(st, "patient", sid, "patient.site", parent, "a valid site", "its site record was rejected")
        elif code not in codes_in_input and code not in st.site_ids:
            _problem_key(st, "patient", sid, "patient.site", parent,
                         sorted(set(st.site_ids) | codes_in_input) or "a site code",
                         "no such site in this import or the database")
    with store.engine.connect() as conn:
        # patients referenced by episodes but not in the input: stored by an earlier import?
        missing = sorted({e.patient for e in st.episodes.values()
                          if e.patient is not None and e.patient not in st.patient_site})
        found = _lookup(conn, st.source_system, "patient", missing)
        if found:
            rows = conn.execute(select(PatientRow.id, PatientRow.site_id).where(
                PatientRow.id.in_([v[0] for v in found.values()])))
            site_of = {int(i): int(s) for i, s in rows}
            for psid, (pid, _h) in found.items():
                if pid in site_of:
                    st.stored_patients[psid] = (pid, site_of[pid])
        for sid, ep in st.episodes.items():
            if st.is_rejected("episode", sid):
                continue
            assert ep.patient is not None
            if st.is_rejected("patient", ep.patient):
                _problem_key(st, "episode", sid, "episode.patient_source_id", ep.patient, "a valid patient",
                             "its patient was rejected")
            elif ep.patient in st.patient_site:
                if st.is_rejected("patient", ep.patient):
                    _problem_key(st, "episode", sid, "episode.patient_source_id", ep.patient, "a valid patient",
                                 "its patient was rejected")
            elif ep.patient in st.stored_patients:
                if actor_site is not None and st.actor.role in SITE_ROLES and \
                        st.stored_patients[ep.patient][1] != actor_site:
                    _problem_key(st, "episode", sid, "episode.patient_source_id", ep.patient,
                                 "a patient of your site", "not found")
            else:
                _problem_key(st, "episode", sid, "episode.patient_source_id", ep.patient,
                             "the source id of a patient in this import or an earlier import of this source",
                             "unknown patient")
        # episodes referenced by procedures or children but not in the input
        _load_stored_episodes(conn, st, {x for x in {p[1] for p in st.procedures} | st.child_parents
                                         if x not in st.episodes})
        st.child_parents = set()
    for sid, ep_sid, _loc, prec in st.procedures:
        if st.is_rejected("procedure", sid):
            continue
        found_ep = st.episodes.get(ep_sid)
        if st.is_rejected("episode", ep_sid):
            _problem_key(st, "procedure", sid, "procedure.episode_source_id", ep_sid, "a valid episode",
                         "its episode was rejected")
            continue
        if found_ep is None:
            _problem_key(st, "procedure", sid, "procedure.episode_source_id", ep_sid,
                         "the source id of an episode in this import or an earlier import of this source",
                         "unknown episode")
            continue
        ep = found_ep
        if st.is_rejected("episode", ep_sid):
            _problem_key(st, "procedure", sid, "procedure.episode_source_id", ep_sid, "a valid episode",
                         "its episode was rejected")
            continue
        try:
            _fold_procedure(ep, prec)
            st.episodes[ep_sid] = ep
        except ValidationError as exc:
            _problem_key(st, "procedure", sid, exc.field, exc.value, exc.allowed, exc.reason)
    st.procedures = []  # facts folded into the episodes
    if not st.episodes.spilled:
        for ep in st.episodes.values():
            ep.rec = None  # the children need the dates only (on disk they cost no memory)


EPISODE_END_FIELDS = ("ended_on", "end_reason")


def _episode_record(fields: Mapping[str, Any]) -> tuple[EpisodeRecord, EpisodeEnd | None]:
    """The episode, and the end of its follow-up when the source records one (``ended_on`` and
    ``end_reason``, checked as :meth:`Store.end_episode` checks them)."""
    rec = EpisodeRecord.create({k: v for k, v in fields.items() if k not in EPISODE_END_FIELDS})
    if all(fields.get(k) in (None, "") for k in EPISODE_END_FIELDS):
        return rec, None
    return rec, check_episode_end(fields.get("ended_on"), fields.get("end_reason"), enrolled_on=rec.enrolled_on)


def _fold_procedure(ep: _Episode, prec: ProcedureRecord) -> None:
    """Check a procedure against its episode (treatment, family, levels, dates: the store's rules)
    and fold its date into the episode's facts (every procedure of an episode is on its index date)."""
    if ep.rec is not None:
        prec.check_against_episode(ep.rec)
    want = ep.index_date or ep.procedure_date
    if want is not None and prec.performed_on != want:
        raise ValidationError(field="procedure.performed_on", value=prec.performed_on.isoformat(),
                              allowed=want.isoformat(), reason="the episode's index date is the procedure date")
    ep.procedure_date = prec.performed_on
    ep.has_procedure = True
    if ep.index_date is None:
        ep.index_date = prec.performed_on


def _load_stored_episodes(conn: Connection, st: _Pass, wanted: set[str]) -> None:
    """Facts of episodes stored by an earlier import of this source (children may refer to them)."""
    if not wanted:
        return
    found = _lookup(conn, st.source_system, "episode", sorted(wanted))
    if not found:
        return
    by_id = {eid: sid for sid, (eid, _h) in found.items()}
    ids = list(by_id)
    for i in range(0, len(ids), 500):
        part = ids[i:i + 500]
        q = (select(EpisodeRow.id, EpisodeRow.index_date, PatientRow.site_id, EpisodeRow.treatment,
                    EpisodeRow.treatment_family, EpisodeRow.diagnosis_code, EpisodeRow.levels, EpisodeRow.enrolled_on)
             .join(PatientRow, PatientRow.id == EpisodeRow.patient_id).where(EpisodeRow.id.in_(part)))
        for eid, index_date, site_id, treatment, family, dx, levels, enrolled_on in conn.execute(q):
            erec = EpisodeRecord(get_diagnosis(dx), parse_levels(levels), enrolled_on,
                                 treatment=TreatmentArm(treatment) if treatment else None,
                                 treatment_family=ProcedureFamily(family) if family else None, index_date=index_date)
            st.episodes[by_id[int(eid)]] = _Episode(None, erec, index_date, store_id=int(eid), site_id=int(site_id))
        procs = conn.execute(select(ProcedureRow.episode_id, func.min(ProcedureRow.performed_on))
                             .where(ProcedureRow.episode_id.in_(part)).group_by(ProcedureRow.episode_id))
        for eid, day in procs:
            ep = st.episodes[by_id[int(eid)]]
            ep.procedure_date, ep.has_procedure = day, True
            st.episodes[by_id[int(eid)]] = ep
    if st.actor.role in SITE_ROLES:
        for sid in found:
            ep = st.episodes[sid]
            if ep.site_id != st.actor.site_id:
                st.episodes.pop(sid)  # another site's episode: as if it did not exist


def _problem_key(st: _Pass, entity: str, sid: str, fld: str, value: Any, allowed: Any, reason: str | None) -> None:
    """A problem found between the passes (no record at hand): its location is filled in when
    the record is met again in pass 2."""
    st.problem(SourceRecord(entity, sid, {}, None, "?"), fld, value, allowed, reason)


def _pass_children(st: _Pass, records: Iterable[SourceRecord],
                   progress: Callable[[str, int], None] | None) -> None:
    """Pass 2: the leaf records against their episode; locations for the problems found between
    the passes; the first occurrence of a repeated source id."""
    pending = {i: p for i, p in enumerate(st.errors) if p.location == "?"}
    response_first: set[tuple[str | None, str, str]] = set()
    by_key = {(p.entity, p.source_id): i for i, p in pending.items()}
    first_dup: set[tuple[str, str]] = set()
    st.leaf_suspects = {e: _repeated(h) for e, h in st.leaf_hashes.items()}
    st.response_suspects = _repeated(st.response_hashes)
    st.leaf_hashes = {e: array("q") for e in _HASHED}  # done with: free them
    st.response_hashes = array("q")
    leaf_first: dict[tuple[str, str], tuple[int, str]] = {}  # suspect leaf id -> (place, location) of its first
    for n, rec in enumerate(records, 1):
        st.at = n
        if progress is not None and n % 10_000 == 0:
            progress("check", 10_000)
        if rec.entity not in _RANK or not isinstance(rec.source_id, str):
            continue
        key = (rec.entity, rec.source_id)
        if by_key:
            i = by_key.pop(key, None)
            if i is not None:
                p = st.errors[i]
                st.errors[i] = RecordProblem(rec.location, p.entity, p.source_id, p.field, p.value, p.allowed,
                                             p.reason)
                st.seqs[i] = n
        if rec.source_id in st.dups[rec.entity] and key not in first_dup:
            first_dup.add(key)
            st.problem(rec, f"{rec.entity}.source_id", rec.source_id, "a source id used once per record type",
                       f"another {rec.entity} record of this import has the same source id (this is the first)")
            continue
        if rec.entity == "procedure" and rec.parent and st.is_rejected("episode", rec.parent) and \
                not st.is_rejected("procedure", rec.source_id):
            st.problem(rec, "procedure.episode_source_id", rec.parent, "a valid episode", "its episode was rejected")
            continue
        if rec.entity not in _HASHED:
            continue
        suspects = st.leaf_suspects.get(rec.entity)
        if suspects and hash(rec.source_id) in suspects:
            first = leaf_first.get(key)
            if first is None:
                leaf_first[key] = (n, rec.location)
            else:
                if key not in first_dup:  # the first occurrence, reported now that the second is seen
                    first_dup.add(key)
                    st.at = first[0]
                    st.problem(SourceRecord(rec.entity, rec.source_id, {}, None, first[1]),
                               f"{rec.entity}.source_id", rec.source_id, "a source id used once per record type",
                               f"another {rec.entity} record of this import has the same source id "
                               "(this is the first)")
                    st.at = n
                st.problem(rec, f"{rec.entity}.source_id", rec.source_id, "a source id used once per record type",
                           f"another {rec.entity} record of this import has the same source id")
                continue
        if rec.entity == "procedure" or st.is_rejected(rec.entity, rec.source_id):
            continue
        _check_child(st, rec, response_first)
    order = sorted(range(len(st.errors)), key=lambda i: st.seqs[i])
    st.errors[:] = [st.errors[i] for i in order]
    st.seqs[:] = [st.seqs[i] for i in order]
    st.at = 0


def _check_child(st: _Pass, rec: SourceRecord, response_first: set[tuple[str | None, str, str]]) -> None:
    ep_sid = rec.parent
    ep = st.episodes.get(ep_sid) if ep_sid else None
    if ep_sid is None:
        st.problem(rec, f"{rec.entity}.episode_source_id", None, "the source id of its episode", "required")
        return
    if ep is None and not st.is_rejected("episode", ep_sid):
        st.problem(rec, f"{rec.entity}.episode_source_id", ep_sid,
                   "the source id of an episode in this import or an earlier import of this source", "unknown episode")
        return
    if ep is None or st.is_rejected("episode", ep_sid):
        st.problem(rec, f"{rec.entity}.episode_source_id", ep_sid, "a valid episode", "its episode was rejected")
        return
    try:
        if rec.entity == "response":
            _check_response(st, rec, ep, response_first)
            return
        if not ep.has_procedure:
            raise ValidationError(field=f"{rec.entity}.episode_source_id", value=ep_sid,
                                  allowed="an episode with a recorded procedure")
        if rec.entity == "complication":
            ComplicationRecord.create(rec.fields, performed_on=ep.procedure_date)
        elif rec.entity == "readmission":
            ReadmissionRecord.create(rec.fields, performed_on=ep.procedure_date)
        else:
            ReoperationRecord.create(rec.fields, index_date=ep.procedure_date)
    except ValidationError as exc:
        st.refuse(rec, exc)


def _score(store_value_set: str, rec: PromResponseRecord) -> Any:
    """Score a response exactly as :meth:`Store.insert_response` does (the site's EQ-5D value set)."""
    inst = instruments.get(rec.instrument, "response.instrument")
    options: dict[str, Any] = {"value_set": store_value_set} if inst.definition.value_set else {}
    return inst.score(rec.answers, **options)


def _response_record(st: _Pass, rec: SourceRecord, ep: _Episode) -> PromResponseRecord:
    return PromResponseRecord.create(rec.fields, index_date=ep.index_date, schedule=st.schedule)


def _check_response(st: _Pass, rec: SourceRecord, ep: _Episode,
                    response_first: set[tuple[str | None, str, str]]) -> None:
    prec = _response_record(st, rec, ep)
    inst = instruments.get(prec.instrument, "response.instrument")
    options: dict[str, Any] = {"value_set": st.value_set} if inst.definition.value_set else {}
    inst.score(prec.answers, **options)
    key = _response_key(rec)
    if st.response_suspects and hash(key) in st.response_suspects:
        if key in response_first:
            raise ValidationError(field="response.timepoint", value=prec.timepoint.code,
                                  allowed="one response per episode, timepoint and instrument",
                                  reason=f"this episode has another {prec.instrument} response at "
                                         f"{prec.timepoint.code} in this import")
        response_first.add(key)


# ---------------------------------------------------------------------------------------------- writing


_T: dict[str, Table] = {
    "site": cast(Table, SiteRow.__table__), "patient": cast(Table, PatientRow.__table__),
    "episode": cast(Table, EpisodeRow.__table__), "procedure": cast(Table, ProcedureRow.__table__),
    "complication": cast(Table, ComplicationRow.__table__), "readmission": cast(Table, ReadmissionRow.__table__),
    "reoperation": cast(Table, ReoperationRow.__table__), "response": cast(Table, PromResponseRow.__table__)}
_SR = cast(Table, SourceRecordRow.__table__)
_IDENT = cast(Table, PatientIdentityRow.__table__)
_FINDINGS = cast(Table, ImagingFindingRow.__table__)


class _Writer:
    """Pass 3: chunks of records → Core executemany inserts and updates (see the module docstring)."""

    def __init__(self, store: Store, st: _Pass, counts: dict[str, EntityCounts], ids: dict[str, dict[str, int]],
                 import_id: str, files: dict[str, str], *, write: bool, chunk_size: int) -> None:
        self.store, self.st, self.counts, self.ids = store, st, counts, ids
        self.import_id, self.files, self.write, self.chunk_size = import_id, files, write, max(1, chunk_size)
        self.stored_any = False
        self.n_ids = 0
        # source id → stored id of the parents of the chunk at hand (looked up in source_records per
        # chunk, so that memory does not grow with the input; sites are few and kept)
        self.site_id: dict[str, int] = {}
        self.patient_id: dict[str, int] = {}
        self.episode_id: dict[str, int] = {}
        self.now = utcnow()

    # -- driving

    def run(self, records: Iterable[SourceRecord], progress: Callable[[str, int], None] | None) -> None:
        chunk: list[SourceRecord] = []
        held: list[SourceRecord] = []
        if self.write and not self.st.partial:
            try:
                with self.store.transaction() as s:
                    self._stream(records, chunk, held, progress, s)
                    self._audit(s, final=True)
            except _Abort:  # rolled back: nothing stored, the problem is in the report
                self.stored_any = False
                for c in self.counts.values():
                    c.created = c.updated = c.unchanged = 0
                for m in self.ids.values():
                    m.clear()
        else:
            self._stream(records, chunk, held, progress, None)

    def _stream(self, records: Iterable[SourceRecord], chunk: list[SourceRecord], held: list[SourceRecord],
                progress: Callable[[str, int], None] | None, s: Session | None) -> None:
        for rec in records:
            if rec.entity not in _RANK or not isinstance(rec.source_id, str) or \
                    self.st.is_rejected(rec.entity, rec.source_id) or \
                    (rec.entity == "site" and rec.source_id in self.st.ignored_sites):
                continue
            chunk.append(rec)
            if len(chunk) >= self.chunk_size:
                held = self._flush(chunk, held, s, progress)
                chunk.clear()
        if chunk or held:
            rest = self._flush(chunk, held, s, progress)
            for _ in range(len(ENTITIES)):  # parents held back are written level by level
                if not rest:
                    break
                rest = self._flush([], rest, s, progress)
            for rec in rest:  # a parent refused at write time (partial import): its children with it
                self.st.problem(rec, f"{rec.entity}.{PARENT_ENTITY[rec.entity]}_source_id", rec.parent,
                                f"a stored {PARENT_ENTITY[rec.entity]}", "its parent was refused when writing")
                self.counts[rec.entity].rejected += 1
            if rest and self.write and not self.st.partial:
                raise _Abort

    def _flush(self, chunk: list[SourceRecord], held: list[SourceRecord], s: Session | None,
               progress: Callable[[str, int], None] | None) -> list[SourceRecord]:
        records = held + chunk
        if self.write and self.st.partial:
            with self.store.transaction() as ps:
                later = self._chunk(ps.connection(), records)
                self._audit(ps, final=False, n=len(records) - len(later))
        else:
            later = self._chunk(s.connection() if s is not None else None, records)
        if progress is not None:
            progress("write", len(records) - len(later))
        return later

    def _audit(self, s: Session, *, final: bool, n: int = 0) -> None:
        audit.append(s, actor=self.st.actor.name, actor_role=self.st.actor.role, action="import", entity="import",
                     entity_id=self.import_id,
                     detail={"source_system": self.st.source_system, "files": self.files,
                             "partial": self.st.partial, "records_in_chunk": n if not final else None,
                             "counts": {e: c.as_dict() for e, c in self.counts.items()
                                        if c.created or c.updated or c.unchanged or c.rejected},
                             "errors": self.st.n_errors})

    # -- one chunk

    def _chunk(self, conn: Connection | None, records: list[SourceRecord]) -> list[SourceRecord]:
        """Write ``records`` entity by entity; returns those whose parent is not written yet."""
        groups: dict[str, list[SourceRecord]] = {}
        for rec in records:
            groups.setdefault(rec.entity, []).append(rec)
        later: list[SourceRecord] = []
        self.patient_id.clear()
        self.episode_id.clear()
        for entity in ENTITIES:
            group = groups.get(entity)
            if not group:
                continue
            self._find_parents(conn, entity, group)
            ready = []
            for rec in group:
                if self._parent_ready(rec):
                    ready.append(rec)
                else:
                    later.append(rec)
            if ready:
                self._entity(conn, entity, ready)
        return later

    def _find_parents(self, conn: Connection | None, entity: str, group: list[SourceRecord]) -> None:
        """The stored ids of the group's parents (written by this import or an earlier one of the
        same source), from ``source_records``."""
        parent = PARENT_ENTITY[entity]
        if parent not in ("patient", "episode"):
            return
        cache = self.patient_id if parent == "patient" else self.episode_id
        missing = sorted({r.parent for r in group if r.parent and r.parent not in cache})
        if missing:
            found = _lookup(conn, self.st.source_system, parent, missing) if conn is not None else \
                self._lookup_ro(parent, missing)
            cache.update({sid: v[0] for sid, v in found.items()})

    def _parent_ready(self, rec: SourceRecord) -> bool:
        parent = PARENT_ENTITY[rec.entity]
        if parent is None:
            return True
        if parent == "site":
            if self.st.site_code is not None or rec.parent not in self.st.sites:
                return True
            return rec.parent in self.site_id or self.st.sites[rec.parent] in self.st.site_ids
        table = self.patient_id if parent == "patient" else self.episode_id
        if rec.parent in table:
            return True
        # not written yet; in a dry run (or an invalid input) nothing is, so accept the in-input parent
        return not self.write and rec.parent in (self.st.patient_site if parent == "patient" else self.st.episodes)

    def _entity(self, conn: Connection | None, entity: str, recs: list[SourceRecord]) -> None:
        sids = [r.source_id for r in recs]
        known = _lookup(conn, self.st.source_system, entity, sids) if conn is not None else \
            self._lookup_ro(entity, sids)
        new: list[tuple[SourceRecord, str]] = []
        changed: list[tuple[SourceRecord, str, int]] = []
        counts = self.counts[entity]
        for rec in recs:
            h = _content_hash(rec, self._effective_parent(rec))
            prior = known.get(rec.source_id)
            if prior is None:
                new.append((rec, h))
            elif prior[1] == h:
                counts.unchanged += 1
                self._remember(entity, rec.source_id, prior[0])
            else:
                changed.append((rec, h, prior[0]))
        if entity == "site":  # a new site record whose code exists is matched to that site: unchanged
            matched = [(rec, h) for rec, h in new if _site_code(rec) in self.st.site_ids]
            counts.unchanged += len(matched)
            counts.created -= len(matched)  # the created count below includes them
        if not self.write or conn is None:
            counts.created += len(new)
            counts.updated += len(changed)
            for rec, _h in new:  # placeholder ids so that children count as ready in a dry run
                self._remember(entity, rec.source_id, 0, keep=False)
            for rec, _h, eid in changed:
                self._remember(entity, rec.source_id, eid)
            return
        method = getattr(self, f"_write_{entity}")
        created, updated = method(conn, new, changed)
        self.stored_any = self.stored_any or bool(created or updated)
        now = self.now
        if created:
            conn.execute(insert(_SR), [{"source_system": self.st.source_system, "entity": entity, "source_id": sid,
                                        "entity_id": eid, "content_hash": h, "created_at": now, "updated_at": now}
                                       for sid, eid, h in created])
        if updated:
            conn.execute(update(_SR).where(_SR.c.source_system == self.st.source_system, _SR.c.entity == entity,
                                           _SR.c.source_id == bindparam("sid"))
                         .values(content_hash=bindparam("h"), updated_at=now),
                         [{"sid": sid, "h": h} for sid, _eid, h in updated])
        counts.created += len(created)
        counts.updated += len(updated)
        for sid, eid, _h in (*created, *updated):
            self._remember(entity, sid, eid)

    def _lookup_ro(self, entity: str, sids: list[str]) -> dict[str, tuple[int, str | None]]:
        with self.store.engine.connect() as conn:
            return _lookup(conn, self.st.source_system, entity, sids)

    def _remember(self, entity: str, sid: str, eid: int, *, keep: bool = True) -> None:
        if entity == "site":
            self.site_id[sid] = eid
        elif entity == "patient":
            self.patient_id[sid] = eid
        elif entity == "episode":
            self.episode_id[sid] = eid
        if keep and self.n_ids < MAX_IDS_KEPT:
            self.ids[entity][sid] = eid
            self.n_ids += 1

    def _effective_parent(self, rec: SourceRecord) -> str | None:
        if rec.entity == "patient":
            if self.st.site_code is not None:
                return self.st.site_code
            return self.st.sites.get(rec.parent, rec.parent) if rec.parent else None
        return rec.parent

    def _reject_at_write(self, rec: SourceRecord, fld: str, value: Any, allowed: Any, reason: str) -> None:
        """A rule only the database can check (a taken pseudonymous id or hospital number, an
        answered timepoint): in a partial import the record is refused; otherwise the whole
        import is rolled back and reported (raised to the caller of :meth:`run`)."""
        self.st.problem(rec, fld, value, allowed, reason)
        self.counts[rec.entity].rejected += 1
        if not self.st.partial:
            raise _Abort

    # -- per entity (each returns (created, updated) as lists of (source id, row id, hash))

    def _write_site(self, conn: Connection, new: list[tuple[SourceRecord, str]],
                    changed: list[tuple[SourceRecord, str, int]]) -> tuple[list[Any], list[Any]]:
        created = []
        for rec, h in new:
            code, name, country = _site_fields(rec.fields)
            sid_db = self.st.site_ids.get(code)
            if sid_db is None:
                key = conn.execute(insert(_T["site"]).values(code=code, name=name, country=country,
                                                              created_at=self.now)).inserted_primary_key
                assert key is not None
                sid_db = int(key[0])
                self.st.site_ids[code] = sid_db
            created.append((rec.source_id, sid_db, h))  # an existing site with this code is matched
        updated = []
        for rec, h, eid in changed:
            _code, name, country = _site_fields(rec.fields)
            conn.execute(update(_T["site"]).where(_T["site"].c.id == eid).values(name=name, country=country))
            updated.append((rec.source_id, eid, h))
        return created, updated

    def _site_of(self, rec: SourceRecord) -> int:
        if self.st.site_code is not None:
            return self.st.site_ids[self.st.site_code]
        assert rec.parent is not None
        if rec.parent in self.st.sites:
            return self.st.site_ids[self.st.sites[rec.parent]]
        return self.st.site_ids[rec.parent]

    def _patient_row(self, rec: SourceRecord) -> dict[str, Any]:
        p = _patient_record(rec.fields)
        return {"birth_year": p.birth_year, "sex": p.sex.value, "bmi": p.bmi,
                "smoking": p.smoking.value if p.smoking else None, "diabetes": p.diabetes,
                "asa_grade": int(p.asa_grade) if p.asa_grade else None,
                "work_status": p.work_status.value if p.work_status else None,
                "symptom_duration_weeks": p.symptom_duration_weeks, "prior_spine_surgery": p.prior_spine_surgery}

    def _write_patient(self, conn: Connection, new: list[tuple[SourceRecord, str]],
                       changed: list[tuple[SourceRecord, str, int]]) -> tuple[list[Any], list[Any]]:
        t = _T["patient"]
        given = [rec.fields["pseudo_id"] for rec, _h in new if rec.fields.get("pseudo_id")]
        taken = set(conn.execute(select(t.c.pseudo_id).where(t.c.pseudo_id.in_(given))).scalars()) if given else set()
        prepared = []
        for rec, h in new:
            site_id = self._site_of(rec)
            ident = _identity(rec.fields)
            prepared.append((rec, h, site_id, validate_identity(ident) if ident is not None else None))
        pairs = [(site_id, ident["mrn"]) for _r, _h, site_id, ident in prepared if ident and ident.get("mrn")]
        mrn_taken = set(conn.execute(select(_IDENT.c.site_id, _IDENT.c.mrn).where(
            tuple_(_IDENT.c.site_id, _IDENT.c.mrn).in_(pairs))).all()) if pairs else set()
        rows, keep = [], []
        for rec, h, site_id, ident in prepared:
            pseudo = rec.fields.get("pseudo_id") or new_pseudo_id()
            if pseudo in taken:
                self._reject_at_write(rec, "patient.pseudo_id", pseudo, "a pseudonymous id not used yet",
                                      "another patient in the database has it")
                continue
            if ident and ident.get("mrn") and (site_id, ident["mrn"]) in mrn_taken:
                self._reject_at_write(rec, "patient.mrn", ident["mrn"], "a hospital number not used yet at this site",
                                      "another patient of this site has it")
                continue
            rows.append({"pseudo_id": pseudo, "site_id": site_id, "created_at": self.now, **self._patient_row(rec)})
            keep.append((rec, h, site_id, ident))
        created = []
        if rows:
            new_ids = list(conn.execute(insert(t).returning(t.c.id, sort_by_parameter_order=True), rows).scalars())
            idents = []
            for (rec, h, site_id, ident), pid in zip(keep, new_ids, strict=True):
                created.append((rec.source_id, int(pid), h))
                if ident is not None:
                    idents.append({"patient_id": pid, "site_id": site_id, "updated_at": self.now, "language": None,
                                   **ident})
            if idents:
                conn.execute(insert(_IDENT), idents)
        updated = []
        for rec, h, eid in changed:
            values = self._patient_row(rec)
            if rec.fields.get("pseudo_id"):
                values["pseudo_id"] = rec.fields["pseudo_id"]
            conn.execute(update(t).where(t.c.id == eid).values(**values))
            ident = _identity(rec.fields)
            if ident is not None:
                checked = validate_identity(ident)
                site_id = conn.execute(select(t.c.site_id).where(t.c.id == eid)).scalar_one()
                if conn.execute(select(_IDENT.c.patient_id).where(_IDENT.c.patient_id == eid)).first():
                    conn.execute(update(_IDENT).where(_IDENT.c.patient_id == eid).values(updated_at=self.now,
                                                                                       **checked))
                else:
                    conn.execute(insert(_IDENT).values(patient_id=eid, site_id=site_id, updated_at=self.now,
                                                       **checked))
            updated.append((rec.source_id, eid, h))
        return created, updated

    def _episode_row(self, rec: SourceRecord) -> tuple[dict[str, Any], EpisodeRecord]:
        e, end = _episode_record(rec.fields)
        facts = self.st.episodes.get(rec.source_id)
        index_date = facts.index_date if facts is not None else e.index_date
        return ({"diagnosis_code": e.diagnosis.code, "diagnosis_group": e.diagnosis.group.value,
                 "levels": format_levels(e.levels), "n_levels": len(e.levels),
                 "conservative_care": ",".join(o.value for o in e.conservative_care) or None,
                 "conservative_care_weeks": e.conservative_care_weeks,
                 "treatment": e.treatment.value if e.treatment else None,
                 "treatment_family": e.treatment_family.value if e.treatment_family else None,
                 "enrolled_on": e.enrolled_on, "index_date": index_date,
                 "ended_on": end.ended_on if end else None, "end_reason": end.reason.value if end else None}, e)

    @staticmethod
    def _findings(eid: int, e: EpisodeRecord) -> list[dict[str, Any]]:
        return [{"episode_id": eid, "level": f.level.value, "kind": f.kind.value,
                 "morphology": f.morphology.value if f.morphology else None,
                 "zone": f.zone.value if f.zone else None, "pfirrmann": f.pfirrmann.value if f.pfirrmann else None,
                 "stenosis_grade": f.stenosis_grade.value if f.stenosis_grade else None,
                 "meyerding": f.meyerding.value if f.meyerding else None} for f in e.imaging_findings]

    def _write_episode(self, conn: Connection, new: list[tuple[SourceRecord, str]],
                       changed: list[tuple[SourceRecord, str, int]]) -> tuple[list[Any], list[Any]]:
        t = _T["episode"]
        rows, recs, findings = [], [], []
        for rec, _h in new:
            row, e = self._episode_row(rec)
            assert rec.parent is not None
            rows.append({"patient_id": self.patient_id[rec.parent], "created_at": self.now, **row})
            recs.append(e)
        created = []
        if rows:
            new_ids = list(conn.execute(insert(t).returning(t.c.id, sort_by_parameter_order=True), rows).scalars())
            for (rec, h), e, eid in zip(new, recs, new_ids, strict=True):
                created.append((rec.source_id, int(eid), h))
                findings.extend(self._findings(int(eid), e))
        updated = []
        for rec, h, eid in changed:
            row, e = self._episode_row(rec)
            assert rec.parent is not None
            conn.execute(update(t).where(t.c.id == eid).values(patient_id=self.patient_id[rec.parent], **row))
            conn.execute(delete(_FINDINGS).where(_FINDINGS.c.episode_id == eid))
            findings.extend(self._findings(eid, e))
            updated.append((rec.source_id, eid, h))
        if findings:
            conn.execute(insert(_FINDINGS), findings)
        return created, updated

    def _procedure_row(self, rec: SourceRecord) -> dict[str, Any]:
        p = ProcedureRecord.create(rec.fields)
        assert rec.parent is not None
        return {"episode_id": self.episode_id[rec.parent], "procedure_code": p.entry.code,
                "family": p.entry.family.value, "approach": p.entry.approach.value,
                "technique": p.entry.technique.value if p.entry.technique else None, "performed_on": p.performed_on,
                "levels": format_levels(p.levels), "n_levels": len(p.levels), "incision_mm": p.incision_mm,
                "ebl_ml": p.ebl_ml, "op_time_min": p.op_time_min, "fluoro_s": p.fluoro_s,
                "fluoro_dose_mgy": p.fluoro_dose_mgy, "los_days": p.los_days, "transfusion": p.transfusion,
                "converted_to_open": p.converted_to_open, "surgeon": p.surgeon}

    def _write_procedure(self, conn: Connection, new: list[tuple[SourceRecord, str]],
                         changed: list[tuple[SourceRecord, str, int]]) -> tuple[list[Any], list[Any]]:
        created, updated = self._simple(conn, "procedure", new, changed, self._procedure_row)
        # an episode stored earlier without an index date takes its procedure's date (as Store.add_procedure)
        eps = {}
        for rec, _h in new:
            assert rec.parent is not None
            ep = self.st.episodes[rec.parent]
            if ep.store_id is not None and ep.procedure_date is not None:
                eps[ep.store_id] = ep.procedure_date
        if eps:
            t = _T["episode"]
            conn.execute(update(t).where(t.c.id == bindparam("eid"), t.c.index_date.is_(None))
                         .values(index_date=bindparam("d")), [{"eid": k, "d": v} for k, v in eps.items()])
        return created, updated

    def _simple(self, conn: Connection, entity: str, new: list[tuple[SourceRecord, str]],
                changed: list[tuple[SourceRecord, str, int]],
                row_of: Callable[[SourceRecord], dict[str, Any] | None]) -> tuple[list[Any], list[Any]]:
        t = _T[entity]
        rows, keep = [], []
        for rec, h in new:
            row = row_of(rec)
            if row is not None:
                rows.append({"created_at": self.now, **row})
                keep.append((rec, h))
        created = []
        if rows:
            new_ids = conn.execute(insert(t).returning(t.c.id, sort_by_parameter_order=True), rows).scalars()
            created = [(rec.source_id, int(eid), h) for (rec, h), eid in zip(keep, new_ids, strict=True)]
        updated = []
        for rec, h, eid in changed:
            row = row_of(rec)
            if row is not None:
                conn.execute(update(t).where(t.c.id == eid).values(**row))
                updated.append((rec.source_id, eid, h))
        return created, updated

    def _index_procedures(self, conn: Connection, recs: Iterable[SourceRecord]) -> dict[int, int]:
        eids = sorted({self.episode_id[r.parent] for r in recs if r.parent is not None})
        out: dict[int, int] = {}
        for i in range(0, len(eids), 500):
            q = (select(ProcedureRow.episode_id, func.min(ProcedureRow.id))
                 .where(ProcedureRow.episode_id.in_(eids[i:i + 500])).group_by(ProcedureRow.episode_id))
            out.update({int(e): int(p) for e, p in conn.execute(q)})
        return out

    def _proc_date(self, rec: SourceRecord) -> dt.date | None:
        assert rec.parent is not None
        return self.st.episodes[rec.parent].procedure_date

    def _write_complication(self, conn: Connection, new: list[tuple[SourceRecord, str]],
                            changed: list[tuple[SourceRecord, str, int]]) -> tuple[list[Any], list[Any]]:
        index = self._index_procedures(conn, [r for r, _h in new] + [r for r, _h, _e in changed])

        def row(rec: SourceRecord) -> dict[str, Any]:
            c = ComplicationRecord.create(rec.fields, performed_on=self._proc_date(rec))
            assert rec.parent is not None
            eid = self.episode_id[rec.parent]
            return {"episode_id": eid, "procedure_id": index.get(eid), "category": c.category.value,
                    "clavien_dindo": c.clavien_dindo.value, "occurred_on": c.occurred_on, "detail": c.detail}

        return self._simple(conn, "complication", new, changed, row)

    def _write_readmission(self, conn: Connection, new: list[tuple[SourceRecord, str]],
                           changed: list[tuple[SourceRecord, str, int]]) -> tuple[list[Any], list[Any]]:
        def row(rec: SourceRecord) -> dict[str, Any]:
            r = ReadmissionRecord.create(rec.fields, performed_on=self._proc_date(rec))
            assert rec.parent is not None
            return {"episode_id": self.episode_id[rec.parent], "admitted_on": r.admitted_on, "reason": r.reason}

        return self._simple(conn, "readmission", new, changed, row)

    def _write_reoperation(self, conn: Connection, new: list[tuple[SourceRecord, str]],
                           changed: list[tuple[SourceRecord, str, int]]) -> tuple[list[Any], list[Any]]:
        def row(rec: SourceRecord) -> dict[str, Any]:
            r = ReoperationRecord.create(rec.fields, index_date=self._proc_date(rec))
            assert rec.parent is not None
            return {"episode_id": self.episode_id[rec.parent], "performed_on": r.performed_on,
                    "reason": r.reason.value, "levels": format_levels(r.levels) if r.levels else None}

        return self._simple(conn, "reoperation", new, changed, row)

    def _write_response(self, conn: Connection, new: list[tuple[SourceRecord, str]],
                        changed: list[tuple[SourceRecord, str, int]]) -> tuple[list[Any], list[Any]]:
        t = _T["response"]
        # a response at an answered (episode, timepoint, instrument) that is not this source record
        wanted = []
        for rec, _h in new:
            assert rec.parent is not None
            eid = self.episode_id[rec.parent]
            wanted.append((eid, rec.fields.get("timepoint"), rec.fields.get("instrument")))
        taken: set[tuple[Any, ...]] = set()
        for i in range(0, len(wanted), 500):
            part = wanted[i:i + 500]
            taken.update(tuple(r) for r in conn.execute(select(t.c.episode_id, t.c.timepoint, t.c.instrument).where(
                tuple_(t.c.episode_id, t.c.timepoint, t.c.instrument).in_(part))))

        def row(rec: SourceRecord) -> dict[str, Any] | None:
            assert rec.parent is not None
            ep = self.st.episodes[rec.parent]
            r = _response_record(self.st, rec, ep)
            eid = self.episode_id[rec.parent]
            if (eid, r.timepoint.code, r.instrument) in taken and rec.source_id not in changed_ids:
                self._reject_at_write(rec, "response.timepoint", r.timepoint.code,
                                      "a timepoint without a stored response of this instrument",
                                      f"the episode already has a {r.instrument} response at {r.timepoint.code}")
                return None
            score = _score(self.store.eq5d_value_set, r)
            return {"episode_id": eid, "timepoint": r.timepoint.code, "instrument": r.instrument,
                    "instrument_version": score.version, "collected_on": r.collected_on,
                    "days_from_index": r.days_from_index, "answers": dict(r.answers), "score": score.total,
                    "score_detail": score.detail(), "valid": score.valid, "source": "import",
                    "idempotency_key": None}

        changed_ids = {rec.source_id for rec, _h, _e in changed}
        return self._simple(conn, "response", new, changed, row)


class _Abort(Exception):
    """A write-time rule refused a record in an all-or-nothing import: roll everything back."""
