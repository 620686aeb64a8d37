"""Comparisons, covariates and the analysis dataset, written once as SQL that DuckDB and Spark
both run (the common subset: CASE, COALESCE, LN, EXP, SUM, CAST … AS DOUBLE).

A :class:`ComparisonSpec` says who is treated and who is the control (MIS vs open within one
procedure family, pooled over families, or surgery vs conservative care).
:func:`analysis_table_sql` builds ONE table for all comparisons, once per snapshot: a row per
episode with the covariate columns ``x_<name>`` and every claim's outcome as columns;
:func:`comparison_sql` is a comparison's population as a filter on it, with the treatment
indicator ``t``; :func:`outcome_spec` says which columns give ``y`` of one claim (and, for
time-to-event claims, ``time`` and ``event``). :func:`attrition_sql` counts the episodes left
after each filter, for the cohort-flow table.

Covariates: age, sex, BMI, smoking, diabetes, ASA grade, diagnosis, number of levels,
baseline ODI, baseline NRS back and leg, symptom duration, prior spine surgery. Missing values
are handled with the missing-indicator method: the value is set to a fixed centring constant
and a ``<name>_missing`` indicator enters the model. The centring constants (age 60, BMI 28,
ASA 2, ODI 45, NRS 6, 26 weeks) only keep the numbers well scaled; they are not clinical
reference values and do not change any estimate (the intercept absorbs them). Columns with no
variation in a population are dropped before fitting (see ``analysis.run``).
"""

from __future__ import annotations

from dataclasses import dataclass

from spinetrack.analysis.claims import CLAIMS, Claim, MetricKind
from spinetrack.analysis.patterns import PATTERN_CODE
from spinetrack.domain.comparisons import COMPARISONS, ComparisonSpec
from spinetrack.domain.diagnosis import DiagnosisGroup
from spinetrack.domain.options import SURGICAL_FAMILY
from spinetrack.domain.pathway import TIMEPOINTS as SCHEDULE
from spinetrack.engines.base import Engine, generic_spread
from spinetrack.instruments import thresholds
from spinetrack.instruments.base import Listing
from spinetrack.instruments.registry import listed

__all__ = [
    "ANALYSIS_TABLE",
    "COMPARISONS",
    "PROM_INSTRUMENTS",
    "PROM_TABLE",
    "TIMEPOINTS",
    "ComparisonSpec",
    "all_covariate_columns",
    "analysis_table_sql",
    "attrition_sql",
    "comparison_sql",
    "covariate_columns",
    "outcome_columns",
    "outcome_spec",
    "pattern_bits",
    "prom_column",
    "prom_wide_sql",
]


_REF_GROUP = DiagnosisGroup.DISC_HERNIATION_RADICULOPATHY.value


@dataclass(frozen=True, slots=True)
class Covariate:
    name: str
    sql: str
    missing_sql: str | None = None  # the indicator, when the value can be missing

    @property
    def indicator(self) -> bool:
        """A 0/1 column (``CASE WHEN … THEN 1.0 ELSE 0.0 END``): packed into the pattern code."""
        return self.sql.startswith("CASE WHEN") and self.sql.endswith("THEN 1.0 ELSE 0.0 END")


def covariate_columns(spec: ComparisonSpec) -> list[Covariate]:
    """The covariates of the propensity model, in a fixed order."""
    cov = [
        Covariate("age10", "(COALESCE(CAST(e.age_at_index AS DOUBLE), 60.0) - 60.0) / 10.0",
                  "CASE WHEN e.age_at_index IS NULL THEN 1.0 ELSE 0.0 END"),
        Covariate("male", "CASE WHEN p.sex = 'male' THEN 1.0 ELSE 0.0 END"),
        Covariate("bmi5", "(COALESCE(CAST(p.bmi AS DOUBLE), 28.0) - 28.0) / 5.0",
                  "CASE WHEN p.bmi IS NULL THEN 1.0 ELSE 0.0 END"),
        Covariate("smoker_current", "CASE WHEN p.smoking = 'current' THEN 1.0 ELSE 0.0 END",
                  "CASE WHEN p.smoking IS NULL THEN 1.0 ELSE 0.0 END"),
        Covariate("smoker_former", "CASE WHEN p.smoking = 'former' THEN 1.0 ELSE 0.0 END"),
        Covariate("diabetes", "CASE WHEN p.diabetes THEN 1.0 ELSE 0.0 END",
                  "CASE WHEN p.diabetes IS NULL THEN 1.0 ELSE 0.0 END"),
        Covariate("asa", "COALESCE(CAST(p.asa_grade AS DOUBLE), 2.0) - 2.0",
                  "CASE WHEN p.asa_grade IS NULL THEN 1.0 ELSE 0.0 END"),
    ]
    for g in DiagnosisGroup:
        if g.value != _REF_GROUP:
            cov.append(Covariate(f"dx_{g.value}", f"CASE WHEN e.diagnosis_group = '{g.value}' THEN 1.0 ELSE 0.0 END"))
    cov += [
        Covariate("extra_levels", "CAST(e.n_levels AS DOUBLE) - 1.0"),
        Covariate("odi0", "(COALESCE(pw.odi__baseline, 45.0) - 45.0) / 10.0",
                  "CASE WHEN pw.odi__baseline IS NULL THEN 1.0 ELSE 0.0 END"),
        Covariate("back0", "COALESCE(pw.nrs_back__baseline, 6.0) - 6.0",
                  "CASE WHEN pw.nrs_back__baseline IS NULL THEN 1.0 ELSE 0.0 END"),
        Covariate("leg0", "COALESCE(pw.nrs_leg__baseline, 6.0) - 6.0",
                  "CASE WHEN pw.nrs_leg__baseline IS NULL THEN 1.0 ELSE 0.0 END"),
        Covariate("log_symptom_weeks", "LN(1.0 + COALESCE(CAST(p.symptom_duration_weeks AS DOUBLE), 26.0))",
                  "CASE WHEN p.symptom_duration_weeks IS NULL THEN 1.0 ELSE 0.0 END"),
        Covariate("prior_surgery", "CASE WHEN p.prior_spine_surgery THEN 1.0 ELSE 0.0 END",
                  "CASE WHEN p.prior_spine_surgery IS NULL THEN 1.0 ELSE 0.0 END"),
    ]
    if spec.family_covariates:
        cov += [Covariate(f"family_{f}", f"CASE WHEN e.treatment_family = '{f}' THEN 1.0 ELSE 0.0 END")
                for f in spec.families[1:]]
    return cov


def covariate_names(spec: ComparisonSpec) -> list[str]:
    names = []
    for c in covariate_columns(spec):
        names.append(c.name)
        if c.missing_sql:
            names.append(f"{c.name}_missing")
    return names


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def _filters(spec: ComparisonSpec) -> list[tuple[str, str]]:
    """(description, SQL condition) in the order they are applied."""
    out = [(f"treatment is {' or '.join(spec.treated + spec.control)}",
            f"e.treatment IN ({_in(spec.treated + spec.control)})")]
    if spec.families:
        out.append((f"procedure family {' or '.join(spec.families)}",
                    f"(e.treatment_family IN ({_in(spec.families)}) OR e.treatment = 'conservative')"
                    if "conservative" in spec.control else f"e.treatment_family IN ({_in(spec.families)})"))
    if spec.require_procedure:
        out.append(("procedure recorded", "e.has_procedure"))
    if spec.eligible_diagnoses:
        left_out = [g for g in SURGICAL_FAMILY if g not in spec.eligible_diagnoses]
        why = f" (left out: {', '.join(g.replace('_', ' ') for g in left_out)})" if left_out else ""
        out.append((f"diagnosis with both options{why}", f"e.diagnosis_group IN ({_in(spec.eligible_diagnoses)})"))
    return out


def all_covariate_columns() -> list[Covariate]:
    """Every covariate any comparison uses (the pooled comparisons' procedure-family
    indicators included): the columns of :data:`ANALYSIS_TABLE`."""
    pooled = next(s for s in COMPARISONS if s.family_covariates)
    return covariate_columns(pooled)


def pattern_bits() -> dict[str, int]:
    """Bit of the pattern code (:data:`~spinetrack.analysis.patterns.PATTERN_CODE`) for each 0/1
    covariate column of :data:`ANALYSIS_TABLE` (``analysis.patterns``)."""
    names = []
    for c in all_covariate_columns():
        if c.indicator:
            names.append(f"x_{c.name}")
        if c.missing_sql:
            names.append(f"x_{c.name}_missing")
    return {n: k for k, n in enumerate(names)}


def comparison_sql(spec: ComparisonSpec) -> str:
    """One comparison's population as a filter over :data:`ANALYSIS_TABLE`: its episodes with
    ``t`` (1 treated, 0 control); the covariates ``x_<name>``, raw baseline scores and every
    claim's outcome columns come from the table."""
    where = " AND ".join(cond for _, cond in _filters(spec))
    return (f"SELECT e.*, CASE WHEN e.treatment IN ({_in(spec.treated)}) THEN 1.0 ELSE 0.0 END AS t "
            f"FROM {ANALYSIS_TABLE} e WHERE {where}")


def attrition_sql(spec: ComparisonSpec) -> tuple[list[str], str]:
    """The cohort-flow steps (descriptions) and ONE query over ``episodes`` returning, for each
    step in turn, the number of treated and control episodes left after its filter."""
    steps = [("all episodes", "TRUE")]
    conds: list[str] = []
    for desc, cond in _filters(spec):
        conds.append(cond)
        steps.append((desc, " AND ".join(conds)))
    t = f"e.treatment IN ({_in(spec.treated)})"
    sums = []
    for _, cond in steps:
        sums += [f"SUM(CASE WHEN ({cond}) AND {t} THEN 1 ELSE 0 END)",
                 f"SUM(CASE WHEN ({cond}) AND NOT ({t}) THEN 1 ELSE 0 END)"]
    return [d for d, _ in steps], f"SELECT {', '.join(sums)} FROM episodes e"


@dataclass(frozen=True, slots=True)
class OutcomeSpec:
    """A claim's outcome as column expressions over the wide analysis table
    (:func:`analysis_table_sql`): ``y`` (or ``time``/``event``) and the filter that keeps the
    rows with an observed outcome."""

    columns: tuple[tuple[str, str], ...]  # (name, SQL expression)
    where: str
    description: str
    kind: MetricKind


# The procedure columns the claims read (incision, blood loss, transfusion, fluoroscopy, stay), in
# catalogue order: a claim on another procedure column brings it into the analysis table.
_PROCEDURE_COLUMNS = tuple(dict.fromkeys(c.column for c in CLAIMS if c.table == "procedures"))


def _event_column(c: Claim) -> str:
    return f"ev_{c.key}"


def outcome_spec(claim: Claim) -> OutcomeSpec:
    """The outcome of one claim (see :class:`OutcomeSpec`). Rows without an observed outcome are
    dropped (the analysis reports how many); complications and readmissions count as none when
    none is recorded. Time-to-event claims run on one clock, days from the index date (the
    operation, or the start of conservative care; ``clock="enrolment"``: from enrolment):
    return to activity is censored at the last "not yet" answer (:func:`prom_wide_sql`),
    reoperations are counted up to the data's extraction date (``followup_days``)."""
    if claim.table == "procedures":
        col = f"pr_{claim.column}"
        y = f"CASE WHEN {col} THEN 1.0 ELSE 0.0 END" if claim.kind is MetricKind.BINARY else f"CAST({col} AS DOUBLE)"
        return OutcomeSpec((("y", y),), f"{col} IS NOT NULL", f"{claim.metric} recorded for the index procedure",
                           claim.kind)
    if claim.table == "complications":
        return OutcomeSpec((("y", f"COALESCE({_event_column(claim)}, 0.0)"),), "TRUE",
                           "every episode (no complication recorded counts as none)", claim.kind)
    if claim.table == "readmissions":
        return OutcomeSpec((("y", "COALESCE(readmitted, 0.0)"),), "TRUE",
                           "every episode (no readmission recorded counts as none)", claim.kind)
    if claim.table == "outcomes" and claim.kind is not MetricKind.TIME_TO_EVENT:
        col = prom_column(claim)
        if claim.key == "odi_mcid_12m":
            mcid = thresholds.get("odi").absolute
            return OutcomeSpec((("y", f"CASE WHEN odi0_raw - {col} >= {mcid} THEN 1.0 ELSE 0.0 END"),),
                               f"{col} IS NOT NULL AND odi0_raw IS NOT NULL",
                               f"{claim.instrument} answered at {claim.timepoint} and at baseline", claim.kind)
        return OutcomeSpec((("y", col),), f"{col} IS NOT NULL", f"{claim.instrument} answered at {claim.timepoint}",
                           claim.kind)
    if claim.instrument == "return_to_activity":
        if claim.clock == "enrolment":
            return OutcomeSpec((("time", "rta_time + enrolment_days"), ("event", "rta_event")),
                               "rta_time IS NOT NULL AND enrolment_days IS NOT NULL",
                               "return-to-activity item answered at least once (clock from enrolment)", claim.kind)
        return OutcomeSpec((("time", "rta_time"), ("event", "rta_event")), "rta_time IS NOT NULL",
                           "return-to-activity item answered at least once", claim.kind)
    if claim.table == "reoperations":
        # hospital-recorded events, counted up to the data's extraction date (administrative
        # censoring: followup_days), whether or not the patient answers questionnaires
        h = claim.horizon_days or 730
        first = "malpos_first_day" if claim.key == "revision_malposition" else "reop_first_day"
        window = f"LEAST(followup_days, {h})"
        reop = f"{first} IS NOT NULL AND {first} <= {window}"
        return OutcomeSpec((("time", f"CASE WHEN {reop} THEN {first} ELSE {window} END"),
                            ("event", f"CASE WHEN {reop} THEN 1.0 ELSE 0.0 END")),
                           "followup_days IS NOT NULL AND followup_days > 0",
                           "operated before the data's extraction date (events counted up to it)", claim.kind)
    raise ValueError(f"no outcome for claim {claim.key!r}")


def _covariate_exprs() -> list[tuple[str, str]]:
    out = []
    for c in all_covariate_columns():
        out.append((f"x_{c.name}", c.sql))
        if c.missing_sql:
            out.append((f"x_{c.name}_missing", c.missing_sql))
    return out


def analysis_table_sql(claims: tuple[Claim, ...] | list[Claim]) -> str:
    """:data:`ANALYSIS_TABLE`: one row per episode (every comparison is a filter on it,
    :func:`comparison_sql`) with the keys, the covariates of every comparison (``x_<name>``),
    the raw baseline scores, and every claim's outcome as columns — built with one set of joins
    so that each claim is then a filtered scan (no join per claim). Needs :data:`PROM_TABLE`
    (:func:`prom_wide_sql`)."""
    cols = ["e.episode_key", "e.patient_key", "e.treatment", "e.treatment_family", "e.has_procedure",
            "e.diagnosis_group", "e.enrolment_days", "e.followup_days",
            "pw.odi__baseline AS odi0_raw", "pw.nrs_back__baseline AS back0_raw", "pw.nrs_leg__baseline AS leg0_raw"]
    # DOUBLE throughout: `CASE … THEN 1.0 ELSE 0.0 END` is a DECIMAL(2,1) in both engines, and
    # mixed DECIMAL/DOUBLE arithmetic is slower and rounds differently
    cols += [f"CAST({expr} AS DOUBLE) AS {name}" for name, expr in _covariate_exprs()]
    bits = pattern_bits()
    code = " + ".join(f"CAST({expr} AS BIGINT) * {1 << bits[name]}"
                      for name, expr in _covariate_exprs() if name in bits)
    cols.append(f"{code} AS {PATTERN_CODE}")
    cols.append("pw.*")
    for tp in TIMEPOINTS:  # any PROM returned (valid) at the timepoint: loss to follow-up and IPCW
        any_cell = " OR ".join(f"pw.{i}__{tp} IS NOT NULL" for i in PROM_INSTRUMENTS)
        cols.append(f"CAST(CASE WHEN {any_cell} THEN 1.0 ELSE 0.0 END AS DOUBLE) AS fu__{tp}")
    cols += [f"pr.{c} AS pr_{c}" for c in _PROCEDURE_COLUMNS]
    events = []
    for c in claims:
        if c.table == "complications":
            cond = "TRUE" if c.event_filter in (None, "any") else c.event_filter
            events.append(f"MAX(CASE WHEN {cond} THEN 1.0 ELSE 0.0 END) AS {_event_column(c)}")
    cols += [f"CAST(cx.{_event_column(c)} AS DOUBLE) AS {_event_column(c)}"
             for c in claims if c.table == "complications"]
    cols += ["CAST(rd.readmitted AS DOUBLE) AS readmitted", "ro.reop_first_day", "ro.malpos_first_day"]
    comp = (f"LEFT JOIN (SELECT episode_key AS ck, {', '.join(events)} FROM complications GROUP BY episode_key) cx "
            "ON cx.ck = e.episode_key " if events else "")
    return (f"SELECT {', '.join(cols)} FROM episodes e JOIN patients p ON p.patient_key = e.patient_key "
            f"LEFT JOIN {PROM_TABLE} pw ON pw.pk = e.episode_key "
            f"LEFT JOIN procedures pr ON pr.episode_key = e.episode_key AND pr.days_from_index = 0 {comp}"
            "LEFT JOIN (SELECT episode_key AS rk, 1.0 AS readmitted FROM readmissions GROUP BY episode_key) rd "
            "ON rd.rk = e.episode_key "
            "LEFT JOIN (SELECT episode_key AS ok, MIN(days_from_index) AS reop_first_day, "
            "MIN(CASE WHEN reason = 'implant_malposition' THEN days_from_index END) AS malpos_first_day "
            "FROM reoperations GROUP BY episode_key) ro ON ro.ok = e.episode_key")


def outcome_columns(claims: tuple[Claim, ...] | list[Claim]) -> list[str]:
    """The columns of :data:`ANALYSIS_TABLE` that the claims' outcomes (:func:`outcome_spec`),
    the follow-up table and the PROM trajectories read — what a comparison's weighted table
    keeps besides the treatment, the covariates and the weights."""
    cols = [PATTERN_CODE, "odi0_raw"]
    cols += [f"{i}__{tp}" for i in PROM_INSTRUMENTS for tp in TIMEPOINTS]
    cols += [prom_column(c) for c in claims
             if c.table == "outcomes" and c.kind is not MetricKind.TIME_TO_EVENT and prom_column(c) not in cols]
    cols += [f"fu__{tp}" for tp in TIMEPOINTS] + ["rta_time", "rta_event", "enrolment_days", "followup_days"]
    cols += [f"pr_{c}" for c in _PROCEDURE_COLUMNS]
    cols += [_event_column(c) for c in claims if c.table == "complications"]
    return [*dict.fromkeys(cols), "readmitted", "reop_first_day", "malpos_first_day"]


PROM_TABLE = "prom_wide"
ANALYSIS_TABLE = "analysis_all"
#: The PROM grid: the instruments analysed at every timepoint (listed on their definitions).
PROM_INSTRUMENTS: tuple[str, ...] = listed(Listing.ANALYSED)
#: The timepoint codes of the follow-up schedule, in order.
TIMEPOINTS: tuple[str, ...] = tuple(tp.code for tp in SCHEDULE)


def prom_column(claim: Claim) -> str:
    return f"{claim.instrument}__{claim.timepoint}"


def prom_wide_sql(claims: tuple[Claim, ...] | list[Claim], engine: Engine | None = None) -> str:
    """One scan of ``outcomes`` → one row per episode (key ``pk``): the valid score of every PROM
    claim and of the grid of instruments × timepoints (``<instrument>__<timepoint>``; the
    baseline ODI and NRS back/leg are covariates), the return-to-activity time and event (first
    day returned, else censored at the last answer), and the last day with any follow-up answer
    (``fu_last``). Each extra column costs per outcome row (the pivot is the costliest step at a
    million patients), so the table holds only these. ``engine`` chooses how the scores are
    spread over the columns (:meth:`Engine.spread`): when the snapshot declares one ``outcomes``
    row per episode, instrument and timepoint, an engine may use a faster form.

    Return to activity, on one clock (days from the index date): an event at the days the
    patient gave (or the date, which the snapshot turns into days); a return reported without
    when is interval-censored between the last "not yet" answer before it (or the index date)
    and the visit that reported it, and placed at the interval's midpoint (midpoint imputation:
    the Kaplan–Meier machinery and its sandwich stay as they are; the bias is at most half the
    interval, and the synthetic truth check, ``bench/truth.py``, measures it); a patient never
    back is censored at the last "not yet" answer."""
    cells: dict[str, tuple[str, str]] = {}  # column → (instrument, timepoint)
    for c in claims:
        if c.table == "outcomes" and c.kind is not MetricKind.TIME_TO_EVENT and c.instrument and c.timepoint:
            cells.setdefault(prom_column(c), (c.instrument, c.timepoint))
    for i in PROM_INSTRUMENTS:  # the grid the trajectories and follow-up tables read
        for tp in TIMEPOINTS:
            cells.setdefault(f"{i}__{tp}", (i, tp))
    instruments = list(dict.fromkeys(i for i, _ in cells.values()))
    timepoints = list(dict.fromkeys(tp for _, tp in cells.values()))
    # a valid row's cell as a small integer: instrument number × number of timepoints + timepoint number
    inst = " ".join(f"WHEN '{i}' THEN {k * len(timepoints)}" for k, i in enumerate(instruments))
    tps = " ".join(f"WHEN '{tp}' THEN {k}" for k, tp in enumerate(timepoints))
    code = f"CASE WHEN valid THEN CAST((CASE instrument {inst} END) + (CASE timepoint {tps} END) AS SMALLINT) END"
    spec = [(col, f"instrument = '{i}' AND timepoint = '{tp}' AND valid",
             instruments.index(i) * len(timepoints) + timepoints.index(tp)) for col, (i, tp) in cells.items()]
    unique = engine is not None and getattr(engine, "unique_keys", {}).get("outcomes") == (
        "episode_key", "instrument", "timepoint")
    aggregates, columns = engine.spread(spec, code, "score", unique=unique) if engine is not None \
        else generic_spread(spec, "score")
    rta = "instrument = 'return_to_activity' AND valid"
    aggregates += [f"MIN(CASE WHEN {rta} AND returned THEN score END) AS rta_known",
                   f"MIN(CASE WHEN {rta} AND returned AND score IS NULL THEN days_from_index END) AS rta_visit",
                   f"MAX(CASE WHEN {rta} AND NOT returned THEN days_from_index END) AS rta_not_yet",
                   "MAX(days_from_index) AS last_day"]
    # the return: the days (or date) the patient gave; back without saying when: the midpoint
    # between the last "not yet" answer (or the index date) and the visit that said "back"
    # (interval-censored, midpoint imputation); never back: censored at the last "not yet"
    before = "CASE WHEN rta_not_yet IS NOT NULL AND rta_not_yet < rta_visit THEN rta_not_yet ELSE 0 END"
    columns += ["CAST(CASE WHEN rta_known IS NOT NULL THEN (CASE WHEN rta_visit IS NOT NULL AND rta_visit < rta_known "
                "THEN rta_visit ELSE rta_known END) "
                f"WHEN rta_visit IS NOT NULL THEN ({before} + rta_visit) / 2.0 ELSE rta_not_yet END AS DOUBLE) "
                "AS rta_time",
                "CAST(CASE WHEN rta_known IS NOT NULL OR rta_visit IS NOT NULL THEN 1.0 ELSE 0.0 END AS DOUBLE) "
                "AS rta_event",
                # the last day after the procedure with any answer: the largest day when it is after (> 0)
                "CASE WHEN last_day > 0 THEN last_day END AS fu_last"]
    return (f"SELECT pk, {', '.join(columns)} FROM (SELECT episode_key AS pk, {', '.join(aggregates)} "
            f"FROM outcomes GROUP BY episode_key) per_episode")
