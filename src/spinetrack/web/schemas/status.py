"""Bodies of the store's status (counts and follow-up completeness) and of the outcome aggregates
(suppressed below the minimum cell size): no patient-level data."""

import datetime as dt

from pydantic import Field

from spinetrack.web.schemas._base import _Public

__all__ = [
    "CompletenessPublic",
    "MonthCompletenessPublic",
    "OutcomeAggregatesPublic",
    "OutcomeCellPublic",
    "ScheduledCompletenessPublic",
    "StatusPublic",
]

# ------------------------------------------------------------------------------ status and aggregates


class CompletenessPublic(_Public):
    timepoint: str
    eligible: int
    completed: int
    completeness: float | None


class MonthCompletenessPublic(_Public):
    month: str = Field(description="YYYY-MM: the month in which the visits' windows closed.")
    eligible: int
    responded: int
    completeness: float | None


class ScheduledCompletenessPublic(_Public):
    """Scheduled visits whose window closed (those of ended episodes left out) that have at
    least one questionnaire answered, per timepoint and per month of the window's close."""

    timepoint: str
    eligible: int
    responded: int
    completeness: float | None
    by_month: list[MonthCompletenessPublic]


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
    followup_visits: dict[str, dict[str, int]] = Field(
        default_factory=dict, description="timepoint → worklist status (due, overdue, missed, completed, upcoming, "
                                          "stopped) → scheduled visits today.")
    followup_scheduled_completeness: list[ScheduledCompletenessPublic] = Field(default_factory=list)


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

