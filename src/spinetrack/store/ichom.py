"""Completeness of the ICHOM Low Back Pain Standard Set on this database (``spinetrack ichom``).

For each variable of :mod:`spinetrack.domain.ichom`:

- **patient-reported** (per ICHOM timepoint: baseline, 3, 6, 12, 24 months, 5 years):
  responded / eligible. *Eligible* = episodes with an index date whose window for the timepoint
  (``domain.pathway.TIMEPOINTS``, not narrowed by a site's schedule) has opened by ``as_of`` — it
  is open or has closed — and that had not ended (``episodes.ended_on``) before the window opened.
  *Responded* = eligible episodes with a valid response of the variable's instrument at that
  timepoint (for the EQ VAS: an EQ-5D-5L response whose ``vas`` item is answered).
- **scope and case-mix** (baseline column only): eligible episodes at baseline whose field is
  filled in.
- **complications**: not a completeness (a complication that did not happen is not missing):
  operated episodes (with a procedure on or before ``as_of``) and how many of them have the event
  recorded, with the categories counted as approximate (``ComplicationMap.approximate``) apart.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Engine, select

from spinetrack.domain import ichom
from spinetrack.domain.pathway import TIMEPOINTS, Timepoint
from spinetrack.store.session import read_only
from spinetrack.store.tables import (
    ComplicationRow,
    EpisodeRow,
    PatientRow,
    ProcedureRow,
    PromResponseRow,
    ReadmissionRow,
)

__all__ = ["ichom_completeness"]

_TABLES: dict[str, Any] = {"patients": PatientRow, "episodes": EpisodeRow}


def _cell(responded: int, eligible: int) -> dict[str, Any]:
    return {"responded": responded, "eligible": eligible,
            "completeness": round(responded / eligible, 4) if eligible else None}


def _eligible(episodes: Iterable[tuple[int, dt.date, dt.date | None]], tp: Timepoint, as_of: dt.date) -> set[int]:
    out = set()
    for eid, index_date, ended_on in episodes:
        opens = index_date + dt.timedelta(days=tp.window_from_days)
        if opens <= as_of and (ended_on is None or ended_on >= opens):
            out.add(eid)
    return out


def ichom_completeness(engine: Engine, *, as_of: dt.date, site_id: int | None = None) -> dict[str, Any]:
    """The ICHOM variables with their field and completeness per timepoint (JSON-ready)."""
    timepoints = [tp for tp in TIMEPOINTS if tp.code in ichom.TIMEPOINTS_ICHOM]
    with read_only(engine).connect() as c:
        ep_q = select(EpisodeRow.id, EpisodeRow.index_date, EpisodeRow.ended_on).where(
            EpisodeRow.index_date.is_not(None))
        if site_id is not None:
            ep_q = ep_q.join(PatientRow, PatientRow.id == EpisodeRow.patient_id).where(PatientRow.site_id == site_id)
        episodes = [(int(r.id), r.index_date, r.ended_on) for r in c.execute(ep_q)]
        eligible = {tp.code: _eligible(episodes, tp, as_of) for tp in timepoints}
        in_scope = {e for e, _, _ in episodes}

        # (instrument, timepoint) → episodes with a valid response
        answered: dict[tuple[str, str], set[int]] = defaultdict(set)
        prom_instruments = {v.instrument for v in ichom.PROMS if v.item is None}
        for eid, inst, tp in c.execute(select(
                PromResponseRow.episode_id, PromResponseRow.instrument, PromResponseRow.timepoint).where(
                PromResponseRow.valid.is_(True), PromResponseRow.instrument.in_(prom_instruments),
                PromResponseRow.timepoint.in_(list(eligible))).distinct()):
            if eid in in_scope:
                answered[(inst, tp)].add(int(eid))
        for v in ichom.PROMS:
            if v.item is None:
                continue
            assert v.instrument is not None
            for eid, tp, answers in c.execute(select(
                    PromResponseRow.episode_id, PromResponseRow.timepoint, PromResponseRow.answers).where(
                    PromResponseRow.valid.is_(True), PromResponseRow.instrument == v.instrument,
                    PromResponseRow.timepoint.in_(list(eligible)))):
                if eid in in_scope and isinstance(answers, dict) and answers.get(v.item) is not None:
                    answered[(v.field, tp)].add(int(eid))

        def filled(variable: ichom.Variable) -> set[int]:
            table, column = variable.field.split(".", 1)
            row = _TABLES[table]
            q = select(EpisodeRow.id).where(getattr(row, column).is_not(None))
            if row is PatientRow:
                q = q.join(PatientRow, PatientRow.id == EpisodeRow.patient_id)
            return {int(e) for e in c.execute(q).scalars()} & in_scope

        def per_timepoint(v: ichom.Variable) -> dict[str, Any]:
            key = v.field if v.item is not None else v.instrument
            assert key is not None
            return {tp.code: _cell(len(answered[(key, tp.code)] & eligible[tp.code]), len(eligible[tp.code]))
                    for tp in timepoints}

        baseline = eligible["baseline"]
        rows: list[dict[str, Any]] = []
        for v in (*ichom.SCOPE, *ichom.CASE_MIX_COLLECTED):
            rows.append(_describe(v) | {"completeness": {"baseline": _cell(len(filled(v) & baseline), len(baseline))}})
        for v in ichom.PROMS:
            rows.append(_describe(v) | {"completeness": per_timepoint(v)})

        operated = {int(e) for e in c.execute(select(ProcedureRow.episode_id).where(
            ProcedureRow.performed_on <= as_of).distinct()).scalars()} & in_scope
        events: dict[tuple[str, str], set[int]] = defaultdict(set)  # (category, grade) → episodes
        for eid, cat, grade in c.execute(select(ComplicationRow.episode_id, ComplicationRow.category,
                                                ComplicationRow.clavien_dindo).where(
                ComplicationRow.occurred_on <= as_of)):
            events[(cat, grade)].add(int(eid))
        readmitted = {int(e) for e in c.execute(select(ReadmissionRow.episode_id).where(
            ReadmissionRow.admitted_on <= as_of).distinct()).scalars()}
    for m in ichom.COMPLICATIONS:
        cats = {x.value for x in m.categories}
        grades = {g.value for g in m.grades}
        approx = {x.value for x in m.approximate}
        hit: set[int] = set()
        approx_hit: set[int] = set()
        for (cat, grade), eids in events.items():
            if cat in cats or grade in grades:
                hit |= eids
                if cat in approx:
                    approx_hit |= eids
        if m.readmission:
            hit |= readmitted
        hit &= operated
        rows.append(_describe(m.variable) | {"events": {
            "episodes_with_event": len(hit), "operated_episodes": len(operated),
            "categories": sorted(cats), "grades": sorted(grades), "readmission": m.readmission,
            "approximate_categories": sorted(approx),
            "episodes_with_approximate_category": len(approx_hit & operated)}})
    return {
        "as_of": as_of.isoformat(), "site_id": site_id, "reference": ichom.REFERENCE,
        "timepoints": [{"code": tp.code, "label": tp.label, "window_from_days": tp.window_from_days,
                        "window_to_days": tp.window_to_days,
                        "ichom": "required" if ichom.TIMEPOINTS_ICHOM[tp.code] else "optional",
                        "eligible": len(eligible[tp.code])} for tp in timepoints],
        "variables": rows,
    }


def _describe(v: ichom.Variable) -> dict[str, Any]:
    return {"key": v.key, "group": str(v.group), "name": v.name, "field": v.field, "match": str(v.match),
            "ichom": v.ichom, "note": v.note, "source": v.source}
