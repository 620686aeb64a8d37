"""The patient home: the page every link a clinic sends opens (``store/home.py`` holds the rules).

Routes
------
``GET  /p/h/{token}``              open a home link: the home page itself, answered at the link
                                   (a home session, cookie ``st_home``; opening again keeps the
                                   browser's session and signs no other device out; nothing is
                                   spent); access ended: the page offering a fresh link (410);
                                   unknown or revoked: 401.
``POST /p/h/{token}/new-link``     "E-mail me a new link": the same answer whether or not an
                                   address is on file (429 when asked too often).
``GET  /p/h/{token}/stop``         asks the patient to confirm they want no more messages.
``POST /p/h/{token}/stop``         records it (``opted_out_at``) and stops the follow-ups.
``GET  /p/home``                   the home page: visits done and due, results, decision aid,
                                   the clinic's contact.
``POST /p/home/visit/{invitation_id}``  start an open visit: its questionnaire pages (``/p/visit``).
``GET  /p/home/results``           the patient's own results over time (the results page's data).
``GET  /p/home/decision-aid``      (in routes/decision.py) the decision aid of this episode, once the clinician has
                                   released it and a red-flag screening is recorded.
``GET  /p/home/stop`` · ``POST``   the opt-out, from the home.
``POST /p/home/leave``             sign this device out of the home (the link still works).
``POST /p/language``               the language switch of a signed-in patient: remembered in the
                                   browser and recorded on the patient (audited).
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from spinetrack import i18n
from spinetrack.errors import AuthenticationError, ValidationError
from spinetrack.i18n import N_
from spinetrack.i18n import gettext as _
from spinetrack.store.home import LINK_INVALID, HomeView
from spinetrack.store.patient_frame import record_language, site_logo
from spinetrack.web.deps import AccessDep, StoreDep
from spinetrack.web.locale import LANG_COOKIE, safe_next
from spinetrack.web.routes.patient import (
    HOME_COOKIE,
    answer_opening,
    render_home,
    render_patient,
    results_context,
    speak_to,
)
from spinetrack.web.security import PATIENT_COOKIE, check_csrf, clear_cookie, set_cookie

__all__ = ["router"]

router = APIRouter()

HOME_CLOSED = N_("Your personal page is not open on this device. Please open the link from your clinic again.")
Token = Annotated[str, Path(min_length=8, max_length=64)]


def _render(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> Response:
    """A patient page with its frame; a route that has not read it yet (the decision aid) gets the
    home session's (the clinic, the patient's language)."""
    if not hasattr(request.state, "patient_frame"):
        speak_to(request, request.app.state.access.resolve_home_session(request.cookies.get(HOME_COOKIE)))
    return render_patient(request, name, context, status_code)


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


async def _home_session(request: Request) -> HomeView:
    """A dependency: the live home session, CSRF checked on unsafe methods."""
    access = request.app.state.access
    view: HomeView | None = await run_in_threadpool(access.resolve_home_session, request.cookies.get(HOME_COOKIE))
    if view is None:
        raise AuthenticationError(HOME_CLOSED)  # English; the error page translates it
    await check_csrf(request, view.csrf_token)
    return view


HomeSession = Annotated[HomeView, Depends(_home_session)]


def _closed(request: Request) -> Response:
    speak_to(request, None)
    return render_patient(request, "patient/link.html", {"message": _(HOME_CLOSED)}, 401)


# --------------------------------------------------------------------------------- the link

@router.get("/p/h/{token}", include_in_schema=False)
def open_home_link(request: Request, token: Token, access: AccessDep) -> Response:
    opened = access.open_patient_link(token, current=request.cookies.get(HOME_COOKIE))
    return answer_opening(request, opened, token)


@router.post("/p/h/{token}/new-link", include_in_schema=False)
def new_link(request: Request, token: Token, access: AccessDep) -> Response:
    client = request.client.host if request.client is not None else ""
    access.request_new_link(token, client=client)
    speak_to(request, None)
    return render_patient(request, "patient/new_link_sent.html", {}, next_path=f"/p/h/{token}")


@router.get("/p/h/{token}/stop", include_in_schema=False)
def stop_page(request: Request, token: Token, access: AccessDep) -> Response:
    speak_to(request, None)
    if access.link_episode(token) is None:
        return render_patient(request, "patient/link.html", {"message": _(LINK_INVALID)}, 401)
    return render_patient(request, "patient/stop.html", {"action": f"/p/h/{token}/stop", "csrf_token": None,
                                                         "back_url": f"/p/h/{token}"})


@router.post("/p/h/{token}/stop", include_in_schema=False)
def stop(request: Request, token: Token, access: AccessDep) -> Response:
    speak_to(request, None)
    episode_id = access.link_episode(token)
    if episode_id is None:
        return render_patient(request, "patient/link.html", {"message": _(LINK_INVALID)}, 401)
    access.opt_out(episode_id, via="link")
    return render_patient(request, "patient/stopped.html", {}, next_path=f"/p/h/{token}")


# --------------------------------------------------------------------------------- the home

@router.get("/p/home", include_in_schema=False)
def home_page(request: Request, access: AccessDep) -> Response:
    view = access.resolve_home_session(request.cookies.get(HOME_COOKIE))
    if view is None:
        return _closed(request)
    return render_home(request, view)


@router.post("/p/home/visit/{invitation_id}", include_in_schema=False)
def start_visit(request: Request, invitation_id: int, home: HomeSession, access: AccessDep) -> Response:
    session = access.start_home_visit(home, invitation_id)
    response = _redirect("/p/visit")
    set_cookie(request, response, PATIENT_COOKIE, session)
    return response


@router.get("/p/home/results", include_in_schema=False)
def home_results(request: Request, store: StoreDep, access: AccessDep) -> Response:
    view = access.resolve_home_session(request.cookies.get(HOME_COOKIE))
    if view is None:
        return _closed(request)
    speak_to(request, view)
    context = results_context(store, view.actor, view.episode_id)
    return render_patient(request, "patient/results.html", {"view": view, **context, "back_url": "/p/home",
                                                            "back_text": _("Back to your page")})


@router.get("/p/home/stop", include_in_schema=False)
def home_stop_page(request: Request, access: AccessDep) -> Response:
    view = access.resolve_home_session(request.cookies.get(HOME_COOKIE))
    if view is None:
        return _closed(request)
    speak_to(request, view)
    return render_patient(request, "patient/stop.html", {"action": "/p/home/stop", "csrf_token": view.csrf_token,
                                                         "back_url": "/p/home"})


@router.post("/p/home/stop", include_in_schema=False)
def home_stop(request: Request, home: HomeSession, access: AccessDep) -> Response:
    speak_to(request, home)
    access.opt_out(home.episode_id, via="home")
    return render_patient(request, "patient/stopped.html", {"home": True}, next_path="/p/home")


@router.post("/p/home/leave", include_in_schema=False)
def home_leave(request: Request, home: HomeSession, access: AccessDep) -> Response:
    speak_to(request, home)
    request.state.patient_csrf = None  # signed out: the switch no longer records
    access.end_home_session(request.cookies.get(HOME_COOKIE))
    response = render_patient(request, "patient/left.html", {})
    clear_cookie(request, response, HOME_COOKIE)
    clear_cookie(request, response, PATIENT_COOKIE)
    return response


# --------------------------------------------------------------------------------- the language switch

@router.post("/p/language", include_in_schema=False)
def choose_patient_language(request: Request, language: Annotated[str, Form(max_length=16)],
                            next: Annotated[str, Form(max_length=2000)] = "/",
                            csrf_token: Annotated[str, Form(max_length=200)] = "") -> Response:
    """The language switch of a signed-in patient (fields ``language``, ``next``, ``csrf_token``):
    the choice is remembered in the browser as ``POST /language`` does, and recorded on the
    patient (``patient_identities.language``, audited) when the CSRF token is the home's or the
    visit's session's; without a live session only the browser remembers it."""
    lang = i18n.normalise(language)
    if lang is None:
        raise ValidationError(field="language", value=language[:16], allowed=list(i18n.LANGUAGES))
    access = request.app.state.access
    sessions = (access.resolve_home_session(request.cookies.get(HOME_COOKIE)),
                access.resolve_patient_session(request.cookies.get(PATIENT_COOKIE), allow_completed=True))
    for who in sessions:
        if who is not None and csrf_token and who.csrf_token is not None and secrets.compare_digest(
                csrf_token, who.csrf_token):
            record_language(request.app.state.store, who.actor, lang)
            break
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(LANG_COOKIE, lang, max_age=365 * 24 * 3600, httponly=True, samesite="lax", path="/")
    return response


# --------------------------------------------------------------------------------- the clinic's logo

LOGO_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"
"""The policy a logo is served with: an SVG opened on its own (not through ``<img>``, where no
script ever runs) can run no script, load nothing and submit nothing."""


@router.get("/site-logo/{site_id}", include_in_schema=False)
def site_logo_image(request: Request, site_id: int, v: str | None = None) -> Response:
    """The clinic's logo (PNG or SVG) for the patient pages' header. Its address carries the
    logo's fingerprint (``?v=``): with the current one the browser keeps it for a year (a new
    logo has a new address); otherwise for five minutes. The logo of a clinic is not patient
    data: no session needed, nothing audited."""
    logo = site_logo(request.app.state.store, site_id)
    cache = "public, max-age=31536000, immutable" if v == logo.version else "public, max-age=300"
    suffix = "svg" if logo.media_type == "image/svg+xml" else "png"
    headers = {"Cache-Control": cache, "ETag": f'"{logo.version}"', "Content-Security-Policy": LOGO_CSP,
               "Cross-Origin-Resource-Policy": "same-origin",
               "Content-Disposition": f'inline; filename="logo.{suffix}"'}
    if request.headers.get("if-none-match") == f'"{logo.version}"':
        return Response(status_code=304, headers=headers)
    return Response(logo.content, media_type=logo.media_type, headers=headers)
