"""The server's CapabilityStatement (``GET /fhir/metadata``): exactly what is implemented.

Built from the tables the server itself uses (:data:`~spinetrack.interop.fhir.stream.SUPPORTED_TYPES`,
:data:`~spinetrack.interop.fhir.search.SEARCH_PARAMS`, :data:`WRITABLE_TYPES`), so it cannot drift
from the code. Bulk Data ``$export`` is declared by its own router (helper B's
:mod:`spinetrack.web.routes.fhir_bulk`) through ``operations``: pass them in.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from spinetrack import __version__
from spinetrack.interop.fhir.search import COMMON_PARAMS, DEFAULT_COUNT, MAX_COUNT, describe
from spinetrack.interop.fhir.stream import SUPPORTED_TYPES
from spinetrack.interop.questionnaire import FHIR_RELEASE

__all__ = ["BULK_EXPORT_OPERATIONS", "WRITABLE_TYPES", "capability_statement"]

BULK_DATA = "http://hl7.org/fhir/uv/bulkdata"  # the Bulk Data IG's canonical (interop-codes.md §4)
BULK_EXPORT_OPERATIONS: dict[str, dict[str, str]] = {
    # the route that serves it → its declaration (the IG's OperationDefinitions under its canonical)
    "/fhir/$export": {"name": "export", "definition": f"{BULK_DATA}/OperationDefinition/export"},
    "/fhir/Group/{group}/$export": {"name": "export",
                                    "definition": f"{BULK_DATA}/OperationDefinition/group-export"},
}
"""Bulk Data ``$export`` (helper B's :mod:`spinetrack.web.routes.fhir_bulk`), declared when its route is served."""

WRITABLE_TYPES: tuple[str, ...] = ("Patient", "EpisodeOfCare", "Condition", "Procedure", "AdverseEvent", "Encounter",
                                   "QuestionnaireResponse")
"""Types accepted by create and in transaction Bundles (:mod:`spinetrack.interop.fhir.parse`)."""

_COMMON_DOCS = {
    "_id": ("token", "the resource id; commas for several"),
    "_lastUpdated": ("date", "when the record was created or last corrected, with a prefix eq ne lt gt le ge sa eb"),
    "_count": ("number", f"page size, default {DEFAULT_COUNT}, at most {MAX_COUNT}; 0 for the total only"),
}


def capability_statement(base: str, *, date: str, operations: Sequence[dict[str, Any]] = (),
                         group_operations: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """The CapabilityStatement of the server at ``base`` (``date``: an ISO date, the build's).
    ``operations``: system-level operations served; ``group_operations``: operations on Group
    (declared as a Group resource with those operations and no other interaction)."""
    resources = []
    for rtype in SUPPORTED_TYPES:
        interactions = [{"code": "read"}, {"code": "search-type"}]
        if rtype in WRITABLE_TYPES:
            interactions.append({"code": "create"})
        params = [{"name": n, "type": t, "documentation": d} for n, (t, d) in _COMMON_DOCS.items()]
        params += [{"name": n, "type": t, "documentation": d} for n, (t, d) in describe(rtype).items()]
        entry: dict[str, Any] = {"type": rtype, "interaction": interactions, "versioning": "no-version",
                                 "readHistory": False, "updateCreate": False,
                                 "conditionalCreate": rtype in WRITABLE_TYPES, "conditionalRead": "not-supported",
                                 "conditionalUpdate": False, "conditionalDelete": "not-supported",
                                 "searchParam": params}
        resources.append(entry)
    if group_operations:
        resources.append({"type": "Group", "operation": list(group_operations)})
    rest: dict[str, Any] = {
        "mode": "server",
        "documentation": (
            "spinetrack's FHIR R4 server. Sign in (session cookie) or send an API token as "
            "'Authorization: Bearer <token>'. Clinicians and coordinators see their own site's patients with their "
            "identity; researchers see every site pseudonymised; other roles have no patient-level access. Errors "
            "are OperationOutcome. Paging: follow the Bundle's next link. Parameters not listed are refused (400). "
            f"Common parameters: {', '.join(p for p in COMMON_PARAMS if p != '_cursor')}."),
        "security": {"cors": False, "description": "Session cookie (with the X-CSRF-Token header on writes) or "
                                                   "Bearer API token with the read / write / export scope."},
        "resource": resources,
        "interaction": [{"code": "transaction"}],
    }
    if operations:
        rest["operation"] = list(operations)
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date,
        "publisher": "spinetrack",
        "kind": "instance",
        "software": {"name": "spinetrack", "version": __version__},
        "implementation": {"description": "spinetrack FHIR server", "url": base},
        "fhirVersion": FHIR_RELEASE,
        "format": ["application/fhir+json", "json"],
        "rest": [rest],
    }
