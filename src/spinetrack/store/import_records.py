"""The records an import carries and the state its passes share, for :mod:`spinetrack.store.imports`.

Holds the public vocabulary of the import writer — :class:`SourceRecord` (one record in, in our
field names), :class:`RecordProblem` (one reason a record was refused), :class:`EntityCounts` and
:class:`ImportResult` (what an import did) and the constants naming the record kinds
(:data:`ENTITIES`, :data:`PARENT_ENTITY`, :data:`IDENTITY_FIELDS`) — and the private state the three
passes share: :class:`_Episode` (what an episode's children are checked against), :class:`_Facts`
(facts per source id that move to a scratch SQLite file past a threshold) and :class:`_Pass` (keys,
facts, rejections and problems), with the small helpers that turn a record's fields into the
domain's records.

Why a module of its own: the checks (:mod:`spinetrack.store.import_check`) and the writing
(:mod:`spinetrack.store.import_write`) both need these and nothing else of each other's, so they
sit at the bottom of the import modules and import neither (the sibling modules stay acyclic).
:mod:`spinetrack.store.imports` re-exports the public names, which is where callers import them from.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import pickle
import sqlite3
from array import array
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from spinetrack.domain import check_text
from spinetrack.domain.pathway import (
    EpisodeRecord,
    PatientRecord,
    ProcedureRecord,
    Timepoint,
)
from spinetrack.errors import ValidationError
from spinetrack.store.repositories import Actor

__all__ = [
    "ENTITIES",
    "IDENTITY_FIELDS",
    "MAX_ERRORS_KEPT",
    "MAX_IDS_KEPT",
    "PARENT_ENTITY",
    "EntityCounts",
    "ImportResult",
    "RecordProblem",
    "SourceRecord",
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
    (the standard library's, a private temporary file) once it holds more than ``spill_at``
    entries (:data:`spinetrack.store.imports.SPILL_AT`, read when the import starts), so that
    memory stays flat however many patients an import holds. Values are pickled; a value read is a
    copy, so a changed value is written back (``facts[key] = value``)."""

    def __init__(self, spill_at: int) -> None:
        self._mem: dict[str, Any] | None = {}
        self._db: sqlite3.Connection | None = None
        self._spill_at = spill_at

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
            if len(self._mem) > self._spill_at:
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
    spill_at: int  # patients or episodes beyond which their facts move to a scratch file (_Facts)
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
    patient_site: _Facts = field(init=False)  # patient sid -> its site as given
    episodes: _Facts = field(init=False)  # episode sid -> _Episode
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

    def __post_init__(self) -> None:
        self.patient_site = _Facts(self.spill_at)
        self.episodes = _Facts(self.spill_at)

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
