"""FHIR R4 for spinetrack: store → resources (:mod:`.resources`), the bounded-memory stream of a
whole store (:mod:`.stream`), search parameters (:mod:`.search`), FHIR → import records
(:mod:`.parse`), the server's interactions (:mod:`.server`) and its CapabilityStatement
(:mod:`.capability`). docs/fhir.md describes the resources, the codes and the choices made.

The agreed interface (helper B's Bulk ``$export`` streams it)::

    stream_resources(store, FhirScope(site_id=None, identified=False), types=["Patient"], since=None)
"""

from __future__ import annotations

from spinetrack.interop.fhir.resources import FhirScope
from spinetrack.interop.fhir.stream import SUPPORTED_TYPES, stream_resources

__all__ = ["SUPPORTED_TYPES", "FhirScope", "stream_resources"]
