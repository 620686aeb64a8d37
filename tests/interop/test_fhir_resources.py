"""The store → FHIR R4 mappers and the bounded-memory stream (spinetrack.interop.fhir).

Reference values: every resource is validated with the fhir.resources R4B models (the R4 JSON is
valid R4B, see interop/questionnaire.py); the standard codes are the rows of
../shared/interop-codes.md named beside each assertion; the pseudonymous keys are those of
spinetrack.snapshot (patient_key / rekey_patient / rekey_episode); FHIR date search semantics
from https://hl7.org/fhir/R4/search.html#date.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from sqlalchemy import Engine

from spinetrack import clock
from spinetrack.interop.fhir import SUPPORTED_TYPES, FhirScope, stream_resources
from spinetrack.interop.fhir import resources as res
from spinetrack.interop.fhir.parse import parse_resource
from spinetrack.interop.fhir.search import SearchParameterError, parse_date, parse_search
from spinetrack.snapshot.export import patient_key, rekey_episode, rekey_patient
from spinetrack.store import fhir_reads
from spinetrack.store.corrections import correct
from spinetrack.store.repositories import SYSTEM, Actor, Store

SECRET_DETAIL = "wound note only the clinic may read"
SECRET_REASON = "readmitted after a fall at home"
P = "https://spinetrack.org/fhir/"
ODI_ITEMS = ("pain_intensity", "personal_care", "lifting", "walking", "sitting", "standing", "sleeping",
             "sex_life", "social_life", "travelling")


def _populate(store: Store) -> dict[str, Any]:
    """Two sites; at A a patient with every kind of record, at B a patient with an episode."""
    today = clock.today()
    surgery = today - dt.timedelta(days=40)
    ids: dict[str, Any] = {"surgery": surgery}
    for key in ("A", "B"):
        ids[f"site{key}"] = store.add_site(SYSTEM, code=f"SITE-{key}", name=f"Site {key}", country="GB")
    a = Actor("setup", "clinician", ids["siteA"])
    pid = store.add_patient(a, ids["siteA"], {"birth_year": 1961, "sex": "male", "bmi": 31.5, "smoking": "former",
                                              "diabetes": True, "asa_grade": 3, "symptom_duration_weeks": 30,
                                              "prior_spine_surgery": False},
                            identity={"full_name": "Ana Example", "mrn": "MRN-77", "email": "ana@example.org",
                                      "phone": "+44 20 7946 0000", "language": "es"})
    eid = store.add_episode(a, pid, {"diagnosis_code": "M51.16", "levels": "L4-L5,L5-S1",
                                     "enrolled_on": (surgery - dt.timedelta(days=20)).isoformat(),
                                     "treatment": "mis", "treatment_family": "discectomy",
                                     "conservative_care": ["physiotherapy", "medication"],
                                     "conservative_care_weeks": 12})
    proc = store.add_procedure(a, eid, {"procedure_code": "discectomy_tubular", "performed_on": surgery.isoformat(),
                                        "levels": "L4-L5,L5-S1", "ebl_ml": 30, "incision_mm": 20, "op_time_min": 75,
                                        "fluoro_s": 12, "los_days": 1, "transfusion": False})
    baseline = (surgery - dt.timedelta(days=10)).isoformat()
    resp = {code: store.submit_response(a, eid, {"instrument": code, "timepoint": "baseline", "collected_on": baseline,
                                                 "answers": answers})
            for code, answers in (("odi", dict.fromkeys(ODI_ITEMS, 3)), ("nrs_back", {"pain": 7}),
                                  ("eq5d5l", {"MO": 2, "SC": 1, "UA": 2, "PD": 3, "AD": 1}))}
    cx = store.add_complication(a, eid, {"category": "ssi_deep", "clavien_dindo": "IIIb",
                                         "occurred_on": (surgery + dt.timedelta(days=5)).isoformat(),
                                         "detail": SECRET_DETAIL})
    readm = store.add_readmission(a, eid, {"admitted_on": (surgery + dt.timedelta(days=7)).isoformat(),
                                           "reason": SECRET_REASON})
    reop = store.add_reoperation(a, eid, {"performed_on": (surgery + dt.timedelta(days=30)).isoformat(),
                                          "reason": "recurrent_herniation", "levels": "L4-L5"})
    b = Actor("setup", "clinician", ids["siteB"])
    pid_b = store.add_patient(b, ids["siteB"], {"birth_year": 1975, "sex": "female"},
                              identity={"full_name": "Bo Example", "mrn": "MRN-B"})
    eid_b = store.add_episode(b, pid_b, {"diagnosis_code": "M48.062", "levels": "L3-L4",
                                         "enrolled_on": today.isoformat()})
    ids.update(patient=pid, episode=eid, procedure=proc, responses=resp, complication=cx, readmission=readm,
               reoperation=reop, patient_b=pid_b, episode_b=eid_b)
    return ids


@pytest.fixture
def store(engine: Engine) -> Store:
    return Store(engine)


@pytest.fixture
def data(store: Store) -> dict[str, Any]:
    return _populate(store)


def _all(store: Store, scope: FhirScope, **kw: Any) -> dict[str, dict[str, Any]]:
    """Every streamed resource by ``Type/id``."""
    out = {}
    for rtype, r in stream_resources(store, scope, **kw):
        assert r["resourceType"] == rtype
        out[f"{rtype}/{r['id']}"] = r
    return out


def _coding(concept: dict[str, Any], system: str) -> list[str]:
    return [c["code"] for c in concept.get("coding", []) if c["system"] == system]


def _ext(resource: dict[str, Any], name: str) -> Any:
    found = [e for e in resource.get("extension", []) if e["url"] == P + "StructureDefinition/" + name]
    assert len(found) == 1, (name, resource.get("extension"))
    return found[0]


# ------------------------------------------------------------------------------ validation


@pytest.mark.parametrize("identified", [True, False], ids=["identified", "pseudonymised"])
def test_every_type_is_emitted_and_validates_with_the_r4b_models(store: Store, data: dict[str, Any],
                                                                 identified: bool) -> None:
    got = _all(store, FhirScope(None, identified))
    types = Counter(k.split("/")[0] for k in got)
    assert set(types) == set(SUPPORTED_TYPES)
    # two sites, two patients, two episodes (and their Conditions), index procedure + reoperation,
    # three answered questionnaires, each scored
    assert (types["Organization"], types["Patient"], types["EpisodeOfCare"], types["Condition"]) == (2, 2, 2, 2)
    assert (types["Procedure"], types["AdverseEvent"], types["Encounter"]) == (2, 1, 1)
    assert types["QuestionnaireResponse"] == types["Observation"] == 3
    for key, resource in got.items():
        model = get_fhir_model_class(resource["resourceType"])
        model.model_validate(resource)  # raises on any invalid element (fhir.resources R4B)
        assert len(resource["id"]) <= 64 and all(ch.isalnum() or ch in "-." for ch in resource["id"]), key


def test_references_point_at_emitted_resources(store: Store, data: dict[str, Any]) -> None:
    """Every reference a resource makes resolves to a resource of the same stream."""
    for identified in (True, False):
        got = _all(store, FhirScope(None, identified))

        def refs(node: Any) -> list[str]:
            if isinstance(node, dict):
                own = [node["reference"]] if isinstance(node.get("reference"), str) else []
                return own + [r for v in node.values() for r in refs(v)]
            if isinstance(node, list):
                return [r for v in node for r in refs(v)]
            return []

        for resource in got.values():
            for ref in refs(resource):
                assert ref in got, (resource["resourceType"], ref)


# ------------------------------------------------------------------------------ codes (interop-codes.md)


def test_condition_carries_icd10cm_and_the_snomed_code_of_the_codes_file(store: Store, data: dict[str, Any]) -> None:
    got = _all(store, FhirScope(None, True), types=["Condition"])
    a = got[f"Condition/dx-{data['episode']}"]
    assert _coding(a["code"], "http://hl7.org/fhir/sid/icd-10-cm") == ["M51.16"]
    assert _coding(a["code"], "http://snomed.info/sct") == ["202735001"]  # §2 "LDH with radiculopathy", IPS-P
    assert [c["coding"][0]["code"] for c in a["bodySite"]] == ["L4-L5", "L5-S1"]
    b = got[f"Condition/dx-{data['episode_b']}"]
    assert _coding(b["code"], "http://snomed.info/sct") == ["18347007"]  # §2 "Lumbar spinal stenosis", IPS-P


def test_procedure_codes_approach_and_operative_measures(store: Store, data: dict[str, Any]) -> None:
    got = _all(store, FhirScope(None, True), types=["Procedure"])
    p = got[f"Procedure/proc-{data['procedure']}"]
    assert _coding(p["code"], "http://snomed.info/sct") == ["89355001"]  # §2 "Discectomy for herniated disc", IPS-X
    assert _coding(p["code"], P + "CodeSystem/procedure") == ["discectomy_tubular"]
    assert _ext(p, "surgical-approach")["valueCodeableConcept"]["coding"][0] == {
        "system": P + "CodeSystem/surgical-approach", "code": "mis"}
    assert _ext(p, "mis-technique")["valueCodeableConcept"]["coding"][0]["code"] == "tubular"
    assert _ext(p, "estimated-blood-loss")["valueQuantity"] == {
        "value": 30.0, "unit": "mL", "system": "http://unitsofmeasure.org", "code": "mL"}
    assert _ext(p, "incision-length")["valueQuantity"]["code"] == "mm"
    assert _ext(p, "operative-time")["valueQuantity"]["value"] == 75.0
    assert _ext(p, "length-of-stay")["valueQuantity"]["code"] == "d"
    assert _ext(p, "transfusion")["valueBoolean"] is False
    assert p["performedDateTime"] == data["surgery"].isoformat()
    r = got[f"Procedure/reop-{data['reoperation']}"]
    assert _coding(r["code"], P + "CodeSystem/procedure") == ["reoperation"]
    assert _coding(r["reasonCode"][0], P + "CodeSystem/reoperation-reason") == ["recurrent_herniation"]
    assert r["reasonReference"] == [{"reference": f"Procedure/proc-{data['procedure']}"}]


def test_prom_totals_are_survey_observations_with_loinc_where_listed(store: Store, data: dict[str, Any]) -> None:
    got = _all(store, FhirScope(None, True), types=["Observation", "QuestionnaireResponse"])
    odi = got[f"Observation/obs-{data['responses']['odi']}"]
    assert odi["category"][0]["coding"][0] == {
        "system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "survey",
        "display": "Survey"}  # §4 "Observation category survey"
    assert _coding(odi["code"], "http://loinc.org") == ["97909-6"]  # §1 "ODI total score", loinc.org/97909-6
    assert odi["valueQuantity"]["value"] == 60.0  # ten sections at 3 of 5: 30/50 = 60 % (ODI 2.1a scoring)
    assert odi["valueQuantity"]["code"] == "{score}"  # §3 "UCUM units seen": {score} for 97909-6
    assert odi["derivedFrom"] == [{"reference": f"QuestionnaireResponse/qr-{data['responses']['odi']}"}]
    assert _ext(odi, "timepoint")["valueCodeableConcept"]["coding"][0]["code"] == "baseline"
    nrs = got[f"Observation/obs-{data['responses']['nrs_back']}"]
    assert _coding(nrs["code"], "http://loinc.org") == ["72514-3"]  # §1 "NRS 0-10 pain (generic)"
    # §1: no LOINC code tells back from leg pain, so the body site does (own CodeSystem pain-site)
    assert nrs["bodySite"]["coding"] == [{"system": "https://spinetrack.org/fhir/CodeSystem/pain-site",
                                          "code": "back", "display": "Back"}]
    assert _coding(nrs["code"], P + "CodeSystem/instrument-score") == ["nrs_back"]
    assert nrs["valueQuantity"]["value"] == 7.0
    eq = got[f"Observation/obs-{data['responses']['eq5d5l']}"]
    assert _coding(eq["code"], "http://snomed.info/sct") == ["736534008"]  # §2 "EQ-5D-5L index value", MII
    assert eq["valueQuantity"]["code"] == "1"
    qr = got[f"QuestionnaireResponse/qr-{data['responses']['odi']}"]
    assert qr["questionnaire"] == "urn:spinetrack:questionnaire:odi|2.1a"
    assert [i["linkId"] for i in qr["item"]] == list(ODI_ITEMS)


def test_complication_and_readmission(store: Store, data: dict[str, Any]) -> None:
    got = _all(store, FhirScope(None, True), types=["AdverseEvent", "Encounter"])
    ae = got[f"AdverseEvent/cx-{data['complication']}"]
    assert ae["actuality"] == "actual"
    assert _coding(ae["event"], "http://snomed.info/sct") == ["213286009"]  # §2 "SSI deep", OPL
    assert _coding(ae["event"], P + "CodeSystem/complication") == ["ssi_deep"]
    assert _ext(ae, "clavien-dindo")["valueCodeableConcept"]["coding"][0]["code"] == "IIIb"
    assert ae["suspectEntity"] == [{"instance": {"reference": f"Procedure/proc-{data['procedure']}"}}]
    assert ae["event"]["text"] == SECRET_DETAIL
    enc = got[f"Encounter/readm-{data['readmission']}"]
    assert enc["class"]["system"] == "http://terminology.hl7.org/CodeSystem/v3-ActCode"
    assert enc["class"]["code"] == "IMP"  # §3 "Inpatient Visit": FHIR ActCode IMP
    assert enc["episodeOfCare"] == [{"reference": f"EpisodeOfCare/ep-{data['episode']}"}]
    assert enc["reasonCode"] == [{"text": SECRET_REASON}]


def test_identified_patient_carries_identity(store: Store, data: dict[str, Any]) -> None:
    p = _all(store, FhirScope(None, True), types=["Patient"])[f"Patient/p-{data['patient']}"]
    assert p["name"] == [{"text": "Ana Example"}]
    assert {"system": P + "sid/mrn/SITE-A", "value": "MRN-77", "type": {"text": "hospital number"}} in p["identifier"]
    assert {t["system"]: t["value"] for t in p["telecom"]} == {"email": "ana@example.org", "phone": "+44 20 7946 0000"}
    assert p["communication"][0]["language"]["coding"][0] == {"system": "urn:ietf:bcp:47", "code": "es"}
    assert p["birthDate"] == "1961" and p["gender"] == "male"
    assert _ext(p, "bmi")["valueDecimal"] == 31.5 and _ext(p, "asa-grade")["valueInteger"] == 3
    assert p["meta"]["lastUpdated"].endswith("Z")


# ------------------------------------------------------------------------------ pseudonymised scope


def test_pseudonymised_scope_leaves_out_identity_free_text_and_record_keeping_times(
        store: Store, data: dict[str, Any]) -> None:
    got = _all(store, FhirScope(None, False))
    text = json.dumps(got)
    for secret in ("Ana Example", "MRN-77", "ana@example.org", "7946", SECRET_DETAIL, SECRET_REASON, "ST-",
                   "lastUpdated", "pseudo-id"):
        assert secret not in text, secret
    p = got[f"Patient/{patient_key(data['patient'])}"]  # the snapshot's key: P<row id>
    assert p["identifier"] == [{"system": P + "sid/patient-key", "value": patient_key(data["patient"])}]
    assert p["birthDate"] == "1961"
    assert "communication" not in p and "telecom" not in p and "name" not in p
    # clinical dates are kept (docs/fhir.md): the procedure date
    assert got[f"Procedure/proc-{data['procedure']}"]["performedDateTime"] == data["surgery"].isoformat()


def test_rekeyed_ids_are_the_snapshot_keys(store: Store, data: dict[str, Any]) -> None:
    secret = b"a secret of more than sixteen bytes"
    got = _all(store, FhirScope(None, False, rekey_secret=secret))
    assert f"Patient/{rekey_patient(secret, data['patient'])}" in got
    assert f"EpisodeOfCare/ep-{rekey_episode(secret, data['episode'])}" in got
    assert not any(k.endswith(f"-{data['procedure']}") and k.startswith("Procedure") for k in got)


def test_site_scope_sees_only_its_site(store: Store, data: dict[str, Any]) -> None:
    got = _all(store, FhirScope(data["siteB"], True))
    assert f"Patient/p-{data['patient_b']}" in got and f"Patient/p-{data['patient']}" not in got
    assert {k.split("/")[0] for k in got} == {"Organization", "Patient", "EpisodeOfCare", "Condition",
                                             "Questionnaire"}
    assert [r["id"] for k, r in got.items() if k.startswith("Organization")] == [f"site-{data['siteB']}"]


# ------------------------------------------------------------------------------ streaming


def test_stream_reads_in_batches_of_the_given_size(store: Store, data: dict[str, Any],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, int, int, int]] = []
    real = fhir_reads.fetch_rows

    def spy(s: Any, entity: str, **kw: Any) -> list[dict[str, Any]]:
        rows = real(s, entity, **kw)
        calls.append((entity, kw["after"], kw["limit"], len(rows)))
        return rows

    monkeypatch.setattr(fhir_reads, "fetch_rows", spy)
    small = _all(store, FhirScope(None, True), batch=1)
    assert all(limit == 1 and n <= 1 for _, _, limit, n in calls)
    # keyset paging: each patient query starts after the last id seen
    assert [c[1] for c in calls if c[0] == "patient"] == [0, data["patient"], data["patient_b"]]
    monkeypatch.setattr(fhir_reads, "fetch_rows", real)
    assert small == _all(store, FhirScope(None, True), batch=1000)


def test_types_and_since(store: Store, data: dict[str, Any]) -> None:
    got = _all(store, FhirScope(None, True), types=["Patient", "Encounter"])
    assert {k.split("/")[0] for k in got} == {"Patient", "Encounter"}
    with pytest.raises(Exception, match="_type"):
        list(stream_resources(store, FhirScope(None, True), types=["Medication"]))
    future = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    assert _all(store, FhirScope(None, True), since=future, types=["Patient", "Procedure"]) == {}
    before = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    correct(store, Actor("fix", "clinician", data["siteA"]), "procedure", data["procedure"], "ebl_ml", 45,
            "typing error in the operation note")
    changed = _all(store, FhirScope(None, True), since=before, types=["Procedure", "Patient", "AdverseEvent"])
    assert list(changed) == [f"Procedure/proc-{data['procedure']}"]  # corrected after `before`: only it
    assert _ext(changed[f"Procedure/proc-{data['procedure']}"], "estimated-blood-loss")["valueQuantity"]["value"] == 45


# ------------------------------------------------------------------------------ ids and search parameters


def test_ids_parse_back() -> None:
    ident, pseudo = FhirScope(1, True), FhirScope(None, False)
    assert res.parse_id("p-17", ident) == ("patient", 17)
    assert res.parse_id("P17", pseudo) == ("patient", 17)
    assert res.parse_id("P17", ident) is None and res.parse_id("p-17", pseudo) is None
    assert res.parse_id("dx-4", ident) == ("condition", 4) and res.parse_id("obs-9", pseudo) == ("observation", 9)
    assert res.parse_id("x-1", ident) is None and res.parse_id("p-", ident) is None


@pytest.mark.parametrize(("raw", "expected"), [
    ("2026", ("eq", dt.datetime(2026, 1, 1), dt.datetime(2027, 1, 1))),
    ("ge2026-02", ("ge", dt.datetime(2026, 2, 1), dt.datetime(2026, 3, 1))),
    ("lt2026-12-31", ("lt", dt.datetime(2026, 12, 31), dt.datetime(2027, 1, 1))),
    ("2026-03-10T10:00:00+02:00", ("eq", dt.datetime(2026, 3, 10, 8), dt.datetime(2026, 3, 10, 8, 0, 1))),
])
def test_parse_date_gives_the_interval_the_value_covers(raw: str, expected: tuple[Any, ...]) -> None:
    assert parse_date("date", raw) == expected


@pytest.mark.parametrize("raw", ["2026-13", "xx2026", "26-01-01", "2026-02-30"])
def test_parse_date_refuses_malformed_values(raw: str) -> None:
    with pytest.raises(SearchParameterError) as info:
        parse_date("date", raw)
    assert info.value.field == "date" and info.value.fhir_status == 400


def test_search_codes_map_to_store_codes() -> None:
    scope = FhirScope(1, True)
    parts = [("procedure", fhir_reads.RowFilter()), ("reoperation", fhir_reads.RowFilter())]
    spec = parse_search("Procedure", [("code", "http://snomed.info/sct|282191000")], scope, parts)
    assert spec.parts[0][1].codes == ("decompression_endoscopic_il", "decompression_tubular")
    assert spec.parts[1][1].nothing  # a SNOMED code never matches a reoperation
    spec = parse_search("Procedure", [("code", P + "CodeSystem/procedure|reoperation")], scope, parts)
    assert spec.parts[0][1].codes == () and not spec.parts[1][1].nothing
    with pytest.raises(SearchParameterError) as info:
        parse_search("Procedure", [("code:text", "x")], scope, parts)
    assert "modifiers" in str(info.value)


# ------------------------------------------------------------------------------ FHIR → import records


def test_emitted_resources_parse_back_to_the_stored_fields(store: Store, data: dict[str, Any]) -> None:
    got = _all(store, FhirScope(None, True))

    def resolve(ref: str, expected: str, path: str) -> str:
        assert ref.split("/")[0] == expected, (ref, path)
        return ref.split("/")[1]

    def parse(key: str, **kw: Any) -> Any:
        parsed = parse_resource(got[key], root=key.split("/")[0], source_id=key, resolve=resolve, **kw)
        assert parsed.problems == [], parsed.problems
        (record,) = parsed.records
        return record

    pat = parse(f"Patient/p-{data['patient']}")
    assert pat.entity == "patient" and pat.fields["mrn"] == "MRN-77" and pat.fields["birth_year"] == 1961
    assert pat.fields["full_name"] == "Ana Example" and pat.fields["language"] == "es" and pat.fields["bmi"] == 31.5
    ep = parse(f"EpisodeOfCare/ep-{data['episode']}",
               lookup=lambda ref: got[ref])
    assert ep.parent == f"p-{data['patient']}"
    assert (ep.fields["diagnosis_code"], ep.fields["levels"], ep.fields["treatment"]) == (
        "M51.16", "L4-L5,L5-S1", "mis")
    assert ep.fields["conservative_care"] == ["physiotherapy", "medication"]
    proc = parse(f"Procedure/proc-{data['procedure']}")
    assert (proc.entity, proc.parent) == ("procedure", f"ep-{data['episode']}")
    assert proc.fields["procedure_code"] == "discectomy_tubular" and proc.fields["ebl_ml"] == 30.0
    reop = parse(f"Procedure/reop-{data['reoperation']}")
    assert (reop.entity, reop.fields["reason"], reop.fields["levels"]) == (
        "reoperation", "recurrent_herniation", "L4-L5")
    cx = parse(f"AdverseEvent/cx-{data['complication']}")
    assert (cx.fields["category"], cx.fields["clavien_dindo"], cx.fields["detail"]) == ("ssi_deep", "IIIb",
                                                                                        SECRET_DETAIL)
    readm = parse(f"Encounter/readm-{data['readmission']}")
    assert readm.fields == {"admitted_on": (data["surgery"] + dt.timedelta(days=7)).isoformat(),
                            "reason": SECRET_REASON}
    qr = parse(f"QuestionnaireResponse/qr-{data['responses']['nrs_back']}")
    assert (qr.fields["instrument"], qr.fields["timepoint"], qr.fields["answers"]) == ("nrs_back", "baseline",
                                                                                      {"pain": 7})


def test_parse_names_every_problem_by_fhirpath() -> None:
    resource = {"resourceType": "Procedure", "status": "completed", "subject": {"reference": "Patient/p-1"},
                "code": {"coding": [{"system": "http://snomed.info/sct", "code": "89355001"}]},
                "bodySite": [{"coding": [{"system": "http://example.org/other", "code": "L4"}]}]}
    parsed = parse_resource(resource, root="Procedure", source_id="x", resolve=lambda *a: None)
    fields = [p.field for p in parsed.problems]
    assert fields == ["Procedure.extension", "Procedure.performedDateTime", "Procedure.bodySite[0]", "Procedure.code"]
    assert parsed.records == []
    invalid = parse_resource({"resourceType": "Procedure", "status": "completed", "performedDateTime": "yesterday",
                              "bogus": 1}, root="Bundle.entry[0].resource", source_id="y", resolve=lambda *a: None)
    # fhir.resources R4B: a dateTime off the spec's regex, an unknown element, the missing subject (1..1)
    assert sorted(p.field for p in invalid.problems) == [
        "Bundle.entry[0].resource.bogus", "Bundle.entry[0].resource.performedDateTime",
        "Bundle.entry[0].resource.subject"]


@pytest.mark.slow
def test_a_synthetic_cohort_streams_valid_resources_one_per_row(engine: Engine) -> None:
    """Every row of a 300-patient demo cohort (every instrument, conservative and surgical episodes,
    complications, readmissions, reoperations) maps to a resource that fhir.resources R4B accepts."""
    from sqlalchemy import func, select

    from spinetrack.store.tables import (
        ComplicationRow,
        EpisodeRow,
        PatientRow,
        ProcedureRow,
        PromResponseRow,
        ReadmissionRow,
        ReoperationRow,
    )
    from spinetrack.synth.load import load_demo

    load_demo(engine, patients=300, seed=5)
    store = Store(engine)
    counts: Counter[str] = Counter()
    for rtype, resource in stream_resources(store, FhirScope(None, False), batch=250):
        get_fhir_model_class(rtype).model_validate(resource)
        counts[rtype] += 1
    with store.transaction() as s:
        def n(table: Any, *where: Any) -> int:
            return int(s.execute(select(func.count()).select_from(table).where(*where)).scalar_one())

        assert counts["Patient"] == n(PatientRow) == 300
        assert counts["EpisodeOfCare"] == counts["Condition"] == n(EpisodeRow)
        assert counts["Procedure"] == n(ProcedureRow) + n(ReoperationRow)
        assert counts["AdverseEvent"] == n(ComplicationRow) > 0 and counts["Encounter"] == n(ReadmissionRow) > 0
        assert counts["QuestionnaireResponse"] == n(PromResponseRow)
        assert counts["Observation"] == n(PromResponseRow, PromResponseRow.valid.is_(True),
                                          PromResponseRow.score.is_not(None))
