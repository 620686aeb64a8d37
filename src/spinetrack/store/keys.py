"""The keys that stand for store rows outside the store: in snapshots (``snapshot.export``) and in
the OMOP and CSV exports (``interop``), so that one patient, episode or surgeon has the same key in
each of them under the same secret.

Without a secret the keys are the store's own: ``P<patient row id>``, the episode row id, and
``<site code>/<staff code>``. With one (a rekeyed export) they are HMAC-SHA256 digests (RFC 2104)
of a tagged message, which nobody without the secret can link back to the store, and which differ
between secrets.
"""

from __future__ import annotations

import hmac

__all__ = ["episode_key", "patient_key", "surgeon_key"]

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
