"""The coordinator's follow-up worklist: every scheduled visit (``followups``) with its status,
the messages sent for it, and what a coordinator does about it; follow-up completeness.

Who sees what
-------------
Clinicians and coordinators see their own site's visits, with the patient's name (as on the
clinic pages); admins see every site's visits by pseudonymous id only (no names, no answers) and
take no action; researchers and every other role are refused. Each read of the worklist is one
audit row (``followup_list``); each action is audited with its patient.

Statuses (:func:`worklist_status`, computed in SQL by :func:`status_expression` on the day ``today``)
-------------------------------------------------------------------------------------------------
In this order, the first that applies:

``completed``
    the visit's status is ``completed`` or its invitation is spent (every questionnaire answered).
``stopped``
    follow-up was stopped: the visit's status is ``stopped`` (opted out, episode ended,
    unreachable), it is marked unreachable, the patient has opted out, or the episode ended on or
    before ``today``.
``missed``
    the visit's status is ``missed`` or its window closed (``closes_on < today``) unanswered.
``upcoming``
    the window has not opened yet (``today < opens_on``).
``overdue``
    the window is open, and the patient is late and the scheduler has nothing more to send: the
    target day has passed (``today > due_on``) **and** so has the day of the last scheduled reminder
    (``today > opens_on + the last reminder offset`` of the site's schedule, default
    :data:`~spinetrack.domain.pathway.DEFAULT_REMINDER_OFFSETS`). A coordinator should call.
``due``
    the window is open otherwise (the invitation and reminders are still going out).

Completeness (:func:`completeness`)
-----------------------------------
Per timepoint, ``responded / eligible``: eligible are the scheduled visits whose window has closed
by ``as_of`` (``closes_on < as_of``), except those stopped because the episode ended (the patient
died, withdrew or moved away: they leave the denominator); opted-out and unreachable patients stay
in it as non-responders. Responded are those with at least one questionnaire at that timepoint
(any source: web, phone, paper, import) or marked completed. The same split per calendar month of the window's close
gives completeness over time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, case, exists, func, literal, not_, or_, select, true, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from spinetrack import clock, instruments
from spinetrack.domain.pathway import DEFAULT_REMINDER_OFFSETS
from spinetrack.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from spinetrack.instruments.base import Listing
from spinetrack.store import audit
from spinetrack.store.repositories import SITE_ROLES, Actor, Store, authorize_patient
from spinetrack.store.tables import (
    EpisodeRow,
    FollowupRow,
    InvitationRow,
    OutboxRow,
    PatientIdentityRow,
    PatientRow,
    PromResponseRow,
    SiteRow,
    SiteScheduleRow,
    TimepointRow,
)

__all__ = [
    "ENTRY_SOURCES",
    "STATUSES",
    "FollowupDesk",
    "Message",
    "Visit",
    "WorklistPage",
    "complete_if_answered",
    "completeness",
    "enterable",
    "status_counts",
    "status_expression",
    "visit_instruments",
    "worklist_status",
]

STATUSES = ("due", "overdue", "missed", "completed", "upcoming", "stopped")
ENTRY_SOURCES = ("phone", "paper")       # answers a coordinator enters (prom_responses.source)
MAX_PAGE_SIZE = 500
_PENDING_MESSAGES = ("queued", "held", "failed")  # cancelled when a visit completes or stops


def worklist_status(*, today: dt.date, opens_on: dt.date, due_on: dt.date, closes_on: dt.date,
                    stored: str = "pending", completed: bool = False, unreachable: bool = False,
                    opted_out: bool = False, ended_on: dt.date | None = None,
                    last_reminder_offset: int = max(DEFAULT_REMINDER_OFFSETS)) -> str:
    """The worklist status of one visit on ``today`` (the module docstring defines each).

    >>> import datetime as dt
    >>> d = dt.date(2026, 1, 1)
    >>> worklist_status(today=d, opens_on=d, due_on=d + dt.timedelta(days=27), closes_on=d + dt.timedelta(days=72))
    'due'
    >>> worklist_status(today=d + dt.timedelta(days=30), opens_on=d, due_on=d + dt.timedelta(days=27),
    ...                 closes_on=d + dt.timedelta(days=72))
    'overdue'
    """
    if stored == "completed" or completed:
        return "completed"
    if stored == "stopped" or unreachable or opted_out or (ended_on is not None and ended_on <= today):
        return "stopped"
    if stored == "missed" or closes_on < today:
        return "missed"
    if today < opens_on:
        return "upcoming"
    if today > due_on and today > opens_on + dt.timedelta(days=last_reminder_offset):
        return "overdue"
    return "due"


def _last_offsets(conn: Connection | Session) -> dict[tuple[int, str], int]:
    """(site, timepoint) → the last reminder offset of the site schedules that set one."""
    out: dict[tuple[int, str], int] = {}
    for site_id, tp, offsets in conn.execute(select(SiteScheduleRow.site_id, SiteScheduleRow.timepoint,
                                                    SiteScheduleRow.reminder_offsets)):
        values = [int(v) for v in offsets or () if isinstance(v, int | float)]
        out[(site_id, tp)] = max(values) if values else 0
    return out


def status_expression(today: dt.date, last_offsets: Mapping[tuple[int, str], int]) -> ColumnElement[str]:
    """:func:`worklist_status` as one SQL ``CASE`` over ``followups`` joined to ``invitations``,
    ``episodes``, ``patients`` and ``patient_identities`` (the query of :func:`_base_query`).
    ``last_offsets``: the sites' own last reminder offsets (:func:`_last_offsets`); the others
    use the default schedule's."""
    f, e, p = FollowupRow, EpisodeRow, PatientRow
    default_k = max(DEFAULT_REMINDER_OFFSETS)
    special = [and_(p.site_id == site, f.timepoint == tp) for (site, tp) in last_offsets]
    reminders_done = or_(
        *[and_(p.site_id == site, f.timepoint == tp, f.opens_on < today - dt.timedelta(days=k))
          for (site, tp), k in last_offsets.items()],
        and_(not_(or_(*special)) if special else true(), f.opens_on < today - dt.timedelta(days=default_k)))
    return case(
        (or_(f.status == "completed", InvitationRow.completed_at.is_not(None)), literal("completed")),
        (or_(f.status == "stopped", f.unreachable.is_(True), PatientIdentityRow.opted_out_at.is_not(None),
             and_(e.ended_on.is_not(None), e.ended_on <= today)), literal("stopped")),
        (or_(f.status == "missed", f.closes_on < today), literal("missed")),
        (f.opens_on > today, literal("upcoming")),
        (and_(f.due_on < today, reminders_done), literal("overdue")),
        else_=literal("due"))


def _joined(*columns: Any) -> Any:
    return (select(*columns).select_from(FollowupRow)
            .join(EpisodeRow, EpisodeRow.id == FollowupRow.episode_id)
            .join(PatientRow, PatientRow.id == EpisodeRow.patient_id)
            .outerjoin(PatientIdentityRow, PatientIdentityRow.patient_id == PatientRow.id)
            .outerjoin(InvitationRow, InvitationRow.id == FollowupRow.invitation_id))


def status_counts(conn: Connection | Session, *, today: dt.date, site_id: int | None = None,
                  timepoint: str | None = None) -> dict[str, dict[str, int]]:
    """Timepoint → worklist status → number of visits on ``today`` (every status present, 0 when
    none), for one site or all. No audit row: counts carry no patient."""
    status = status_expression(today, _last_offsets(conn)).label("status")
    q = _joined(FollowupRow.timepoint, status, func.count().label("n")).group_by(FollowupRow.timepoint, status)
    if site_id is not None:
        q = q.where(PatientRow.site_id == site_id)
    if timepoint is not None:
        q = q.where(FollowupRow.timepoint == timepoint)
    order = {c: i for i, c in enumerate(conn.execute(select(TimepointRow.code).order_by(TimepointRow.position))
                                        .scalars())}
    out: dict[str, dict[str, int]] = {}
    for tp, st, n in conn.execute(q):
        out.setdefault(tp, dict.fromkeys(STATUSES, 0))[st] = int(n)
    return dict(sorted(out.items(), key=lambda kv: order.get(kv[0], len(order))))


def completeness(conn: Connection | Session, *, as_of: dt.date, site_id: int | None = None) -> list[dict[str, Any]]:
    """Completeness per timepoint of the scheduled visits (module docstring): a list, in the
    schedule's order, of ``{"timepoint", "eligible", "responded", "completeness", "by_month":
    [{"month": "YYYY-MM", "eligible", "responded", "completeness"}, ...]}`` (months of the window's
    close, oldest first). ``completeness`` is None when nobody is eligible."""
    f, r = FollowupRow, PromResponseRow
    responded = exists(select(r.id).where(r.episode_id == f.episode_id, r.timepoint == f.timepoint))
    q = (select(f.timepoint, f.closes_on, func.count().label("n"),
                func.sum(case((or_(responded, f.status == "completed"), 1), else_=0)).label("done"))
         .select_from(f).join(EpisodeRow, EpisodeRow.id == f.episode_id)
         .join(PatientRow, PatientRow.id == EpisodeRow.patient_id)
         .where(f.closes_on < as_of,
                or_(f.stop_reason.is_(None), f.stop_reason != "episode_ended"),
                or_(EpisodeRow.ended_on.is_(None), EpisodeRow.ended_on > f.closes_on))
         .group_by(f.timepoint, f.closes_on))
    if site_id is not None:
        q = q.where(PatientRow.site_id == site_id)
    per: dict[str, dict[str, list[int]]] = {}
    for tp, closes_on, n, done in conn.execute(q):
        month = closes_on.strftime("%Y-%m")
        cell = per.setdefault(tp, {}).setdefault(month, [0, 0])
        cell[0] += int(n)
        cell[1] += int(done or 0)
    out = []
    for tp in conn.execute(select(TimepointRow.code).order_by(TimepointRow.position)).scalars():
        months = per.get(tp)
        if not months:
            continue
        eligible = sum(v[0] for v in months.values())
        done = sum(v[1] for v in months.values())
        out.append({"timepoint": tp, "eligible": eligible, "responded": done,
                    "completeness": round(done / eligible, 4) if eligible else None,
                    "by_month": [{"month": m, "eligible": v[0], "responded": v[1],
                                  "completeness": round(v[1] / v[0], 4) if v[0] else None}
                                 for m, v in sorted(months.items())]})
    return out


@dataclass(frozen=True, slots=True)
class Message:
    """One outbox message of a visit (no address or content: the outbox holds none)."""

    id: int
    kind: str
    sequence: int | None
    channel: str
    status: str
    attempts: int
    created_at: dt.datetime
    due_at: dt.datetime
    sent_at: dt.datetime | None
    last_error: str | None


@dataclass(frozen=True, slots=True)
class Visit:
    """One scheduled visit on the worklist."""

    followup_id: int
    episode_id: int
    patient_id: int
    pseudo_id: str
    site_id: int
    timepoint: str
    label: str
    opens_on: dt.date
    due_on: dt.date
    closes_on: dt.date
    status: str                 # the worklist status (module docstring)
    stored_status: str          # followups.status as the scheduler left it
    stop_reason: str | None
    reminders_sent: int
    next_reminder_on: dt.date | None
    full_name: str | None       # only for the patient's own site's staff
    messages: tuple[Message, ...] = ()

    @property
    def actionable(self) -> bool:
        """Whether the window is open and the visit unanswered (resend, enter answers)."""
        return self.status in ("due", "overdue")


@dataclass(frozen=True, slots=True)
class WorklistPage:
    """One page of the worklist, with the counts per timepoint and status (site and timepoint
    filters applied, the status filter not, so that every count shows)."""

    items: tuple[Visit, ...]
    total: int
    counts: dict[str, dict[str, int]]
    today: dt.date
    filters: dict[str, Any] = field(default_factory=dict)


_STATUS_RANK = {"overdue": 0, "due": 1, "upcoming": 2, "missed": 3, "stopped": 4, "completed": 5}


class FollowupDesk:
    """The worklist and its actions, on a :class:`Store` (every method one transaction,
    audited). Contact preferences, the decision aid and the outbox for admins:
    :class:`spinetrack.store.outreach.Outreach`."""

    def __init__(self, store: Store, *, clock_today: Callable[[], dt.date] | None = None,
                 now: Callable[[], dt.datetime] | None = None) -> None:
        self.store = store
        self.today = clock_today or clock.today
        self.now = now or clock.utcnow

    # ------------------------------------------------------------------ reading

    @staticmethod
    def _scope(actor: Actor, site_id: int | None) -> int | None:
        """The site the actor may read (None: all sites, for admins and the system)."""
        if actor.role in SITE_ROLES:
            if site_id is not None and site_id != actor.site_id:
                raise PermissionDeniedError("you see your own site's follow-up only", role=actor.role)
            return actor.site_id
        if actor.role in ("admin", "system"):
            return site_id
        raise PermissionDeniedError(f"role {actor.role!r} has no access to the follow-up worklist", role=actor.role)

    def worklist(self, actor: Actor, *, site_id: int | None = None, timepoint: str | None = None,
                 status: str | None = None, limit: int = 50, offset: int = 0,
                 today: dt.date | None = None, with_counts: bool = True) -> WorklistPage:
        """One page of visits (most urgent first: overdue, due, upcoming, missed, stopped,
        completed; then by the window's close), filtered by site, timepoint and worklist status;
        ``with_counts=False`` leaves the counts per timepoint and status out (a CSV reads every page)."""
        scope = self._scope(actor, site_id)
        today = today or self.today()
        if status is not None and status not in STATUSES:
            raise ValidationError(field="status", value=status, allowed=STATUSES)
        if not 1 <= limit <= MAX_PAGE_SIZE or offset < 0:
            raise ValidationError(field="limit", value=limit, allowed=f"1 to {MAX_PAGE_SIZE}")
        names = actor.role in SITE_ROLES
        with self.store.transaction() as s:
            if timepoint is not None and s.get(TimepointRow, timepoint) is None:
                allowed = s.execute(select(TimepointRow.code).order_by(TimepointRow.position)).scalars().all()
                raise ValidationError(field="timepoint", value=timepoint, allowed=allowed)
            st = status_expression(today, _last_offsets(s))
            rank = case(*[(st == k, v) for k, v in _STATUS_RANK.items()], else_=9)
            q = _joined(FollowupRow, st.label("wstatus"), PatientRow.pseudo_id, PatientRow.site_id,
                        PatientRow.id.label("patient_id"), TimepointRow.label,
                        PatientIdentityRow.full_name if names else literal(None).label("full_name")
                        ).join(TimepointRow, TimepointRow.code == FollowupRow.timepoint)
            if scope is not None:
                q = q.where(PatientRow.site_id == scope)
            if timepoint is not None:
                q = q.where(FollowupRow.timepoint == timepoint)
            if status is not None:
                q = q.where(st == status)
            total = int(s.execute(select(func.count()).select_from(q.subquery())).scalar_one())
            rows = s.execute(q.order_by(rank, FollowupRow.closes_on, FollowupRow.id).limit(limit).offset(offset)).all()
            ids = [row[0].id for row in rows]
            messages: dict[int, list[Message]] = {}
            if ids:
                for m in s.execute(select(OutboxRow).where(OutboxRow.followup_id.in_(ids))
                                   .order_by(OutboxRow.created_at, OutboxRow.id)).scalars():
                    assert m.followup_id is not None
                    messages.setdefault(m.followup_id, []).append(_message(m))
            items = tuple(Visit(
                followup_id=f.id, episode_id=f.episode_id, patient_id=row.patient_id, pseudo_id=row.pseudo_id,
                site_id=row.site_id, timepoint=f.timepoint, label=row.label, opens_on=f.opens_on, due_on=f.due_on,
                closes_on=f.closes_on, status=row.wstatus, stored_status=f.status, stop_reason=f.stop_reason,
                reminders_sent=f.reminders_sent or 0, next_reminder_on=f.next_reminder_on,
                full_name=row.full_name if names else None, messages=tuple(messages.get(f.id, ())))
                for row in rows for f in (row[0],))
            counts = status_counts(s, today=today, site_id=scope, timepoint=timepoint) if with_counts else {}
            filters = {k: v for k, v in {"site_id": scope, "timepoint": timepoint, "status": status}.items()
                       if v is not None}
            audit.append(s, actor=actor.name, actor_role=actor.role, action="read", entity="followup_list",
                         detail={**filters, "n": len(items), "total": total, "offset": offset, "names": names})
            return WorklistPage(items, total, counts, today, filters)

    def episode_visits(self, actor: Actor, episode_id: int, *, today: dt.date | None = None) -> list[Visit]:
        """The scheduled visits of one episode (the patient page's follow-up list), audited."""
        today = today or self.today()
        with self.store.transaction() as s:
            ep = Store._episode(s, episode_id, actor)
            st = status_expression(today, _last_offsets(s))
            q = (_joined(FollowupRow, st, TimepointRow.label)
                 .join(TimepointRow, TimepointRow.code == FollowupRow.timepoint)
                 .where(FollowupRow.episode_id == episode_id).order_by(TimepointRow.position))
            rows = s.execute(q).all()
            msgs: dict[int, list[Message]] = {}
            for m in s.execute(select(OutboxRow).where(OutboxRow.episode_id == episode_id)
                               .order_by(OutboxRow.created_at, OutboxRow.id)).scalars():
                if m.followup_id is not None:
                    msgs.setdefault(m.followup_id, []).append(_message(m))
            audit.append(s, actor=actor.name, actor_role=actor.role, action="read", entity="followup",
                         patient_id=ep.patient_id, detail={"episode_id": episode_id, "n": len(rows)})
            return [Visit(f.id, f.episode_id, ep.patient_id, ep.patient.pseudo_id, ep.patient.site_id, f.timepoint,
                          label, f.opens_on, f.due_on, f.closes_on, wstatus, f.status, f.stop_reason,
                          f.reminders_sent or 0, f.next_reminder_on, None, tuple(msgs.get(f.id, ())))
                    for f, wstatus, label in rows]

    def visit(self, actor: Actor, followup_id: int, *, today: dt.date | None = None) -> tuple[Visit, tuple[str, ...]]:
        """One visit (site staff only) and the instruments it asks for; audited."""
        today = today or self.today()
        with self.store.transaction() as s:
            f, ep = self._followup(s, actor, followup_id)
            visit = self._visit(s, f, ep, today, names=True)
            codes = visit_instruments(s, f, ep.patient.site_id)
            audit.append(s, actor=actor.name, actor_role=actor.role, action="read", entity="followup",
                         entity_id=f.id, patient_id=ep.patient_id)
            return visit, codes

    @staticmethod
    def _followup(s: Session, actor: Actor, followup_id: int, *, lock: bool = False) -> tuple[FollowupRow, EpisodeRow]:
        if actor.role not in SITE_ROLES and actor.role != "system":
            raise PermissionDeniedError("only clinicians and coordinators act on follow-up", role=actor.role)
        q = select(FollowupRow).where(FollowupRow.id == followup_id)
        f = s.execute(q.with_for_update() if lock else q).scalar()
        if f is None:
            raise NotFoundError(entity="followup", key=followup_id)
        ep = s.get(EpisodeRow, f.episode_id)
        assert ep is not None
        try:
            authorize_patient(actor, ep.patient_id, ep.patient.site_id)
        except NotFoundError:
            raise NotFoundError(entity="followup", key=followup_id) from None
        return f, ep

    @staticmethod
    def _visit(s: Session, f: FollowupRow, ep: EpisodeRow, today: dt.date, *, names: bool) -> Visit:
        st = status_expression(today, _last_offsets(s))
        row = s.execute(_joined(st, TimepointRow.label, PatientIdentityRow.full_name)
                        .join(TimepointRow, TimepointRow.code == FollowupRow.timepoint)
                        .where(FollowupRow.id == f.id)).one()
        msgs = tuple(_message(m) for m in s.execute(select(OutboxRow).where(OutboxRow.followup_id == f.id)
                                                    .order_by(OutboxRow.created_at, OutboxRow.id)).scalars())
        return Visit(f.id, f.episode_id, ep.patient_id, ep.patient.pseudo_id, ep.patient.site_id, f.timepoint,
                     row[1], f.opens_on, f.due_on, f.closes_on, row[0], f.status, f.stop_reason,
                     f.reminders_sent or 0, f.next_reminder_on, row[2] if names else None, msgs)

    # ------------------------------------------------------------------ actions

    def resend(self, actor: Actor, followup_id: int, *, today: dt.date | None = None,
               now: dt.datetime | None = None) -> int:
        """Queue the visit's message again (the scheduler sends it on its next run): a new outbox
        row with the next free ``sequence``, on the patient's channel. Only for a visit whose
        window is open and unanswered, and a patient who may be contacted. Returns its id."""
        today, now = today or self.today(), now or self.now()
        for attempt in (1, 2):  # a scheduler run may take the same sequence at the same moment
            try:
                with self.store.transaction() as s:
                    f, ep = self._followup(s, actor, followup_id, lock=True)
                    visit = self._visit(s, f, ep, today, names=False)
                    if not visit.actionable:
                        raise ValidationError(field="followup.status", value=visit.status, allowed=["due", "overdue"],
                                              reason="a message is resent only while the window is open and the "
                                                     "visit unanswered")
                    channel = _channel(s.get(PatientIdentityRow, ep.patient_id))
                    seq = s.execute(select(func.max(OutboxRow.sequence)).where(OutboxRow.followup_id == f.id)
                                    ).scalar()
                    nxt = 0 if seq is None else int(seq) + 1
                    row = OutboxRow(followup_id=f.id, episode_id=ep.id, kind="invitation" if nxt == 0 else "reminder",
                                    sequence=nxt, channel=channel, status="queued", attempts=0, created_at=now,
                                    due_at=now)
                    s.add(row)
                    s.flush()
                    audit.append(s, actor=actor.name, actor_role=actor.role, action="create", entity="outbox",
                                 entity_id=row.id, patient_id=ep.patient_id,
                                 detail={"followup_id": f.id, "sequence": nxt, "channel": channel, "resend": True})
                    return row.id
            except ConflictError as exc:
                if attempt == 2 or not isinstance(exc.__cause__, IntegrityError):
                    raise
        raise AssertionError("unreachable")

    def mark_unreachable(self, actor: Actor, followup_id: int, *, now: dt.datetime | None = None) -> None:
        """Stop chasing this visit: the patient could not be reached. Its queued, held and failed
        messages are cancelled; the visit shows as stopped (``unreachable``)."""
        now = now or self.now()
        with self.store.transaction() as s:
            f, ep = self._followup(s, actor, followup_id, lock=True)
            if f.status == "completed":
                raise ValidationError(field="followup.status", value=f.status, allowed=["pending", "open", "missed"],
                                      reason="the visit is complete")
            old = f.status
            f.unreachable, f.status, f.stop_reason = True, "stopped", "unreachable"
            f.next_reminder_on, f.updated_at = None, now
            cancelled = _cancel_messages(s, f.id)
            audit.append(s, actor=actor.name, actor_role=actor.role, action="update", entity="followup",
                         entity_id=f.id, patient_id=ep.patient_id,
                         detail={"change": "unreachable", "old": old, "new": "stopped",
                                 "messages_cancelled": cancelled})

    def enter_answers(self, actor: Actor, followup_id: int, *, source: str, collected_on: Any,
                      responses: Mapping[str, Mapping[str, Any]], today: dt.date | None = None,
                      now: dt.datetime | None = None) -> list[int]:
        """Store answers taken by phone or from a paper form (``source``), all in one
        transaction: every questionnaire is validated and scored (:meth:`Store.insert_response`)
        and nothing is stored unless all are. ``collected_on`` must lie in the visit's window
        and not after ``today``. When the visit's questionnaires are all answered, the visit is
        completed (its invitation spent, pending messages cancelled). Returns the response ids."""
        today, now = today or self.today(), now or self.now()
        if source not in ENTRY_SOURCES:
            raise ValidationError(field="response.source", value=source, allowed=ENTRY_SOURCES)
        if isinstance(collected_on, str):
            try:
                collected_on = dt.date.fromisoformat(collected_on)
            except ValueError:
                raise ValidationError(field="response.collected_on", value=collected_on,
                                      allowed="a date as YYYY-MM-DD") from None
        if not isinstance(collected_on, dt.date):
            raise ValidationError(field="response.collected_on", value=collected_on, allowed="a date as YYYY-MM-DD")
        if not isinstance(responses, Mapping) or not responses:
            raise ValidationError(field="response.instrument", value=None, allowed="at least one questionnaire",
                                  reason="nothing was entered")
        with self.store.transaction() as s:
            f, ep = self._followup(s, actor, followup_id, lock=True)
            codes = visit_instruments(s, f, ep.patient.site_id)
            if not enterable(f):
                raise ValidationError(field="followup.status", value=f.status, allowed=["pending", "open", "missed"],
                                      reason="the visit is " + (f.stop_reason or f.status).replace("_", " "))
            if not f.opens_on <= collected_on <= min(f.closes_on, today):
                raise ValidationError(field="response.collected_on", value=collected_on.isoformat(),
                                      allowed=f"{f.opens_on.isoformat()} to {min(f.closes_on, today).isoformat()}",
                                      reason="the visit's window (and not after today)")
            done = set(s.execute(select(PromResponseRow.instrument).where(
                PromResponseRow.episode_id == ep.id, PromResponseRow.timepoint == f.timepoint)).scalars())
            ids = []
            for code, answers in responses.items():
                if code not in codes:
                    raise ValidationError(field="response.instrument", value=code, allowed=list(codes))
                ids.append(self.store.insert_response(
                    s, actor, {"instrument": code, "timepoint": f.timepoint, "collected_on": collected_on.isoformat(),
                               "answers": answers}, episode_id=ep.id, patient_id=ep.patient_id,
                    index_date=ep.index_date, source=source, idempotency_key=None, answered=code in done))
                done.add(code)
            complete_if_answered(s, actor, f, ep.patient_id, codes, done, source=source, now=now)
            return ids

    def completeness(self, actor: Actor, *, site_id: int | None = None,
                     as_of: dt.date | None = None) -> list[dict[str, Any]]:
        """:func:`completeness` for the sites the actor may read (counts only: no audit row)."""
        scope = self._scope(actor, site_id)
        with self.store.transaction() as s:
            return completeness(s, as_of=as_of or self.today(), site_id=scope)

    def sites(self) -> dict[int, str]:
        """Site id → code (names of the filters; no patient data)."""
        with self.store.transaction() as s:
            return {int(i): str(c) for i, c in s.execute(select(SiteRow.id, SiteRow.code).order_by(SiteRow.code))}


def enterable(f: FollowupRow) -> bool:
    """Whether answers taken by phone or on paper may be entered on this visit: not completed,
    and not stopped for any reason but "unreachable" (an answer from an unreachable patient
    completes the visit)."""
    return not (f.status in ("completed", "stopped") and f.stop_reason != "unreachable")


def complete_if_answered(s: Session, actor: Actor, f: FollowupRow, patient_id: int, codes: tuple[str, ...],
                         done: set[str], *, source: str, now: dt.datetime) -> bool:
    """In the caller's transaction: complete the visit when every one of its questionnaires
    (``codes``) is answered (``done``): its invitation spent, its pending messages cancelled, an
    audit row. Returns whether it was completed."""
    if not all(c in done for c in codes):
        return False
    old = f.status
    f.status, f.stop_reason, f.unreachable, f.next_reminder_on, f.updated_at = ("completed", None, False, None, now)
    if f.invitation_id is not None:
        s.execute(update(InvitationRow).where(InvitationRow.id == f.invitation_id,
                                              InvitationRow.completed_at.is_(None)).values(completed_at=now))
    cancelled = _cancel_messages(s, f.id)
    audit.append(s, actor=actor.name, actor_role=actor.role, action="update", entity="followup", entity_id=f.id,
                 patient_id=patient_id, detail={"change": "completed", "old": old, "new": "completed",
                                                "source": source, "messages_cancelled": cancelled})
    return True


def _message(m: OutboxRow) -> Message:
    return Message(m.id, m.kind, m.sequence, m.channel, m.status, m.attempts or 0, m.created_at, m.due_at,
                   m.sent_at, m.last_error)


def _channel(ident: PatientIdentityRow | None) -> str:
    """The channel a message to this patient goes by: their preference, else e-mail, SMS or a
    letter, whichever has an address on file. Refused when they may not be contacted."""
    if ident is None:
        raise ValidationError(field="contact.channel", value=None, allowed="a patient with contact details")
    if ident.opted_out_at is not None or ident.contact_consent is False or ident.channel == "none":
        raise ValidationError(field="contact.channel", value=ident.channel or "none",
                              allowed=["email", "sms", "letter"],
                              reason="the patient opted out or did not agree to be contacted")
    have = {"email": ident.email, "sms": ident.phone, "letter": ident.postal_address}
    if ident.channel is not None and have.get(ident.channel):
        return ident.channel
    for channel, address in have.items():
        if address:
            return channel
    raise ValidationError(field="contact.channel", value=ident.channel, allowed=["email", "sms", "letter"],
                          reason="no e-mail address, phone number or postal address is on file")


def _cancel_messages(s: Session, followup_id: int) -> int:
    result = s.execute(update(OutboxRow).where(OutboxRow.followup_id == followup_id,
                                               OutboxRow.status.in_(_PENDING_MESSAGES))
                       .values(status="cancelled"))
    return int(getattr(result, "rowcount", 0) or 0)


def visit_instruments(s: Session, f: FollowupRow, site_id: int) -> tuple[str, ...]:
    """The questionnaires of a visit: its invitation's, else the site schedule's for the
    timepoint, else the instruments listed for a visit by default."""
    if f.invitation_id is not None:
        inv = s.get(InvitationRow, f.invitation_id)
        if inv is not None and inv.instruments:
            return tuple(inv.instruments)
    row = s.execute(select(SiteScheduleRow.instruments).where(SiteScheduleRow.site_id == site_id,
                                                              SiteScheduleRow.timepoint == f.timepoint)).scalar()
    if row:
        return tuple(str(c) for c in row)
    return instruments.listed(Listing.VISIT_DEFAULT)

