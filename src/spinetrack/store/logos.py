"""A clinic's logo: the check of an uploaded file, and storing, removing and reading it.

The logo is shown on the patient pages and printed on the clinic's letters, so it must be an
image and nothing else. :func:`check_logo` (pure) accepts

- a **PNG** (``image/png``): the 8-byte PNG signature (ISO/IEC 15948 §5.2), an ``IHDR`` chunk of 13
  bytes first and an ``IEND`` chunk last (§5.6, §11.2.2);
- an **SVG** (``image/svg+xml``): well-formed XML in UTF-8 (or the encoding it declares) whose
  root is an ``svg`` element of the SVG namespace, with no document type declaration (no
  entities), no processing instruction (no style sheet to fetch), no ``script``,
  ``foreignObject``, ``iframe``, ``embed``, ``object``, ``audio``, ``video`` or HTML element (an
  editor's own metadata, Inkscape's say, may stay), no event handler attribute (``on…``), no
  ``javascript:``, and no reference outside the file: every ``href`` points inside it (``#id``),
  no animation changes an ``href``, and styles have no ``@import`` and no ``url()`` except
  ``url(#id)``;

of at most :data:`MAX_LOGO_BYTES` (20 kB), judged by its content, never by its name or the type
the browser claims. Anything else is refused with a :class:`~spinetrack.errors.ValidationError`
naming the field ``site.logo`` and the allowed types.

:func:`set_site_logo` and :func:`remove_site_logo` (admins; audited, with the type and size,
never the bytes) change ``sites.logo`` / ``sites.logo_type``; the pages read it with
:func:`spinetrack.store.patient_frame.site_logo` (a logo is public: it is on every page the
clinic's patients open).
"""

from __future__ import annotations

import hashlib
import re
import struct
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from spinetrack.errors import NotFoundError, PermissionDeniedError, ValidationError
from spinetrack.store import audit
from spinetrack.store.patient_frame import LOGO_TYPES
from spinetrack.store.repositories import Actor, Store
from spinetrack.store.session import read_only
from spinetrack.store.tables import SiteRow

__all__ = ["LOGO_TYPES", "MAX_LOGO_BYTES", "Logo", "check_logo", "remove_site_logo", "require_site",
           "set_site_logo"]

MAX_LOGO_BYTES = 20 * 1024
FIELD = "site.logo"
ALLOWED = "a PNG or SVG image of at most 20 kB"

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_SVG_NS = "http://www.w3.org/2000/svg"
_XLINK_NS = "http://www.w3.org/1999/xlink"
_XHTML_NS = "http://www.w3.org/1999/xhtml"
_FORBIDDEN_ELEMENTS = frozenset({"script", "foreignobject", "iframe", "embed", "object", "audio", "video",
                                 "handler", "listener"})
_URL = re.compile(r"url\(\s*['\"]?\s*([^'\")\s]*)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Logo:
    """A checked logo: its bytes and its type (one of :data:`LOGO_TYPES`, the types the pages show)."""

    data: bytes
    media_type: str


def _refuse(name: str, reason: str) -> ValidationError:
    return ValidationError(field=FIELD, value=name, allowed=ALLOWED, reason=reason)


def check_logo(data: bytes, *, name: str = "") -> Logo:
    """The logo in ``data`` with its type, or a :class:`ValidationError` saying why not
    (module docstring). ``name`` (the file's name) only labels the message.

    >>> try:
    ...     check_logo(b"GIF89a...", name="logo.gif")
    ... except ValidationError as exc:
    ...     print(exc.field, exc.reason)
    site.logo the file is neither a PNG nor an SVG image
    """
    label = name or "the file"
    if not data:
        raise _refuse(label, "the file is empty")
    if len(data) > MAX_LOGO_BYTES:
        raise _refuse(label, f"the file is larger than 20 kB ({MAX_LOGO_BYTES:,} bytes)")
    if data.startswith(_PNG_SIGNATURE):
        _check_png(data, label)
        return Logo(data, "image/png")
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<?xml", b"<svg", b"<!--", b"<!doctype")):
        _check_svg(data, label)
        return Logo(data, "image/svg+xml")
    raise _refuse(label, "the file is neither a PNG nor an SVG image")


def _check_png(data: bytes, label: str) -> None:
    if len(data) < 8 + 25 + 12:
        raise _refuse(label, "the PNG file is cut short")
    length, kind = struct.unpack(">I4s", data[8:16])
    if kind != b"IHDR" or length != 13:
        raise _refuse(label, "the PNG file does not start with its image header")
    width, height = struct.unpack(">II", data[16:24])
    if width == 0 or height == 0:
        raise _refuse(label, "the PNG image has no pixels")
    if data[-12:] != b"\x00\x00\x00\x00IEND\xaeB`\x82":
        raise _refuse(label, "the PNG file does not end where a PNG ends (cut short or with something appended)")


def _local(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        return ns, local
    return "", tag


def _check_style(text: str, label: str) -> None:
    lowered = text.lower()
    if "@import" in lowered:
        raise _refuse(label, "the SVG imports a style sheet from elsewhere")
    if "javascript:" in lowered or "expression(" in lowered:
        raise _refuse(label, "the SVG has a script in its style")
    for target in _URL.findall(text):
        if not target.startswith("#"):
            raise _refuse(label, "the SVG refers to a file outside itself")


class _Builder(ET.TreeBuilder):
    """A tree builder that notes every processing instruction, before the root element too."""

    def __init__(self) -> None:
        super().__init__()
        self.pis: list[str] = []

    def pi(self, target: str, text: str | None = None) -> ET.Element:
        self.pis.append(target)
        return super().pi(target, text)


def _check_svg(data: bytes, label: str) -> None:
    lowered = data.lower()
    if b"<!doctype" in lowered or b"<!entity" in lowered:
        raise _refuse(label, "the SVG has a document type declaration (not allowed: it can define entities)")
    builder = _Builder()
    parser = ET.XMLParser(target=builder)
    try:
        parser.feed(data)
        root = parser.close()
    except (ET.ParseError, UnicodeError, ValueError) as exc:
        raise _refuse(label, f"the SVG is not well-formed XML ({exc})") from None
    if builder.pis:
        raise _refuse(label, "the SVG has a processing instruction (not allowed: it can load a style sheet)")
    if _local(root.tag) != (_SVG_NS, "svg"):
        raise _refuse(label, "the file's root element is not an svg element of the SVG namespace")
    for el in root.iter():
        ns, local = _local(el.tag)
        if ns == _XHTML_NS:
            raise _refuse(label, f"the SVG has an HTML element <{local}>")
        if local.lower() in _FORBIDDEN_ELEMENTS:
            raise _refuse(label, f"the SVG has a <{local}> element")
        if local in ("animate", "set") and _local(el.get("attributeName", ""))[1].split(":")[-1] == "href":
            raise _refuse(label, "the SVG changes a link by animation")
        if local == "style" and el.text:
            _check_style(el.text, label)
        for key, value in el.attrib.items():
            ans, attr = _local(key)
            if attr.lower().startswith("on"):
                raise _refuse(label, f"the SVG has an event handler ({attr})")
            if attr == "href" and ans in ("", _XLINK_NS) and not value.strip().startswith("#"):
                raise _refuse(label, "the SVG refers to a file outside itself")
            if "javascript:" in value.lower():
                raise _refuse(label, "the SVG has a script in an attribute")
            _check_style(value, label)


# -- the store -------------------------------------------------------------------------------------


def _admin(actor: Actor) -> None:
    if actor.role not in ("admin", "system"):
        raise PermissionDeniedError("only an admin manages the sites", role=actor.role)


def set_site_logo(store: Store, actor: Actor, site_id: int, data: bytes, *, name: str = "") -> Logo:
    """Check ``data`` (:func:`check_logo`) and make it the site's logo (admins); audited with
    its type, size and SHA-256. Nothing is stored when it is refused."""
    _admin(actor)
    logo = check_logo(data, name=name)
    with store.transaction() as s:
        row = s.get(SiteRow, site_id)
        if row is None:
            raise NotFoundError(entity="site", key=site_id)
        old = _describe(row.logo, row.logo_type)
        row.logo, row.logo_type = logo.data, logo.media_type
        audit.append(s, actor=actor.name, actor_role=actor.role, action="update", entity="site", entity_id=site_id,
                     detail={"changes": {"logo": [old, _describe(logo.data, logo.media_type)]}})
    return logo


def require_site(store: Store, site_id: int) -> None:
    """Raise :class:`NotFoundError` unless the site exists (a form about an unknown site answers
    404 before anything it carries is judged)."""
    with read_only(store.engine).connect() as conn:
        if conn.execute(select(SiteRow.id).where(SiteRow.id == site_id)).first() is None:
            raise NotFoundError(entity="site", key=site_id)


def remove_site_logo(store: Store, actor: Actor, site_id: int) -> bool:
    """Remove the site's logo (admins); audited. Returns whether there was one."""
    _admin(actor)
    with store.transaction() as s:
        row = s.get(SiteRow, site_id)
        if row is None:
            raise NotFoundError(entity="site", key=site_id)
        if row.logo is None:
            return False
        old = _describe(row.logo, row.logo_type)
        row.logo, row.logo_type = None, None
        audit.append(s, actor=actor.name, actor_role=actor.role, action="update", entity="site", entity_id=site_id,
                     detail={"changes": {"logo": [old, None]}})
    return True


def _describe(data: bytes | None, media_type: str | None) -> dict[str, Any] | None:
    if data is None:
        return None
    return {"type": media_type, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
