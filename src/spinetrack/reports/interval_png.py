"""A claim table row's adjusted interval drawn as a small PNG, for the printed report.

On screen the interval is drawn in HTML and CSS (:func:`spinetrack.reports.claim_sections`):
a box with four positioned children. WeasyPrint lays out each positioned box on its own, and
the 109 rows of the demo report cost it about a second; one image per row costs it next to
nothing. The picture is the same: the claimed side of 0 shaded green, 0 as a dashed line, the
interval as a bar and the estimate as a square. Written with :mod:`zlib` alone (no matplotlib,
no Pillow): a row takes well under a millisecond.
"""

from __future__ import annotations

import base64
import struct
import zlib

__all__ = ["HEIGHT", "INTERVAL", "POINT", "SHADE", "WIDTH", "ZERO", "interval_img", "interval_png"]

WIDTH, HEIGHT = 400, 18  # pixels; printed at the column's width and 0.9 rem high
SHADE = (0xE2, 0xF0, 0xE5)  # the claimed side of 0 (svg.CLAIM_SHADE)
ZERO = (0x59, 0x59, 0x59)  # 0, dashed (svg.MUTED)
INTERVAL = (0x1A, 0x1A, 0x1A)  # the interval (svg.INK)
POINT = (0x0B, 0x5C, 0xAD)  # the estimate
_WHITE = (0xFF, 0xFF, 0xFF)


def _x(fraction: float) -> int:
    return min(WIDTH - 1, max(0, round(fraction * (WIDTH - 1))))


def interval_png(estimate: float, low: float, high: float, zero: float, *, claimed_below: bool) -> bytes:
    """The PNG of one interval; every position is a fraction of the row's axis (0 = left end).

    Parameters
    ----------
    estimate, low, high : float
        The estimate and its interval.
    zero : float
        Where 0 (no difference) lies.
    claimed_below : bool
        Whether the claim is supported below 0 (the left of ``zero`` is shaded) or above it.
    """
    z = _x(zero)
    base = bytearray(bytes(_WHITE) * WIDTH)
    shaded = range(0, z + 1) if claimed_below else range(z + 1, WIDTH)
    base[3 * shaded.start:3 * shaded.stop] = bytes(SHADE) * len(shaded)
    lo, hi = _x(low), max(_x(high), _x(low) + 1)
    centre = _x(estimate)
    left, right = max(0, centre - 6), min(WIDTH, centre + 7)
    rows = []
    for y in range(HEIGHT):
        row = bytearray(base)
        if (y // 3) % 2 == 0:  # dashes of 3 pixels, 2 wide
            row[3 * z:3 * z + 6] = bytes(ZERO) * 2
        if 7 <= y <= 9:
            row[3 * lo:3 * (hi + 1)] = bytes(INTERVAL) * (hi + 1 - lo)
        if 4 <= y <= 13:
            row[3 * left:3 * right] = bytes(POINT) * (right - left)
        rows.append(b"\x00" + bytes(row[:3 * WIDTH]))  # filter: none
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", WIDTH, HEIGHT, 8, 2, 0, 0, 0))
            + _chunk(b"IDAT", zlib.compress(b"".join(rows), 6)) + _chunk(b"IEND", b""))


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def interval_img(estimate: float, low: float, high: float, zero: float, *, claimed_below: bool) -> str:
    """The ``<img>`` of :func:`interval_png`, hidden from screen readers (the row gives the numbers)."""
    data = base64.b64encode(interval_png(estimate, low, high, zero, claimed_below=claimed_below)).decode("ascii")
    return f'<img class="fp-img" alt="" aria-hidden="true" src="data:image/png;base64,{data}">'
