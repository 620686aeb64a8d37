"""Who may come in: staff accounts (argon2 password hashes), server-side sessions, patient
invitation links, and the identifying details a clinic keeps apart from clinical data.

Security choices (for the hospital security officer):

* Passwords: argon2id (argon2-cffi defaults, RFC 9106 low-memory profile), 12 to 1,024
  characters; hashes are upgraded on login when the parameters change. Unknown user names
  cost the same time as wrong passwords (a dummy verification), so timing does not reveal them.
* Nobody but the owner knows a password: an admin creating an account or resetting its
  password gets a one-time set-password link (256-bit token, only its SHA-256 stored, valid
  72 hours, spent on use) to hand to the owner; only the ``system`` actor (demo seeding, tests)
  passes a password. A reset makes the old password unusable and ends the sessions; role and
  site changes end the sessions too. Each change is audited (who, old → new) and listed to the
  owner at their next sign-in (:meth:`Access.account_notices`).
* Sign-in is throttled in the database (:mod:`spinetrack.store.throttle`): per user name and
  client address pair, and per address, with an exponential back-off.
* Demo accounts (``users.demo``) are refused at sign-in and their sessions ignored when the
  app runs with ``env="production"``.
* Staff sessions: a 256-bit random token in the cookie; only its SHA-256 is stored, with a CSRF
  token, an idle timeout (30 min) and an absolute lifetime (12 h). Logout revokes server side.
* Invitations, patient sessions and submissions: :mod:`spinetrack.store.visits` (``Access``
  inherits its :class:`~spinetrack.store.visits.Visits`).
* Sign-in, the two-factor step and sessions: :mod:`spinetrack.store.signin` (``Access``
  inherits its :class:`~spinetrack.store.signin.SignIn`).
* Two-factor sign-in (TOTP, RFC 6238), optional per account and required per role by an admin:
  :mod:`spinetrack.store.totp`. The password step alone opens no session.
* Every sign-in, failed sign-in, session start/end and invitation use is in the audit log.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from spinetrack import clock
from spinetrack.clock import utcnow
from spinetrack.errors import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from spinetrack.store import audit, signin
from spinetrack.store.home import Home
from spinetrack.store.repositories import SITE_ROLES, Actor, Store, authorize_patient
from spinetrack.store.signin import (
    MAX_PASSWORD,
    MIN_PASSWORD,
    SESSION_IDLE,
    SESSION_MAX,
    SecondFactorNeeded,
    SessionUser,
    SignIn,
    _check_password,
)
from spinetrack.store.tables import (
    AuditRow,
    EpisodeRow,
    PasswordLinkRow,
    PatientIdentityRow,
    PatientRow,
    PromResponseRow,
    RolePolicyRow,
    SiteRow,
    TimepointRow,
    UserRow,
    WebSessionRow,
)

# the patient-visit half of Access, and its names as this module has always exported them
from spinetrack.store.visits import (
    INVITATION_DAYS,
    LINK_CLOSED,
    InvitationView,
    Visits,
    VisitSubmission,
    hash_token,
)

__all__ = [
    "INVITATION_DAYS",
    "LINK_CLOSED",
    "MAX_PASSWORD",
    "MIN_PASSWORD",
    "SESSION_IDLE",
    "SESSION_MAX",
    "STAFF_ROLES",
    "Access",
    "InvitationView",
    "SecondFactorNeeded",
    "SessionUser",
    "VisitSubmission",
    "hash_token",
]

STAFF_ROLES = ("clinician", "coordinator", "researcher", "admin")
PASSWORD_LINK_VALID = dt.timedelta(hours=72)


# What the owner of an account is told at their next sign-in, per audited change.
_NOTICE_TEXT = {
    "role": "Your role was changed from {old} to {new}.",
    "site_id": "Your site was changed from {old} to {new}.",
    "password_reset": "Your password was reset by an administrator; you set a new one with a one-time link.",
    "active": "Your account was deactivated and activated again.",
    "two_factor_reset": "Your two-factor sign-in was reset by an administrator; set up your authenticator app again.",
}


class Access(SignIn, Home, Visits):
    """Accounts, sessions, invitations and identities, on top of a :class:`Store`."""

    def __init__(self, store: Store, *, env: str = "development",
                 clock: Callable[[], dt.datetime] | None = None) -> None:
        self.store = store
        self.env = env
        self.clock = clock or utcnow  # naive UTC; the sign-in throttle and sessions read it

    # ------------------------------------------------------------------ accounts

    def create_user(self, actor: Actor, *, username: str, display_name: str, role: str,
                    password: str | None = None, site_id: int | None = None, demo: bool = False) -> int:
        """Create a staff account (admins, or the system at set-up).

        An admin never chooses the password: the account starts without one and its owner sets
        it with the link from :meth:`issue_password_link` (or use :meth:`invite_user`, which does
        both in one transaction). Only the ``system`` actor (demo seeding, tests) passes
        ``password`` or ``demo``.
        """
        with self.store.transaction() as s:
            return self._create_user(s, actor, username=username, display_name=display_name, role=role,
                                     password=password, site_id=site_id, demo=demo)

    def invite_user(self, actor: Actor, *, username: str, display_name: str, role: str,
                    site_id: int | None = None, now: dt.datetime | None = None) -> tuple[int, str]:
        """Create an account without a password and its one-time set-password link:
        ``(user_id, token)``. The token is shown once (only its hash is stored)."""
        now = now or self.clock()
        with self.store.transaction() as s:
            uid = self._create_user(s, actor, username=username, display_name=display_name, role=role,
                                    password=None, site_id=site_id, demo=False)
            return uid, self._new_link(s, actor, uid, now, reason="account created")

    def _create_user(self, s: Session, actor: Actor, *, username: str, display_name: str, role: str,
                     password: str | None, site_id: int | None, demo: bool) -> int:
        if actor.role not in ("admin", "system"):
            raise PermissionDeniedError("only an admin may create accounts", role=actor.role)
        if actor.role != "system" and (password is not None or demo):
            raise PermissionDeniedError("an admin does not choose passwords: the account's owner sets one with "
                                        "the one-time link issued for the account", role=actor.role)
        if role not in STAFF_ROLES:
            raise ValidationError(field="user.role", value=role, allowed=STAFF_ROLES)
        if not isinstance(username, str) or not username or len(username) > 64 or \
                not username.isascii() or not username.replace(".", "").replace("-", "").replace("_", "").isalnum():
            raise ValidationError(field="user.username", value=username,
                                  allowed="1 to 64 letters, digits, '.', '-' or '_'")
        if not isinstance(display_name, str) or not display_name or len(display_name) > 200:
            raise ValidationError(field="user.display_name", value=display_name, allowed="1 to 200 characters")
        if password is not None:
            _check_password(password, "user.password")
        if role in SITE_ROLES and site_id is None:
            raise ValidationError(field="user.site_id", value=None, allowed="a site id",
                                  reason=f"a {role} belongs to a site")
        if site_id is not None and s.get(SiteRow, site_id) is None:
            raise NotFoundError(entity="site", key=site_id)
        if s.execute(select(UserRow.id).where(UserRow.username == username)).first():
            raise ConflictError(f"user {username!r} already exists", field="user.username")
        row = UserRow(username=username, display_name=display_name, role=role, site_id=site_id,
                      password_hash=signin._HASHER.hash(password) if password is not None else None, active=True,
                      created_at=utcnow(), demo=bool(demo))
        s.add(row)
        s.flush()
        audit.append(s, actor=actor.name, actor_role=actor.role, action="create", entity="user", entity_id=row.id,
                     detail={"username": username, "role": role, "site_id": site_id, "demo": bool(demo),
                             "password": "set by the system" if password is not None else "set by the owner (link)"})
        return row.id

    def list_users(self, actor: Actor) -> list[dict[str, Any]]:
        if actor.role not in ("admin", "system"):
            raise PermissionDeniedError("only an admin may list accounts", role=actor.role)
        now = self.clock()
        with self.store.transaction() as s:
            rows = s.execute(select(UserRow).order_by(UserRow.username)).scalars().all()
            pending = set(s.execute(select(PasswordLinkRow.user_id).where(
                PasswordLinkRow.used_at.is_(None), PasswordLinkRow.revoked.is_(False),
                PasswordLinkRow.expires_at > now)).scalars())
            audit.append(s, actor=actor.name, actor_role=actor.role, action="read", entity="user", entity_id=None,
                         detail={"n": len(rows)})
            return [{"id": r.id, "username": r.username, "display_name": r.display_name, "role": r.role,
                     "site_id": r.site_id, "active": r.active, "demo": r.demo, "last_login_at": r.last_login_at,
                     "has_password": r.password_hash is not None, "link_pending": r.id in pending,
                     "two_factor_since": r.totp_enabled_at} for r in rows]

    def _admin_target(self, s: Session, actor: Actor, user_id: int) -> UserRow:
        if actor.role not in ("admin", "system"):
            raise PermissionDeniedError("only an admin may change accounts", role=actor.role)
        row = s.get(UserRow, user_id)
        if row is None:
            raise NotFoundError(entity="user", key=user_id)
        return row

    @staticmethod
    def _end_sessions(s: Session, user_id: int) -> int:
        n = 0
        for sess in s.execute(select(WebSessionRow).where(WebSessionRow.user_id == user_id,
                                                          WebSessionRow.revoked.is_(False))).scalars():
            sess.revoked = True
            n += 1
        return n

    def set_active(self, actor: Actor, user_id: int, active: bool) -> None:
        with self.store.transaction() as s:
            row = self._admin_target(s, actor, user_id)
            old = row.active
            row.active = bool(active)
            ended = 0 if active else self._end_sessions(s, user_id)
            audit.append(s, actor=actor.name, actor_role=actor.role, action="update", entity="user", entity_id=user_id,
                         detail={"active": bool(active), "change": "active", "old": old, "new": bool(active),
                                 "sessions_ended": ended})

    def update_user(self, actor: Actor, user_id: int, *, role: str, site_id: int | None) -> dict[str, Any]:
        """Change an account's role and site. The account's sessions end (its owner signs in
        again and is told); each changed field is audited with its old and new value. Returns
        the changes as ``{field: [old, new]}`` (empty when nothing changed)."""
        if role not in STAFF_ROLES:
            raise ValidationError(field="user.role", value=role, allowed=STAFF_ROLES)
        if role in SITE_ROLES and site_id is None:
            raise ValidationError(field="user.site_id", value=None, allowed="a site from the list",
                                  reason=f"a {role} belongs to a site")
        if role not in SITE_ROLES:
            site_id = None  # researchers and admins belong to no site
        with self.store.transaction() as s:
            row = self._admin_target(s, actor, user_id)
            if row.username == actor.name:
                raise ValidationError(field="user.role", value=role, allowed="another account",
                                      reason="you cannot change your own role or site; ask another admin")
            if site_id is not None and s.get(SiteRow, site_id) is None:
                raise NotFoundError(entity="site", key=site_id)
            changes: dict[str, Any] = {}
            if row.role != role:
                changes["role"] = [row.role, role]
            if row.site_id != site_id:
                changes["site_id"] = [row.site_id, site_id]
            if not changes:
                return changes
            row.role, row.site_id = role, site_id
            ended = self._end_sessions(s, user_id)
            for field, (old, new) in changes.items():
                audit.append(s, actor=actor.name, actor_role=actor.role, action="update", entity="user",
                             entity_id=user_id, detail={"change": field, "old": old, "new": new,
                                                        "sessions_ended": ended})
            return changes

    def reset_password(self, actor: Actor, user_id: int, *, now: dt.datetime | None = None) -> str:
        """Make the account's password unusable, end its sessions and issue a new one-time
        set-password link (earlier links stop working). Returns the link's token (shown once)."""
        now = now or self.clock()
        with self.store.transaction() as s:
            row = self._admin_target(s, actor, user_id)
            if row.demo and self.env == "production":
                raise PermissionDeniedError("demo accounts are refused in production", role=actor.role)
            row.password_hash = None
            ended = self._end_sessions(s, user_id)
            token = self._new_link(s, actor, user_id, now, reason="password reset")
            audit.append(s, actor=actor.name, actor_role=actor.role, action="update", entity="user", entity_id=user_id,
                         detail={"change": "password_reset", "old": "password", "new": "set-password link",
                                 "sessions_ended": ended})
            return token

    def issue_password_link(self, actor: Actor, user_id: int, *, now: dt.datetime | None = None) -> str:
        """A new one-time set-password link for an account that has no password yet (the old
        link was lost or expired); use :meth:`reset_password` for an account that has one."""
        now = now or self.clock()
        with self.store.transaction() as s:
            row = self._admin_target(s, actor, user_id)
            if row.password_hash is not None:
                raise ConflictError("this account has a password; reset it to issue a new link",
                                    field="user.password")
            return self._new_link(s, actor, user_id, now, reason="new link")

    def _new_link(self, s: Session, actor: Actor, user_id: int, now: dt.datetime, *, reason: str) -> str:
        for old in s.execute(select(PasswordLinkRow).where(PasswordLinkRow.user_id == user_id,
                                                           PasswordLinkRow.used_at.is_(None),
                                                           PasswordLinkRow.revoked.is_(False))).scalars():
            old.revoked = True
        token = secrets.token_urlsafe(32)
        link = PasswordLinkRow(token_hash=hash_token(token), user_id=user_id, created_by=actor.name[:64],
                               created_at=now, expires_at=now + PASSWORD_LINK_VALID, revoked=False)
        s.add(link)
        s.flush()
        audit.append(s, actor=actor.name, actor_role=actor.role, action="create", entity="password_link",
                     entity_id=link.id, detail={"user_id": user_id, "reason": reason,
                                                "expires_at": link.expires_at.isoformat(timespec="seconds")})
        return token

    def _live_link(self, s: Session, token: str, now: dt.datetime) -> tuple[PasswordLinkRow, UserRow]:
        link = s.execute(select(PasswordLinkRow).where(PasswordLinkRow.token_hash == hash_token(token or ""))
                         ).scalar()
        if link is None or link.revoked:
            raise AuthenticationError("this set-password link is not valid; ask an admin for a new one")
        if link.used_at is not None:
            raise AuthenticationError("this set-password link has been used; ask an admin for a new one")
        if now > link.expires_at:
            raise AuthenticationError("this set-password link has expired; ask an admin for a new one")
        user = s.get(UserRow, link.user_id)
        if user is None or not user.active:
            raise AuthenticationError("this account is deactivated; ask an admin")
        if user.demo and self.env == "production":
            raise AuthenticationError("demo accounts are refused in production")
        return link, user

    def check_password_link(self, token: str, *, now: dt.datetime | None = None) -> dict[str, str]:
        """The account a live set-password link is for (``username``, ``display_name``), or
        :class:`AuthenticationError` when the link is unknown, used, revoked or expired."""
        now = now or self.clock()
        with self.store.transaction() as s:
            _, user = self._live_link(s, token, now)
            return {"username": user.username, "display_name": user.display_name}

    def set_password(self, token: str, password: str, *, client: str = "", now: dt.datetime | None = None) -> str:
        """The owner sets their password with a one-time link; the link is spent and any
        session of the account ends. Returns the user name."""
        now = now or self.clock()
        _check_password(password, "password")
        with self.store.transaction() as s:
            link, user = self._live_link(s, token, now)
            link.used_at = now
            user.password_hash = signin._HASHER.hash(password)
            ended = self._end_sessions(s, user.id)
            audit.append(s, actor=user.username, actor_role=user.role, action="update", entity="user",
                         entity_id=user.id, detail={"change": "password_set", "link_id": link.id, "client": client,
                                                    "sessions_ended": ended})
            return user.username

    def account_notices(self, user: SessionUser) -> list[dict[str, Any]]:
        """Changes others made to ``user``'s account since their previous sign-in (role, site,
        password reset, activation), oldest first, from the audit log."""
        since = user.notices_since
        if since is None:
            return []
        with self.store.transaction() as s:
            rows = s.execute(select(AuditRow).where(
                AuditRow.entity == "user", AuditRow.entity_id == str(user.user_id), AuditRow.action == "update",
                AuditRow.at > since, AuditRow.actor != user.username).order_by(AuditRow.id)).scalars().all()
            codes: dict[Any, str] = {i: c for i, c in s.execute(select(SiteRow.id, SiteRow.code))}
            out = []
            for r in rows:
                d = r.detail or {}
                change, old, new = d.get("change"), d.get("old"), d.get("new")
                if change not in _NOTICE_TEXT or (change == "active" and not new):
                    continue
                shown_old, shown_new = (codes.get(old, "no site"), codes.get(new, "no site")) if change == "site_id" \
                    else (old, new)
                out.append({"at": r.at, "by": r.actor, "change": change, "old": old, "new": new,
                            "message": _NOTICE_TEXT[change].format(old=shown_old, new=shown_new)})
            audit.append(s, actor=user.username, actor_role=user.role, action="read", entity="account_notice",
                         entity_id=user.user_id, detail={"n": len(out)})
            return out

    def reset_two_factor(self, actor: Actor, user_id: int) -> None:
        """An admin turns an account's two-factor off (a lost phone): the secret is deleted, the
        account's sessions end, and its owner sets up an authenticator again (at the next
        sign-in when their role requires it). Audited; shown to the owner at the next sign-in."""
        with self.store.transaction() as s:
            row = self._admin_target(s, actor, user_id)
            had = row.totp_enabled_at is not None
            row.totp_secret = row.totp_enabled_at = row.totp_last_step = None
            ended = self._end_sessions(s, user_id)
            audit.append(s, actor=actor.name, actor_role=actor.role, action="update", entity="user", entity_id=user_id,
                         detail={"change": "two_factor_reset", "old": had, "new": False, "sessions_ended": ended})

    def role_policies(self) -> dict[str, bool]:
        """Whether each staff role must sign in with two-factor."""
        with self.store.transaction() as s:
            return {role: self._role_requires_two_factor(s, role) for role in STAFF_ROLES}

    def set_role_policy(self, actor: Actor, role: str, *, require_two_factor: bool,
                        now: dt.datetime | None = None) -> bool:
        """An admin requires (or stops requiring) two-factor sign-in for a role. When required,
        the sessions of that role's accounts without an authenticator end: at their next sign-in
        they set one up before anything else. Audited with the old and new value. Returns whether
        anything changed."""
        if actor.role not in ("admin", "system"):
            raise PermissionDeniedError("only an admin may change sign-in policies", role=actor.role)
        if role not in STAFF_ROLES:
            raise ValidationError(field="role_policy.role", value=role, allowed=STAFF_ROLES)
        now = now or self.clock()
        with self.store.transaction() as s:
            policy = s.get(RolePolicyRow, role)
            old = bool(policy is not None and policy.require_two_factor)
            if old == require_two_factor:
                return False
            if policy is None:
                policy = RolePolicyRow(role=role, require_two_factor=require_two_factor, updated_by=actor.name,
                                       updated_at=now)
                s.add(policy)
            policy.require_two_factor, policy.updated_by, policy.updated_at = require_two_factor, actor.name, now
            ended = 0
            if require_two_factor:
                for user in s.execute(select(UserRow).where(UserRow.role == role,
                                                            UserRow.totp_enabled_at.is_(None))).scalars():
                    ended += self._end_sessions(s, user.id)
            audit.append(s, actor=actor.name, actor_role=actor.role, action="update", entity="role_policy",
                         entity_id=None, detail={"role": role, "change": "require_two_factor", "old": old,
                                                 "new": require_two_factor, "sessions_ended": ended})
            return True

    # ------------------------------------------------------------------ identities

    def list_patients(self, actor: Actor, *, q: str | None = None, diagnosis_group: str | None = None,
                      treatment: str | None = None, followup: str | None = None, today: dt.date | None = None,
                      limit: int = 50, offset: int = 0) -> dict[str, Any]:
        """Patients of the actor's site with search (name, hospital number, pseudonymous id) and
        filters (diagnosis group, treatment, follow-up ``due`` / ``overdue``)."""
        if actor.role not in SITE_ROLES:
            raise PermissionDeniedError("only clinicians and coordinators list patients", role=actor.role)
        if not 1 <= limit <= 500:
            raise ValidationError(field="limit", value=limit, allowed="1 to 500")
        if not 0 <= offset <= 10_000_000:
            raise ValidationError(field="offset", value=offset, allowed="0 to 10000000")
        if q is not None and ("\x00" in q or len(q) > 200):
            raise ValidationError(field="q", value=q, allowed="search text up to 200 characters")
        if followup not in (None, "", "due", "overdue"):
            raise ValidationError(field="followup", value=followup, allowed=["due", "overdue"])
        today = today or clock.today()
        with self.store.transaction() as s:
            stmt = (select(PatientRow, PatientIdentityRow, EpisodeRow)
                    .join(PatientIdentityRow, PatientIdentityRow.patient_id == PatientRow.id, isouter=True)
                    .join(EpisodeRow, EpisodeRow.patient_id == PatientRow.id, isouter=True)
                    .where(PatientRow.site_id == actor.site_id))
            if q:
                like = f"%{q.strip().lower()}%"
                stmt = stmt.where(or_(func.lower(PatientIdentityRow.full_name).like(like),
                                      func.lower(PatientIdentityRow.mrn).like(like),
                                      func.lower(PatientRow.pseudo_id).like(like)))
            if diagnosis_group:
                stmt = stmt.where(EpisodeRow.diagnosis_group == diagnosis_group)
            if treatment:
                stmt = stmt.where(EpisodeRow.treatment == treatment)
            if followup:
                stmt = stmt.where(EpisodeRow.id.in_(self._followup_episodes(s, followup, today)))
            total = s.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
            rows = s.execute(stmt.order_by(PatientRow.id.desc()).limit(limit).offset(offset)).all()
            out = []
            for p, ident, ep in rows:
                out.append({"patient_id": p.id, "pseudo_id": p.pseudo_id,
                            "full_name": ident.full_name if ident else None, "mrn": ident.mrn if ident else None,
                            "birth_year": p.birth_year, "sex": p.sex,
                            "episode_id": ep.id if ep else None,
                            "diagnosis_code": ep.diagnosis_code if ep else None,
                            "diagnosis_group": ep.diagnosis_group if ep else None,
                            "treatment": ep.treatment if ep else None,
                            "index_date": ep.index_date if ep else None})
            audit.append(s, actor=actor.name, actor_role=actor.role, action="read", entity="patient_list",
                         entity_id=None, detail={"n": len(out), "q": bool(q), "filters": {
                             "diagnosis_group": diagnosis_group, "treatment": treatment, "followup": followup}})
            return {"total": total, "items": out}

    def _followup_episodes(self, s: Session, which: str, today: dt.date) -> Sequence[int]:
        """Episodes with a follow-up timepoint whose window is open (``due``) or has closed
        (``overdue``) today without an ODI response at that timepoint."""
        tps = s.execute(select(TimepointRow).where(TimepointRow.target_days > 0)).scalars().all()
        ids: set[int] = set()
        for tp in tps:
            if which == "due":
                lo, hi = today - dt.timedelta(days=tp.window_to_days), today - dt.timedelta(days=tp.window_from_days)
            else:  # overdue: the window closed within the last 90 days
                lo, hi = (today - dt.timedelta(days=tp.window_to_days + 90),
                          today - dt.timedelta(days=tp.window_to_days + 1))
            answered = select(PromResponseRow.episode_id).where(PromResponseRow.timepoint == tp.code,
                                                                PromResponseRow.instrument == "odi")
            ids.update(s.execute(select(EpisodeRow.id).where(
                and_(EpisodeRow.index_date >= lo, EpisodeRow.index_date <= hi, EpisodeRow.id.not_in(answered)))
            ).scalars())
        return sorted(ids)

    def get_identity(self, actor: Actor, patient_id: int) -> dict[str, Any] | None:
        with self.store.transaction() as s:
            p = s.get(PatientRow, patient_id)
            if p is None:
                raise NotFoundError(entity="patient", key=patient_id)
            authorize_patient(actor, p.id, p.site_id)
            row = s.get(PatientIdentityRow, patient_id)
            audit.append(s, actor=actor.name, actor_role=actor.role, action="read", entity="patient_identity",
                         entity_id=patient_id, patient_id=patient_id)
            if row is None:
                return None
            return {"full_name": row.full_name, "mrn": row.mrn, "email": row.email, "phone": row.phone}
