"""The Bulk Data NDJSON writer, manifest and job runner (without HTTP).

Reference: HL7 Bulk Data Access IG, export operation (https://hl7.org/fhir/uv/bulkdata/export.html):
output files are newline-delimited JSON, one resource per line, each file holding one resource
type; the complete-status manifest carries ``transactionTime`` (a FHIR instant), ``request``,
``requiresAccessToken``, ``output`` (``type``, ``url``, ``count`` per file) and ``error``. FHIR
``instant``: https://hl7.org/fhir/R4/datatypes.html#instant (seconds and a time zone required).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from sqlalchemy import Engine, func, select

from spinetrack.interop import bulk
from spinetrack.interop.fhir import FhirScope
from spinetrack.store import export_jobs
from spinetrack.store.repositories import SYSTEM, Actor, Store
from spinetrack.store.tables import AuditRow, PatientRow


def _patients(n: int) -> Any:
    for i in range(n):
        yield "Patient", {"resourceType": "Patient", "id": f"P{i}", "gender": "female", "birthDate": "1970"}


def test_writer_splits_files_and_writes_one_resource_per_line(tmp_path: Path) -> None:
    with bulk.NdjsonWriter(tmp_path, max_per_file=3) as w:
        for rtype, res in _patients(7):
            w.write(rtype, res)
        w.write("Organization", {"resourceType": "Organization", "id": "site-1", "name": "Clínica Ñ"})
    files = w.files()
    assert [(f.type, f.name, f.count) for f in files] == [
        ("Patient", "Patient.1.ndjson", 3), ("Patient", "Patient.2.ndjson", 3), ("Patient", "Patient.3.ndjson", 1),
        ("Organization", "Organization.1.ndjson", 1)]
    assert w.counts() == {"Patient": 7, "Organization": 1}
    ids = []
    for f in files:
        data = (tmp_path / f.name).read_bytes()
        assert f.size == len(data) and data.endswith(b"\n") and b"\n\n" not in data
        for line in data.decode("utf-8").splitlines():
            res = json.loads(line)
            get_fhir_model_class(res["resourceType"]).model_validate(res)
            ids.append(res["id"])
    assert ids == [f"P{i}" for i in range(7)] + ["site-1"]
    assert "Clínica Ñ" in (tmp_path / "Organization.1.ndjson").read_text(encoding="utf-8")


def test_writer_refuses_a_type_that_is_not_a_resource_name(tmp_path: Path) -> None:
    with bulk.NdjsonWriter(tmp_path) as w, pytest.raises(ValueError):
        w.write("../etc", {})


def test_manifest_has_the_fields_of_the_ig(tmp_path: Path) -> None:
    files = [bulk.OutputFile("Patient", "Patient.1.ndjson", 2, 10)]
    m = bulk.build_manifest(transaction_time=dt.datetime(2026, 12, 8, 1, 2, 3, 456000),
                            request_url="http://x/fhir/$export?_type=Patient", files=files,
                            file_url=lambda f: f"http://x/fhir/$export-file/j/{f.name}")
    assert m == {"transactionTime": "2026-12-08T01:02:03.456Z", "request": "http://x/fhir/$export?_type=Patient",
                 "requiresAccessToken": True,
                 "output": [{"type": "Patient", "url": "http://x/fhir/$export-file/j/Patient.1.ndjson", "count": 2}],
                 "error": []}


@pytest.mark.parametrize(("text", "want"), [
    ("2026-01-31T00:00:00Z", dt.datetime(2026, 1, 31)),
    ("2026-01-31T01:30:00+01:00", dt.datetime(2026, 1, 31, 0, 30)),
    ("2026-01-31T00:00:00.123-05:00", dt.datetime(2026, 1, 31, 5, 0, 0, 123000)),
])
def test_parse_instant(text: str, want: dt.datetime) -> None:
    assert bulk.parse_instant(text) == want


@pytest.mark.parametrize("text", ["2026-01-31", "2026-01-31T00:00:00", "2026-01-31T00:00Z", "yesterday",
                                  "2026-13-01T00:00:00Z"])
def test_parse_instant_refuses_what_is_not_an_instant(text: str) -> None:
    with pytest.raises(ValueError):
        bulk.parse_instant(text)


def test_file_path_accepts_only_our_file_names(tmp_path: Path) -> None:
    (tmp_path / "Patient.1.ndjson").write_text("{}\n")
    assert bulk.file_path(str(tmp_path), "Patient.1.ndjson") == tmp_path / "Patient.1.ndjson"
    for bad in ("../Patient.1.ndjson", "Patient.2.ndjson", "patient.1.ndjson", "Patient.1.ndjson/..", "x"):
        assert bulk.file_path(str(tmp_path), bad) is None


@pytest.fixture
def store(engine: Engine) -> Store:
    s = Store(engine)
    site = s.add_site(SYSTEM, code="S1", name="Site 1")
    for year in (1950, 1960, 1970):
        s.add_patient(Actor("c", "clinician", site), site, {"birth_year": year, "sex": "male"},
                      identity={"full_name": "Jo Bloggs", "mrn": f"H123-{year}"})
    return s


def test_runner_completes_the_job_with_counts_and_one_audit_row(store: Store, tmp_path: Path) -> None:
    job = export_jobs.create_job(store, Actor("r", "researcher"), kind="fhir", params={}, site_id=None,
                                 output_root=tmp_path, request_url="http://t/fhir/$export")
    status = bulk.run_fhir_export(store, job.id, scope=FhirScope(site_id=None, identified=False),
                                  types=["Patient", "Organization"], since=None, file_base_url="http://t/f",
                                  max_per_file=2, batch=2)
    assert status == "completed"
    done = export_jobs.get_job(store, job.id)
    assert done is not None and done.status == "completed" and done.manifest is not None
    assert [(o["type"], o["count"]) for o in done.manifest["output"]] == [("Organization", 1), ("Patient", 2),
                                                                         ("Patient", 1)]
    assert done.manifest["output"][1]["url"] == "http://t/f/Patient.1.ndjson"
    raw = b"".join(p.read_bytes() for p in Path(done.output_dir or "").iterdir())
    assert b"Jo Bloggs" not in raw and b"H123" not in raw
    with store.transaction() as s:
        assert s.execute(select(func.count()).select_from(PatientRow)).scalar_one() == 3
        rows = s.execute(select(AuditRow).where(AuditRow.entity == "export_job")).scalars().all()
    assert [(r.action, (r.detail or {})["counts"]) for r in rows] == [("export", {"Organization": 1, "Patient": 3})]
    # a second runner finds nothing to do
    assert bulk.run_fhir_export(store, job.id, scope=FhirScope(None, False), types=None, since=None,
                                file_base_url="x") == "skipped"


def test_runner_stops_and_cleans_up_when_the_job_is_deleted(store: Store, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import spinetrack.interop.fhir as fhir

    actor = Actor("r", "researcher")
    job = export_jobs.create_job(store, actor, kind="fhir", params={}, site_id=None, output_root=tmp_path)

    def stream(*args: Any, **kwargs: Any) -> Any:
        for i, item in enumerate(_patients(10)):
            if i == 5:
                export_jobs.delete_job(store, actor, job.id)
            yield item

    monkeypatch.setattr(fhir, "stream_resources", stream)
    monkeypatch.setattr(bulk, "PROGRESS_EVERY", 2)
    assert bulk.run_fhir_export(store, job.id, scope=None, types=None, since=None, file_base_url="x") == "deleted"
    assert export_jobs.get_job(store, job.id) is None
    assert not (tmp_path / job.id).exists()
