"""The import record: one row of a CSV file, one REDCap record's slice, or one FHIR resource,
already translated into spinetrack's own field names and codes.

Every import format (:mod:`.csv_format`, :mod:`.redcap`, :mod:`.fhir_import`, and the FHIR
server's create / transaction interactions) produces :class:`SourceRecord` objects; the one
writer, :func:`spinetrack.store.imports.write_records`, validates and stores them. The class is
defined beside the writer (the store may not import ``interop``: the layers contract) and
re-exported here, where the readers and helper code look for it.
"""

from __future__ import annotations

from spinetrack.store.imports import ENTITIES, IDENTITY_FIELDS, PARENT_ENTITY, SourceRecord

__all__ = ["ENTITIES", "IDENTITY_FIELDS", "PARENT_ENTITY", "SourceRecord"]
