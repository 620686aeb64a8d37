"""Staff sign-in: passwords (argon2id), the two-factor step (TOTP) and server-side sessions.
:class:`SignIn` is the sign-in half of :class:`spinetrack.store.access.Access`, which inherits
it; the security choices are listed in :mod:`spinetrack.store.access`.

* ``login`` counts the attempt in the database throttle first, checks the password outside the
  write transaction (argon2 takes a fifth of a second; on SQLite the write lock would be held),
  and opens a session, or raises :class:`SecondFactorNeeded` when the account has an
  authenticator or its role requires one.
* ``login_second_factor`` and ``confirm_two_factor`` take the 6-digit code (current 30-second
  step ± 1, each code once), throttled like a password.
* ``resolve_session`` and ``logout``: the session behind a cookie; idle timeout and absolute
  lifetime.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session

from spinetrack.errors import AuthenticationError, ConflictError, NotFoundError, ValidationError
from spinetrack.store import audit, throttle, totp
from spinetrack.store.repositories import Actor, Store
from spinetrack.store.session import read_only
from spinetrack.store.tables import RolePolicyRow, UserRow, WebSessionRow
from spinetrack.store.visits import _as_refusal, hash_token

__all__ = ["MAX_PASSWORD", "MIN_PASSWORD", "SESSION_IDLE", "SESSION_MAX", "SecondFactorNeeded", "SessionUser",
           "SignIn"]

MIN_PASSWORD = 12
MAX_PASSWORD = 1024  # the sign-in form's limit too
SESSION_IDLE = dt.timedelta(minutes=30)
SESSION_MAX = dt.timedelta(hours=12)
_HASHER = PasswordHasher()
_DUMMY_HASH = _HASHER.hash("spinetrack-dummy-password")



def _check_password(password: object, field: str) -> None:
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD or "\x00" in password:
        raise ValidationError(field=field, value="(hidden)",
                              allowed=f"{MIN_PASSWORD} to {MAX_PASSWORD} characters (no NUL character)")


class SecondFactorNeeded(AuthenticationError):
    """The password was right, but the sign-in waits for the second factor: ``pending`` (valid
    5 minutes) goes with the code to :meth:`Access.login_second_factor`; ``setup``: the role
    requires two-factor and the account has none yet, so it is set up first
    (:meth:`Access.confirm_two_factor` with ``pending``)."""

    def __init__(self, pending: str, *, setup: bool) -> None:
        self.pending = pending
        self.setup = setup
        super().__init__("your role requires two-factor sign-in: set up an authenticator app in the web app first"
                         if setup else "enter the 6-digit code from your authenticator app")


@dataclass(frozen=True, slots=True)
class SessionUser:
    """The signed-in staff member behind a session."""

    user_id: int
    username: str
    display_name: str
    role: str
    site_id: int | None
    csrf_token: str
    notices_since: dt.datetime | None = None  # the previous sign-in: account changes after it are shown

    @property
    def actor(self) -> Actor:
        return Actor(self.username, self.role, self.site_id)


class SignIn:
    """Sign-in, the two-factor step and sessions; mixed into :class:`~spinetrack.store.access.Access`."""

    store: Store
    env: str
    clock: Callable[[], dt.datetime]

    def login(self, username: str, password: str, *, client: str = "", now: dt.datetime | None = None,
              code: str | None = None) -> tuple[str, SessionUser]:
        """Verify the password and open a session: returns ``(session_token, user)``.

        Two-factor: when the account has an authenticator, or its role requires one, a correct
        password opens no session but raises :class:`SecondFactorNeeded` (the pending sign-in);
        except that an account with an authenticator may send its ``code`` with the password
        (the API), checked here: a wrong one fails the sign-in like a wrong password.

        The attempt is first counted by the database throttle (:mod:`spinetrack.store.throttle`)
        in a transaction of its own; while the user name and address pair, or the address,
        waits, :class:`RateLimitError` is raised and no password is checked."""
        now = now or self.clock()
        username = username if isinstance(username, str) else ""
        with self.store.transaction() as s:
            reservation = throttle.reserve(s, username, client, now)
            if reservation.locked:
                audit.append(s, actor=username[:64] or "(empty)", actor_role="anonymous", action="login_locked",
                             entity="user", entity_id=None, detail={"client": client,
                                                                    "scope": list(reservation.locked)})
        if secrets.randbelow(200) == 0:
            with self.store.transaction() as s:
                throttle.forget_stale(s, now)
        # The password is checked outside the write transaction: on SQLite that one holds the write
        # lock from its start, and argon2 takes a fifth of a second.
        try:
            with Session(read_only(self.store.engine)) as r, r.begin():
                checked = r.execute(select(UserRow.password_hash).where(UserRow.username == username)).scalar()
        except DataError as exc:  # a name PostgreSQL cannot compare (a NUL character): 422, as Store.transaction
            raise _as_refusal(exc) from exc
        ok = False
        try:
            ok = _HASHER.verify(checked or _DUMMY_HASH, password or "")
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            ok = False
        with self.store.transaction() as s:
            row = s.execute(select(UserRow).where(UserRow.username == username)).scalar()
            ok = ok and row is not None and row.password_hash is not None and row.password_hash == checked
            refused = row is not None and row.demo and self.env == "production"
            if row is None or not row.active or not ok or refused:
                audit.append(s, actor=username[:64] or "(empty)", actor_role="anonymous", action="login_failed",
                             entity="user", entity_id=row.id if row is not None else None,
                             detail={"client": client, **({"reason": "demo account in production"} if refused and ok
                                                          else {})})
                s.commit()
                raise AuthenticationError("unknown user name or wrong password")
            if _HASHER.check_needs_rehash(row.password_hash or ""):
                row.password_hash = _HASHER.hash(password)
            enabled = row.totp_enabled_at is not None and row.totp_secret is not None
            if enabled and code is not None:  # password and code in one request (the API)
                step = totp.matching_step(row.totp_secret or "", code, now, row.totp_last_step)
                if step is None:
                    audit.append(s, actor=row.username, actor_role="anonymous", action="login_failed",
                                 entity="user", entity_id=row.id,
                                 detail={"client": client, "reason": "two-factor code"})
                    s.commit()
                    raise AuthenticationError("wrong or already used two-factor code")
                row.totp_last_step = step
                throttle.release(s, reservation)
                return self._open_session(s, row, now, client, two_factor=True)
            throttle.release(s, reservation)
            if enabled or self._role_requires_two_factor(s, row.role):
                audit.append(s, actor=row.username, actor_role=row.role, action="login_pending", entity="user",
                             entity_id=row.id, detail={"client": client, "next": "code" if enabled else "setup"})
                pending = totp.pending_token(row.id, row.password_hash, now)
                s.commit()
                raise SecondFactorNeeded(pending, setup=not enabled)
            return self._open_session(s, row, now, client)

    def _open_session(self, s: Session, row: UserRow, now: dt.datetime, client: str, *,
                      two_factor: bool = False) -> tuple[str, SessionUser]:
        since = row.last_login_at or row.created_at
        row.last_login_at = now
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        s.add(WebSessionRow(token_hash=hash_token(token), user_id=row.id, csrf_token=csrf, created_at=now,
                            last_seen_at=now, expires_at=now + SESSION_MAX, revoked=False, notices_since=since))
        audit.append(s, actor=row.username, actor_role=row.role, action="login", entity="user", entity_id=row.id,
                     detail={"client": client, **({"two_factor": True} if two_factor else {})})
        return token, SessionUser(row.id, row.username, row.display_name, row.role, row.site_id, csrf, since)

    # ------------------------------------------------------------------ two-factor sign-in

    @staticmethod
    def _role_requires_two_factor(s: Session, role: str) -> bool:
        policy = s.get(RolePolicyRow, role)
        return bool(policy is not None and policy.require_two_factor)

    def _pending_row(self, s: Session, pending: str | None, now: dt.datetime) -> UserRow:
        """The account of a live pending sign-in (password checked less than 5 minutes ago)."""
        parsed = totp.read_pending(pending)
        row = s.get(UserRow, parsed[0]) if parsed else None
        if (row is None or not row.active or (row.demo and self.env == "production")
                or not totp.check_pending(pending or "", row.password_hash, now)):
            raise AuthenticationError("the sign-in has expired: sign in again with your password")
        return row

    def pending_account(self, pending: str | None, *, now: dt.datetime | None = None) -> dict[str, Any]:
        """Who a pending sign-in is for: ``{"user_id", "username", "setup"}`` (``setup``: no
        authenticator yet). Raises :class:`AuthenticationError` when it is not live."""
        now = now or self.clock()
        with self.store.transaction() as s:
            row = self._pending_row(s, pending, now)
            return {"user_id": row.id, "username": row.username, "setup": row.totp_enabled_at is None}

    def _check_code(self, username: str, client: str, now: dt.datetime,
                    verify: Callable[[Session], tuple[str, SessionUser] | None]) -> tuple[str, SessionUser] | None:
        """A two-factor code attempt, throttled like a password (its own key per user name)."""
        with self.store.transaction() as s:
            reservation = throttle.reserve(s, f"two-factor\x1f{username}", client, now)
            if reservation.locked:
                audit.append(s, actor=username[:64], actor_role="anonymous", action="login_locked", entity="user",
                             entity_id=None, detail={"client": client, "scope": list(reservation.locked),
                                                     "step": "two-factor"})
        with self.store.transaction() as s:
            result = verify(s)
            throttle.release(s, reservation)
            return result

    def login_second_factor(self, pending: str | None, code: str, *, client: str = "",
                            now: dt.datetime | None = None) -> tuple[str, SessionUser]:
        """The second step of a sign-in: the code of the account's authenticator (current 30-s
        step ± 1, each code once). Opens the session."""
        now = now or self.clock()
        account = self.pending_account(pending, now=now)
        if account["setup"]:
            raise AuthenticationError("set up two-factor sign-in first")

        def verify(s: Session) -> tuple[str, SessionUser]:
            row = self._pending_row(s, pending, now)
            row = s.execute(select(UserRow).where(UserRow.id == row.id).with_for_update()).scalar_one()
            step = totp.matching_step(row.totp_secret or "", code, now, row.totp_last_step)
            if step is None:
                audit.append(s, actor=row.username, actor_role="anonymous", action="login_failed", entity="user",
                             entity_id=row.id, detail={"client": client, "reason": "two-factor code"})
                s.commit()
                raise AuthenticationError("wrong or already used code: enter the code your app shows now")
            row.totp_last_step = step
            return self._open_session(s, row, now, client, two_factor=True)

        result = self._check_code(account["username"], client, now, verify)
        assert result is not None
        return result

    def two_factor_secret(self, user_id: int) -> str:
        """The authenticator secret being set up for ``user_id`` (drawn at the first call and
        kept until confirmed, so that reloading the page shows the same one). Refused when
        two-factor is already on: an admin resets it first."""
        with self.store.transaction() as s:
            row = s.get(UserRow, user_id)
            if row is None:
                raise NotFoundError(entity="user", key=user_id)
            if row.totp_enabled_at is not None:
                raise ConflictError("two-factor sign-in is already on; to change the authenticator, ask an admin "
                                    "to reset it", field="user.totp")
            if row.totp_secret is None:
                row.totp_secret = totp.new_secret()
                audit.append(s, actor=row.username, actor_role=row.role, action="two_factor_setup", entity="user",
                             entity_id=row.id, detail={"step": "secret drawn"})
            return row.totp_secret

    def two_factor_status(self, user_id: int) -> dict[str, Any]:
        with self.store.transaction() as s:
            row = s.get(UserRow, user_id)
            if row is None:
                raise NotFoundError(entity="user", key=user_id)
            return {"enabled_at": row.totp_enabled_at, "required": self._role_requires_two_factor(s, row.role)}

    def confirm_two_factor(self, user_id: int | None, code: str, *, pending: str | None = None, client: str = "",
                           now: dt.datetime | None = None) -> tuple[str, SessionUser] | None:
        """Turn two-factor on with a code from the newly set-up authenticator. For a signed-in
        user pass ``user_id``; for a sign-in held back until set-up (an enforced role) pass
        ``pending`` instead, and the session is opened: ``(token, user)``."""
        now = now or self.clock()
        if pending is not None:
            account = self.pending_account(pending, now=now)
            user_id = account["user_id"]
        with self.store.transaction() as s:
            target = s.get(UserRow, user_id) if user_id is not None else None
            if target is None:
                raise NotFoundError(entity="user", key=user_id)
            username = target.username

        def verify(s: Session) -> tuple[str, SessionUser] | None:
            row = s.execute(select(UserRow).where(UserRow.id == user_id).with_for_update()).scalar_one()
            if pending is not None:
                self._pending_row(s, pending, now)
            if row.totp_enabled_at is not None or row.totp_secret is None:
                raise ConflictError("two-factor sign-in is already on, or was not being set up; reload the page",
                                    field="user.totp")
            step = totp.matching_step(row.totp_secret, code, now, row.totp_last_step)
            if step is None:
                audit.append(s, actor=row.username, actor_role=row.role, action="two_factor_setup", entity="user",
                             entity_id=row.id, detail={"step": "wrong code"})
                s.commit()
                raise ValidationError(field="code", value="(hidden)", allowed="the 6-digit code your app shows now",
                                      reason="wrong code")
            row.totp_enabled_at, row.totp_last_step = now, step
            audit.append(s, actor=row.username, actor_role=row.role, action="update", entity="user",
                         entity_id=row.id, detail={"change": "two_factor", "old": False, "new": True})
            return self._open_session(s, row, now, client, two_factor=True) if pending is not None else None

        return self._check_code(username, client, now, verify)

    def resolve_session(self, token: str | None, *, now: dt.datetime | None = None) -> SessionUser | None:
        """The user of a live session, or None (unknown, revoked, idle too long, or too old; a
        demo account's session in production)."""
        if not token:
            return None
        now = now or self.clock()
        with self.store.transaction() as s:
            sess = s.get(WebSessionRow, hash_token(token))
            if sess is None or sess.revoked or now > sess.expires_at or now - sess.last_seen_at > SESSION_IDLE:
                return None
            user = s.get(UserRow, sess.user_id)
            if user is None or not user.active or (user.demo and self.env == "production"):
                return None
            if now - sess.last_seen_at > dt.timedelta(seconds=60):  # write at most once a minute
                sess.last_seen_at = now
            return SessionUser(user.id, user.username, user.display_name, user.role, user.site_id, sess.csrf_token,
                               sess.notices_since)

    def logout(self, token: str | None) -> None:
        if not token:
            return
        with self.store.transaction() as s:
            sess = s.get(WebSessionRow, hash_token(token))
            if sess is not None and not sess.revoked:
                sess.revoked = True
                user = s.get(UserRow, sess.user_id)
                audit.append(s, actor=user.username if user else "?", actor_role=user.role if user else "?",
                             action="logout", entity="user", entity_id=sess.user_id)
