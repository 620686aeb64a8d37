"""What every patient page shows around its content: the clinic's name and logo, and the language
the patient reads (``patient_identities.language``), with the language switch's record of a choice.

* :func:`site_frame`: the clinic's name and, when ``sites.logo`` is set, a fingerprint of the logo
  (its address on the pages changes when the logo does, so the browser may keep it for a year).
  Nothing about a patient: no audit entry.
* :func:`patient_frame`: the same for a patient's own page, with the language recorded for them;
  the read is audited under the patient actor (entity ``patient_language``).
* :func:`record_language`: the patient chose a language with the switch while signed in on their
  home or a visit; stored on ``patient_identities.language`` and audited (old and new value).
* :func:`site_logo`: the logo's bytes and type (the ``/site-logo/{site_id}`` route).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import select

from spinetrack import i18n
from spinetrack.errors import NotFoundError, ValidationError
from spinetrack.store import audit
from spinetrack.store.repositories import Actor, Store
from spinetrack.store.tables import PatientIdentityRow, SiteRow

__all__ = ["LOGO_TYPES", "PatientFrame", "SiteLogo", "patient_frame", "record_language", "site_frame", "site_logo"]

LOGO_TYPES = ("image/png", "image/svg+xml")
"""The logo types a page shows (``sites.logo_type``); anything else is not served."""


@dataclass(frozen=True, slots=True)
class PatientFrame:
    """The header of a patient page: the clinic, its logo's version (None: no logo) and the
    language recorded for the patient (None: unknown, or no patient on this page)."""

    site_id: int | None
    site_name: str | None
    logo_version: str | None
    language: str | None = None

    @property
    def logo_url(self) -> str | None:
        if self.site_id is None or self.logo_version is None:
            return None
        return f"/site-logo/{self.site_id}?v={self.logo_version}"


@dataclass(frozen=True, slots=True)
class SiteLogo:
    content: bytes
    media_type: str
    version: str


NO_FRAME = PatientFrame(None, None, None)


def _logo_version(row: SiteRow) -> str | None:
    if not row.logo or row.logo_type not in LOGO_TYPES:
        return None
    return hashlib.sha256(row.logo).hexdigest()[:16]


def site_frame(store: Store, site_id: int | None) -> PatientFrame:
    """The clinic's name and logo version (no patient data, nothing audited)."""
    if site_id is None:
        return NO_FRAME
    with store.transaction() as s:
        row = s.get(SiteRow, site_id)
        if row is None:
            return NO_FRAME
        return PatientFrame(row.id, row.name, _logo_version(row))


def patient_frame(store: Store, actor: Actor) -> PatientFrame:
    """The frame of a patient's own page (``actor``: the patient, with ``site_id`` and
    ``patient_id``): the clinic and the language recorded for the patient; audited."""
    if actor.site_id is None or actor.patient_id is None:
        return site_frame(store, actor.site_id)
    with store.transaction() as s:
        row = s.get(SiteRow, actor.site_id)
        language = s.execute(select(PatientIdentityRow.language).where(
            PatientIdentityRow.patient_id == actor.patient_id)).scalar()
        audit.append(s, actor=actor.name, actor_role=actor.role, action="read", entity="patient_language",
                     entity_id=actor.patient_id, patient_id=actor.patient_id)
        if row is None:
            return PatientFrame(None, None, None, i18n.normalise(language))
        return PatientFrame(row.id, row.name, _logo_version(row), i18n.normalise(language))


def record_language(store: Store, actor: Actor, language: str) -> bool:
    """Record the language a signed-in patient chose (``actor``: the patient). Returns whether it
    changed; audited with the old and new value when it did.

    Raises
    ------
    ValidationError
        ``language`` is not one spinetrack speaks.
    """
    lang = i18n.normalise(language)
    if lang is None:
        raise ValidationError(field="language", value=language[:16], allowed=list(i18n.LANGUAGES))
    if actor.patient_id is None:
        raise NotFoundError(entity="patient", key=None)
    with store.transaction() as s:
        identity = s.get(PatientIdentityRow, actor.patient_id)
        if identity is None or identity.language == lang:
            return False
        old = identity.language
        identity.language = lang
        audit.append(s, actor=actor.name, actor_role=actor.role, action="update", entity="patient_identity",
                     entity_id=actor.patient_id, patient_id=actor.patient_id,
                     detail={"field": "language", "old": old, "new": lang, "via": "language switch"})
        return True


def site_logo(store: Store, site_id: int) -> SiteLogo:
    """The clinic's logo (PNG or SVG).

    Raises
    ------
    NotFoundError
        No such site, no logo, or a type the pages do not show.
    """
    with store.transaction() as s:
        row = s.get(SiteRow, site_id)
        if row is None or (version := _logo_version(row)) is None:
            raise NotFoundError(entity="site logo", key=site_id)
        assert row.logo is not None and row.logo_type is not None
        return SiteLogo(bytes(row.logo), row.logo_type, version)


def site_code(store: Store, site_id: int | None) -> str | None:
    """The code of site ``site_id`` (how registry documents such as the benchmark name a site),
    or None for no such site. No patient data: not audited."""
    if site_id is None:
        return None
    with store.transaction() as s:
        row = s.get(SiteRow, site_id)
        return None if row is None else str(row.code)
