"""The printed report's drawn intervals (:mod:`spinetrack.reports.interval_png`): decoded with
Pillow (the PNG reader matplotlib uses), each picture shows what the screen page draws in CSS
for the same row: the estimate, its interval, 0 and the claimed side."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import pytest
from PIL import Image

from spinetrack.reports import render_html
from spinetrack.reports.interval_png import HEIGHT, INTERVAL, POINT, SHADE, WIDTH, ZERO, interval_png

WHITE = (255, 255, 255)


def _image(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()  # checks every chunk's CRC and the zlib stream
    return image


def _x(fraction: float) -> int:
    return round(fraction * (WIDTH - 1))


@pytest.mark.parametrize("claimed_below", [True, False])
def test_the_picture_shows_estimate_interval_zero_and_claimed_side(claimed_below: bool) -> None:
    est, low, high, zero = 0.30, 0.20, 0.45, 0.75
    image = _image(interval_png(est, low, high, zero, claimed_below=claimed_below))
    assert image.format == "PNG" and image.mode == "RGB" and image.size == (WIDTH, HEIGHT)
    px = image.getpixel
    assert px((_x(est), 5)) == px((_x(est), 12)) == POINT
    assert px((_x(0.22), 8)) == px((_x(0.43), 8)) == INTERVAL  # inside the interval, beside the square
    assert px((_x(0.17), 8)) != INTERVAL and px((_x(0.48), 8)) != INTERVAL
    assert px((_x(zero), 0)) == ZERO and px((_x(zero), 3)) != ZERO  # dashed
    left, right = px((5, 16)), px((WIDTH - 5, 16))
    assert (left, right) == ((SHADE, WHITE) if claimed_below else (WHITE, SHADE))


def test_the_print_page_draws_each_row_as_the_screen_page_does() -> None:
    """Per claim table row, the screen page's CSS square (``fp-pt``, left in % of the axis) and
    the print page's PNG put the estimate at the same place."""
    doc = json.loads(Path(__file__).with_name("scorecard_example.json").read_text(encoding="utf-8"))
    screen, printed = render_html(doc), render_html(doc, for_print=True)
    points = [float(x) for x in re.findall(r'class="fp-pt" style="left:([-\d.]+)%"', screen)]
    images = re.findall(r'class="fp-img" alt="" aria-hidden="true" src="data:image/png;base64,([^"]+)"', printed)
    assert points and len(images) == len(points) and 'class="fp"' not in printed
    for left, data in zip(points, images, strict=True):
        assert _image(base64.b64decode(data)).getpixel((_x(left / 100), 8)) == POINT
