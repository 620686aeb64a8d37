"""The literature base: published MIS-versus-open figures with their citations.

Package data (``data/studies.csv``, ``data/arm_data.csv``; column dictionary and provenance in
``data/SCHEMA.md``) loaded into frozen, validated records, plus the map from literature outcomes
to the scorecard's claims; :func:`summarize_evidence` (``pooling``) groups and pools the rows, and
:func:`literature_for` (``literature``) picks the figure shown beside each scorecard row. Only
numbers and citations are shipped, never quoted source text.

Examples
--------
>>> from spinetrack import evidence
>>> rows = evidence.select(evidence.load_studies(), claim="length_of_stay", comparison="fusion")
>>> all(r.outcome.value == "length_of_stay" for r in rows)
True
"""

from __future__ import annotations

from spinetrack.evidence.base import (
    ArmStatistic,
    ArmSummary,
    Certainty,
    Citation,
    Comparison,
    DataProblem,
    Design,
    EvidenceDataError,
    EvidenceRecord,
    Finding,
    Flag,
    Measure,
    Outcome,
    PublishedEstimate,
    PValue,
    ScaleDirection,
    SignConvention,
    SpreadKind,
    Timepoint,
    Unit,
    load_arm_data,
    load_studies,
    select,
)
from spinetrack.evidence.claims_map import (
    CLAIM_EVIDENCE,
    ClaimEvidence,
    OutcomeLink,
    Relation,
    claim_evidence,
    conversion_factor,
    relation,
)
from spinetrack.evidence.literature import (
    LEVELS,
    ContextRow,
    LiteratureEntry,
    literature_for,
    literature_verdict,
)
from spinetrack.evidence.pooling import (
    EvidenceGroup,
    EvidenceItem,
    EvidenceReport,
    ItemStatus,
    PooledEstimate,
    summarize_evidence,
)

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
]
