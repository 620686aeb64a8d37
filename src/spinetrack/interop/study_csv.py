"""Study-level CSV files for meta-analysis: read, validate row by row, pool.

One study per row; the header decides the layout (column names are matched case-insensitively,
other columns are ignored)::

    layout        columns                                   measures
    continuous    study, n1, mean1, sd1, n2, mean2, sd2     MD, SMD
    binary        study, events1, n1, events2, n2           RR, OR, RD (and the MH method)
    generic       study, yi, vi                             any (yi on the log scale for RR/OR)

Optional: ``year`` (numeric; enables the cumulative meta-analysis) and a subgroup column named
by the caller. Arm 1 is the experimental arm.

Validation reports every problem at once, each with its CSV line number (the header is line 1),
the column, the value and what would have been accepted (:class:`RowProblem`). A file with any
problem is refused (:class:`StudyFileError`) unless ``skip_invalid=True``, which drops the bad
rows and lists them in the result. Nothing here computes a statistic:
:func:`pool_study_file` hands the validated columns to :mod:`spinetrack.stats.meta`.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spinetrack.errors import InputError, ValidationError
from spinetrack.stats.meta import (
    METHODS,
    CumulativeTable,
    EffectSizeTable,
    EggerTestResult,
    LeaveOneOutTable,
    MetaResult,
    SubgroupResult,
    cumulative_meta_analysis,
    effect_sizes_binary,
    effect_sizes_continuous,
    effect_sizes_from_variances,
    egger_test,
    leave_one_out,
    pool_studies,
    subgroup_analysis,
)

__all__ = [
    "LAYOUTS",
    "PoolReport",
    "RowProblem",
    "StudyFile",
    "StudyFileError",
    "pool_study_file",
    "read_study_csv",
]

LAYOUTS: dict[str, tuple[str, ...]] = {
    "continuous": ("study", "n1", "mean1", "sd1", "n2", "mean2", "sd2"),
    "binary": ("study", "events1", "n1", "events2", "n2"),
    "generic": ("study", "yi", "vi"),
}
MEASURES_BY_LAYOUT: dict[str, tuple[str, ...]] = {
    "continuous": ("MD", "SMD"),
    "binary": ("RR", "OR", "RD"),
    "generic": ("MD", "SMD", "RR", "OR", "RD", "GEN"),
}
ALL_MEASURES = ("MD", "SMD", "RR", "OR", "RD")
_ALLOWED = {
    "study": "a non-empty study label",
    "n1": "a whole number >= 1",
    "n2": "a whole number >= 1",
    "mean1": "a number",
    "mean2": "a number",
    "sd1": "a number >= 0",
    "sd2": "a number >= 0",
    "events1": "a whole number from 0 to n1",
    "events2": "a whole number from 0 to n2",
    "yi": "a number (the log ratio for RR and OR)",
    "vi": "a number > 0 (the sampling variance)",
    "year": "a number (publication year)",
}
_MAX_LISTED = 20


@dataclass(frozen=True, slots=True)
class RowProblem:
    """One refused value: where it is, what it was and what would have been accepted."""

    line: int
    column: str
    value: str
    allowed: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column!r}: {self.value!r} {self.reason}; allowed: {self.allowed}"

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable mapping."""
        return {"line": self.line, "column": self.column, "value": self.value, "allowed": self.allowed,
                "reason": self.reason}


class StudyFileError(InputError):
    """A study file with malformed rows or header; ``problems`` lists every one of them."""

    def __init__(self, path: str, problems: Sequence[RowProblem]) -> None:
        self.path = path
        self.problems = tuple(problems)
        shown = "; ".join(str(p) for p in self.problems[:_MAX_LISTED])
        more = f"; and {len(self.problems) - _MAX_LISTED} more" if len(self.problems) > _MAX_LISTED else ""
        super().__init__(f"{path}: {len(self.problems)} problem{'s' if len(self.problems) != 1 else ''} "
                         f"(nothing pooled; --skip-invalid drops bad rows): {shown}{more}")

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable mapping."""
        return {"error": type(self).__name__, "message": str(self), "file": self.path,
                "problems": [p.as_dict() for p in self.problems]}


@dataclass(frozen=True, eq=False)
class StudyFile:
    """A validated study file.

    Attributes
    ----------
    path, layout, measure : str
    table : EffectSizeTable
        The studies kept, as effect sizes.
    lines : tuple of int
        CSV line of each row kept (before studies excluded by the effect-size rules).
    years : tuple of float or None
        Per study in ``table`` (None without a ``year`` column).
    groups : tuple of str or None
        Per study in ``table`` (None without a subgroup column).
    skipped : tuple of RowProblem
        Problems of the rows dropped under ``skip_invalid``.
    """

    path: str
    layout: str
    measure: str
    table: EffectSizeTable
    lines: tuple[int, ...]
    years: tuple[float, ...] | None
    groups: tuple[str, ...] | None
    skipped: tuple[RowProblem, ...]

    @property
    def skipped_lines(self) -> tuple[int, ...]:
        """CSV lines dropped under ``skip_invalid`` (sorted, unique)."""
        return tuple(sorted({p.line for p in self.skipped}))


def _check_measure(measure: str) -> str:
    m = measure.strip().upper()
    if m not in ALL_MEASURES:
        raise ValidationError(field="measure", value=measure, allowed=ALL_MEASURES)
    return m


def _check_method(method: str) -> str:
    m = method.strip().upper()
    if m not in METHODS:
        raise ValidationError(field="method", value=method, allowed=METHODS)
    return m


def _layout(header: list[str], measure: str, path: str) -> str:
    present = set(header)
    complete = [name for name, cols in LAYOUTS.items() if set(cols) <= present]
    if not complete:
        closest = min(LAYOUTS, key=lambda n: len(set(LAYOUTS[n]) - present))
        missing = [c for c in LAYOUTS[closest] if c not in present]
        allowed = " or ".join(", ".join(cols) for cols in LAYOUTS.values())
        raise StudyFileError(path, [RowProblem(1, ", ".join(missing), ",".join(header), allowed,
                                               f"is a header missing the column(s) {', '.join(missing)}")])
    fitting = [n for n in complete if measure in MEASURES_BY_LAYOUT[n]]
    if not fitting:
        fits = sorted({m for n in complete for m in MEASURES_BY_LAYOUT[n]})
        raise ValidationError(field="measure", value=measure, allowed=fits,
                              reason=f"the file has the {complete[0]} columns {', '.join(LAYOUTS[complete[0]])}")
    arm_level = [n for n in fitting if n != "generic"]
    return arm_level[0] if arm_level else fitting[0]


def _number(raw: str, line: int, column: str, problems: list[RowProblem], *, whole: bool = False,
            minimum: float | None = None, strict_minimum: bool = False) -> float | None:
    text = raw.strip()
    allowed = _ALLOWED.get(column, "a number")
    if text == "":
        problems.append(RowProblem(line, column, raw, allowed, "is missing"))
        return None
    try:
        value = float(text)
    except ValueError:
        problems.append(RowProblem(line, column, raw, allowed, "is not a number"))
        return None
    if not math.isfinite(value):
        problems.append(RowProblem(line, column, raw, allowed, "is not a finite number"))
        return None
    if whole and value != int(value):
        problems.append(RowProblem(line, column, raw, allowed, "is not a whole number"))
        return None
    if minimum is not None and (value <= minimum if strict_minimum else value < minimum):
        problems.append(RowProblem(line, column, raw, allowed, "is out of range"))
        return None
    return value


def _row(cells: dict[str, str], line: int, layout: str, measure: str) -> tuple[dict[str, float], list[RowProblem]]:
    problems: list[RowProblem] = []
    values: dict[str, float] = {}
    if not cells["study"].strip():
        problems.append(RowProblem(line, "study", cells["study"], _ALLOWED["study"], "is missing"))
    for col in LAYOUTS[layout][1:]:
        whole = col.startswith(("n", "events"))
        if col in ("n1", "n2"):
            v = _number(cells[col], line, col, problems, whole=True, minimum=1)
        elif col.startswith(("events", "sd")):
            v = _number(cells[col], line, col, problems, whole=whole, minimum=0)
        elif col == "vi":
            v = _number(cells[col], line, col, problems, minimum=0, strict_minimum=True)
        else:
            v = _number(cells[col], line, col, problems)
        if v is not None:
            values[col] = v
    if layout == "binary":
        for ev, n in (("events1", "n1"), ("events2", "n2")):
            if ev in values and n in values and values[ev] > values[n]:
                problems.append(RowProblem(line, ev, cells[ev], f"a whole number from 0 to {n} ({values[n]:g})",
                                           f"is larger than {n}"))
    if layout == "continuous" and not problems:
        n1, n2, sd1, sd2 = values["n1"], values["n2"], values["sd1"], values["sd2"]
        if measure == "SMD" and n1 + n2 < 4:
            problems.append(RowProblem(line, "n1", cells["n1"], "n1 + n2 >= 4 for Hedges' g",
                                       "is too small for the small-sample correction"))
        elif measure == "SMD" and (n1 - 1) * sd1**2 + (n2 - 1) * sd2**2 <= 0:
            problems.append(RowProblem(line, "sd1", cells["sd1"], "a pooled SD > 0 for Hedges' g",
                                       "gives a pooled SD of 0"))
        elif measure == "MD" and sd1 == 0 and sd2 == 0:
            problems.append(RowProblem(line, "sd1", cells["sd1"], "at least one SD > 0",
                                       "and sd2 are both 0 (the variance would be 0)"))
    return values, problems


def read_study_csv(path: str | Path, *, measure: str, subgroup: str | None = None,
                   skip_invalid: bool = False) -> StudyFile:
    """Read and validate a study file and compute the effect sizes.

    Parameters
    ----------
    path : str or Path
    measure : {"MD", "SMD", "RR", "OR", "RD"}
        Case-insensitive; must suit the file's layout.
    subgroup : str, optional
        Name of the subgroup column.
    skip_invalid : bool, default False
        Drop malformed rows (listed in ``StudyFile.skipped``) instead of refusing the file.

    Returns
    -------
    StudyFile

    Raises
    ------
    ValidationError
        Unknown measure, a measure that does not suit the columns, an unknown subgroup column,
        or an unreadable file.
    StudyFileError
        Malformed header or rows (every problem listed), or no valid row left.
    """
    m = _check_measure(measure)
    name = str(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            rows = [(reader.line_num, row) for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ValidationError(field="file", value=name, allowed="a readable UTF-8 CSV file", reason=str(exc)) from exc
    if not rows:
        raise StudyFileError(name, [RowProblem(1, "header", "", " or ".join(", ".join(c) for c in LAYOUTS.values()),
                                               "is missing (empty file)")])
    header = [h.strip().lower() for h in rows[0][1]]
    duplicates = sorted({h for h in header if header.count(h) > 1 and h})
    if duplicates:
        raise StudyFileError(name, [RowProblem(1, d, d, "each column once", "appears more than once")
                                    for d in duplicates])
    layout = _layout(header, m, name)
    group_col = subgroup.strip().lower() if subgroup is not None else None
    if group_col is not None and group_col not in header:
        raise ValidationError(field="subgroup", value=subgroup, allowed=[h for h in header if h])
    has_year = "year" in header
    kept: list[tuple[int, dict[str, float], str, str, float | None]] = []
    problems: list[RowProblem] = []
    for line, cells_list in rows[1:]:
        if not any(c.strip() for c in cells_list):
            continue  # blank line
        cells = {h: (cells_list[i] if i < len(cells_list) else "") for i, h in enumerate(header)}
        values, row_problems = _row(cells, line, layout, m)
        group = ""
        if group_col is not None:
            group = cells[group_col].strip()
            if not group:
                row_problems.append(RowProblem(line, group_col, cells[group_col], "a non-empty subgroup label",
                                               "is missing"))
        year: float | None = None
        if has_year:
            year = _number(cells["year"], line, "year", row_problems)
        if len(cells_list) > len(header) and any(c.strip() for c in cells_list[len(header):]):
            row_problems.append(RowProblem(line, "(extra cells)", ",".join(cells_list[len(header):]),
                                           f"{len(header)} cells, as in the header", "has more cells than the header"))
        if row_problems:
            problems.extend(row_problems)
        else:
            kept.append((line, values, cells["study"].strip(), group, year))
    if problems and not skip_invalid:
        raise StudyFileError(name, problems)
    if not kept:
        raise StudyFileError(name, problems or [RowProblem(2, "study", "", "at least one study row", "is missing")])
    labels = [k[2] for k in kept]

    def col(c: str) -> list[float]:
        return [k[1][c] for k in kept]

    if layout == "continuous":
        table = effect_sizes_continuous(n1=col("n1"), mean1=col("mean1"), sd1=col("sd1"), n2=col("n2"),
                                        mean2=col("mean2"), sd2=col("sd2"), measure=m,  # type: ignore[arg-type]
                                        labels=labels)
    elif layout == "binary":
        table = effect_sizes_binary(events1=col("events1"), n1=col("n1"), events2=col("events2"), n2=col("n2"),
                                    measure=m, labels=labels)  # type: ignore[arg-type]
    else:
        table = effect_sizes_from_variances(col("yi"), col("vi"), measure=m, labels=labels)  # type: ignore[arg-type]
    keep_idx = [int(i) for i in table.source_index]
    years = [kept[i][4] for i in keep_idx]
    return StudyFile(
        path=name, layout=layout, measure=m, table=table, lines=tuple(kept[i][0] for i in keep_idx),
        years=tuple(float(y) for y in years if y is not None) if has_year else None,
        groups=tuple(kept[i][3] for i in keep_idx) if group_col is not None else None,
        skipped=tuple(problems),
    )


@dataclass(frozen=True, eq=False)
class PoolReport:
    """Everything ``spinetrack pool`` reports for one file."""

    study_file: StudyFile
    pooled: MetaResult
    subgroups: SubgroupResult | None
    leave_one_out: LeaveOneOutTable | None
    egger: EggerTestResult | None
    cumulative: CumulativeTable | None
    notes: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        """The JSON document of ``spinetrack pool --json`` (schema version 1)."""
        f = self.study_file
        return {
            "schema_version": 1,
            "file": f.path,
            "layout": f.layout,
            "measure": f.measure,
            "method": self.pooled.method,
            "hksj": self.pooled.hksj,
            "k": self.pooled.k,
            "skipped_lines": list(f.skipped_lines),
            "skipped": [p.as_dict() for p in f.skipped],
            "effect_sizes": f.table.method,
            "pooled": self.pooled.as_dict(),
            "subgroups": None if self.subgroups is None else self.subgroups.as_dict(),
            "leave_one_out": None if self.leave_one_out is None else self.leave_one_out.as_dict(),
            "egger": None if self.egger is None else self.egger.as_dict(),
            "cumulative": None if self.cumulative is None else self.cumulative.as_dict(),
            "notes": list(self.notes),
        }


def pool_study_file(
    path: str | Path,
    *,
    measure: str,
    method: str = "REML",
    hksj: bool = False,
    subgroup: str | None = None,
    skip_invalid: bool = False,
    ci_level: float = 0.95,
) -> PoolReport:
    """Read a study file and run the meta-analysis with its sensitivity analyses.

    Pools all studies by ``method``; adds the subgroup analysis (with a subgroup column and at
    least two subgroups), leave-one-out (k >= 3), Egger's test (k >= 3) and the cumulative
    meta-analysis by year (with a ``year`` column). What is left out, and why, is in ``notes``.

    Parameters
    ----------
    path : str or Path
    measure : {"MD", "SMD", "RR", "OR", "RD"}
    method : {"FE", "MH", "DL", "REML", "PM"}, default "REML"
    hksj : bool, default False
    subgroup : str, optional
    skip_invalid : bool, default False
    ci_level : float, default 0.95

    Returns
    -------
    PoolReport
    """
    meth = _check_method(method)
    m = _check_measure(measure)
    if meth == "MH" and m not in ("RR", "OR", "RD"):
        raise ValidationError(field="method", value=method, allowed=[x for x in METHODS if x != "MH"],
                              reason="Mantel-Haenszel needs binary data (measure RR, OR or RD)")
    study_file = read_study_csv(path, measure=m, subgroup=subgroup, skip_invalid=skip_invalid)
    if meth == "MH" and study_file.layout != "binary":
        raise ValidationError(field="method", value=method, allowed=[x for x in METHODS if x != "MH"],
                              reason="Mantel-Haenszel needs the columns events1, n1, events2, n2")
    table = study_file.table
    notes: list[str] = []
    pooled = pool_studies(table, method=meth, hksj=hksj, ci_level=ci_level)  # type: ignore[arg-type]
    subgroups = None
    if study_file.groups is not None:
        if len(set(study_file.groups)) >= 2:
            subgroups = subgroup_analysis(table, study_file.groups, method=meth,  # type: ignore[arg-type]
                                          hksj=hksj, ci_level=ci_level)
        else:
            notes.append("only one subgroup value: no subgroup analysis")
    loo = egger = None
    if table.k >= 3:
        loo = leave_one_out(table, method=meth, hksj=hksj, ci_level=ci_level)  # type: ignore[arg-type]
        try:
            egger = egger_test(table, ci_level=ci_level)
        except InputError as exc:
            notes.append(f"Egger's test not computed: {exc}")
    else:
        notes.append("fewer than 3 studies: no leave-one-out analysis and no Egger test")
    cumulative = None
    if study_file.years is not None:
        cumulative = cumulative_meta_analysis(table, study_file.years, method=meth,  # type: ignore[arg-type]
                                              hksj=hksj, ci_level=ci_level)
    return PoolReport(study_file=study_file, pooled=pooled, subgroups=subgroups, leave_one_out=loo, egger=egger,
                      cumulative=cumulative, notes=tuple(notes))
