"""The queries behind the FHIR server and the FHIR stream: batched, site-scoped, audited.

:mod:`spinetrack.interop.fhir` turns these rows into FHIR resources; this module only reads the
store. Rows are plain dicts (the table's columns plus ``patient_id``, ``site_id`` and
``last_updated``), read in keyset batches (``id > after ORDER BY id LIMIT n``) so that a stream
of the whole store never holds more than one batch.

Who sees what (:func:`scope_for`): clinicians and coordinators their own site, identified;
researchers every site, pseudonymised (the mapper leaves identities, free text and record-keeping
timestamps out); the ``system`` actor (command-line exports) every site, identified unless the
caller asks otherwise; admins and anyone else are refused, as on ``/api/v1``. Another site's
record is simply never found: no query for a clinic role can return it.

Every read and search through :func:`read_one` and :func:`search_page` appends one audit row
(``action="read"``, ``entity`` the store entity, ``detail.fhir`` the interaction) in the same
transaction as the read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, and_, case, false, func, not_, select
from sqlalchemy.orm import Session

from spinetrack.clock import utcnow
from spinetrack.errors import PermissionDeniedError
from spinetrack.store import audit
from spinetrack.store.repositories import SITE_ROLES, Actor, Store
from spinetrack.store.tables import (
    ComplicationRow,
    CorrectionRow,
    EpisodeRow,
    PatientIdentityRow,
    PatientRow,
    ProcedureRow,
    PromResponseRow,
    ReadmissionRow,
    ReoperationRow,
    SiteRow,
    SourceRecordRow,
)

__all__ = [
    "CODE_COLUMNS",
    "DATE_COLUMNS",
    "ENTITIES",
    "Page",
    "RowFilter",
    "count_rows",
    "fetch_rows",
    "iter_rows",
    "read_one",
    "register_sources",
    "scope_for",
    "search_page",
]

ENTITIES: dict[str, type[Any]] = {
    "site": SiteRow, "patient": PatientRow, "episode": EpisodeRow, "procedure": ProcedureRow,
    "complication": ComplicationRow, "readmission": ReadmissionRow, "reoperation": ReoperationRow,
    "response": PromResponseRow,
}
DATE_COLUMNS: dict[str, str] = {
    "episode": "enrolled_on", "procedure": "performed_on", "complication": "occurred_on",
    "readmission": "admitted_on", "reoperation": "performed_on", "response": "collected_on",
}
"""The clinical date of each entity (what FHIR's ``date``-type search parameters compare)."""
CODE_COLUMNS: dict[str, str] = {
    "episode": "diagnosis_code", "procedure": "procedure_code", "complication": "category",
    "reoperation": "reason", "response": "instrument",
}
_CORRECTED = ("episode", "procedure", "complication", "readmission", "reoperation")  # store.corrections entities


@dataclass(frozen=True, slots=True)
class RowFilter:
    """What a search asks of one entity's rows (all conditions must hold).

    ``dates`` and ``updated`` are ``(prefix, low, high)`` triples: the search value as the
    half-open interval ``[low, high)`` and the FHIR comparison prefix (``eq ne lt gt le ge sa
    eb``), compared with the row's clinical date (:data:`DATE_COLUMNS`) and its last update.
    ``codes`` are values of the entity's code column (:data:`CODE_COLUMNS`); an empty tuple
    matches nothing. ``scored`` keeps only PROM responses with a score (the Observations)."""

    ids: tuple[int, ...] | None = None
    patient_ids: tuple[int, ...] | None = None
    codes: tuple[str, ...] | None = None
    dates: tuple[tuple[str, Any, Any], ...] = ()
    updated: tuple[tuple[str, dt.datetime, dt.datetime], ...] = ()
    since: dt.datetime | None = None
    scored: bool = False
    identifier: tuple[str, str] | None = None  # (what, value): code (site), pseudo_id, mrn, mrn@<site code>, id
    nothing: bool = False  # a search value that no row can match (e.g. an id of another form)


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a search: ``rows`` as ``(entity, row)``, the ``total`` over every page, and
    the cursor of the next page (``None`` on the last)."""

    rows: list[tuple[str, dict[str, Any]]]
    total: int
    next_cursor: tuple[int, int] | None
    parts: tuple[str, ...] = field(default=())


def scope_for(actor: Actor) -> tuple[int | None, bool]:
    """``(site_id, identified)`` for ``actor``: clinic roles their own site with identities,
    researchers every site pseudonymised, ``system`` every site identified; others refused."""
    if actor.role in SITE_ROLES:
        if actor.site_id is None:
            raise PermissionDeniedError("this account is not attached to a site", role=actor.role)
        return actor.site_id, True
    if actor.role == "researcher":
        return None, False
    if actor.role == "system":
        return None, True
    raise PermissionDeniedError(f"role {actor.role!r} has no access to patient-level data", role=actor.role)


# ------------------------------------------------------------------------------ building queries


def _last_updated(entity: str, table: Any) -> ColumnElement[Any]:
    """The row's last update: its ``created_at``, or the newest correction of it (for the
    patient, the newest change of its identity)."""
    if entity in _CORRECTED:
        newest = (select(func.max(CorrectionRow.corrected_at))
                  .where(CorrectionRow.entity == entity, CorrectionRow.entity_id == table.id)
                  .correlate(table).scalar_subquery())
    elif entity == "patient":
        newest = (select(PatientIdentityRow.updated_at).where(PatientIdentityRow.patient_id == table.id)
                  .correlate(table).scalar_subquery())
    else:
        return table.created_at
    return case((and_(newest.is_not(None), newest > table.created_at), newest), else_=table.created_at)


def _compare(col: Any, prefix: str, low: Any, high: Any) -> ColumnElement[bool]:
    """``col`` (a point, or a day read as the interval of that day) against the search interval
    ``[low, high)`` under a FHIR prefix (https://hl7.org/fhir/R4/search.html#prefix)."""
    if prefix == "eq":
        return and_(col >= low, col < high)
    if prefix == "ne":
        return not_(and_(col >= low, col < high))
    if prefix in ("lt", "eb"):
        return col < low
    if prefix in ("gt", "sa"):
        return col >= high
    if prefix == "le":
        return col < high
    if prefix == "ge":
        return col >= low
    raise ValueError(f"unknown prefix {prefix!r}")


def _base(entity: str, site_id: int | None, identified: bool) -> tuple[Any, Any, Any]:
    """``(table, select, patient id column)`` with the columns the mappers need, joined to the
    patient (for the site) and scoped to ``site_id``."""
    table = ENTITIES[entity]
    updated = _last_updated(entity, table).label("last_updated")
    if entity == "site":
        stmt = select(*table.__table__.c, updated)
        if site_id is not None:
            stmt = stmt.where(table.id == site_id)
        return table, stmt, None
    if entity == "patient":
        cols: list[Any] = [*table.__table__.c, updated, SiteRow.code.label("site_code")]
        stmt = select(*cols).join(SiteRow, SiteRow.id == table.site_id)
        if identified:
            ident = PatientIdentityRow
            stmt = stmt.add_columns(ident.full_name, ident.mrn, ident.email, ident.phone, ident.language) \
                .outerjoin(ident, ident.patient_id == table.id)
        pid = table.id
    elif entity == "episode":
        stmt = (select(*table.__table__.c, updated, PatientRow.site_id)
                .join(PatientRow, PatientRow.id == table.patient_id))
        pid = table.patient_id
    else:
        extra: list[Any] = []
        if entity == "reoperation":  # the index procedure of the episode (what the reoperation follows)
            extra.append(select(ProcedureRow.id).where(ProcedureRow.episode_id == table.episode_id)
                         .order_by(ProcedureRow.performed_on, ProcedureRow.id).limit(1)
                         .correlate(table).scalar_subquery().label("index_procedure_id"))
        stmt = (select(*(c for c in table.__table__.c if c.key != "idempotency_key"), updated,
                       EpisodeRow.patient_id, PatientRow.site_id, *extra)
                .join(EpisodeRow, EpisodeRow.id == table.episode_id)
                .join(PatientRow, PatientRow.id == EpisodeRow.patient_id))
        pid = EpisodeRow.patient_id
    if site_id is not None:
        stmt = stmt.where(PatientRow.site_id == site_id)
    return table, stmt, pid


def _filtered(entity: str, site_id: int | None, identified: bool, flt: RowFilter) -> tuple[Any, Any]:
    table, stmt, pid = _base(entity, site_id, identified)
    conds: list[ColumnElement[bool]] = []
    if flt.nothing or (flt.codes is not None and not flt.codes) or (flt.ids is not None and not flt.ids) \
            or (flt.patient_ids is not None and not flt.patient_ids):
        conds.append(false())
    if flt.ids:
        conds.append(table.id.in_(flt.ids))
    if flt.patient_ids:
        if pid is None:
            conds.append(false())
        else:
            conds.append(pid.in_(flt.patient_ids))
    if flt.codes:
        conds.append(getattr(table, CODE_COLUMNS[entity]).in_(flt.codes))
    for prefix, low, high in flt.dates:
        conds.append(_compare(getattr(table, DATE_COLUMNS[entity]), prefix, low, high))
    upd = _last_updated(entity, table)
    for prefix, low, high in flt.updated:
        conds.append(_compare(upd, prefix, low, high))
    if flt.since is not None:
        conds.append(upd >= flt.since)
    if flt.identifier is not None:
        conds.append(_identifier(entity, identified, *flt.identifier))
    if flt.scored:
        conds.append(and_(PromResponseRow.score.is_not(None), PromResponseRow.valid.is_(True)))
    if conds:
        stmt = stmt.where(*conds)
    return table, stmt


def _identifier(entity: str, identified: bool, what: str, value: str) -> ColumnElement[bool]:
    """An identifier search: a site by code; a patient by hospital number (optionally of one
    site, by its code) or store pseudo id (identified scopes only), or by row id (its key)."""
    if entity == "site" and what == "code":
        return SiteRow.code == value
    if entity == "patient" and what == "id" and value.isdigit():
        return PatientRow.id == int(value)
    if entity == "patient" and identified:
        if what == "pseudo_id":
            return PatientRow.pseudo_id == value
        if what == "mrn":
            return PatientIdentityRow.mrn == value
        if what.startswith("mrn@"):
            return and_(PatientIdentityRow.mrn == value, SiteRow.code == what[4:])
    return false()


def fetch_rows(s: Session, entity: str, *, site_id: int | None, identified: bool, flt: RowFilter | None = None,
               after: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
    """At most ``limit`` rows of ``entity`` with ``id > after``, in id order (not audited:
    callers audit, see :func:`read_one`, :func:`search_page`)."""
    table, stmt = _filtered(entity, site_id, identified, flt or RowFilter())
    stmt = stmt.where(table.id > after).order_by(table.id).limit(limit)
    return [dict(r) for r in s.execute(stmt).mappings()]


def count_rows(s: Session, entity: str, *, site_id: int | None, identified: bool, flt: RowFilter | None = None) -> int:
    _, stmt = _filtered(entity, site_id, identified, flt or RowFilter())
    return int(s.execute(select(func.count()).select_from(stmt.subquery())).scalar_one())


def iter_rows(store: Store, entity: str, *, site_id: int | None, identified: bool, flt: RowFilter | None = None,
              batch: int = 1000) -> Iterator[dict[str, Any]]:
    """Every row of ``entity`` in the scope, in id order, one short transaction per batch of
    ``batch`` rows (bounded memory; no transaction is held open while the caller works)."""
    after = 0
    while True:
        with store.transaction() as s:
            rows = fetch_rows(s, entity, site_id=site_id, identified=identified, flt=flt, after=after, limit=batch)
        if not rows:
            return
        yield from rows
        if len(rows) < batch:
            return
        after = int(rows[-1]["id"])


# ------------------------------------------------------------------------------ audited reads


def _audit(s: Session, actor: Actor, entity: str, entity_id: Any, patient_id: int | None,
           detail: dict[str, Any]) -> None:
    audit.append(s, actor=actor.name, actor_role=actor.role, action="read", entity=entity, entity_id=entity_id,
                 patient_id=patient_id, detail=detail)


def read_one(store: Store, actor: Actor, entity: str, row_id: int, *, resource_type: str,
             flt: RowFilter | None = None) -> dict[str, Any] | None:
    """One row by id within the actor's scope (``None``: no such row, or not the actor's —
    the two are not told apart). Audited when found."""
    site_id, identified = scope_for(actor)
    base = flt or RowFilter()
    with store.transaction() as s:
        rows = fetch_rows(s, entity, site_id=site_id, identified=identified,
                          flt=RowFilter(ids=(row_id,), scored=base.scored), limit=1)
        if not rows:
            return None
        row = rows[0]
        _audit(s, actor, entity, row["id"], row.get("patient_id") if entity != "patient" else row["id"],
               {"fhir": "read", "type": resource_type})
        return row


def search_page(store: Store, actor: Actor, parts: Sequence[tuple[str, RowFilter]], *, resource_type: str,
                cursor: tuple[int, int] | None, count: int, query: str = "") -> Page:
    """One page of a search over one or more entities (a FHIR type can gather several: a
    Procedure is an index procedure or a reoperation). Entities are paged in the order of
    ``parts``, each by id; ``cursor`` is ``(part index, last id)`` of the previous page.
    ``count`` 0 answers the total only. Audited: one row naming the type, the query and the
    number of records returned (and the patient when the search names exactly one)."""
    site_id, identified = scope_for(actor)
    part, after = cursor or (0, 0)
    out: list[tuple[str, dict[str, Any]]] = []
    next_cursor: tuple[int, int] | None = None
    with store.transaction() as s:
        total = sum(count_rows(s, e, site_id=site_id, identified=identified, flt=f) for e, f in parts)
        i = part
        while count > 0 and i < len(parts):
            entity, flt = parts[i]
            want = count - len(out) + 1  # one more than fits: tells whether another page follows
            rows = fetch_rows(s, entity, site_id=site_id, identified=identified, flt=flt, after=after, limit=want)
            for row in rows:
                if len(out) == count:
                    next_cursor = (i, int(out[-1][1]["id"])) if out[-1][0] == entity else (i, 0)
                    break
                out.append((entity, row))
            if next_cursor is not None:
                break
            if len(out) == count:  # this part is exhausted exactly: is there anything after it?
                later = any(count_rows(s, e, site_id=site_id, identified=identified, flt=f) for e, f in parts[i + 1:])
                next_cursor = (i + 1, 0) if later else None
                break
            i, after = i + 1, 0
        patients = {r.get("patient_id") if e != "patient" else r.get("id") for e, r in out}
        only = next(iter(patients)) if len(patients) == 1 else None
        _audit(s, actor, parts[0][0] if parts else resource_type.lower(), None, only,
               {"fhir": "search", "type": resource_type, "query": query[:500], "n": len(out), "total": total})
    return Page(out, total, next_cursor, tuple(e for e, _ in parts))


# ------------------------------------------------------------------------------ references for writes


def register_sources(store: Store, actor: Actor, source_system: str,
                     refs: Sequence[tuple[str, int, str]]) -> list[tuple[str, int, str]]:
    """Make stored rows referable by their FHIR id in imports of ``source_system``.

    The FHIR server writes through the import writer (:func:`spinetrack.store.imports.write_records`),
    which finds a parent that is not in the input among the records earlier imports of the same
    source stored (``source_records``). A resource created over FHIR may refer to any patient or
    episode of the caller's site (``Patient/p-17``), so each such row is entered there under its
    FHIR id (``entity``, row id, source id), once. Rows outside the caller's scope are not entered
    and are returned (the caller reports them as unknown references)."""
    site_id, identified = scope_for(actor)
    if not identified:
        raise PermissionDeniedError(f"role {actor.role!r} may not write patient records", role=actor.role)
    missing: list[tuple[str, int, str]] = []
    with store.transaction() as s:
        for entity, row_id, source_id in dict.fromkeys(refs):
            if not fetch_rows(s, entity, site_id=site_id, identified=True, flt=RowFilter(ids=(row_id,)), limit=1):
                missing.append((entity, row_id, source_id))
                continue
            known = s.execute(select(SourceRecordRow.id).where(
                SourceRecordRow.source_system == source_system, SourceRecordRow.entity == entity,
                SourceRecordRow.source_id == source_id)).first()
            if known is None:
                now = utcnow()
                s.add(SourceRecordRow(source_system=source_system, entity=entity, source_id=source_id,
                                      entity_id=row_id, content_hash=None, created_at=now, updated_at=now))
    return missing
