"""Admin page "Questionnaire wording": which instruments a patient reads in licensed wording, in
spinetrack's own wording or in numbered demonstration labels, per language; upload a licensed
wording pack; take one out of use; preview an instrument as a patient sees it.

Routes
------
``GET  /admin/wording``                     the grid (instrument × language), the installed packs, the
                                            upload form
``POST /admin/wording``                     upload a pack (multipart field ``pack``, JSON of at most
                                            :data:`MAX_PACK_BYTES`): validated by
                                            :func:`spinetrack.store.wording.install_pack`; every problem is
                                            listed at once on the page (422) and nothing is stored
``POST /admin/wording/{pack_id}/deactivate`` take a pack out of use
``GET  /admin/wording/preview``             ``instrument``, ``language``: the instrument's title, hint,
                                            questions and answers as the patient pages show them

Admins only (the role dependency also checks the CSRF token of every POST); installs and
deactivations are audited by the store; a successful POST answers with a redirect
(POST/redirect/GET).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData, UploadFile

from spinetrack import i18n, instruments
from spinetrack.errors import ConflictError, NotFoundError, ValidationError
from spinetrack.i18n import N_
from spinetrack.i18n import gettext as _
from spinetrack.instruments.base import ItemType
from spinetrack.instruments.wording import WordingPackError
from spinetrack.store import wording as store_wording
from spinetrack.web.deps import Admin

__all__ = ["MAX_PACK_BYTES", "router"]

router = APIRouter(include_in_schema=False)

MAX_PACK_BYTES = 1_000_000
PackId = Annotated[int, Path(ge=1, le=2_147_483_647)]
SOURCES = {"licensed": N_("Licensed wording"), "spinetrack": N_("spinetrack's own wording"),
           "neutral": N_("Numbered labels (demonstration only)")}
NOTICES = {"installed": N_("Wording pack installed. Patients read it from their next page."),
           "deactivated": N_("Wording pack taken out of use.")}


async def _form(request: Request) -> AsyncIterator[FormData]:
    form = await request.form()
    try:
        yield form
    finally:
        await form.close()  # the uploaded file's temporary copy, also when the upload is refused


FormDep = Annotated[FormData, Depends(_form)]


def _render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    response: Response = request.app.state.templates.TemplateResponse(request, name, context, status_code=status)
    return response


def _page(request: Request, user: Any, *, status: int = 200, problems: list[str] | None = None,
          error: str | None = None, notice: str | None = None) -> Response:
    store = request.app.state.store
    grid = store_wording.coverage(store)
    rows = [{"code": code, "title": instruments.get(code).definition.title,
             "cells": [{"language": lang, "source": src, "label": _(SOURCES[src]), "pack": pack}
                       for lang, (src, pack) in by_lang.items()]}
            for code, by_lang in grid.items()]
    production = store_wording.policy(store).production or request.app.state.settings.env == "production"
    file_pack = store_wording.policy(store).file_pack
    return _render(request, "admin/wording.html", {
        "user": user, "rows": rows, "languages": i18n.LANGUAGES, "language_names": i18n.LANGUAGE_NAMES,
        "packs": store_wording.list_packs(store), "problems": problems or [], "error": error,
        "notice": _(NOTICES[notice]) if notice in NOTICES else None, "production": production,
        "max_kb": MAX_PACK_BYTES // 1000,
        "file_pack": file_pack.name if file_pack is not None else None},
        status)


@router.get("/admin/wording")
def wording_page(request: Request, user: Admin,
                 notice: Annotated[str | None, Query(max_length=32)] = None) -> Response:
    return _page(request, user, notice=notice)


def _read_upload(form: FormData) -> Any:
    upload = form.get("pack")
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise ValidationError(field="pack", value=None, allowed="a wording pack (JSON file)",
                              reason=_("no file was chosen"))
    try:
        raw = upload.file.read(MAX_PACK_BYTES + 1)
    finally:
        upload.file.close()
    if len(raw) > MAX_PACK_BYTES:
        raise ValidationError(field="pack", value=f"{len(raw)} bytes", allowed=f"at most {MAX_PACK_BYTES} bytes",
                              reason=_("the file is too large"))
    try:
        return json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise ValidationError(field="pack", value=upload.filename[:80], allowed="a UTF-8 JSON file",
                              reason=_("the file is not text")) from None
    except json.JSONDecodeError as exc:
        raise ValidationError(field="pack", value=upload.filename[:80], allowed="a JSON file",
                              reason=_("the file is not valid JSON (line %(line)s: %(msg)s)", line=exc.lineno,
                                       msg=exc.msg)) from None


@router.post("/admin/wording")
def upload_pack(request: Request, user: Admin, form: FormDep) -> Response:
    try:
        data = _read_upload(form)
        store_wording.install_pack(request.app.state.store, user.actor, data)
    except WordingPackError as exc:
        return _page(request, user, status=422, problems=[str(p) for p in exc.problems],
                     error=_("Nothing was installed: the pack has %(n)s problem(s). Please correct them all and "
                             "upload it again.", n=len(exc.problems)))
    except ValidationError as exc:
        return _page(request, user, status=422, error=_("Nothing was installed: %(reason)s.",
                                                        reason=exc.reason or str(exc)))
    except ConflictError as exc:
        return _page(request, user, status=409, error=_("Nothing was installed: %(reason)s.", reason=str(exc)))
    return RedirectResponse("/admin/wording?notice=installed", status_code=303)


@router.post("/admin/wording/{pack_id}/deactivate")
def deactivate(request: Request, user: Admin, pack_id: PackId) -> Response:
    try:
        store_wording.deactivate_pack(request.app.state.store, user.actor, pack_id)
    except ConflictError as exc:
        return _page(request, user, status=409, error=str(exc))
    return RedirectResponse("/admin/wording?notice=deactivated", status_code=303)


@router.get("/admin/wording/preview")
def preview(request: Request, user: Admin, instrument: Annotated[str, Query(max_length=32)],
            language: Annotated[str, Query(max_length=8)] = i18n.DEFAULT_LANGUAGE) -> Response:
    inst = instruments.get(instrument)
    if language not in i18n.LANGUAGES:
        raise ValidationError(field="language", value=language, allowed=i18n.LANGUAGES)
    w = store_wording.wording_for(request.app.state.store, language)
    code = inst.definition.code
    items = []
    for it in inst.definition.items:
        options = ([{"value": o.value, "text": w.option(code, it.code, o.code)} for o in it.options]
                   if it.type is ItemType.CHOICE else [])
        items.append({"code": it.code, "text": w.text(code, it.code), "required": it.required, "options": options,
                      "kind": it.type.value, "allowed": it.allowed_text()})
    source = w.source(code)
    if not items:
        raise NotFoundError(entity="questionnaire", key=instrument)
    return _render(request, "admin/wording_preview.html", {
        "user": user, "code": code, "language": language, "language_name": i18n.LANGUAGE_NAMES[language],
        "title": w.title(code), "hint": w.hint(code), "items": items, "source": source,
        "source_label": _(SOURCES[source]), "pack": w.pack_name(code),
        "neutral_note": w.neutral_note() if source == "neutral" else None,
        "instruments": [(i.definition.code, i.definition.title) for i in instruments.all()],
        "languages": i18n.LANGUAGES, "language_names": i18n.LANGUAGE_NAMES})
