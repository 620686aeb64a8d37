"""Patient pages: the personal invitation link, the visit, one question per screen, review and
submit, confirmation, and the patient's own results.

Server-rendered, usable without JavaScript on a phone (390 × 844), no script at all: the result
charts are inline SVG drawn on the server (:mod:`spinetrack.web.patient_charts`), so every
patient page stays under 150 kB on first load (docs/patient_pages.md).

Routes
------
``GET  /p/{token}``                 open the invitation: an open visit sets the ``st_patient``
                                    cookie and redirects (303) to ``/p/visit`` so the token
                                    leaves the address bar; a visit whose window has not opened
                                    gets its dates (nothing starts); a completed or expired
                                    visit opens the patient's home (``routes/patient_home.py``)
                                    while home access lasts, else the page offering a fresh
                                    link (410); an unknown link gets a page telling the patient
                                    to contact the clinic (401).
``GET  /p/visit``                   greeting and the questionnaires of this visit (due / done).
``GET  /p/q/{instrument}?step=N``   one item per screen; without ``step`` it resumes where the
                                    draft stopped; step ``n + 1`` is the review page.
``POST /p/q/{instrument}``          ``step``, ``answer``, ``action`` (next, back, skip, save),
                                    ``asked``: checks the answer, saves the draft, moves on.
                                    "Next" without an answer on an optional question asks once
                                    ("Skip this question?", the page again with ``asked=1``); a
                                    second "Next" without an answer skips it. A required
                                    question is refused (422).
``POST /p/q/{instrument}/submit``   ``idempotency_key`` (a UUID made when the review page was
                                    rendered): validates, scores and stores the draft once.
``GET  /p/done?instrument=…``       confirmation and what comes next.
``GET  /p/results``                 the patient's own scores over time (charts, plain sentences
                                    with the minimal important change, tables).
``POST /p/leave``                   forget the patient session on this device.

With a live home session (cookie ``st_home``) a visit page that can no longer be shown sends the
patient back to the home instead of refusing, and the last questionnaire's confirmation leads
there.

Every page is in the patient's language (``patient_identities.language``, else the browser's,
unless the language switch chose another: :mod:`spinetrack.web.locale`) and carries the clinic's
name and logo (:mod:`spinetrack.store.patient_frame`). What a question says comes from
:func:`spinetrack.store.wording.wording_for`: spinetrack's own wording, a site's licensed pack,
or numbered demonstration labels (then the page says why in one sentence).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from spinetrack import i18n, instruments
from spinetrack.errors import AuthenticationError, ConflictError, NotFoundError, ValidationError
from spinetrack.i18n import gettext as _
from spinetrack.instruments.base import Instrument, Item, ItemType
from spinetrack.instruments.wording import Wording
from spinetrack.store.access import Access, InvitationView
from spinetrack.store.home import HomeView, LinkOpening
from spinetrack.store.patient_frame import NO_FRAME, PatientFrame, patient_frame, site_frame
from spinetrack.store.reads import visit_closed
from spinetrack.store.repositories import Store
from spinetrack.store.visits import LINK_CLOSED
from spinetrack.store.wording import wording_for
from spinetrack.web.deps import AccessDep, PatientVisit, StoreDep
from spinetrack.web.locale import apply_patient_language
from spinetrack.web.patient_results import results_context, timepoint_name
from spinetrack.web.security import PATIENT_COOKIE, check_csrf, clear_cookie, set_cookie

__all__ = ["HOME_COOKIE", "answer_opening", "render_home", "render_patient", "results_context", "router",
           "speak_to"]

router = APIRouter()

HOME_COOKIE = "st_home"  # the patient home's session (routes/patient_home.py)
NOT_OPEN = LINK_CLOSED  # the store's sentence (N_-marked there), said on the pages in the patient's language
ACTIONS = ("next", "back", "skip", "save")


# --------------------------------------------------------------------------------- the page's frame

def speak_to(request: Request, who: InvitationView | HomeView | None) -> PatientFrame:
    """Read the page's frame (the clinic, the patient's recorded language; audited) and speak the
    patient's language from here on in this request. Call it before building any text."""
    store: Store = request.app.state.store
    frame = patient_frame(store, who.actor) if who is not None else NO_FRAME
    apply_patient_language(request, frame.language)
    request.state.patient_frame = frame
    request.state.patient_csrf = who.csrf_token if who is not None else None
    return frame


def _speak_site(request: Request, site_id: int | None) -> PatientFrame:
    """The frame of a page without a patient session (the clinic only; the browser's language)."""
    frame = site_frame(request.app.state.store, site_id)
    request.state.patient_frame = frame
    request.state.patient_csrf = None
    return frame


def render_patient(request: Request, name: str, context: dict[str, Any], status_code: int = 200, *,
                   next_path: str | None = None) -> Response:
    """A patient page with its frame: the clinic's name and logo, and the language switch (posting
    to ``/p/language`` with the session's CSRF token when a patient is signed in, which records
    the choice; else to ``/language``). The switch comes back to this page (a GET), or to
    ``next_path`` (a page answered to a POST; without one, a POST's page has no switch)."""
    frame = getattr(request.state, "patient_frame", NO_FRAME)
    csrf = getattr(request.state, "patient_csrf", None)
    if next_path is None and request.method == "GET":
        next_path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    switch = None if next_path is None else {
        "action": "/p/language" if csrf else "/language", "csrf": csrf, "next": next_path,
        "others": [lang for lang in i18n.LANGUAGES if lang != i18n.get_locale()]}
    templates = request.app.state.templates
    response: Response = templates.TemplateResponse(
        request, name, {"frame": frame, "switch": switch, **context}, status_code=status_code)
    return response


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _refused(request: Request, message: str, status_code: int = 401) -> Response:
    return render_patient(request, "patient/link.html", {"message": message}, status_code)


def _home(request: Request) -> HomeView | None:
    """The browser's live home session, if any."""
    return _access(request).resolve_home_session(request.cookies.get(HOME_COOKIE))


def _closed(request: Request) -> Response:
    """A visit page that cannot be shown: back to the home when the patient has one, else refused."""
    if _home(request) is not None:
        return _redirect("/p/home")
    _speak_site(request, None)
    return _refused(request, _(NOT_OPEN))


def render_home(request: Request, view: HomeView, *, status_code: int = 200) -> Response:
    """The patient's home page (also answered at the link itself, so that the first page needs no
    cookie: a ``SameSite=Strict`` cookie set by a link followed from a mail program is sent from
    the next click on)."""
    speak_to(request, view)
    content = _access(request).home_content(view)
    wording = _wording(request)
    names = {v.timepoint: [wording.title(c) for c in v.instruments] for v in content.visits}
    due = [v for v in content.visits if v.state in ("open", "upcoming")]
    past = [v for v in content.visits if v.state not in ("open", "upcoming")]
    return render_patient(request, "patient/home.html", {"home": view, "content": content, "due": due, "past": past,
                                                         "names": names}, status_code)


def _cookie(request: Request) -> str | None:
    return request.cookies.get(PATIENT_COOKIE)


def _access(request: Request) -> Access:
    access: Access = request.app.state.access
    return access


def _visit_any(request: Request) -> InvitationView | None:
    """The patient session, also when its visit is complete (read-only pages)."""
    return _access(request).resolve_patient_session(_cookie(request), allow_completed=True)


def _visit_page_view(request: Request) -> InvitationView | None:
    """The open visit, or the completed one (for its confirmation and link to results); an
    unfinished visit past its expiry is not shown."""
    access = _access(request)
    view = access.resolve_patient_session(_cookie(request))
    if view is None:
        view = access.resolve_patient_session(_cookie(request), allow_completed=True)
        if view is not None and not view.done:
            return None
    return view


async def _visit_or_completed(request: Request) -> InvitationView:
    """A dependency: the patient session, also when the visit is complete, CSRF checked."""
    view = await run_in_threadpool(_visit_any, request)  # a database call: off the event loop
    if view is None:
        raise AuthenticationError(NOT_OPEN)  # English; the error page says it in the patient's language
    await check_csrf(request, view.csrf_token)
    return view


AnyVisit = Annotated[InvitationView, Depends(_visit_or_completed)]


def _wording(request: Request) -> Wording:
    """What the patient reads, in the page's language (cached by the store until a pack changes)."""
    return wording_for(request.app.state.store, i18n.get_locale())


def _instrument(view: InvitationView, code: str) -> Instrument:
    if code not in view.instruments:
        raise NotFoundError(entity="questionnaire", key=code)
    return instruments.get(code)


@dataclass(frozen=True, slots=True)
class Choice:
    value: int
    number: str
    text: str
    checked: bool


@dataclass(frozen=True, slots=True)
class Question:
    """One item as the page shows it."""

    code: str
    label: str
    hint: str
    skip_hint: str       # shown on an optional question ("" when it is required)
    layout: str          # scale, choices, number, date
    required: bool
    choices: tuple[Choice, ...]
    value: str           # current value of a number / date input
    low: float | None
    high: float | None
    step: str            # the input's step attribute


def _is_scale(item: Item) -> bool:
    return item.type is ItemType.CHOICE and item.values == tuple(range(11))


def _question(inst: Instrument, item: Item, current: Any, wording: Wording, posted: str | None = None) -> Question:
    code = inst.definition.code
    label = wording.text(code, item.code)
    skip = "" if item.required else (wording.skip_hint(code)
                                     or _("You may skip this question if it does not apply to you."))
    shown = posted if posted is not None else ("" if current is None else str(current))
    hint = wording.hint(code)
    if item.type is ItemType.CHOICE:
        choices = tuple(Choice(o.value, str(o.value), wording.option(code, item.code, o.code), shown == str(o.value))
                        for o in item.options)
        if _is_scale(item):
            hint = hint or _("0 means %(low)s, 10 means %(high)s.", low=choices[0].text, high=choices[-1].text)
            return Question(item.code, label, hint, skip, "scale", item.required, choices, "", None, None, "1")
        return Question(item.code, label, hint or _("Choose one answer."), skip, "choices", item.required, choices, "",
                        None, None, "1")
    if item.type is ItemType.DATE:
        return Question(item.code, label, _("Enter the date (year, month, day)."), skip, "date", item.required, (),
                        shown, None, None, "1")
    whole = item.type is ItemType.INTEGER
    low, high = f"{item.low:g}", f"{item.high:g}"
    if item.unit == "d":
        text = _("Type a whole number of days from %(low)s to %(high)s.", low=low, high=high) if whole else \
            _("Type a number of days from %(low)s to %(high)s.", low=low, high=high)
    else:
        text = _("Type a whole number from %(low)s to %(high)s.", low=low, high=high) if whole else \
            _("Type a number from %(low)s to %(high)s.", low=low, high=high)
    return Question(item.code, label, text, skip, "number", item.required, (), shown, item.low, item.high,
                    "1" if whole else "any")


def _allowed(item: Item) -> str:
    """What an item accepts, in the page's language."""
    if item.type is ItemType.CHOICE:
        return ", ".join(str(v) for v in item.values)
    if item.type is ItemType.DATE:
        return _("a date (year, month, day)")
    low, high = f"{item.low:g}", f"{item.high:g}"
    if item.type is ItemType.INTEGER:
        return _("%(low)s to %(high)s (whole numbers)", low=low, high=high)
    return _("%(low)s to %(high)s", low=low, high=high)


def _answer_text(inst: Instrument, item: Item, value: Any, wording: Wording) -> str:
    """How a given answer reads on the review page."""
    if value is None:
        return _("Skipped")
    if item.type is ItemType.CHOICE:
        for c in _question(inst, item, value, wording).choices:
            if c.value == value:
                if not _is_scale(item):
                    return c.text
                return c.number if c.text == c.number else f"{c.number} ({c.text})"
    return str(value)


def _parse_answer(instrument: str, item: Item, raw: str | None) -> Any:
    """The posted answer checked against the item (None when empty); raises naming what is allowed."""
    if raw is None or not raw.strip():
        return None
    text = raw.strip()
    field = f"{instrument}.{item.code}"
    if len(text) > 32:
        raise ValidationError(field=field, value=text[:32] + "…", allowed=item.allowed())
    if item.type is ItemType.DATE:
        return item.check(instrument, text)
    number: float | int
    try:
        number = int(text)
    except ValueError:
        try:
            number = float(text)
        except ValueError:
            raise ValidationError(field=field, value=text, allowed=item.allowed(),
                                  reason=i18n.N_("not a number")) from None
    return item.check(instrument, number)


def _step_number(raw: str | None, n_steps: int) -> int:
    try:
        step = int(raw or "")
    except ValueError:
        raise ValidationError(field="step", value=raw, allowed=f"1 to {n_steps}") from None
    if not 1 <= step <= n_steps:
        raise ValidationError(field="step", value=step, allowed=f"1 to {n_steps}")
    return step


def _resume_step(items: tuple[Item, ...], draft: dict[str, Any]) -> int:
    """Where a paused questionnaire continues: after the last answer given, or at an earlier
    required question still unanswered (1-based; ``len(items) + 1`` is the review page)."""
    answered = [i for i, it in enumerate(items) if draft.get(it.code) is not None]
    after_last = answered[-1] + 1 if answered else 0
    missing = [i for i, it in enumerate(items) if it.required and draft.get(it.code) is None]
    return min([after_last, *missing]) + 1


@dataclass(frozen=True, slots=True)
class Problem:
    message: str
    items: tuple[tuple[int, str], ...]  # (step, label) to go back to


def _problem(inst: Instrument, answers: dict[str, Any], wording: Wording) -> Problem | None:
    """Why these answers cannot be sent yet (a required question unanswered, too many skipped)."""
    items = inst.definition.items
    code = inst.definition.code

    def label(it: Item) -> str:
        return wording.text(code, it.code)

    missing = tuple((i + 1, label(it)) for i, it in enumerate(items) if it.required and answers.get(it.code) is None)
    if missing:
        return Problem(_("Some questions still need an answer."), missing)
    try:
        score = inst.score(answers)
    except ValidationError as exc:
        bad = tuple((i + 1, label(it)) for i, it in enumerate(items) if exc.field.endswith(f".{it.code}"))
        if exc.reason:  # a rule between answers (an instrument's N_-marked reason), in the page's language
            return Problem(_("One answer does not fit: %(problem)s.", problem=_(exc.reason)), bad)
        return Problem(_("One answer does not fit. Please check these questions."), bad)
    if not score.valid:
        skipped = tuple((i + 1, label(it)) for i, it in enumerate(items) if answers.get(it.code) is None)
        return Problem(_("Too many questions were skipped to work out a score. Please answer more of them."), skipped)
    return None


def _error_context(item: Item, exc: ValidationError) -> dict[str, Any]:
    return {"value": exc.value, "allowed": _allowed(item), "reason": _(exc.reason) if exc.reason else None}


# --------------------------------------------------------------------------------- visit, confirmation, results

@router.get("/p/visit", include_in_schema=False)
def visit_page(request: Request, access: AccessDep, saved: str | None = None) -> Response:
    view = _visit_page_view(request)
    if view is None:
        return _closed(request)
    speak_to(request, view)
    wording = _wording(request)
    rows: list[dict[str, Any]] = []
    for code in view.instruments:
        inst = instruments.get(code)
        done = code in view.completed
        started = not done and bool(access.get_draft(view, code))
        rows.append({"code": code, "name": wording.title(code), "n_items": len(inst.definition.items),
                     "done": done, "started": started})
    saved_name = wording.title(saved) if saved is not None and saved in view.instruments else None
    left = sum(r["n_items"] for r in rows if not r["done"])
    return render_patient(request, "patient/visit.html", {
        "view": view, "rows": rows, "saved": saved_name, "minutes": max(2, left // 3), "home": _home(request),
        "visit_name": timepoint_name(view.timepoint_label)})


@router.get("/p/done", include_in_schema=False)
def done_page(request: Request, instrument: str | None = None) -> Response:
    view = _visit_page_view(request)
    if view is None:
        return _closed(request)
    speak_to(request, view)
    wording = _wording(request)
    name = wording.title(instrument) if instrument is not None and instrument in view.completed else None
    following = [{"code": c, "name": wording.title(c)} for c in view.due]
    return render_patient(request, "patient/done.html", {"view": view, "name": name, "following": following,
                                                         "home": _home(request)})


@router.get("/p/results", include_in_schema=False)
def results_page(request: Request, store: StoreDep) -> Response:
    view = _visit_any(request)
    if view is None:
        return _closed(request)
    speak_to(request, view)
    context = results_context(store, view.actor, view.episode_id)
    return render_patient(request, "patient/results.html", {"view": view, **context, "back_url": "/p/visit",
                                                            "back_text": _("Back to your questionnaires")})


@router.post("/p/leave", include_in_schema=False)
def leave(request: Request, view: AnyVisit) -> Response:
    speak_to(request, view)
    request.state.patient_csrf = None  # signed out: the switch no longer records
    response = render_patient(request, "patient/left.html", {})
    clear_cookie(request, response, PATIENT_COOKIE)
    return response


# --------------------------------------------------------------------------------- questions

@router.get("/p/q/{instrument}", include_in_schema=False)
def question_page(request: Request, instrument: str, access: AccessDep,
                  step: Annotated[int | None, Query(ge=1, le=1000)] = None) -> Response:
    view = access.resolve_patient_session(_cookie(request))
    if view is None:
        return _closed(request)
    inst = _instrument(view, instrument)
    if instrument in view.completed:
        return _redirect(f"/p/done?instrument={instrument}")
    speak_to(request, view)
    items = inst.definition.items
    draft = access.get_draft(view, instrument)
    if step is None:
        step = _resume_step(items, draft)
    step = min(step, len(items) + 1)
    if step == len(items) + 1:
        return _review(request, view, inst, draft)
    return _question_response(request, view, inst, step, draft)


def _question_response(request: Request, view: InvitationView, inst: Instrument, step: int, draft: dict[str, Any],
                       *, error: ValidationError | None = None, posted: str | None = None, ask_skip: bool = False,
                       status_code: int = 200) -> Response:
    wording = _wording(request)
    items = inst.definition.items
    item = items[step - 1]
    code = inst.definition.code
    question = _question(inst, item, draft.get(item.code), wording, posted)
    return render_patient(request, "patient/question.html", {
        "view": view, "code": code, "title": wording.title(code), "step": step, "n_items": len(items),
        "q": question, "error": _error_context(item, error) if error is not None else None, "ask_skip": ask_skip,
        "neutral_note": wording.neutral_note() if wording.source(code) == "neutral" else None}, status_code,
        next_path=f"/p/q/{code}?step={step}")


def _review(request: Request, view: InvitationView, inst: Instrument, draft: dict[str, Any], *,
            status_code: int = 200) -> Response:
    wording = _wording(request)
    items = inst.definition.items
    code = inst.definition.code
    answers = [{"step": i + 1, "label": wording.text(code, it.code),
                "answer": _answer_text(inst, it, draft.get(it.code), wording)} for i, it in enumerate(items)]
    problem = _problem(inst, draft, wording)
    return render_patient(request, "patient/review.html", {
        "view": view, "code": code, "title": wording.title(code), "answers": answers, "problem": problem,
        "n_items": len(items), "idempotency_key": str(uuid.uuid4()),
        "neutral_note": wording.neutral_note() if wording.source(code) == "neutral" else None}, status_code,
        next_path=f"/p/q/{code}?step={len(items) + 1}")


@router.post("/p/q/{instrument}", include_in_schema=False)
def question_post(request: Request, instrument: str, view: PatientVisit, access: AccessDep,
                  step: Annotated[str, Form(max_length=8)],
                  answer: Annotated[str | None, Form(max_length=200)] = None,
                  action: Annotated[str, Form(max_length=16)] = "next",
                  asked: Annotated[str | None, Form(max_length=4)] = None) -> Response:
    inst = _instrument(view, instrument)
    if instrument in view.completed:
        return _redirect(f"/p/done?instrument={instrument}")
    if action not in ACTIONS:
        raise ValidationError(field="action", value=action, allowed=ACTIONS)
    speak_to(request, view)
    items = inst.definition.items
    n = _step_number(step, len(items))
    item = items[n - 1]
    draft = access.get_draft(view, instrument)
    try:
        value = _parse_answer(instrument, item, answer)
        if value is None and item.required and action in ("next", "skip"):
            raise ValidationError(field=f"{instrument}.{item.code}", value=None, allowed=item.allowed(),
                                  reason=i18n.N_("this question needs an answer"))
    except ValidationError as exc:
        return _question_response(request, view, inst, n, draft, error=exc, posted=answer or "", status_code=422)
    if value is None and action == "next" and asked != "1":  # ask once before skipping
        return _question_response(request, view, inst, n, draft, posted="", ask_skip=True)
    new = dict(draft)
    if action == "skip" or (value is None and action == "next"):
        new.pop(item.code, None)
    elif value is not None:
        new[item.code] = value
    if new != draft:
        access.save_draft(view, instrument, new)
    if action == "save":
        return _redirect(f"/p/visit?saved={instrument}")
    if action == "back":
        return _redirect("/p/visit" if n == 1 else f"/p/q/{instrument}?step={n - 1}")
    return _redirect(f"/p/q/{instrument}?step={n + 1}")


@router.post("/p/q/{instrument}/submit", include_in_schema=False)
def submit(request: Request, instrument: str, seen: AnyVisit, access: AccessDep,
           idempotency_key: Annotated[str, Form(max_length=64)]) -> Response:
    """Store the questionnaire once: a replay (double tap, retry) with the same key, or after
    the questionnaire is in, goes to the confirmation without storing again."""
    _instrument(seen, instrument)
    done_url = f"/p/done?instrument={instrument}"
    if instrument in seen.completed:
        return _redirect(done_url)
    try:
        key = str(uuid.UUID(idempotency_key))
    except ValueError:
        raise ValidationError(field="idempotency_key", value=idempotency_key, allowed="a UUID") from None
    if visit_closed(seen):  # complete or expired: nothing new is stored (the store checks it again)
        raise AuthenticationError(NOT_OPEN)  # English; the error page says it in the patient's language
    inst = instruments.get(instrument)
    answers = access.get_draft(seen, instrument)
    speak_to(request, seen)
    if _problem(inst, answers, _wording(request)) is not None:
        return _review(request, seen, inst, answers, status_code=422)
    try:  # one transaction: the session again, the answers, the draft removed, the visit spent if last
        access.submit_visit(_cookie(request), instrument, answers, idempotency_key=key)
    except ConflictError:
        again = _visit_any(request)
        if again is not None and instrument in again.completed:
            return _redirect(done_url)
        raise
    return _redirect(done_url)


# --------------------------------------------------------------------------------- the link itself
# Declared last: ``/p/{token}`` must not shadow ``/p/visit``, ``/p/done`` or ``/p/results``.

@router.get("/p/{token}", include_in_schema=False)
def open_link(request: Request, token: str, access: AccessDep) -> Response:
    opened = access.open_invitation_link(token, current=request.cookies.get(HOME_COOKIE),
                                         current_visit=request.cookies.get(PATIENT_COOKIE))
    return answer_opening(request, opened, token)


def answer_opening(request: Request, opened: LinkOpening, token: str) -> Response:
    """The page for an opened link (an invitation's or a home link): the visit, the home, the
    dates of a window not yet open, the fresh-link offer, or the refusal."""
    if opened.outcome == "visit":
        assert opened.session_token is not None
        response = _redirect("/p/visit")
        set_cookie(request, response, PATIENT_COOKIE, opened.session_token)
        return response
    if opened.outcome == "home":
        assert opened.home is not None and opened.session_token is not None
        page = render_home(request, opened.home)
        if request.cookies.get(HOME_COOKIE) != opened.session_token:
            set_cookie(request, page, HOME_COOKIE, opened.session_token)
        return page
    _speak_site(request, opened.site_id)
    if opened.outcome == "waiting":
        return render_patient(request, "patient/waiting.html", {"window": opened.window, "message": opened.message})
    if opened.outcome == "ended":
        return render_patient(request, "patient/home_ended.html", {"token": token}, 410)
    return _refused(request, _(opened.message), 401)
