"""The one writer of every import (CSV, REDCap, FHIR files, and the FHIR server's create and
transaction interactions): validate everything first, then store, idempotently and audited.

:func:`write_records` takes :class:`SourceRecord` objects (our field names and codes, each with
its source id, its parent's source id and where it came from) and works in three passes over
them, so that memory holds keys and a few facts per parent, never whole rows:

1. **keys** — every record's own fields are checked with the domain rules
   (:mod:`spinetrack.domain.pathway`); source ids are collected (a repeated one is an error);
   for the parents (sites, patients, episodes) the facts their children are checked against are
   kept (an episode's treatment, levels and dates, and its procedures' date). Patients' and
   episodes' facts move to a scratch SQLite file past :data:`SPILL_AT` entries
   (:class:`~spinetrack.store.import_records._Facts`);
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

Where the parts live: this module is the entry (:func:`write_records`, which runs the passes);
the records and the state the passes share are in :mod:`spinetrack.store.import_records`, the
checking passes in :mod:`spinetrack.store.import_check`, the writing pass in
:mod:`spinetrack.store.import_write`. The public names are re-exported here: import them from
this module.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Final

from spinetrack.errors import PermissionDeniedError, ValidationError
from spinetrack.store.import_check import EPISODE_END_FIELDS as EPISODE_END_FIELDS
from spinetrack.store.import_check import _load_context, _pass_children, _pass_keys, _resolve
from spinetrack.store.import_records import (
    ENTITIES,
    IDENTITY_FIELDS,
    MAX_ERRORS_KEPT,
    MAX_IDS_KEPT,
    PARENT_ENTITY,
    EntityCounts,
    ImportResult,
    RecordProblem,
    SourceRecord,
    _Pass,
)
from spinetrack.store.import_write import _Writer
from spinetrack.store.repositories import SITE_ROLES, Actor, Store

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

CHUNK_SIZE: Final = 5000
#: Patients or episodes beyond which their facts move from memory to a scratch SQLite file.
SPILL_AT = 20_000


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
               value_set=store.eq5d_value_set, spill_at=SPILL_AT)
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
