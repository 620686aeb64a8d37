"""Every resource of the store as FHIR, streamed in bounded memory (for Bulk ``$export``).

:func:`stream_resources` reads each entity in keyset batches (:func:`spinetrack.store.fhir_reads.iter_rows`:
``id > last ORDER BY id LIMIT batch``, one short transaction per batch) and maps each row as it
comes, so memory holds one batch whatever the size of the store. It is not audited itself: the
caller (the Bulk export job, a CLI command) records one audit row for the whole export.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any

from spinetrack import instruments
from spinetrack.errors import ValidationError
from spinetrack.interop.fhir import resources as res
from spinetrack.interop.fhir.resources import FhirScope
from spinetrack.interop.questionnaire import to_questionnaire
from spinetrack.store import fhir_reads
from spinetrack.store.fhir_reads import RowFilter
from spinetrack.store.repositories import Store

__all__ = ["SUPPORTED_TYPES", "TYPE_SOURCES", "stream_resources"]

Mapper = Callable[[Mapping[str, Any], FhirScope], dict[str, Any]]

# resource type → the (entity, mapper, filter) sources that make it, in output order
TYPE_SOURCES: dict[str, tuple[tuple[str, Mapper, RowFilter], ...]] = {
    "Organization": (("site", res.organization, RowFilter()),),
    "Patient": (("patient", res.patient, RowFilter()),),
    "EpisodeOfCare": (("episode", res.episode_of_care, RowFilter()),),
    "Condition": (("episode", res.condition, RowFilter()),),
    "Procedure": (("procedure", res.procedure, RowFilter()), ("reoperation", res.reoperation, RowFilter())),
    "AdverseEvent": (("complication", res.adverse_event, RowFilter()),),
    "Encounter": (("readmission", res.encounter, RowFilter()),),
    "QuestionnaireResponse": (("response", res.questionnaire_response, RowFilter()),),
    "Observation": (("response", res.observation, RowFilter(scored=True)),),
}

SUPPORTED_TYPES: tuple[str, ...] = ("Organization", "Patient", "EpisodeOfCare", "Condition", "Procedure",
                                    "AdverseEvent", "Encounter", "Questionnaire", "QuestionnaireResponse",
                                    "Observation")
"""The resource types spinetrack emits, in the order :func:`stream_resources` yields them
(referenced resources first: a reader that resolves references as it goes finds them)."""


def stream_resources(store: Store, scope: FhirScope, *, types: Collection[str] | None = None,
                     since: dt.datetime | None = None, batch: int = 1000) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ``(resourceType, resource)`` for every resource of ``scope`` in bounded memory.

    ``types``: only these (default :data:`SUPPORTED_TYPES`; an unknown type raises
    :class:`ValidationError` naming the allowed ones). ``since``: only resources created or
    corrected at or after this instant (naive UTC, or aware). Questionnaires are not site data
    and are not filtered by ``since``. ``batch``: rows per query."""
    wanted = list(SUPPORTED_TYPES) if types is None else list(types)
    unknown = [t for t in wanted if t not in SUPPORTED_TYPES]
    if unknown:
        raise ValidationError(field="_type", value=unknown[0], allowed=list(SUPPORTED_TYPES))
    if since is not None and since.tzinfo is not None:
        since = since.astimezone(dt.UTC).replace(tzinfo=None)
    for rtype in SUPPORTED_TYPES:
        if rtype not in wanted:
            continue
        if rtype == "Questionnaire":
            for inst in instruments.all():
                yield rtype, to_questionnaire(inst)
            continue
        for entity, mapper, flt in TYPE_SOURCES[rtype]:
            f = RowFilter(scored=flt.scored, since=since)
            for row in fhir_reads.iter_rows(store, entity, site_id=scope.site_id, identified=scope.identified,
                                            flt=f, batch=batch):
                yield rtype, mapper(row, scope)
