"""Stream a synthetic cohort into the operational store, one chunk per transaction.

Memory stays bounded by one chunk (``CHUNK_SIZE`` patients) whatever the cohort size. Each
chunk is written in one transaction together with one audit row, so an interrupted load
leaves whole patients only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Engine, func, insert, select, text
from sqlalchemy.orm import Session

from spinetrack.errors import ConflictError, ValidationError
from spinetrack.store import audit
from spinetrack.store.session import read_only
from spinetrack.store.tables import (
    ComplicationRow,
    EpisodeRow,
    ImagingFindingRow,
    PatientRow,
    ProcedureRow,
    PromResponseRow,
    ReadmissionRow,
    ReoperationRow,
    SiteRow,
)
from spinetrack.synth.cohort import CHUNK_SIZE, ChunkDraws, generate_chunk
from spinetrack.synth.effects import GENERATOR_VERSION

if TYPE_CHECKING:
    from spinetrack.synth.truth import Truth

__all__ = ["DEMO_SITES", "LoadResult", "load_demo"]

DEMO_SITES = (("DEMO-N", "Demo spine clinic North", "GB"), ("DEMO-C", "Demo spine clinic Central", "DE"),
              ("DEMO-S", "Demo spine clinic South", "US"))
CREATED_AT = dt.datetime(2025, 12, 31)  # fixed, so that the same seed gives byte-identical rows
MAX_PATIENTS = 10_000_000


@dataclass(frozen=True, slots=True)
class LoadResult:
    patients: int
    responses: int
    seed: int
    skipped: bool = False


_TABLES = (
    ("patients", PatientRow), ("episodes", EpisodeRow), ("findings", ImagingFindingRow),
    ("procedures", ProcedureRow), ("complications", ComplicationRow), ("readmissions", ReadmissionRow),
    ("reoperations", ReoperationRow), ("responses", PromResponseRow),
)


def load_demo(
    engine: Engine,
    *,
    patients: int,
    seed: int,
    if_empty: bool = False,
    progress: Callable[[int], None] | None = None,
    truth: Truth | None = None,
) -> LoadResult:
    """Generate ``patients`` synthetic patients with ``seed`` and store them.

    Parameters
    ----------
    engine:
        A migrated database.
    patients, seed:
        Cohort size and seed; the same pair always gives the same rows.
    if_empty:
        When the database already holds patients, do nothing instead of refusing.
    progress:
        Called with the number of patients just stored, after every chunk.
    truth:
        When given, each chunk's patients are added to it: the true effects of every comparison
        and claim, from each patient's outcomes under both options (``synth.truth``).
    """
    if isinstance(patients, bool) or not isinstance(patients, int) or not 1 <= patients <= MAX_PATIENTS:
        raise ValidationError(field="patients", value=patients, allowed=f"1 to {MAX_PATIENTS}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValidationError(field="seed", value=seed, allowed="a whole number, 0 or more")
    with read_only(engine).connect() as conn:
        existing = conn.execute(select(func.count()).select_from(PatientRow)).scalar_one()
    if existing:
        if if_empty:
            return LoadResult(0, 0, seed, skipped=True)
        raise ConflictError(f"the database already holds {existing} patients; load the demo into an empty database",
                            field="patients")
    site_ids = _ensure_sites(engine)
    n_responses = 0
    for k, first in enumerate(range(0, patients, CHUNK_SIZE)):
        n = min(CHUNK_SIZE, patients - first)
        draws: list[ChunkDraws] = []
        chunk = generate_chunk(seed, k, first + 1, n, site_ids, CREATED_AT, draws=draws if truth is not None else None)
        if truth is not None:
            truth.add(draws[0])
        with engine.begin() as conn:
            for attr, table in _TABLES:
                rows = getattr(chunk, attr)
                if rows:
                    conn.execute(insert(table), rows)
            with Session(bind=conn) as s:
                audit.append(s, actor="spinetrack demo", actor_role="system", action="bulk_load", entity="cohort",
                             detail={"seed": seed, "chunk": k, "first_patient_id": first + 1, "patients": n,
                                     "generator_version": GENERATOR_VERSION})
                s.flush()
        n_responses += len(chunk.responses)
        if progress is not None:
            progress(n)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            for name in ("patients", "episodes", "procedures", "sites"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                                  f"(SELECT COALESCE(MAX(id), 1) FROM {name}))"))
    return LoadResult(patients, n_responses, seed)


def _ensure_sites(engine: Engine) -> list[int]:
    with engine.begin() as conn:
        ids = []
        for code, name, country in DEMO_SITES:
            sid = conn.execute(select(SiteRow.id).where(SiteRow.code == code)).scalar()
            if sid is None:
                key = conn.execute(insert(SiteRow).values(code=code, name=name, country=country,
                                                          created_at=CREATED_AT)).inserted_primary_key
                assert key is not None, "an INSERT of one row returns its key"
                sid = key[0]
            ids.append(int(sid))
        return ids
