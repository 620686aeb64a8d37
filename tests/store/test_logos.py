"""The check of a clinic's logo (spinetrack.store.logos.check_logo), a pure function.

Oracles: the PNG signature and chunk layout of ISO/IEC 15948:2004 (W3C PNG, 2nd ed.) §5.2
(signature 137 80 78 71 13 10 26 10), §5.3 (length, type, data, CRC-32 of type and data), §11.2.2
(IHDR first, 13 bytes) and §11.2.5 (IEND last, empty, CRC AE 42 60 82); the images are made by
Pillow, an independent PNG writer. The SVG rules are spinetrack's (the module docstring): what
could run a script or fetch another file in a browser is refused.
"""

from __future__ import annotations

import io
import struct
import zlib

import pytest

from spinetrack.errors import ValidationError
from spinetrack.store.logos import MAX_LOGO_BYTES, check_logo

SVG_OPEN = '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="40" height="20">'


def png(width: int = 40, height: int = 20) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), (29, 79, 145)).save(buf, format="PNG")
    return buf.getvalue()


def png_of_size(size: int) -> bytes:
    """A valid PNG of exactly ``size`` bytes: Pillow's image with a tEXt chunk of padding before IEND."""
    base = png()
    body, iend = base[:-12], base[-12:]
    pad = size - len(base) - 12 - len(b"Comment\x00")
    assert pad >= 0
    data = b"Comment\x00" + b"x" * pad
    chunk = struct.pack(">I", len(data)) + b"tEXt" + data + struct.pack(">I", zlib.crc32(b"tEXt" + data))
    out = body + chunk + iend
    assert len(out) == size
    return out


def svg(inner: str = '<rect width="40" height="20" fill="#1d4f91"/>', opening: str = SVG_OPEN) -> bytes:
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{opening}{inner}</svg>'.encode()


def test_a_png_is_accepted_by_its_signature_and_chunks() -> None:
    data = png()
    assert data[:8] == bytes([137, 80, 78, 71, 13, 10, 26, 10])  # §5.2, as Pillow writes it
    logo = check_logo(data, name="logo.png")
    assert (logo.media_type, logo.data) == ("image/png", data)


def test_twenty_kilobytes_is_the_limit() -> None:
    assert MAX_LOGO_BYTES == 20 * 1024
    assert check_logo(png_of_size(20 * 1024)).media_type == "image/png"
    with pytest.raises(ValidationError) as big:
        check_logo(png_of_size(20 * 1024 + 1), name="big.png")
    assert big.value.field == "site.logo" and "larger than 20 kB" in str(big.value)
    assert "a PNG or SVG image of at most 20 kB" in str(big.value)


@pytest.mark.parametrize(("data", "why"), [
    (b"", "empty"),
    (b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "neither a PNG nor an SVG"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "neither a PNG nor an SVG"),  # a JPEG
    (b"<html><body>logo</body></html>", "neither a PNG nor an SVG"),
    (bytes([137, 80, 78, 71, 13, 10, 26, 10]) + b"not a png at all, just text after the signature....", "image header"),
    (png()[:-12], "does not end where a PNG ends"),  # cut before IEND
    (png() + b"<script>alert(1)</script>", "does not end where a PNG ends"),  # something appended
])
def test_what_is_not_a_png_or_svg_is_refused(data: bytes, why: str) -> None:
    with pytest.raises(ValidationError) as refused:
        check_logo(data, name="upload.bin")
    assert refused.value.field == "site.logo" and why in str(refused.value)
    assert refused.value.allowed == "a PNG or SVG image of at most 20 kB"


def test_a_plain_svg_is_accepted_with_internal_references_and_editor_metadata() -> None:
    assert check_logo(svg()).media_type == "image/svg+xml"
    inner = ('<defs><linearGradient id="g"><stop offset="0" stop-color="#fff"/></linearGradient>'
             '<path id="p" d="M0 0h10v10z"/></defs><use href="#p"/><use xlink:href="#p"/>'
             '<rect width="10" height="10" fill="url(#g)" style="fill:url(#g)"/>'
             '<style>.a { fill: url(#g); }</style><a href="#p"><text>North</text></a>'
             '<metadata><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/></metadata>'
             '<sodipodi:namedview xmlns:sodipodi="http://sodipodi.sourceforge.net/DTD/sodipodi-0.dtd"/>')
    assert check_logo(svg(inner)).media_type == "image/svg+xml"
    assert check_logo(b'<svg xmlns="http://www.w3.org/2000/svg"/>').media_type == "image/svg+xml"


@pytest.mark.parametrize(("data", "why"), [
    (svg("<script>alert(1)</script>"), "<script> element"),
    (svg('<script xlink:href="https://evil.example/x.js"/>'), "<script> element"),
    (svg('<rect onclick="alert(1)" width="1" height="1"/>'), "event handler (onclick)"),
    (svg("", opening=SVG_OPEN.replace("<svg ", '<svg onload="alert(1)" ')), "event handler (onload)"),
    (svg('<foreignObject><div xmlns="http://www.w3.org/1999/xhtml">x</div></foreignObject>'), "<foreignObject>"),
    (svg('<h:script xmlns:h="http://www.w3.org/1999/xhtml">alert(1)</h:script>'), "HTML element"),
    (svg('<image href="https://evil.example/track.png" width="1" height="1"/>'), "outside itself"),
    (svg('<image xlink:href="data:image/png;base64,AAAA" width="1" height="1"/>'), "outside itself"),
    (svg('<use href="other.svg#p"/>'), "outside itself"),
    (svg('<a href="javascript:alert(1)"><text>x</text></a>'), "outside itself"),
    (svg('<a href="#x"><set attributeName="href" to="https://evil.example"/></a>'), "animation"),
    (svg('<rect width="1" height="1" style="fill:url(https://evil.example/f.svg#g)"/>'), "outside itself"),
    (svg('<style>@import url("https://evil.example/a.css");</style>'), "imports a style sheet"),
    (svg('<rect width="1" height="1" fill="url(&#104;ttps://evil.example/#g)"/>'), "outside itself"),
    (svg("<iframe/>"), "<iframe> element"),
    (b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaa">]><svg xmlns="http://www.w3.org/2000/svg">&a;</svg>',
     "document type declaration"),
    (b'<?xml version="1.0"?><?xml-stylesheet href="https://evil.example/a.css"?>'
     b'<svg xmlns="http://www.w3.org/2000/svg"/>', "processing instruction"),
    (b'<svg xmlns="http://www.w3.org/2000/svg"><rect></svg>', "not well-formed XML"),
    (b"<svg><rect/></svg>", "not an svg element of the SVG namespace"),
    (b'<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"/>', "not an svg element"),
])
def test_an_svg_that_could_run_a_script_or_fetch_a_file_is_refused(data: bytes, why: str) -> None:
    with pytest.raises(ValidationError) as refused:
        check_logo(data, name="logo.svg")
    assert refused.value.field == "site.logo" and why in str(refused.value), str(refused.value)
    assert str(refused.value).startswith("site.logo: 'logo.svg' is not allowed; allowed: a PNG or SVG image")
