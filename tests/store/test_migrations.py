"""The shipped Alembic migrations build exactly the schema the models declare, on SQLite and on
PostgreSQL, with the database itself enforcing foreign keys, CHECK constraints and the
append-only audit log."""

from __future__ import annotations

import datetime as dt

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, insert, inspect, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from spinetrack.domain.pathway import TIMEPOINTS
from spinetrack.store.migrate import alembic_config, current_revision, head_revision, upgrade
from spinetrack.store.session import make_engine
from spinetrack.store.tables import AuditRow, Base, PatientRow, SiteRow, TimepointRow


def test_database_is_at_the_head_revision_and_matches_the_models(engine: Engine) -> None:
    assert head_revision() is not None
    assert current_revision(engine) == head_revision()
    with engine.connect() as c:
        diff = compare_metadata(MigrationContext.configure(c), Base.metadata)
    assert diff == [], f"migrations and models disagree: {diff}"
    # upgrading again is a no-op
    upgrade(engine)
    assert current_revision(engine) == head_revision()


def test_timepoints_table_is_seeded_with_the_domain_schedule(engine: Engine) -> None:
    """The seed must equal domain.pathway.TIMEPOINTS (spinetrack's schedule and windows)."""
    with engine.connect() as c:
        rows = c.execute(select(TimepointRow.code, TimepointRow.target_days, TimepointRow.window_from_days,
                                TimepointRow.window_to_days).order_by(TimepointRow.position)).all()
    assert [tuple(r) for r in rows] == [(t.code, t.target_days, t.window_from_days, t.window_to_days)
                                       for t in TIMEPOINTS]


def test_sqlite_connections_use_wal_and_enforce_foreign_keys(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path / 'wal.db'}")
    with engine.connect() as c:
        assert c.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
        assert c.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
        assert c.execute(text("PRAGMA busy_timeout")).scalar_one() == 10000
    engine.dispose()


def _site(c) -> int:  # type: ignore[no-untyped-def]
    return int(c.execute(insert(SiteRow).values(code="S", name="S", created_at=dt.datetime(2025, 1, 1))
                         .returning(SiteRow.id)).scalar_one())


def test_foreign_keys_are_enforced_by_the_database(engine: Engine) -> None:
    with pytest.raises(IntegrityError), engine.begin() as c:
        c.execute(insert(PatientRow).values(site_id=12345, pseudo_id="X", birth_year=1960, sex="female",
                                            created_at=dt.datetime(2025, 1, 1)))


@pytest.mark.parametrize(("table", "values"), [
    (PatientRow, {"pseudo_id": "X", "birth_year": 1960, "sex": "alien"}),
    (PatientRow, {"pseudo_id": "X", "birth_year": 1960, "sex": "male", "asa_grade": 7}),
    (PatientRow, {"pseudo_id": "X", "birth_year": 1960, "sex": "male", "bmi": 4}),
])
def test_check_constraints_are_enforced_by_the_database(engine: Engine, table: type, values: dict) -> None:
    with engine.begin() as c:
        site = _site(c)
    with pytest.raises(IntegrityError), engine.begin() as c:
        c.execute(insert(table).values(site_id=site, created_at=dt.datetime(2025, 1, 1), **values))
    with engine.connect() as c:
        assert c.execute(select(PatientRow.id)).all() == []


def test_procedure_technique_is_required_exactly_for_mis(engine: Engine) -> None:
    cols = {c["name"] for c in inspect(engine).get_columns("procedures")}
    assert {"approach", "technique"} <= cols
    checks = {ck["name"] for ck in inspect(engine).get_check_constraints("procedures")}
    assert "ck_procedures_technique" in checks, checks


@pytest.mark.parametrize("statement", [
    "UPDATE audit_log SET actor = 'x'",
    "DELETE FROM audit_log",
])
def test_audit_log_refuses_update_and_delete(engine: Engine, statement: str) -> None:
    with engine.begin() as c:
        c.execute(insert(AuditRow).values(at=dt.datetime(2025, 1, 1), actor="a", actor_role="admin",
                                          action="create", entity="site", prev_hash="0" * 64, hash="1" * 64))
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as c:
        c.execute(text(statement))
    with engine.connect() as c:
        assert c.execute(select(AuditRow.actor)).scalars().all() == ["a"]


@pytest.mark.postgres
def test_audit_log_refuses_truncate_on_postgresql(pg_database_url: str) -> None:
    """TRUNCATE bypasses row triggers, so PostgreSQL needs its own statement trigger."""
    engine = make_engine(pg_database_url)
    upgrade(engine)
    with engine.begin() as c:
        c.execute(insert(AuditRow).values(at=dt.datetime(2025, 1, 1), actor="a", actor_role="admin",
                                          action="create", entity="site", prev_hash="0" * 64, hash="1" * 64))
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as c:
        c.execute(text("TRUNCATE audit_log"))
    with engine.connect() as c:
        assert len(c.execute(select(AuditRow.id)).all()) == 1
    engine.dispose()


def test_downgrade_to_base_and_back_up(engine: Engine) -> None:
    cfg = alembic_config(engine)
    with engine.begin() as c:
        cfg.attributes["connection"] = c
        command.downgrade(cfg, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert {"patients", "episodes", "procedures", "prom_responses", "audit_log"} <= set(
        inspect(engine).get_table_names())
