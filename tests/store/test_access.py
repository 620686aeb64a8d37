"""Accounts, sessions, invitations, identities and the store's own authorization, on SQLite
and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine, func, select

from spinetrack.errors import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from spinetrack.store.access import SESSION_IDLE, SESSION_MAX, Access
from spinetrack.store.repositories import SYSTEM, Actor, Store
from spinetrack.store.tables import AuditRow, PatientIdentityRow, PatientRow, UserRow, WebSessionRow

PW = "a-long-password-1"
T0 = dt.datetime(2026, 1, 5, 9, 0)


@pytest.fixture
def setup(engine: Engine) -> tuple[Store, Access, int, int]:
    store = Store(engine)
    access = Access(store)
    a = store.add_site(SYSTEM, code="A", name="A")
    b = store.add_site(SYSTEM, code="B", name="B")
    return store, access, a, b


def test_password_is_stored_as_argon2id_and_never_in_clear(engine: Engine, setup) -> None:  # type: ignore[no-untyped-def]
    _, access, a, _ = setup
    access.create_user(SYSTEM, username="dr.a", display_name="Dr A", role="clinician", password=PW, site_id=a)
    with engine.connect() as c:
        h = c.execute(select(UserRow.password_hash)).scalar_one()
    assert h.startswith("$argon2id$") and PW not in h
    with pytest.raises(ValidationError) as err:
        access.create_user(SYSTEM, username="x", display_name="X", role="clinician", password="short", site_id=a)
    assert err.value.field == "user.password"
    with pytest.raises(ValidationError) as err:
        access.create_user(SYSTEM, username="y", display_name="Y", role="surgeon", password=PW, site_id=a)
    assert err.value.field == "user.role" and "clinician" in err.value.allowed
    with pytest.raises(PermissionDeniedError):
        access.create_user(Actor("dr.a", "clinician", a), username="z", display_name="Z", role="admin", password=PW)


def test_sessions_expire_when_idle_or_too_old_and_are_revoked_on_logout(engine: Engine, setup) -> None:  # type: ignore[no-untyped-def]
    _, access, a, _ = setup
    access.create_user(SYSTEM, username="dr.a", display_name="Dr A", role="clinician", password=PW, site_id=a)
    token, user = access.login("dr.a", PW, now=T0)
    with engine.connect() as c:
        stored = c.execute(select(WebSessionRow.token_hash)).scalar_one()
    assert token not in stored and len(stored) == 64  # only the SHA-256 is stored
    assert access.resolve_session(token, now=T0 + SESSION_IDLE + dt.timedelta(minutes=1)) is None  # idle
    token_b, user = access.login("dr.a", PW, now=T0)
    assert access.resolve_session(token_b, now=T0 + SESSION_IDLE - dt.timedelta(minutes=1)) == user
    # activity at 29 min restarts the idle clock: still alive at 29 + 29 min
    assert access.resolve_session(token_b, now=T0 + 2 * SESSION_IDLE - dt.timedelta(minutes=2)) == user
    token2, _ = access.login("dr.a", PW, now=T0)
    t = T0
    while t < T0 + SESSION_MAX - dt.timedelta(minutes=20):  # keep it busy: idle never reached
        t += dt.timedelta(minutes=20)
        assert access.resolve_session(token2, now=t) is not None
    assert access.resolve_session(token2, now=T0 + SESSION_MAX + dt.timedelta(seconds=1)) is None
    token3, _ = access.login("dr.a", PW, now=T0)
    access.logout(token3)
    assert access.resolve_session(token3, now=T0) is None


def test_deactivated_user_cannot_sign_in_and_loses_sessions(engine: Engine, setup) -> None:  # type: ignore[no-untyped-def]
    _, access, a, _ = setup
    uid = access.create_user(SYSTEM, username="dr.a", display_name="Dr A", role="clinician", password=PW, site_id=a)
    admin = Actor("root", "admin")
    token, _ = access.login("dr.a", PW, now=T0)
    access.set_active(admin, uid, False)
    assert access.resolve_session(token, now=T0) is None
    with pytest.raises(AuthenticationError):
        access.login("dr.a", PW)


def _patient(store: Store, site: int, mrn: str) -> tuple[int, int]:
    actor = Actor("setup", "clinician", site)
    pid = store.add_patient(actor, site, {"birth_year": 1970, "sex": "male"},
                            identity={"full_name": "Jo Doe", "mrn": mrn})
    eid = store.add_episode(actor, pid, {"diagnosis_code": "M48.062", "levels": "L4-L5", "enrolled_on": "2025-01-02",
                                         "treatment": "open", "treatment_family": "decompression"})
    return pid, eid


def test_store_authorizes_every_patient_record_by_role_and_site(engine: Engine, setup) -> None:  # type: ignore[no-untyped-def]
    store, _access, a, b = setup
    pid, eid = _patient(store, a, "M1")
    store.get_patient(Actor("dr.a", "clinician", a), pid)
    for other in (Actor("dr.b", "clinician", b), Actor("co.b", "coordinator", b)):
        with pytest.raises(NotFoundError):
            store.get_patient(other, pid)
        with pytest.raises(NotFoundError):
            store.get_episode(other, eid)
        with pytest.raises(NotFoundError):
            store.add_procedure(other, eid, {"procedure_code": "decompression_open", "performed_on": "2025-02-01",
                                             "levels": "L4-L5"})
    for no_access in (Actor("r", "researcher"), Actor("ad", "admin")):
        with pytest.raises(PermissionDeniedError):
            store.get_patient(no_access, pid)
        with pytest.raises(PermissionDeniedError):
            store.list_responses(no_access, eid)
    with pytest.raises(NotFoundError):
        store.get_patient(Actor("patient:x", "patient", a, patient_id=pid + 1), pid)
    assert store.get_patient(Actor("patient:x", "patient", a, patient_id=pid), pid)["id"] == pid
    with pytest.raises(NotFoundError):  # enrolling into another site
        store.add_patient(Actor("dr.b", "clinician", b), a, {"birth_year": 1970, "sex": "male"})


def test_identity_is_stored_apart_and_a_duplicate_hospital_number_stores_nothing(engine: Engine, setup) -> None:  # type: ignore[no-untyped-def]
    store, access, a, b = setup
    _patient(store, a, "M1")
    with engine.connect() as c:
        before = (c.execute(select(func.count()).select_from(PatientRow)).scalar_one(),
                  c.execute(select(func.count()).select_from(AuditRow)).scalar_one())
    with pytest.raises(ConflictError) as err:
        store.add_patient(Actor("dr.a", "clinician", a), a, {"birth_year": 1980, "sex": "female"},
                          identity={"full_name": "Other", "mrn": "M1"})
    assert err.value.field == "identity.mrn"
    with pytest.raises(ValidationError) as err2:
        store.add_patient(Actor("dr.a", "clinician", a), a, {"birth_year": 1980, "sex": "female"},
                          identity={"full_name": " "})
    assert err2.value.field == "identity.full_name"
    with engine.connect() as c:
        after = (c.execute(select(func.count()).select_from(PatientRow)).scalar_one(),
                 c.execute(select(func.count()).select_from(AuditRow)).scalar_one())
        assert c.execute(select(func.count()).select_from(PatientIdentityRow)).scalar_one() == 1
    assert after == before  # nothing half-stored
    # the same hospital number at another site is another patient
    store.add_patient(Actor("dr.b", "clinician", b), b, {"birth_year": 1980, "sex": "female"},
                      identity={"full_name": "Other", "mrn": "M1"})
    listed = access.list_patients(Actor("dr.a", "clinician", a), q="doe")
    assert listed["total"] == 1 and listed["items"][0]["mrn"] == "M1"
    assert access.list_patients(Actor("dr.b", "clinician", b), q="doe")["total"] == 0


def test_invitation_is_single_use_expires_and_opens_only_its_own_visit(engine: Engine, setup) -> None:  # type: ignore[no-untyped-def]
    store, access, a, _ = setup
    pid, eid = _patient(store, a, "M1")
    clin = Actor("dr.a", "clinician", a)
    _, token = access.create_invitation(clin, eid, timepoint="baseline", instrument_codes=["nrs_back", "nrs_leg"],
                                        now=T0)
    with pytest.raises(AuthenticationError, match="expired"):
        access.open_invitation(token, now=T0 + dt.timedelta(days=15))
    with pytest.raises(AuthenticationError, match="not valid"):
        access.open_invitation(token[:-2] + "xx", now=T0)
    session, view = access.open_invitation(token, now=T0)
    assert view.due == ("nrs_back", "nrs_leg") and view.actor.patient_id == pid
    access.save_draft(view, "nrs_back", {"pain": 4})
    assert access.get_draft(view, "nrs_back") == {"pain": 4}
    with pytest.raises(ValidationError) as err:
        access.save_draft(view, "nrs_back", {"pain": 14})
    assert err.value.field == "nrs_back.pain"
    with pytest.raises(ValidationError) as err:
        access.save_draft(view, "odi", {})
    assert err.value.field == "instrument"
    access.submit(view, "nrs_back", {"pain": 4}, collected_on=dt.date(2025, 1, 2), idempotency_key="k1")
    access.submit(view, "nrs_back", {"pain": 4}, collected_on=dt.date(2025, 1, 2), idempotency_key="k1")  # retry
    access.submit(view, "nrs_leg", {"pain": 6}, collected_on=dt.date(2025, 1, 2))
    assert len(store.list_responses(clin, eid)) == 2
    assert access.resolve_patient_session(session, now=T0) is None  # spent
    with pytest.raises(AuthenticationError, match="used"):
        access.open_invitation(token, now=T0)
    with pytest.raises(PermissionDeniedError):
        access.create_invitation(Actor("r", "researcher"), eid, timepoint="3m", instrument_codes=["odi"])
    with pytest.raises(ValidationError) as err:
        access.create_invitation(clin, eid, timepoint="1y", instrument_codes=["odi"])
    assert err.value.field == "invitation.timepoint"
    with pytest.raises(ValidationError) as err:  # a follow-up needs the index date (no operation recorded)
        access.create_invitation(clin, eid, timepoint="5y", instrument_codes=["odi"])
    assert err.value.field == "invitation.timepoint" and err.value.allowed == "baseline"


def test_invitation_is_refused_for_a_closed_window(engine: Engine, setup) -> None:  # type: ignore[no-untyped-def]
    """A 3-month link for a window that closed (3 months: day 64 to day 136 after the index date,
    ``domain.pathway.TIMEPOINTS``) is refused naming the window's dates, not made and answered in vain."""
    store, access, a, _ = setup
    _, eid = _patient(store, a, "M1")
    clin = Actor("dr.a", "clinician", a)
    store.add_procedure(clin, eid, {"procedure_code": "decompression_open", "performed_on": "2025-01-06",
                                    "levels": "L4-L5"})
    with pytest.raises(ValidationError) as err:
        access.create_invitation(clin, eid, timepoint="3m", instrument_codes=["odi"], now=T0)
    assert err.value.field == "invitation.timepoint"
    assert "from 11 March 2025 to 22 May 2025" in str(err.value) and "closed on 22 May 2025" in str(err.value)
