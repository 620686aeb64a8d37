"""How patients are reached, for the clinic and the admin: a patient's contact preferences
(channel, consent, opt-out, postal address), the release of the decision aid to the patient's
home, the outbox as an admin sees it, and each clinic's contact for patients.

Contact preferences and the decision aid belong to the patient's own site's staff (the decision
aid to clinicians, after a red-flag screening); the outbox and the clinics' contact to admins,
who see no patient data: an outbox row names its site, visit and message, not the patient (no
pseudonymous id; the outbox holds no address and no message text). Every read of
patient data and every change is audited; an address is never written to the audit log.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from spinetrack import clock
from spinetrack.domain import check_text
from spinetrack.errors import NotFoundError, PermissionDeniedError, ValidationError
from spinetrack.store import audit
from spinetrack.store.repositories import SITE_ROLES, Actor, Store
from spinetrack.store.tables import (
    EpisodeRow,
    FollowupRow,
    OutboxRow,
    PatientIdentityRow,
    PatientRow,
    ScreeningAssessmentRow,
    SiteRow,
)

__all__ = ["CHANNELS", "OUTBOX_STATUSES", "ContactPreferences", "Outreach"]

CHANNELS = ("email", "sms", "letter", "none")
OUTBOX_STATUSES = ("queued", "sending", "sent", "failed", "held", "cancelled")
MAX_PAGE_SIZE = 500


@dataclass(frozen=True, slots=True)
class ContactPreferences:
    """How and whether a patient may be contacted about follow-up."""

    patient_id: int
    channel: str | None
    contact_consent: bool | None
    opted_out_at: dt.datetime | None
    email: str | None
    phone: str | None
    postal_address: str | None


class Outreach:
    """Contact preferences, the decision aid's release, the outbox and the clinics' contact, on a
    :class:`Store` (every method one transaction)."""

    def __init__(self, store: Store, *, now: Callable[[], dt.datetime] | None = None) -> None:
        self.store = store
        self.now = now or clock.utcnow

    def contact(self, actor: Actor, patient_id: int) -> ContactPreferences | None:
        """The patient's contact preferences (their own site's staff), audited; None without an
        identity record."""
        with self.store.transaction() as s:
            p = Store._patient(s, patient_id, actor)
            row = s.get(PatientIdentityRow, patient_id)
            audit.append(s, actor=actor.name, actor_role=actor.role, action="read", entity="contact_preferences",
                         entity_id=patient_id, patient_id=p.id)
            return _prefs(row) if row is not None else None

    def set_contact(self, actor: Actor, patient_id: int, data: Mapping[str, Any], *,
                    now: dt.datetime | None = None) -> ContactPreferences:
        """Record how the patient wants to be contacted: ``channel`` (email, sms, letter, none),
        ``contact_consent`` (bool), ``postal_address``, ``opted_out`` (True records the opt-out
        now; False withdraws it). The channel must have its address on file. Audited (old → new)."""
        now = now or self.now()
        if actor.role not in SITE_ROLES and actor.role != "system":
            raise PermissionDeniedError("only clinicians and coordinators record contact preferences", role=actor.role)
        channel = data.get("channel")
        if channel not in CHANNELS:
            raise ValidationError(field="contact.channel", value=channel, allowed=CHANNELS)
        consent = data.get("contact_consent")
        if not isinstance(consent, bool):
            raise ValidationError(field="contact.contact_consent", value=consent, allowed=["yes", "no"])
        address = check_text(data.get("postal_address"), "contact.postal_address", max_length=500)
        address = address.strip() or None if address else None
        opted_out = data.get("opted_out")
        if opted_out is not None and not isinstance(opted_out, bool):
            raise ValidationError(field="contact.opted_out", value=opted_out, allowed=["yes", "no"])
        with self.store.transaction() as s:
            p = Store._patient(s, patient_id, actor)
            row = s.get(PatientIdentityRow, patient_id)
            if row is None:
                raise ValidationError(field="contact.channel", value=channel, allowed="a patient with an identity",
                                      reason="record the patient's identity first")
            needs = {"email": row.email, "sms": row.phone, "letter": address}
            if channel in needs and not needs[channel]:
                what = {"email": "an e-mail address", "sms": "a phone number", "letter": "a postal address"}[channel]
                raise ValidationError(field="contact.channel", value=channel, allowed=[c for c in CHANNELS
                                      if c not in needs or needs[c]], reason=f"{what} is needed on file for {channel}")
            old = _prefs(row)
            row.channel, row.contact_consent, row.postal_address = channel, consent, address
            if opted_out is True and row.opted_out_at is None:
                row.opted_out_at = now
            elif opted_out is False:
                row.opted_out_at = None
            row.updated_at = now
            new = _prefs(row)
            changes = {k: [_plain(getattr(old, k)), _plain(getattr(new, k))]
                       for k in ("channel", "contact_consent", "opted_out_at")
                       if getattr(old, k) != getattr(new, k)}
            if old.postal_address != new.postal_address:
                changes["postal_address"] = ["(changed)", "(changed)"]  # no address in the audit log
            audit.append(s, actor=actor.name, actor_role=actor.role, action="update", entity="contact_preferences",
                         entity_id=patient_id, patient_id=p.id, detail={"changes": changes})
            return new

    def release_decision_aid(self, actor: Actor, episode_id: int, *, now: dt.datetime | None = None) -> dt.datetime:
        """Release the decision aid to the patient's home (clinicians only; only after a
        red-flag screening is recorded for the episode). Returns when it was released (the
        first release stands)."""
        now = now or self.now()
        if actor.role not in ("clinician", "system"):
            raise PermissionDeniedError("only a clinician releases the decision aid", role=actor.role)
        with self.store.transaction() as s:
            ep = Store._episode(s, episode_id, actor)
            screened = s.execute(select(ScreeningAssessmentRow.id)
                                 .where(ScreeningAssessmentRow.episode_id == episode_id).limit(1)).first()
            if not screened:
                raise ValidationError(field="episode.decision_aid_released_at", value=None,
                                      allowed="an episode with a recorded red-flag screening",
                                      reason="record the screening first")
            if ep.decision_aid_released_at is None:
                ep.decision_aid_released_at = now
                audit.append(s, actor=actor.name, actor_role=actor.role, action="update", entity="episode",
                             entity_id=episode_id, patient_id=ep.patient_id,
                             detail={"change": "decision_aid_released_at", "old": None, "new": now.isoformat()})
            return ep.decision_aid_released_at

    # ------------------------------------------------------------------ admin

    def outbox(self, actor: Actor, *, status: str | None = None, channel: str | None = None,
               site_id: int | None = None, limit: int = 100, offset: int = 0) -> tuple[list[dict[str, Any]], int,
                                                                                     dict[str, int]]:
        """Every message of the outbox, newest first (admins; no address or content: the outbox
        holds none), filtered by status, channel and site: ``(rows, total, counts per status)``.
        Each row: the message's fields with the visit's timepoint and the site's code (no
        pseudonymous id: admins see no patient data). Audited (one row per read)."""
        if actor.role not in ("admin", "system"):
            raise PermissionDeniedError("only an admin sees the outbox", role=actor.role)
        if status is not None and status not in OUTBOX_STATUSES:
            raise ValidationError(field="status", value=status, allowed=OUTBOX_STATUSES)
        if channel is not None and channel not in CHANNELS[:3]:
            raise ValidationError(field="channel", value=channel, allowed=CHANNELS[:3])
        if not 1 <= limit <= MAX_PAGE_SIZE or offset < 0:
            raise ValidationError(field="limit", value=limit, allowed=f"1 to {MAX_PAGE_SIZE}")
        o = OutboxRow
        base = (select(o, FollowupRow.timepoint, SiteRow.code.label("site"))
                .join(EpisodeRow, EpisodeRow.id == o.episode_id)
                .join(PatientRow, PatientRow.id == EpisodeRow.patient_id)
                .join(SiteRow, SiteRow.id == PatientRow.site_id)
                .outerjoin(FollowupRow, FollowupRow.id == o.followup_id))
        if site_id is not None:
            base = base.where(PatientRow.site_id == site_id)
        if channel is not None:
            base = base.where(o.channel == channel)
        counts = dict.fromkeys(OUTBOX_STATUSES, 0)
        with self.store.transaction() as s:
            sub = base.subquery()
            for st, n in s.execute(select(sub.c.status, func.count()).group_by(sub.c.status)):
                counts[st] = int(n)
            if status is not None:
                base = base.where(o.status == status)
            total = int(s.execute(select(func.count()).select_from(base.subquery())).scalar_one())
            rows = s.execute(base.order_by(o.created_at.desc(), o.id.desc()).limit(limit).offset(offset)).all()
            out = [{**{k: getattr(m, k) for k in ("id", "followup_id", "episode_id", "kind", "sequence", "channel",
                                                   "status", "attempts", "created_at", "due_at", "claimed_at",
                                                   "sent_at", "last_error")},
                    "timepoint": tp, "site": site} for m, tp, site in rows]
            audit.append(s, actor=actor.name, actor_role=actor.role, action="read", entity="outbox",
                         detail={"status": status, "channel": channel, "site_id": site_id, "n": len(out)})
            return out, total, counts

    def site_contacts(self, actor: Actor) -> list[dict[str, Any]]:
        """Every site with its contact phone and e-mail, and its logo's type and size (``None``
        without a logo; :mod:`spinetrack.store.logos`) (admins)."""
        if actor.role not in ("admin", "system"):
            raise PermissionDeniedError("only an admin manages the sites", role=actor.role)
        with self.store.transaction() as s:
            return [{"id": r.id, "code": r.code, "name": r.name, "contact_phone": r.contact_phone,
                     "contact_email": r.contact_email, "logo_type": r.logo_type if r.logo is not None else None,
                     "logo_bytes": len(r.logo) if r.logo is not None else None}
                    for r in s.execute(select(SiteRow).order_by(SiteRow.code)).scalars()]

    def set_site_contact(self, actor: Actor, site_id: int, *, phone: Any, email: Any) -> None:
        """Set how patients reach the clinic (shown on the patient home and in every message);
        admins; audited (old → new)."""
        if actor.role not in ("admin", "system"):
            raise PermissionDeniedError("only an admin manages the sites", role=actor.role)
        phone = check_text(phone, "site.contact_phone", max_length=40)
        email = check_text(email, "site.contact_email", max_length=200)
        phone, email = (phone or "").strip() or None, (email or "").strip() or None
        if phone is not None and not all(c.isdigit() or c in " +-()" for c in phone):
            raise ValidationError(field="site.contact_phone", value=phone, allowed="digits, spaces and + - ( )")
        if email is not None and ("@" not in email or " " in email or email.startswith("@") or email.endswith("@")):
            raise ValidationError(field="site.contact_email", value=email, allowed="an e-mail address")
        with self.store.transaction() as s:
            row = s.get(SiteRow, site_id)
            if row is None:
                raise NotFoundError(entity="site", key=site_id)
            changes = {k: [old, new] for k, old, new in (("contact_phone", row.contact_phone, phone),
                                                         ("contact_email", row.contact_email, email)) if old != new}
            row.contact_phone, row.contact_email = phone, email
            if changes:
                audit.append(s, actor=actor.name, actor_role=actor.role, action="update", entity="site",
                             entity_id=site_id, detail={"changes": changes})


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.datetime) else value


def _prefs(row: PatientIdentityRow) -> ContactPreferences:
    return ContactPreferences(row.patient_id, row.channel, row.contact_consent, row.opted_out_at, row.email,
                              row.phone, row.postal_address)
