"""Phone and paper questionnaires for any visit of an episode (spinetrack.store.entry) on a fixed
clock, on SQLite and PostgreSQL: stored and scored, every problem listed at once with nothing stored,
the timepoints' windows (domain.pathway.TIMEPOINTS) named when a date falls outside, a scheduled
visit completed by the entry, site scoping and the audit trail.

Reference values: ODI 2.1a, every section answered 3: 30 / 50 x 100 = 60 (Fairbank JC, Pynsent PB,
Spine 2000;25(22):2940-52, the scoring rule); NRS back pain: the number given is the score."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from spinetrack import instruments
from spinetrack.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from spinetrack.instruments.base import Listing
from spinetrack.store.entry import AnswerEntry
from spinetrack.store.repositories import SYSTEM, Actor, Store
from spinetrack.store.tables import (
    AuditRow,
    EpisodeRow,
    FollowupRow,
    OutboxRow,
    PromResponseRow,
    SiteScheduleRow,
)

TODAY = dt.date(2026, 6, 1)
NOW = dt.datetime(2026, 6, 1, 9, 0)
ODI_ITEMS = ("pain_intensity", "personal_care", "lifting", "walking", "sitting", "standing", "sleeping",
             "sex_life", "social_life", "travelling")
ODI_ALL_3 = dict.fromkeys(ODI_ITEMS, 3)  # 30 / 50 x 100 = 60 (Fairbank & Pynsent 2000)


class World:
    def __init__(self, store: Store) -> None:
        self.a = store.add_site(SYSTEM, code="A", name="Site A")
        self.b = store.add_site(SYSTEM, code="B", name="Site B")
        self.coordinator = Actor("a.coord", "coordinator", self.a)
        self.clinician_b = Actor("b.clin", "clinician", self.b)
        self.pa, self.ea = self._patient(store, self.a, index_ago=100)    # index date 100 days ago
        self.pb, self.eb = self._patient(store, self.b, index_ago=100)
        self.pn, self.en = self._patient(store, self.a, index_ago=None)   # no index date yet
        self.pl, self.el = self._patient(store, self.a, index_ago=1100)   # operated three years ago

    @staticmethod
    def _patient(store: Store, site: int, *, index_ago: int | None) -> tuple[int, int]:
        actor = Actor("setup", "clinician", site)
        pid = store.add_patient(actor, site, {"birth_year": 1970, "sex": "male"},
                                identity={"full_name": "Ann Example", "mrn": None})
        enrolled = TODAY - dt.timedelta(days=(index_ago or 0) + 30)
        data: dict[str, Any] = {"diagnosis_code": "M51.16", "levels": "L4-L5", "enrolled_on": enrolled.isoformat(),
                                "treatment": "conservative"}
        if index_ago is not None:
            data["index_date"] = (TODAY - dt.timedelta(days=index_ago)).isoformat()
        return pid, store.add_episode(actor, pid, data)


@pytest.fixture
def store(engine: Engine) -> Store:
    return Store(engine)


@pytest.fixture
def world(store: Store) -> World:
    return World(store)


@pytest.fixture
def entry(store: Store) -> AnswerEntry:
    return AnswerEntry(store, clock_today=lambda: TODAY, now=lambda: NOW)


def _day(index_ago: int, days: int) -> str:
    return (TODAY - dt.timedelta(days=index_ago) + dt.timedelta(days=days)).isoformat()


def _counts(store: Store) -> tuple[int, int]:
    return store.count(PromResponseRow), store.count(FollowupRow)


def _audit(store: Store, entity: str, action: str) -> list[AuditRow]:
    with store.transaction() as s:
        return list(s.execute(select(AuditRow).where(AuditRow.entity == entity, AuditRow.action == action)
                              .order_by(AuditRow.id)).scalars())


def test_entry_a_paper_baseline_is_stored_scored_and_audited(store: Store, entry: AnswerEntry, world: World) -> None:
    """ODI every section 3 -> 60 (Fairbank & Pynsent 2000); NRS back 4 -> 4. No visit is scheduled:
    the entry is an unscheduled response at the baseline."""
    collected = _day(100, -10)
    result = entry.enter(world.coordinator, world.pa, episode_id=str(world.ea), timepoint="baseline", source="paper",
                         collected_on=collected, responses={"odi": ODI_ALL_3, "nrs_back": {"pain": 4}})
    assert result.followup_id is None and not result.completed and len(result.response_ids) == 2
    with store.transaction() as s:
        rows = {r.instrument: r for r in s.execute(select(PromResponseRow)).scalars()}
    assert rows["odi"].score == pytest.approx(60.0) and rows["nrs_back"].score == pytest.approx(4.0)
    assert {(r.source, r.timepoint, r.collected_on.isoformat(), r.days_from_index) for r in rows.values()} == {
        ("paper", "baseline", collected, -10)}
    [row] = _audit(store, "prom_entry", "create")
    assert (row.actor, row.patient_id, row.entity_id) == ("a.coord", world.pa, str(world.ea))
    assert row.detail["source"] == "paper" and sorted(row.detail["response_ids"]) == sorted(result.response_ids)
    assert len(_audit(store, "prom_response", "create")) == 2  # and each response by insert_response
    form = entry.form(world.coordinator, world.pa, episode_id=world.ea, timepoint="baseline")
    assert [(a.instrument, a.score) for a in form.answered] == [("odi", 60.0), ("nrs_back", 4.0)]
    assert _audit(store, "prom_entry", "read")[-1].patient_id == world.pa  # the form's read is audited


def test_entry_invalid_reports_every_field_and_stores_nothing(store: Store, entry: AnswerEntry,
                                                              world: World) -> None:
    before = _counts(store)
    bad = {"source": "web", "collected_on": (TODAY + dt.timedelta(days=1)).isoformat(),
           "responses": {"nrs_back": {"pain": 11}, "eq5d5l": {"MO": 9, "SC": 1, "UA": 1, "PD": 1, "AD": 1},
                         "odi": {"walking": "often", "nonsense": 1}}}
    problems = entry.check(world.coordinator, world.pa, episode_id="12x", timepoint="7y", **bad)
    fields = [getattr(p, "field", None) for p in problems]
    assert fields == ["response.episode", "response.timepoint", "response.source", "response.collected_on",
                      "nrs_back.pain", "eq5d5l.MO", "odi.nonsense", "odi.walking"]
    with pytest.raises(ValidationError, match=r"response\.episode"):
        entry.enter(world.coordinator, world.pa, episode_id="12x", timepoint="7y", **bad)
    # the episode and timepoint right, one questionnaire wrong: the valid one is not kept either
    with pytest.raises(ValidationError, match=r"nrs_leg\.pain"):
        entry.enter(world.coordinator, world.pa, episode_id=world.ea, timepoint="3m", source="phone",
                    collected_on=_day(100, 90), responses={"nrs_back": {"pain": 4}, "nrs_leg": {"pain": 12}})
    required = entry.check(world.coordinator, world.pa, episode_id=world.ea, timepoint="3m", source="phone",
                           collected_on=_day(100, 90), responses={"eq5d5l": {"MO": 2}})
    assert [p.field for p in required if isinstance(p, ValidationError)] == [  # every required item left empty
        "eq5d5l.SC", "eq5d5l.UA", "eq5d5l.PD", "eq5d5l.AD"]
    nothing = entry.check(world.coordinator, world.pa, episode_id=world.ea, timepoint="3m", source="phone",
                          collected_on=_day(100, 90), responses={})
    assert [(p.field, p.reason) for p in nothing if isinstance(p, ValidationError)] == [
        ("response.instrument", "nothing was entered")]
    assert _counts(store) == before
    assert _audit(store, "prom_entry", "create") == [] and _audit(store, "prom_response", "create") == []


def test_entry_a_date_outside_the_window_names_the_allowed_dates(entry: AnswerEntry, world: World) -> None:
    """Windows of domain.pathway.TIMEPOINTS: 6 weeks days 29-63, 3 months 64-136, 24 months
    548-912, 5 years 1461-2191 (nothing between days 913 and 1460)."""
    [p] = entry.check(world.coordinator, world.pa, episode_id=world.ea, timepoint="6w", source="paper",
                      collected_on=_day(100, 70), responses={"nrs_back": {"pain": 3}})
    assert isinstance(p, ValidationError) and p.field == "response.collected_on"
    assert p.allowed == f"a date from {_day(100, 29)} to {_day(100, 63)}"
    assert "6 weeks window" in str(p.reason) and "falls in the 3 months window" in str(p.reason)
    [p] = entry.check(world.coordinator, world.pl, episode_id=world.el, timepoint="24m", source="paper",
                      collected_on=_day(1100, 1000), responses={"nrs_back": {"pain": 3}})
    assert p.allowed == f"a date from {_day(1100, 548)} to {_day(1100, 912)}"
    assert "falls in no timepoint's window" in str(p.reason)
    [p] = entry.check(world.coordinator, world.pa, episode_id=world.ea, timepoint="3m", source="paper",
                      collected_on=_day(100, -1), responses={"nrs_back": {"pain": 3}})
    assert "cannot be before" in str(p.reason)
    form = entry.form(world.coordinator, world.pa, episode_id=world.ea, timepoint="6m")  # opens on day 137
    assert (form.earliest, form.latest) == (None, None) and form.timepoint is not None and not form.timepoint.usable
    [p] = entry.check(world.coordinator, world.pn, episode_id=world.en, timepoint="6w", source="paper",
                      collected_on=TODAY.isoformat(), responses={"nrs_back": {"pain": 3}})
    assert (p.field, p.allowed) == ("response.timepoint", "baseline")  # a follow-up needs the index date


def test_entry_goes_to_the_scheduled_visit_and_completes_it(store: Store, entry: AnswerEntry, world: World) -> None:
    """An open 3-month visit (window days 64-136) with a queued reminder: the entry goes to it, offers
    the visit's questionnaires (the default visit's, no invitation and no site schedule) and, all
    answered, completes it and cancels the reminder, as FollowupDesk.enter_answers does."""
    index = TODAY - dt.timedelta(days=100)
    with store.transaction() as s:
        f = FollowupRow(episode_id=world.ea, timepoint="3m", due_on=index + dt.timedelta(days=91),
                        opens_on=index + dt.timedelta(days=64), closes_on=index + dt.timedelta(days=136),
                        status="open", reminders_sent=1, unreachable=False, created_at=NOW, updated_at=NOW)
        s.add(f)
        s.flush()
        s.add(OutboxRow(followup_id=f.id, episode_id=world.ea, kind="reminder", sequence=1, channel="letter",
                        status="queued", attempts=0, created_at=NOW, due_at=NOW))
        fid = f.id
    form = entry.form(world.coordinator, world.pa, episode_id=world.ea, timepoint="3m")
    visit_codes = instruments.listed(Listing.VISIT_DEFAULT)
    assert form.routed and form.visit is not None and form.visit.followup_id == fid
    assert form.instruments == visit_codes
    answers: dict[str, dict[str, Any]] = {"odi": ODI_ALL_3, "nrs_back": {"pain": 4}, "nrs_leg": {"pain": 2},
                                          "eq5d5l": {"MO": 2, "SC": 1, "UA": 2, "PD": 3, "AD": 1}}
    for code in visit_codes:
        answers.setdefault(code, {i.code: i.options[0].value for i in instruments.get(code).definition.items
                                  if i.options})
    partial = entry.enter(world.coordinator, world.pa, episode_id=world.ea, timepoint="3m", source="phone",
                          collected_on=_day(100, 95), responses={"odi": ODI_ALL_3})
    assert (partial.followup_id, partial.completed) == (fid, False)
    rest = {k: v for k, v in answers.items() if k != "odi"}
    done = entry.enter(world.coordinator, world.pa, episode_id=world.ea, timepoint="3m", source="phone",
                       collected_on=_day(100, 95), responses=rest)
    assert (done.followup_id, done.completed) == (fid, True)
    with store.transaction() as s:
        assert s.get(FollowupRow, fid).status == "completed"  # type: ignore[union-attr]
        assert s.execute(select(OutboxRow.status).where(OutboxRow.followup_id == fid)).scalars().all() == [
            "cancelled"]
    # a questionnaire already answered at the timepoint is a conflict, as enter_answers' answered=
    again = entry.check(world.coordinator, world.pa, episode_id=world.ea, timepoint="3m", source="paper",
                        collected_on=_day(100, 96), responses={"odi": ODI_ALL_3})
    assert [(type(p), p.field) for p in again] == [(ConflictError, "odi")]  # type: ignore[attr-defined]
    with pytest.raises(ConflictError):
        entry.enter(world.coordinator, world.pa, episode_id=world.ea, timepoint="3m", source="paper",
                    collected_on=_day(100, 96), responses={"odi": ODI_ALL_3})


def test_entry_offers_the_site_s_questionnaires_for_the_timepoint_else_every_one(store: Store, entry: AnswerEntry,
                                                                               world: World) -> None:
    with store.transaction() as s:
        s.add(SiteScheduleRow(site_id=world.a, timepoint="3m", enabled=True, window_from_days=64,
                              window_to_days=136, reminder_offsets=[0], instruments=["nrs_back", "nrs_leg"],
                              updated_by="test", updated_at=NOW))
    assert entry.form(world.coordinator, world.pa, episode_id=world.ea, timepoint="3m").instruments == (
        "nrs_back", "nrs_leg")
    every = tuple(i.definition.code for i in instruments.all())
    assert entry.form(world.coordinator, world.pa, episode_id=world.ea, timepoint="6w").instruments == every
    [p] = entry.check(world.coordinator, world.pa, episode_id=world.ea, timepoint="3m", source="paper",
                      collected_on=_day(100, 90), responses={"odi": ODI_ALL_3})
    assert (p.field, p.value) == ("response.instrument", "odi")  # type: ignore[attr-defined]


def test_entry_is_for_the_patient_s_own_site_staff_only(store: Store, entry: AnswerEntry, world: World) -> None:
    kwargs: dict[str, Any] = {"episode_id": world.ea, "timepoint": "baseline", "source": "paper",
                              "collected_on": _day(100, -5), "responses": {"nrs_back": {"pain": 5}}}
    before = _counts(store)
    for call in (lambda a: entry.form(a, world.pa), lambda a: entry.check(a, world.pa, **kwargs),
                 lambda a: entry.enter(a, world.pa, **kwargs)):
        with pytest.raises(NotFoundError):  # another site's patient: as if it did not exist
            call(world.clinician_b)
        for role in ("researcher", "admin", "patient"):
            with pytest.raises(PermissionDeniedError):
                call(Actor(role, role, None))
    with pytest.raises(NotFoundError):  # another site's episode named on the own patient's form
        entry.form(world.coordinator, world.pa, episode_id=world.eb)
    [p] = entry.check(world.coordinator, world.pa, **{**kwargs, "episode_id": str(world.eb)})
    assert p.field == "response.episode" and str(world.eb) not in str(p.allowed)  # type: ignore[attr-defined]
    assert _counts(store) == before
    with store.transaction() as s:
        assert s.execute(select(func.count()).select_from(EpisodeRow)).scalar_one() == 4
