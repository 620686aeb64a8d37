"""The patient home: what a patient reaches from any link the clinic sends — their visits done
and due, their own results, the decision aid once released, the clinic's contact — mixed into
:class:`~spinetrack.store.access.Access` (which sets ``store`` and ``clock``).

* **Links** (``patient_links``): many per episode (one per message, letter or hand-out), only
  the token's SHA-256 stored. Opening one never spends it, and a GET changes nothing a second
  GET would undo (a mail scanner that follows the link spends nothing and signs nobody out):
  each opening starts a *home session* of its own (``patient_home_sessions``: its token, a CSRF
  token, an expiry), or keeps the browser's current one, so a patient signed in on one device
  stays signed in when the link is opened on another.
* **Access ends** :attr:`Home.patient_access_days` days (``SPINETRACK_PATIENT_ACCESS_DAYS``,
  default 90) after the later of the last scheduled visit's window close (``followups``; the last
  invitation's expiry when the episode has no scheduled visits) and the newest link made for the
  episode — so a fresh link (a ``new_link`` message, a link made by the clinic) opens the home
  again for that long. A home session lasts :data:`HOME_SESSION_DAYS` days at most, never past
  the end of access.
* **A visit from the home** (:meth:`Home.start_home_visit`) binds the invitation's patient
  session as opening the invitation's own link does, so the questionnaire pages work unchanged.
  The visit must be open: its window open, not complete, not expired, not revoked.
* **Opting out** (:meth:`Home.opt_out`) records ``patient_identities.opted_out_at`` and stops,
  at once, every pending or open scheduled visit of the patient (``stopped``, ``opted_out``)
  and cancels their queued or held messages; the scheduler also skips a patient who opted out.
* **A fresh link** (:meth:`Home.request_new_link`): a ``new_link`` message to the e-mail address
  on file is queued in the outbox (the scheduler's sender makes the link and sends it); the
  caller gets the same answer whether or not an address exists. Throttled with the sign-in
  throttle's back-off (:mod:`spinetrack.store.throttle`, under keys of its own) and at most one
  message per episode per :data:`NEW_LINK_GAP`.

Every read and write is audited under the patient actor ``patient:home/<episode id>``.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from spinetrack.errors import AuthenticationError, NotFoundError
from spinetrack.i18n import N_
from spinetrack.store import audit, throttle
from spinetrack.store.repositories import Actor, Store
from spinetrack.store.tables import (
    EpisodeRow,
    FollowupRow,
    InvitationRow,
    OutboxRow,
    PatientHomeSessionRow,
    PatientIdentityRow,
    PatientLinkRow,
    PatientRow,
    PromResponseRow,
    ScreeningAssessmentRow,
    SiteRow,
    TimepointRow,
)
from spinetrack.store.visits import LINK_CLOSED, InvitationView, Visits, hash_token, not_open_yet
from spinetrack.store.windows import VisitWindow, waiting_message

__all__ = ["HOME_SESSION_DAYS", "NEW_LINK_GAP", "PATIENT_ACCESS_DAYS", "Home", "HomeContent", "HomeView",
           "HomeVisit", "LinkOpening", "hash_link_token"]

PATIENT_ACCESS_DAYS = 90
HOME_SESSION_DAYS = 30
NEW_LINK_GAP = dt.timedelta(hours=1)
HOME_ENDED = N_("Your personal page has closed: it stays open for a while after your last questionnaire.")
LINK_INVALID = N_("This link is not valid.")


@dataclass(frozen=True, slots=True)
class HomeView:
    """A resolved home session: one episode of one patient."""

    episode_id: int
    patient_id: int
    site_id: int
    csrf_token: str
    access_until: dt.date

    @property
    def actor(self) -> Actor:
        return Actor(f"patient:home/{self.episode_id}", "patient", self.site_id, self.patient_id)


@dataclass(frozen=True, slots=True)
class HomeVisit:
    """One visit on the home: ``state`` is ``done``, ``open``, ``upcoming``, ``missed``,
    ``stopped`` or ``closed`` (a link's visit past its expiry)."""

    timepoint: str
    label: str
    opens_on: dt.date | None
    closes_on: dt.date | None
    state: str
    invitation_id: int | None
    instruments: tuple[str, ...]
    answered: tuple[str, ...]

    @property
    def can_start(self) -> bool:
        return self.state == "open" and self.invitation_id is not None


@dataclass(frozen=True, slots=True)
class HomeContent:
    visits: tuple[HomeVisit, ...]
    site_name: str
    contact_phone: str | None
    contact_email: str | None
    decision_aid: bool
    access_until: dt.date
    opted_out: bool


@dataclass(frozen=True, slots=True)
class LinkOpening:
    """What opening a link led to. ``outcome``: ``home`` (``session_token`` is a home session),
    ``visit`` (an invitation link of an open visit: ``session_token`` is its patient session),
    ``waiting`` (the visit's window has not opened: ``window`` and ``message`` give the dates),
    ``ended`` (home access over: a fresh link may be asked for) or ``invalid``. ``site_id``: the
    clinic of a waiting or ended link (its name heads the page)."""

    outcome: str
    session_token: str | None = None
    home: HomeView | None = None
    visit: InvitationView | None = None
    message: str = ""
    site_id: int | None = None
    window: VisitWindow | None = None


def hash_link_token(token: str) -> str:
    """The stored form of a home link's token: its SHA-256, a typed short code (letters) first in
    its normal form — upper case, hyphens and spaces dropped, I and L read as 1, O as 0 (Crockford
    base 32). ``followup.links``, which makes the links, hashes them with this function."""
    if len(token) <= 16:
        token = token.upper().replace("-", "").replace(" ", "").translate(str.maketrans("ILO", "110"))
    return hash_token(token)


def _access_until(s: Session, episode_id: int, days: int) -> dt.date | None:
    """The last day of the episode's home access (module docstring); None: nothing was ever sent."""
    last_close = s.execute(select(func.max(FollowupRow.closes_on)).where(FollowupRow.episode_id == episode_id)
                           ).scalar()
    if last_close is None:
        expiry = s.execute(select(func.max(InvitationRow.expires_at)).where(InvitationRow.episode_id == episode_id)
                           ).scalar()
        last_close = expiry.date() if expiry is not None else None
    newest = s.execute(select(func.max(PatientLinkRow.created_at)).where(PatientLinkRow.episode_id == episode_id)
                       ).scalar()
    candidates = [d for d in (last_close, newest.date() if newest is not None else None) if d is not None]
    return max(candidates) + dt.timedelta(days=days) if candidates else None


class Home:
    """The patient home's store methods; mixed into ``Access``."""

    store: Store
    clock: Callable[[], dt.datetime]
    patient_access_days: int = PATIENT_ACCESS_DAYS

    # ------------------------------------------------------------------ opening a link

    def _open_home(self, s: Session, episode_id: int, *, link_id: int | None, current: str | None,
                   now: dt.datetime, entity: str, entity_id: int) -> LinkOpening:
        ep = s.get(EpisodeRow, episode_id)
        assert ep is not None
        until = _access_until(s, episode_id, self.patient_access_days)
        actor = f"patient:home/{episode_id}"
        if until is None or now.date() > until:
            audit.append(s, actor=actor, actor_role="patient", action="refuse", entity=entity, entity_id=entity_id,
                         patient_id=ep.patient_id, detail={"reason": "access ended"})
            return LinkOpening("ended", message=HOME_ENDED, site_id=ep.patient.site_id)
        site_id = ep.patient.site_id
        if current:  # the browser's own session of this episode: kept (nobody is signed out, nothing new)
            row = s.get(PatientHomeSessionRow, hash_token(current))
            if row is not None and not row.revoked and row.episode_id == episode_id and row.expires_at > now:
                view = HomeView(episode_id, ep.patient_id, site_id, row.csrf_token, until)
                return LinkOpening("home", current, view)
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        expires = min(now + dt.timedelta(days=HOME_SESSION_DAYS),
                      dt.datetime.combine(until + dt.timedelta(days=1), dt.time()))
        s.add(PatientHomeSessionRow(token_hash=hash_token(token), episode_id=episode_id, link_id=link_id,
                                    csrf_token=csrf, created_at=now, last_seen_at=now, expires_at=expires,
                                    revoked=False))
        audit.append(s, actor=actor, actor_role="patient", action="open", entity=entity, entity_id=entity_id,
                     patient_id=ep.patient_id)
        return LinkOpening("home", token, HomeView(episode_id, ep.patient_id, site_id, csrf, until))

    def open_patient_link(self, token: str, *, current: str | None = None, now: dt.datetime | None = None
                          ) -> LinkOpening:
        """Open a home link (``/p/h/{token}``): a home session (``current``, the browser's
        session token, is kept when it is a live session of the same episode), ``ended`` or
        ``invalid``. The link is never spent."""
        now = now or self.clock()
        with self.store.transaction() as s:
            link = s.execute(select(PatientLinkRow).where(
                PatientLinkRow.token_hash == hash_link_token(token or ""))).scalar()
            if link is None or link.revoked:
                return LinkOpening("invalid", message=LINK_INVALID)
            link.last_opened_at = now
            return self._open_home(s, link.episode_id, link_id=link.id, current=current, now=now,
                                   entity="patient_link", entity_id=link.id)

    def open_invitation_link(self, token: str, *, current: str | None = None, current_visit: str | None = None,
                             now: dt.datetime | None = None) -> LinkOpening:
        """Open an invitation link (``/p/{token}``): an open visit starts its patient session
        as :meth:`~spinetrack.store.visits.Visits.open_invitation` does (``visit``), or keeps
        ``current_visit`` when that is already this visit's session (opening the link again on
        the same device signs nothing out); a visit whose window has not opened says when it does
        (``waiting``); a completed or expired visit opens the home while access lasts (``home``,
        with ``current`` kept as in :meth:`open_patient_link`; else ``ended``)."""
        now = now or self.clock()
        with self.store.transaction() as s:
            inv = s.execute(select(InvitationRow).where(InvitationRow.token_hash == hash_token(token or ""))).scalar()
            if inv is None or inv.revoked:
                return LinkOpening("invalid", message=LINK_INVALID)
            if inv.completed_at is None and now <= inv.expires_at:
                window = Visits.invitation_window(s, inv)
                if window is not None and window.state(now.date()) == "upcoming":
                    site_id = s.execute(select(PatientRow.site_id).join(
                        EpisodeRow, EpisodeRow.patient_id == PatientRow.id).where(
                        EpisodeRow.id == inv.episode_id)).scalar()
                    return LinkOpening("waiting", message=waiting_message(window), site_id=site_id, window=window)
                if current_visit and inv.patient_session_hash == hash_token(current_visit):
                    return LinkOpening("visit", current_visit)
                session = self._bind_visit(s, inv, now, f"patient:invitation/{inv.id}")
                return LinkOpening("visit", session)
            return self._open_home(s, inv.episode_id, link_id=None, current=current, now=now,
                                   entity="invitation", entity_id=inv.id)

    # ------------------------------------------------------------------ the session

    def resolve_home_session(self, token: str | None, *, now: dt.datetime | None = None) -> HomeView | None:
        """The live home session of ``token``, or None (unknown, revoked, expired, access ended)."""
        if not token:
            return None
        now = now or self.clock()
        with self.store.transaction() as s:
            row = s.get(PatientHomeSessionRow, hash_token(token))
            if row is None or row.revoked or now >= row.expires_at:
                return None
            until = _access_until(s, row.episode_id, self.patient_access_days)
            if until is None or now.date() > until:
                return None
            found = s.execute(select(PatientRow.id, PatientRow.site_id).join(
                EpisodeRow, EpisodeRow.patient_id == PatientRow.id).where(EpisodeRow.id == row.episode_id)).one()
            return HomeView(row.episode_id, found.id, found.site_id, row.csrf_token, until)

    def end_home_session(self, token: str | None) -> None:
        """Sign this device out of the home (the link still works)."""
        if not token:
            return
        with self.store.transaction() as s:
            row = s.get(PatientHomeSessionRow, hash_token(token))
            if row is not None and not row.revoked:
                row.revoked = True
                ep = s.get(EpisodeRow, row.episode_id)
                audit.append(s, actor=f"patient:home/{row.episode_id}", actor_role="patient", action="end",
                             entity="patient_home_session", entity_id=None,
                             patient_id=ep.patient_id if ep is not None else None)

    # ------------------------------------------------------------------ the page

    def home_content(self, view: HomeView, *, now: dt.datetime | None = None) -> HomeContent:
        """The visits done and due, the clinic's contact and whether the decision aid is released."""
        now = now or self.clock()
        today = now.date()
        with self.store.transaction() as s:
            ep = s.get(EpisodeRow, view.episode_id)
            assert ep is not None
            site = s.get(SiteRow, view.site_id)
            assert site is not None
            labels = {r.code: r.label for r in s.execute(select(TimepointRow.code, TimepointRow.label))}
            order = {c: i for i, c in enumerate(s.execute(select(TimepointRow.code).order_by(TimepointRow.position))
                                                .scalars())}
            answered: dict[str, set[str]] = {}
            for tp, code in s.execute(select(PromResponseRow.timepoint, PromResponseRow.instrument).where(
                    PromResponseRow.episode_id == view.episode_id)):
                answered.setdefault(tp, set()).add(code)
            invitations = s.execute(select(InvitationRow).where(InvitationRow.episode_id == view.episode_id)
                                    .order_by(InvitationRow.created_at, InvitationRow.id)).scalars().all()
            newest: dict[str, InvitationRow] = {}
            by_id = {inv.id: inv for inv in invitations}
            for inv in invitations:
                newest[inv.timepoint] = inv
            visits: list[HomeVisit] = []
            scheduled = s.execute(select(FollowupRow).where(FollowupRow.episode_id == view.episode_id)).scalars().all()
            for fu in scheduled:
                bound = by_id.get(fu.invitation_id) if fu.invitation_id is not None else newest.get(fu.timepoint)
                state = {"completed": "done", "stopped": "stopped", "missed": "missed", "pending": "upcoming"
                         }.get(fu.status, "open")
                window = VisitWindow(fu.timepoint, labels.get(fu.timepoint, fu.timepoint), fu.opens_on, fu.closes_on)
                if state == "open":
                    state = self._invitation_state(bound, window, now) if bound is not None else window.state(today)
                visits.append(self._visit(window, state, bound, answered))
            seen = {fu.timepoint for fu in scheduled}
            for tp, inv in newest.items():
                if tp in seen:
                    continue
                found = Visits.invitation_window(s, inv) or VisitWindow(tp, labels.get(tp, tp), None, None)
                visits.append(self._visit(found, self._invitation_state(inv, found, now), inv, answered))
            visits.sort(key=lambda v: (order.get(v.timepoint, len(order)), v.timepoint))
            screened = s.execute(select(ScreeningAssessmentRow.id).where(
                ScreeningAssessmentRow.episode_id == view.episode_id).limit(1)).first() is not None
            identity = s.get(PatientIdentityRow, view.patient_id)
            audit.append(s, actor=view.actor.name, actor_role="patient", action="read", entity="patient_home",
                         entity_id=view.episode_id, patient_id=view.patient_id)
            return HomeContent(tuple(visits), site.name, site.contact_phone, site.contact_email,
                               ep.decision_aid_released_at is not None and screened, view.access_until,
                               identity is not None and identity.opted_out_at is not None)

    @staticmethod
    def _invitation_state(inv: InvitationRow, window: VisitWindow, now: dt.datetime) -> str:
        if inv.completed_at is not None:
            return "done"
        if inv.revoked or now > inv.expires_at:
            return "closed"
        return "upcoming" if window.state(now.date()) == "upcoming" else "open"

    @staticmethod
    def _visit(window: VisitWindow, state: str, inv: InvitationRow | None, answered: dict[str, set[str]]
               ) -> HomeVisit:
        codes = tuple(inv.instruments) if inv is not None else ()
        done = answered.get(window.code, set())
        return HomeVisit(window.code, window.label, window.opens_on, window.closes_on, state,
                         inv.id if inv is not None else None, codes, tuple(c for c in codes if c in done))

    # ------------------------------------------------------------------ a visit from the home

    @staticmethod
    def _bind_visit(s: Session, inv: InvitationRow, now: dt.datetime, actor: str) -> str:
        """Start the invitation's patient session (as opening its own link does); its token."""
        session, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        inv.patient_session_hash, inv.patient_csrf = hash_token(session), csrf
        inv.opened_at = inv.opened_at or now
        patient_id = s.execute(select(EpisodeRow.patient_id).where(EpisodeRow.id == inv.episode_id)).scalar_one()
        audit.append(s, actor=actor, actor_role="patient", action="open", entity="invitation", entity_id=inv.id,
                     patient_id=patient_id)
        return session

    def start_home_visit(self, view: HomeView, invitation_id: int, *, now: dt.datetime | None = None) -> str:
        """Start a visit of this episode from the home; returns its patient session token.

        Raises
        ------
        NotFoundError
            No such visit of this episode.
        AuthenticationError
            The visit is complete, expired, revoked, or its window has not opened.
        """
        now = now or self.clock()
        with self.store.transaction() as s:
            inv = s.get(InvitationRow, invitation_id)
            if inv is None or inv.episode_id != view.episode_id:
                raise NotFoundError(entity="visit", key=invitation_id)
            if inv.revoked or inv.completed_at is not None or now > inv.expires_at:
                raise AuthenticationError(LINK_CLOSED)
            window = Visits.invitation_window(s, inv)
            if window is not None and window.state(now.date()) == "upcoming":
                raise not_open_yet(window)
            return self._bind_visit(s, inv, now, view.actor.name)

    # ------------------------------------------------------------------ opting out

    def link_episode(self, token: str) -> int | None:
        """The episode of a home link that is not revoked (the opt-out page), else None."""
        with self.store.transaction() as s:
            row = s.execute(select(PatientLinkRow.episode_id, PatientLinkRow.revoked).where(
                PatientLinkRow.token_hash == hash_link_token(token or ""))).first()
            return None if row is None or row.revoked else int(row.episode_id)

    def opt_out(self, episode_id: int, *, via: str, now: dt.datetime | None = None) -> int:
        """Record that the patient of ``episode_id`` wants no more follow-up messages; stops their
        pending and open scheduled visits and cancels their queued or held messages. Returns the
        visits stopped. ``via``: what the patient used (``link`` or ``home``), for the audit."""
        now = now or self.clock()
        with self.store.transaction() as s:
            ep = s.get(EpisodeRow, episode_id)
            if ep is None:
                raise NotFoundError(entity="episode", key=episode_id)
            identity = s.get(PatientIdentityRow, ep.patient_id)
            if identity is not None and identity.opted_out_at is None:
                identity.opted_out_at = now
            episodes = select(EpisodeRow.id).where(EpisodeRow.patient_id == ep.patient_id).scalar_subquery()
            stopped = s.execute(update(FollowupRow).where(
                FollowupRow.episode_id.in_(episodes), FollowupRow.status.in_(("pending", "open"))).values(
                status="stopped", stop_reason="opted_out", next_reminder_on=None, updated_at=now))
            s.execute(update(OutboxRow).where(
                OutboxRow.episode_id.in_(episodes), OutboxRow.status.in_(("queued", "held")),
                OutboxRow.kind.in_(("invitation", "reminder"))).values(status="cancelled"))
            n = int(getattr(stopped, "rowcount", 0) or 0)
            audit.append(s, actor=f"patient:home/{episode_id}", actor_role="patient", action="opt_out",
                         entity="patient_identity", entity_id=ep.patient_id, patient_id=ep.patient_id,
                         detail={"via": via, "followups_stopped": n})
            return n

    # ------------------------------------------------------------------ a fresh link

    def request_new_link(self, token: str, *, client: str, now: dt.datetime | None = None) -> None:
        """Queue a ``new_link`` e-mail for the episode of ``token`` (a home link or an invitation
        link) to the address on file. Answers the same (None) whether or not a link or an address
        exists; nothing is queued for a patient without an e-mail address, for an episode that
        has ended, or when one was queued within :data:`NEW_LINK_GAP`. Opting out of follow-up
        messages does not stop this one: the patient asked for it.

        Raises
        ------
        RateLimitError
            Too many requests for this link from this address (the sign-in throttle's back-off).
        """
        now = now or self.clock()
        digest = hash_link_token(token or "")
        with self.store.transaction() as s:  # committed before anything else, as a sign-in attempt
            throttle.reserve(s, f"new-link:{digest}", f"new-link|{client}", now)
        with self.store.transaction() as s:
            episode_id = s.execute(select(PatientLinkRow.episode_id).where(
                PatientLinkRow.token_hash == digest, PatientLinkRow.revoked.is_(False))).scalar()
            if episode_id is None:
                episode_id = s.execute(select(InvitationRow.episode_id).where(
                    InvitationRow.token_hash == hash_token(token or ""), InvitationRow.revoked.is_(False))).scalar()
            if episode_id is None:
                return
            ep = s.get(EpisodeRow, episode_id)
            assert ep is not None
            identity = s.get(PatientIdentityRow, ep.patient_id)
            # the patient asks for this one message: sent whatever their follow-up preferences
            # (as the sender does), but not for an episode that has ended
            reachable = identity is not None and bool(identity.email) and ep.ended_on is None
            recent = s.execute(select(OutboxRow.id).where(
                OutboxRow.episode_id == episode_id, OutboxRow.kind == "new_link",
                OutboxRow.created_at > now - NEW_LINK_GAP).limit(1)).first() is not None
            queued = reachable and not recent
            if queued:
                s.add(OutboxRow(followup_id=None, episode_id=episode_id, kind="new_link", sequence=None,
                                channel="email", status="queued", attempts=0, created_at=now, due_at=now))
            detail: dict[str, Any] = {"queued": queued}
            audit.append(s, actor=f"patient:home/{episode_id}", actor_role="patient", action="request",
                         entity="new_link", entity_id=episode_id, patient_id=ep.patient_id, detail=detail)
