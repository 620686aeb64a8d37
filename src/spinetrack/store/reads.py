"""Audited reads that the web API needs beside :class:`~spinetrack.store.repositories.Store`
and :class:`~spinetrack.store.access.Access`.

Patient-level reads follow the store's rules exactly: the record's patient is checked with
:func:`~spinetrack.store.repositories.authorize_patient` (another site's or another patient's
record is reported as not found; researchers and admins are refused) and one audit row naming
the actor is appended in the same transaction as the read.

:func:`outcome_aggregates` is the one aggregate read: pseudonymised summaries (no ids, no
names, no free text) with small cells suppressed, for researchers and clinic staff.

:func:`submit_idempotent` wraps :meth:`Store.submit_response` (or :meth:`Access.submit`) so the
API can tell a first submission (``201``) from a replay under the same ``Idempotency-Key``
(``200``) without ever storing a duplicate.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from spinetrack import instruments
from spinetrack.clock import utcnow
from spinetrack.errors import AuthenticationError, ConflictError, NotFoundError, PermissionDeniedError
from spinetrack.store import audit
from spinetrack.store.access import InvitationView
from spinetrack.store.repositories import SITE_ROLES, Actor, Store
from spinetrack.store.tables import (
    ComplicationRow,
    EpisodeRow,
    InvitationRow,
    PatientRow,
    ProcedureRow,
    PromResponseRow,
    ReadmissionRow,
    ReoperationRow,
    TimepointRow,
)

__all__ = [
    "MIN_CELL_SIZE",
    "get_child",
    "get_invitation",
    "get_visit",
    "invitation_status",
    "list_children",
    "list_episodes",
    "list_invitations",
    "outcome_aggregates",
    "patient_trajectory",
    "scoped_idempotency_key",
    "submit_idempotent",
    "visit_closed",
]

MIN_CELL_SIZE = 5
"""Aggregate cells with fewer responses than this are suppressed (count and statistics)."""

# entity name (as in the audit log) → table of records that hang off an episode
_CHILDREN: dict[str, type[Any]] = {
    "procedure": ProcedureRow,
    "complication": ComplicationRow,
    "readmission": ReadmissionRow,
    "reoperation": ReoperationRow,
    "prom_response": PromResponseRow,
}
_ORDER: dict[str, str] = {
    "procedure": "performed_on", "complication": "occurred_on", "readmission": "admitted_on",
    "reoperation": "performed_on", "prom_response": "collected_on",
}
_HIDDEN = ("idempotency_key",)


def _row_dict(row: Any) -> dict[str, Any]:
    return {c.key: getattr(row, c.key) for c in row.__table__.columns if c.key not in _HIDDEN}




def _patient(s: Session, actor: Actor, patient_id: int) -> PatientRow:
    return Store._patient(s, patient_id, actor)  # the one place that looks up and authorizes


def _episode(s: Session, actor: Actor, episode_id: int) -> EpisodeRow:
    return Store._episode(s, episode_id, actor)


def _audit_read(s: Session, actor: Actor, entity: str, entity_id: Any, patient_id: int | None,
                detail: dict[str, Any] | None = None) -> None:
    audit.append(s, actor=actor.name, actor_role=actor.role, action="read", entity=entity, entity_id=entity_id,
                 patient_id=patient_id, detail=detail)


# ------------------------------------------------------------------------------ episodes


def list_episodes(store: Store, actor: Actor, patient_id: int) -> list[dict[str, Any]]:
    """The episodes of one patient (oldest first), each with its imaging findings."""
    with store.transaction() as s:
        p = _patient(s, actor, patient_id)
        rows = s.execute(select(EpisodeRow).where(EpisodeRow.patient_id == p.id)
                         .order_by(EpisodeRow.enrolled_on, EpisodeRow.id)).scalars().all()
        out = []
        for r in rows:
            d = _row_dict(r)
            d["imaging_findings"] = [{k: v for k, v in _row_dict(f).items() if k not in ("id", "episode_id")}
                                     for f in r.findings]
            out.append(d)
        _audit_read(s, actor, "episode", None, p.id, {"patient_id": p.id, "n": len(out)})
        return out


# ------------------------------------------------------------------------------ episode children


def list_children(store: Store, actor: Actor, entity: str, episode_id: int) -> list[dict[str, Any]]:
    """The records of one kind (``procedure``, ``complication``, ``readmission``,
    ``reoperation``, ``prom_response``) of one episode, in date order."""
    table = _CHILDREN[entity]
    with store.transaction() as s:
        ep = _episode(s, actor, episode_id)
        rows = s.execute(select(table).where(table.episode_id == ep.id)
                         .order_by(getattr(table, _ORDER[entity]), table.id)).scalars().all()
        _audit_read(s, actor, entity, None, ep.patient_id, {"episode_id": ep.id, "n": len(rows)})
        return [_row_dict(r) for r in rows]


def get_child(store: Store, actor: Actor, entity: str, record_id: int) -> dict[str, Any]:
    """One record of one kind by id (another site's record is not found)."""
    table = _CHILDREN[entity]
    with store.transaction() as s:
        row = s.get(table, record_id)
        if row is None:
            raise NotFoundError(entity=entity, key=record_id)
        try:
            ep = _episode(s, actor, row.episode_id)
        except NotFoundError:
            raise NotFoundError(entity=entity, key=record_id) from None
        _audit_read(s, actor, entity, row.id, ep.patient_id)
        return _row_dict(row)


# ------------------------------------------------------------------------------ invitations


def invitation_status(row: InvitationRow, now: dt.datetime | None = None) -> str:
    """``revoked``, ``completed``, ``expired``, ``opened`` or ``open``."""
    now = now or utcnow()
    if row.revoked:
        return "revoked"
    if row.completed_at is not None:
        return "completed"
    if now > row.expires_at:
        return "expired"
    return "opened" if row.opened_at is not None else "open"


def _invitation_dict(r: InvitationRow, now: dt.datetime | None) -> dict[str, Any]:
    return {"id": r.id, "episode_id": r.episode_id, "timepoint": r.timepoint, "instruments": list(r.instruments),
            "created_by": r.created_by, "created_at": r.created_at, "expires_at": r.expires_at,
            "opened_at": r.opened_at, "completed_at": r.completed_at, "revoked": r.revoked,
            "status": invitation_status(r, now)}


def list_invitations(store: Store, actor: Actor, episode_id: int, *, now: dt.datetime | None = None
                     ) -> list[dict[str, Any]]:
    """The invitations of one episode with their status. Tokens are never returned (only
    their hash is stored); a lost link is replaced by a new invitation."""
    with store.transaction() as s:
        ep = _episode(s, actor, episode_id)
        rows = s.execute(select(InvitationRow).where(InvitationRow.episode_id == ep.id)
                         .order_by(InvitationRow.created_at, InvitationRow.id)).scalars().all()
        out = [_invitation_dict(r, now) for r in rows]
        _audit_read(s, actor, "invitation", None, ep.patient_id, {"episode_id": ep.id, "n": len(out)})
        return out


def get_invitation(store: Store, actor: Actor, invitation_id: int, *, now: dt.datetime | None = None
                   ) -> dict[str, Any]:
    """One invitation (without its token)."""
    with store.transaction() as s:
        r = s.get(InvitationRow, invitation_id)
        if r is None:
            raise NotFoundError(entity="invitation", key=invitation_id)
        try:
            ep = _episode(s, actor, r.episode_id)
        except NotFoundError:
            raise NotFoundError(entity="invitation", key=invitation_id) from None
        _audit_read(s, actor, "invitation", r.id, ep.patient_id)
        return _invitation_dict(r, now)


# ------------------------------------------------------------------------------ patient visit


def get_visit(store: Store, actor: Actor, invitation_id: int) -> dict[str, Any]:
    """One visit as its patient sees it: the questionnaires, which are due and which are done."""
    with store.transaction() as s:
        inv = s.get(InvitationRow, invitation_id)
        if inv is None:
            raise NotFoundError(entity="invitation", key=invitation_id)
        try:
            ep = _episode(s, actor, inv.episode_id)
        except NotFoundError:
            raise NotFoundError(entity="invitation", key=invitation_id) from None
        tp = s.get(TimepointRow, inv.timepoint)
        done = set(s.execute(select(PromResponseRow.instrument).where(
            PromResponseRow.episode_id == ep.id, PromResponseRow.timepoint == inv.timepoint)).scalars())
        codes = list(inv.instruments)
        _audit_read(s, actor, "invitation", inv.id, ep.patient_id, {"visit": True})
        return {
            "timepoint": inv.timepoint, "timepoint_label": tp.label if tp else inv.timepoint,
            "expires_at": inv.expires_at,
            "questionnaires": [{"instrument": c, "title": instruments.get(c).definition.title,
                                "status": "completed" if c in done else "due"} for c in codes],
            "due": [c for c in codes if c not in done], "completed": [c for c in codes if c in done],
            "done": all(c in done for c in codes),
        }


def visit_closed(view: InvitationView, now: dt.datetime | None = None) -> bool:
    """True once every questionnaire of the visit is in or the link has expired: the session
    may then only replay a submission it already made (same ``Idempotency-Key``)."""
    return view.done or (now or utcnow()) > view.expires_at


# ------------------------------------------------------------------------------ trajectory


def patient_trajectory(store: Store, actor: Actor, patient_id: int) -> list[dict[str, Any]]:
    """Every scored PROM response of one patient, over all their episodes, in time order:
    instrument, timepoint, date, days from the index date, score, validity. No answers."""
    with store.transaction() as s:
        p = _patient(s, actor, patient_id)
        rows = s.execute(
            select(PromResponseRow, TimepointRow.label)
            .join(EpisodeRow, EpisodeRow.id == PromResponseRow.episode_id)
            .join(TimepointRow, TimepointRow.code == PromResponseRow.timepoint)
            .where(EpisodeRow.patient_id == p.id)
            .order_by(PromResponseRow.collected_on, TimepointRow.position, PromResponseRow.instrument)).all()
        out = [{"episode_id": r.episode_id, "instrument": r.instrument, "timepoint": r.timepoint,
                "timepoint_label": label, "collected_on": r.collected_on, "days_from_index": r.days_from_index,
                "score": r.score, "valid": r.valid} for r, label in rows]
        _audit_read(s, actor, "prom_response", None, p.id, {"trajectory": True, "n": len(out)})
        return out


# ------------------------------------------------------------------------------ aggregates


def _quantiles(values: Sequence[float]) -> tuple[float, float, float, float]:
    arr = np.asarray(values, dtype=float)
    q1, median, q3 = np.percentile(arr, [25, 50, 75])  # linear interpolation (R's type 7)
    return float(arr.mean()), float(median), float(q1), float(q3)


def outcome_aggregates(store: Store, actor: Actor, *, min_cell_size: int = MIN_CELL_SIZE) -> dict[str, Any]:
    """Pseudonymised outcome summaries per treatment × timepoint × instrument.

    Each cell holds the number of valid scored responses ``n`` and their mean, median and
    interquartile range (``q1``, ``q3``: 25th and 75th percentiles, linear interpolation as
    R's ``quantile(type = 7)``). Cells with ``n < min_cell_size`` are suppressed: they are
    listed with ``suppressed = True`` and no count or statistics.

    Researchers see all sites; clinicians and coordinators their own site. Nothing that
    identifies a patient (ids, names, dates, free text) is returned. The read is audited.
    """
    if actor.role not in (*SITE_ROLES, "researcher", "system"):
        raise PermissionDeniedError(f"role {actor.role!r} has no access to outcome aggregates", role=actor.role)
    site_id = actor.site_id if actor.role in SITE_ROLES else None
    with store.transaction() as s:
        stmt = (select(EpisodeRow.treatment, PromResponseRow.timepoint, PromResponseRow.instrument,
                       PromResponseRow.score)
                .join(EpisodeRow, EpisodeRow.id == PromResponseRow.episode_id)
                .where(PromResponseRow.valid.is_(True), PromResponseRow.score.is_not(None),
                       EpisodeRow.treatment.is_not(None)))
        if site_id is not None:
            stmt = stmt.join(PatientRow, PatientRow.id == EpisodeRow.patient_id).where(PatientRow.site_id == site_id)
        groups: dict[tuple[str, str, str], list[float]] = {}
        for treatment, timepoint, instrument, score in s.execute(stmt):
            if treatment is None or score is None:  # none come: the WHERE clause leaves them out
                continue
            groups.setdefault((treatment, timepoint, instrument), []).append(float(score))
        position = {code: pos for code, pos in s.execute(select(TimepointRow.code, TimepointRow.position))}
        cells = []
        for (treatment, timepoint, instrument) in sorted(groups, key=lambda k: (k[0], position.get(k[1], 99), k[2])):
            values = groups[(treatment, timepoint, instrument)]
            cell: dict[str, Any] = {"treatment": treatment, "timepoint": timepoint, "instrument": instrument,
                                    "suppressed": len(values) < min_cell_size, "n": None, "mean": None,
                                    "median": None, "q1": None, "q3": None}
            if not cell["suppressed"]:
                mean, median, q1, q3 = _quantiles(values)
                cell.update(n=len(values), mean=mean, median=median, q1=q1, q3=q3)
            cells.append(cell)
        scope = "site" if site_id is not None else "all_sites"
        audit.append(s, actor=actor.name, actor_role=actor.role, action="read", entity="outcome_aggregates",
                     entity_id=None, detail={"scope": scope, "site_id": site_id, "cells": len(cells)})
        return {"scope": scope, "site_id": site_id, "min_cell_size": min_cell_size, "cells": cells}


# ------------------------------------------------------------------------------ idempotent submission


def scoped_idempotency_key(actor: Actor, key: str) -> str:
    """The key as stored: SHA-256 of the actor's name and the client's key, so that one
    client's key never collides with (or reveals) another's, and any client key up to the
    header limit fits the 64-character hash."""
    return hashlib.sha256(f"{actor.name}\x00{key}".encode()).hexdigest()


def _key_used(store: Store, key: str) -> bool:
    with store.transaction() as s:
        return s.execute(select(PromResponseRow.id).where(PromResponseRow.idempotency_key == key)).first() is not None


def submit_idempotent(submit: Callable[[str | None], int], store: Store, actor: Actor, idempotency_key: str | None,
                      *, replay_only: bool = False) -> tuple[int, bool]:
    """Run ``submit(key)`` (a call of :meth:`Store.submit_response` or :meth:`Access.submit`
    with ``key`` as its idempotency key) and return ``(response_id, created)``.

    The client's ``idempotency_key`` is scoped to ``actor`` (:func:`scoped_idempotency_key`).
    ``created`` is False when the key had been used already: the store then returns the
    stored response for the same payload (nothing new is written) or raises
    :class:`ConflictError` for a different one. Two concurrent requests with the same key
    race on the key's unique constraint; the loser is answered as a replay.

    ``replay_only`` (a closed patient visit) accepts only a replay of a stored submission.
    """
    key = scoped_idempotency_key(actor, idempotency_key) if idempotency_key is not None else None
    if replay_only and (key is None or not _key_used(store, key)):
        raise AuthenticationError("this questionnaire link is no longer open; use the link from your clinic")
    if key is None:
        return submit(None), True
    if _key_used(store, key):
        return submit(key), False
    try:
        return submit(key), True
    except ConflictError:
        if _key_used(store, key):  # lost the race to a concurrent retry
            return submit(key), False
        raise
