"""Request and response bodies of the REST API (``/api/v1``), separate from the ORM tables.

Naming follows the house style: ``<Resource>Create`` for a request body, ``<Resource>Public``
for what the API returns, ``<Resources>Public`` for a list envelope.

The ``*Create`` models are deliberately permissive in their Python types: each field accepts
any JSON value and the domain validation (:mod:`spinetrack.domain`) decides, so that a wrong
value is refused with the same field-named message everywhere (``procedure.ebl_ml: -5 is not
allowed; allowed: 0 to 20000 mL``). Their OpenAPI schema still documents the intended type,
unit and allowed values of every field. Unknown fields are refused (``additionalProperties:
false``).

The bodies live in modules by the part of the record they carry: :mod:`._base` (field types,
base classes, the error body), :mod:`.records` (patients, episodes, procedures and events),
:mod:`.visits` (invitations, PROM responses, the patient's visit, trajectories),
:mod:`.screening` (red-flag screening) and :mod:`.status` (status and outcome aggregates).
"""

from spinetrack.web.schemas._base import ProblemPublic
from spinetrack.web.schemas.records import (
    ComplicationCreate,
    ComplicationPublic,
    ComplicationsPublic,
    EpisodeCreate,
    EpisodePublic,
    EpisodesPublic,
    IdentityCreate,
    IdentityPublic,
    ImagingFindingPublic,
    PatientCreate,
    PatientPublic,
    PatientsPublic,
    PatientSummaryPublic,
    ProcedureCreate,
    ProcedurePublic,
    ProceduresPublic,
    ReadmissionCreate,
    ReadmissionPublic,
    ReoperationCreate,
    ReoperationPublic,
)
from spinetrack.web.schemas.screening import (
    ScreeningCreate,
    ScreeningCriterionPublic,
    ScreeningPublic,
    ScreeningRedFlagPublic,
)
from spinetrack.web.schemas.status import (
    CompletenessPublic,
    OutcomeAggregatesPublic,
    OutcomeCellPublic,
    StatusPublic,
)
from spinetrack.web.schemas.visits import (
    DraftCreate,
    DraftPublic,
    InstrumentScalePublic,
    InvitationCreate,
    InvitationCreatedPublic,
    InvitationPublic,
    InvitationsPublic,
    PromResponseCreate,
    PromResponsePublic,
    PromResponsesPublic,
    QuestionnairePublic,
    TrajectoryPointPublic,
    TrajectoryPublic,
    VisitPublic,
    VisitQuestionnairePublic,
    VisitResponseCreate,
    VisitSubmissionPublic,
)

__all__ = [
    "CompletenessPublic",
    "ComplicationCreate",
    "ComplicationPublic",
    "ComplicationsPublic",
    "DraftCreate",
    "DraftPublic",
    "EpisodeCreate",
    "EpisodePublic",
    "EpisodesPublic",
    "IdentityCreate",
    "IdentityPublic",
    "ImagingFindingPublic",
    "InstrumentScalePublic",
    "InvitationCreate",
    "InvitationCreatedPublic",
    "InvitationPublic",
    "InvitationsPublic",
    "OutcomeAggregatesPublic",
    "OutcomeCellPublic",
    "PatientCreate",
    "PatientPublic",
    "PatientSummaryPublic",
    "PatientsPublic",
    "ProblemPublic",
    "ProcedureCreate",
    "ProcedurePublic",
    "ProceduresPublic",
    "PromResponseCreate",
    "PromResponsePublic",
    "PromResponsesPublic",
    "QuestionnairePublic",
    "ReadmissionCreate",
    "ReadmissionPublic",
    "ReoperationCreate",
    "ReoperationPublic",
    "ScreeningCreate",
    "ScreeningCriterionPublic",
    "ScreeningPublic",
    "ScreeningRedFlagPublic",
    "StatusPublic",
    "TrajectoryPointPublic",
    "TrajectoryPublic",
    "VisitPublic",
    "VisitQuestionnairePublic",
    "VisitResponseCreate",
    "VisitSubmissionPublic",
]
