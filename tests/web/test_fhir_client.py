"""A real FHIR client (fhirpy's SyncFHIRClient) against a live spinetrack server (uvicorn on
127.0.0.1, a free port, in a thread) on the web fixtures' database.

What fhirpy does is the reference: it reads, follows Bundle ``next`` links (fetch_all), creates
(POST), creates conditionally (fhirpy sends the search in the query string; the If-None-Exist
header is sent with extra_headers) and posts a transaction Bundle. It authenticates with a
session cookie (signed in through /api/v1/auth/login) or with an API token (Authorization: Bearer).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import ForbiddenError, MultipleResourcesFound, OperationOutcome, ResourceNotFound

from spinetrack.store.repositories import SYSTEM, Actor
from spinetrack.store.tokens import create_token
from spinetrack.web.security import SESSION_COOKIE
from tests.web.conftest import PASSWORD, World

P = "https://spinetrack.org/fhir/"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live(app: Any, world: World) -> Iterator[str]:
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def _session_client(base: str, username: str) -> SyncFHIRClient:
    r = httpx.post(f"{base}/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    token = r.cookies.get(SESSION_COOKIE)
    assert token
    return SyncFHIRClient(f"{base}/fhir", extra_headers={"Cookie": f"{SESSION_COOKIE}={token}",
                                                         "X-CSRF-Token": r.json()["csrf_token"]})


def _patient(mrn: str) -> dict[str, Any]:
    return {"identifier": [{"system": P + "sid/mrn/SITE-A", "value": mrn}], "name": [{"text": f"Client {mrn}"}],
            "gender": "female", "birthDate": "1980"}


def test_read_search_with_paging_create_and_conditional_create(live: str, app: Any, world: World) -> None:
    client = _session_client(live, "a.clinician")
    pid = world.patients["A"]
    pat = client.reference("Patient", f"p-{pid}").to_resource()
    assert pat["name"][0]["text"] == "Patient A Example"
    with pytest.raises(ResourceNotFound):
        client.reference("Patient", f"p-{world.patients['B']}").to_resource()  # another site's
    created = []
    for i in range(4):
        new = client.resource("Patient", **_patient(f"C-{i}"))
        new.save()  # POST: the server assigns the id
        created.append(new.id)
    assert all(c.startswith("p-") for c in created) and len(set(created)) == 4
    everyone = client.resources("Patient").limit(2).fetch_all()  # 5 patients: 3 pages of at most 2
    assert [p.id for p in everyone] == [f"p-{pid}", *created]
    found = client.resources("Patient").search(identifier="C-2").fetch()
    assert [p.id for p in found] == [created[2]]
    # conditional create, fhirpy's way (the search in the query string): the existing one comes back
    again = client.resource("Patient", **_patient("C-2")).create(identifier="C-2")
    assert again.id == created[2]
    with pytest.raises(MultipleResourcesFound):  # 412: several match
        client.resource("Patient", **_patient("C-9")).create(_lastUpdated="ge2000")
    # the standard header
    header_client = SyncFHIRClient(client.url, extra_headers={**(client.extra_headers or {}),
                                                               "If-None-Exist": "identifier=C-3"})
    assert header_client.resource("Patient", **_patient("C-3")).save().id == created[3]
    obs = client.resources("Observation").search(code="http://loinc.org|97909-6", patient=f"Patient/p-{pid}").fetch()
    assert [o["valueQuantity"]["value"] for o in obs] == [60.0]


def test_transaction_and_validation_errors(live: str, world: World) -> None:
    client = _session_client(live, "a.coordinator")
    level = [{"coding": [{"system": P + "CodeSystem/spinal-level", "code": "L5-S1"}]}]
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:p", "resource": {"resourceType": "Patient", **_patient("TX-1")},
         "request": {"method": "POST", "url": "Patient"}},
        {"fullUrl": "urn:uuid:c", "request": {"method": "POST", "url": "Condition"},
         "resource": {"resourceType": "Condition", "subject": {"reference": "urn:uuid:p"}, "bodySite": level,
                      "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "M51.17"}]}}},
        {"fullUrl": "urn:uuid:e", "request": {"method": "POST", "url": "EpisodeOfCare"},
         "resource": {"resourceType": "EpisodeOfCare", "status": "active", "patient": {"reference": "urn:uuid:p"},
                      "period": {"start": "2026-03-02"}, "diagnosis": [{"condition": {"reference": "urn:uuid:c"}}]}},
    ]}
    out = client.execute("", method="post", data=bundle)
    assert out["type"] == "transaction-response"
    locations = [e["response"]["location"] for e in out["entry"]]
    episode = client.reference(*locations[2].split("/")).to_resource()
    assert episode["patient"]["reference"] == locations[0]
    bundle["entry"][2]["resource"]["period"]["start"] = "not a date"
    with pytest.raises(OperationOutcome) as info:
        client.execute("", method="post", data=bundle)
    issues = info.value.resource["issue"]
    assert [i["expression"] for i in issues] == [["Bundle.entry[2].resource.period.start"]]


def test_bearer_token_reads_and_is_scoped(live: str, app: Any, world: World) -> None:
    store = app.state.store
    _, token = create_token(store, SYSTEM, name="client test", role="clinician", site_id=world.sites["A"],
                            scopes=["read"], days=1)
    client = SyncFHIRClient(f"{live}/fhir", authorization=f"Bearer {token}")
    assert client.reference("Patient", f"p-{world.patients['A']}").to_resource()["gender"] == "female"
    with pytest.raises(ForbiddenError, match="scope 'write'"):  # read scope only: a create is refused (403)
        client.resource("Patient", **_patient("BT-1")).save()
    researcher = create_token(store, Actor("setup", "system"), name="research", role="researcher", site_id=None,
                              scopes=["read"], days=1)[1]
    rclient = SyncFHIRClient(f"{live}/fhir", authorization=f"Bearer {researcher}")
    ids = sorted(p.id for p in rclient.resources("Patient").fetch_all())
    assert ids == sorted(f"P{p}" for p in world.patients.values())
