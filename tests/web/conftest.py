"""Web fixtures: the app on a fresh database (SQLite and PostgreSQL, via the ``engine``
fixture), two sites with a patient each, one account per role, and signed-in clients.

``world`` holds ids; ``client_for(role_key)`` returns a TestClient signed in as that user
with its CSRF token in ``client.headers["X-CSRF-Token"]``. Role keys: ``clinician`` (site A),
``coordinator`` (site A), ``other_clinician`` (site B), ``researcher``, ``admin``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from spinetrack import clock
from spinetrack.config import Settings
from spinetrack.store.access import Access
from spinetrack.store.repositories import SYSTEM, Actor, Store
from spinetrack.web.app import create_app

PASSWORD = "test-password-123"
ACCOUNTS = {  # key: (username, role, site key)
    "clinician": ("a.clinician", "clinician", "A"),
    "coordinator": ("a.coordinator", "coordinator", "A"),
    "other_clinician": ("b.clinician", "clinician", "B"),
    "researcher": ("researcher", "researcher", None),
    "admin": ("admin", "admin", None),
}
ODI_ITEMS = ("pain_intensity", "personal_care", "lifting", "walking", "sitting", "standing", "sleeping",
             "sex_life", "social_life", "travelling")


@dataclass
class World:
    sites: dict[str, int] = field(default_factory=dict)
    patients: dict[str, int] = field(default_factory=dict)    # site key → patient id
    episodes: dict[str, int] = field(default_factory=dict)    # site key → episode id
    invitations: dict[str, str] = field(default_factory=dict)  # site key → invitation token
    users: dict[str, int] = field(default_factory=dict)


def build_world(store: Store, access: Access, today: dt.date | None = None) -> World:
    """Two sites; per site one patient (with identity), an episode with a tubular discectomy
    40 days ago, a baseline ODI, and an open 6-week invitation (ODI + NRS back + EQ-5D-5L)."""
    today = today or clock.today()
    w = World()
    for key in ("A", "B"):
        w.sites[key] = store.add_site(SYSTEM, code=f"SITE-{key}", name=f"Site {key}", country="GB")
    for key, (username, role, site) in ACCOUNTS.items():
        w.users[key] = access.create_user(SYSTEM, username=username, display_name=f"{role} {site or ''}".strip(),
                                          role=role, password=PASSWORD, site_id=w.sites[site] if site else None)
    surgery = today - dt.timedelta(days=40)
    for key in ("A", "B"):
        actor = Actor("setup", "clinician", w.sites[key])
        pid = store.add_patient(actor, w.sites[key], {"birth_year": 1968, "sex": "female", "bmi": 27.0,
                                                      "smoking": "never", "diabetes": False, "asa_grade": 2},
                                identity={"full_name": f"Patient {key} Example", "mrn": f"MRN-{key}-1"})
        eid = store.add_episode(actor, pid, {"diagnosis_code": "M51.16", "levels": "L4-L5",
                                             "enrolled_on": (surgery - dt.timedelta(days=20)).isoformat(),
                                             "treatment": "mis", "treatment_family": "discectomy"})
        store.add_procedure(actor, eid, {"procedure_code": "discectomy_tubular", "performed_on": surgery.isoformat(),
                                         "levels": "L4-L5", "ebl_ml": 30, "incision_mm": 20, "op_time_min": 75,
                                         "los_days": 1, "transfusion": False})
        store.submit_response(actor, eid, {"instrument": "odi", "timepoint": "baseline",
                                           "collected_on": (surgery - dt.timedelta(days=10)).isoformat(),
                                           "answers": dict.fromkeys(ODI_ITEMS, 3)})
        _, token = access.create_invitation(actor, eid, timepoint="6w",
                                            instrument_codes=["odi", "nrs_back", "eq5d5l"])
        w.patients[key], w.episodes[key], w.invitations[key] = pid, eid, token
    return w


@pytest.fixture(autouse=True)
def _fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap argon2 parameters for test accounts (the production parameters are tested in
    tests/store/test_access.py); keeps account creation from dominating the run time."""
    from argon2 import PasswordHasher

    from spinetrack.store import signin

    fast = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(signin, "_HASHER", fast)
    monkeypatch.setattr(signin, "_DUMMY_HASH", fast.hash("spinetrack-dummy-password"))


@pytest.fixture
def app(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Any:
    url = engine.url.render_as_string(hide_password=False)
    # background exports (FHIR $export, research OMOP/CSV) write under a temporary folder, never the checkout
    return create_app(Settings(database_url=url, export_dir=str(tmp_path_factory.mktemp("exports"))), engine=engine)


@pytest.fixture
def analyses(app: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty analyses directory (``SPINETRACK_ANALYSES_DIR``) for the app: saved scorecards,
    benchmarks and annual reports go here."""
    directory = tmp_path / "analyses"
    monkeypatch.setattr(app.state.settings, "analyses_dir", str(directory))
    return directory


@pytest.fixture
def world(app: Any) -> World:
    return build_world(app.state.store, app.state.access)


def login(client: TestClient, username: str, password: str = PASSWORD) -> dict[str, Any]:
    r = client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    me = r.json()
    client.headers["X-CSRF-Token"] = me["csrf_token"]
    return me


@pytest.fixture
def client_for(app: Any, world: World) -> Iterator[Callable[[str], TestClient]]:
    clients: list[TestClient] = []

    def make(key: str) -> TestClient:
        c = TestClient(app, base_url="http://testserver")
        clients.append(c)
        if key != "anonymous":
            login(c, ACCOUNTS[key][0])
        return c

    yield make
    for c in clients:
        c.close()


@pytest.fixture
def anonymous(app: Any) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c
