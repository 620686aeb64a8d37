"""Read-side queries of the clinic pages: one patient's record and PROM timeline, and the
aggregates behind the clinic overview (outcomes by treatment, follow-up completeness,
complications), plus the admin's views of sites and the audit log.

Two kinds of read, two sets of rules:

* **Patient-level** (:meth:`Queries.patient_record`, :meth:`Queries.patient_timeline`): the
  actor is checked with :func:`~spinetrack.store.repositories.authorize_patient` (another
  site's patient is "not found"; researchers and admins are refused) and one audit row is
  appended in the same transaction.
* **Aggregates** (:meth:`Queries.outcome_summary`, :meth:`Queries.followup_completeness`,
  :meth:`Queries.complication_table`): only counts, medians and quartiles leave this module,
  never a patient id, name or free text. Scope and small-cell suppression are decided here, not
  by the caller:

  - clinicians and coordinators: their own site (``site_id=actor.site_id``, suppression as
    asked, e.g. ``min_n=1``) or the whole registry (``site_id=None``) with suppression;
  - researchers: the whole registry or any one site, always with suppression;
  - admins and patients: refused.

  Suppression (spinetrack's rule, ``SMALL_CELL_MIN`` = 5, configurable per call upwards only):
  a count between 1 and ``min_n - 1`` is returned as ``None`` (shown "<5"), and a statistic
  computed from such a cell (median, quartiles, a rate whose numerator or remainder is
  suppressed) is returned as ``None`` too, so that it cannot be recomputed from its neighbours.
  Each aggregate call appends one audit row (action ``read``, entity ``aggregate``).

Statistics. Medians and quartiles are the linear-interpolation quantiles (Hyndman & Fan type 7,
numpy's default ``np.percentile``); on PostgreSQL they are computed in the database with
``percentile_cont`` (the same definition), on SQLite in numpy from the sorted scores of each
cell. Only valid scores count (``prom_responses.valid``). A cell is one (instrument, treatment
arm, timepoint); its ``n`` counts episodes (an episode has at most one response per instrument
and timepoint).

Follow-up completeness at a timepoint (spinetrack's definition, stated on the page): an
episode *completed* the timepoint when any PROM response is stored for it; it *missed* it when
the timepoint's window has closed (index date + ``window_to_days`` < today) without one;
it is *pending* while the window is open (for baseline: also while the episode has no index
date yet). Completeness = completed / (completed + missed). Episodes whose window has not
opened yet are not counted.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, and_, case, exists, func, or_, select
from sqlalchemy.orm import Session

from spinetrack import clock
from spinetrack.domain.comparisons import APPROACHES, TREATMENTS
from spinetrack.domain.complications import ClavienDindo, ComplicationCategory
from spinetrack.errors import NotFoundError, PermissionDeniedError, ValidationError
from spinetrack.instruments import Listing, listed
from spinetrack.instruments import get as get_instrument
from spinetrack.store import audit
from spinetrack.store.audit import ChainVerification
from spinetrack.store.repositories import SITE_ROLES, SYSTEM, Actor, Store, authorize_patient
from spinetrack.store.session import read_only
from spinetrack.store.tables import (
    AuditRow,
    ComplicationRow,
    EpisodeRow,
    ImagingFindingRow,
    InvitationRow,
    PatientRow,
    ProcedureRow,
    PromResponseRow,
    ReadmissionRow,
    ReoperationRow,
    SiteRow,
    TimepointRow,
    UserRow,
)

__all__ = [
    "SMALL_CELL_MIN",
    "TIMELINE_INSTRUMENTS",
    "TREATMENTS",
    "AuditEntry",
    "AuditPage",
    "CompletenessRow",
    "CompletenessTable",
    "ComplicationTable",
    "OutcomeCell",
    "OutcomeTable",
    "Queries",
    "TimelinePoint",
]

SMALL_CELL_MIN = 5
TIMELINE_INSTRUMENTS: tuple[str, ...] = listed(Listing.TIMELINE)
QUANTILE_METHOD = "linear interpolation (Hyndman & Fan type 7; numpy default, PostgreSQL percentile_cont)"


# ------------------------------------------------------------------------------ result types


@dataclass(frozen=True, slots=True)
class TimelinePoint:
    """One scored PROM response of one patient."""

    episode_id: int
    instrument: str
    timepoint: str
    collected_on: dt.date
    days_from_index: int | None
    score: float | None
    valid: bool


@dataclass(frozen=True, slots=True)
class OutcomeCell:
    """Median and interquartile range of one instrument, treatment arm and timepoint.

    ``n`` is ``None`` when suppressed (1 to ``min_n - 1`` episodes); ``median``, ``q1`` and
    ``q3`` are ``None`` then too. Cells with no responses are not listed.
    """

    instrument: str
    treatment: str
    timepoint: str
    target_days: int
    n: int | None
    median: float | None
    q1: float | None
    q3: float | None

    @property
    def suppressed(self) -> bool:
        return self.n is None


@dataclass(frozen=True, slots=True)
class OutcomeTable:
    """Outcome cells for a scope (``site_id`` or the registry when ``None``)."""

    site_id: int | None
    min_n: int
    cells: tuple[OutcomeCell, ...]
    method: str = QUANTILE_METHOD

    def for_instrument(self, instrument: str, treatment: str | None = None) -> list[OutcomeCell]:
        return [c for c in self.cells if c.instrument == instrument and (treatment is None or c.treatment == treatment)]

    def cell(self, instrument: str, treatment: str, timepoint: str) -> OutcomeCell | None:
        for c in self.cells:
            if (c.instrument, c.treatment, c.timepoint) == (instrument, treatment, timepoint):
                return c
        return None


@dataclass(frozen=True, slots=True)
class CompletenessRow:
    timepoint: str
    label: str
    completed: int | None
    missed: int | None
    pending: int | None
    rate: float | None  # completed / (completed + missed); None when nothing is due or suppressed


@dataclass(frozen=True, slots=True)
class CompletenessTable:
    site_id: int | None
    min_n: int
    as_of: dt.date
    rows: tuple[CompletenessRow, ...]


@dataclass(frozen=True, slots=True)
class ComplicationTable:
    """Complications by approach × category × Clavien–Dindo grade, with the number of
    procedures per approach as denominator. ``None`` = suppressed count."""

    site_id: int | None
    min_n: int
    approaches: tuple[str, ...]
    categories: tuple[str, ...]
    grades: tuple[str, ...]
    procedures: dict[str, int | None]
    counts: dict[tuple[str, str, str], int | None]
    totals: dict[str, int | None]  # complications per approach
    with_any: dict[str, int | None]  # procedures with at least one complication, per approach

    def count(self, approach: str, category: str, grade: str) -> int | None:
        return self.counts.get((approach, category, grade), 0)

    def rate(self, approach: str) -> float | None:
        """Procedures with ≥ 1 complication per procedure (None when suppressed or no procedures)."""
        n, k = self.procedures.get(approach), self.with_any.get(approach)
        if not n or k is None:
            return None
        return k / n


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: dt.datetime
    actor: str
    actor_role: str
    action: str
    entity: str
    entity_id: str | None
    patient_id: int | None
    detail: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class AuditPage:
    total: int
    limit: int
    offset: int
    items: tuple[AuditEntry, ...] = field(default_factory=tuple)


# ------------------------------------------------------------------------------ helpers


def _suppress(n: int, min_n: int) -> int | None:
    """A count as it may be shown: 0 and counts ≥ ``min_n`` as they are, others ``None``."""
    return n if n == 0 or n >= min_n else None


def _quartiles(values: Sequence[float]) -> tuple[float, float, float]:
    q1, med, q3 = np.percentile(np.asarray(values, dtype=np.float64), [25.0, 50.0, 75.0])
    return float(med), float(q1), float(q3)


def _row_dict(row: Any, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    return {c.key: getattr(row, c.key) for c in row.__table__.columns if c.key not in exclude}


class Queries:
    """Read-side queries over a :class:`Store` (its engine and transactions)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -------------------------------------------------------------------------- scope

    @staticmethod
    def _aggregate_scope(actor: Actor, site_id: int | None, min_n: int) -> int:
        """Check who may see aggregates of this scope; return the suppression threshold."""
        if isinstance(min_n, bool) or not isinstance(min_n, int) or min_n < 1:
            raise ValidationError(field="min_n", value=min_n, allowed="a whole number of at least 1")
        if actor.role == "system":
            return min_n
        if actor.role in SITE_ROLES:
            if site_id is None:
                return max(min_n, SMALL_CELL_MIN)
            if site_id != actor.site_id:
                raise NotFoundError(entity="site", key=site_id)
            return min_n
        if actor.role == "researcher":
            return max(min_n, SMALL_CELL_MIN)
        raise PermissionDeniedError(f"role {actor.role!r} has no access to clinical aggregates", role=actor.role)

    @staticmethod
    def _audit_aggregate(s: Session, actor: Actor, query: str, site_id: int | None, min_n: int,
                         **extra: Any) -> None:
        audit.append(s, actor=actor.name, actor_role=actor.role, action="read", entity="aggregate", entity_id=query,
                     detail={"site_id": site_id, "min_n": min_n, **extra})

    @staticmethod
    def _require_admin(actor: Actor, what: str) -> None:
        if actor.role not in ("admin", "system"):
            raise PermissionDeniedError(f"only an admin may see {what}", role=actor.role)

    # -------------------------------------------------------------------------- patient level

    def patient_record(self, actor: Actor, patient_id: int) -> dict[str, Any]:
        """The clinical record of one patient: the patient row and every episode with its
        imaging findings, procedures, complications, readmissions, reoperations and invitations
        (never the invitation tokens). One audit row (``read`` ``patient``)."""
        with self.store.transaction() as s:
            p = s.get(PatientRow, patient_id)
            if p is None:
                raise NotFoundError(entity="patient", key=patient_id)
            authorize_patient(actor, p.id, p.site_id)
            out = _row_dict(p)
            episodes = s.execute(select(EpisodeRow).where(EpisodeRow.patient_id == patient_id)
                                 .order_by(EpisodeRow.enrolled_on, EpisodeRow.id)).scalars().all()
            ids = [e.id for e in episodes]

            def by_episode(table: Any, order: Any) -> dict[int, list[dict[str, Any]]]:
                rows = s.execute(select(table).where(table.episode_id.in_(ids)).order_by(order, table.id)).scalars()
                grouped: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
                for r in rows:
                    grouped[r.episode_id].append(_row_dict(r, ("token_hash", "patient_session_hash", "patient_csrf")))
                return grouped

            findings = by_episode(ImagingFindingRow, ImagingFindingRow.level)
            procedures = by_episode(ProcedureRow, ProcedureRow.performed_on)
            complications = by_episode(ComplicationRow, ComplicationRow.occurred_on)
            readmissions = by_episode(ReadmissionRow, ReadmissionRow.admitted_on)
            reoperations = by_episode(ReoperationRow, ReoperationRow.performed_on)
            invitations = by_episode(InvitationRow, InvitationRow.created_at)
            out["episodes"] = [
                {**_row_dict(e), "imaging_findings": findings[e.id], "procedures": procedures[e.id],
                 "complications": complications[e.id], "readmissions": readmissions[e.id],
                 "reoperations": reoperations[e.id], "invitations": invitations[e.id]}
                for e in episodes
            ]
            audit.append(s, actor=actor.name, actor_role=actor.role, action="read", entity="patient",
                         entity_id=patient_id, patient_id=patient_id,
                         detail={"view": "record", "episodes": len(episodes)})
            return out

    def patient_timeline(self, actor: Actor, patient_id: int,
                         instruments: Sequence[str] = TIMELINE_INSTRUMENTS) -> tuple[TimelinePoint, ...]:
        """The patient's scored responses of ``instruments`` over all episodes, ordered by
        episode, date and instrument. One audit row (``read`` ``prom_response``)."""
        with self.store.transaction() as s:
            p = s.get(PatientRow, patient_id)
            if p is None:
                raise NotFoundError(entity="patient", key=patient_id)
            authorize_patient(actor, p.id, p.site_id)
            rows = s.execute(
                select(PromResponseRow.episode_id, PromResponseRow.instrument, PromResponseRow.timepoint,
                       PromResponseRow.collected_on, PromResponseRow.days_from_index, PromResponseRow.score,
                       PromResponseRow.valid)
                .join(EpisodeRow, EpisodeRow.id == PromResponseRow.episode_id)
                .where(EpisodeRow.patient_id == patient_id, PromResponseRow.instrument.in_(list(instruments)))
                .order_by(PromResponseRow.episode_id, PromResponseRow.collected_on, PromResponseRow.instrument)
            ).all()
            points = tuple(TimelinePoint(r.episode_id, r.instrument, r.timepoint, r.collected_on, r.days_from_index,
                                         None if r.score is None else float(r.score), bool(r.valid)) for r in rows)
            audit.append(s, actor=actor.name, actor_role=actor.role, action="read", entity="prom_response",
                         entity_id=None, patient_id=patient_id,
                         detail={"view": "timeline", "n": len(points), "instruments": list(instruments)})
            return points

    # -------------------------------------------------------------------------- aggregates

    def outcome_summary(self, actor: Actor, instruments: Iterable[str] = TIMELINE_INSTRUMENTS, *,
                        site_id: int | None = None, min_n: int = SMALL_CELL_MIN) -> OutcomeTable:
        """Median and quartiles of each instrument's valid scores by treatment arm and timepoint,
        over one site or (``site_id=None``) the whole registry. A patient sees the registry's
        (cells under ``SMALL_CELL_MIN`` suppressed): the band behind their own results."""
        codes = list(dict.fromkeys(instruments))
        for code in codes:
            get_instrument(code, "instruments")
        if actor.role == "patient" and site_id is None:
            min_n = max(self._aggregate_scope(SYSTEM, None, min_n), SMALL_CELL_MIN)
        else:
            min_n = self._aggregate_scope(actor, site_id, min_n)
        with self.store.transaction() as s:
            targets = dict(s.execute(select(TimepointRow.code, TimepointRow.target_days)).all())
            position = dict(s.execute(select(TimepointRow.code, TimepointRow.position)).all())
            keys = (PromResponseRow.instrument, EpisodeRow.treatment, PromResponseRow.timepoint)
            where: list[ColumnElement[bool]] = [PromResponseRow.instrument.in_(codes), PromResponseRow.valid.is_(True),
                     PromResponseRow.score.is_not(None), EpisodeRow.treatment.is_not(None)]
            if site_id is not None:
                where.append(PatientRow.site_id == site_id)

            def scoped(stmt: Any) -> Any:
                stmt = stmt.select_from(PromResponseRow).join(EpisodeRow, EpisodeRow.id == PromResponseRow.episode_id)
                if site_id is not None:
                    stmt = stmt.join(PatientRow, PatientRow.id == EpisodeRow.patient_id)
                return stmt.where(*where)

            raw: list[tuple[str, str, str, int, float, float, float]] = []
            if s.get_bind().dialect.name == "postgresql":
                score = PromResponseRow.score
                stmt = scoped(select(*keys, func.count(score), func.percentile_cont(0.5).within_group(score),
                                     func.percentile_cont(0.25).within_group(score),
                                     func.percentile_cont(0.75).within_group(score))).group_by(*keys)
                raw = [(i, t, tp, int(n), float(m), float(a), float(b)) for i, t, tp, n, m, a, b in s.execute(stmt)]
            else:
                stmt = scoped(select(*keys, PromResponseRow.score)).order_by(*keys, PromResponseRow.score)
                for key, group in itertools.groupby(s.execute(stmt), key=lambda r: (r[0], r[1], r[2])):
                    values = [float(r[3]) for r in group]
                    med, q1, q3 = _quartiles(values)
                    raw.append((*key, len(values), med, q1, q3))
            cells = []
            for inst, treat, tp, n, med, q1, q3 in sorted(
                    raw, key=lambda r: (codes.index(r[0]), _order(TREATMENTS, r[1]), position.get(r[2], 99))):
                shown = _suppress(n, min_n)
                cells.append(OutcomeCell(inst, treat, tp, int(targets.get(tp, 0)), shown,
                                         med if shown else None, q1 if shown else None, q3 if shown else None))
            self._audit_aggregate(s, actor, "outcome_summary", site_id, min_n, instruments=codes)
            return OutcomeTable(site_id, min_n, tuple(cells))

    def followup_completeness(self, actor: Actor, *, site_id: int | None = None, today: dt.date | None = None,
                              min_n: int = SMALL_CELL_MIN) -> CompletenessTable:
        """Completed, missed and pending episodes per timepoint (see the module docstring)."""
        min_n = self._aggregate_scope(actor, site_id, min_n)
        today = today or clock.today()
        with self.store.transaction() as s:
            rows = []
            for tp in s.execute(select(TimepointRow).order_by(TimepointRow.position)).scalars().all():
                responded = exists().where(PromResponseRow.episode_id == EpisodeRow.id,
                                           PromResponseRow.timepoint == tp.code)
                closed = and_(EpisodeRow.index_date.is_not(None),
                              EpisodeRow.index_date < today - dt.timedelta(days=tp.window_to_days))
                is_open = and_(EpisodeRow.index_date >= today - dt.timedelta(days=tp.window_to_days),
                               EpisodeRow.index_date <= today - dt.timedelta(days=tp.window_from_days))
                if tp.target_days == 0 and tp.window_to_days <= 0:  # baseline: open until the index date
                    is_open = or_(EpisodeRow.index_date.is_(None), is_open)
                stmt = select(func.count(case((responded, 1))),
                              func.count(case((and_(~responded, closed), 1))),
                              func.count(case((and_(~responded, is_open), 1)))).select_from(EpisodeRow)
                if site_id is not None:
                    stmt = stmt.join(PatientRow, PatientRow.id == EpisodeRow.patient_id).where(
                        PatientRow.site_id == site_id)
                done, missed, pending = (int(x) for x in s.execute(stmt).one())
                c, m, p = _suppress(done, min_n), _suppress(missed, min_n), _suppress(pending, min_n)
                rate = done / (done + missed) if (done + missed) and c is not None and m is not None else None
                rows.append(CompletenessRow(tp.code, tp.label, c, m, p, rate))
            self._audit_aggregate(s, actor, "followup_completeness", site_id, min_n, as_of=today.isoformat())
            return CompletenessTable(site_id, min_n, today, tuple(rows))

    def complication_table(self, actor: Actor, *, site_id: int | None = None,
                           min_n: int = SMALL_CELL_MIN) -> ComplicationTable:
        """Complications by approach (MIS / open) × category × Clavien–Dindo grade."""
        min_n = self._aggregate_scope(actor, site_id, min_n)
        with self.store.transaction() as s:
            def scoped(stmt: Any) -> Any:
                if site_id is None:
                    return stmt
                return (stmt.join(EpisodeRow, EpisodeRow.id == ProcedureRow.episode_id)
                        .join(PatientRow, PatientRow.id == EpisodeRow.patient_id).where(PatientRow.site_id == site_id))

            n_proc = dict(s.execute(scoped(select(ProcedureRow.approach, func.count(ProcedureRow.id))
                                           .select_from(ProcedureRow)).group_by(ProcedureRow.approach)).all())
            comp = scoped(select(ProcedureRow.approach, ComplicationRow.category, ComplicationRow.clavien_dindo,
                                 func.count(ComplicationRow.id)).select_from(ComplicationRow)
                          .join(ProcedureRow, ProcedureRow.id == ComplicationRow.procedure_id))
            counts_raw = s.execute(comp.group_by(ProcedureRow.approach, ComplicationRow.category,
                                                 ComplicationRow.clavien_dindo)).all()
            any_raw = dict(s.execute(scoped(
                select(ProcedureRow.approach, func.count(func.distinct(ProcedureRow.id))).select_from(ComplicationRow)
                .join(ProcedureRow, ProcedureRow.id == ComplicationRow.procedure_id)).group_by(ProcedureRow.approach)
            ).all())
            self._audit_aggregate(s, actor, "complication_table", site_id, min_n)
        counts: dict[tuple[str, str, str], int | None] = {}
        totals: dict[str, int] = dict.fromkeys(APPROACHES, 0)
        categories = [c.value for c in ComplicationCategory]
        for approach, cat, grade, n in counts_raw:
            counts[(approach, cat, grade)] = _suppress(int(n), min_n)
            totals[approach] = totals.get(approach, 0) + int(n)
            if cat not in categories:
                categories.append(cat)
        return ComplicationTable(
            site_id=site_id, min_n=min_n, approaches=APPROACHES, categories=tuple(categories),
            grades=tuple(g.value for g in ClavienDindo),
            procedures={a: _suppress(int(n_proc.get(a, 0)), min_n) for a in APPROACHES},
            counts=counts, totals={a: _suppress(totals.get(a, 0), min_n) for a in APPROACHES},
            with_any={a: _suppress(int(any_raw.get(a, 0)), min_n) for a in APPROACHES},
        )

    # -------------------------------------------------------------------------- admin

    def list_sites(self, actor: Actor) -> list[dict[str, Any]]:
        """Every site with its number of staff accounts and patients (admins)."""
        self._require_admin(actor, "the list of sites")
        with self.store.transaction() as s:
            users = dict(s.execute(select(UserRow.site_id, func.count(UserRow.id)).group_by(UserRow.site_id)).all())
            patients = dict(s.execute(select(PatientRow.site_id, func.count(PatientRow.id))
                                      .group_by(PatientRow.site_id)).all())
            rows = s.execute(select(SiteRow).order_by(SiteRow.code)).scalars().all()
            audit.append(s, actor=actor.name, actor_role=actor.role, action="read", entity="site", entity_id=None,
                         detail={"n": len(rows)})
            return [{"id": r.id, "code": r.code, "name": r.name, "country": r.country, "created_at": r.created_at,
                     "users": int(users.get(r.id, 0)), "patients": int(patients.get(r.id, 0)),
                     "benchmark_surgeons": bool(r.benchmark_surgeons)} for r in rows]

    def audit_page(self, actor: Actor, *, actor_name: str | None = None, entity: str | None = None,
                   patient_id: int | None = None, limit: int = 50, offset: int = 0) -> AuditPage:
        """The audit log, newest first, filtered by actor (substring, case-insensitive), entity
        (exact) and patient id. Reading it is itself audited (``read`` ``audit_log``), after the
        page has been taken, so the row shows up on the next view."""
        self._require_admin(actor, "the audit log")
        if not 1 <= limit <= 500:
            raise ValidationError(field="limit", value=limit, allowed="1 to 500")
        if offset < 0:
            raise ValidationError(field="offset", value=offset, allowed="0 or more")
        with self.store.transaction() as s:
            stmt = select(AuditRow)
            if actor_name:
                stmt = stmt.where(func.lower(AuditRow.actor).like(f"%{_escape_like(actor_name.strip().lower())}%",
                                                                  escape="\\"))
            if entity:
                stmt = stmt.where(AuditRow.entity == entity.strip())
            if patient_id is not None:
                stmt = stmt.where(AuditRow.patient_id == patient_id)
            total = int(s.execute(select(func.count()).select_from(stmt.subquery())).scalar_one())
            rows = s.execute(stmt.order_by(AuditRow.id.desc()).limit(limit).offset(offset)).scalars().all()
            items = tuple(AuditEntry(r.id, r.at, r.actor, r.actor_role, r.action, r.entity, r.entity_id, r.patient_id,
                                     r.detail) for r in rows)
            audit.append(s, actor=actor.name, actor_role=actor.role, action="read", entity="audit_log", entity_id=None,
                         detail={"n": len(items), "offset": offset, "filters": {
                             "actor": actor_name or None, "entity": entity or None, "patient_id": patient_id}})
            return AuditPage(total, limit, offset, items)

    def audit_entities(self, actor: Actor) -> list[str]:
        """The distinct entity names in the audit log (for the filter's choices)."""
        self._require_admin(actor, "the audit log")
        with self.store.transaction() as s:
            return list(s.execute(select(AuditRow.entity).distinct().order_by(AuditRow.entity)).scalars())

    def verify_audit_chain(self, actor: Actor, *, record: bool = True,
                           progress: Callable[[int, int], None] | None = None) -> ChainVerification:
        """Recompute the audit log's hash chain (:func:`spinetrack.store.audit.verify_chain`) and
        report every bad row. Reads every row, so it costs time proportional to the log; the
        read runs in a read-only transaction that does not hold up writers. With ``record`` the
        verification and its outcome are audited (the admin page records its view instead)."""
        self._require_admin(actor, "the audit log")
        with Session(read_only(self.store.engine)) as s, s.begin():
            result = audit.verify_chain(s, progress=progress)
        if record:
            with self.store.transaction() as s:
                audit.append(s, actor=actor.name, actor_role=actor.role, action="verify", entity="audit_log",
                             detail={"ok": result.ok, "rows_checked": result.n_rows, "bad_count": result.n_bad})
        return result


def _order(seq: Sequence[str], value: str) -> int:
    return seq.index(value) if value in seq else len(seq)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
