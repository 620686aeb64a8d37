"""Small cohorts for the scheduler's tests, written straight into the tables (the store's own
validation is tested elsewhere), and a channel that records what it was given."""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, insert, select

from spinetrack.followup.channels import DeliveryError
from spinetrack.followup.messages import OutgoingMessage
from spinetrack.store.tables import EpisodeRow, PatientIdentityRow, PatientRow, PromResponseRow, SiteRow


def add_site(engine: Engine, code: str = "NSC", name: str = "North Spine Clinic") -> int:
    with engine.begin() as c:
        return int(c.execute(insert(SiteRow.__table__).returning(SiteRow.id),
                             [{"code": code, "name": name, "created_at": dt.datetime(2026, 1, 1),
                               "contact_phone": "+44 20 7946 0000", "contact_email": "followup@example.org"}])
                   .scalar_one())


def add_episodes(engine: Engine, site_id: int, n: int, *, index_date: dt.date | None,
                 enrolled_on: dt.date | None = None, email: bool = True, phone: bool = False,
                 consent: bool | None = True, channel: str | None = None,
                 start: int = 0) -> list[int]:
    """``n`` patients with one episode each and an identity (e-mail ``p{i}@example.org``)."""
    enrolled_on = enrolled_on or (index_date - dt.timedelta(days=30) if index_date else dt.date(2026, 1, 1))
    now = dt.datetime(2026, 1, 1)
    with engine.begin() as c:
        pids = c.execute(insert(PatientRow.__table__).returning(PatientRow.id, sort_by_parameter_order=True), [
            {"pseudo_id": f"T-{site_id}-{start + i}", "site_id": site_id, "birth_year": 1960, "sex": "female",
             "created_at": now} for i in range(n)]).scalars().all()
        c.execute(insert(PatientIdentityRow.__table__), [
            {"patient_id": pid, "site_id": site_id, "full_name": f"Patient {start + i}",
             "email": f"p{start + i}@example.org" if email else None,
             "phone": f"+447700900{(start + i) % 1000:03d}" if phone else None,
             "channel": channel, "contact_consent": consent, "updated_at": now} for i, pid in enumerate(pids)])
        eids = c.execute(insert(EpisodeRow.__table__).returning(EpisodeRow.id, sort_by_parameter_order=True), [
            {"patient_id": pid, "diagnosis_code": "M51.16", "diagnosis_group": "disc_herniation", "levels": "L4-L5",
             "n_levels": 1, "treatment": "open", "enrolled_on": enrolled_on, "index_date": index_date,
             "created_at": now} for pid in pids]).scalars().all()
    return list(eids)


def answer(engine: Engine, episode_id: int, timepoint: str, instruments: tuple[str, ...], collected_on: dt.date,
           source: str = "phone") -> None:
    """Store a response to each of ``instruments`` as a coordinator would (phone or paper)."""
    with engine.begin() as c:
        c.execute(insert(PromResponseRow.__table__), [
            {"episode_id": episode_id, "timepoint": timepoint, "instrument": code, "instrument_version": "1",
             "collected_on": collected_on, "answers": {}, "score": 1.0, "valid": True, "source": source,
             "created_at": dt.datetime(2026, 1, 1)} for code in instruments])


def scalar(engine: Engine, stmt: Any) -> Any:
    with engine.connect() as c:
        return c.execute(stmt).scalar()


def rows(engine: Engine, stmt: Any) -> list[Any]:
    with engine.connect() as c:
        return list(c.execute(stmt).all())


def first_episode_of(engine: Engine, site_id: int) -> int:
    return int(scalar(engine, select(EpisodeRow.id).join(PatientRow).where(PatientRow.site_id == site_id)
                      .order_by(EpisodeRow.id).limit(1)))


@dataclass
class RecordingChannel:
    """A channel that keeps every message it is given; ``fail``: raise this DeliveryError instead."""

    name: str = "email"
    sent: list[OutgoingMessage] = field(default_factory=list)
    fail: DeliveryError | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, msg: OutgoingMessage) -> None:
        if self.fail is not None:
            raise self.fail
        with self.lock:
            self.sent.append(msg)

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass
