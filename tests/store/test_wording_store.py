"""Installed questionnaire wording (store.wording): install (validated, hashed, audited, nothing
half-stored), newest active pack wins, language fallback, deactivation seen across processes,
the single-file pack, and the production refusal of an invitation.

Fixtures are our own made-up wording ("Test wording item 1"), never the licensed text."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from spinetrack.errors import ConflictError, PermissionDeniedError, ValidationError
from spinetrack.instruments.wording import WordingPackError
from spinetrack.store import wording as sw
from spinetrack.store.access import Access
from spinetrack.store.repositories import SYSTEM, Actor, Store
from spinetrack.store.tables import AuditRow, PatientIdentityRow, WordingPackRow

ADMIN = Actor("root", "admin")
T0 = dt.datetime(2026, 3, 2, 9, 0)
T_OPEN = dt.datetime(2025, 3, 20, 9, 0)


def pack(language: str = "es", title: str = "Título de prueba ODI", text: str = "Texto de prueba 1",
         name: str = "Test pack") -> dict[str, Any]:
    return {"name": name, "language": language, "licence": "test licence, made up",
            "instruments": {"odi": {"title": title, "items": {
                "pain_intensity": {"text": text, "options": {str(v): f"Opción de prueba {v}" for v in range(6)}}}}}}


def test_install_stores_the_canonical_hash_and_an_audit_entry(engine: Engine) -> None:
    store = Store(engine)
    data = pack()
    info = sw.install_pack(store, ADMIN, data, now=T0)
    # sha256 of the canonical JSON (sorted keys, no spaces, UTF-8), computed here independently
    want = hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
                          .encode("utf-8")).hexdigest()
    assert info.sha256 == want and info.instruments == ("odi",) and info.active
    with engine.connect() as c:
        row = c.execute(select(AuditRow).where(AuditRow.entity == "wording_pack")).one()
    assert row.action == "create" and row.actor == "root" and row.entity_id == str(info.id)
    # the same content again, keys reordered: refused as a duplicate, nothing added
    with pytest.raises(ConflictError, match="installed already"):
        sw.install_pack(store, ADMIN, json.loads(json.dumps(data, sort_keys=True)), now=T0)
    assert len(sw.list_packs(store)) == 1


def test_a_bad_pack_lists_every_problem_and_stores_nothing(engine: Engine) -> None:
    store = Store(engine)
    bad = pack()
    bad["instruments"]["odi"]["items"]["pain_intensity"]["options"]["7"] = "x"
    bad["instruments"]["odi"]["items"]["running"] = {"text": "x"}
    bad["instruments"]["sf36"] = {}
    with pytest.raises(WordingPackError) as err:
        sw.install_pack(store, ADMIN, bad, now=T0)
    wheres = [p.where for p in err.value.problems]
    assert wheres == ["instruments.odi.items.pain_intensity.options.7", "instruments.odi.items.running",
                      "instruments.sf36"]
    with engine.connect() as c:
        assert c.execute(select(func.count()).select_from(WordingPackRow)).scalar_one() == 0
        assert c.execute(select(func.count()).select_from(AuditRow).where(AuditRow.entity == "wording_pack")
                         ).scalar_one() == 0


def test_only_admins_install_or_deactivate(engine: Engine) -> None:
    store = Store(engine)
    with pytest.raises(PermissionDeniedError):
        sw.install_pack(store, Actor("dr", "clinician", 1), pack())
    info = sw.install_pack(store, ADMIN, pack())
    with pytest.raises(PermissionDeniedError):
        sw.deactivate_pack(store, Actor("co", "coordinator", 1), info.id)


def test_resolution_newest_pack_then_ours_then_neutral_and_language_fallback(engine: Engine) -> None:
    store = Store(engine)
    en = sw.wording_for(store, "en")
    assert en.source("odi") == "neutral" and en.source("nrs_back") == "spinetrack"
    assert sw.missing_wording(store, ["odi", "nrs_back", "analgesics"], "es") == ["odi"]
    sw.install_pack(store, ADMIN, pack("es-MX", title="Antiguo", name="old"), now=T0)
    newer = sw.install_pack(store, ADMIN, pack("es-MX", title="Nuevo", name="new"), now=T0 + dt.timedelta(hours=1))
    es = sw.wording_for(store, "es")
    # es-MX serves es; the newest active pack wins
    assert es.source("odi") == "licensed" and es.title("odi") == "Nuevo" and es.pack_name("odi") == "new"
    assert es.text("odi", "pain_intensity") == "Texto de prueba 1"
    assert es.option("odi", "pain_intensity", "5") == "Opción de prueba 5"
    assert es.text("odi", "walking") == "Caminar"   # not in the pack: the neutral label, in Spanish
    assert sw.wording_for(store, "en").source("odi") == "neutral"  # a Spanish pack does not word English
    sw.deactivate_pack(store, ADMIN, newer.id)
    assert sw.wording_for(store, "es").title("odi") == "Antiguo"
    with pytest.raises(ConflictError):
        sw.deactivate_pack(store, ADMIN, newer.id)


def test_a_change_by_another_process_is_seen(engine: Engine) -> None:
    store, other = Store(engine), Store(engine)  # two processes' stores on one database
    assert sw.wording_for(store, "es").source("odi") == "neutral"
    info = sw.install_pack(other, ADMIN, pack())
    sw._version -= 1  # as if the bump happened in the other process only
    assert sw.wording_for(store, "es").source("odi") == "licensed"
    sw.deactivate_pack(other, ADMIN, info.id)
    sw._version -= 1
    assert sw.wording_for(store, "es").source("odi") == "neutral"


def test_the_single_file_pack_is_read_as_an_installed_pack(engine: Engine, tmp_path: Path) -> None:
    store = Store(engine)
    path = tmp_path / "pack.json"
    path.write_text(json.dumps(pack("es", title="Del archivo")), encoding="utf-8")
    sw.configure(store, file_pack=str(path))
    assert sw.wording_for(store, "es").title("odi") == "Del archivo"
    sw.install_pack(store, ADMIN, pack("es", title="De la base de datos"))
    assert sw.wording_for(store, "es").title("odi") == "De la base de datos"  # installed packs come first
    (tmp_path / "bad.json").write_text(json.dumps({"name": "x"}), encoding="utf-8")
    with pytest.raises(WordingPackError):
        sw.configure(store, file_pack=str(tmp_path / "bad.json"))


def _episode(store: Store, language: str | None) -> int:
    """A patient at site 1 treated on 2025-01-06: the 3-month window runs 11 March to 22 May 2025
    (day 64 to 136, ``domain.pathway.TIMEPOINTS``), open on ``T_OPEN``."""
    site = store.add_site(SYSTEM, code="A", name="A")
    actor = Actor("setup", "clinician", site)
    identity: dict[str, Any] = {"full_name": "Jo Doe", "mrn": "M1"}
    if language is not None:
        identity["language"] = language
    pid = store.add_patient(actor, site, {"birth_year": 1970, "sex": "male"}, identity=identity)
    eid = store.add_episode(actor, pid, {"diagnosis_code": "M48.062", "levels": "L4-L5", "enrolled_on": "2025-01-02",
                                         "treatment": "open", "treatment_family": "decompression"})
    store.add_procedure(actor, eid, {"procedure_code": "decompression_open", "performed_on": "2025-01-06",
                                     "levels": "L4-L5"})
    return eid


@pytest.mark.parametrize("language", ["es", None])
def test_production_refuses_an_invitation_without_wording_in_the_patients_language(
        engine: Engine, language: str | None) -> None:
    store = Store(engine)
    eid = _episode(store, language)
    access = Access(store, env="production")
    actor = Actor("co", "coordinator", 1)
    T0 = T_OPEN
    with pytest.raises(ValidationError) as err:
        access.create_invitation(actor, eid, timepoint="3m", instrument_codes=["nrs_back", "odi"], now=T0)
    assert err.value.field == "invitation.instruments" and "odi" in str(err.value)
    assert "Admin → Questionnaire wording" in str(err.value) and "spinetrack wording install" in str(err.value)
    # our own instruments need no pack
    access.create_invitation(actor, eid, timepoint="3m", instrument_codes=["nrs_back", "analgesics"], now=T0)
    # with the wording installed in the patient's language (English when none is recorded) it goes
    sw.install_pack(store, ADMIN, pack(language or "en-GB"))
    access.create_invitation(actor, eid, timepoint="3m", instrument_codes=["nrs_back", "odi"], now=T0)
    # outside production the numbered labels are allowed
    Access(store).create_invitation(actor, eid, timepoint="3m", instrument_codes=["rmdq"], now=T0)
    with engine.connect() as c:
        assert c.execute(select(PatientIdentityRow.language)).scalar_one() == language
