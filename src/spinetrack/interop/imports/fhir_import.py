"""FHIR imports from files: a transaction (or collection) Bundle as JSON, or Bulk Data NDJSON files
(one resource type per file, one resource per line, as a ``$export`` writes them).

Each resource is read by the FHIR server's own parser (:func:`spinetrack.interop.fhir.parse.parse_resource`:
validated against the ``fhir.resources`` R4B model, then mapped to our fields), so a file import
and a ``POST /fhir`` accept exactly the same resources. What this module adds is what files need:

- **Organization** → a site record (code from the ``…/sid/site`` identifier, else the name; name,
  country), its source id the resource id; a Patient's ``managingOrganization`` names its site
  (unless ``--site`` puts everything under one);
- **Condition** resources are not records of their own: an EpisodeOfCare's
  ``diagnosis[0].condition`` is looked up among them (in NDJSON, ``Condition`` files are read
  first and their code and body sites kept per id — one small entry per episode);
- **Observation** and **Questionnaire** are skipped (scores are computed from the answers;
  the questionnaires are the instruments' own); any other type is a problem in the report;
- references (``Patient/P1``, a Bundle entry's ``fullUrl``) become the parent's source id — the
  resource id, so that a re-import of the same export updates instead of duplicating.

Resources that cannot be read are reported through :attr:`FhirSource.problems` (filled on the
first pass; the writer reads it: see :func:`spinetrack.store.imports.write_records`), located as
``Patient.ndjson:12`` or ``bundle.json Bundle.entry[3]`` with the FHIRPath of the element.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import tempfile
import weakref
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, Final

from spinetrack.errors import InputError
from spinetrack.interop.fhir.codes import SID_BASE
from spinetrack.interop.fhir.parse import parse_resource
from spinetrack.store.imports import RecordProblem, SourceRecord

__all__ = ["READ_ORDER", "SKIPPED_TYPES", "FhirSource", "read_fhir"]

#: Resource types in the order they are read (parents first).
READ_ORDER: Final = ("Organization", "Condition", "Patient", "EpisodeOfCare", "Procedure", "AdverseEvent",
                     "Encounter", "QuestionnaireResponse")
#: Types an export carries that are not imported (computed, or the instruments' own).
SKIPPED_TYPES: Final = frozenset({"Observation", "Questionnaire", "OperationOutcome"})
_ENTITY = {"Organization": "site", "Patient": "patient", "EpisodeOfCare": "episode", "Procedure": "procedure",
           "AdverseEvent": "complication", "Encounter": "readmission", "QuestionnaireResponse": "response"}


def _sha256(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    lines = 0
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
            lines += block.count(b"\n")
    return h.hexdigest(), lines


def _first_type(path: Path) -> str | None:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                try:
                    return str(json.loads(line).get("resourceType"))
                except (json.JSONDecodeError, AttributeError):
                    return None
    return None


def _organization(res: Mapping[str, Any]) -> dict[str, Any]:
    code = next((i.get("value") for i in res.get("identifier") or []
                 if isinstance(i, dict) and i.get("system") == SID_BASE + "site"), None)
    fields: dict[str, Any] = {"code": code or res.get("name") or res.get("id"), "name": res.get("name") or code}
    country = next((a.get("country") for a in res.get("address") or [] if isinstance(a, dict) and a.get("country")),
                   None)
    if country:
        fields["country"] = country
    return fields


class FhirSource:
    """The records of FHIR files (a Bundle, or NDJSON files), re-read on each pass."""

    def __init__(self, paths: Sequence[str | Path]) -> None:
        self.problems: list[RecordProblem] = []
        self._bundles: list[Path] = []
        self._ndjson: list[tuple[int, str, Path]] = []
        self.files: dict[str, str] = {}
        self.rows = 0
        bad = []
        for raw in paths:
            p = Path(raw)
            if not p.is_file():
                bad.append(f"{p}: no such file")
                continue
            digest, lines = _sha256(p)
            self.files[p.name] = digest
            if p.suffix.lower() == ".json":
                self._bundles.append(p)
                self.rows += 1
                continue
            rtype = _first_type(p)
            if rtype is None:
                bad.append(f"{p.name}: not NDJSON (one FHIR resource per line) and not a .json Bundle")
                continue
            rank = READ_ORDER.index(rtype) if rtype in READ_ORDER else len(READ_ORDER)
            self._ndjson.append((rank, rtype, p))
            self.rows += lines
        if bad:
            raise InputError("cannot read these FHIR files:\n  " + "\n  ".join(bad))
        self._ndjson.sort(key=lambda t: t[0])
        self._first = True
        self._spool: IO[bytes] | None = None

    def __iter__(self) -> Iterator[SourceRecord]:
        """The first pass parses the files (each resource validated against its R4B model, the
        costly part) and spools the records to a temporary file; later passes read the spool."""
        if self._spool is not None and not self._first:
            self._spool.seek(0)
            while True:
                try:
                    yield pickle.load(self._spool)  # our own spool, written just before
                except EOFError:
                    return
        report = self._first
        self._first = False
        spool = self._spool = tempfile.TemporaryFile(prefix="spinetrack-fhir-")  # noqa: SIM115  # kept open
        weakref.finalize(self, spool.close)  # closed with the source, if close() is not called first
        for rec in self._parse(report):
            pickle.dump(rec, spool, protocol=pickle.HIGHEST_PROTOCOL)
            yield rec

    def _parse(self, report: bool) -> Iterator[SourceRecord]:
        for path in self._bundles:
            yield from self._bundle(path, report)
        conditions: dict[str, dict[str, Any]] = {}
        for _rank, _rtype, path in self._ndjson:
            yield from self._lines(path, conditions, report)

    def close(self) -> None:
        """Remove the spool of parsed records (also done when the source is garbage-collected)."""
        if self._spool is not None:
            self._spool.close()
            self._spool = None
        self._first = True

    def __enter__(self) -> FhirSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- problems

    def _problem(self, report: bool, location: str, res: Mapping[str, Any], field: str, value: Any, allowed: Any,
                 reason: str | None) -> None:
        if not report:
            return
        entity = _ENTITY.get(str(res.get("resourceType")), str(res.get("resourceType")))
        if not isinstance(allowed, str):
            allowed = ", ".join(map(str, allowed))
        self.problems.append(RecordProblem(location, entity, str(res.get("id") or ""), field, value, allowed, reason))

    # -- one resource

    def _one(self, res: Any, location: str, root: str, report: bool,
             resolve: Any, lookup: Any, sid: str | None = None) -> Iterator[SourceRecord]:
        if not isinstance(res, dict):
            self._problem(report, location, {}, root, type(res).__name__, "a FHIR resource (a JSON object)", None)
            return
        rtype = str(res.get("resourceType"))
        if rtype in SKIPPED_TYPES or rtype == "Condition":
            return
        sid = sid or str(res.get("id") or "")
        if rtype == "Organization":
            yield SourceRecord("site", sid, _organization(res), None, location)
            return
        parsed = parse_resource(res, root=root, source_id=sid, resolve=resolve, lookup=lookup)
        for exc in parsed.problems:
            self._problem(report, location, res, exc.field, exc.value, exc.allowed, exc.reason)
        for rec in parsed.records:
            if rec.entity == "patient":
                org = (res.get("managingOrganization") or {}).get("reference")
                parent = resolve(org, "Organization", root) if isinstance(org, str) else None
                rec = SourceRecord(rec.entity, rec.source_id, rec.fields, parent, location)
            else:
                rec = SourceRecord(rec.entity, rec.source_id, rec.fields, rec.parent, location)
            yield rec

    # -- NDJSON

    def _lines(self, path: Path, conditions: dict[str, dict[str, Any]], report: bool) -> Iterator[SourceRecord]:
        def resolve(reference: str, expected: str, _path: str) -> str | None:
            rtype, _, rid = reference.rpartition("/")
            return rid if rid and (rtype.rsplit("/", 1)[-1] == expected or not rtype) else None

        def lookup(reference: str) -> Mapping[str, Any] | None:
            return conditions.get(reference.rpartition("/")[2])

        with path.open(encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                loc = f"{path.name}:{n}"
                try:
                    res = json.loads(line)
                except json.JSONDecodeError as exc:
                    self._problem(report, loc, {}, "line", line[:40], "one JSON resource per line", exc.msg)
                    continue
                if isinstance(res, dict) and res.get("resourceType") == "Condition":
                    conditions[str(res.get("id"))] = {k: res[k] for k in ("resourceType", "code", "bodySite")
                                                      if k in res}
                    continue
                yield from self._one(res, loc, str(res.get("resourceType", "resource"))
                                     if isinstance(res, dict) else "resource", report, resolve, lookup)

    # -- Bundle

    def _bundle(self, path: Path, report: bool) -> Iterator[SourceRecord]:
        try:
            bundle = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            self._problem(report, f"{path.name}:{exc.lineno}", {}, "Bundle", None, "a JSON Bundle", exc.msg)
            return
        if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
            self._problem(report, path.name, {}, "resourceType", bundle.get("resourceType")
                          if isinstance(bundle, dict) else None, "Bundle", None)
            return
        entries = [e for e in bundle.get("entry") or [] if isinstance(e, dict)]
        by_url: dict[str, tuple[str, str]] = {}
        by_ref: dict[str, dict[str, Any]] = {}
        for i, e in enumerate(entries):
            res = e.get("resource")
            if not isinstance(res, dict):
                continue
            rtype = str(res.get("resourceType"))
            sid = str(res.get("id") or e.get("fullUrl") or f"entry{i}")
            if e.get("fullUrl"):
                by_url[str(e["fullUrl"])] = (rtype, sid)
                by_ref[str(e["fullUrl"])] = res
            by_url[f"{rtype}/{sid}"] = (rtype, sid)
            by_ref[f"{rtype}/{sid}"] = res

        def resolve(reference: str, expected: str, _path: str) -> str | None:
            found = by_url.get(reference)
            if found is not None:
                return found[1] if found[0] == expected else None
            rtype, _, rid = reference.rpartition("/")  # a resource stored by an earlier import
            return rid if rid and rtype.rsplit("/", 1)[-1] == expected else None

        def lookup(reference: str) -> Mapping[str, Any] | None:
            return by_ref.get(reference)

        order = {t: k for k, t in enumerate(READ_ORDER)}
        ranked = sorted(range(len(entries)), key=lambda i: order.get(
            str((entries[i].get("resource") or {}).get("resourceType")), len(READ_ORDER)))
        for i in ranked:
            res = entries[i].get("resource")
            rtype = str(res.get("resourceType")) if isinstance(res, dict) else ""
            sid = by_url.get(f"{rtype}/{res.get('id')}", ("", ""))[1] if isinstance(res, dict) and res.get("id") \
                else str(entries[i].get("fullUrl") or f"entry{i}")
            yield from self._one(res, f"{path.name} Bundle.entry[{i}]", f"Bundle.entry[{i}].resource", report,
                                 resolve, lookup, sid)


def read_fhir(paths: Sequence[str | Path]) -> FhirSource:
    """The records of FHIR files: ``.json`` files are Bundles, others NDJSON (see the module docstring)."""
    return FhirSource(paths)
