"""A site's follow-up schedule (spinetrack.followup.schedule): the default (the ICHOM Low Back
Pain Standard Set's timepoints, Clement et al., Acta Orthop 2015;86(5):523-533, as
domain.pathway.DEFAULT_SCHEDULE), an admin's own schedule validated field by field, and the
scheduler following it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import Engine, select

from spinetrack import followup, instruments
from spinetrack.domain.pathway import DEFAULT_REMINDER_OFFSETS, DEFAULT_SCHEDULE, TIMEPOINTS
from spinetrack.errors import NotFoundError, PermissionDeniedError, ValidationError
from spinetrack.followup.schedule import default_schedule, set_site_schedule, site_schedule
from spinetrack.store.repositories import Actor, Store
from spinetrack.store.tables import AuditRow, FollowupRow, InvitationRow, OutboxRow
from tests.followup.cohort import RecordingChannel, add_episodes, add_site, rows

ADMIN = Actor("admin1", "admin")
NOW = dt.datetime(2026, 6, 1, 9, 0)
TP = {tp.code: tp for tp in TIMEPOINTS}


@pytest.fixture
def store(engine: Engine) -> Store:
    return Store(engine)


def test_default_schedule_is_the_ichom_set_with_global_windows() -> None:
    sched = default_schedule()
    assert tuple(tp.code for tp in sched) == DEFAULT_SCHEDULE == ("baseline", "3m", "6m", "12m", "24m")
    for tp in sched:
        assert (tp.window_from_days, tp.window_to_days) == (TP[tp.code].window_from_days, TP[tp.code].window_to_days)
        assert tp.reminder_offsets == DEFAULT_REMINDER_OFFSETS == (0, 7, 14)
        assert tp.instruments == instruments.listed(instruments.Listing.VISIT_DEFAULT)


def test_a_site_without_rows_follows_the_default(engine: Engine, store: Store) -> None:
    site = add_site(engine)
    assert site_schedule(store, site) == default_schedule()


def test_set_and_read_back_a_site_schedule(engine: Engine, store: Store) -> None:
    site = add_site(engine)
    got = set_site_schedule(store, ADMIN, site, [
        {"timepoint": "6w", "window_from_days": 35, "window_to_days": 56, "reminder_offsets": [0, 10],
         "instruments": ["odi"]},
        {"timepoint": "6m"},
        {"timepoint": "5y", "reminder_offsets": [30, 0]},
        {"timepoint": "12m", "enabled": False},
    ], now=NOW)
    assert [tp.code for tp in got] == ["6w", "6m", "5y"]
    assert (got[0].window_from_days, got[0].window_to_days, got[0].reminder_offsets, got[0].instruments) == (
        35, 56, (0, 10), ("odi",))
    assert got[2].reminder_offsets == (0, 30)  # sorted
    assert site_schedule(store, site) == got
    audit = rows(engine, select(AuditRow).where(AuditRow.entity == "site_schedule"))
    assert len(audit) == 1 and audit[0].actor == "admin1" and len(audit[0].detail["schedule"]) == 4
    assert set_site_schedule(store, ADMIN, site, []) == default_schedule()  # back to the default


@pytest.mark.parametrize(("entry", "field"), [
    ({"timepoint": "9m"}, "schedule[0].timepoint"),
    ({"timepoint": "3m", "window_from_days": 40}, "schedule.3m.window_from_days"),  # before the 3m window
    ({"timepoint": "3m", "window_to_days": 150}, "schedule.3m.window_to_days"),      # into the 6m window
    ({"timepoint": "3m", "window_from_days": 100, "window_to_days": 90}, "schedule.3m.window_to_days"),
    ({"timepoint": "3m", "window_from_days": "64"}, "schedule.3m.window_from_days"),
    ({"timepoint": "3m", "reminder_offsets": [-1]}, "schedule.3m.reminder_offsets"),
    ({"timepoint": "3m", "reminder_offsets": [0, 80]}, "schedule.3m.reminder_offsets"),  # past the window's end
    ({"timepoint": "3m", "reminder_offsets": [0, 7, 7]}, "schedule.3m.reminder_offsets"),
    ({"timepoint": "3m", "reminder_offsets": "0,7"}, "schedule.3m.reminder_offsets"),
    ({"timepoint": "3m", "instruments": ["odi", "sf36"]}, "schedule.3m.instruments"),
    ({"timepoint": "3m", "instruments": []}, "schedule.3m.instruments"),
    ({"timepoint": "3m", "enabled": "yes"}, "schedule.3m.enabled"),
    ({"timepoint": "3m", "colour": "red"}, "schedule[0].colour"),
])
def test_refused_entries_name_their_field(engine: Engine, store: Store, entry: dict[str, Any], field: str) -> None:
    site = add_site(engine)
    with pytest.raises(ValidationError) as err:
        set_site_schedule(store, ADMIN, site, [entry])
    assert err.value.field == field
    assert site_schedule(store, site) == default_schedule()  # nothing half-stored


def test_a_timepoint_listed_twice_is_refused(engine: Engine, store: Store) -> None:
    site = add_site(engine)
    with pytest.raises(ValidationError) as err:
        set_site_schedule(store, ADMIN, site, [{"timepoint": "3m"}, {"timepoint": "3m"}])
    assert err.value.field == "schedule.3m"


def test_only_an_admin_sets_a_schedule(engine: Engine, store: Store) -> None:
    site = add_site(engine)
    with pytest.raises(PermissionDeniedError):
        set_site_schedule(store, Actor("c1", "clinician", site), site, [])
    with pytest.raises(NotFoundError):
        set_site_schedule(store, ADMIN, site + 99, [])


def test_the_scheduler_follows_each_sites_schedule(engine: Engine, store: Store) -> None:
    own, default = add_site(engine, "OWN", "Own Clinic"), add_site(engine, "DEF", "Default Clinic")
    set_site_schedule(store, ADMIN, own, [
        {"timepoint": "6w", "window_from_days": 35, "window_to_days": 56, "reminder_offsets": [0, 10],
         "instruments": ["odi"]},
        {"timepoint": "12m"}])
    today = NOW.date()
    (e_own,) = add_episodes(engine, own, 1, index_date=today - dt.timedelta(days=35))
    (e_def,) = add_episodes(engine, default, 1, index_date=today - dt.timedelta(days=35), start=1)
    channel = RecordingChannel()
    followup.run(store, now=NOW, channels={"email": channel}, link_base="http://x")
    got = {(r.episode_id, r.timepoint): r for r in rows(engine, select(FollowupRow))}
    assert {tp for e, tp in got if e == e_own} == {"6w", "12m"}
    assert {tp for e, tp in got if e == e_def} == set(DEFAULT_SCHEDULE) - {"baseline"}
    six_weeks = got[(e_own, "6w")]
    assert (six_weeks.opens_on, six_weeks.closes_on, six_weeks.status) == (
        today, today + dt.timedelta(days=21), "open")
    inv = rows(engine, select(InvitationRow).where(InvitationRow.id == six_weeks.invitation_id))[0]
    assert inv.instruments == ["odi"]
    assert [m.to for m in channel.sent] == ["p0@example.org"]
    for day in range(1, 22):
        followup.run(store, now=NOW + dt.timedelta(days=day), channels={"email": channel}, link_base="http://x")
    sent = rows(engine, select(OutboxRow.sequence, OutboxRow.created_at).where(OutboxRow.followup_id == six_weeks.id)
                .order_by(OutboxRow.sequence))
    assert [(s, c.date() - today) for s, c in sent] == [(0, dt.timedelta(0)), (1, dt.timedelta(days=10))]
