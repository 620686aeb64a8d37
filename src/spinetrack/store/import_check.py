"""The checking passes of an import, for :mod:`spinetrack.store.imports` (passes 1 and 2 of its
module docstring): nothing here writes.

:func:`_load_context` reads the follow-up schedule and the existing sites; :func:`_pass_keys`
(pass 1) checks each record's own fields, collects the source ids and keeps the parents' facts;
:func:`_resolve` (between the passes) resolves every reference against the input or the records an
earlier import of the same source stored, and rejects the children of a rejected parent;
:func:`_pass_children` (pass 2) checks the leaf records against their episode and scores each
response as the store would. The helpers the writer shares (:func:`_lookup` of ``source_records``,
:func:`_episode_record`, :func:`_response_record`, :func:`_score`) live here too, so that a record
is read the same way when it is checked and when it is written.

Why a module of its own: the checks are half of the writer's rules and read apart from the
writing; this module imports the records (:mod:`spinetrack.store.import_records`) and is imported
by the writing (:mod:`spinetrack.store.import_write`) and the entry point, never the other way.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from sqlalchemy import Connection, func, select

from spinetrack import instruments
from spinetrack.domain.diagnosis import get_diagnosis, parse_levels
from spinetrack.domain.pathway import (
    ComplicationRecord,
    EpisodeEnd,
    EpisodeRecord,
    ProcedureRecord,
    PromResponseRecord,
    ReadmissionRecord,
    ReoperationRecord,
    Timepoint,
    TreatmentArm,
    check_episode_end,
)
from spinetrack.domain.procedure import ProcedureFamily
from spinetrack.errors import NotFoundError, ValidationError
from spinetrack.store.import_records import (
    _HASHED,
    _LEAVES,
    _RANK,
    ENTITIES,
    PARENT_ENTITY,
    RecordProblem,
    SourceRecord,
    _Episode,
    _identity,
    _Pass,
    _patient_record,
    _site_fields,
)
from spinetrack.store.repositories import SITE_ROLES, Store, validate_identity
from spinetrack.store.tables import (
    EpisodeRow,
    PatientRow,
    ProcedureRow,
    SiteRow,
    SourceRecordRow,
    TimepointRow,
)


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
