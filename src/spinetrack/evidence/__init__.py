"""The literature base: published MIS-versus-open figures with their citations.

Package data (``data/studies.csv``, ``data/arm_data.csv``; column dictionary and provenance in
``data/SCHEMA.md``) loaded into frozen, validated records, plus the map from literature outcomes
to the scorecard's claims; :func:`summarize_evidence` (``pooling``) groups and pools the rows, and
:func:`literature_for` (``literature``) picks the figure shown beside each scorecard row. Only
numbers and citations are shipped, never quoted source text.

Modules
-------
``vocab``       the controlled vocabularies of the coded columns.
``records``     the typed records (a published figure, an arm summary, a citation) and the
                error listing every problem of a data file.
``schema``      the columns of both files and typed access to one record.
``reader``      reading a data file: text, header, cell shapes, checks common to both files.
``studies``     ``studies.csv``: parsing, cross-column checks, :func:`load_studies`.
``arms``        ``arm_data.csv``: parsing, checks, :func:`load_arm_data`.
``claims_map``  which literature outcomes inform which scorecard claim, and how far.
``selection``   :func:`select`: rows of one comparison, outcome or claim.
``citations``   citation keys, short labels and the JSON form of a citation.
``wording``     flags, findings, designs and units in words.
``items``       every row as an :class:`EvidenceItem` with its effect and figure in words.
``pooling``     groups, our own random-effects pools, :func:`summarize_evidence`.
``literature``  the figure beside each scorecard row, its context and its verdict.

Examples
--------
>>> from spinetrack import evidence
>>> rows = evidence.select(evidence.load_studies(), claim="length_of_stay", comparison="fusion")
>>> all(r.outcome.value == "length_of_stay" for r in rows)
True
"""

from __future__ import annotations

from spinetrack.evidence.arms import load_arm_data
from spinetrack.evidence.claims_map import (
    CLAIM_EVIDENCE,
    ClaimEvidence,
    OutcomeLink,
    Relation,
    claim_evidence,
    conversion_factor,
    relation,
)
from spinetrack.evidence.items import EvidenceItem, ItemStatus
from spinetrack.evidence.literature import (
    LEVELS,
    ContextRow,
    LiteratureEntry,
    literature_for,
    literature_verdict,
)
from spinetrack.evidence.pooling import (
    EvidenceGroup,
    EvidenceReport,
    PooledEstimate,
    summarize_evidence,
)
from spinetrack.evidence.records import (
    ArmSummary,
    Citation,
    DataProblem,
    EvidenceDataError,
    EvidenceRecord,
    PublishedEstimate,
    PValue,
)
from spinetrack.evidence.selection import select
from spinetrack.evidence.studies import load_studies
from spinetrack.evidence.vocab import (
    ArmStatistic,
    Certainty,
    Comparison,
    Design,
    Finding,
    Flag,
    Measure,
    Outcome,
    ScaleDirection,
    SignConvention,
    SpreadKind,
    Timepoint,
    Unit,
)
from spinetrack.evidence.wording import unit_text

__all__ = [
    "CLAIM_EVIDENCE",
    "LEVELS",
    "ArmStatistic",
    "ArmSummary",
    "Certainty",
    "Citation",
    "ClaimEvidence",
    "Comparison",
    "ContextRow",
    "DataProblem",
    "Design",
    "EvidenceDataError",
    "EvidenceGroup",
    "EvidenceItem",
    "EvidenceRecord",
    "EvidenceReport",
    "Finding",
    "Flag",
    "ItemStatus",
    "LiteratureEntry",
    "Measure",
    "Outcome",
    "OutcomeLink",
    "PValue",
    "PooledEstimate",
    "PublishedEstimate",
    "Relation",
    "ScaleDirection",
    "SignConvention",
    "SpreadKind",
    "Timepoint",
    "Unit",
    "claim_evidence",
    "conversion_factor",
    "literature_for",
    "literature_verdict",
    "load_arm_data",
    "load_studies",
    "relation",
    "select",
    "summarize_evidence",
    "unit_text",
]
