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

from sqlalchemy import Engine, func, insert, select, text, update
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
from spinetrack.synth.cohort import CHUNK_SIZE, ChunkDraws, Dating, generate_chunk
from spinetrack.synth.effects import GENERATOR_VERSION

if TYPE_CHECKING:
    from spinetrack.synth.truth import Truth

__all__ = ["DEMO_SITES", "DEMO_SITE_CONTACTS", "ENROL_LAG_DAYS", "MAX_SITES", "LoadResult", "demo_sites", "load_demo"]

DEMO_SITES = (("DEMO-N", "Demo spine clinic North", "GB"), ("DEMO-C", "Demo spine clinic Central", "DE"),
              ("DEMO-S", "Demo spine clinic South", "US"))
#: Each demo clinic's contact (shown to patients): a telephone number from the range Ofcom keeps
#: for drama (07700 900000-900999, never allocated; E.164 form) and an address under example.org,
#: a domain reserved for examples (RFC 2606) -- fictitious and unreachable by design.
DEMO_SITE_CONTACTS = {
    "DEMO-N": ("+447700900001", "followup@north.example.org"),
    "DEMO-C": ("+447700900002", "followup@central.example.org"),
    "DEMO-S": ("+447700900003", "followup@south.example.org"),
}
CREATED_AT = dt.datetime(2025, 12, 31)  # fixed, so that the same seed gives byte-identical rows
#: A cohort dated relative to today ends its enrolment this many days before today.
ENROL_LAG_DAYS = 14
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
    relative_to: dt.date | None = None,
    sites: int = len(DEMO_SITES),
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
    relative_to:
        None (the default): the generator's own calendar, enrolment 2018-2022 with every
        follow-up complete -- what the analysis tests and benches rely on. A date (today): the
        same cohort moved so that enrolment ends :data:`ENROL_LAG_DAYS` before it, and what would
        lie after it (answers, operations, complications, readmissions, reoperations) left out,
        so part of the cohort is still in follow-up (``synth.cohort.Dating``). Every drawn value
        is the same either way; only dates move and the future is cut.
    sites:
        How many sites the patients are spread over: the three demo clinics (the default), or
        up to :data:`MAX_SITES` for a registry; from 8 sites on, two of them are the planted
        under- and over-performing sites of the benchmarking analysis
        (``synth.effects.SITE_EFFECTS``).
    """
    if isinstance(patients, bool) or not isinstance(patients, int) or not 1 <= patients <= MAX_PATIENTS:
        raise ValidationError(field="patients", value=patients, allowed=f"1 to {MAX_PATIENTS}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValidationError(field="seed", value=seed, allowed="a whole number, 0 or more")
    if isinstance(sites, bool) or not isinstance(sites, int) or not 1 <= sites <= MAX_SITES:
        raise ValidationError(field="sites", value=sites, allowed=f"1 to {MAX_SITES}")
    with read_only(engine).connect() as conn:
        existing = conn.execute(select(func.count()).select_from(PatientRow)).scalar_one()
    if existing:
        if if_empty:
            return LoadResult(0, 0, seed, skipped=True)
        raise ConflictError(f"the database already holds {existing} patients; load the demo into an empty database",
                            field="patients")
    dating = Dating() if relative_to is None else Dating.relative_to(relative_to, lag_days=ENROL_LAG_DAYS)
    created_at = CREATED_AT if relative_to is None else dt.datetime.combine(relative_to, dt.time())
    site_ids = _ensure_sites(engine, created_at, sites)
    n_responses = 0
    for k, first in enumerate(range(0, patients, CHUNK_SIZE)):
        n = min(CHUNK_SIZE, patients - first)
        draws: list[ChunkDraws] = []
        chunk = generate_chunk(seed, k, first + 1, n, site_ids, created_at, draws=draws if truth is not None else None,
                               dating=dating)
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
                                     "generator_version": GENERATOR_VERSION,
                                     **({} if relative_to is None else {"dated_to": relative_to.isoformat(),
                                                                        "shift_days": dating.shift_days})})
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


def demo_sites(n: int) -> list[tuple[str, str, str, str, str]]:
    """The first ``n`` demo sites as (code, name, country, phone, e-mail): the three demo
    clinics, then registry sites ``DEMO-04`` … (fictitious: telephone numbers from Ofcom's drama
    range, addresses under example.org). Site number k (0-based) is the generator's site k, so
    the planted benchmarking sites (``synth.effects.SITE_EFFECTS``) are ``DEMO-05`` and
    ``DEMO-08``."""
    out = [(code, name, country, *DEMO_SITE_CONTACTS[code]) for code, name, country in DEMO_SITES][:n]
    countries = ("GB", "DE", "US", "SE", "CH", "NL")
    for k in range(len(DEMO_SITES), n):
        code = f"DEMO-{k + 1:02d}"
        out.append((code, f"Demo registry site {k + 1:02d}", countries[k % len(countries)],
                    f"+447700900{k + 1:03d}", f"followup@site{k + 1:02d}.example.org"))
    return out


MAX_SITES = 99


def _ensure_sites(engine: Engine, created_at: dt.datetime, n: int = len(DEMO_SITES)) -> list[int]:
    """The ids of the first ``n`` demo sites (:func:`demo_sites`; created if missing), each with
    its fictitious clinic contact where it has none."""
    with engine.begin() as conn:
        ids = []
        for code, name, country, phone, email in demo_sites(n):
            sid = conn.execute(select(SiteRow.id).where(SiteRow.code == code)).scalar()
            if sid is None:
                key = conn.execute(insert(SiteRow).values(
                    code=code, name=name, country=country, created_at=created_at, contact_phone=phone,
                    contact_email=email, benchmark_surgeons=True)).inserted_primary_key
                assert key is not None, "an INSERT of one row returns its key"
                sid = key[0]
            else:
                conn.execute(update(SiteRow).where(SiteRow.id == sid, SiteRow.contact_phone.is_(None),
                                                   SiteRow.contact_email.is_(None))
                             .values(contact_phone=phone, contact_email=email))
            ids.append(int(sid))
        return ids
