"""The FHIR R4 server under /fhir (TestClient on the web fixtures: two sites, one account per role).

Reference behaviour: the FHIR R4 RESTful API (https://hl7.org/fhir/R4/http.html: read, search,
create, conditional create with If-None-Exist → 200/412, transaction all-or-nothing), search
(https://hl7.org/fhir/R4/search.html: date prefixes, _lastUpdated, _count, Bundle total and next
links), OperationOutcome for errors; authorisation and audit as /api/v1 (routes/api.py).
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B import get_fhir_model_class
from sqlalchemy import func, select

from spinetrack import clock, instruments
from spinetrack.interop.fhir import SUPPORTED_TYPES
from spinetrack.interop.fhir.search import SEARCH_PARAMS
from spinetrack.store.repositories import Actor
from spinetrack.store.tables import AuditRow, PatientRow
from tests.web.conftest import World

Client = Callable[[str], TestClient]
FHIR_JSON = "application/fhir+json"
P = "https://spinetrack.org/fhir/"
SURGERY = clock.today() - dt.timedelta(days=40)  # conftest.build_world's procedure date


def _outcome(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(FHIR_JSON)
    body = r.json()
    assert body["resourceType"] == "OperationOutcome"
    get_fhir_model_class("OperationOutcome").model_validate(body)
    return body


def _ids(bundle: dict[str, Any]) -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", [])]


def _audit_count(app: Any, **where: Any) -> int:
    with app.state.store.transaction() as s:
        stmt = select(func.count()).select_from(AuditRow)
        for k, v in where.items():
            stmt = stmt.where(getattr(AuditRow, k) == v)
        return int(s.execute(stmt).scalar_one())


def _add_patients(app: Any, world: World, n: int, site: str = "A") -> list[int]:
    store = app.state.store
    actor = Actor("setup", "clinician", world.sites[site])
    return [store.add_patient(actor, world.sites[site], {"birth_year": 1950 + i, "sex": "female"},
                              identity={"full_name": f"Extra {i}", "mrn": f"X-{site}-{i}"}) for i in range(n)]


# ------------------------------------------------------------------------------ metadata


def test_metadata_needs_no_sign_in_and_lists_exactly_what_is_served(anonymous: TestClient) -> None:
    r = anonymous.get("/fhir/metadata")
    assert r.status_code == 200 and r.headers["content-type"].startswith(FHIR_JSON)
    cs = r.json()
    get_fhir_model_class("CapabilityStatement").model_validate(cs)
    assert cs["fhirVersion"] == "4.0.1" and cs["format"] == ["application/fhir+json", "json"]
    (rest,) = cs["rest"]
    served, group = rest["resource"][:-1], rest["resource"][-1]
    assert [res["type"] for res in served] == list(SUPPORTED_TYPES)
    # Bulk Data $export (routes/fhir_bulk.py): system level, and on Group only as an operation
    bulk = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/"
    assert rest["operation"] == [{"name": "export", "definition": bulk + "export"}]
    assert group == {"type": "Group", "operation": [{"name": "export", "definition": bulk + "group-export"}]}
    for res in served:
        names = {p["name"] for p in res["searchParam"]}
        assert names == {"_id", "_lastUpdated", "_count", *SEARCH_PARAMS[res["type"]]}, res["type"]
        codes = [i["code"] for i in res["interaction"]]
        assert codes[:2] == ["read", "search-type"]
        assert ("create" in codes) == (res["type"] not in ("Organization", "Observation", "Questionnaire"))
    assert rest["interaction"] == [{"code": "transaction"}]
    assert anonymous.get("/fhir/metadata?_format=xml").status_code == 400


# ------------------------------------------------------------------------------ read: roles and sites


def test_read_identified_for_own_site_404_for_another(client_for: Client, world: World) -> None:
    c = client_for("clinician")
    r = c.get(f"/fhir/Patient/p-{world.patients['A']}")
    assert r.status_code == 200 and r.headers["content-type"].startswith(FHIR_JSON)
    pat = r.json()
    assert pat["name"] == [{"text": "Patient A Example"}]
    mrn = {"system": P + "sid/mrn/SITE-A", "value": "MRN-A-1", "type": {"text": "hospital number"}}
    assert mrn in pat["identifier"]
    body = _outcome(c.get(f"/fhir/Patient/p-{world.patients['B']}"), 404)
    assert body["issue"][0]["code"] == "not-found"
    _outcome(c.get(f"/fhir/EpisodeOfCare/ep-{world.episodes['B']}"), 404)
    _outcome(c.get("/fhir/Patient/no-such-1"), 404)
    _outcome(c.get("/fhir/Patient/p-2147483648"), 404)  # past the 32-bit id columns: no such record, no 500
    assert c.get("/fhir/Patient?_id=p-99999999999").json()["total"] == 0
    assert client_for("coordinator").get(f"/fhir/Condition/dx-{world.episodes['A']}").status_code == 200
    assert c.get(f"/fhir/Patient/p-{world.patients['A']}?_format=json").status_code == 200


def test_researcher_reads_every_site_pseudonymised(client_for: Client, world: World) -> None:
    c = client_for("researcher")
    _outcome(c.get(f"/fhir/Patient/p-{world.patients['B']}"), 404)  # identified ids are not theirs
    pat = c.get(f"/fhir/Patient/P{world.patients['B']}").json()
    assert pat["id"] == f"P{world.patients['B']}" and "name" not in pat and "meta" not in pat
    assert "Example" not in str(pat) and "MRN" not in str(pat)
    bundle = c.get("/fhir/Patient").json()
    assert bundle["total"] == 2 and sorted(_ids(bundle)) == sorted(f"P{p}" for p in world.patients.values())


@pytest.mark.parametrize(("who", "status", "code"), [("anonymous", 401, "login"), ("admin", 403, "forbidden")])
def test_roles_without_patient_access(client_for: Client, world: World, who: str, status: int, code: str) -> None:
    c = client_for(who)
    body = _outcome(c.get(f"/fhir/Patient/p-{world.patients['A']}"), status)
    assert body["issue"][0]["code"] == code
    _outcome(c.get("/fhir/Observation"), status)


def test_questionnaires_are_open_to_every_staff_role(client_for: Client) -> None:
    q = client_for("admin").get("/fhir/Questionnaire/odi")
    assert q.status_code == 200 and q.json()["url"] == "urn:spinetrack:questionnaire:odi"
    found = client_for("researcher").get("/fhir/Questionnaire?url=urn:spinetrack:questionnaire:nrs_back").json()
    assert _ids(found) == ["nrs-back"] and found["total"] == 1


def test_questionnaires_page_like_every_search(client_for: Client) -> None:
    """FHIR R4 http.html#paging: a page smaller than the result has a ``next`` link, and following
    the links gives every match once."""
    c = client_for("clinician")
    page = c.get("/fhir/Questionnaire?_count=3").json()
    seen = _ids(page)
    while nxt := next((link["url"] for link in page["link"] if link["relation"] == "next"), None):
        page = c.get(nxt.replace("http://testserver", "")).json()
        assert len(_ids(page)) <= 3
        seen += _ids(page)
    assert len(seen) == len(set(seen)) == page["total"] == len(instruments.all())


def test_reads_and_searches_are_audited(app: Any, client_for: Client, world: World) -> None:
    c = client_for("clinician")
    before = _audit_count(app, actor="a.clinician", action="read")
    assert c.get(f"/fhir/Procedure?patient=Patient/p-{world.patients['A']}").status_code == 200
    assert c.get(f"/fhir/Patient/p-{world.patients['A']}").status_code == 200
    assert _audit_count(app, actor="a.clinician", action="read") == before + 2
    with app.state.store.transaction() as s:
        rows = s.execute(select(AuditRow).where(AuditRow.actor == "a.clinician").order_by(AuditRow.id.desc())
                         .limit(2)).scalars().all()
    read, search = rows
    assert (read.entity, read.entity_id, read.patient_id) == ("patient", str(world.patients["A"]), world.patients["A"])
    assert read.detail == {"fhir": "read", "type": "Patient"}
    assert search.entity == "procedure" and search.patient_id == world.patients["A"]
    assert search.detail["fhir"] == "search" and search.detail["n"] == 1 and search.detail["type"] == "Procedure"


# ------------------------------------------------------------------------------ search


def test_paging_follows_next_links_through_every_match(app: Any, client_for: Client, world: World) -> None:
    extra = _add_patients(app, world, 6)
    _add_patients(app, world, 2, site="B")
    c = client_for("clinician")
    url: str | None = "/fhir/Patient?_count=3"
    seen: list[str] = []
    pages = 0
    while url:
        bundle = c.get(url).json()
        get_fhir_model_class("Bundle").model_validate(bundle)
        assert bundle["type"] == "searchset" and bundle["total"] == 7
        assert len(bundle.get("entry", [])) <= 3
        seen += _ids(bundle)
        links = {link["relation"]: link["url"] for link in bundle["link"]}
        assert links["self"].startswith("http://testserver/fhir/Patient?")
        url = links.get("next")
        pages += 1
    assert pages == 3
    assert seen == [f"p-{i}" for i in sorted([world.patients["A"], *extra])]  # each once, in id order


def test_count_zero_total_and_count_limits(client_for: Client) -> None:
    c = client_for("clinician")
    bundle = c.get("/fhir/Observation?_count=0").json()
    assert bundle["total"] == 1 and "entry" not in bundle
    body = _outcome(c.get("/fhir/Observation?_count=501"), 400)
    assert "_count" in body["issue"][0]["diagnostics"] and "0 to 500" in body["issue"][0]["diagnostics"]


@pytest.mark.parametrize(("query", "found"), [
    ("date={d}", True), ("date=eq{d}", True), ("date=ne{d}", False), ("date=lt{d}", False), ("date=le{d}", True),
    ("date=gt{d}", False), ("date=ge{d}", True), ("date=gt{before}", True), ("date=sa{before}", True),
    ("date=eb{after}", True), ("date=lt{after}", True), ("date={month}", True), ("date={year}", True),
    ("date=ge{before}&date=lt{d}", False), ("date=ge{before}&date=le{d}", True),
])
def test_date_prefixes_on_the_procedure_date(client_for: Client, world: World, query: str, found: bool) -> None:
    q = query.format(d=SURGERY.isoformat(), before=(SURGERY - dt.timedelta(days=1)).isoformat(),
                     after=(SURGERY + dt.timedelta(days=1)).isoformat(), month=SURGERY.strftime("%Y-%m"),
                     year=SURGERY.strftime("%Y"))
    bundle = client_for("clinician").get(f"/fhir/Procedure?{q}").json()
    assert bundle["total"] == len(_ids(bundle)) == (1 if found else 0), q  # site A's one procedure


def test_last_updated_patient_code_and_id(client_for: Client, world: World) -> None:
    c = client_for("clinician")
    tomorrow = (clock.today() + dt.timedelta(days=2)).isoformat()
    assert c.get(f"/fhir/Observation?_lastUpdated=gt{tomorrow}").json()["total"] == 0
    assert c.get(f"/fhir/Observation?_lastUpdated=le{tomorrow}").json()["total"] == 1
    obs = c.get("/fhir/Observation?code=http://loinc.org|97909-6&subject=Patient/p-" +
                str(world.patients["A"])).json()
    assert obs["total"] == 1 and obs["entry"][0]["resource"]["valueQuantity"]["value"] == 60.0
    assert c.get("/fhir/Observation?code=http://loinc.org|72514-3").json()["total"] == 0
    assert c.get(f"/fhir/Observation?patient=p-{world.patients['B']}").json()["total"] == 0  # not theirs
    pid = world.patients["A"]
    assert _ids(c.get(f"/fhir/Patient?_id=p-{pid},p-{world.patients['B']}").json()) == [f"p-{pid}"]
    assert _ids(c.get("/fhir/Patient?identifier=MRN-A-1").json()) == [f"p-{pid}"]
    assert _ids(c.get(f"/fhir/Patient?identifier={urllib.parse.quote(P + 'sid/mrn/SITE-B')}|MRN-A-1").json()) == []
    assert c.get(f"/fhir/Condition?code=http://snomed.info/sct|202735001&patient=p-{pid}").json()["total"] == 1
    ep = world.episodes["A"]
    assert _ids(c.get(f"/fhir/Condition?_id=dx-{ep}").json()) == [f"dx-{ep}"]
    assert _ids(c.get(f"/fhir/EpisodeOfCare?_id=dx-{ep}").json()) == []  # a Condition's id names no episode


def test_pseudonymised_view_cannot_be_searched_by_record_keeping_time(client_for: Client) -> None:
    body = _outcome(client_for("researcher").get("/fhir/Patient?_lastUpdated=ge2000"), 400)
    assert "record-keeping" in body["issue"][0]["diagnostics"]


@pytest.mark.parametrize(("query", "name"), [
    ("Patient?name=x", "name"), ("Observation?date=2026-13-01", "date"), ("Procedure?code:text=disc", "code:text"),
    ("Patient?_count=many", "_count"), ("Observation?_format=xml", "_format"), ("Patient?_cursor=zz", "_cursor"),
])
def test_bad_parameters_are_400_naming_them(client_for: Client, query: str, name: str) -> None:
    body = _outcome(client_for("clinician").get(f"/fhir/{query}"), 400)
    issue = body["issue"][0]
    assert issue["code"] == "invalid" and issue["diagnostics"].startswith(f"{name}:")
    if query.startswith("Patient?name"):
        assert "allowed: _count, _cursor, _format, _id, _lastUpdated, identifier" in issue["diagnostics"]


def test_unknown_type_and_method(client_for: Client, world: World) -> None:
    c = client_for("clinician")
    _outcome(c.get("/fhir/Medication"), 404)
    _outcome(c.delete(f"/fhir/Patient/p-{world.patients['A']}"), 405)
    _outcome(c.put(f"/fhir/Patient/p-{world.patients['A']}", json={}), 405)


# ------------------------------------------------------------------------------ create


def _new_patient(mrn: str) -> dict[str, Any]:
    return {"resourceType": "Patient", "identifier": [{"system": P + "sid/mrn/SITE-A", "value": mrn}],
            "name": [{"text": "New Person"}], "gender": "male", "birthDate": "1970-05-02"}


def test_create_then_read_back(app: Any, client_for: Client) -> None:
    c = client_for("coordinator")
    r = c.post("/fhir/Patient", json=_new_patient("N-1"), headers={"Content-Type": FHIR_JSON})
    assert r.status_code == 201, r.text
    created = r.json()
    assert r.headers["location"] == f"http://testserver/fhir/Patient/{created['id']}"
    assert created["birthDate"] == "1970" and created["name"] == [{"text": "New Person"}]
    assert c.get(f"/fhir/Patient/{created['id']}").json()["identifier"][0]["value"] == "N-1"
    assert _audit_count(app, action="import") >= 1  # the writer's audit row


def test_conditional_create_200_on_one_match_412_on_several(app: Any, client_for: Client, world: World) -> None:
    c = client_for("clinician")
    first = c.post("/fhir/Patient", json=_new_patient("N-2"), headers={"If-None-Exist": "identifier=N-2"})
    assert first.status_code == 201
    again = c.post("/fhir/Patient", json=_new_patient("N-2"), headers={"If-None-Exist": "identifier=N-2"})
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    with app.state.store.transaction() as s:
        assert s.execute(select(func.count()).select_from(PatientRow)).scalar_one() == 3  # A, B and one new
    body = _outcome(c.post("/fhir/Patient", json=_new_patient("N-3"),
                           headers={"If-None-Exist": "_lastUpdated=ge2000"}), 412)
    assert body["issue"][0]["code"] == "multiple-matches"


def test_create_refusals(client_for: Client, world: World) -> None:
    c = client_for("clinician")
    body = _outcome(c.post("/fhir/Observation", json={"resourceType": "Observation"}), 405)
    assert "computed" in body["issue"][0]["diagnostics"]
    _outcome(client_for("researcher").post("/fhir/Patient", json=_new_patient("R-1")), 403)
    _outcome(c.post("/fhir/Patient", content=b"{not json", headers={"Content-Type": FHIR_JSON}), 400)
    _outcome(c.post("/fhir/Patient", json={"resourceType": "Patient", "gender": "female"}), 422)  # no birthDate
    proc = {"resourceType": "Procedure", "status": "completed",
            "subject": {"reference": f"Patient/p-{world.patients['B']}"},
            "extension": [{"url": P + "StructureDefinition/episode-of-care",
                           "valueReference": {"reference": f"EpisodeOfCare/ep-{world.episodes['B']}"}}],
            "code": {"coding": [{"system": P + "CodeSystem/procedure", "code": "decompression_open"}]}}
    body = _outcome(c.post("/fhir/Procedure", json=proc), 422)
    paths = [i["expression"][0] for i in body["issue"]]
    assert paths == ["Procedure.performedDateTime", "Procedure.extension[0].valueReference"]  # B's episode: unknown


# ------------------------------------------------------------------------------ transaction


def _bundle(mrn: str, ebl: float, performed: str) -> dict[str, Any]:
    def sd(name: str) -> str:
        return P + "StructureDefinition/" + name

    level = [{"coding": [{"system": P + "CodeSystem/spinal-level", "code": "L4-L5"}]}]
    return {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:a1", "resource": _new_patient(mrn), "request": {"method": "POST", "url": "Patient"}},
        {"fullUrl": "urn:uuid:a2", "request": {"method": "POST", "url": "Condition"},
         "resource": {"resourceType": "Condition", "subject": {"reference": "urn:uuid:a1"}, "bodySite": level,
                      "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "M48.062"}]}}},
        {"fullUrl": "urn:uuid:a3", "request": {"method": "POST", "url": "EpisodeOfCare"},
         "resource": {"resourceType": "EpisodeOfCare", "status": "active", "patient": {"reference": "urn:uuid:a1"},
                      "period": {"start": "2026-01-05"}, "diagnosis": [{"condition": {"reference": "urn:uuid:a2"}}],
                      "type": [{"coding": [{"system": P + "CodeSystem/treatment", "code": "open"}]},
                               {"coding": [{"system": P + "CodeSystem/procedure-family", "code": "decompression"}]}]}},
        {"fullUrl": "urn:uuid:a4", "request": {"method": "POST", "url": "Procedure"},
         "resource": {"resourceType": "Procedure", "status": "completed", "subject": {"reference": "urn:uuid:a1"},
                      "extension": [{"url": sd("episode-of-care"), "valueReference": {"reference": "urn:uuid:a3"}},
                                    {"url": sd("estimated-blood-loss"),
                                     "valueQuantity": {"value": ebl, "unit": "mL", "system": "http://unitsofmeasure.org",
                                                       "code": "mL"}}],
                      "code": {"coding": [{"system": P + "CodeSystem/procedure", "code": "decompression_open"}]},
                      "performedDateTime": performed, "bodySite": level}},
    ]}


def test_transaction_stores_every_entry_and_answers_locations(client_for: Client) -> None:
    c = client_for("clinician")
    r = c.post("/fhir", json=_bundle("T-1", 150, "2026-01-20"))
    assert r.status_code == 200, r.text
    out = r.json()
    get_fhir_model_class("Bundle").model_validate(out)
    assert out["type"] == "transaction-response"
    statuses = [e["response"]["status"] for e in out["entry"]]
    locations = [e["response"]["location"] for e in out["entry"]]
    assert statuses == ["201 Created"] * 4
    assert [loc.split("/")[0] for loc in locations] == ["Patient", "Condition", "EpisodeOfCare", "Procedure"]
    proc = c.get(f"/fhir/{locations[3]}").json()
    assert proc["subject"] == {"reference": locations[0]}
    ebl = next(e for e in proc["extension"] if e["url"].endswith("estimated-blood-loss"))
    assert ebl["valueQuantity"]["value"] == 150.0
    episode = c.get(f"/fhir/{locations[2]}").json()
    assert episode["diagnosis"][0]["condition"] == {"reference": locations[1]}
    assert c.get(f"/fhir/{locations[1]}").json()["code"]["coding"][0]["code"] == "M48.062"


def test_transaction_is_all_or_nothing(app: Any, client_for: Client) -> None:
    c = client_for("clinician")
    with app.state.store.transaction() as s:
        before = s.execute(select(func.count()).select_from(PatientRow)).scalar_one()
    bad = _bundle("T-2", -5, "2026-01-20")  # a negative blood loss: the whole Bundle is refused
    body = _outcome(c.post("/fhir", json=bad), 422)
    assert [i["expression"] for i in body["issue"]] == [["Bundle.entry[3].resource.extension[1].valueQuantity.value"]]
    assert "0 to 20000" in body["issue"][0]["diagnostics"]
    with app.state.store.transaction() as s:
        assert s.execute(select(func.count()).select_from(PatientRow)).scalar_one() == before  # nothing stored
    wrong = _bundle("T-3", 10, "2026-01-20")
    wrong["entry"][1]["request"]["method"] = "PUT"
    body = _outcome(c.post("/fhir", json=wrong), 422)
    assert body["issue"][0]["expression"] == ["Bundle.entry[1].request.method"]
    assert _outcome(c.post("/fhir", json={"resourceType": "Bundle", "type": "batch", "entry": []}), 422)


def test_transaction_conditional_entry_reuses_the_match(client_for: Client, world: World) -> None:
    c = client_for("clinician")
    bundle = _bundle("MRN-A-1", 10, "2026-02-01")
    bundle["entry"][0]["request"]["ifNoneExist"] = "identifier=MRN-A-1"  # the world's patient at site A
    r = c.post("/fhir", json=bundle)
    assert r.status_code == 200, r.text
    entries = r.json()["entry"]
    assert entries[0]["response"] == {"status": "200 OK", "location": f"Patient/p-{world.patients['A']}"}
    episode = c.get(f"/fhir/{entries[2]['response']['location']}").json()
    assert episode["patient"] == {"reference": f"Patient/p-{world.patients['A']}"}


def test_create_an_episode_with_its_condition_contained(client_for: Client, world: World) -> None:
    c = client_for("clinician")
    episode = {"resourceType": "EpisodeOfCare", "status": "active",
               "patient": {"reference": f"Patient/p-{world.patients['A']}"}, "period": {"start": "2026-05-04"},
               "contained": [{"resourceType": "Condition", "id": "dx", "subject": {"reference": "#"},
                              "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "M43.16"}]},
                              "bodySite": [{"coding": [{"system": P + "CodeSystem/spinal-level", "code": "L4-L5"}]}]}],
               "diagnosis": [{"condition": {"reference": "#dx"}}]}
    r = c.post("/fhir/EpisodeOfCare", json=episode)
    assert r.status_code == 201, r.text
    eid = r.json()["id"]
    cond = c.get(f"/fhir/Condition/dx-{eid.removeprefix('ep-')}").json()
    assert [cd["code"] for cd in cond["code"]["coding"]] == ["M43.16", "4046000"]  # §2 degenerative spondylolisthesis
    assert c.get(f"/fhir/EpisodeOfCare?patient=p-{world.patients['A']}").json()["total"] == 2


def _nrs_response(world: World, authored: str) -> dict[str, Any]:
    return {"resourceType": "QuestionnaireResponse", "status": "completed",
            "questionnaire": "urn:spinetrack:questionnaire:nrs_back|1", "authored": authored,
            "subject": {"reference": f"Patient/p-{world.patients['A']}"},
            "extension": [{"url": P + "StructureDefinition/episode-of-care",
                           "valueReference": {"reference": f"EpisodeOfCare/ep-{world.episodes['A']}"}},
                          {"url": P + "StructureDefinition/timepoint",
                           "valueCodeableConcept": {"coding": [{"system": P + "CodeSystem/timepoint", "code": "6w"}]}}],
            "item": [{"linkId": "pain", "answer": [{"valueCoding": {
                "system": "urn:spinetrack:instrument:nrs_back:pain", "code": "4"}}]}]}


def test_a_questionnaire_response_is_scored_into_an_observation(client_for: Client, world: World) -> None:
    c = client_for("clinician")
    early = _nrs_response(world, (SURGERY + dt.timedelta(days=10)).isoformat())  # before the 6-week window
    body = _outcome(c.post("/fhir/QuestionnaireResponse", json=early), 422)
    assert body["issue"][0]["expression"] == ["QuestionnaireResponse.authored"]
    assert "6w window" in body["issue"][0]["diagnostics"]
    r = c.post("/fhir/QuestionnaireResponse", json=_nrs_response(world, clock.today().isoformat()))
    assert r.status_code == 201, r.text
    qid = r.json()["id"]
    obs = c.get("/fhir/Observation?code=http://loinc.org|72514-3").json()  # §1 NRS 0-10 pain
    assert obs["total"] == 1
    o = obs["entry"][0]["resource"]
    assert o["valueQuantity"]["value"] == 4.0 and o["derivedFrom"] == [{"reference": f"QuestionnaireResponse/{qid}"}]
