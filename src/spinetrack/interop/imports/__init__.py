"""Imports with a validation report: CSV templates, REDCap exports and FHIR (transaction Bundle or
Bulk NDJSON) turned into :class:`~spinetrack.interop.imports.records.SourceRecord` objects, which
:func:`spinetrack.store.imports.write_records` validates and stores. See ``docs/import.md``."""

from spinetrack.interop.imports.records import ENTITIES, IDENTITY_FIELDS, PARENT_ENTITY, SourceRecord

__all__ = ["ENTITIES", "IDENTITY_FIELDS", "PARENT_ENTITY", "SourceRecord"]
