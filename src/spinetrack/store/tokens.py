"""API tokens for machine clients (table ``api_tokens``): create, resolve, list, revoke.

An admin creates a token for a client that cannot sign in with a password (a registry upload, a
FHIR Bulk Data consumer, a hospital integration engine). The client sends it as
``Authorization: Bearer <token>`` to ``/api/v1`` and ``/fhir`` (:mod:`spinetrack.web.deps`).

Security choices (for the hospital security officer):

* The token is ``stk_`` followed by 32 random bytes (:func:`secrets.token_urlsafe`, 43
  characters): 256 bits, recognisable in a leaked file or a secret scanner by its prefix. It is
  shown once, when created; only its SHA-256 is stored. A presented token is hashed and looked
  up by that hash (a unique index), so no stored secret is ever compared character by character.
* Each token carries one role and, for the clinic roles (clinician, coordinator), one site: it
  sees exactly what a person with that role and site sees. Researcher and admin tokens have no
  site.
* Scopes narrow it further: ``read`` (GET, HEAD), ``write`` (POST, PUT, PATCH, DELETE) and
  ``export`` (FHIR Bulk Data ``$export``, its status and its files).
* It expires: :data:`DEFAULT_DAYS` days by default, at most :data:`MAX_DAYS`. It can be revoked
  at any time; a revoked or expired token is refused with 401 and never comes back.
* Every creation, revocation and refused use (unknown, expired, revoked, or a scope or role it
  lacks) is in the audit log; the token itself never is (nor in any log line): the audit names
  the token by its number.
* ``last_used_at`` is written at most once a minute per token, so that a busy client does not
  turn every read into a database write.
* A request made with a token cannot create or revoke tokens (an admin signed in does that).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import select

from spinetrack.clock import utcnow
from spinetrack.errors import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from spinetrack.store import audit, throttle
from spinetrack.store.repositories import SITE_ROLES, Actor, Store
from spinetrack.store.signin import SessionUser
from spinetrack.store.tables import ApiTokenRow, SiteRow

__all__ = [
    "DEFAULT_DAYS",
    "MAX_DAYS",
    "SCOPES",
    "TOKEN_PREFIX",
    "TOKEN_ROLES",
    "TokenInfo",
    "TokenUser",
    "authenticate_token",
    "create_token",
    "hash_api_token",
    "list_tokens",
    "record_refusal",
    "resolve_token",
    "revoke_token",
    "site_id_for",
    "token_scopes",
]

TOKEN_PREFIX = "stk_"
SCOPES = ("read", "write", "export")
TOKEN_ROLES = ("clinician", "coordinator", "researcher", "admin")
DEFAULT_DAYS = 90
MAX_DAYS = 365
TOUCH_EVERY = dt.timedelta(seconds=60)  # last_used_at is written at most this often
_TOKEN_SHAPE = re.compile(r"stk_[A-Za-z0-9_-]{43}")
_MAX_NAME = 200


@dataclass(frozen=True, slots=True)
class TokenUser(SessionUser):
    """The caller behind an API token: a :class:`SessionUser` named ``token:<id>`` (``user_id``
    0, no CSRF token) with the token's role and site, plus its number and scopes."""

    token_id: int = 0
    scopes: tuple[str, ...] = ()

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A token as the admin page and ``spinetrack tokens list`` show it (never the token)."""

    id: int
    name: str
    role: str
    site_id: int | None
    site_code: str | None
    scopes: tuple[str, ...]
    created_by: str
    created_at: dt.datetime
    expires_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None
    revoked_by: str | None

    def state(self, now: dt.datetime | None = None) -> str:
        """``active``, ``expired`` or ``revoked``."""
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if (now or utcnow()) >= self.expires_at else "active"

    def as_dict(self) -> dict[str, object]:
        return {"id": self.id, "name": self.name, "role": self.role, "site_id": self.site_id,
                "site": self.site_code, "scopes": list(self.scopes), "created_by": self.created_by,
                "created_at": self.created_at.isoformat(), "expires_at": self.expires_at.isoformat(),
                "last_used_at": self.last_used_at.isoformat() if self.last_used_at else None,
                "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
                "revoked_by": self.revoked_by, "state": self.state()}


def hash_api_token(token: str) -> str:
    """The SHA-256 (hex) stored for ``token``."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _require_admin(actor: Actor, what: str) -> None:
    if actor.name.startswith("token:"):
        raise PermissionDeniedError(f"an API token cannot {what}: an admin signed in does that", role=actor.role)
    if actor.role not in ("admin", "system"):
        raise PermissionDeniedError(f"only an admin may {what}", role=actor.role)


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError(field="token.name", value=name, allowed="a short description of the client",
                              reason="every token needs a name saying what uses it")
    text = name.strip()
    if len(text) > _MAX_NAME or any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise ValidationError(field="token.name", value=text[:40],
                              allowed=f"at most {_MAX_NAME} characters without control characters")
    return text


def _check_scopes(scopes: Sequence[str]) -> tuple[str, ...]:
    if isinstance(scopes, str) or not scopes:
        raise ValidationError(field="token.scopes", value=scopes, allowed=SCOPES,
                              reason="choose at least one scope")
    out = []
    for scope in scopes:
        if scope not in SCOPES:
            raise ValidationError(field="token.scopes", value=scope, allowed=SCOPES)
        if scope not in out:
            out.append(scope)
    return tuple(sorted(out, key=SCOPES.index))


def create_token(store: Store, actor: Actor, *, name: str, role: str, site_id: int | None,
                 scopes: Sequence[str], days: int = DEFAULT_DAYS,
                 now: dt.datetime | None = None) -> tuple[int, str]:
    """Create a token (admins, or the ``system`` actor): returns ``(id, token)``.

    The token is returned here only — store it in the client's secret store at once; only its
    hash is kept. Clinic roles need ``site_id``; researcher and admin tokens must have none.
    ``days``: 1 to :data:`MAX_DAYS`. Audited (``create`` on ``api_token``, without the token).
    """
    _require_admin(actor, "create API tokens")
    clean_name = _check_name(name)
    if role not in TOKEN_ROLES:
        raise ValidationError(field="token.role", value=role, allowed=TOKEN_ROLES)
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise ValidationError(field="token.days", value=days, allowed=f"1 to {MAX_DAYS} days")
    clean_scopes = _check_scopes(scopes)
    if role in SITE_ROLES and site_id is None:
        raise ValidationError(field="token.site", value=None, allowed="a site",
                              reason=f"a {role} token works for one site: choose it")
    if role not in SITE_ROLES and site_id is not None:
        raise ValidationError(field="token.site", value=site_id, allowed="no site",
                              reason=f"a {role} token is not tied to a site")
    now = now or utcnow()
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with store.transaction() as s:
        if site_id is not None and s.get(SiteRow, site_id) is None:
            raise NotFoundError(entity="site", key=site_id)
        row = ApiTokenRow(token_hash=hash_api_token(token), name=clean_name, role=role, site_id=site_id,
                          scopes=list(clean_scopes), created_by=actor.name, created_at=now,
                          expires_at=now + dt.timedelta(days=days))
        s.add(row)
        s.flush()
        audit.append(s, actor=actor.name, actor_role=actor.role, action="create", entity="api_token",
                     entity_id=row.id, detail={"name": clean_name, "role": role, "site_id": site_id,
                                               "scopes": list(clean_scopes),
                                               "expires_at": row.expires_at.isoformat(timespec="seconds")})
        return row.id, token


def _user(row: ApiTokenRow) -> TokenUser:
    return TokenUser(user_id=0, username=f"token:{row.id}", display_name=f"API token {row.id}: {row.name}",
                     role=row.role, site_id=row.site_id, csrf_token="", token_id=row.id,
                     scopes=tuple(row.scopes or ()))


def authenticate_token(store: Store, token: str, *, now: dt.datetime | None = None,
                       client: str | None = None) -> TokenUser:
    """The caller behind ``token``, or :class:`AuthenticationError` saying plainly why not
    (unknown, revoked, expired); every refusal is audited. Updates ``last_used_at`` (at most
    once a minute).

    A refusal counts as a failed attempt of ``client`` (its address) in the sign-in throttle
    (:mod:`spinetrack.store.throttle`, user name ``api-token``): after a few, further refusals
    answer :class:`~spinetrack.errors.RateLimitError` (429) without an audit row, so a client
    sending made-up tokens cannot flood the audit log. A valid token is never slowed."""
    now = now or utcnow()
    reason: str | None = None
    token_id: int | None = None
    with store.transaction() as s:
        row = None
        if _TOKEN_SHAPE.fullmatch(token or ""):
            row = s.execute(select(ApiTokenRow).where(ApiTokenRow.token_hash == hash_api_token(token))
                            ).scalar_one_or_none()
        if row is None:
            reason = "this API token is not known (check that it was copied whole)"
        elif row.revoked_at is not None:
            reason, token_id = "this API token was revoked; ask an administrator for a new one", row.id
        elif now >= row.expires_at:
            reason, token_id = "this API token has expired; ask an administrator for a new one", row.id
        else:
            if row.last_used_at is None or now - row.last_used_at >= TOUCH_EVERY:
                row.last_used_at = now
            return _user(row)
    if client is not None:
        with store.transaction() as s:  # raises RateLimitError while the address waits (nothing recorded)
            throttle.reserve(s, "api-token", client, now)
    record_refusal(store, token_id, reason, role="unknown" if token_id is None else None)
    raise AuthenticationError(reason)


def resolve_token(store: Store, token: str, *, now: dt.datetime | None = None) -> TokenUser | None:
    """The caller behind ``token`` (a :class:`TokenUser`, whose ``scopes`` attribute lists its
    scopes), or None when it is unknown, revoked or expired (refusals are audited)."""
    try:
        return authenticate_token(store, token, now=now)
    except AuthenticationError:
        return None


def record_refusal(store: Store, token_id: int | None, reason: str, *, role: str | None = None,
                   path: str | None = None) -> None:
    """Audit a refused use of a token (``refuse`` on ``api_token``): its number when known,
    why, and the path asked for. The token itself is never recorded."""
    with store.transaction() as s:
        if role is None and token_id is not None:
            row = s.get(ApiTokenRow, token_id)
            role = row.role if row is not None else "unknown"
        detail: dict[str, object] = {"reason": reason}
        if path is not None:
            detail["path"] = path[:200]
        audit.append(s, actor=f"token:{token_id}" if token_id is not None else "token:?",
                     actor_role=role or "unknown", action="refuse", entity="api_token", entity_id=token_id,
                     detail=detail)


def token_scopes(store: Store, token_id: int) -> tuple[str, ...]:
    """The scopes of token ``token_id`` (empty when there is no such token)."""
    with store.transaction() as s:
        row = s.get(ApiTokenRow, token_id)
        return tuple(row.scopes or ()) if row is not None else ()


def list_tokens(store: Store, actor: Actor) -> list[TokenInfo]:
    """Every token, newest first (admins); never the token itself, which is not stored."""
    _require_admin(actor, "list API tokens")
    with store.transaction() as s:
        codes = {int(i): str(c) for i, c in s.execute(select(SiteRow.id, SiteRow.code))}
        rows = s.execute(select(ApiTokenRow).order_by(ApiTokenRow.id.desc())).scalars().all()
        return [TokenInfo(r.id, r.name, r.role, r.site_id, codes.get(r.site_id) if r.site_id else None,
                          tuple(r.scopes or ()), r.created_by, r.created_at, r.expires_at, r.last_used_at,
                          r.revoked_at, r.revoked_by) for r in rows]


def revoke_token(store: Store, actor: Actor, token_id: int, *,
                 now: Callable[[], dt.datetime] = utcnow) -> None:
    """Revoke a token at once (admins; audited). Refused when it is already revoked."""
    _require_admin(actor, "revoke API tokens")
    if isinstance(token_id, bool) or not isinstance(token_id, int):
        raise ValidationError(field="token.id", value=token_id, allowed="a token number")
    with store.transaction() as s:
        row = s.get(ApiTokenRow, token_id)
        if row is None:
            raise NotFoundError(entity="API token", key=token_id)
        if row.revoked_at is not None:
            raise ConflictError(f"API token {token_id} was already revoked", field="token.id")
        row.revoked_at, row.revoked_by = now(), actor.name
        audit.append(s, actor=actor.name, actor_role=actor.role, action="revoke", entity="api_token",
                     entity_id=row.id, detail={"name": row.name, "role": row.role, "site_id": row.site_id})


def site_id_for(store: Store, code: str) -> int:
    """The id of the site with ``code`` (for the CLI and the admin page); :class:`NotFoundError`
    when there is none."""
    with store.transaction() as s:
        site_id = s.execute(select(SiteRow.id).where(SiteRow.code == code)).scalar_one_or_none()
    if site_id is None:
        raise NotFoundError(entity="site", key=code)
    return int(site_id)
