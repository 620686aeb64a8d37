"""The writing pass of an import, for :mod:`spinetrack.store.imports` (pass 3 of its module
docstring): :class:`_Writer` streams the checked records in chunks into SQLAlchemy Core
executemany inserts and updates, remembers each stored row in ``source_records`` (so a re-import
updates instead of duplicating), counts created / updated / unchanged records and appends the
audit rows; :class:`_Abort` rolls an all-or-nothing import back when a rule only the database can
check refuses a record.

Why a module of its own: the writing is the largest part of the import writer and changes for
other reasons than the checks (the schema, the transactions). It imports the records
(:mod:`spinetrack.store.import_records`) and the checks' shared helpers
(:mod:`spinetrack.store.import_check`); only the entry point imports it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, delete, func, insert, select, tuple_, update
from sqlalchemy.orm import Session

from spinetrack.clock import utcnow
from spinetrack.domain.diagnosis import format_levels
from spinetrack.domain.pathway import (
    ComplicationRecord,
    EpisodeRecord,
    ProcedureRecord,
    ReadmissionRecord,
    ReoperationRecord,
)
from spinetrack.store import audit
from spinetrack.store.import_check import _episode_record, _lookup, _response_record, _score
from spinetrack.store.import_records import (
    _RANK,
    ENTITIES,
    MAX_IDS_KEPT,
    PARENT_ENTITY,
    EntityCounts,
    SourceRecord,
    _content_hash,
    _identity,
    _Pass,
    _patient_record,
    _site_code,
    _site_fields,
)
from spinetrack.store.repositories import Store, new_pseudo_id, validate_identity
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
)

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
