"""The keys that stand for store rows outside the store: in snapshots (``snapshot.export``) and in
the OMOP and CSV exports (``interop``), so that one patient, episode or surgeon has the same key in
each of them under the same secret.

Without a secret the keys are the store's own: ``P<patient row id>``, the episode row id, and
``<site code>/<staff code>``. With one (a rekeyed export) they are HMAC-SHA256 digests (RFC 2104)
of a tagged message, which nobody without the secret can link back to the store, and which differ
between secrets. :func:`check_secret` and :func:`check_dir_target` are the checks every such
export makes before it writes anything.
"""

from __future__ import annotations

import hmac
from pathlib import Path

from spinetrack.errors import ValidationError

__all__ = ["MIN_SECRET_LENGTH", "check_dir_target", "check_secret", "episode_key", "patient_key", "surgeon_key"]

MIN_SECRET_LENGTH = 16

_INT63 = 0x7FFF_FFFF_FFFF_FFFF


def patient_key(secret: bytes | None, patient_id: int) -> str:
    """``P<id>``, or ``HMAC-SHA256(secret, "patient:<id>")`` as hex cut to 16 characters (64 bits)."""
    if secret is None:
        return f"P{patient_id}"
    return hmac.digest(secret, b"patient:%d" % patient_id, "sha256").hex()[:16]


def episode_key(secret: bytes | None, episode_id: int) -> int:
    """The episode's row id, or the first 8 bytes of ``HMAC-SHA256(secret, "episode:<id>")``,
    big-endian, as a non-negative int64."""
    if secret is None:
        return episode_id
    return int.from_bytes(hmac.digest(secret, b"episode:%d" % episode_id, "sha256")[:8], "big") & _INT63


def surgeon_key(secret: bytes | None, surgeon: str | None) -> str | None:
    """``<site>/<surgeon>`` unchanged, or ``<site>/S`` + ``HMAC-SHA256(secret, "surgeon:<site>/<surgeon>")``
    as hex cut to 10 characters: the site code is in every export anyway, the staff identifier is not."""
    if surgeon is None or secret is None:
        return surgeon
    return surgeon.split("/", 1)[0] + "/S" + hmac.digest(secret, b"surgeon:" + surgeon.encode(), "sha256").hex()[:10]


def check_secret(secret: str | bytes | None) -> bytes | None:
    """The rekeying secret as bytes (None: no rekeying); at least :data:`MIN_SECRET_LENGTH` bytes."""
    if secret is None:
        return None
    raw = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    if len(raw) < MIN_SECRET_LENGTH:
        raise ValidationError(field="rekey", value="(secret withheld)",
                              allowed=f"a secret of at least {MIN_SECRET_LENGTH} bytes",
                              reason="a short secret can be guessed, which would make the keys linkable again")
    return raw


def check_dir_target(target: Path, overwrite: bool) -> None:
    """An export directory must be new or empty (or ``overwrite``), and not a file."""
    if target.exists() and not target.is_dir():
        raise ValidationError(field="out", value=str(target), allowed="a directory (new or empty)",
                              reason="a file of that name exists")
    if target.is_dir() and any(target.iterdir()) and not overwrite:
        raise ValidationError(field="out", value=str(target), allowed="a new or empty directory",
                              reason="the directory is not empty; pass --overwrite to replace it")
