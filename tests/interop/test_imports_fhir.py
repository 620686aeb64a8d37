"""FHIR file imports (:mod:`spinetrack.interop.imports.fhir_import`): the round trip of the issue —
a researcher's pseudonymised Bulk export (NDJSON, one resource type per file, as the HL7 Bulk Data
Access IG's ``$export`` writes them) of a demo database imported into an empty one gives the same
``spinetrack status`` counts, sites recreated from the Organization resources — and a transaction
Bundle with one bad entry, reported at its entry with nothing stored."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from spinetrack.interop.fhir import FhirScope, stream_resources
from spinetrack.interop.imports.fhir_import import read_fhir
from spinetrack.store.imports import write_records
from spinetrack.store.repositories import SYSTEM, Store
from spinetrack.store.session import make_engine
from spinetrack.store.status import compute_status
from spinetrack.store.tables import PatientRow, PromResponseRow, SiteRow
from spinetrack.synth.load import load_demo


def _engine(tmp_path: Path, template: Path, name: str) -> Engine:
    path = tmp_path / f"{name}.sqlite"
    shutil.copyfile(template, path)
    return make_engine(f"sqlite:///{path}")


@pytest.fixture
def exported(tmp_path: Path, _sqlite_head: Path) -> Iterator[tuple[Engine, Path]]:
    source = _engine(tmp_path, _sqlite_head, "source")
    load_demo(source, patients=40, seed=11)
    out = tmp_path / "export"
    out.mkdir()
    handles: dict[str, Any] = {}
    try:
        for rtype, res in stream_resources(Store(source), FhirScope(None, False)):
            if rtype not in handles:
                handles[rtype] = (out / f"{rtype}.ndjson").open("w", encoding="utf-8")
            handles[rtype].write(json.dumps(res) + "\n")
    finally:
        for h in handles.values():
            h.close()
    yield source, out
    source.dispose()


def test_bulk_export_round_trip_gives_the_same_status(exported: tuple[Engine, Path], tmp_path: Path,
                                                      _sqlite_head: Path) -> None:
    source, out = exported
    target = _engine(tmp_path, _sqlite_head, "target")
    with read_fhir(sorted(out.glob("*.ndjson"))) as src:
        res = write_records(Store(target), SYSTEM, source_system="fhir:export", records=src, files=src.files)
    assert res.ok and res.stored, [p.message for p in res.errors[:5]]
    before, after = compute_status(source), compute_status(target)
    for key in ("sites", "patients", "episodes", "procedures", "complications", "readmissions", "reoperations",
                "prom_responses", "procedures_by_approach"):
        assert after[key] == before[key], key
    with source.connect() as a, target.connect() as b:
        scores = select(func.sum(PromResponseRow.score), func.count(PromResponseRow.id))
        assert b.execute(scores).one() == pytest.approx(a.execute(scores).one())  # rescored from the answers
        assert sorted(b.execute(select(SiteRow.code)).scalars()) == sorted(a.execute(select(SiteRow.code)).scalars())
    with read_fhir(sorted(out.glob("*.ndjson"))) as src:
        again = write_records(Store(target), SYSTEM, source_system="fhir:export", records=src)
    assert again.totals().created == 0 and again.totals().unchanged == res.totals().created


def test_bundle_with_a_bad_entry_stores_nothing(exported: tuple[Engine, Path], tmp_path: Path,
                                                _sqlite_head: Path) -> None:
    _source, out = exported

    def first(rtype: str, where: Any = None) -> dict[str, Any]:
        for line in (out / f"{rtype}.ndjson").read_text(encoding="utf-8").splitlines():
            res = json.loads(line)
            if where is None or where(res):
                return dict(res)
        raise AssertionError(rtype)

    qr = first("QuestionnaireResponse")
    episode_ref = next(e["valueReference"]["reference"] for e in qr["extension"] if "valueReference" in e)
    episode = first("EpisodeOfCare", lambda r: f"EpisodeOfCare/{r['id']}" == episode_ref)
    patient = first("Patient", lambda r: f"Patient/{r['id']}" == episode["patient"]["reference"])
    condition_ref = episode["diagnosis"][0]["condition"]["reference"]
    condition = first("Condition", lambda r: f"Condition/{r['id']}" == condition_ref)
    org = first("Organization", lambda r: f"Organization/{r['id']}" == patient["managingOrganization"]["reference"])
    bad = {**qr, "id": "broken", "status": "not-a-status"}
    entries = [org, patient, episode, condition, qr, bad]
    bundle = {"resourceType": "Bundle", "type": "transaction",
              "entry": [{"fullUrl": f"{r['resourceType']}/{r['id']}", "resource": r,
                         "request": {"method": "POST", "url": r["resourceType"]}} for r in entries]}
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    target = _engine(tmp_path, _sqlite_head, "bundle")
    with read_fhir([path]) as src:
        res = write_records(Store(target), SYSTEM, source_system="fhir:bundle", records=src)
    assert not res.stored
    assert [(p.location, p.entity, p.source_id) for p in res.errors] == [
        ("bundle.json Bundle.entry[5]", "response", "broken")]
    assert res.errors[0].field.startswith("Bundle.entry[5].resource") and "status" in res.errors[0].message
    with target.connect() as c:
        assert c.execute(select(func.count()).select_from(PatientRow)).scalar_one() == 0
    bundle["entry"] = bundle["entry"][:5]
    path.write_text(json.dumps(bundle), encoding="utf-8")
    with read_fhir([path]) as src:
        res = write_records(Store(target), SYSTEM, source_system="fhir:bundle", records=src)
    assert res.ok and res.counts["patient"].created == 1 and res.counts["response"].created == 1
    assert res.counts["site"].created == 1 and res.counts["episode"].created == 1


def test_site_option_puts_every_patient_under_one_site(exported: tuple[Engine, Path], tmp_path: Path,
                                                       _sqlite_head: Path) -> None:
    _source, out = exported
    target = _engine(tmp_path, _sqlite_head, "one-site")
    store = Store(target)
    store.add_site(SYSTEM, code="HOME", name="Home clinic")
    with read_fhir(sorted(out.glob("*.ndjson"))) as src:
        res = write_records(store, SYSTEM, source_system="fhir:export", records=src, site_code="HOME")
    # the export's three Organizations are not used: every patient goes under HOME
    assert res.ok and res.counts["site"].created == 0 and res.counts["patient"].created == 40
    with target.connect() as c:
        assert c.execute(select(SiteRow.code, func.count(PatientRow.id)).join(PatientRow)
                         .group_by(SiteRow.code)).all() == [("HOME", 40)]
