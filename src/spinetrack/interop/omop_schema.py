"""The OMOP CDM 5.4 tables spinetrack writes: their columns, types and NOT NULLs, in table order.

Our own column specifications for the tables we fill, written to be column for column the
official CDM 5.4 definition (OHDSI/CommonDataModel ``inst/ddl/5.4``); ``tests/interop/test_omop_export.py``
parses the official DuckDB DDL and proves them identical (names, order, types, NOT NULL). The
package never reads the official file at run time: it works offline, without it.

Types are the DDL's, lower case: ``integer``, ``date``, ``timestamp``, ``numeric``, ``text`` and
``varchar(n)``. :func:`create_table_sql` turns a table into a ``CREATE TABLE`` for DuckDB or
PostgreSQL (both take these type names as they are).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TABLES", "Column", "column_names", "create_table_sql"]


@dataclass(frozen=True, slots=True)
class Column:
    """One column: its name, its type as the DDL spells it (lower case) and whether it is NOT NULL."""

    name: str
    type: str
    not_null: bool = False


def _c(name: str, typ: str, not_null: bool = False) -> Column:
    return Column(name, typ, not_null)


_I, _D, _TS, _N, _V50 = "integer", "date", "timestamp", "numeric", "varchar(50)"

# Table order is the order of writing (and of the DDL file): people first, then what refers to them.
TABLES: dict[str, tuple[Column, ...]] = {
    "person": (
        _c("person_id", _I, True), _c("gender_concept_id", _I, True), _c("year_of_birth", _I, True),
        _c("month_of_birth", _I), _c("day_of_birth", _I), _c("birth_datetime", _TS),
        _c("race_concept_id", _I, True), _c("ethnicity_concept_id", _I, True), _c("location_id", _I),
        _c("provider_id", _I), _c("care_site_id", _I), _c("person_source_value", _V50),
        _c("gender_source_value", _V50), _c("gender_source_concept_id", _I), _c("race_source_value", _V50),
        _c("race_source_concept_id", _I), _c("ethnicity_source_value", _V50), _c("ethnicity_source_concept_id", _I),
    ),
    "observation_period": (
        _c("observation_period_id", _I, True), _c("person_id", _I, True),
        _c("observation_period_start_date", _D, True), _c("observation_period_end_date", _D, True),
        _c("period_type_concept_id", _I, True),
    ),
    "visit_occurrence": (
        _c("visit_occurrence_id", _I, True), _c("person_id", _I, True), _c("visit_concept_id", _I, True),
        _c("visit_start_date", _D, True), _c("visit_start_datetime", _TS), _c("visit_end_date", _D, True),
        _c("visit_end_datetime", _TS), _c("visit_type_concept_id", _I, True), _c("provider_id", _I),
        _c("care_site_id", _I), _c("visit_source_value", _V50), _c("visit_source_concept_id", _I),
        _c("admitted_from_concept_id", _I), _c("admitted_from_source_value", _V50),
        _c("discharged_to_concept_id", _I), _c("discharged_to_source_value", _V50),
        _c("preceding_visit_occurrence_id", _I),
    ),
    "condition_occurrence": (
        _c("condition_occurrence_id", _I, True), _c("person_id", _I, True), _c("condition_concept_id", _I, True),
        _c("condition_start_date", _D, True), _c("condition_start_datetime", _TS), _c("condition_end_date", _D),
        _c("condition_end_datetime", _TS), _c("condition_type_concept_id", _I, True),
        _c("condition_status_concept_id", _I), _c("stop_reason", "varchar(20)"), _c("provider_id", _I),
        _c("visit_occurrence_id", _I), _c("visit_detail_id", _I), _c("condition_source_value", _V50),
        _c("condition_source_concept_id", _I), _c("condition_status_source_value", _V50),
    ),
    "procedure_occurrence": (
        _c("procedure_occurrence_id", _I, True), _c("person_id", _I, True), _c("procedure_concept_id", _I, True),
        _c("procedure_date", _D, True), _c("procedure_datetime", _TS), _c("procedure_end_date", _D),
        _c("procedure_end_datetime", _TS), _c("procedure_type_concept_id", _I, True),
        _c("modifier_concept_id", _I), _c("quantity", _I), _c("provider_id", _I), _c("visit_occurrence_id", _I),
        _c("visit_detail_id", _I), _c("procedure_source_value", _V50), _c("procedure_source_concept_id", _I),
        _c("modifier_source_value", _V50),
    ),
    "measurement": (
        _c("measurement_id", _I, True), _c("person_id", _I, True), _c("measurement_concept_id", _I, True),
        _c("measurement_date", _D, True), _c("measurement_datetime", _TS), _c("measurement_time", "varchar(10)"),
        _c("measurement_type_concept_id", _I, True), _c("operator_concept_id", _I), _c("value_as_number", _N),
        _c("value_as_concept_id", _I), _c("unit_concept_id", _I), _c("range_low", _N), _c("range_high", _N),
        _c("provider_id", _I), _c("visit_occurrence_id", _I), _c("visit_detail_id", _I),
        _c("measurement_source_value", _V50), _c("measurement_source_concept_id", _I),
        _c("unit_source_value", _V50), _c("unit_source_concept_id", _I), _c("value_source_value", _V50),
        _c("measurement_event_id", _I), _c("meas_event_field_concept_id", _I),
    ),
    "observation": (
        _c("observation_id", _I, True), _c("person_id", _I, True), _c("observation_concept_id", _I, True),
        _c("observation_date", _D, True), _c("observation_datetime", _TS),
        _c("observation_type_concept_id", _I, True), _c("value_as_number", _N), _c("value_as_string", "varchar(60)"),
        _c("value_as_concept_id", _I), _c("qualifier_concept_id", _I), _c("unit_concept_id", _I),
        _c("provider_id", _I), _c("visit_occurrence_id", _I), _c("visit_detail_id", _I),
        _c("observation_source_value", _V50), _c("observation_source_concept_id", _I),
        _c("unit_source_value", _V50), _c("qualifier_source_value", _V50), _c("value_source_value", _V50),
        _c("observation_event_id", _I), _c("obs_event_field_concept_id", _I),
    ),
    "death": (
        _c("person_id", _I, True), _c("death_date", _D, True), _c("death_datetime", _TS),
        _c("death_type_concept_id", _I), _c("cause_concept_id", _I), _c("cause_source_value", _V50),
        _c("cause_source_concept_id", _I),
    ),
    "cdm_source": (
        _c("cdm_source_name", "varchar(255)", True), _c("cdm_source_abbreviation", "varchar(25)", True),
        _c("cdm_holder", "varchar(255)", True), _c("source_description", "text"),
        _c("source_documentation_reference", "varchar(255)"), _c("cdm_etl_reference", "varchar(255)"),
        _c("source_release_date", _D, True), _c("cdm_release_date", _D, True), _c("cdm_version", "varchar(10)"),
        _c("cdm_version_concept_id", _I, True), _c("vocabulary_version", "varchar(20)", True),
    ),
}


def column_names(table: str) -> tuple[str, ...]:
    """The column names of ``table`` in DDL order (the CSV header)."""
    return tuple(c.name for c in TABLES[table])


def _quote(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"not a plain SQL name: {name!r}")
    return f'"{name}"'


def create_table_sql(table: str, schema: str | None = None) -> str:
    """``CREATE TABLE [schema.]table (...)`` with the columns, types and NOT NULLs of the CDM 5.4 DDL
    (no keys or constraints: the official DDL declares those in separate, optional files)."""
    cols = ",\n  ".join(f"{c.name} {c.type}{' NOT NULL' if c.not_null else ' NULL'}" for c in TABLES[table])
    target = f"{_quote(schema)}.{table}" if schema else table
    return f"CREATE TABLE {target} (\n  {cols}\n)"
