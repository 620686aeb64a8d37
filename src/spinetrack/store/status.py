"""Counts and follow-up completeness of the operational store (``spinetrack status``).

Two completeness figures: ``followup_completeness`` (every episode with an index date whose
default window for the timepoint has closed: the registry view, kept as it was) and
``followup_scheduled_completeness`` (the scheduled visits whose window has closed, per timepoint and
per month of the window's close: :func:`spinetrack.store.worklist.completeness`), with the visits
per worklist status today in ``followup_visits`` (:func:`spinetrack.store.worklist.status_counts`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Engine, distinct, func, select

from spinetrack import clock
from spinetrack.store.migrate import current_revision
from spinetrack.store.session import read_only
from spinetrack.store.tables import (
    ComplicationRow,
    EpisodeRow,
    PatientRow,
    ProcedureRow,
    PromResponseRow,
    ReadmissionRow,
    ReoperationRow,
    SiteRow,
    TimepointRow,
)
from spinetrack.store.worklist import completeness as scheduled_completeness
from spinetrack.store.worklist import status_counts

__all__ = ["compute_status"]


def compute_status(engine: Engine, *, as_of: dt.date | None = None) -> dict[str, Any]:
    """Counts of patients, episodes, procedures by approach, PROM responses and follow-up
    completeness by timepoint.

    Completeness at a timepoint = episodes with at least one response at that timepoint /
    episodes whose window for it has closed by ``as_of`` (every episode, for baseline).
    """
    as_of = as_of or clock.today()
    with read_only(engine).connect() as c:
        def count(table: Any) -> int:
            return int(c.execute(select(func.count()).select_from(table)).scalar_one())

        def grouped(col: Any) -> dict[str, int]:
            rows = c.execute(select(col, func.count()).group_by(col).order_by(col)).all()
            return {("none" if k is None else str(k)): int(v) for k, v in rows}

        completeness = []
        for tp in c.execute(select(TimepointRow.code, TimepointRow.window_to_days).order_by(TimepointRow.position)):
            if tp.window_to_days <= 0:
                eligible_q = select(EpisodeRow.id)
            else:
                cutoff = as_of - dt.timedelta(days=tp.window_to_days)
                eligible_q = select(EpisodeRow.id).where(EpisodeRow.index_date.is_not(None),
                                                         EpisodeRow.index_date <= cutoff)
            eligible = int(c.execute(select(func.count()).select_from(eligible_q.subquery())).scalar_one())
            done = int(c.execute(
                select(func.count(distinct(PromResponseRow.episode_id))).where(
                    PromResponseRow.timepoint == tp.code, PromResponseRow.episode_id.in_(eligible_q))
            ).scalar_one())
            completeness.append({
                "timepoint": tp.code, "eligible": eligible, "completed": done,
                "completeness": round(done / eligible, 4) if eligible else None,
            })
        return {
            "database": engine.dialect.name,
            "schema_revision": current_revision(engine),
            "as_of": as_of.isoformat(),
            "sites": count(SiteRow),
            "patients": count(PatientRow),
            "episodes": count(EpisodeRow),
            "episodes_by_treatment": grouped(EpisodeRow.treatment),
            "episodes_by_diagnosis_group": grouped(EpisodeRow.diagnosis_group),
            "procedures": count(ProcedureRow),
            "procedures_by_approach": grouped(ProcedureRow.approach),
            "procedures_by_family": grouped(ProcedureRow.family),
            "complications": count(ComplicationRow),
            "readmissions": count(ReadmissionRow),
            "reoperations": count(ReoperationRow),
            "prom_responses": count(PromResponseRow),
            "prom_responses_by_instrument": grouped(PromResponseRow.instrument),
            "followup_completeness": completeness,
            "followup_visits": status_counts(c, today=as_of),
            "followup_scheduled_completeness": scheduled_completeness(c, as_of=as_of),
        }
