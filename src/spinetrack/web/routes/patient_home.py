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
``GET  /p/home/decision-aid``      the decision aid of this episode, once the clinician has
                                   released it and a red-flag screening is recorded.
``GET  /p/home/stop`` · ``POST``   the opt-out, from the home.
``POST /p/home/leave``             sign this device out of the home (the link still works).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from spinetrack.errors import AuthenticationError, NotFoundError
from spinetrack.store.home import HomeView
from spinetrack.web.deps import AccessDep, StoreDep
from spinetrack.web.routes.patient import HOME_COOKIE, answer_opening, render_home, results_context
from spinetrack.web.security import PATIENT_COOKIE, check_csrf, clear_cookie, set_cookie

__all__ = ["router"]

router = APIRouter()

HOME_CLOSED = "your personal page is not open on this device; please open the link from your clinic again"
Token = Annotated[str, Path(min_length=8, max_length=64)]


def _render(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> Response:
    response: Response = request.app.state.templates.TemplateResponse(request, name, context,
                                                                       status_code=status_code)
    return response


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


async def _home_session(request: Request) -> HomeView:
    """A dependency: the live home session, CSRF checked on unsafe methods."""
    access = request.app.state.access
    view: HomeView | None = await run_in_threadpool(access.resolve_home_session, request.cookies.get(HOME_COOKIE))
    if view is None:
        raise AuthenticationError(HOME_CLOSED)
    await check_csrf(request, view.csrf_token)
    return view


HomeSession = Annotated[HomeView, Depends(_home_session)]


def _closed(request: Request) -> Response:
    return _render(request, "patient/link.html", {"message": HOME_CLOSED}, 401)


# --------------------------------------------------------------------------------- the link

@router.get("/p/h/{token}", include_in_schema=False)
def open_home_link(request: Request, token: Token, access: AccessDep) -> Response:
    opened = access.open_patient_link(token, current=request.cookies.get(HOME_COOKIE))
    return answer_opening(request, opened, token)


@router.post("/p/h/{token}/new-link", include_in_schema=False)
def new_link(request: Request, token: Token, access: AccessDep) -> Response:
    client = request.client.host if request.client is not None else ""
    access.request_new_link(token, client=client)
    return _render(request, "patient/new_link_sent.html", {})


@router.get("/p/h/{token}/stop", include_in_schema=False)
def stop_page(request: Request, token: Token, access: AccessDep) -> Response:
    if access.link_episode(token) is None:
        return _render(request, "patient/link.html", {"message": "this link is not valid"}, 401)
    return _render(request, "patient/stop.html", {"action": f"/p/h/{token}/stop", "csrf_token": None,
                                                      "back_url": f"/p/h/{token}"})


@router.post("/p/h/{token}/stop", include_in_schema=False)
def stop(request: Request, token: Token, access: AccessDep) -> Response:
    episode_id = access.link_episode(token)
    if episode_id is None:
        return _render(request, "patient/link.html", {"message": "this link is not valid"}, 401)
    access.opt_out(episode_id, via="link")
    return _render(request, "patient/stopped.html", {})


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
    context = results_context(store, view.actor, view.episode_id)
    return _render(request, "patient/results.html", {"view": view, **context, "back_url": "/p/home",
                                                     "back_text": "Back to your page"})


@router.get("/p/home/decision-aid", include_in_schema=False)
def home_decision_aid(request: Request, access: AccessDep) -> Response:
    """The patient's own decision aid (their episode only), once released by the clinician."""
    view = access.resolve_home_session(request.cookies.get(HOME_COOKIE))
    if view is None:
        return _closed(request)
    if not access.home_content(view).decision_aid:
        raise NotFoundError(entity="decision aid", key=view.episode_id)
    from spinetrack.predict.decision import build_decision_support
    from spinetrack.reports import decision_aid

    settings = request.app.state.settings
    doc = build_decision_support(request.app.state.store, view.actor, view.patient_id,
                                 models_dir=getattr(settings, "models_dir", None), episode_id=view.episode_id)
    aid = decision_aid.build_patient_aid(doc)
    return _render(request, "patient/home_aid.html", {"aid": aid, "body": decision_aid.render_patient_body(aid)})


@router.get("/p/home/stop", include_in_schema=False)
def home_stop_page(request: Request, access: AccessDep) -> Response:
    view = access.resolve_home_session(request.cookies.get(HOME_COOKIE))
    if view is None:
        return _closed(request)
    return _render(request, "patient/stop.html", {"action": "/p/home/stop", "csrf_token": view.csrf_token,
                                                      "back_url": "/p/home"})


@router.post("/p/home/stop", include_in_schema=False)
def home_stop(request: Request, home: HomeSession, access: AccessDep) -> Response:
    access.opt_out(home.episode_id, via="home")
    return _render(request, "patient/stopped.html", {"home": True})


@router.post("/p/home/leave", include_in_schema=False)
def home_leave(request: Request, home: HomeSession, access: AccessDep) -> Response:
    access.end_home_session(request.cookies.get(HOME_COOKIE))
    response = _render(request, "patient/left.html", {})
    clear_cookie(request, response, HOME_COOKIE)
    clear_cookie(request, response, PATIENT_COOKIE)
    return response
