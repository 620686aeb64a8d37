"""The site's installed questionnaire wording (table ``wording_packs``): install a licensed pack,
list, deactivate, and the :class:`~spinetrack.instruments.wording.Wording` a patient reads in a
language (:func:`wording_for`).

* :func:`install_pack` validates the pack against the instrument definitions (every problem at
  once, :class:`~spinetrack.instruments.wording.WordingPackError`), stores it with the SHA-256 of
  its canonical content (the same pack twice is refused) and an audit entry, in one transaction:
  nothing is half-stored. Admins only (and the ``system`` actor).
* :func:`deactivate_pack` takes a pack out of use (kept, audited); the newest active pack that
  words an instrument in a language is used.
* :func:`wording_for` is cached per store and language. The cache key is read with one cheap
  aggregate (count, newest id and sum of the ids of the active packs), so a pack installed or
  deactivated by another process or worker is seen at the next call; this process bumps a version
  as well.
* The older single-file setting ``SPINETRACK_WORDING_PACK`` (``Settings.wording_pack``) still works:
  the edge (``web.app``, the CLI) calls :func:`configure` with the file, which is read, validated
  and treated as an installed pack older than every pack in the database.
* :func:`configure` also says whether the installation is in production, where an invitation
  may not include an instrument without wording in the patient's language
  (:func:`refusal_reason`; ``store.visits.Visits.create_invitation`` and the follow-up scheduler).
"""

from __future__ import annotations

import datetime as dt
import threading
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from spinetrack import clock, i18n, instruments
from spinetrack.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from spinetrack.instruments.wording import (
    NEUTRAL_NOTE,
    Wording,
    WordingPack,
    base_language,
    load_wording_pack,
    parse_wording_pack,
)
from spinetrack.store import audit
from spinetrack.store.repositories import Actor, Store
from spinetrack.store.tables import WordingPackRow

__all__ = [
    "FIX_HINT",
    "NEUTRAL_NOTE",
    "InstalledPack",
    "WordingPolicy",
    "configure",
    "coverage",
    "deactivate_pack",
    "install_pack",
    "list_packs",
    "missing_wording",
    "neutral_note",
    "policy",
    "refusal_reason",
    "wording_for",
]

FIX_HINT = ("install the licensed wording at Admin → Questionnaire wording, or `spinetrack wording install`")
"""Where a refused invitation's wording is fixed (said in every refusal)."""
ADMIN_ROLES = ("admin", "system")


@dataclass(frozen=True, slots=True)
class WordingPolicy:
    """What the edge tells the store about wording: production (refuse invitations without
    wording) and the single-file pack of ``SPINETRACK_WORDING_PACK``, if any."""

    production: bool = False
    file_pack: WordingPack | None = None


@dataclass(frozen=True, slots=True)
class InstalledPack:
    id: int
    name: str
    language: str
    licence: str
    instruments: tuple[str, ...]
    sha256: str
    active: bool
    uploaded_by: str
    uploaded_at: dt.datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "language": self.language, "licence": self.licence,
                "instruments": list(self.instruments), "sha256": self.sha256, "active": self.active,
                "uploaded_by": self.uploaded_by,
                "uploaded_at": self.uploaded_at.isoformat(timespec="seconds") if self.uploaded_at else None}


_POLICIES: weakref.WeakKeyDictionary[Store, WordingPolicy] = weakref.WeakKeyDictionary()
_CACHE: weakref.WeakKeyDictionary[Store, dict[str, tuple[Any, Wording]]] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()
_version = 0


def _bump() -> None:
    global _version
    with _LOCK:
        _version += 1


def configure(store: Store, *, production: bool = False, file_pack: str | None = None) -> WordingPolicy:
    """Tell the store (at the edge, from the settings) whether it runs in production and which
    single-file pack to read (``SPINETRACK_WORDING_PACK``; validated now, so a bad file stops the
    start with every problem named)."""
    pack = load_wording_pack(file_pack) if file_pack else None
    found = WordingPolicy(production=production, file_pack=pack)
    _POLICIES[store] = found
    _bump()
    return found


def policy(store: Store) -> WordingPolicy:
    """The store's policy (not in production, no file pack, unless :func:`configure` said so)."""
    return _POLICIES.get(store, WordingPolicy())


# ----------------------------------------------------------------------------- install, list, deactivate

def _require_admin(actor: Actor, what: str) -> None:
    if actor.role not in ADMIN_ROLES:
        raise PermissionDeniedError(f"only an admin may {what}", role=actor.role)


def _info(row: WordingPackRow) -> InstalledPack:
    return InstalledPack(row.id, row.name, row.language, row.licence,
                         tuple((row.content or {}).get("instruments", {})), row.sha256, bool(row.active),
                         row.uploaded_by, row.uploaded_at)


def install_pack(store: Store, actor: Actor, data: Mapping[str, Any] | WordingPack, *,
                 now: dt.datetime | None = None) -> InstalledPack:
    """Validate and store a pack (admins). Raises ``WordingPackError`` listing every problem,
    ``ConflictError`` when the same content is installed already; nothing is stored then."""
    _require_admin(actor, "install questionnaire wording")
    pack = data if isinstance(data, WordingPack) else parse_wording_pack(data)
    digest = pack.sha256
    with store.transaction() as s:
        existing = s.execute(select(WordingPackRow.id).where(WordingPackRow.sha256 == digest)).scalar()
        if existing is not None:
            raise ConflictError(f"this wording pack is installed already (pack {existing}); deactivate it there "
                                "or change the pack", field="wording_pack")
        row = WordingPackRow(name=pack.name, language=pack.language, licence=pack.licence, content=pack.as_dict(),
                             sha256=digest, active=True, uploaded_by=actor.name,
                             uploaded_at=now or clock.utcnow())
        s.add(row)
        s.flush()
        audit.append(s, actor=actor.name, actor_role=actor.role, action="create", entity="wording_pack",
                     entity_id=row.id, detail={"name": pack.name, "language": pack.language,
                                               "instruments": sorted(pack.instruments), "sha256": digest})
        info = _info(row)
    _bump()
    return info


def list_packs(store: Store, *, active_only: bool = False) -> list[InstalledPack]:
    """Installed packs, newest first (the wording itself is not returned)."""
    with store.transaction() as s:
        q = select(WordingPackRow).order_by(WordingPackRow.uploaded_at.desc(), WordingPackRow.id.desc())
        if active_only:
            q = q.where(WordingPackRow.active.is_(True))
        return [_info(r) for r in s.execute(q).scalars()]


def deactivate_pack(store: Store, actor: Actor, pack_id: int) -> InstalledPack:
    """Take a pack out of use (admins; kept in the table, audited). Refused when already inactive."""
    _require_admin(actor, "deactivate questionnaire wording")
    if isinstance(pack_id, bool) or not isinstance(pack_id, int):
        raise ValidationError(field="wording_pack.id", value=pack_id, allowed="a pack number")
    with store.transaction() as s:
        row = s.get(WordingPackRow, pack_id)
        if row is None:
            raise NotFoundError(entity="wording pack", key=pack_id)
        if not row.active:
            raise ConflictError(f"wording pack {pack_id} is not in use already", field="wording_pack.id")
        row.active = False
        audit.append(s, actor=actor.name, actor_role=actor.role, action="deactivate", entity="wording_pack",
                     entity_id=row.id, detail={"name": row.name, "language": row.language, "sha256": row.sha256})
        info = _info(row)
    _bump()
    return info


# ----------------------------------------------------------------------------- reading


def _state(s: Session) -> tuple[int, int, int]:
    """A cheap fingerprint of the active packs (count, newest id, sum of ids): it changes with every
    install (ids only grow) and every deactivation (a pack never comes back)."""
    row = s.execute(select(func.count(WordingPackRow.id), func.max(WordingPackRow.id), func.sum(WordingPackRow.id))
                    .where(WordingPackRow.active.is_(True))).one()
    return int(row[0] or 0), int(row[1] or 0), int(row[2] or 0)


def _active_packs(s: Session, language: str) -> list[WordingPack]:
    rows = s.execute(select(WordingPackRow.content, WordingPackRow.language)
                     .where(WordingPackRow.active.is_(True))
                     .order_by(WordingPackRow.uploaded_at.desc(), WordingPackRow.id.desc())).all()
    packs = []
    for content, lang in rows:
        if base_language(lang) != language:
            continue
        packs.append(parse_wording_pack(content, "wording_packs.content"))
    return packs


def _translator(language: str) -> Any:
    if language not in i18n.LANGUAGES:
        return None
    catalog = i18n.translations(language)
    return catalog.gettext


def wording_for(store: Store, language: str | None, *, session: Session | None = None) -> Wording:
    """What a patient reads in ``language`` (``None``: English): installed packs (newest first),
    then the single-file pack, then spinetrack's own wording, then the numbered labels.
    ``session``: read inside this transaction (a caller already in one)."""
    if session is None:
        with store.transaction() as s:
            return _wording_for(store, language, s)
    return _wording_for(store, language, session)


def _wording_for(store: Store, language: str | None, s: Session) -> Wording:
    lang = base_language(language or i18n.DEFAULT_LANGUAGE)
    pol = policy(store)
    key = (_version, _state(s), id(pol))
    cached = _CACHE.get(store, {}).get(lang)
    if cached is not None and cached[0] == key:
        return cached[1]
    packs = _active_packs(s, lang)
    if pol.file_pack is not None:
        packs.append(pol.file_pack)
    found = Wording.build(lang, packs, _translator(lang))
    with _LOCK:
        _CACHE.setdefault(store, {})[lang] = (key, found)
    return found


def missing_wording(store: Store, codes: Iterable[str], language: str | None, *,
                    session: Session | None = None) -> list[str]:
    """The instruments among ``codes`` whose patient would read numbered labels in ``language``."""
    return wording_for(store, language, session=session).missing(codes)


def refusal_reason(store: Store, codes: Sequence[str], language: str | None, *,
                   session: Session | None = None) -> str | None:
    """Why an invitation with these questionnaires cannot go to a patient reading ``language``
    (None when it can): named instruments without wording, and where to fix it."""
    missing = missing_wording(store, codes, language, session=session)
    if not missing:
        return None
    lang = base_language(language or i18n.DEFAULT_LANGUAGE)
    names = ", ".join(f"{instruments.get(c).definition.title} ({c})" for c in missing)
    return (f"no wording installed in {i18n.LANGUAGE_NAMES.get(lang, lang)} ({lang}) for {names}; the patient "
            f"would read numbered statements. To fix it, {FIX_HINT}")


def neutral_note(language: str | None) -> str:
    """The one sentence a demonstration's question page says on a numbered questionnaire, in
    ``language`` (the same as ``Wording.neutral_note()``)."""
    return wording_for_language_only(language).neutral_note()


def wording_for_language_only(language: str | None) -> Wording:
    """A :class:`Wording` without any pack (spinetrack's own texts, translated)."""
    lang = base_language(language or i18n.DEFAULT_LANGUAGE)
    return Wording.build(lang, (), _translator(lang))


def coverage(store: Store, languages: Sequence[str] = i18n.LANGUAGES) -> dict[str, dict[str, tuple[str, str | None]]]:
    """Instrument code → language → ``(source, pack name)``, for the admin page's grid."""
    by_lang = {lang: wording_for(store, lang) for lang in languages}
    return {inst.definition.code: {lang: (w.source(inst.definition.code), w.pack_name(inst.definition.code))
                                   for lang, w in by_lang.items()}
            for inst in instruments.all()}
