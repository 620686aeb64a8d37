"""The coordinator's worklist (spinetrack.store.worklist) on a fixed clock, on SQLite and on
PostgreSQL (the ``engine`` fixture runs each test on both): statuses as the module docstring
defines them, site scoping, audited reads, resend, unreachable, phone and paper entry, contact
preferences, the decision aid's release and completeness per timepoint and month."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from spinetrack import instruments
from spinetrack.domain.pathway import TIMEPOINTS
from spinetrack.errors import NotFoundError, PermissionDeniedError, ValidationError
from spinetrack.instruments.base import Listing
from spinetrack.store.outreach import Outreach
from spinetrack.store.repositories import SYSTEM, Actor, Store
from spinetrack.store.tables import (
    AuditRow,
    EpisodeRow,
    FollowupRow,
    OutboxRow,
    PatientIdentityRow,
    PromResponseRow,
    ScreeningAssessmentRow,
    SiteScheduleRow,
)
from spinetrack.store.worklist import FollowupDesk, completeness, status_counts, worklist_status

TODAY = dt.date(2026, 6, 1)
NOW = dt.datetime(2026, 6, 1, 9, 0)
WINDOWS = {tp.code: tp for tp in TIMEPOINTS}
VISIT = instruments.listed(Listing.VISIT_DEFAULT)  # a visit without invitation or site schedule asks these
ODI_ITEMS = ("pain_intensity", "personal_care", "lifting", "walking", "sitting", "standing", "sleeping",
             "sex_life", "social_life", "travelling")


def _patient(store: Store, site: int, name: str, *, index_ago: int, email: str | None = "p@example.org") -> int:
    actor = Actor("setup", "clinician", site)
    pid = store.add_patient(actor, site, {"birth_year": 1970, "sex": "male"},
                            identity={"full_name": name, "mrn": None, "email": email, "phone": None})
    index = TODAY - dt.timedelta(days=index_ago)
    return store.add_episode(actor, pid, {"diagnosis_code": "M51.16", "levels": "L4-L5",
                                          "enrolled_on": (index - dt.timedelta(days=30)).isoformat(),
                                          "treatment": "conservative", "index_date": index.isoformat()})


def _followup(store: Store, episode_id: int, tp: str, *, status: str = "pending", **extra: Any) -> int:
    with store.transaction() as s:
        index = s.get(EpisodeRow, episode_id).index_date  # type: ignore[union-attr]
        w = WINDOWS[tp]
        row = FollowupRow(episode_id=episode_id, timepoint=tp, due_on=index + dt.timedelta(days=w.target_days),
                          opens_on=index + dt.timedelta(days=w.window_from_days),
                          closes_on=index + dt.timedelta(days=w.window_to_days), status=status, reminders_sent=0,
                          created_at=NOW, updated_at=NOW, **{"unreachable": False, **extra})
        s.add(row)
        s.flush()
        return row.id


class World:
    def __init__(self, store: Store) -> None:
        self.a = store.add_site(SYSTEM, code="A", name="Site A")
        self.b = store.add_site(SYSTEM, code="B", name="Site B")
        self.ep1 = _patient(store, self.a, "Ann Example", index_ago=100)
        self.ep2 = _patient(store, self.a, "Bob Example", index_ago=70)
        self.ep3 = _patient(store, self.a, "Cat Example", index_ago=70)
        self.epb = _patient(store, self.b, "Dan Other", index_ago=70)
        self.f = {
            "missed": _followup(store, self.ep1, "6w"),            # window 29-63 closed 37 days ago
            "overdue": _followup(store, self.ep1, "3m", status="open"),  # opened day 64, due day 91: both past
            "completed": _followup(store, self.ep1, "2w", status="completed"),
            "upcoming": _followup(store, self.ep1, "6m"),          # opens on day 137
            "due": _followup(store, self.ep2, "3m", status="open"),      # opened 6 days ago, due in 21
            "stopped": _followup(store, self.ep3, "3m", status="open", unreachable=True),
            "other_site": _followup(store, self.epb, "3m", status="open"),
        }
        self.clinician = Actor("a.clin", "clinician", self.a)
        self.coordinator = Actor("a.coord", "coordinator", self.a)


@pytest.fixture
def store(engine: Engine) -> Store:
    return Store(engine)


@pytest.fixture
def world(store: Store) -> World:
    return World(store)


@pytest.fixture
def desk(store: Store) -> FollowupDesk:
    return FollowupDesk(store, clock_today=lambda: TODAY, now=lambda: NOW)


@pytest.fixture
def outreach(store: Store) -> Outreach:
    return Outreach(store, now=lambda: NOW)


def test_worklist_status_of_each_visit_on_a_fixed_clock(desk: FollowupDesk, world: World) -> None:
    page = desk.worklist(world.coordinator, limit=100)
    got = {v.followup_id: v.status for v in page.items}
    expected = {world.f[k]: k for k in ("missed", "overdue", "completed", "upcoming", "due", "stopped")}
    assert got == expected
    assert [v.status for v in page.items] == ["overdue", "due", "upcoming", "missed", "stopped", "completed"]
    assert page.counts["3m"] == {"due": 1, "overdue": 1, "missed": 0, "completed": 0, "upcoming": 0, "stopped": 1}
    assert page.counts["6w"]["missed"] == 1 and page.counts["2w"]["completed"] == 1
    assert list(page.counts) == ["2w", "6w", "3m", "6m"]  # the schedule's order


def test_worklist_sql_status_agrees_with_the_documented_rule(store: Store, desk: FollowupDesk, world: World) -> None:
    """The CASE expression and :func:`worklist_status` give the same status on every day of a year."""
    with store.transaction() as s:
        rows = s.execute(select(FollowupRow)).scalars().all()
        facts = [(r.id, r.opens_on, r.due_on, r.closes_on, r.status, r.unreachable) for r in rows]
    for day in (TODAY + dt.timedelta(days=d) for d in range(-120, 240, 9)):
        page = desk.worklist(Actor("system", "system"), limit=100, today=day)
        sql = {v.followup_id: v.status for v in page.items}
        for fid, opens, due, closes, stored, unreachable in facts:
            assert sql[fid] == worklist_status(today=day, opens_on=opens, due_on=due, closes_on=closes,
                                               stored=stored, unreachable=unreachable), (fid, day)


def test_worklist_overdue_waits_for_the_site_s_last_reminder(store: Store, desk: FollowupDesk, world: World) -> None:
    """A site whose last reminder goes out 40 days after opening: the 3-month visit that opened
    36 days ago is still being chased, so it is due, not overdue."""
    with store.transaction() as s:
        s.add(SiteScheduleRow(site_id=world.a, timepoint="3m", enabled=True, window_from_days=64, window_to_days=136,
                              reminder_offsets=[0, 20, 40], instruments=["odi"], updated_by="admin", updated_at=NOW))
    page = desk.worklist(world.coordinator, status="due")
    assert {v.followup_id for v in page.items} == {world.f["due"], world.f["overdue"]}


def test_worklist_is_scoped_by_site_and_role(desk: FollowupDesk, world: World) -> None:
    mine = desk.worklist(world.clinician, limit=100)
    assert world.f["other_site"] not in {v.followup_id for v in mine.items}
    assert {v.full_name for v in mine.items} == {"Ann Example", "Bob Example", "Cat Example"}
    with pytest.raises(PermissionDeniedError):
        desk.worklist(world.clinician, site_id=world.b)
    with pytest.raises(PermissionDeniedError):
        desk.worklist(Actor("r", "researcher"))
    admin = desk.worklist(Actor("root", "admin"), limit=100)
    assert world.f["other_site"] in {v.followup_id for v in admin.items}
    assert {v.full_name for v in admin.items} == {None}  # admins see pseudonymous ids only
    assert {v.followup_id for v in desk.worklist(Actor("root", "admin"), site_id=world.b).items} == {
        world.f["other_site"]}
    with pytest.raises(NotFoundError):
        desk.resend(world.clinician, world.f["other_site"])
    with pytest.raises(PermissionDeniedError):
        desk.resend(Actor("root", "admin"), world.f["due"])


def test_worklist_filters_pages_and_audits_each_read(store: Store, desk: FollowupDesk, world: World) -> None:
    before = store.count(AuditRow)
    page = desk.worklist(world.coordinator, timepoint="3m", limit=2, offset=0)
    assert page.total == 3 and [v.status for v in page.items] == ["overdue", "due"]
    assert [v.status for v in desk.worklist(world.coordinator, timepoint="3m", limit=2, offset=2).items] == ["stopped"]
    assert desk.worklist(world.coordinator, status="missed").total == 1
    assert store.count(AuditRow) == before + 3
    with store.transaction() as s:
        last = s.execute(select(AuditRow).order_by(AuditRow.id.desc())).scalars().first()
        assert last is not None and last.entity == "followup_list" and last.detail["status"] == "missed"
    with pytest.raises(ValidationError, match="status"):
        desk.worklist(world.coordinator, status="late")
    with pytest.raises(ValidationError, match="timepoint"):
        desk.worklist(world.coordinator, timepoint="7y")


def test_resend_queues_the_next_free_sequence(store: Store, desk: FollowupDesk, world: World) -> None:
    fid = world.f["overdue"]
    with store.transaction() as s:
        for seq, status in ((0, "sent"), (1, "sent")):
            s.add(OutboxRow(followup_id=fid, episode_id=world.ep1, kind="invitation" if seq == 0 else "reminder",
                            sequence=seq, channel="email", status=status, attempts=1, created_at=NOW, due_at=NOW))
    oid = desk.resend(world.coordinator, fid)
    with store.transaction() as s:
        row = s.get(OutboxRow, oid)
        assert row is not None
        assert (row.sequence, row.kind, row.channel, row.status) == (2, "reminder", "email", "queued")
    visit = next(v for v in desk.worklist(world.coordinator, status="overdue").items)
    assert [m.sequence for m in visit.messages] == [0, 1, 2]
    with pytest.raises(ValidationError, match=r"followup\.status"):
        desk.resend(world.coordinator, world.f["missed"])  # window closed: nothing is sent


def test_resend_is_refused_for_a_patient_who_opted_out(store: Store, desk: FollowupDesk, world: World) -> None:
    with store.transaction() as s:
        ident = s.execute(select(PatientIdentityRow).join(EpisodeRow, EpisodeRow.patient_id ==
                                                          PatientIdentityRow.patient_id)
                          .where(EpisodeRow.id == world.ep2)).scalar_one()
        ident.contact_consent = False
    with pytest.raises(ValidationError, match=r"contact\.channel"):
        desk.resend(world.coordinator, world.f["due"])
    assert store.count(OutboxRow) == 0


def test_mark_unreachable_stops_the_visit_and_cancels_its_messages(store: Store, desk: FollowupDesk,
                                                                   world: World) -> None:
    fid = world.f["due"]
    with store.transaction() as s:
        s.add(OutboxRow(followup_id=fid, episode_id=world.ep2, kind="reminder", sequence=1, channel="email",
                        status="queued", attempts=0, created_at=NOW, due_at=NOW))
    desk.mark_unreachable(world.coordinator, fid)
    with store.transaction() as s:
        f = s.get(FollowupRow, fid)
        assert f is not None and (f.status, f.stop_reason, f.unreachable) == ("stopped", "unreachable", True)
        assert s.execute(select(OutboxRow.status)).scalars().all() == ["cancelled"]
        entry = s.execute(select(AuditRow).where(AuditRow.entity == "followup", AuditRow.action == "update")
                          ).scalars().one()
        assert entry.detail["change"] == "unreachable" and entry.detail["messages_cancelled"] == 1
    assert desk.worklist(world.coordinator, status="stopped").total == 2


def _answers(codes: tuple[str, ...] = VISIT) -> dict[str, dict[str, Any]]:
    """ODI every item 3, NRS 4, EQ-5D-5L 21312 VAS 70; any other questionnaire of the default
    visit: its first answer option (or its lowest number) on every item."""
    known: dict[str, dict[str, Any]] = {"odi": dict.fromkeys(ODI_ITEMS, 3), "nrs_back": {"pain": 4},
                                        "eq5d5l": {"MO": 2, "SC": 1, "UA": 2, "PD": 3, "AD": 1, "vas": 70}}
    out = {}
    for code in codes:
        items = instruments.get(code).definition.items
        out[code] = known.get(code) or {i.code: i.options[0].value if i.options else i.low for i in items
                                        if i.type.value in ("choice", "integer", "decimal")}
    return out


def test_phone_entry_is_stored_with_its_source_and_completes_the_visit(store: Store, desk: FollowupDesk,
                                                                       world: World) -> None:
    """ODI with every item at 3: 30 / 50 x 100 = 60 (Fairbank & Pynsent 2000, the scoring rule)."""
    fid = world.f["overdue"]
    collected = TODAY - dt.timedelta(days=2)
    ids = desk.enter_answers(world.coordinator, fid, source="phone", collected_on=collected.isoformat(),
                             responses=_answers())
    assert len(ids) == len(VISIT)
    with store.transaction() as s:
        rows = s.execute(select(PromResponseRow).where(PromResponseRow.id.in_(ids))).scalars().all()
        assert {(r.instrument, r.source, r.collected_on, r.timepoint) for r in rows} == {
            (c, "phone", collected, "3m") for c in VISIT}
        assert next(r.score for r in rows if r.instrument == "odi") == pytest.approx(60.0)
        assert s.get(FollowupRow, fid).status == "completed"  # type: ignore[union-attr]
    assert next(v.status for v in desk.worklist(world.coordinator, timepoint="3m").items
                if v.followup_id == fid) == "completed"


def test_paper_entry_outside_the_window_stores_nothing(store: Store, engine: Engine, desk: FollowupDesk,
                                                       world: World) -> None:
    fid = world.f["due"]  # window opened 6 days ago
    before = (store.count(PromResponseRow), store.count(AuditRow))
    for day in (TODAY - dt.timedelta(days=7), TODAY + dt.timedelta(days=1)):
        with pytest.raises(ValidationError, match=r"response\.collected_on"):
            desk.enter_answers(world.coordinator, fid, source="paper", collected_on=day, responses=_answers())
    bad = _answers()
    bad["eq5d5l"]["MO"] = 9  # one questionnaire is refused: the others are not kept either
    with pytest.raises(ValidationError, match="eq5d5l"):
        desk.enter_answers(world.coordinator, fid, source="paper", collected_on=TODAY, responses=bad)
    with pytest.raises(ValidationError, match=r"response\.source"):
        desk.enter_answers(world.coordinator, fid, source="web", collected_on=TODAY, responses=_answers())
    assert (store.count(PromResponseRow), store.count(AuditRow)) == before
    with store.transaction() as s:
        assert s.get(FollowupRow, fid).status == "open"  # type: ignore[union-attr]


def test_partial_paper_entry_keeps_the_visit_open(store: Store, desk: FollowupDesk, world: World) -> None:
    fid = world.f["due"]
    desk.enter_answers(world.coordinator, fid, source="paper", collected_on=TODAY, responses={"nrs_back": {"pain": 2}})
    with store.transaction() as s:
        assert s.get(FollowupRow, fid).status == "open"  # type: ignore[union-attr]
        assert s.execute(select(PromResponseRow.source)).scalars().all() == ["paper"]
    visit, codes = desk.visit(world.coordinator, fid)
    assert visit.status == "due" and codes == VISIT


def test_contact_preferences_are_recorded_checked_and_audited(store: Store, desk: FollowupDesk, outreach: Outreach,
                                                              world: World) -> None:
    with store.transaction() as s:
        pid = s.get(EpisodeRow, world.ep1).patient_id  # type: ignore[union-attr]
    with pytest.raises(ValidationError, match=r"contact\.channel"):  # no phone on file
        outreach.set_contact(world.coordinator, pid, {"channel": "sms", "contact_consent": True})
    prefs = outreach.set_contact(world.coordinator, pid, {"channel": "letter", "contact_consent": True,
                                                      "postal_address": "1 Example Road\nExampletown"})
    assert (prefs.channel, prefs.contact_consent, prefs.opted_out_at) == ("letter", True, None)
    prefs = outreach.set_contact(world.coordinator, pid, {"channel": "letter", "contact_consent": True,
                                                      "postal_address": "1 Example Road", "opted_out": True})
    assert prefs.opted_out_at == NOW
    assert desk.worklist(world.coordinator, status="stopped").total == 4  # three of Ann's visits and Cat's
    with store.transaction() as s:
        detail = s.execute(select(AuditRow.detail).where(AuditRow.entity == "contact_preferences")
                           .order_by(AuditRow.id.desc())).scalars().first()
    assert detail is not None and "Example Road" not in str(detail)
    with pytest.raises(NotFoundError):
        outreach.contact(Actor("b", "clinician", world.b), pid)


def test_decision_aid_is_released_only_after_a_screening(store: Store, outreach: Outreach, world: World) -> None:
    with pytest.raises(ValidationError, match="screening"):
        outreach.release_decision_aid(world.clinician, world.ep1)
    with pytest.raises(PermissionDeniedError):
        outreach.release_decision_aid(world.coordinator, world.ep1)
    with store.transaction() as s:
        s.add(ScreeningAssessmentRow(episode_id=world.ep1, answers={}, assessed_on=TODAY, assessed_by="a.clin"))
    assert outreach.release_decision_aid(world.clinician, world.ep1) == NOW
    with store.transaction() as s:
        assert s.get(EpisodeRow, world.ep1).decision_aid_released_at == NOW  # type: ignore[union-attr]


def test_completeness_per_timepoint_and_month(store: Store, engine: Engine, world: World) -> None:
    """Eligible: windows closed before the day; responded: at least one questionnaire there.
    Site A's 6-week visit (closed 2026-04-24, unanswered) and 2-week visit (closed 2026-03-21,
    answered by phone) give 0/1 and 1/1; the ended episode's visit leaves the denominator."""
    actor = Actor("x", "coordinator", world.a)
    index = TODAY - dt.timedelta(days=100)
    store.submit_response(actor, world.ep1, {"instrument": "nrs_back", "timepoint": "2w",
                                             "collected_on": (index + dt.timedelta(days=14)).isoformat(),
                                             "answers": {"pain": 3}}, source="phone")
    ended = _patient(store, world.a, "Eve Ended", index_ago=100)
    _followup(store, ended, "6w", status="stopped", stop_reason="episode_ended")
    with engine.connect() as conn:
        got = completeness(conn, as_of=TODAY, site_id=world.a)
        assert got == [
            {"timepoint": "2w", "eligible": 1, "responded": 1, "completeness": 1.0,
             "by_month": [{"month": "2026-03", "eligible": 1, "responded": 1, "completeness": 1.0}]},
            {"timepoint": "6w", "eligible": 1, "responded": 0, "completeness": 0.0,
             "by_month": [{"month": "2026-04", "eligible": 1, "responded": 0, "completeness": 0.0}]}]
        assert completeness(conn, as_of=TODAY, site_id=world.b) == []
        counts = status_counts(conn, today=TODAY)
        assert counts["3m"]["due"] == 2  # site A's and site B's
        assert int(conn.execute(select(func.count()).select_from(FollowupRow)).scalar_one()) == 8


def test_status_reports_visits_and_scheduled_completeness(engine: Engine, world: World,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """`spinetrack status --json` keeps its keys and adds the visits per worklist status and the
    scheduled visits' completeness (the same figures as the worklist's functions)."""
    from spinetrack.store.status import compute_status

    s = compute_status(engine, as_of=TODAY)
    assert "followup_completeness" in s and s["as_of"] == TODAY.isoformat()
    assert s["followup_visits"]["3m"] == {"due": 2, "overdue": 1, "missed": 0, "completed": 0, "upcoming": 0,
                                          "stopped": 1}
    assert [(r["timepoint"], r["eligible"], r["responded"]) for r in s["followup_scheduled_completeness"]] == [
        ("2w", 1, 1), ("6w", 1, 0)]  # the 2-week visit counts as responded: it is marked completed

    from spinetrack.cli.render import print_status

    print_status(s)
    text = capsys.readouterr().out
    assert "scheduled visits today, by worklist status" in text and "completeness of scheduled visits" in text
    assert "2026-04 0/1" in text  # the 6-week visit, closed in April, unanswered


def test_a_late_paper_form_answered_inside_the_window_completes_a_missed_visit(store: Store, desk: FollowupDesk,
                                                                               world: World) -> None:
    """A paper form filled in on the last day of the 6-week window (day 63) and returned after it
    closed is accepted; one dated the day after the window is not."""
    fid = world.f["missed"]
    index = TODAY - dt.timedelta(days=100)
    with pytest.raises(ValidationError, match=r"response\.collected_on"):
        desk.enter_answers(world.coordinator, fid, source="paper", collected_on=index + dt.timedelta(days=64),
                           responses=_answers())
    desk.enter_answers(world.coordinator, fid, source="paper", collected_on=index + dt.timedelta(days=63),
                       responses=_answers())
    assert next(v.status for v in desk.worklist(world.coordinator, timepoint="6w").items) == "completed"
