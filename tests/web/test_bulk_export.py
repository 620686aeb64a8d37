"""FHIR Bulk Data ``$export`` over HTTP: kick-off → status polls → manifest → files → delete.

The expected behaviour is that of the HL7 Bulk Data Access IG, export operation
(https://hl7.org/fhir/uv/bulkdata/export.html): kick-off needs ``Prefer: respond-async`` and
answers 202 with ``Content-Location``; the status URL answers 202 with ``X-Progress`` while the
export runs and 200 with a manifest (``transactionTime``, ``request``, ``requiresAccessToken``,
``output[type,url,count]``, ``error``) when done, or an error status with an OperationOutcome;
``DELETE`` on it answers 202; files are ``application/fhir+ndjson``, one resource per line. Every
line is validated with the ``fhir.resources`` R4B models.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B import get_fhir_model_class
from sqlalchemy import func, select

from spinetrack.interop import bulk
from spinetrack.store import export_jobs
from spinetrack.store.repositories import SYSTEM, Actor
from spinetrack.store.tables import (
    AuditRow,
    EpisodeRow,
    ExportJobRow,
    PatientRow,
    ProcedureRow,
    PromResponseRow,
    SiteRow,
)
from spinetrack.store.tokens import create_token
from tests.web.conftest import World

ASYNC = {"Prefer": "respond-async", "Accept": "application/fhir+json"}


@pytest.fixture(autouse=True)
def _export_dir(app: Any, tmp_path: Path) -> Iterator[Path]:
    app.state.export_dir = tmp_path / "exports"
    yield app.state.export_dir
    deadline = time.monotonic() + 60  # let every export thread end before the database is dropped
    while bulk.running_here() and time.monotonic() < deadline:
        time.sleep(0.05)


def _token(app: Any, role: str, scopes: list[str], site_id: int | None = None) -> str:
    _, token = create_token(app.state.store, SYSTEM, name=f"{role} client", role=role, site_id=site_id,
                            scopes=scopes, days=30)
    return token


def _bearer(app: Any, token: str) -> TestClient:
    c = TestClient(app)
    c.headers["Authorization"] = f"Bearer {token}"
    return c


def kick_off(client: TestClient, path: str = "/fhir/$export", **params: str) -> str:
    r = client.get(path, params=params, headers=ASYNC)
    assert r.status_code == 202, r.text
    assert r.headers["content-type"].startswith("application/fhir+json")
    assert r.json()["resourceType"] == "OperationOutcome"
    location = r.headers["Content-Location"]
    assert location.startswith("http://testserver/fhir/$export-status/")
    return location


def wait_done(client: TestClient, location: str, timeout: float = 60) -> Any:
    """Poll the status URL until it stops answering 202 (each 202 carries X-Progress and Retry-After)."""
    deadline = time.monotonic() + timeout
    while True:
        r = client.get(location)
        if r.status_code != 202:
            return r
        assert r.headers["X-Progress"]
        assert int(r.headers["Retry-After"]) >= 1
        assert time.monotonic() < deadline, "export did not finish"
        time.sleep(0.05)


def download(client: TestClient, manifest: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Every file of the manifest, each line validated against its R4B model; by type."""
    out: dict[str, list[dict[str, Any]]] = {}
    for item in manifest["output"]:
        r = client.get(item["url"])
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("application/fhir+ndjson")
        lines = r.content.decode("utf-8").splitlines()
        assert len(lines) == item["count"]
        for line in lines:
            resource = json.loads(line)
            assert resource["resourceType"] == item["type"]
            get_fhir_model_class(item["type"]).model_validate(resource)
            out.setdefault(item["type"], []).append(resource)
    return out


def _count(app: Any, table: Any, site_id: int | None = None) -> int:
    with app.state.store.transaction() as s:
        q = select(func.count()).select_from(table)
        if site_id is not None and table is PatientRow:
            q = q.where(PatientRow.site_id == site_id)
        return int(s.execute(q).scalar_one())


def test_researcher_system_export_flow_is_pseudonymised(app: Any, world: World,
                                                        client_for: Callable[[str], TestClient]) -> None:
    actor = Actor("setup", "clinician", world.sites["A"])
    app.state.store.add_complication(actor, world.episodes["A"], {
        "category": "dural_tear", "clavien_dindo": "I", "occurred_on": dt.date.today().isoformat(),
        "detail": "FREE-TEXT-COMPLICATION Dr Smith"})
    app.state.store.add_readmission(actor, world.episodes["A"], {"admitted_on": dt.date.today().isoformat(),
                                                                "reason": "FREE-TEXT-READMISSION"})
    c = client_for("researcher")
    location = kick_off(c)
    r = wait_done(c, location)
    assert r.status_code == 200, r.text
    manifest = r.json()
    assert set(manifest) >= {"transactionTime", "request", "requiresAccessToken", "output", "error"}
    assert manifest["requiresAccessToken"] is True
    assert manifest["error"] == []
    assert manifest["request"].endswith("/fhir/$export")
    assert manifest["transactionTime"].endswith("Z")
    assert r.headers.get("Expires")
    by_type = download(c, manifest)
    # counts equal the store's
    assert len(by_type["Patient"]) == _count(app, PatientRow) == 2
    assert len(by_type["EpisodeOfCare"]) == _count(app, EpisodeRow) == 2
    assert len(by_type["Organization"]) == _count(app, SiteRow) == 2
    assert len([p for p in by_type["Procedure"] if "reop" not in p["id"]]) == _count(app, ProcedureRow)
    assert len(by_type["QuestionnaireResponse"]) == _count(app, PromResponseRow) == 2  # the baseline ODIs
    # pseudonymised: no names, hospital numbers or contact details anywhere in the bytes
    raw = b"".join(c.get(i["url"]).content for i in manifest["output"])
    for secret in (b"Patient A Example", b"Patient B Example", b"MRN-A-1", b"MRN-B-1", b"Example",
                   b"FREE-TEXT", b"Smith", b"a.clinician", b"setup"):
        assert secret not in raw, secret
    assert len(by_type["AdverseEvent"]) == 1 and len(by_type["Encounter"]) == 1  # the records, not their text
    for patient in by_type["Patient"]:
        assert "name" not in patient and "telecom" not in patient and "address" not in patient
        assert [i["value"] for i in patient["identifier"]] == [patient["id"]]  # the pseudonym only
        assert patient["id"] in ("P" + str(world.patients["A"]), "P" + str(world.patients["B"]))
        assert patient["birthDate"] == "1968"  # year of birth only
        assert "meta" not in patient  # no record-keeping timestamps
    # one audit row for the export, with the counts
    with app.state.store.transaction() as s:
        rows = s.execute(select(AuditRow).where(AuditRow.action == "export")).scalars().all()
        assert len(rows) == 1
        assert rows[0].actor == "researcher"
        assert rows[0].detail["counts"]["Patient"] == 2


def test_clinic_group_export_is_identified_and_own_site_only(app: Any, world: World,
                                                             client_for: Callable[[str], TestClient]) -> None:
    c = client_for("clinician")
    assert c.get("/fhir/$export", headers=ASYNC).status_code == 403
    assert c.get("/fhir/Group/SITE-B/$export", headers=ASYNC).status_code == 404
    assert c.get("/fhir/Group/NOPE/$export", headers=ASYNC).status_code == 404
    assert c.get("/fhir/Group/SITE-B/$export").status_code == 404  # authorisation before the headers
    location = kick_off(c, "/fhir/Group/SITE-A/$export", _type="Patient,EpisodeOfCare")
    r = wait_done(c, location)
    assert r.status_code == 200, r.text
    by_type = download(c, r.json())
    assert set(by_type) == {"Patient", "EpisodeOfCare"}
    assert len(by_type["Patient"]) == _count(app, PatientRow, world.sites["A"]) == 1
    assert "MRN-A-1" in json.dumps(by_type["Patient"][0])  # identified for the patient's own site
    assert "MRN-B-1" not in json.dumps(by_type)
    # the Organization id works as the Group id too
    kick_off(c, f"/fhir/Group/site-{world.sites['A']}/$export", _type="Organization")


def test_files_and_status_only_for_the_requester(app: Any, world: World,
                                                 client_for: Callable[[str], TestClient]) -> None:
    owner = client_for("clinician")
    location = kick_off(owner, "/fhir/Group/SITE-A/$export")
    manifest = wait_done(owner, location).json()
    url = manifest["output"][0]["url"]
    for other in ("coordinator", "other_clinician", "researcher"):
        c = client_for(other)
        assert c.get(location).status_code == 404, other
        assert c.get(url).status_code == 404, other
        assert c.delete(location).status_code == 404, other
    assert client_for("admin").get(location).status_code == 403
    assert TestClient(app).get(location).status_code == 401
    assert owner.get(url).status_code == 200
    # a download is audited
    with app.state.store.transaction() as s:
        assert s.execute(select(func.count()).select_from(AuditRow).where(
            AuditRow.entity == "export_file")).scalar_one() >= 1


def test_kick_off_errors(app: Any, world: World, client_for: Callable[[str], TestClient]) -> None:
    c = client_for("researcher")
    r = c.get("/fhir/$export")
    assert r.status_code == 400 and "respond-async" in r.json()["issue"][0]["diagnostics"]
    r = c.get("/fhir/$export", params={"_type": "Patient,Spaceship"}, headers=ASYNC)
    assert r.status_code == 400
    text = r.json()["issue"][0]["diagnostics"]
    assert "Spaceship" in text and "Patient" in text and "Observation" in text
    r = c.get("/fhir/$export", params={"_since": "2026-01-01"}, headers=ASYNC)
    assert r.status_code == 400 and "_since" in r.json()["issue"][0]["diagnostics"]
    r = c.get("/fhir/$export", params={"_outputFormat": "text/csv"}, headers=ASYNC)
    assert r.status_code == 400
    r = c.get("/fhir/$export", params={"_typeFilter": "Patient?gender=female"}, headers=ASYNC)
    assert r.status_code == 400 and "_typeFilter" in r.json()["issue"][0]["diagnostics"]
    r = c.get("/fhir/$export", params={"_typeFilter": "x", "_type": "Organization"},
              headers={**ASYNC, "Prefer": "respond-async, handling=lenient"})
    assert r.status_code == 202
    wait_done(c, r.headers["Content-Location"])
    r = c.get("/fhir/$export", params={"_type": "Organization"}, headers={"Prefer": "respond-async; wait=10"})
    assert r.status_code == 202  # a preference's parameters (RFC 7240) do not hide it
    wait_done(c, r.headers["Content-Location"])
    r = c.get("/fhir/$export", headers={"Prefer": "respond-async", "Accept": "text/html"})
    assert r.status_code == 400
    assert client_for("admin").get("/fhir/$export", headers=ASYNC).status_code == 403
    assert TestClient(app).get("/fhir/$export", headers=ASYNC).status_code == 401


def test_type_and_since_filters(app: Any, world: World, client_for: Callable[[str], TestClient]) -> None:
    c = client_for("researcher")
    manifest = wait_done(c, kick_off(c, _type="Patient", _outputFormat="application/fhir+ndjson")).json()
    assert [o["type"] for o in manifest["output"]] == ["Patient"]
    assert manifest["output"][0]["count"] == 2
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    manifest = wait_done(c, kick_off(c, _type="Patient,EpisodeOfCare", _since=future)).json()
    assert manifest["output"] == []
    past = "2000-01-01T00:00:00+00:00"
    manifest = wait_done(c, kick_off(c, _type="Patient", _since=past)).json()
    assert manifest["output"][0]["count"] == 2


def test_delete_removes_job_and_files(app: Any, world: World, client_for: Callable[[str], TestClient],
                                      _export_dir: Path) -> None:
    c = client_for("researcher")
    location = kick_off(c, _type="Patient")
    manifest = wait_done(c, location).json()
    job_id = location.rsplit("/", 1)[1]
    assert (_export_dir / job_id / "Patient.1.ndjson").is_file()
    assert c.delete(location).status_code == 202
    assert c.get(location).status_code == 404
    assert c.get(manifest["output"][0]["url"]).status_code == 404
    assert not (_export_dir / job_id).exists()


def test_post_kick_off_with_parameters(app: Any, world: World, client_for: Callable[[str], TestClient]) -> None:
    c = client_for("researcher")
    body = {"resourceType": "Parameters", "parameter": [{"name": "_type", "valueString": "Organization"},
                                                        {"name": "_outputFormat", "valueString": "ndjson"}]}
    r = c.post("/fhir/$export", json=body, headers=ASYNC)
    assert r.status_code == 202, r.text
    manifest = wait_done(c, r.headers["Content-Location"]).json()
    assert [o["type"] for o in manifest["output"]] == ["Organization"]
    r = c.post("/fhir/$export", json={"resourceType": "Patient"}, headers=ASYNC)
    assert r.status_code == 400
    # a session POST still needs its CSRF token
    c.headers.pop("X-CSRF-Token")
    assert c.post("/fhir/$export", json=body, headers=ASYNC).status_code == 401


def test_tokens_need_the_export_scope(app: Any, world: World) -> None:
    reader = _bearer(app, _token(app, "researcher", ["read"]))
    r = reader.get("/fhir/$export", headers=ASYNC)
    assert r.status_code == 403
    assert 'error="insufficient_scope"' in r.headers["WWW-Authenticate"]
    r = _bearer(app, "stk_" + "0" * 43).get("/fhir/$export", headers=ASYNC)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert r.json()["resourceType"] == "OperationOutcome"
    exporter = _bearer(app, _token(app, "researcher", ["export"]))
    location = kick_off(exporter, _type="Patient")
    manifest = wait_done(exporter, location).json()
    assert exporter.get(manifest["output"][0]["url"]).status_code == 200
    # another token of the same role is another requester
    other = _bearer(app, _token(app, "researcher", ["export"]))
    assert other.get(location).status_code == 404
    # a clinic token exports its own site at Group level
    clinic = _bearer(app, _token(app, "clinician", ["export"], world.sites["A"]))
    assert clinic.get("/fhir/$export", headers=ASYNC).status_code == 403
    manifest = wait_done(clinic, kick_off(clinic, "/fhir/Group/SITE-A/$export", _type="Patient")).json()
    assert manifest["output"][0]["count"] == 1
    # admin tokens are refused even with the export scope
    admin = _bearer(app, _token(app, "admin", ["export"]))
    assert admin.get("/fhir/$export", headers=ASYNC).status_code == 403


def test_failed_export_answers_500(app: Any, world: World, client_for: Callable[[str], TestClient],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import spinetrack.interop.fhir as fhir

    def broken(*args: Any, **kwargs: Any) -> Any:
        yield "Patient", {"resourceType": "Patient", "id": "P1"}
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(fhir, "stream_resources", broken)
    c = client_for("researcher")
    r = wait_done(c, kick_off(c))
    assert r.status_code == 500
    body = r.json()
    assert body["resourceType"] == "OperationOutcome"
    assert "disk on fire" not in body["issue"][0]["diagnostics"]  # no internals
    with app.state.store.transaction() as s:
        assert s.execute(select(func.count()).select_from(AuditRow).where(
            AuditRow.action == "export_failed")).scalar_one() == 1


def test_stale_running_job_is_failed(app: Any, world: World, client_for: Callable[[str], TestClient],
                                     _export_dir: Path) -> None:
    """A job left 'running' by a process that stopped (no heartbeat for over two minutes)."""
    store = app.state.store
    job = export_jobs.create_job(store, Actor("researcher", "researcher"), kind="fhir", params={},
                                 site_id=None, output_root=_export_dir, request_url="http://testserver/fhir/$export")
    assert export_jobs.claim_job(store, job.id, now=dt.datetime(2020, 1, 1))
    c = client_for("researcher")
    r = c.get(f"/fhir/$export-status/{job.id}")
    assert r.status_code == 500
    assert "stopped" in r.json()["issue"][0]["diagnostics"]
    with store.transaction() as s:
        assert s.get(ExportJobRow, job.id).status == "failed"


def test_too_many_running_exports(app: Any, world: World, client_for: Callable[[str], TestClient],
                                  _export_dir: Path) -> None:
    store = app.state.store
    for _ in range(2):
        export_jobs.create_job(store, Actor("researcher", "researcher"), kind="fhir", params={}, site_id=None,
                               output_root=_export_dir)
    r = client_for("researcher").get("/fhir/$export", headers=ASYNC)
    assert r.status_code == 429 and r.headers["Retry-After"]


def test_researcher_group_export_is_one_site_pseudonymised(app: Any, world: World,
                                                           client_for: Callable[[str], TestClient]) -> None:
    c = client_for("researcher")
    manifest = wait_done(c, kick_off(c, "/fhir/Group/SITE-B/$export", _type="Patient")).json()
    patients = download(c, manifest)["Patient"]
    assert [p["id"] for p in patients] == [f"P{world.patients['B']}"]
    assert "MRN-B-1" not in json.dumps(patients) and "name" not in patients[0]
