"""Patient visits: invitation links, the patient session they open, drafts and the submission
of a visit's questionnaires — the patient-facing half of :class:`~spinetrack.store.access.Access`
(which inherits :class:`Visits`; the accounts and staff sessions stay in ``access``).

* Invitations: a 256-bit random token per visit (only its SHA-256 stored), valid until its
  expiry and spent once every questionnaire of the visit is submitted. Opening it starts a
  patient session bound to that invitation (its own token and CSRF token).
* Link rules (:meth:`Visits.create_invitation`): a link is created only for a timepoint whose
  window (:func:`~spinetrack.store.windows.visit_window`: the scheduled visit's dates when the scheduler has made one,
  otherwise the episode's index date plus the site's window, or the installation's window for a
  timepoint the site does not schedule) is open today or opens within
  :data:`LINK_LOOKAHEAD_DAYS` days; a baseline only up to the index date. A link made before its
  window opens waits: opening it tells the patient the dates and starts nothing. Its validity
  (``valid_days``) counts from the day the window opens and never reaches past the window's
  last day, so that no answer is collected outside the window and then refused.
* A submission is one transaction (on SQLite a savepoint of a group commit, :class:`_GroupCommit`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import threading
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import Any, TypeVar, cast

from sqlalchemy import Engine, Row, Table, bindparam, delete, select, update
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session

from spinetrack import clock, instruments
from spinetrack.domain import check_text_tree
from spinetrack.errors import (
    AuthenticationError,
    ConflictError,
    InputError,
    NotFoundError,
    PermissionDeniedError,
    SpinetrackError,
    ValidationError,
)
from spinetrack.i18n import N_
from spinetrack.store import audit
from spinetrack.store.patient_text import patient_error
from spinetrack.store.repositories import SITE_ROLES, Actor, Store
from spinetrack.store.tables import (
    EpisodeRow,
    InvitationRow,
    PatientIdentityRow,
    PatientRow,
    PromResponseRow,
    ResponseDraftRow,
    TimepointRow,
)
from spinetrack.store.windows import (
    LINK_LOOKAHEAD_DAYS,
    InvitableTimepoint,
    VisitWindow,
    invitable,
    long_date,
    visit_window,
    waiting_message,
)
from spinetrack.store.wording import refusal_reason

__all__ = ["INVITATION_DAYS", "LINK_CLOSED", "LINK_LOOKAHEAD_DAYS", "NOT_OPEN_YET", "InvitableTimepoint",
           "InvitationView", "VisitSubmission", "VisitWindow", "Visits", "hash_token", "not_open_yet", "visit_window",
           "waiting_message"]

INVITATION_DAYS = 14
LINK_CLOSED = N_("This questionnaire link is no longer open. Please use the link from your clinic.")
"""Said to a patient whose visit is complete, expired or revoked (English here and in the API; the
patient pages translate it, the ``patient`` catalog)."""
LINK_NOT_VALID = N_("This link is not valid.")
LINK_USED = N_("This link has been used: the questionnaires are complete.")
LINK_EXPIRED = N_("This link has expired. Please ask your clinic for a new one.")
NOT_OPEN_YET = N_("Your questionnaire opens on %(opens)s and closes on %(closes)s. Please open this link again "
                  "from %(opens)s.")


def not_open_yet(window: VisitWindow) -> AuthenticationError:
    """The refusal of a visit whose window has not opened: its dates (for the patient pages, in
    the patient's language: :mod:`spinetrack.store.patient_text`)."""
    assert window.opens_on is not None and window.closes_on is not None
    return patient_error(AuthenticationError, NOT_OPEN_YET, opens=window.opens_on, closes=window.closes_on)


_T = TypeVar("_T")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class _GroupCommit:
    """Group commit of patient submissions on SQLite, which has one writer and, with
    ``synchronous=FULL``, one fsync per commit (about 4 ms on this project's machines): a
    thread that wants to submit queues its work; the thread holding the writer's turn runs every
    queued submission in one transaction, **each in its own savepoint** (one that fails is
    rolled back alone and gets its own error), commits once, and only then are the submitters
    answered. Threads queue on a lock instead of polling SQLite's (whose busy handler sleeps up
    to 100 ms between tries). Other processes still wait through the busy timeout.
    """

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._writer = threading.Lock()
        self._queue: list[tuple[Callable[[Session], Any], Future[Any]]] = []

    def run(self, store: Store, work: Callable[[Session], _T]) -> _T:
        done: Future[_T] = Future()
        with self._mutex:
            self._queue.append((work, done))
        with self._writer:
            if not done.done():
                with self._mutex:
                    batch, self._queue = self._queue, []
                self._commit(store, batch)
        return done.result()

    @staticmethod
    def _commit(store: Store, batch: list[tuple[Callable[[Session], Any], Future[Any]]]) -> None:
        outcomes: list[tuple[Future[Any], Any, BaseException | None]] = []
        try:
            with store.transaction() as s:
                if len(batch) == 1:  # nothing to keep apart: no savepoint
                    outcomes.append((batch[0][1], batch[0][0](s), None))
                else:
                    for work, done in batch:
                        try:
                            with s.begin_nested():
                                outcomes.append((done, work(s), None))
                        except Exception as exc:  # handed to its own submitter
                            outcomes.append((done, None, _as_refusal(exc)))
        except BaseException as exc:  # the transaction failed: nothing of the batch is stored
            for _, done in batch:
                done.set_exception(exc)
            return
        for done, result, error in outcomes:
            if error is None:
                done.set_result(result)
            else:
                done.set_exception(error)


def _as_refusal(exc: Exception) -> Exception:
    """A database refusal inside a savepoint, as :meth:`Store.transaction` reports it."""
    try:
        if isinstance(exc, IntegrityError):
            raise ConflictError(f"the database refused the record: {exc.orig}") from exc
        if isinstance(exc, DataError):
            raise InputError(f"the database refused a value: {str(exc.orig).splitlines()[0]}") from exc
    except SpinetrackError as refusal:
        return refusal
    return exc


# The statements of a submission, built once (Core on the tables: no ORM objects to load).
_INVITATIONS = cast(Table, InvitationRow.__table__)
_EPISODES, _PATIENTS, _TIMEPOINTS = EpisodeRow.__table__, PatientRow.__table__, TimepointRow.__table__
_RESPONSES, _DRAFTS = PromResponseRow.__table__, cast(Table, ResponseDraftRow.__table__)
_VISIT = (select(_INVITATIONS.c.id, _INVITATIONS.c.episode_id, _INVITATIONS.c.timepoint, _INVITATIONS.c.instruments,
                 _INVITATIONS.c.expires_at, _INVITATIONS.c.completed_at, _INVITATIONS.c.revoked,
                 _INVITATIONS.c.patient_csrf, _EPISODES.c.patient_id, _EPISODES.c.index_date, _PATIENTS.c.site_id,
                 _TIMEPOINTS.c.label)
          .select_from(_INVITATIONS.join(_EPISODES, _EPISODES.c.id == _INVITATIONS.c.episode_id)
                       .join(_PATIENTS, _PATIENTS.c.id == _EPISODES.c.patient_id)
                       .outerjoin(_TIMEPOINTS, _TIMEPOINTS.c.code == _INVITATIONS.c.timepoint)))
# Built once with the key as a parameter, so that SQLAlchemy finds the compiled statement in its
# cache without building a cache key for a new ``where`` on every call.
_VISIT_BY = {"id": _VISIT.where(_INVITATIONS.c.id == bindparam("key")),
             "session": _VISIT.where(_INVITATIONS.c.patient_session_hash == bindparam("key"))}
_VisitKey = tuple[str, Any]
_DONE = select(_RESPONSES.c.instrument).where(_RESPONSES.c.episode_id == bindparam("episode_id"),
                                              _RESPONSES.c.timepoint == bindparam("timepoint"))
_DROP_DRAFT = delete(_DRAFTS).where(_DRAFTS.c.invitation_id == bindparam("invitation_id"),
                                    _DRAFTS.c.instrument == bindparam("instrument"))
_SPEND = (update(_INVITATIONS)
          .where(_INVITATIONS.c.id == bindparam("invitation_id"), _INVITATIONS.c.completed_at.is_(None))
          .values(completed_at=bindparam("spent_at")))

_GROUP_COMMITS: weakref.WeakKeyDictionary[Engine, _GroupCommit] = weakref.WeakKeyDictionary()
_GROUP_COMMITS_GUARD = threading.Lock()


def _in_one_transaction(store: Store, work: Callable[[Session], _T]) -> _T:
    """``work(session)`` in a transaction of its own (PostgreSQL), or in a savepoint of a group
    commit (SQLite, :class:`_GroupCommit`); either way all of it or none of it is stored."""
    if store.engine.dialect.name != "sqlite":
        with store.transaction() as s:
            return work(s)
    with _GROUP_COMMITS_GUARD:
        group = _GROUP_COMMITS.get(store.engine)
        if group is None:
            group = _GROUP_COMMITS[store.engine] = _GroupCommit()
    return group.run(store, work)


@dataclass(frozen=True, slots=True)
class InvitationView:
    """What a patient session may see: one visit of one episode."""

    invitation_id: int
    episode_id: int
    patient_id: int
    site_id: int
    timepoint: str
    timepoint_label: str
    instruments: tuple[str, ...]
    completed: tuple[str, ...]
    expires_at: dt.datetime
    csrf_token: str | None

    @property
    def actor(self) -> Actor:
        return Actor(f"patient:invitation/{self.invitation_id}", "patient", self.site_id, self.patient_id)

    @property
    def due(self) -> tuple[str, ...]:
        return tuple(i for i in self.instruments if i not in self.completed)

    @property
    def done(self) -> bool:
        return not self.due


@dataclass(frozen=True, slots=True)
class VisitSubmission:
    """One questionnaire submitted through a patient session (:meth:`Access.submit_visit`)."""

    response_id: int
    created: bool          # False: a replay under the same idempotency key, nothing new stored
    view: InvitationView   # the visit after the submission (due, done)


class Visits:
    """Invitations, patient sessions, drafts and submissions; mixed into ``Access``, which sets
    ``store`` and ``clock``."""

    store: Store
    clock: Callable[[], dt.datetime]

    def invitable_timepoints(self, actor: Actor, episode_id: int, *, today: dt.date | None = None
                             ) -> list[InvitableTimepoint]:
        """The site's scheduled timepoints a link may be made for on ``today`` (the rules of
        :meth:`create_invitation`), in schedule order: open now, or opening within
        :data:`LINK_LOOKAHEAD_DAYS` days (``upcoming``: the link waits)."""
        today = today or clock.today()
        with self.store.transaction() as s:
            return invitable(s, Store._episode(s, episode_id, actor), today)

    @staticmethod
    def _check_window(window: VisitWindow, today: dt.date, allowed: list[str] | str) -> None:
        """Refuse a link whose window is closed or opens more than the lookahead ahead."""
        state = window.state(today)
        if state == "closed":
            assert window.closes_on is not None
            reason = (f"the {window.label.lower()} window ({window.dates}) closed on {long_date(window.closes_on)}"
                      + ("; a baseline is answered before the treatment starts" if window.code == "baseline" else ""))
            raise ValidationError(field="invitation.timepoint", value=window.code, allowed=allowed, reason=reason)
        if window.opens_on is not None and window.opens_on > today + dt.timedelta(days=LINK_LOOKAHEAD_DAYS):
            raise ValidationError(
                field="invitation.timepoint", value=window.code, allowed=allowed,
                reason=f"the {window.label.lower()} window opens on {long_date(window.opens_on)}, more than "
                       f"{LINK_LOOKAHEAD_DAYS} days from today; make the link from "
                       f"{long_date(window.opens_on - dt.timedelta(days=LINK_LOOKAHEAD_DAYS))}")

    def create_invitation(self, actor: Actor, episode_id: int, *, timepoint: str, instrument_codes: Sequence[str],
                          valid_days: int = INVITATION_DAYS, now: dt.datetime | None = None) -> tuple[int, str]:
        """Create a personal link for one visit; returns ``(invitation_id, token)``. The token is
        shown once (it is stored only as a hash).

        Only for a timepoint whose window is open, or opens within :data:`LINK_LOOKAHEAD_DAYS`
        days (the link then waits); refused naming the window's dates otherwise. The link is
        valid ``valid_days`` from the day the window opens (today when it is open), and never
        past the window's last day."""
        if actor.role not in SITE_ROLES:
            raise PermissionDeniedError("only clinicians and coordinators invite patients", role=actor.role)
        if isinstance(instrument_codes, str) or not isinstance(instrument_codes, Sequence):
            raise ValidationError(field="invitation.instruments", value=instrument_codes,
                                  allowed="a list of instrument codes")
        if not isinstance(timepoint, str) or len(timepoint) > 32:
            raise ValidationError(field="invitation.timepoint", value=str(timepoint)[:40], allowed="a timepoint code")
        check_text_tree(timepoint, "invitation.timepoint")
        check_text_tree(list(instrument_codes), "invitation.instruments")
        codes = list(dict.fromkeys(instrument_codes))
        if not codes:
            raise ValidationError(field="invitation.instruments", value=[], allowed=[i.NAME for i in instruments.all()],
                                  reason="at least one questionnaire")
        for code in codes:
            instruments.get(code, "invitation.instruments")
        if not isinstance(valid_days, int) or not 1 <= valid_days <= 90:
            raise ValidationError(field="invitation.valid_days", value=valid_days, allowed="1 to 90")
        now = now or clock.utcnow()
        with self.store.transaction() as s:
            ep = Store._episode(s, episode_id, actor)
            if getattr(self, "env", None) == "production":  # no numbered statements for a patient in production
                language = s.execute(select(PatientIdentityRow.language)
                                     .where(PatientIdentityRow.patient_id == ep.patient_id)).scalar()
                refused = refusal_reason(self.store, codes, language, session=s)
                if refused:
                    raise ValidationError(field="invitation.instruments", value=codes,
                                          allowed="questionnaires with wording in the patient's language",
                                          reason=refused)
            window = visit_window(s, ep, ep.patient.site_id, timepoint)
            try:
                self._check_window(window, now.date(), [])
            except ValidationError:  # refused: again, naming the timepoints that may be invited today
                self._check_window(window, now.date(),
                                   [t.code for t in invitable(s, ep, now.date())] or "no timepoint today")
            start = now
            if window.opens_on is not None:
                start = max(now, dt.datetime.combine(window.opens_on, dt.time()))
            expires = start + dt.timedelta(days=valid_days)
            end = window.ends_at()
            if end is not None:
                expires = min(expires, end)
            token = secrets.token_urlsafe(32)
            row = InvitationRow(token_hash=hash_token(token), episode_id=episode_id, timepoint=timepoint,
                                instruments=codes, created_by=actor.name, created_at=now,
                                expires_at=expires, revoked=False)
            s.add(row)
            s.flush()
            audit.append(s, actor=actor.name, actor_role=actor.role, action="create", entity="invitation",
                         entity_id=row.id, patient_id=ep.patient_id,
                         detail={"timepoint": timepoint, "instruments": codes})
            return row.id, token

    @staticmethod
    def _visit_row(s: Session, where: _VisitKey) -> Row[*tuple[Any, ...]] | None:
        """One query (Core, on the session's connection): the invitation found by ``where``
        (``("id", invitation id)`` or ``("session", hash of the patient session token)``) with its
        episode's patient and index date, the patient's site and the timepoint's label."""
        by, key = where
        return s.connection().execute(_VISIT_BY[by], {"key": key}).first()

    @staticmethod
    def _visit_view(s: Session, found: Row[*tuple[Any, ...]], csrf: str | None) -> InvitationView:
        done = set(s.connection().execute(_DONE, {"episode_id": found.episode_id, "timepoint": found.timepoint})
                   .scalars())
        codes = tuple(found.instruments)
        return InvitationView(found.id, found.episode_id, found.patient_id, found.site_id, found.timepoint,
                              found.label or found.timepoint, codes, tuple(c for c in codes if c in done),
                              found.expires_at, csrf)

    def _view(self, s: Session, inv: InvitationRow, csrf: str | None) -> InvitationView:
        found = self._visit_row(s, ("id", inv.id))
        assert found is not None
        return self._visit_view(s, found, csrf)

    @staticmethod
    def _session_usable(inv: Any, now: dt.datetime, allow_completed: bool) -> bool:
        """The session expiry rules: refused when revoked or past its expiry; a completed visit
        only with ``allow_completed``, and then for two hours past the expiry."""
        if inv.revoked or now > inv.expires_at + (dt.timedelta(hours=2) if allow_completed else dt.timedelta(0)):
            return False
        return inv.completed_at is None or allow_completed

    def open_invitation(self, token: str, *, now: dt.datetime | None = None) -> tuple[str, InvitationView]:
        """Exchange an invitation token for a patient session: ``(patient_session_token, view)``.
        Refused when unknown, revoked, expired or already completed."""
        now = now or clock.utcnow()
        with self.store.transaction() as s:
            inv = s.execute(select(InvitationRow).where(InvitationRow.token_hash == hash_token(token or ""))).scalar()
            if inv is None or inv.revoked:
                raise AuthenticationError(LINK_NOT_VALID)
            if inv.completed_at is not None:
                raise AuthenticationError(LINK_USED)
            if now > inv.expires_at:
                raise AuthenticationError(LINK_EXPIRED)
            window = self.invitation_window(s, inv)
            if window is not None and window.state(now.date()) == "upcoming":
                raise not_open_yet(window)
            session, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
            inv.patient_session_hash, inv.patient_csrf = hash_token(session), csrf
            inv.opened_at = inv.opened_at or now
            view = self._view(s, inv, csrf)
            audit.append(s, actor=view.actor.name, actor_role="patient", action="open", entity="invitation",
                         entity_id=inv.id, patient_id=view.patient_id)
            return session, view

    @staticmethod
    def invitation_window(s: Session, inv: InvitationRow) -> VisitWindow | None:
        """The window of an invitation's visit (None: a follow-up of an episode that has lost
        its index date, which the submission refuses by itself)."""
        ep = s.get(EpisodeRow, inv.episode_id)
        assert ep is not None  # the foreign key
        try:
            return visit_window(s, ep, ep.patient.site_id, inv.timepoint)
        except ValidationError:
            return None

    def resolve_patient_session(self, session_token: str | None, *, now: dt.datetime | None = None,
                                allow_completed: bool = False) -> InvitationView | None:
        if not session_token:
            return None
        now = now or clock.utcnow()
        with self.store.transaction() as s:
            found = self._visit_row(s, ("session", hash_token(session_token)))
            if found is None or not self._session_usable(found, now, allow_completed):
                return None
            return self._visit_view(s, found, found.patient_csrf)

    def save_draft(self, view: InvitationView, instrument: str, answers: dict[str, Any]) -> None:
        """Keep the answers given so far (pause and resume); values are checked as they come."""
        if instrument not in view.due:
            raise ValidationError(field="instrument", value=instrument, allowed=list(view.due))
        inst = instruments.get(instrument)
        clean = {k: v for k, v in inst.check(answers).items() if v is not None}
        with self.store.transaction() as s:
            row = s.execute(select(ResponseDraftRow).where(ResponseDraftRow.invitation_id == view.invitation_id,
                                                           ResponseDraftRow.instrument == instrument)).scalar()
            if row is None:
                row = ResponseDraftRow(invitation_id=view.invitation_id, instrument=instrument, answers={})
                s.add(row)
            row.answers, row.updated_at = clean, clock.utcnow()
            audit.append(s, actor=view.actor.name, actor_role="patient", action="update", entity="response_draft",
                         entity_id=view.invitation_id, patient_id=view.patient_id, detail={"instrument": instrument})

    def get_draft(self, view: InvitationView, instrument: str) -> dict[str, Any]:
        with self.store.transaction() as s:
            row = s.execute(select(ResponseDraftRow).where(ResponseDraftRow.invitation_id == view.invitation_id,
                                                           ResponseDraftRow.instrument == instrument)).scalar()
            audit.append(s, actor=view.actor.name, actor_role="patient", action="read", entity="response_draft",
                         entity_id=view.invitation_id, patient_id=view.patient_id, detail={"instrument": instrument})
            return dict(row.answers) if row else {}

    def submit(self, view: InvitationView, instrument: str, answers: dict[str, Any], *,
               collected_on: dt.date | None = None, idempotency_key: str | None = None) -> int:
        """Submit one questionnaire of the visit (validated, scored, stored, audited); the draft
        is removed and the invitation is spent when the last one is in, all in one transaction."""
        return self._submit_once(("id", view.invitation_id), instrument, answers,
                                 collected_on=collected_on, idempotency_key=idempotency_key, session=None).response_id

    def submit_visit(self, session_token: str | None, instrument: Any, answers: Any, *,
                     idempotency_key: str | None = None, collected_on: dt.date | None = None,
                     authorize: Callable[[InvitationView], None] | None = None,
                     scope_key: Callable[[Actor, str], str] | None = None,
                     now: dt.datetime | None = None) -> VisitSubmission:
        """Submit one questionnaire through a patient session, in **one transaction**: resolve
        the session (the rules of :meth:`resolve_patient_session` with ``allow_completed``),
        ``authorize(view)`` (the caller's CSRF check), the idempotency check, validation and
        scoring, the response with its audit row, the draft removed, and the invitation spent
        with its audit row when this was the last questionnaire. Nothing is stored unless all of
        it is.

        A visit that is closed (complete, or past its expiry) accepts only a replay of a
        submission it stored (same ``idempotency_key``, same payload: ``created`` is False).
        ``scope_key(actor, key)`` turns the client's key into the stored one (the session's
        actor is known only inside the transaction).

        ``instrument`` and ``answers`` come as the client sent them (any JSON value): they are
        checked here, after the session, refused naming the field.
        """
        return self._submit_once(("session", hash_token(session_token or "")), instrument,
                                 answers, collected_on=collected_on, idempotency_key=idempotency_key,
                                 session=(now or self.clock(), authorize), scope_key=scope_key,
                                 missing=not session_token)

    def _submit_once(self, where: _VisitKey, instrument: Any, answers: Any, *, collected_on: dt.date | None,
                     idempotency_key: str | None,
                     session: tuple[dt.datetime, Callable[[InvitationView], None] | None] | None,
                     scope_key: Callable[[Actor, str], str] | None = None, missing: bool = False
                     ) -> VisitSubmission:
        """Run :meth:`_submit` in one transaction; a concurrent twin under the same idempotency
        key that committed first (the key's unique constraint) is answered as a replay."""
        if missing:
            raise AuthenticationError(LINK_CLOSED)
        for attempt in (1, 2):
            try:
                return _in_one_transaction(self.store, lambda s: self._submit(
                    s, where, instrument, answers, collected_on, idempotency_key, session, scope_key))
            except ConflictError as exc:
                if attempt == 2 or idempotency_key is None or not isinstance(exc.__cause__, IntegrityError):
                    raise
        raise AssertionError("unreachable")

    def _submit(self, s: Session, where: _VisitKey, instrument: Any, answers: Any, collected_on: dt.date | None,
                key: str | None, session: tuple[dt.datetime, Callable[[InvitationView], None] | None] | None,
                scope_key: Callable[[Actor, str], str] | None) -> VisitSubmission:
        inv = self._visit_row(s, where)
        if session is not None:
            now, authorize = session
            if inv is None or not self._session_usable(inv, now, allow_completed=True):
                raise AuthenticationError(LINK_CLOSED)
        elif inv is None:
            raise NotFoundError(entity="invitation", key=None)
        view = self._visit_view(s, inv, inv.patient_csrf if session is not None else None)
        closed = False
        if session is not None:
            if authorize is not None:
                authorize(view)
            closed = view.done or now > inv.expires_at
        if key is not None and scope_key is not None:
            key = scope_key(view.actor, key)
        prior = self.store.response_under_key(s, key) if key is not None else None
        if closed and prior is None:  # a closed visit only replays what it stored
            raise AuthenticationError(LINK_CLOSED)
        if instrument not in view.instruments:
            raise ValidationError(field="instrument", value=instrument, allowed=list(view.instruments))
        data = {"instrument": instrument, "timepoint": view.timepoint,
                "collected_on": (collected_on or clock.today()).isoformat(), "answers": answers}
        if prior is not None:
            return VisitSubmission(self.store.replay_response(prior, inv.episode_id, data), False, view)
        rid = self.store.insert_response(s, view.actor, data, episode_id=inv.episode_id, patient_id=inv.patient_id,
                                         index_date=inv.index_date, source="patient", idempotency_key=key,
                                         answered=instrument in view.completed)
        conn = s.connection()
        conn.execute(_DROP_DRAFT, {"invitation_id": inv.id, "instrument": instrument})
        view = replace(view, completed=tuple(c for c in view.instruments if c in {*view.completed, instrument}))
        if inv.completed_at is None and view.done:
            conn.execute(_SPEND, {"invitation_id": inv.id, "spent_at": self.clock()})
            audit.append(s, actor=view.actor.name, actor_role="patient", action="complete", entity="invitation",
                         entity_id=inv.id, patient_id=view.patient_id)
        return VisitSubmission(rid, True, view)
