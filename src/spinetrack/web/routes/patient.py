"""Patient pages: the personal invitation link, the visit, one question per screen, review and
submit, confirmation, and the patient's own results.

Server-rendered, usable without JavaScript on a phone (390 × 844), no inline script (the plots
travel as JSON in ``<script type="application/json">`` blocks drawn by ``static/app.js``).

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
``POST /p/q/{instrument}``          ``step``, ``answer``, ``action`` (next, back, skip, save):
                                    checks the answer, saves the draft, moves on.
``POST /p/q/{instrument}/submit``   ``idempotency_key`` (a UUID made when the review page was
                                    rendered): validates, scores and stores the draft once.
``GET  /p/done?instrument=…``       confirmation and what comes next.
``GET  /p/results``                 the patient's own ODI and pain trajectory (plot, plain
                                    sentences with the minimal important change, table).
``POST /p/leave``                   forget the patient session on this device.

With a live home session (cookie ``st_home``) a visit page that can no longer be shown sends the
patient back to the home instead of refusing, and the last questionnaire's confirmation leads
there.

The texts are spinetrack's own neutral labels; a site's licensed wording pack
(``SPINETRACK_WORDING_PACK``) replaces item and option texts when configured.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from spinetrack import instruments
from spinetrack.errors import AuthenticationError, ConflictError, NotFoundError, ValidationError
from spinetrack.instruments import thresholds
from spinetrack.instruments.base import Instrument, Item, ItemType, Listing
from spinetrack.instruments.wording import WordingPack, load_wording_pack
from spinetrack.store.access import Access, InvitationView
from spinetrack.store.home import HomeView, LinkOpening
from spinetrack.store.queries import OutcomeCell, Queries
from spinetrack.store.reads import visit_closed
from spinetrack.store.repositories import Actor, Store
from spinetrack.web import plots
from spinetrack.web.deps import AccessDep, PatientVisit, StoreDep
from spinetrack.web.plots import fmt_score
from spinetrack.web.security import PATIENT_COOKIE, check_csrf, clear_cookie, set_cookie

__all__ = ["HOME_COOKIE", "answer_opening", "render_home", "results_context", "router"]

router = APIRouter()

HOME_COOKIE = "st_home"  # the patient home's session (routes/patient_home.py)
NOT_OPEN = "this questionnaire link is no longer open; use the link from your clinic"
ACTIONS = ("next", "back", "skip", "save")
RESULT_INSTRUMENTS = instruments.listed(Listing.PATIENT_RESULTS)

# The patient pages' words for each instrument, from its definition (spinetrack's own words, never
# licensed wording): plain-language names, how to answer a choice item, what is said on an optional
# question, and what a result score is called in a sentence with its scale.
FRIENDLY: dict[str, str] = instruments.display_field("plain_name")
CHOICE_HINT: dict[str, str] = instruments.display_field("choice_hint")
SKIP_HINT: dict[str, str] = instruments.display_field("skip_hint")
DEFAULT_SKIP_HINT = "You may skip this question if it does not apply to you."
RESULT_NAMES: dict[str, tuple[str, str]] = {
    code: (name, instruments.get(code).definition.display.result_scale or "")
    for code, name in instruments.display_field("result_name").items()}


# --------------------------------------------------------------------------------- helpers

def _render(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> Response:
    templates = request.app.state.templates
    response: Response = templates.TemplateResponse(request, name, context, status_code=status_code)
    return response


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _refused(request: Request, message: str, status_code: int = 401) -> Response:
    return _render(request, "patient/link.html", {"message": message}, status_code)


def _home(request: Request) -> HomeView | None:
    """The browser's live home session, if any."""
    return _access(request).resolve_home_session(request.cookies.get(HOME_COOKIE))


def _closed(request: Request) -> Response:
    """A visit page that cannot be shown: back to the home when the patient has one, else refused."""
    if _home(request) is not None:
        return _redirect("/p/home")
    return _refused(request, NOT_OPEN)


def render_home(request: Request, view: HomeView, *, status_code: int = 200) -> Response:
    """The patient's home page (also answered at the link itself, so that the first page needs no
    cookie: a ``SameSite=Strict`` cookie set by a link followed from a mail program is sent from
    the next click on)."""
    content = _access(request).home_content(view)
    names = {v.timepoint: [_friendly(c) for c in v.instruments] for v in content.visits}
    due = [v for v in content.visits if v.state in ("open", "upcoming")]
    past = [v for v in content.visits if v.state not in ("open", "upcoming")]
    return _render(request, "patient/home.html", {"home": view, "content": content, "due": due, "past": past,
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
        raise AuthenticationError(NOT_OPEN)
    await check_csrf(request, view.csrf_token)
    return view


AnyVisit = Annotated[InvitationView, Depends(_visit_or_completed)]


def _wording(request: Request) -> WordingPack | None:
    """The site's licensed wording pack, loaded once per path, or None (neutral labels)."""
    path = getattr(request.app.state.settings, "wording_pack", None)
    if not path:
        return None
    cached = getattr(request.app.state, "patient_wording", None)
    if cached is None or cached[0] != path:
        cached = (path, load_wording_pack(path))
        request.app.state.patient_wording = cached
    pack: WordingPack = cached[1]
    return pack


def _instrument(view: InvitationView, code: str) -> Instrument:
    if code not in view.instruments:
        raise NotFoundError(entity="questionnaire", key=code)
    return instruments.get(code)


def _friendly(code: str, pack: WordingPack | None = None) -> str:
    if pack is not None:
        block = pack.for_instrument(code)
        if block and block.get("_title"):
            return str(block["_title"])
    return FRIENDLY.get(code, instruments.get(code).definition.title)


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


def _question(inst: Instrument, item: Item, current: Any, pack: WordingPack | None, posted: str | None = None
              ) -> Question:
    code = inst.definition.code
    wording = (pack.for_instrument(code) or {}).get(item.code, {}) if pack is not None else {}
    label = str(wording.get("text") or item.label)
    skip = "" if item.required else SKIP_HINT.get(code, DEFAULT_SKIP_HINT)
    shown = posted if posted is not None else ("" if current is None else str(current))
    if item.type is ItemType.CHOICE:
        option_text: dict[str, str] = dict(wording.get("options") or {})
        choices = tuple(Choice(o.value, str(o.value), option_text.get(o.code, o.label), shown == str(o.value))
                        for o in item.options)
        if _is_scale(item):
            hint = (CHOICE_HINT.get(code) if pack is None else None) or \
                f"0 means {choices[0].text}, 10 means {choices[-1].text}."
            return Question(item.code, label, hint, skip, "scale", item.required, choices, "", None, None, "1")
        hint = (CHOICE_HINT.get(code) if pack is None else None) or "Choose one answer."
        return Question(item.code, label, hint, skip, "choices", item.required, choices, "", None, None, "1")
    if item.type is ItemType.DATE:
        return Question(item.code, label, "Enter the date (year, month, day).", skip, "date", item.required, (), shown,
                        None, None, "1")
    whole = item.type is ItemType.INTEGER
    unit = " (days)" if item.unit == "d" else ""
    hint = f"Type a {'whole ' if whole else ''}number from {item.low:g} to {item.high:g}{unit}."
    return Question(item.code, label, hint, skip, "number", item.required, (), shown, item.low, item.high,
                    "1" if whole else "any")


def _answer_text(inst: Instrument, item: Item, value: Any, pack: WordingPack | None) -> str:
    """How a given answer reads on the review page."""
    if value is None:
        return "Skipped"
    if item.type is ItemType.CHOICE:
        for c in _question(inst, item, value, pack).choices:
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
            raise ValidationError(field=field, value=text, allowed=item.allowed(), reason="not a number") from None
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


def _problem(inst: Instrument, answers: dict[str, Any], pack: WordingPack | None) -> Problem | None:
    """Why these answers cannot be sent yet (a required question unanswered, too many skipped)."""
    items = inst.definition.items

    def label(it: Item) -> str:
        return _question(inst, it, None, pack).label

    missing = tuple((i + 1, label(it)) for i, it in enumerate(items) if it.required and answers.get(it.code) is None)
    if missing:
        return Problem("Some questions still need an answer.", missing)
    try:
        score = inst.score(answers)
    except ValidationError as exc:
        bad = tuple((i + 1, label(it)) for i, it in enumerate(items) if exc.field.endswith(f".{it.code}"))
        return Problem(f"One answer does not fit: {exc}.", bad)
    if not score.valid:
        skipped = tuple((i + 1, label(it)) for i, it in enumerate(items) if answers.get(it.code) is None)
        return Problem(f"Too many questions were skipped to work out a score ({score.reason}). "
                       "Please answer more of them.", skipped)
    return None


def _error_context(exc: ValidationError) -> dict[str, Any]:
    return {"value": exc.value, "allowed": exc.allowed, "reason": exc.reason}


# --------------------------------------------------------------------------------- visit, confirmation, results

@router.get("/p/visit", include_in_schema=False)
def visit_page(request: Request, access: AccessDep, saved: str | None = None) -> Response:
    view = _visit_page_view(request)
    if view is None:
        return _closed(request)
    pack = _wording(request)
    rows: list[dict[str, Any]] = []
    for code in view.instruments:
        inst = instruments.get(code)
        done = code in view.completed
        started = not done and bool(access.get_draft(view, code))
        rows.append({"code": code, "name": _friendly(code, pack), "n_items": len(inst.definition.items),
                     "done": done, "started": started})
    saved_name = _friendly(saved, pack) if saved is not None and saved in view.instruments else None
    left = sum(r["n_items"] for r in rows if not r["done"])
    return _render(request, "patient/visit.html", {"view": view, "rows": rows, "saved": saved_name,
                                                   "minutes": max(2, left // 3), "home": _home(request)})


@router.get("/p/done", include_in_schema=False)
def done_page(request: Request, instrument: str | None = None) -> Response:
    view = _visit_page_view(request)
    if view is None:
        return _closed(request)
    pack = _wording(request)
    name = _friendly(instrument, pack) if instrument is not None and instrument in view.completed else None
    following = [{"code": c, "name": _friendly(c, pack)} for c in view.due]
    return _render(request, "patient/done.html", {"view": view, "name": name, "following": following,
                                                  "home": _home(request)})


@router.get("/p/results", include_in_schema=False)
def results_page(request: Request, store: StoreDep) -> Response:
    view = _visit_any(request)
    if view is None:
        return _closed(request)
    context = results_context(store, view.actor, view.episode_id)
    return _render(request, "patient/results.html", {"view": view, **context, "back_url": "/p/visit",
                                                     "back_text": "Back to your questionnaires"})


def results_context(store: Store, actor: Actor, episode_id: int) -> dict[str, Any]:
    """The results page's content for one episode (read through the store, audited)."""
    rows = store.list_responses(actor, episode_id)
    schedule = store.timepoints()
    order = {tp.code: i for i, tp in enumerate(schedule)}
    labels = {tp.code: tp.label for tp in schedule}
    series: dict[str, list[tuple[str, float]]] = {}
    for code in RESULT_INSTRUMENTS:
        points = sorted(((order.get(r["timepoint"], len(order)), r["timepoint"], float(r["score"])) for r in rows
                         if r["instrument"] == code and r["valid"] and r["score"] is not None), key=lambda p: p[0])
        if points:
            series[code] = [(tp, score) for _, tp, score in points]
    timepoints = sorted({tp for pts in series.values() for tp, _ in pts}, key=lambda c: order.get(c, len(order)))
    table = [{"label": labels.get(tp, tp),
              "values": [fmt_score(dict(series.get(code, [])).get(tp)) for code in RESULT_INSTRUMENTS]}
             for tp in timepoints]
    treatment = store.get_episode(actor, episode_id).get("treatment")
    band: dict[str, list[OutcomeCell]] = {}
    if treatment and series:  # the registry's middle half of patients with the same treatment
        summary = Queries(store).outcome_summary(actor, list(series))
        band = {code: summary.for_instrument(code, treatment) for code in series}
    figures = plots.patient_result_figures(series, labels, [labels.get(tp, tp) for tp in timepoints], band)
    sentences = [_sentence(code, pts, labels) for code, pts in series.items()]
    return {"sentences": sentences, "table": table, "figures": figures,
            "band": any(trace.get("meta") == "cohort_q1" for fig in figures.values() for trace in fig["data"]),
            "figure_json": {key: plots.json_script(fig) for key, fig in figures.items()}}


@router.post("/p/leave", include_in_schema=False)
def leave(request: Request, view: AnyVisit) -> Response:
    response = _render(request, "patient/left.html", {})
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
    items = inst.definition.items
    draft = access.get_draft(view, instrument)
    if step is None:
        step = _resume_step(items, draft)
    step = min(step, len(items) + 1)
    if step == len(items) + 1:
        return _review(request, view, inst, draft)
    return _question_response(request, view, inst, step, draft)


def _question_response(request: Request, view: InvitationView, inst: Instrument, step: int, draft: dict[str, Any],
                       *, error: ValidationError | None = None, posted: str | None = None,
                       status_code: int = 200) -> Response:
    pack = _wording(request)
    items = inst.definition.items
    item = items[step - 1]
    question = _question(inst, item, draft.get(item.code), pack, posted)
    return _render(request, "patient/question.html", {
        "view": view, "code": inst.definition.code, "title": _friendly(inst.definition.code, pack),
        "step": step, "n_items": len(items), "q": question,
        "error": _error_context(error) if error is not None else None}, status_code)


def _review(request: Request, view: InvitationView, inst: Instrument, draft: dict[str, Any], *,
            status_code: int = 200) -> Response:
    pack = _wording(request)
    items = inst.definition.items
    answers = [{"step": i + 1, "label": _question(inst, it, None, pack).label,
                "answer": _answer_text(inst, it, draft.get(it.code), pack)} for i, it in enumerate(items)]
    problem = _problem(inst, draft, pack)
    return _render(request, "patient/review.html", {
        "view": view, "code": inst.definition.code, "title": _friendly(inst.definition.code, pack),
        "answers": answers, "problem": problem, "n_items": len(items),
        "idempotency_key": str(uuid.uuid4())}, status_code)


@router.post("/p/q/{instrument}", include_in_schema=False)
def question_post(request: Request, instrument: str, view: PatientVisit, access: AccessDep,
                  step: Annotated[str, Form(max_length=8)],
                  answer: Annotated[str | None, Form(max_length=200)] = None,
                  action: Annotated[str, Form(max_length=16)] = "next") -> Response:
    inst = _instrument(view, instrument)
    if instrument in view.completed:
        return _redirect(f"/p/done?instrument={instrument}")
    if action not in ACTIONS:
        raise ValidationError(field="action", value=action, allowed=ACTIONS)
    items = inst.definition.items
    n = _step_number(step, len(items))
    item = items[n - 1]
    draft = access.get_draft(view, instrument)
    try:
        value = _parse_answer(instrument, item, answer)
        if value is None and item.required and action in ("next", "skip"):
            raise ValidationError(field=f"{instrument}.{item.code}", value=None, allowed=item.allowed(),
                                  reason="this question needs an answer")
    except ValidationError as exc:
        return _question_response(request, view, inst, n, draft, error=exc, posted=answer or "", status_code=422)
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
        raise AuthenticationError(NOT_OPEN)
    inst = instruments.get(instrument)
    answers = access.get_draft(seen, instrument)
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
    if opened.outcome == "waiting":
        return _render(request, "patient/waiting.html", {"message": opened.message})
    if opened.outcome == "ended":
        return _render(request, "patient/home_ended.html", {"message": opened.message, "token": token}, 410)
    return _refused(request, opened.message, 401)


# --------------------------------------------------------------------------------- results


def _threshold(code: str, threshold_set: str, direction: str) -> float:
    """The absolute minimal important change (points) of ``code`` in ``direction``."""
    try:
        t = thresholds.get(code, threshold_set, direction=direction)
    except ValidationError:  # no separate deterioration value: the improvement one, mirrored
        t = thresholds.get(code, threshold_set)
    assert t.absolute is not None, "the result instruments have absolute thresholds"
    return t.absolute


def _sentence(code: str, points: list[tuple[str, float]], labels: dict[str, str]) -> dict[str, str]:
    """One plain-language sentence about the change from the first (baseline) score to the latest."""
    name, scale = RESULT_NAMES[code]
    first_tp, first = points[0]
    if len(points) == 1:
        when = labels.get(first_tp, first_tp).lower()
        return {"code": code, "source": "",
                "text": f"Your {name} was {fmt_score(first)} ({when}; {scale}, lower is better). Your progress will "
                        "show here after your next questionnaire."}
    _, last = points[-1]
    change = thresholds.classify_change(code, first, last)
    start = f"Your {name} went from {fmt_score(first)} to {fmt_score(last)} (lower is better)"
    size = abs(change.improvement)
    if change.category is thresholds.ChangeClass.IMPROVED:
        limit = _threshold(code, change.threshold_set, "improvement")
        word = "larger than" if size > limit + 1e-9 else "as large as"
        tail = f"an improvement {word} the minimal important change of {fmt_score(limit)} points."
    elif change.category is thresholds.ChangeClass.WORSENED:
        limit = _threshold(code, change.threshold_set, "deterioration")
        word = "larger than" if size > limit + 1e-9 else "as large as"
        tail = (f"a worsening {word} the minimal important change of {fmt_score(limit)} points. "
                "Please talk to your clinic about it.")
    elif size == 0:
        tail = "no change."
    else:
        limit = _threshold(code, change.threshold_set, "improvement")
        tail = f"a change smaller than the minimal important change of {fmt_score(limit)} points, so about the same."
    return {"code": code, "text": f"{start}: {tail}", "source": change.source}
