"""Questionnaires taken by phone or from a paper form, for any visit of an episode: a scheduled
follow-up visit or none (a paper form filled in at an unscheduled clinic visit, a baseline taken on
paper). The form for a scheduled visit alone is :meth:`FollowupDesk.enter_answers
<spinetrack.store.worklist.FollowupDesk.enter_answers>`; this one starts from the patient.

The rules (each a refusal naming its field; :meth:`AnswerEntry.check` lists every one at once)
----------------------------------------------------------------------------------------------
Who
    clinicians and coordinators of the patient's site; another site's patient is "not found",
    every other role is refused (:func:`~spinetrack.store.repositories.authorize_patient`).
Episode
    one of the patient's episodes (``response.episode``).
Timepoint
    one of the project's timepoints (the ``timepoints`` table, :data:`spinetrack.domain.pathway.TIMEPOINTS`;
    ``response.timepoint``). A follow-up timepoint needs the episode's index date.
Date collected
    not in the future, and inside the timepoint's window counted from the episode's index date
    (:func:`~spinetrack.domain.pathway.check_response_timing`, the rule
    :meth:`Store.insert_response <spinetrack.store.repositories.Store.insert_response>` applies:
    a follow-up is never before the index date, a baseline never after it). A date outside the
    window is refused with the window's dates and the timepoint whose window holds the date, or
    the plain statement that no timepoint's window does (``response.collected_on``). No window is
    invented here: they are the project's (or, for a scheduled visit, the visit's own).
Source
    ``phone`` or ``paper`` (:data:`~spinetrack.store.worklist.ENTRY_SOURCES`; ``response.source``).
Questionnaires
    those of the scheduled visit when the entry goes to it (below); else the site's schedule's
    questionnaires for the timepoint when the site set them; else every instrument the store
    scores. At least one must be entered (``response.instrument``); each item is checked by its
    instrument (``<instrument>.<item>``, a required item left empty included), then the
    questionnaire is scored.
Already answered
    an instrument the episode already has at that timepoint is refused (a conflict, as
    :meth:`~spinetrack.store.worklist.FollowupDesk.enter_answers` does through ``answered=``):
    a stored response is changed by a correction, not entered twice (``<instrument>``).

A scheduled visit for the episode and timepoint
-----------------------------------------------
When the episode has a scheduled visit at that timepoint that is still waiting for answers
(pending, open, missed, or stopped only because the patient could not be reached:
:func:`~spinetrack.store.worklist.enterable`), the entry **goes to that visit**, as a coordinator
expects of a paper form that came back: the visit's questionnaires are offered, the date must lie in
the visit's window, and once all its questionnaires are answered the visit is completed exactly as
``enter_answers`` completes it (invitation spent, pending reminders cancelled, the worklist stops
chasing it). A completed or stopped visit is left as it is, and the entry is stored as an
unscheduled response at that timepoint.

All or nothing, audited
-----------------------
:meth:`AnswerEntry.enter` checks everything again in its one transaction and stores every
questionnaire or none; each response is audited by ``insert_response`` and the entry as a whole
by one ``create`` row of entity ``prom_entry`` (episode, timepoint, source, date, the response ids
and the visit it completed). :meth:`AnswerEntry.form` and :meth:`AnswerEntry.check` read the
patient's data and append one ``read`` row each.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from spinetrack import clock, instruments
from spinetrack.domain._validate import EARLIEST_DATE, check_date
from spinetrack.domain.pathway import Timepoint, check_response_timing
from spinetrack.errors import ConflictError, NotFoundError, PermissionDeniedError, SpinetrackError, ValidationError
from spinetrack.store import audit
from spinetrack.store.repositories import SITE_ROLES, Actor, Store, authorize_patient
from spinetrack.store.tables import (
    EpisodeRow,
    FollowupRow,
    PatientIdentityRow,
    PatientRow,
    PromResponseRow,
    SiteScheduleRow,
    TimepointRow,
)
from spinetrack.store.worklist import (
    ENTRY_SOURCES,
    FollowupDesk,
    Visit,
    complete_if_answered,
    enterable,
    visit_instruments,
)

__all__ = ["AnswerEntry", "AnsweredQuestionnaire", "EntryForm", "EntryResult", "EpisodeChoice", "TimepointChoice"]

_DAY = dt.timedelta(days=1)


@dataclass(frozen=True, slots=True)
class EpisodeChoice:
    """One of the patient's episodes, as the form names it."""

    id: int
    diagnosis_code: str
    treatment: str | None
    treatment_family: str | None
    enrolled_on: dt.date
    index_date: dt.date | None
    ended_on: dt.date | None


@dataclass(frozen=True, slots=True)
class TimepointChoice:
    """A project timepoint and its window for the chosen episode (dates None without an index
    date; ``usable``: the episode can take answers at it today)."""

    code: str
    label: str
    window_from_days: int
    window_to_days: int
    opens_on: dt.date | None
    closes_on: dt.date | None
    usable: bool


@dataclass(frozen=True, slots=True)
class AnsweredQuestionnaire:
    """A questionnaire the episode already has at the timepoint."""

    instrument: str
    collected_on: dt.date
    source: str
    score: float | None
    valid: bool


@dataclass(frozen=True, slots=True)
class EntryForm:
    """What the entry form offers for one patient (and, once chosen, an episode and timepoint).

    ``visit``: the episode's scheduled visit at the timepoint (any status); ``routed``: the entry
    goes to it (module docstring). ``instruments``: the questionnaires offered; ``answered``:
    those already stored at the timepoint. ``earliest`` / ``latest``: the dates that may be
    entered (None: no date can be, e.g. a window that has not opened)."""

    patient_id: int
    pseudo_id: str
    full_name: str | None
    episodes: tuple[EpisodeChoice, ...]
    episode: EpisodeChoice | None
    timepoints: tuple[TimepointChoice, ...]
    timepoint: TimepointChoice | None
    visit: Visit | None
    routed: bool
    instruments: tuple[str, ...]
    answered: tuple[AnsweredQuestionnaire, ...]
    earliest: dt.date | None
    latest: dt.date | None
    today: dt.date

    @property
    def open_instruments(self) -> tuple[str, ...]:
        """The questionnaires offered that are not answered yet at the timepoint."""
        done = {a.instrument for a in self.answered}
        return tuple(c for c in self.instruments if c not in done)


@dataclass(frozen=True, slots=True)
class EntryResult:
    """What :meth:`AnswerEntry.enter` stored: the response ids, the scheduled visit the entry went
    to (None: unscheduled) and whether that visit is now completed."""

    response_ids: tuple[int, ...]
    followup_id: int | None
    completed: bool


class AnswerEntry:
    """Phone and paper questionnaires for any visit of an episode, on a :class:`Store` (module
    docstring)."""

    def __init__(self, store: Store, *, clock_today: Callable[[], dt.date] | None = None,
                 now: Callable[[], dt.datetime] | None = None) -> None:
        self.store = store
        self.today = clock_today or clock.today
        self.now = now or clock.utcnow

    # ------------------------------------------------------------------ reading

    def form(self, actor: Actor, patient_id: int, *, episode_id: int | None = None, timepoint: str | None = None,
             today: dt.date | None = None) -> EntryForm:
        """The form's choices; audited. ``episode_id`` defaults to the patient's only episode;
        an episode that is not the patient's is "not found"; an unknown timepoint is refused
        naming the project's timepoints."""
        today = today or self.today()
        with self.store.transaction() as s:
            form = self._context(s, actor, patient_id, episode_id, timepoint, today)
            if episode_id is not None and form.episode is None:
                raise NotFoundError(entity="episode", key=episode_id)
            if timepoint is not None and form.episode is not None and form.timepoint is None:
                raise ValidationError(field="response.timepoint", value=timepoint,
                                      allowed=[t.code for t in form.timepoints])
            self._audit_read(s, actor, form)
            return form

    def check(self, actor: Actor, patient_id: int, *, episode_id: Any, timepoint: Any, source: Any,
              collected_on: Any, responses: Mapping[str, Mapping[str, Any]],
              today: dt.date | None = None) -> list[SpinetrackError]:
        """Every problem of an entry at once (module docstring), in the form's order; an empty
        list when it may be stored. Nothing is written but the audit row of the read."""
        today = today or self.today()
        with self.store.transaction() as s:
            form = self._context(s, actor, patient_id, episode_id, _text(timepoint), today)
            self._audit_read(s, actor, form)
            return self._problems(s, form, episode_id, timepoint, source, collected_on, responses, today)

    # ------------------------------------------------------------------ writing

    def enter(self, actor: Actor, patient_id: int, *, episode_id: Any, timepoint: Any, source: Any,
              collected_on: Any, responses: Mapping[str, Mapping[str, Any]], today: dt.date | None = None,
              now: dt.datetime | None = None) -> EntryResult:
        """Store the entry in one transaction, every questionnaire validated and scored
        (:meth:`Store.insert_response`) or none; the first problem :meth:`check` would list is
        raised. A scheduled visit waiting for answers gets them and is completed when all its
        questionnaires are in (module docstring)."""
        today, now = today or self.today(), now or self.now()
        with self.store.transaction() as s:
            form = self._context(s, actor, patient_id, episode_id, _text(timepoint), today, lock=True)
            problems = self._problems(s, form, episode_id, timepoint, source, collected_on, responses, today)
            if problems:
                raise problems[0]
            assert form.episode is not None and form.timepoint is not None and isinstance(source, str)
            day = check_date(collected_on, "response.collected_on", latest=today)
            assert day is not None
            done = {a.instrument for a in form.answered}
            ids = []
            for code, answers in responses.items():
                ids.append(self.store.insert_response(
                    s, actor, {"instrument": code, "timepoint": form.timepoint.code, "collected_on": day.isoformat(),
                               "answers": dict(answers)}, episode_id=form.episode.id, patient_id=patient_id,
                    index_date=form.episode.index_date, source=source, idempotency_key=None, answered=code in done))
                done.add(code)
            completed = False
            followup_id = None
            if form.routed:
                assert form.visit is not None
                followup_id = form.visit.followup_id
                f = s.get(FollowupRow, followup_id)
                assert f is not None
                completed = complete_if_answered(s, actor, f, patient_id, form.instruments, done, source=source,
                                                 now=now)
            audit.append(s, actor=actor.name, actor_role=actor.role, action="create", entity="prom_entry",
                         entity_id=form.episode.id, patient_id=patient_id,
                         detail={"timepoint": form.timepoint.code, "source": source, "collected_on": day.isoformat(),
                                 "instruments": list(responses), "response_ids": ids, "followup_id": followup_id,
                                 "completed": completed})
            return EntryResult(tuple(ids), followup_id, completed)

    # ------------------------------------------------------------------ the parts

    def _context(self, s: Session, actor: Actor, patient_id: int, episode_id: Any, timepoint: str | None,
                 today: dt.date, *, lock: bool = False) -> EntryForm:
        if actor.role not in SITE_ROLES and actor.role != "system":
            raise PermissionDeniedError("only clinicians and coordinators enter questionnaires", role=actor.role)
        patient = s.get(PatientRow, patient_id)
        if patient is None:
            raise NotFoundError(entity="patient", key=patient_id)
        authorize_patient(actor, patient.id, patient.site_id)
        ident = s.get(PatientIdentityRow, patient.id)
        episodes = tuple(EpisodeChoice(e.id, e.diagnosis_code, e.treatment, e.treatment_family, e.enrolled_on,
                                       e.index_date, e.ended_on)
                         for e in s.execute(select(EpisodeRow).where(EpisodeRow.patient_id == patient.id)
                                            .order_by(EpisodeRow.enrolled_on, EpisodeRow.id)).scalars())
        if episode_id is None or episode_id == "":  # none named: the patient's only episode
            episode = episodes[0] if len(episodes) == 1 else None
        else:
            episode = next((e for e in episodes if e.id == _int(episode_id)), None)
        schedule = [Timepoint(r.code, r.label, r.target_days, r.window_from_days, r.window_to_days)
                    for r in s.execute(select(TimepointRow).order_by(TimepointRow.position)).scalars()]
        choices = tuple(_choice(tp, episode, today) for tp in schedule)
        chosen = next((c for c in choices if c.code == timepoint), None) if episode is not None else None
        visit: Visit | None = None
        routed = False
        codes: tuple[str, ...] = ()
        answered: tuple[AnsweredQuestionnaire, ...] = ()
        earliest = latest = None
        if episode is not None and chosen is not None:
            q = select(FollowupRow).where(FollowupRow.episode_id == episode.id, FollowupRow.timepoint == chosen.code)
            f = s.execute(q.with_for_update() if lock else q).scalar()
            ep_row = s.get(EpisodeRow, episode.id)
            assert ep_row is not None
            if f is not None:
                visit = FollowupDesk._visit(s, f, ep_row, today, names=False)
                routed = enterable(f)
            if f is not None and routed:
                codes = visit_instruments(s, f, patient.site_id)
            else:
                site_codes = s.execute(select(SiteScheduleRow.instruments).where(
                    SiteScheduleRow.site_id == patient.site_id, SiteScheduleRow.timepoint == chosen.code)).scalar()
                codes = tuple(str(c) for c in site_codes) if site_codes else tuple(
                    i.definition.code for i in instruments.all())
            answered = tuple(AnsweredQuestionnaire(r.instrument, r.collected_on, r.source, r.score, bool(r.valid))
                             for r in s.execute(select(PromResponseRow.instrument, PromResponseRow.collected_on,
                                                       PromResponseRow.source, PromResponseRow.score,
                                                       PromResponseRow.valid).where(
                    PromResponseRow.episode_id == episode.id, PromResponseRow.timepoint == chosen.code)
                .order_by(PromResponseRow.id)))
            earliest, latest = _dates(chosen, episode, f if routed else None, today)
        return EntryForm(patient.id, patient.pseudo_id, ident.full_name if ident else None, episodes, episode,
                         choices, chosen, visit, routed, codes, answered, earliest, latest, today)

    def _problems(self, s: Session, form: EntryForm, episode_id: Any, timepoint: Any, source: Any,
                  collected_on: Any, responses: Mapping[str, Mapping[str, Any]],
                  today: dt.date) -> list[SpinetrackError]:
        out: list[SpinetrackError] = []
        if form.episode is None:
            out.append(ValidationError(field="response.episode", value=_shown(episode_id),
                                       allowed=[e.id for e in form.episodes] or "an episode of this patient",
                                       reason="required" if episode_id in (None, "") else None))
        tp = form.timepoint
        if tp is None:  # (a known timepoint with no episode chosen: the episode's problem says it)
            if not (form.episode is None and timepoint in {t.code for t in form.timepoints}):
                out.append(ValidationError(field="response.timepoint", value=_shown(timepoint),
                                           allowed=[t.code for t in form.timepoints],
                                           reason="required" if timepoint in (None, "") else None))
        elif form.episode is not None and form.episode.index_date is None and tp.window_to_days > 0:
            out.append(ValidationError(field="response.timepoint", value=tp.code, allowed="baseline",
                                       reason="the episode has no procedure or treatment start date yet, so only "
                                              "its baseline can be entered"))
        if source not in ENTRY_SOURCES:
            out.append(ValidationError(field="response.source", value=_shown(source), allowed=ENTRY_SOURCES,
                                       reason="required" if source in (None, "") else None))
        try:
            day = check_date(collected_on, "response.collected_on", latest=today,
                             latest_text="today: not in the future")
        except ValidationError as exc:
            out.append(exc)
            day = None
        if day is not None and form.episode is not None and form.timepoint is not None:
            problem = _date_problem(form, day, today)
            if problem is not None:
                out.append(problem)
        out.extend(self._answer_problems(form, responses))
        return out

    def _answer_problems(self, form: EntryForm, responses: Mapping[str, Mapping[str, Any]]) -> list[SpinetrackError]:
        out: list[SpinetrackError] = []
        if not isinstance(responses, Mapping) or not responses:
            return [ValidationError(field="response.instrument", value=None, allowed="at least one questionnaire",
                                    reason="nothing was entered")]
        answered = {a.instrument: a for a in form.answered}
        known = form.instruments if form.timepoint is not None else tuple(
            i.definition.code for i in instruments.all())  # no timepoint yet: each questionnaire is still checked
        for code, answers in responses.items():
            if code not in known:
                out.append(ValidationError(field="response.instrument", value=_shown(code), allowed=list(known)))
                continue
            inst = instruments.get(code)
            if code in answered:
                a = answered[code]
                out.append(ConflictError(
                    f"already answered at this timepoint (on {a.collected_on.isoformat()}, {a.source}); a stored "
                    "answer is changed by a correction, not entered again", field=code))
                continue
            before = len(out)
            items = {i.code: i for i in inst.definition.items}
            for key in answers:
                if key not in items:
                    out.append(ValidationError(field=f"{code}.{key}", value=_shown(answers[key]),
                                               allowed=list(items), reason="unknown item"))
            for item in items.values():
                value = answers.get(item.code)
                if value is None or value == "":
                    if item.required:
                        out.append(ValidationError(field=f"{code}.{item.code}", value=None, allowed=item.allowed(),
                                                   reason="required"))
                    continue
                try:
                    item.check(code, value)
                except ValidationError as exc:
                    out.append(exc)
            if len(out) == before:  # every item fits: the instrument's own rules between items
                options: dict[str, Any] = {"value_set": self.store.eq5d_value_set} if inst.definition.value_set else {}
                try:
                    inst.score({k: v for k, v in answers.items() if v not in (None, "")}, **options)
                except ValidationError as exc:
                    out.append(exc)
        return out

    @staticmethod
    def _audit_read(s: Session, actor: Actor, form: EntryForm) -> None:
        audit.append(s, actor=actor.name, actor_role=actor.role, action="read", entity="prom_entry",
                     entity_id=form.episode.id if form.episode else None, patient_id=form.patient_id,
                     detail={"timepoint": form.timepoint.code if form.timepoint else None,
                             "episodes": len(form.episodes)})


# ---------------------------------------------------------------------------------- helpers


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 10:
        return int(value.strip())
    return None


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _shown(value: Any) -> Any:
    return value[:40] if isinstance(value, str) else value


def _window(tp: TimepointChoice | Timepoint, index: dt.date) -> tuple[dt.date, dt.date] | None:
    try:
        return index + dt.timedelta(days=tp.window_from_days), index + dt.timedelta(days=tp.window_to_days)
    except OverflowError:  # an index date near year 1 or 9999
        return None


def _choice(tp: Timepoint, episode: EpisodeChoice | None, today: dt.date) -> TimepointChoice:
    index = episode.index_date if episode else None
    window = _window(tp, index) if index is not None else None
    opens, closes = window if window else (None, None)
    # without an index date only the baseline can be entered; else a window that has opened
    usable = (episode is not None and tp.is_baseline) if index is None else (opens is not None and opens <= today)
    return TimepointChoice(tp.code, tp.label, tp.window_from_days, tp.window_to_days, opens, closes, usable)


def _dates(tp: TimepointChoice, episode: EpisodeChoice, f: FollowupRow | None,
           today: dt.date) -> tuple[dt.date | None, dt.date | None]:
    """The dates that may be entered: the window (and the visit's, when the entry goes to one),
    up to today; (None, None) when none can be."""
    if episode.index_date is None:
        return (EARLIEST_DATE, today) if tp.window_to_days <= 0 else (None, None)
    if tp.opens_on is None or tp.closes_on is None:
        return None, None
    lo, hi = tp.opens_on, min(tp.closes_on, today)
    if f is not None:
        lo, hi = max(lo, f.opens_on), min(hi, f.closes_on)
    return (lo, hi) if lo <= hi else (None, None)


def _date_problem(form: EntryForm, day: dt.date, today: dt.date) -> ValidationError | None:
    """The date against the timepoint's window (and the scheduled visit's), in plain words."""
    tp, episode = form.timepoint, form.episode
    assert tp is not None and episode is not None
    index = episode.index_date
    if index is None:
        return None  # a baseline before the index date is known (a follow-up is refused on its timepoint)
    field = "response.collected_on"
    schedule = [Timepoint(t.code, t.label, 0, t.window_from_days, t.window_to_days) for t in form.timepoints]
    try:
        check_response_timing(next(t for t in schedule if t.code == tp.code), day, index, field,
                              "response.timepoint")
    except ValidationError:
        window = (tp.opens_on, tp.closes_on)
        fits = [t for t in form.timepoints if t.window_from_days <= (day - index).days <= t.window_to_days]
        where = (f"it falls in the {fits[0].label} window: choose that timepoint" if fits
                 else "it falls in no timepoint's window")
        before = " and a follow-up cannot be before it" if day < index and tp.window_to_days > 0 else ""
        return ValidationError(
            field=field, value=day.isoformat(), allowed=_allowed(window[0], window[1], today),
            reason=f"{day.isoformat()} is outside this episode's {tp.label} window, days {tp.window_from_days} "
                   f"to {tp.window_to_days} from the index date {index.isoformat()}{before}; {where}")
    if form.routed and form.visit is not None and not form.visit.opens_on <= day <= form.visit.closes_on:
        v = form.visit
        return ValidationError(
            field=field, value=day.isoformat(), allowed=_allowed(v.opens_on, v.closes_on, today),
            reason=f"{day.isoformat()} is outside the window of the scheduled {tp.label} visit, which these "
                   f"answers complete")
    return None


def _allowed(lo: dt.date | None, hi: dt.date | None, today: dt.date) -> str:
    if lo is None or hi is None:
        return "none"
    if lo > today:
        return f"none yet: the window opens on {lo.isoformat()}"
    return f"a date from {lo.isoformat()} to {min(hi, today).isoformat()}"
