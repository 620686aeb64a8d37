"""The patient home and the link rules (store/home.py, store/visits.py), on SQLite and PostgreSQL.

The windows asserted are the installation's (``domain.pathway.TIMEPOINTS``: 3 months is day 64
to day 136 from the index date, 6 weeks day 29 to 63, baseline up to the index date); the
lookahead (28 days) and the home's access period (90 days after the last window closes) are
spinetrack's own rules, documented in store/visits.py and store/home.py.
"""

from __future__ import annotations

import datetime as dt
import secrets

import pytest
from sqlalchemy import Engine, select

from spinetrack.errors import AuthenticationError, NotFoundError, RateLimitError, ValidationError
from spinetrack.store.access import Access
from spinetrack.store.home import PATIENT_ACCESS_DAYS, hash_link_token
from spinetrack.store.repositories import SYSTEM, Actor, Store
from spinetrack.store.tables import (
    AuditRow,
    EpisodeRow,
    FollowupRow,
    InvitationRow,
    OutboxRow,
    PatientHomeSessionRow,
    PatientIdentityRow,
    PatientLinkRow,
    ScreeningAssessmentRow,
    SiteRow,
    SiteScheduleRow,
)

SURGERY = dt.date(2026, 3, 2)
T0 = dt.datetime(2026, 4, 13, 9, 0)  # day 42 after the operation: the 6-week window is open


@pytest.fixture
def setup(engine: Engine) -> tuple[Store, Access, int, int, int]:
    """A site with a contact, a patient with an e-mail address operated on SURGERY."""
    store = Store(engine)
    access = Access(store)
    site = store.add_site(SYSTEM, code="A", name="North Spine Clinic")
    clin = Actor("dr.a", "clinician", site)
    pid = store.add_patient(clin, site, {"birth_year": 1970, "sex": "male"},
                            identity={"full_name": "Jo Doe", "mrn": "M1", "email": "jo@example.org"})
    eid = store.add_episode(clin, pid, {"diagnosis_code": "M51.16", "levels": "L4-L5", "enrolled_on": "2026-02-01",
                                        "treatment": "mis", "treatment_family": "discectomy"})
    store.add_procedure(clin, eid, {"procedure_code": "discectomy_tubular", "performed_on": SURGERY.isoformat(),
                                    "levels": "L4-L5", "ebl_ml": 30, "incision_mm": 20, "op_time_min": 75,
                                    "los_days": 1, "transfusion": False})
    with store.transaction() as s:
        row = s.get(SiteRow, site)
        assert row is not None
        row.contact_phone, row.contact_email = "01632 960001", "followup@north.example.org"
    return store, access, site, pid, eid


def _link(store: Store, eid: int, created_at: dt.datetime, purpose: str = "message") -> str:
    token = secrets.token_urlsafe(32)
    with store.transaction() as s:
        s.add(PatientLinkRow(token_hash=hash_link_token(token), episode_id=eid, purpose=purpose,
                             created_by="test", created_at=created_at, revoked=False))
    return token


def _followup(store: Store, eid: int, tp: str, opens: int, closes: int, status: str,
              invitation_id: int | None = None) -> None:
    with store.transaction() as s:
        s.add(FollowupRow(episode_id=eid, timepoint=tp, due_on=SURGERY + dt.timedelta(days=(opens + closes) // 2),
                          opens_on=SURGERY + dt.timedelta(days=opens), closes_on=SURGERY + dt.timedelta(days=closes),
                          status=status, invitation_id=invitation_id, reminders_sent=0, unreachable=False,
                          created_at=T0, updated_at=T0))


# --------------------------------------------------------------------------------- link rules

def test_link_rules_refuse_closed_and_far_windows_naming_the_dates(engine: Engine, setup) -> None:  # type: ignore[no-untyped-def]
    store, access, site, _, eid = setup
    clin = Actor("dr.a", "clinician", site)
    with pytest.raises(ValidationError) as err:  # baseline: only up to the index date
        access.create_invitation(clin, eid, timepoint="baseline", instrument_codes=["odi"], now=T0)
    assert err.value.field == "invitation.timepoint" and "closed on 2 March 2026" in str(err.value)
    with pytest.raises(ValidationError) as err:  # 12 months opens on day 274: far ahead
        access.create_invitation(clin, eid, timepoint="12m", instrument_codes=["odi"], now=T0)
    assert "opens on 1 December 2026" in str(err.value) and "28 days" in str(err.value)
    # on day 42 the 3-month window (day 64, 5 May 2026) opens within 28 days: offered as upcoming
    offered = access.invitable_timepoints(clin, eid, today=T0.date())
    assert [(t.code, t.state, t.opens_on, t.closes_on) for t in offered] == [
        ("3m", "upcoming", dt.date(2026, 5, 5), dt.date(2026, 7, 16))]
    assert err.value.allowed == "3m"  # the timepoints that may be invited today
    # 6 weeks is not in the default schedule, but a link for its open window may still be made
    inv_id, _ = access.create_invitation(clin, eid, timepoint="6w", instrument_codes=["odi"], now=T0)
    with store.transaction() as s:
        inv = s.get(InvitationRow, inv_id)
        assert inv is not None
        assert inv.expires_at == dt.datetime(2026, 4, 27, 9, 0)  # 14 days: inside the window (to day 63, 4 May)


def test_a_link_made_before_its_window_waits_and_tells_the_dates(engine: Engine, setup) -> None:  # type: ignore[no-untyped-def]
    store, access, site, _, eid = setup
    clin = Actor("dr.a", "clinician", site)
    inv_id, token = access.create_invitation(clin, eid, timepoint="3m", instrument_codes=["nrs_back"], now=T0)
    with store.transaction() as s:
        inv = s.get(InvitationRow, inv_id)
        assert inv is not None and inv.expires_at == dt.datetime(2026, 5, 19)  # 14 days from the opening day
    with pytest.raises(AuthenticationError, match="opens on 5 May 2026 and closes on 16 July 2026"):
        access.open_invitation(token, now=T0)
    opened = access.open_invitation_link(token, now=T0)
    assert opened.outcome == "waiting" and "5 May 2026" in opened.message and opened.session_token is None
    with store.transaction() as s:
        assert s.get(InvitationRow, inv_id).patient_session_hash is None  # type: ignore[union-attr]
    _session, view = access.open_invitation(token, now=dt.datetime(2026, 5, 5, 8, 0))
    assert view.due == ("nrs_back",)


def test_a_site_schedule_narrows_the_window_of_a_link(engine: Engine, setup) -> None:  # type: ignore[no-untyped-def]
    store, access, site, _, eid = setup
    with store.transaction() as s:
        s.add(SiteScheduleRow(site_id=site, timepoint="6w", enabled=True, window_from_days=35, window_to_days=49,
                              reminder_offsets=[0], instruments=["odi"], updated_by="admin", updated_at=T0))
    clin = Actor("dr.a", "clinician", site)
    assert [t.code for t in access.invitable_timepoints(clin, eid, today=T0.date())] == ["6w"]
    inv_id, _ = access.create_invitation(clin, eid, timepoint="6w", instrument_codes=["odi"], now=T0)
    with store.transaction() as s:
        assert s.get(InvitationRow, inv_id).expires_at == dt.datetime(2026, 4, 21)  # type: ignore[union-attr]
    with pytest.raises(ValidationError, match="closed on 20 April 2026"):
        access.create_invitation(clin, eid, timepoint="6w", instrument_codes=["odi"],
                                 now=dt.datetime(2026, 4, 21, 9, 0))


# --------------------------------------------------------------------------------- the home

def test_opening_a_link_again_never_signs_out_and_spends_nothing(engine: Engine, setup) -> None:  # type: ignore[no-untyped-def]
    store, access, _, pid, eid = setup
    token = _link(store, eid, T0)
    first = access.open_patient_link(token, now=T0)
    assert first.outcome == "home" and first.home is not None and first.home.patient_id == pid
    again = access.open_patient_link(token, current=first.session_token, now=T0)
    assert again.session_token == first.session_token  # the browser's own session kept
    scanner = access.open_patient_link(token, now=T0)  # another device, or a mail scanner
    assert scanner.session_token != first.session_token
    assert access.resolve_home_session(first.session_token, now=T0) is not None  # nobody signed out
    assert access.resolve_home_session(scanner.session_token, now=T0) is not None
    with store.transaction() as s:
        assert len(s.execute(select(PatientHomeSessionRow)).scalars().all()) == 2
        link = s.execute(select(PatientLinkRow)).scalar_one()
        assert not link.revoked and link.last_opened_at == T0
    assert access.open_patient_link(token + "x", now=T0).outcome == "invalid"
    access.end_home_session(first.session_token)
    assert access.resolve_home_session(first.session_token, now=T0) is None
    assert access.resolve_home_session(scanner.session_token, now=T0) is not None


def test_home_access_ends_after_the_last_window_and_a_fresh_link_reopens_it(engine: Engine, setup) -> None:  # type: ignore[no-untyped-def]
    store, access, _, _, eid = setup
    _followup(store, eid, "3m", 64, 136, "pending")
    token = _link(store, eid, T0)
    last_day = SURGERY + dt.timedelta(days=136 + PATIENT_ACCESS_DAYS)
    inside = dt.datetime.combine(last_day, dt.time(12))
    opened = access.open_patient_link(token, now=inside)
    assert opened.outcome == "home" and opened.home is not None and opened.home.access_until == last_day
    after = inside + dt.timedelta(days=1)
    assert access.resolve_home_session(opened.session_token, now=after) is None
    ended = access.open_patient_link(token, now=after)
    assert ended.outcome == "ended" and ended.session_token is None
    fresh = _link(store, eid, after, purpose="new_link")
    assert access.open_patient_link(fresh, now=after).outcome == "home"
    assert access.open_patient_link(token, now=after).outcome == "home"  # the episode's access, not the link's


def test_home_lists_visits_contact_and_decision_aid_and_starts_an_open_visit(engine: Engine, setup) -> None:  # type: ignore[no-untyped-def]
    store, access, site, pid, eid = setup
    clin = Actor("dr.a", "clinician", site)
    inv6w, _ = access.create_invitation(clin, eid, timepoint="6w", instrument_codes=["nrs_back", "nrs_leg"], now=T0)
    _followup(store, eid, "3m", 64, 136, "pending")
    token = _link(store, eid, T0)
    home = access.open_patient_link(token, now=T0).home
    assert home is not None
    content = access.home_content(home, now=T0)
    assert [(v.timepoint, v.state, v.can_start) for v in content.visits] == [("6w", "open", True),
                                                                             ("3m", "upcoming", False)]
    assert (content.site_name, content.contact_phone, content.contact_email) == (
        "North Spine Clinic", "01632 960001", "followup@north.example.org")
    assert content.decision_aid is False
    with store.transaction() as s:  # released, but no screening yet: still not shown
        s.get(EpisodeRow, eid).decision_aid_released_at = T0  # type: ignore[union-attr]
    assert access.home_content(home, now=T0).decision_aid is False
    with store.transaction() as s:
        s.add(ScreeningAssessmentRow(episode_id=eid, assessed_on=T0.date(), assessed_by="dr.a", answers={}))
    assert access.home_content(home, now=T0).decision_aid is True

    session = access.start_home_visit(home, inv6w, now=T0)
    view = access.resolve_patient_session(session, now=T0)
    assert view is not None and view.invitation_id == inv6w and view.due == ("nrs_back", "nrs_leg")
    for code in ("nrs_back", "nrs_leg"):
        access.submit_visit(session, code, {"pain": 3}, collected_on=T0.date(), now=T0)
    done = access.home_content(home, now=T0)
    assert done.visits[0].state == "done" and done.visits[0].answered == ("nrs_back", "nrs_leg")
    with pytest.raises(AuthenticationError):  # complete: not started again
        access.start_home_visit(home, inv6w, now=T0)
    other = store.add_episode(clin, pid, {"diagnosis_code": "M51.16", "levels": "L5-S1", "enrolled_on": "2026-02-01"})
    inv_other, _ = access.create_invitation(clin, other, timepoint="baseline", instrument_codes=["odi"], now=T0)
    with pytest.raises(NotFoundError):  # another episode's visit, even of the same patient
        access.start_home_visit(home, inv_other, now=T0)
    with engine.connect() as c:
        actions = {(a.actor, a.action, a.entity) for a in c.execute(select(AuditRow)).all()}
    assert {(f"patient:home/{eid}", "read", "patient_home"), (f"patient:home/{eid}", "open", "invitation"),
            (f"patient:home/{eid}", "open", "patient_link")} <= actions


def test_a_completed_or_expired_invitation_link_opens_the_home(engine: Engine, setup) -> None:  # type: ignore[no-untyped-def]
    _store, access, site, _, eid = setup
    clin = Actor("dr.a", "clinician", site)
    _, token = access.create_invitation(clin, eid, timepoint="6w", instrument_codes=["nrs_back"], now=T0)
    assert access.open_invitation_link(token, now=T0).outcome == "visit"
    expired = T0 + dt.timedelta(days=15)
    opened = access.open_invitation_link(token, now=expired)
    assert opened.outcome == "home" and opened.home is not None
    assert opened.home.access_until == dt.date(2026, 4, 27) + dt.timedelta(days=PATIENT_ACCESS_DAYS)
    assert access.open_invitation_link(token, now=expired + dt.timedelta(days=PATIENT_ACCESS_DAYS)).outcome == "ended"
    assert access.open_invitation_link("not-a-token", now=T0).outcome == "invalid"


def test_opting_out_stops_the_followups_and_cancels_their_messages(engine: Engine, setup) -> None:  # type: ignore[no-untyped-def]
    store, access, _, pid, eid = setup
    _followup(store, eid, "3m", 64, 136, "open")
    _followup(store, eid, "12m", 274, 547, "pending")
    _followup(store, eid, "6m", 137, 273, "completed")
    with store.transaction() as s:
        fu = s.execute(select(FollowupRow).where(FollowupRow.timepoint == "3m")).scalar_one()
        s.add(OutboxRow(followup_id=fu.id, episode_id=eid, kind="reminder", sequence=1, channel="email",
                        status="queued", attempts=0, created_at=T0, due_at=T0))
    token = _link(store, eid, T0)
    assert access.link_episode(token) == eid
    assert access.opt_out(eid, via="link", now=T0) == 2
    with store.transaction() as s:
        statuses = {f.timepoint: (f.status, f.stop_reason) for f in s.execute(select(FollowupRow)).scalars()}
        assert statuses == {"3m": ("stopped", "opted_out"), "12m": ("stopped", "opted_out"), "6m": ("completed", None)}
        assert s.execute(select(OutboxRow.status)).scalar_one() == "cancelled"
        assert s.get(PatientIdentityRow, pid).opted_out_at == T0  # type: ignore[union-attr]


def test_a_fresh_link_is_queued_once_and_the_answer_never_reveals_an_address(engine: Engine, setup) -> None:  # type: ignore[no-untyped-def]
    store, access, site, _, eid = setup
    token = _link(store, eid, T0)
    assert access.request_new_link(token, client="10.0.0.1", now=T0) is None
    assert access.request_new_link(token, client="10.0.0.1", now=T0 + dt.timedelta(minutes=5)) is None  # within the gap
    assert access.request_new_link("unknown-token-123", client="10.0.0.1", now=T0) is None  # same answer
    with store.transaction() as s:
        rows = s.execute(select(OutboxRow)).scalars().all()
        assert [(r.kind, r.channel, r.status, r.followup_id, r.episode_id) for r in rows] == [
            ("new_link", "email", "queued", None, eid)]
    clin = Actor("dr.a", "clinician", site)
    _, invitation = access.create_invitation(clin, eid, timepoint="6w", instrument_codes=["odi"], now=T0)
    access.request_new_link(invitation, client="10.0.0.1", now=T0 + dt.timedelta(hours=2))  # an old visit link
    with store.transaction() as s:
        assert len(s.execute(select(OutboxRow).where(OutboxRow.kind == "new_link")).scalars().all()) == 2
    # a patient without an e-mail address: nothing queued, same answer
    pid2 = store.add_patient(clin, site, {"birth_year": 1980, "sex": "female"},
                             identity={"full_name": "No Mail", "mrn": "M2"})
    eid2 = store.add_episode(clin, pid2, {"diagnosis_code": "M51.16", "levels": "L4-L5", "enrolled_on": "2026-02-01"})
    token2 = _link(store, eid2, T0)
    assert access.request_new_link(token2, client="10.0.0.2", now=T0) is None
    with store.transaction() as s:
        assert len(s.execute(select(OutboxRow)).scalars().all()) == 2
    with pytest.raises(RateLimitError):  # the sign-in throttle's back-off: 5 free attempts per link and address
        for i in range(10):
            access.request_new_link(token2, client="10.0.0.3", now=T0 + dt.timedelta(hours=2, seconds=i / 10))


def test_opening_an_invitation_link_again_on_the_same_device_keeps_its_session(engine: Engine, setup) -> None:  # type: ignore[no-untyped-def]
    _, access, site, _, eid = setup
    clin = Actor("dr.a", "clinician", site)
    _, token = access.create_invitation(clin, eid, timepoint="6w", instrument_codes=["nrs_back"], now=T0)
    first = access.open_invitation_link(token, now=T0)
    assert first.outcome == "visit" and first.session_token is not None
    again = access.open_invitation_link(token, current_visit=first.session_token, now=T0)
    assert again.session_token == first.session_token
    assert access.resolve_patient_session(first.session_token, now=T0) is not None
    other = access.open_invitation_link(token, current_visit="someone-elses-session", now=T0)
    assert other.session_token != first.session_token  # another device takes the visit over, as before
