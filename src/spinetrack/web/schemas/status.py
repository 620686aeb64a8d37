"""Bodies of the store's status (counts and follow-up completeness) and of the outcome aggregates
(suppressed below the minimum cell size): no patient-level data."""

import datetime as dt

from pydantic import Field

from spinetrack.web.schemas._base import _Public

__all__ = [
    "CompletenessPublic",
    "OutcomeAggregatesPublic",
    "OutcomeCellPublic",
    "StatusPublic",
]

# ------------------------------------------------------------------------------ status and aggregates


class CompletenessPublic(_Public):
    timepoint: str
    eligible: int
    completed: int
    completeness: float | None


class StatusPublic(_Public):
    """Counts of the operational store and follow-up completeness (no patient-level data)."""

    database: str
    schema_revision: str | None
    as_of: dt.date
    sites: int
    patients: int
    episodes: int
    episodes_by_treatment: dict[str, int]
    episodes_by_diagnosis_group: dict[str, int]
    procedures: int
    procedures_by_approach: dict[str, int]
    procedures_by_family: dict[str, int]
    complications: int
    readmissions: int
    reoperations: int
    prom_responses: int
    prom_responses_by_instrument: dict[str, int]
    followup_completeness: list[CompletenessPublic]


class OutcomeCellPublic(_Public):
    treatment: str
    timepoint: str
    instrument: str
    suppressed: bool = Field(description="True when fewer than min_cell_size responses: no count or statistics.")
    n: int | None
    mean: float | None
    median: float | None
    q1: float | None = Field(description="25th percentile (linear interpolation, R quantile type 7).")
    q3: float | None = Field(description="75th percentile.")


class OutcomeAggregatesPublic(_Public):
    scope: str = Field(description="'site' (a clinician's own site) or 'all_sites' (researchers).")
    site_id: int | None
    min_cell_size: int
    cells: list[OutcomeCellPublic]

