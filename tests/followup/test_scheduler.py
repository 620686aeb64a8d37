"""The scheduler (spinetrack.followup.run) on SQLite and PostgreSQL, with a fake clock: windows
from the index date (the ICHOM timepoints, Clement et al., Acta Orthop 2015;86(5):523-533, with
spinetrack's windows in domain.pathway.TIMEPOINTS), the invitation when a window opens, reminders
at the default offsets 0/+7/+14 days, and every way a visit stops."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, update

from spinetrack import followup
from spinetrack.domain.pathway import DEFAULT_SCHEDULE, TIMEPOINTS
from spinetrack.followup.channels import DeliveryError
from spinetrack.followup.links import hash_link_token
from spinetrack.followup.schedule import default_schedule
from spinetrack.followup.scheduler import choose_channel
from spinetrack.store.audit import verify_chain
from spinetrack.store.repositories import Store
from spinetrack.store.tables import (
    AuditRow,
    EpisodeRow,
    FollowupRow,
    InvitationRow,
    OutboxRow,
    PatientIdentityRow,
    PatientLinkRow,
)
from tests.followup.cohort import RecordingChannel, add_episodes, add_site, answer, rows, scalar

NOW = dt.datetime(2026, 6, 1, 9, 0)
TODAY = NOW.date()
BASE = "https://clinic.example.org"
THREE_MONTHS = next(tp for tp in TIMEPOINTS if tp.code == "3m")
VISIT = default_schedule()[1].instruments  # the default visit's questionnaires (the 3-month one)


@pytest.fixture
def store(engine: Engine) -> Store:
    return Store(engine)


def _run(store: Store, now: dt.datetime, channel: Any = None, **kw: Any) -> followup.RunReport:
    channels = {"email": channel} if channel is not None else None
    return followup.run(store, now=now, channels=channels, link_base=BASE, **kw)


def _followup(engine: Engine, episode_id: int, timepoint: str) -> Any:
    return rows(engine, select(FollowupRow).where(FollowupRow.episode_id == episode_id,
                                                  FollowupRow.timepoint == timepoint))[0]


def _outbox(engine: Engine, episode_id: int) -> list[Any]:
    return rows(engine, select(OutboxRow).where(OutboxRow.episode_id == episode_id).order_by(OutboxRow.sequence))


def test_every_timepoint_gets_its_window_from_the_index_date(engine: Engine, store: Store) -> None:
    site = add_site(engine)
    index = TODAY + dt.timedelta(days=20)  # surgery in 20 days: baseline still open
    (eid,) = add_episodes(engine, site, 1, index_date=index, enrolled_on=TODAY - dt.timedelta(days=5))
    (no_index,) = add_episodes(engine, site, 1, index_date=None, start=1)
    report = _run(store, NOW)
    assert report.followups_created == len(DEFAULT_SCHEDULE)
    got = {r.timepoint: r for r in rows(engine, select(FollowupRow).where(FollowupRow.episode_id == eid))}
    assert set(got) == set(DEFAULT_SCHEDULE)
    for tp in TIMEPOINTS:
        if tp.code in DEFAULT_SCHEDULE and not tp.is_baseline:
            r = got[tp.code]
            assert r.due_on == index + dt.timedelta(days=tp.target_days)
            assert (r.opens_on, r.closes_on) == (index + dt.timedelta(days=tp.window_from_days),
                                                 index + dt.timedelta(days=tp.window_to_days))
            assert r.status == "pending"
    base = got["baseline"]  # opens at enrolment (later than index - 180 days), closes on the index date
    assert (base.opens_on, base.closes_on, base.status) == (TODAY - dt.timedelta(days=5), index, "open")
    assert scalar(engine, select(func.count()).select_from(FollowupRow).where(FollowupRow.episode_id == no_index)) == 0
    assert _run(store, NOW).followups_created == 0  # idempotent


def test_no_baseline_once_the_index_date_has_passed(engine: Engine, store: Store) -> None:
    site = add_site(engine)
    (eid,) = add_episodes(engine, site, 1, index_date=TODAY - dt.timedelta(days=1))
    _run(store, NOW)
    codes = {r.timepoint for r in rows(engine, select(FollowupRow).where(FollowupRow.episode_id == eid))}
    assert codes == set(DEFAULT_SCHEDULE) - {"baseline"}


def test_window_opens_invitation_and_first_message(engine: Engine, store: Store) -> None:
    site = add_site(engine)
    (eid,) = add_episodes(engine, site, 1, index_date=TODAY - dt.timedelta(days=THREE_MONTHS.window_from_days))
    channel = RecordingChannel()
    report = _run(store, NOW, channel)
    assert (report.invitations_created, report.invitations_queued, report.messages_sent) == (1, 1, 1)
    f = _followup(engine, eid, "3m")
    assert f.status == "open" and f.opens_on == TODAY
    inv = rows(engine, select(InvitationRow).where(InvitationRow.id == f.invitation_id))[0]
    assert (inv.timepoint, tuple(inv.instruments)) == ("3m", VISIT)
    assert inv.expires_at == dt.datetime.combine(f.closes_on + dt.timedelta(days=1), dt.time.min)
    (msg,) = channel.sent
    assert msg.to == "p0@example.org" and msg.channel == "email"
    token = msg.text.split(f"{BASE}/p/h/")[1].split()[0].split("/")[0]
    link = rows(engine, select(PatientLinkRow).where(PatientLinkRow.token_hash == hash_link_token(token)))[0]
    (box,) = _outbox(engine, eid)
    assert (link.episode_id, link.outbox_id, link.purpose) == (eid, box.id, "message")
    assert (box.kind, box.sequence, box.status, box.attempts) == ("invitation", 0, "sent", 1)
    assert f"{BASE}/p/h/{token}/stop" == msg.opt_out_link
    # the other timepoints stay pending; a second run the same day sends nothing more
    assert _followup(engine, eid, "6m").status == "pending"
    again = _run(store, NOW + dt.timedelta(hours=1), channel)
    assert (again.invitations_created, again.messages_sent, len(channel.sent)) == (0, 0, 1)


def test_reminders_at_0_7_14_days_then_none(engine: Engine, store: Store) -> None:
    site = add_site(engine)
    (eid,) = add_episodes(engine, site, 1, index_date=TODAY - dt.timedelta(days=THREE_MONTHS.window_from_days))
    channel = RecordingChannel()
    sent_on = []
    for day in range(0, 30):
        before = len(channel.sent)
        _run(store, NOW + dt.timedelta(days=day), channel)
        if len(channel.sent) > before:
            sent_on.append(day)
    assert sent_on == [0, 7, 14]
    assert [(b.kind, b.sequence) for b in _outbox(engine, eid)] == [("invitation", 0), ("reminder", 1),
                                                                    ("reminder", 2)]
    f = _followup(engine, eid, "3m")
    assert (f.reminders_sent, f.next_reminder_on, f.status) == (2, None, "open")


def test_a_run_that_was_down_keeps_the_gap_between_messages(engine: Engine, store: Store) -> None:
    site = add_site(engine)
    (eid,) = add_episodes(engine, site, 1, index_date=TODAY - dt.timedelta(days=THREE_MONTHS.window_from_days + 9))
    channel = RecordingChannel()
    _run(store, NOW, channel)  # first run 9 days after the window opened: the invitation now
    assert len(channel.sent) == 1
    _run(store, NOW + dt.timedelta(days=1), channel)  # reminder 1 was due on day 7: not the day after
    assert len(channel.sent) == 1
    assert _followup(engine, eid, "3m").next_reminder_on == TODAY + dt.timedelta(days=7)


def test_completed_by_phone_stops_the_reminder(engine: Engine, store: Store) -> None:
    site = add_site(engine)
    (eid,) = add_episodes(engine, site, 1, index_date=TODAY - dt.timedelta(days=THREE_MONTHS.window_from_days))
    channel = RecordingChannel()
    _run(store, NOW, channel)
    answer(engine, eid, "3m", VISIT, TODAY + dt.timedelta(days=2))
    report = _run(store, NOW + dt.timedelta(days=7), channel)
    assert report.completed == 1 and report.reminders_queued == 0
    assert len(channel.sent) == 1
    f = _followup(engine, eid, "3m")
    assert f.status == "completed"
    assert scalar(engine, select(InvitationRow.completed_at).where(InvitationRow.id == f.invitation_id)) is not None


def test_partly_answered_is_not_complete(engine: Engine, store: Store) -> None:
    site = add_site(engine)
    (eid,) = add_episodes(engine, site, 1, index_date=TODAY - dt.timedelta(days=THREE_MONTHS.window_from_days))
    channel = RecordingChannel()
    _run(store, NOW, channel)
    answer(engine, eid, "3m", VISIT[:1], TODAY)
    _run(store, NOW + dt.timedelta(days=7), channel)
    assert _followup(engine, eid, "3m").status == "open" and len(channel.sent) == 2


def test_queued_message_of_a_completed_visit_is_cancelled_not_sent(engine: Engine, store: Store) -> None:
    site = add_site(engine)
    (eid,) = add_episodes(engine, site, 1, index_date=TODAY - dt.timedelta(days=THREE_MONTHS.window_from_days))
    _run(store, NOW)  # no channel: the invitation's message is held
    assert [b.status for b in _outbox(engine, eid)] == ["held"]
    answer(engine, eid, "3m", VISIT, TODAY, source="paper")
    channel = RecordingChannel()
    report = _run(store, NOW + dt.timedelta(hours=2), channel)
    assert (report.messages_cancelled, report.messages_sent, channel.sent) == (1, 0, [])
    assert [b.status for b in _outbox(engine, eid)] == ["cancelled"]


def test_completed_while_queued_is_never_claimed(engine: Engine, store: Store) -> None:
    """A visit completed between the scheduling and the sending: the claim requires an open visit."""
    site = add_site(engine)
    (eid,) = add_episodes(engine, site, 1, index_date=TODAY - dt.timedelta(days=THREE_MONTHS.window_from_days))
    _run(store, NOW, dry_run=False)
    with engine.begin() as c:
        c.execute(update(FollowupRow).where(FollowupRow.episode_id == eid, FollowupRow.timepoint == "3m")
                  .values(status="completed"))
        c.execute(update(OutboxRow).values(status="queued"))
    sender = followup.outbox.Sender(store, {"email": (channel := RecordingChannel())}, link_base=BASE)
    assert sender.send_due(NOW).sent == 0 and channel.sent == []


def test_missed_when_the_window_closes(engine: Engine, store: Store) -> None:
    site = add_site(engine)
    (eid,) = add_episodes(engine, site, 1, index_date=TODAY - dt.timedelta(days=THREE_MONTHS.window_to_days))
    channel = RecordingChannel()
    _run(store, NOW, channel)  # the last day of the window: open, invited
    assert _followup(engine, eid, "3m").status == "open"
    report = _run(store, NOW + dt.timedelta(days=1), channel)
    f = _followup(engine, eid, "3m")
    assert report.missed == 1 and f.status == "missed"
    assert scalar(engine, select(func.count()).select_from(OutboxRow).where(OutboxRow.followup_id == f.id)) == 1


def test_an_old_cohort_is_missed_not_invited(engine: Engine, store: Store) -> None:
    site = add_site(engine)
    (eid,) = add_episodes(engine, site, 1, index_date=dt.date(2019, 3, 1))
    answer(engine, eid, "12m", default_schedule()[3].instruments, dt.date(2020, 3, 1), source="import")
    channel = RecordingChannel()
    report = _run(store, NOW, channel)
    status = {r.timepoint: r.status for r in rows(engine, select(FollowupRow).where(FollowupRow.episode_id == eid))}
    assert status == {"3m": "missed", "6m": "missed", "12m": "completed", "24m": "missed"}
    assert (report.invitations_created, channel.sent) == (0, [])


@pytest.mark.parametrize(("change", "reason"), [
    ("opt_out", "opted_out"), ("end", "episode_ended"), ("unreachable", "unreachable")])
def test_stops(engine: Engine, store: Store, change: str, reason: str) -> None:
    site = add_site(engine)
    (eid,) = add_episodes(engine, site, 1, index_date=TODAY - dt.timedelta(days=THREE_MONTHS.window_from_days))
    channel = RecordingChannel()
    _run(store, NOW, channel)
    with engine.begin() as c:
        if change == "opt_out":
            c.execute(update(PatientIdentityRow).values(opted_out_at=NOW + dt.timedelta(days=1)))
        elif change == "end":
            c.execute(update(EpisodeRow).where(EpisodeRow.id == eid).values(ended_on=TODAY + dt.timedelta(days=2),
                                                                            end_reason="withdrew"))
        else:
            c.execute(update(FollowupRow).where(FollowupRow.episode_id == eid, FollowupRow.timepoint == "3m")
                      .values(unreachable=True))
    report = _run(store, NOW + dt.timedelta(days=7), channel)
    assert report.stopped_by_reason.get(reason, 0) >= 1
    f = _followup(engine, eid, "3m")
    assert (f.status, f.stop_reason) == ("stopped", reason)
    assert len(channel.sent) == 1
    if reason != "unreachable":  # the episode's later visits stop as well
        assert _followup(engine, eid, "6m").status == "stopped"


@pytest.mark.parametrize(("consent", "pref"), [(False, None), (None, None), (True, "none")])
def test_no_consent_or_channel_none_opens_the_visit_without_a_message(engine: Engine, store: Store, consent: Any,
                                                                      pref: Any) -> None:
    site = add_site(engine)
    (eid,) = add_episodes(engine, site, 1, index_date=TODAY - dt.timedelta(days=THREE_MONTHS.window_from_days),
                          consent=consent, channel=pref)
    channel = RecordingChannel()
    report = _run(store, NOW, channel)
    assert report.invitations_created == 1 and channel.sent == [] and _outbox(engine, eid) == []
    assert _followup(engine, eid, "3m").status == "open"


def test_no_channel_configured_holds_then_sends(engine: Engine, store: Store) -> None:
    site = add_site(engine)
    add_episodes(engine, site, 3, index_date=TODAY - dt.timedelta(days=THREE_MONTHS.window_from_days))
    report = _run(store, NOW)
    assert (report.invitations_queued, report.messages_held, report.messages_sent) == (3, 3, 0)
    channel = RecordingChannel()
    report = _run(store, NOW + dt.timedelta(hours=1), channel)
    assert (report.messages_held, report.messages_sent, len(channel.sent)) == (0, 3, 3)


def test_letters_wait_for_the_print_batch(engine: Engine, store: Store) -> None:
    site = add_site(engine)
    (eid,) = add_episodes(engine, site, 1, index_date=TODAY - dt.timedelta(days=THREE_MONTHS.window_from_days),
                          email=False)
    channel = RecordingChannel()
    _run(store, NOW, channel)
    assert [(b.channel, b.status) for b in _outbox(engine, eid)] == [("letter", "queued")]
    assert channel.sent == []
    # printed (the print batch marks it sent): no reminder letters at +7 or +14 days
    with engine.begin() as c:
        c.execute(update(OutboxRow).where(OutboxRow.episode_id == eid).values(status="sent", sent_at=NOW))
    for day in (7, 14, 21):
        _run(store, NOW + dt.timedelta(days=day), channel)
    assert [(b.kind, b.channel) for b in _outbox(engine, eid)] == [("invitation", "letter")]
    assert _followup(engine, eid, "3m").next_reminder_on is None


def test_failed_delivery_is_retried_then_stops(engine: Engine, store: Store) -> None:
    site = add_site(engine)
    (eid,) = add_episodes(engine, site, 1, index_date=TODAY - dt.timedelta(days=THREE_MONTHS.window_from_days))
    channel = RecordingChannel(fail=DeliveryError("server busy (421) for p0@example.org", permanent=False))
    report = _run(store, NOW, channel)
    (box,) = _outbox(engine, eid)
    assert report.messages_failed == 1 and box.status == "failed" and box.attempts == 1
    assert "example.org" not in (box.last_error or "")  # no contact details kept
    assert _run(store, NOW + dt.timedelta(minutes=5), channel).messages_failed == 0  # not before its retry time
    channel.fail = None
    assert _run(store, NOW + dt.timedelta(minutes=20), channel).messages_sent == 1
    (box,) = _outbox(engine, eid)
    assert (box.status, box.attempts, box.last_error) == ("sent", 2, None)


def test_permanent_failure_is_not_retried(engine: Engine, store: Store) -> None:
    site = add_site(engine)
    (eid,) = add_episodes(engine, site, 1, index_date=TODAY - dt.timedelta(days=THREE_MONTHS.window_from_days))
    channel = RecordingChannel(fail=DeliveryError("address refused (550)", permanent=True))
    _run(store, NOW, channel)
    channel.fail = None
    assert _run(store, NOW + dt.timedelta(days=1), channel).messages_sent == 0
    (box,) = _outbox(engine, eid)
    assert box.status == "failed" and box.last_error.startswith("permanent:")


def test_stale_claim_is_sent_again(engine: Engine, store: Store) -> None:
    """Crash recovery: a message left ``sending`` by a process that died is claimed again once
    the lease has passed (at-least-once)."""
    site = add_site(engine)
    (eid,) = add_episodes(engine, site, 1, index_date=TODAY - dt.timedelta(days=THREE_MONTHS.window_from_days))
    _run(store, NOW)  # held
    with engine.begin() as c:
        c.execute(update(OutboxRow).values(status="sending", claimed_by="elsewhere:1:dead", claimed_at=NOW,
                                           attempts=1))
    channel = RecordingChannel()
    assert _run(store, NOW + dt.timedelta(minutes=5), channel).messages_sent == 0  # within the lease: left alone
    report = _run(store, NOW + dt.timedelta(minutes=11), channel)
    assert (report.messages_sent, report.messages_retried, len(channel.sent)) == (1, 1, 1)
    assert [(b.status, b.attempts) for b in _outbox(engine, eid)] == [("sent", 2)]


def test_claim_of_a_dead_process_on_this_host_is_taken_at_once(engine: Engine, store: Store) -> None:
    import subprocess
    import sys

    from spinetrack.followup.outbox import _this_host

    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    dead_pid = int(proc.stdout)
    site = add_site(engine)
    add_episodes(engine, site, 1, index_date=TODAY - dt.timedelta(days=THREE_MONTHS.window_from_days))
    _run(store, NOW)
    with engine.begin() as c:
        c.execute(update(OutboxRow).values(status="sending", claimed_by=f"{_this_host()}:{dead_pid}:abcd",
                                           claimed_at=NOW, attempts=1))
    channel = RecordingChannel()
    assert _run(store, NOW + dt.timedelta(seconds=30), channel).messages_sent == 1


def test_two_runs_at_once_never_duplicate(engine: Engine, store: Store) -> None:
    site = add_site(engine)
    add_episodes(engine, site, 60, index_date=TODAY - dt.timedelta(days=THREE_MONTHS.window_from_days))
    add_episodes(engine, site, 40, index_date=TODAY + dt.timedelta(days=10), start=60)
    channel = RecordingChannel()
    reports: list[followup.RunReport] = []
    errors: list[BaseException] = []

    def one() -> None:
        try:
            reports.append(followup.run(Store(engine), now=NOW, channels={"email": channel}, link_base=BASE))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sum(r.followups_created for r in reports) == 60 * 4 + 40 * 5
    assert sum(r.invitations_created for r in reports) == 100  # 60 at 3 months, 40 at baseline
    assert scalar(engine, select(func.count()).select_from(InvitationRow)) == 100
    assert scalar(engine, select(func.count()).select_from(OutboxRow)) == 100
    assert sorted(m.to for m in channel.sent) == sorted(f"p{i}@example.org" for i in range(100))
    assert sum(r.messages_sent for r in reports) == 100


def test_dry_run_stores_and_sends_nothing(engine: Engine, store: Store) -> None:
    site = add_site(engine)
    add_episodes(engine, site, 5, index_date=TODAY - dt.timedelta(days=THREE_MONTHS.window_from_days))
    channel = RecordingChannel()
    audit_rows = scalar(engine, select(func.count()).select_from(AuditRow))
    report = _run(store, NOW, channel, dry_run=True)
    assert (report.followups_created, report.invitations_created, report.messages_due) == (20, 5, 5)
    assert report.messages_sent == 0 and channel.sent == []
    for table in (FollowupRow, InvitationRow, OutboxRow):
        assert scalar(engine, select(func.count()).select_from(table)) == 0
    assert scalar(engine, select(func.count()).select_from(AuditRow)) == audit_rows


def test_each_run_and_each_message_is_audited(engine: Engine, store: Store) -> None:
    site = add_site(engine)
    (eid,) = add_episodes(engine, site, 1, index_date=TODAY - dt.timedelta(days=THREE_MONTHS.window_from_days))
    _run(store, NOW, RecordingChannel())
    audits = rows(engine, select(AuditRow).where(AuditRow.actor == "system:followup").order_by(AuditRow.id))
    assert [(a.action, a.entity) for a in audits] == [("send", "outbox"), ("run", "followup")]
    patient = scalar(engine, select(EpisodeRow.patient_id).where(EpisodeRow.id == eid))
    assert audits[0].patient_id == patient
    assert "example.org" not in str(audits[0].detail)
    assert audits[1].detail["invitations_created"] == 1 and audits[1].detail["messages_sent"] == 1
    with store.transaction() as s:
        assert verify_chain(s).ok


@pytest.mark.parametrize(("identity", "configured", "expected"), [
    ({"contact_consent": True, "email": "a@example.org", "phone": "+44", "channel": None}, {"email", "sms"},
     ("email", False)),
    ({"contact_consent": True, "email": "a@example.org", "phone": "+44", "channel": "sms"}, {"email", "sms"},
     ("sms", False)),
    ({"contact_consent": True, "email": "a@example.org", "phone": "+44", "channel": "sms"}, {"email"},
     ("email", False)),
    ({"contact_consent": True, "email": None, "phone": "+44", "channel": None}, set(), ("sms", True)),
    ({"contact_consent": True, "email": None, "phone": None, "channel": None}, {"email"}, ("letter", False)),
    ({"contact_consent": True, "email": "a@example.org", "channel": "letter"}, {"email"}, ("letter", False)),
    ({"contact_consent": True, "email": "a@example.org", "channel": "none"}, {"email"}, (None, False)),
    ({"contact_consent": False, "email": "a@example.org"}, {"email"}, (None, False)),
    ({"contact_consent": True, "email": "a@example.org", "opted_out_at": NOW}, {"email"}, (None, False)),
    (None, {"email"}, (None, False)),
])
def test_choose_channel(identity: Any, configured: set[str], expected: tuple[Any, bool]) -> None:
    assert choose_channel(identity, configured) == expected


def test_background_loop_runs_and_only_one_process_holds_the_lock(engine: Engine, store: Store) -> None:
    from sqlalchemy import text

    from spinetrack.followup.background import LOCK_KEY, FollowupLoop

    site = add_site(engine)
    add_episodes(engine, site, 2, index_date=TODAY - dt.timedelta(days=THREE_MONTHS.window_from_days))
    channel = RecordingChannel()
    loop = FollowupLoop(store, interval=dt.timedelta(seconds=0.2), channels={"email": channel}, link_base=BASE,
                        now=lambda: NOW, first_after=dt.timedelta(0))
    if engine.dialect.name == "postgresql":  # another process holds the lock: this one skips its turn
        with engine.connect() as other:
            assert other.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY}).scalar()
            assert loop.run_once() is None
            other.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
            other.commit()
    loop.start()
    try:
        deadline = dt.datetime.now() + dt.timedelta(seconds=20)
        while loop.runs < 2 and dt.datetime.now() < deadline:
            threading.Event().wait(0.05)
    finally:
        loop.stop()
    assert loop.runs >= 2
    assert len(channel.sent) == 2  # the second run found nothing more to send


def test_serve_lifespan_starts_and_stops_the_loop(engine: Engine, db_url: str) -> None:
    from fastapi.testclient import TestClient

    from spinetrack.config import Settings
    from spinetrack.web.app import create_app

    app = create_app(Settings(database_url=db_url, followup_auto=True), engine=engine)
    with TestClient(app):
        loop = app.state.followup_loop
        assert loop is not None and loop.interval == dt.timedelta(minutes=5)
        assert loop._thread is not None and loop._thread.is_alive()
    assert not loop._thread.is_alive()
    off = create_app(Settings(database_url=db_url, followup_auto=False), engine=engine)
    with TestClient(off):
        assert off.state.followup_loop is None


def test_cli_followup_run_json_and_dry_run(engine: Engine, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from typer.testing import CliRunner

    from spinetrack.cli import app

    site = add_site(engine)
    add_episodes(engine, site, 2, index_date=TODAY - dt.timedelta(days=THREE_MONTHS.window_from_days))
    monkeypatch.setenv("SPINETRACK_TODAY", TODAY.isoformat())
    for var in ("SPINETRACK_SMTP_URL", "SPINETRACK_SMS_URL"):
        monkeypatch.delenv(var, raising=False)
    dry = CliRunner().invoke(app, ["followup", "run", "--dry-run", "--json", "--database-url", db_url])
    assert dry.exit_code == 0, dry.output
    out = json.loads(dry.stdout)
    assert (out["dry_run"], out["invitations_created"], out["messages_held"], out["channels"]) == (True, 2, 2, [])
    assert scalar(engine, select(func.count()).select_from(InvitationRow)) == 0
    real = CliRunner().invoke(app, ["followup", "run", "--json", "--database-url", db_url])
    out = json.loads(real.stdout)
    assert (out["invitations_created"], out["messages_sent"], out["messages_failed"]) == (2, 0, 0)
    assert scalar(engine, select(func.count()).select_from(InvitationRow)) == 2
    monkeypatch.setenv("SPINETRACK_SMTP_URL", "smtp://127.0.0.1:25")  # no SPINETRACK_MAIL_FROM: refused
    monkeypatch.delenv("SPINETRACK_MAIL_FROM", raising=False)
    bad = CliRunner().invoke(app, ["followup", "run", "--json", "--database-url", db_url])
    assert bad.exit_code == 2 and "SPINETRACK_MAIL_FROM" in bad.stdout
