"""The researcher's exports page (/research/exports): start an OMOP or CSV export from the web, let it
run in the background, download the ZIP; researchers only, CSRF-checked, audited, pseudonymised, and
an export is the requester's alone (404 for anyone else). Fixtures: tests/web/conftest.py (two
sites with a patient each, whose names and hospital numbers must not appear in any export)."""

from __future__ import annotations

import csv
import io
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from spinetrack.store import export_jobs
from spinetrack.store.repositories import SYSTEM
from spinetrack.store.tables import AuditRow, ExportJobRow, PatientIdentityRow
from tests.web.conftest import PASSWORD, World, login

Client = Callable[[str], TestClient]


@pytest.fixture(autouse=True)
def _export_dir(app: Any, tmp_path: Path) -> None:
    app.state.export_dir = tmp_path / "exports"


def _start(c: TestClient, kind: str, **extra: str) -> Any:
    return c.post("/research/exports", data={"kind": kind, "csrf_token": c.headers["X-CSRF-Token"], **extra},
                  follow_redirects=False)


def _wait(app: Any, username: str, timeout: float = 60.0) -> export_jobs.ExportJob:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = export_jobs.list_jobs(app.state.store, requested_by=username)
        if jobs and jobs[0].done:
            return jobs[0]
        time.sleep(0.1)
    pytest.fail("the export did not finish in time")


def _zip(content: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(content)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _identities(app: Any) -> list[tuple[str, str | None]]:
    with app.state.store.transaction() as s:
        return [(r.full_name, r.mrn) for r in s.execute(select(PatientIdentityRow)).scalars()]


def test_researcher_exports_omop_and_downloads_the_zip(app: Any, client_for: Client, world: World) -> None:
    c = client_for("researcher")
    page = c.get("/research/exports")
    assert page.status_code == 200 and 'name="csrf_token"' in page.text
    r = _start(c, "omop")
    assert r.status_code == 303 and r.headers["location"] == "/research/exports?notice=started"
    job = _wait(app, "researcher")
    assert job.status == "completed", job.error
    assert job.manifest is not None and job.manifest["row_counts"]["person"] == 2
    page = c.get("/research/exports")
    assert f"/research/exports/{job.id}/download" in page.text
    d = c.get(f"/research/exports/{job.id}/download")
    assert d.status_code == 200 and d.headers["content-type"] == "application/zip"
    assert "attachment" in d.headers["content-disposition"]
    files = _zip(d.content)
    assert {"spinetrack-omop/person.csv", "spinetrack-omop/procedure_occurrence.csv",
            "spinetrack-omop/cdm_source.csv"} <= set(files)
    persons = list(csv.DictReader(io.StringIO(files["spinetrack-omop/person.csv"].decode())))
    assert sorted(p["person_source_value"] for p in persons) == sorted(f"P{p}" for p in world.patients.values())
    blob = b"".join(files.values())
    for name, mrn in _identities(app):
        assert name.encode() not in blob and (mrn or "").encode() not in blob
    with app.state.store.transaction() as s:
        rows = s.execute(select(AuditRow.action, AuditRow.entity, AuditRow.actor)
                         .where(AuditRow.actor == "researcher")).all()
    assert ("export", "omop", "researcher") in rows  # the export itself, with its counts
    assert ("export", "export_job", "researcher") in rows
    assert ("read", "export_file", "researcher") in rows  # the download


def test_csv_export_with_a_rekey_secret(app: Any, client_for: Client) -> None:
    c = client_for("researcher")
    assert _start(c, "csv", rekey="a-long-enough-secret-1").status_code == 303
    job = _wait(app, "researcher")
    assert job.status == "completed", job.error
    with app.state.store.transaction() as s:
        row = s.get(ExportJobRow, job.id)
        assert row is not None and "a-long-enough-secret-1" not in str(row.params)  # never stored
    files = _zip(c.get(f"/research/exports/{job.id}/download").content)
    assert "spinetrack-csv/data_dictionary.csv" in files
    patients = list(csv.DictReader(io.StringIO(files["spinetrack-csv/patients.csv"].decode())))
    assert len(patients) == 2 and not any(p["patient_key"].startswith("P") for p in patients)
    assert _start(c, "csv", rekey="short").status_code == 422


def test_another_researcher_gets_404(app: Any, client_for: Client) -> None:
    app.state.access.create_user(SYSTEM, username="researcher2", display_name="second researcher",
                                 role="researcher", password=PASSWORD, site_id=None)
    c = client_for("researcher")
    _start(c, "omop")
    job = _wait(app, "researcher")
    other = TestClient(app, base_url="http://testserver")
    login(other, "researcher2")
    assert other.get(f"/research/exports/{job.id}/download").status_code == 404
    r = other.post(f"/research/exports/{job.id}/delete", data={"csrf_token": other.headers["X-CSRF-Token"]},
                   follow_redirects=False)
    assert r.status_code == 404
    assert job.id not in other.get("/research/exports").text
    other.close()
    # the owner may delete it: files and row gone
    r = c.post(f"/research/exports/{job.id}/delete", data={"csrf_token": c.headers["X-CSRF-Token"]},
               follow_redirects=False)
    assert r.status_code == 303
    assert c.get(f"/research/exports/{job.id}/download").status_code == 404
    assert job.output_dir is not None and not Path(job.output_dir).exists()


@pytest.mark.parametrize("role", ["clinician", "coordinator", "other_clinician", "admin"])
def test_other_roles_are_refused(client_for: Client, role: str) -> None:
    c = client_for(role)
    assert c.get("/research/exports").status_code == 403
    assert _start(c, "omop").status_code == 403
    assert c.get("/research/exports/0123456789abcdef/download").status_code == 403


def test_anonymous_is_sent_to_sign_in_and_csrf_is_required(app: Any, client_for: Client) -> None:
    anon = TestClient(app, base_url="http://testserver")
    for r in (anon.get("/research/exports", follow_redirects=False),
              anon.post("/research/exports", data={"kind": "omop"}, follow_redirects=False)):
        assert r.status_code == 303 and r.headers["location"].startswith("/login"), r.headers
    anon.close()
    c = client_for("researcher")
    del c.headers["X-CSRF-Token"]
    r = c.post("/research/exports", data={"kind": "omop"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")  # how the app answers a bad CSRF
    assert export_jobs.list_jobs(app.state.store, requested_by="researcher") == []


def test_bad_kind_and_too_many_running(app: Any, client_for: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    c = client_for("researcher")
    assert _start(c, "parquet").status_code == 422
    from spinetrack.interop import omop_jobs

    monkeypatch.setattr(omop_jobs, "start_research_export", lambda *a, **k: None)  # jobs stay accepted
    assert _start(c, "omop").status_code == 303
    assert _start(c, "csv").status_code == 303
    r = _start(c, "omop")
    assert r.status_code == 429 and "already have 2 exports running" in r.text
