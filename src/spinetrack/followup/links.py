"""Links to a patient's home: ``{link_base}/p/h/{token}``, and its opt-out page ``…/stop``.

A message carries a 256-bit random token (:func:`secrets.token_urlsafe`, 43 characters); a
letter carries a 12-character Crockford base-32 code (60 bits) that a patient can type, on the
same route and in the same table. Only the SHA-256 of a token is stored
(``patient_links.token_hash``), so a database read gives nobody a working link. Many links per
episode may live at once (one per message); opening one never spends it.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import cast

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from spinetrack.errors import ValidationError
from spinetrack.store.home import hash_link_token
from spinetrack.store.tables import PatientLinkRow

__all__ = ["CROCKFORD", "LINK_PURPOSES", "SHORT_CODE_LENGTH", "hash_link_token", "new_patient_link",
           "opt_out_url", "patient_link_url"]

LINK_PURPOSES = ("message", "letter", "manual", "new_link")
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base 32: no I, L, O, U
SHORT_CODE_LENGTH = 12
_LINKS = cast(Table, PatientLinkRow.__table__)


def _short_code() -> str:
    return "".join(secrets.choice(CROCKFORD) for _ in range(SHORT_CODE_LENGTH))


def new_patient_link(session: Session, episode_id: int, *, purpose: str, created_by: str,
                     outbox_id: int | None = None, short: bool = False, now: dt.datetime | None = None) -> str:
    """Create a link to episode ``episode_id``'s patient home in the caller's transaction and
    return its token (shown once: only its hash is stored)."""
    if purpose not in LINK_PURPOSES:
        raise ValidationError(field="purpose", value=purpose, allowed=LINK_PURPOSES)
    token = _short_code() if short else secrets.token_urlsafe(32)
    session.execute(insert(_LINKS), [{
        "token_hash": hash_link_token(token), "episode_id": episode_id, "outbox_id": outbox_id, "purpose": purpose,
        "created_by": created_by[:64], "created_at": now or dt.datetime.now(dt.UTC).replace(tzinfo=None),
        "revoked": False}])
    return token


def patient_link_url(link_base: str, token: str) -> str:
    """The address of the patient's home for ``token``."""
    return f"{link_base.rstrip('/')}/p/h/{token}"


def opt_out_url(link_base: str, token: str) -> str:
    """The opt-out page for ``token`` (a page with a confirm button; nothing happens on GET)."""
    return f"{patient_link_url(link_base, token)}/stop"
