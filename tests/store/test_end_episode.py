"""Ending an episode's follow-up (``Store.end_episode``) on SQLite and PostgreSQL (the ``engine``
fixture runs each test on both): who may, what is refused (naming the field), what stops in the
same transaction (visits ``stopped`` with ``episode_ended``, unsent messages ``cancelled``), the
scheduler's next run, the audit row, and undoing an end recorded by mistake."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine, select

from spinetrack import clock
from spinetrack.domain.pathway import EpisodeEndReason
from spinetrack.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from spinetrack.followup import run
from spinetrack.store.repositories import SYSTEM, Actor, Store
from spinetrack.store.tables import AuditRow, EpisodeRow, FollowupRow, OutboxRow, PatientIdentityRow

TODAY = clock.today()  # the domain's "not in the future" is the app's today (SPINETRACK_TODAY in tests)
NOW = dt.datetime.combine(TODAY, dt.time(9, 0))
INDEX = TODAY - dt.timedelta(days=100)  # the 3-month window (days 64-136) is open; 6m and later are to come
ENROLLED = INDEX - dt.timedelta(days=30)


class World:
    def __init__(self, store: Store) -> None:
        self.a = store.add_site(SYSTEM, code="A", name="Site A")
        self.b = store.add_site(SYSTEM, code="B", name="Site B")
        self.clinician = Actor("a.clin", "clinician", self.a)
        self.coordinator = Actor("a.coord", "coordinator", self.a)
        self.other_clinician = Actor("b.clin", "clinician", self.b)
        pid = store.add_patient(self.clinician, self.a, {"birth_year": 1970, "sex": "female"},
                                identity={"full_name": "Eve Example", "mrn": None, "email": "eve@example.org",
                                          "phone": None})
        with store.transaction() as s:  # contact consent: the scheduler queues (holds) her messages
            ident = s.get(PatientIdentityRow, pid)
            assert ident is not None
            ident.contact_consent, ident.channel = True, "email"
        self.patient = Actor("patient", "patient", patient_id=pid)
        self.ep = store.add_episode(self.clinician, pid, {
            "diagnosis_code": "M51.16", "levels": "L4-L5", "enrolled_on": ENROLLED.isoformat(),
            "treatment": "conservative", "index_date": INDEX.isoformat()})


@pytest.fixture
def store(engine: Engine) -> Store:
    return Store(engine)


@pytest.fixture
def world(store: Store) -> World:
    return World(store)


def _statuses(store: Store, episode_id: int) -> dict[str, tuple[str, str | None]]:
    with store.transaction() as s:
        return {f.timepoint: (f.status, f.stop_reason)
                for f in s.execute(select(FollowupRow).where(FollowupRow.episode_id == episode_id)).scalars()}


def _messages(store: Store, episode_id: int) -> list[str]:
    with store.transaction() as s:
        return list(s.execute(select(OutboxRow.status).where(OutboxRow.episode_id == episode_id)
                              .order_by(OutboxRow.id)).scalars())


def test_ending_stops_the_visits_and_cancels_their_messages_at_once(store: Store, world: World) -> None:
    first = run(store, now=NOW, channels=None, link_base="http://127.0.0.1:8000")
    assert first.invitations_created == 1 and first.messages_held == 1
    before = _statuses(store, world.ep)
    assert before["3m"] == ("open", None) and before["6m"] == ("pending", None)
    assert _messages(store, world.ep) == ["held"]

    end = store.end_episode(world.coordinator, world.ep, ended_on=TODAY.isoformat(), reason="moved_away")
    assert end is not None and end.ended_on == TODAY and end.reason is EpisodeEndReason.MOVED_AWAY

    after = _statuses(store, world.ep)
    for tp in ("3m", "6m", "12m", "24m"):
        assert after[tp] == ("stopped", "episode_ended"), tp
    assert set(after) == set(before) == {"3m", "6m", "12m", "24m"}  # the default schedule, baseline past
    assert _messages(store, world.ep) == ["cancelled"]  # before any scheduler run
    with store.transaction() as s:
        ep = s.get(EpisodeRow, world.ep)
        assert ep is not None and (ep.ended_on, ep.end_reason) == (TODAY, "moved_away")
        row = s.execute(select(AuditRow).where(AuditRow.entity == "episode", AuditRow.action == "update",
                                               AuditRow.entity_id == str(world.ep))).scalar_one()
        assert row.actor == "a.coord" and row.actor_role == "coordinator"
        assert row.detail == {"ended_on": TODAY.isoformat(), "end_reason": "moved_away", "followups_stopped": 4,
                              "messages_cancelled": 1}

    # the next runs, today and a week on, create, open, queue and send nothing for this episode
    for days in (0, 7):
        report = run(store, now=NOW + dt.timedelta(days=days), channels=None, link_base="http://127.0.0.1:8000")
        assert (report.followups_created, report.invitations_created, report.invitations_queued,
                report.reminders_queued, report.messages_sent) == (0, 0, 0, 0, 0)
    assert _statuses(store, world.ep) == after
    assert _messages(store, world.ep) == ["cancelled"]


def test_refusals_name_the_field_and_the_allowed_values(store: Store, world: World) -> None:
    cases = [
        ({"ended_on": TODAY.isoformat(), "reason": "lost"}, "episode.end_reason", "moved_away"),
        ({"ended_on": TODAY.isoformat(), "reason": None}, "episode.end_reason", "died"),
        ({"ended_on": (TODAY + dt.timedelta(days=1)).isoformat(), "reason": "died"}, "episode.ended_on", "today"),
        ({"ended_on": (ENROLLED - dt.timedelta(days=1)).isoformat(), "reason": "died"}, "episode.ended_on",
         ENROLLED.isoformat()),
        ({"ended_on": "not a date", "reason": "withdrew"}, "episode.ended_on", "a date"),
        ({"ended_on": None, "reason": "withdrew"}, "episode.ended_on", "a date"),
    ]
    for kwargs, field, allowed in cases:
        with pytest.raises(ValidationError) as exc:
            store.end_episode(world.clinician, world.ep, **kwargs)
        assert exc.value.field == field, kwargs
        assert field in str(exc.value) and allowed in str(exc.value), str(exc.value)
    with store.transaction() as s:
        ep = s.get(EpisodeRow, world.ep)
        assert ep is not None and ep.ended_on is None and ep.end_reason is None


def test_only_the_patients_own_clinic_may_end_it(store: Store, world: World) -> None:
    args = {"ended_on": TODAY.isoformat(), "reason": "withdrew"}
    with pytest.raises(NotFoundError):  # another site's episode is not revealed
        store.end_episode(world.other_clinician, world.ep, **args)
    for actor in (Actor("r", "researcher"), Actor("adm", "admin"), world.patient):
        with pytest.raises(PermissionDeniedError):
            store.end_episode(actor, world.ep, **args)
    with pytest.raises(NotFoundError):
        store.end_episode(world.clinician, 999_999, **args)
    with store.transaction() as s:
        assert s.get(EpisodeRow, world.ep).ended_on is None  # type: ignore[union-attr]
        assert s.execute(select(AuditRow).where(AuditRow.action == "update")).first() is None


def test_an_ended_episode_is_not_ended_twice_and_a_mistake_can_be_undone(store: Store, world: World) -> None:
    run(store, now=NOW, channels=None, link_base="http://127.0.0.1:8000")
    store.end_episode(world.clinician, world.ep, ended_on=TODAY.isoformat(), reason="died")
    with pytest.raises(ConflictError) as exc:
        store.end_episode(world.clinician, world.ep, ended_on=TODAY.isoformat(), reason="other")
    assert exc.value.field == "episode.ended_on"

    assert store.end_episode(world.clinician, world.ep, ended_on=None, reason=None, undo=True) is None
    restored = _statuses(store, world.ep)
    assert restored["3m"] == ("open", None) and restored["6m"] == ("pending", None)
    with pytest.raises(ConflictError):
        store.end_episode(world.clinician, world.ep, ended_on=None, reason=None, undo=True)
    # the scheduler carries on: the open visit gets its next message (the cancelled one stays cancelled)
    report = run(store, now=NOW, channels=None, link_base="http://127.0.0.1:8000")
    assert report.invitations_created == 0 and report.invitations_queued + report.reminders_queued == 1
    assert _messages(store, world.ep) == ["cancelled", "held"]
    with store.transaction() as s:
        details = [r.detail for r in s.execute(select(AuditRow).where(
            AuditRow.entity == "episode", AuditRow.action == "update").order_by(AuditRow.id)).scalars()]
    assert details[-1] == {"undo": "end", "was_ended_on": TODAY.isoformat(), "was_reason": "died",
                           "followups_restored": 4}
    # and the episode may be ended again afterwards
    store.end_episode(world.clinician, world.ep, ended_on=TODAY.isoformat(), reason="other")
