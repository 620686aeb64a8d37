"""Request dependencies: the store, the signed-in staff member, the patient session, roles.

Use them as ``Annotated`` aliases in routes::

    @router.get("/api/v1/patients")
    def list_patients(user: ClinicStaff, access: AccessDep) -> PatientsPublic: ...

``StaffUser`` is any signed-in staff member; ``ClinicStaff`` a clinician or coordinator (their
own site); ``Researcher`` and ``Admin`` their roles; ``PatientVisit`` the patient session opened
from an invitation link. Each checks the CSRF token on unsafe methods.

Machine clients: every :func:`require_roles` dependency also accepts ``Authorization: Bearer
<API token>`` (:mod:`spinetrack.store.tokens`). The token stands for a staff member with its role
and site (a :class:`~spinetrack.store.tokens.TokenUser` named ``token:<id>``). A bearer request
carries no cookie authority, so no CSRF token is asked of it; instead the token must hold the
scope the request needs: ``read`` for GET and HEAD, ``write`` for POST, PUT, PATCH and DELETE,
or the scope a route names (``require_roles(..., scope="export")`` for FHIR Bulk Data). When a
request carries both a bearer token and a session cookie, the token decides. An unknown, revoked
or expired token is answered 401 with ``WWW-Authenticate: Bearer error="invalid_token"``; a
missing scope 403 (``error="insufficient_scope"``). Each refusal is audited.

``PatientSubmitter`` touches no database: it carries the patient session's cookie and the CSRF
token sent with the request, so that a submission resolves the session, checks the token
(:meth:`PatientCredentials.authorize`) and stores the questionnaire in one transaction
(:meth:`~spinetrack.store.access.Access.submit_visit`).
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from spinetrack.errors import AuthenticationError, PermissionDeniedError, RateLimitError
from spinetrack.store import tokens
from spinetrack.store.access import LINK_CLOSED, Access, InvitationView, SessionUser
from spinetrack.store.repositories import Store
from spinetrack.store.tokens import TokenUser
from spinetrack.web.security import PATIENT_COOKIE, SESSION_COOKIE, UNSAFE, check_csrf

__all__ = [
    "AccessDep",
    "Admin",
    "ClinicStaff",
    "OptionalUser",
    "PatientCredentials",
    "PatientSubmitter",
    "PatientVisit",
    "Researcher",
    "StaffUser",
    "StoreDep",
    "bearer_token",
    "require_roles",
]


# ``async``: a plain ``def`` dependency would cost a trip through the thread pool per request.
async def get_store(request: Request) -> Store:
    return request.app.state.store


async def get_access(request: Request) -> Access:
    return request.app.state.access


StoreDep = Annotated[Store, Depends(get_store)]
AccessDep = Annotated[Access, Depends(get_access)]


def optional_user(request: Request) -> SessionUser | None:
    access: Access = request.app.state.access
    return access.resolve_session(request.cookies.get(SESSION_COOKIE))


OptionalUser = Annotated[SessionUser | None, Depends(optional_user)]


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header, or None when there is no such header."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, value = header.strip().partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def _invalid_token(message: str) -> HTTPException:
    return HTTPException(401, detail=message, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


def _token_user(request: Request, token: str, roles: tuple[str, ...], scope: str | None) -> TokenUser:
    """Resolve the bearer token and check its role and scope (synchronous: database calls)."""
    store: Store = request.app.state.store
    try:
        user = tokens.authenticate_token(store, token, client=request.client.host if request.client else "unknown")
    except RateLimitError:
        raise  # 429 with Retry-After: too many refused tokens from this address
    except AuthenticationError as exc:
        raise _invalid_token(str(exc)) from None
    needed = scope or ("read" if request.method in SAFE_METHODS else "write")
    if roles and user.role not in roles:
        tokens.record_refusal(store, user.token_id, f"role {user.role} may not use this", role=user.role,
                              path=request.url.path)
        raise PermissionDeniedError(f"this needs the role {' or '.join(roles)}; this API token is {user.role}",
                                    role=user.role)
    if not user.has_scope(needed):
        tokens.record_refusal(store, user.token_id, f"missing scope {needed}", role=user.role,
                              path=request.url.path)
        raise HTTPException(403, detail=f"this API token lacks the scope {needed!r} (it has: "
                                        f"{', '.join(user.scopes) or 'none'})",
                            headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{needed}"'})
    return user


def require_roles(*roles: str, scope: str | None = None) -> Callable[[Request], Awaitable[SessionUser]]:
    """A dependency that admits a signed-in staff member with one of ``roles`` (any staff role
    when empty) and checks CSRF on unsafe methods; or an API token with one of ``roles`` and the
    scope needed (``scope``, else ``read`` for safe methods and ``write`` for unsafe ones)."""

    async def dependency(request: Request) -> SessionUser:
        token = bearer_token(request)
        if token is not None:
            token_user = await run_in_threadpool(_token_user, request, token, roles, scope)
            request.state.user = token_user
            return token_user
        if request.headers.get("authorization") is not None and not request.cookies.get(SESSION_COOKIE):
            raise _invalid_token("only Bearer API tokens are accepted in the Authorization header")
        # The session lookup is a synchronous database call: run it off the event loop.
        user = await run_in_threadpool(optional_user, request)
        if user is None:
            raise AuthenticationError("please sign in")
        if roles and user.role not in roles:
            raise PermissionDeniedError(f"this needs the role {' or '.join(roles)}; you are {user.role}",
                                        role=user.role)
        await check_csrf(request, user.csrf_token)
        request.state.user = user
        return user

    return dependency


StaffUser = Annotated[SessionUser, Depends(require_roles())]
ClinicStaff = Annotated[SessionUser, Depends(require_roles("clinician", "coordinator"))]
Researcher = Annotated[SessionUser, Depends(require_roles("researcher"))]
Admin = Annotated[SessionUser, Depends(require_roles("admin"))]


async def patient_visit(request: Request) -> InvitationView:
    access: Access = request.app.state.access
    view = await run_in_threadpool(access.resolve_patient_session, request.cookies.get(PATIENT_COOKIE))
    if view is None:
        raise AuthenticationError(LINK_CLOSED)
    await check_csrf(request, view.csrf_token)
    return view


PatientVisit = Annotated[InvitationView, Depends(patient_visit)]


@dataclass(frozen=True, slots=True)
class PatientCredentials:
    """The patient session cookie and the CSRF token sent with an unsafe request, not yet
    checked: :meth:`authorize` runs inside the submission's transaction."""

    session_token: str
    csrf_sent: str | None

    def authorize(self, view: InvitationView) -> None:
        """Refuse the request unless the CSRF token sent is the session's (as :func:`check_csrf`)."""
        expected, sent = view.csrf_token, self.csrf_sent
        if not expected or not sent or not secrets.compare_digest(sent, expected):
            raise AuthenticationError("missing or wrong CSRF token (reload the page and try again)")


async def patient_credentials(request: Request) -> PatientCredentials:
    """No session cookie: 401 at once; otherwise the cookie and the CSRF token sent (header, or
    the ``csrf_token`` field of a form), for :meth:`Access.submit_visit`."""
    token = request.cookies.get(PATIENT_COOKIE)
    if not token:
        raise AuthenticationError(LINK_CLOSED)
    sent = request.headers.get("x-csrf-token")
    if sent is None and request.method in UNSAFE and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        value = (await request.form()).get("csrf_token")
        sent = value if isinstance(value, str) else None
    return PatientCredentials(token, sent)


PatientSubmitter = Annotated[PatientCredentials, Depends(patient_credentials)]
