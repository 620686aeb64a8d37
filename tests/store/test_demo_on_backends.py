"""The demo loader and status on SQLite and PostgreSQL give the same data."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine

from spinetrack.store.repositories import Actor, Store
from spinetrack.store.status import compute_status
from spinetrack.synth.load import load_demo


def test_demo_cohort_is_identical_on_every_backend_and_the_store_keeps_working(engine: Engine) -> None:
    """The same seed gives the same counts on SQLite and PostgreSQL (compared with a reference
    SQLite load of the same seed), and new records get fresh ids after the bulk load."""
    from spinetrack.store.migrate import upgrade
    from spinetrack.store.session import make_engine

    load_demo(engine, patients=300, seed=5)
    ref = make_engine("sqlite://")
    upgrade(ref)
    load_demo(ref, patients=300, seed=5)
    day = dt.date(2026, 1, 1)
    got, want = compute_status(engine, as_of=day), compute_status(ref, as_of=day)
    ref.dispose()
    for key in ("patients", "episodes_by_treatment", "procedures_by_approach", "complications", "reoperations",
                "prom_responses_by_instrument", "followup_completeness"):
        assert got[key] == want[key], key
    store = Store(engine)
    pid = store.add_patient(Actor("c", "clinician", 1), 1, {"pseudo_id": "NEW-1", "birth_year": 1970, "sex": "male"})
    assert pid == 301
