"""What matters most to the patient (``decision_preferences``): the weights of the decision
aid's values-clarification step (:mod:`spinetrack.domain.preferences`), append-only, the newest
per episode being the current one.

* **Record** (:func:`save_preferences`): the patient for their own episode (their home session's
  actor, role ``patient``), or a clinician of the patient's site recording what the patient said
  (``recorded_by`` is the actor's name). The weights are validated whole before anything is
  written; the row and its audit row are written in one transaction.
* **Read** (:func:`current_preferences`, :func:`preference_history`): the patient (their own),
  clinic staff of the site (clinician, coordinator); another site's episode is "not found"; a
  researcher or admin is refused. Every read writes one audit row, also when nothing is found.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from spinetrack.domain.preferences import validate_weights
from spinetrack.errors import PermissionDeniedError
from spinetrack.store import audit
from spinetrack.store.repositories import Actor, Store
from spinetrack.store.tables import DecisionPreferenceRow

__all__ = ["ENTITY", "RECORDING_ROLES", "Preferences", "current_preferences", "preference_history",
           "save_preferences"]

ENTITY = "decision_preferences"
RECORDING_ROLES = ("patient", "clinician", "system")


@dataclass(frozen=True)
class Preferences:
    id: int
    episode_id: int
    weights: dict[str, int]
    recorded_by: str
    recorded_at: dt.datetime


def _view(row: DecisionPreferenceRow) -> Preferences:
    return Preferences(row.id, row.episode_id, {str(k): int(v) for k, v in dict(row.weights).items()},
                       row.recorded_by, row.recorded_at)


def save_preferences(store: Store, actor: Actor, episode_id: int, weights: Mapping[str, Any], *,
                     now: dt.datetime | None = None) -> Preferences:
    """Record the patient's weights for an episode (module docstring); return the stored row.

    Raises
    ------
    PermissionDeniedError
        A coordinator, researcher or admin.
    ValidationError
        ``preferences.<factor>`` with the allowed values (nothing is written).
    NotFoundError
        No such episode, another site's, or another patient's.
    """
    if actor.role not in RECORDING_ROLES:
        raise PermissionDeniedError(f"only the patient or a clinician may record what matters to the patient; "
                                    f"you are {actor.role}", role=actor.role)
    clean = validate_weights(weights)
    at = (now or dt.datetime.now(dt.UTC)).replace(tzinfo=None)
    with store.transaction() as s:
        ep = Store._episode(s, episode_id, actor)
        row = DecisionPreferenceRow(episode_id=ep.id, weights=clean, recorded_by=actor.name[:64], recorded_at=at)
        s.add(row)
        s.flush()
        audit.append(s, actor=actor.name, actor_role=actor.role, action="create", entity=ENTITY, entity_id=row.id,
                     patient_id=ep.patient_id, detail={"episode_id": ep.id, "weights": clean})
        return _view(row)


def _rows(store: Store, actor: Actor, episode_id: int, *, newest_only: bool) -> list[Preferences]:
    with store.transaction() as s:
        ep = Store._episode(s, episode_id, actor)
        q = (select(DecisionPreferenceRow).where(DecisionPreferenceRow.episode_id == ep.id)
             .order_by(DecisionPreferenceRow.recorded_at.desc(), DecisionPreferenceRow.id.desc()))
        if newest_only:
            q = q.limit(1)
        rows = [_view(r) for r in s.execute(q).scalars()]
        audit.append(s, actor=actor.name, actor_role=actor.role, action="read", entity=ENTITY,
                     entity_id=rows[0].id if rows else None, patient_id=ep.patient_id,
                     detail={"episode_id": ep.id, "found": len(rows)})
        return rows


def current_preferences(store: Store, actor: Actor, episode_id: int) -> Preferences | None:
    """The newest weights of the episode, or ``None`` when the patient has not weighed anything."""
    rows = _rows(store, actor, episode_id, newest_only=True)
    return rows[0] if rows else None


def preference_history(store: Store, actor: Actor, episode_id: int) -> list[Preferences]:
    """Every recording of the episode, newest first."""
    return _rows(store, actor, episode_id, newest_only=False)
