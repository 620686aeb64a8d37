"""The annual registry report's numbers: one year's cohort, case mix, follow-up completeness and
outcomes, registry-wide and per site, with the site benchmark and the claims scorecard summary.

:func:`annual_data` reads a registered snapshot with three grouped aggregate queries (the
"statistics as aggregates" principle: no row-level data leave the engine):

1. the years on record (episodes per ``index_year``), to check the year asked for;
2. the case mix as counts per variable, level and site (``GROUPING SETS``: per site and
   registry-wide in one pass);
3. per dimension (all episodes, diagnosis group, procedure family × approach) and site: the
   episodes, patients, sites, the sums for age and BMI, every outcome's count, sum and sum of
   squares, and per follow-up timepoint the questionnaires due and returned.

The year's cohort is the episodes with ``index_year == year``. The outcome columns are those of
the claims scorecard (:func:`spinetrack.analysis.design.outcome_spec` over the analysis table of
:func:`spinetrack.analysis.design.analysis_table_sql`): an outcome means here what it means on
the scorecard. The ODI MCID is :func:`spinetrack.instruments.thresholds.get` ``("odi")``.

Follow-up completeness: a timepoint is *due* for an episode when its target day lies on or
before the snapshot's extraction date (``followup_days`` ≥ the timepoint's ``target_days``);
it is *returned* when any analysed questionnaire was returned valid at that timepoint (the
``fu__<timepoint>`` column of the analysis table, which the scorecard's loss-to-follow-up table
reads too).

Small cells: a count of 1 to 4 patients, and any mean or share of fewer than 5 patients, is
suppressed (``n`` is ``None`` and ``suppressed`` is true), the rule of the aggregates API
(:data:`spinetrack.store.reads.MIN_CELL_SIZE`). A returned count, or a count of patients with an
outcome event, that would give away 1 to 4 patients who did, or did not, return the
questionnaire (have the event) is withheld and bounded (``bound``: ``"fewer_than_5"`` or
``"all_but_fewer_than_5"``). In the case mix, a count hidden alone in its row or column could be
recovered from the totals, so a second count is hidden with it (secondary suppression).

:func:`annual_view` is who sees what: a clinic sees its own site named and the others as
"Site 1" … "Site k"; a researcher sees every site pseudonymised.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spinetrack.analysis.claims import claim
from spinetrack.analysis.design import ANALYSIS_TABLE, TIMEPOINTS, outcome_spec
from spinetrack.analysis.propensity import prepare_snapshot
from spinetrack.analysis.scorecard import load_manifest
from spinetrack.domain.pathway import DEFAULT_SCHEDULE
from spinetrack.domain.pathway import TIMEPOINTS as SCHEDULE
from spinetrack.engines.base import Engine
from spinetrack.errors import ValidationError
from spinetrack.instruments import thresholds
from spinetrack.store.reads import MIN_CELL_SIZE

__all__ = ["MEASURES", "SCHEMA_VERSION", "Measure", "annual_data", "annual_snapshot", "annual_view",
           "available_sites", "available_years", "scorecard_summary", "site_labels"]

SCHEMA_VERSION = 1
Progress = Callable[[str], None]
_VIEW = "annual_cohort"


@dataclass(frozen=True, slots=True)
class Measure:
    """One outcome of the annual tables: a mean (``"mean"``) or a share of patients (``"share"``)
    of ``y`` over the rows where ``where`` holds; ``claim`` names the scorecard claim whose
    outcome definition it reuses."""

    key: str
    label: str
    kind: str
    unit: str
    y: str
    where: str
    definition: str
    claim: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, "kind": self.kind, "unit": self.unit,
                "definition": self.definition, "claim": self.claim}


def _from_claim(key: str, label: str, kind: str, unit: str, claim_key: str, column: str = "y") -> Measure:
    spec = outcome_spec(claim(claim_key))
    cols = dict(spec.columns)
    return Measure(key, label, kind, unit, cols[column], spec.where, spec.description, claim_key)


def _measures() -> tuple[Measure, ...]:
    return (
        Measure("odi_baseline", "ODI before treatment", "mean", "points", "odi0_raw", "odi0_raw IS NOT NULL",
                "ODI answered at baseline", None),
        _from_claim("odi_12m", "ODI at 12 months", "mean", "points", "odi_12m"),
        _from_claim("odi_mcid_12m", "ODI improved by the MCID at 12 months", "share", "%", "odi_mcid_12m"),
        _from_claim("any_complication", "Any complication", "share", "%", "any_complication"),
        _from_claim("infection", "Surgical-site infection", "share", "%", "ssi"),
        _from_claim("dural_tear", "Dural tear", "share", "%", "dural_tear"),
        _from_claim("readmission", "Readmission", "share", "%", "readmission"),
        _from_claim("reoperation_2y", "Reoperation within 2 years (so far)", "share", "%", "reoperation_free",
                    column="event"),
        _from_claim("los_days", "Length of stay", "mean", "days", "length_of_stay"),
    )


#: The outcomes of the annual tables, in the order the report shows them.
MEASURES: tuple[Measure, ...] = _measures()
_TARGET_DAYS = {tp.code: tp.target_days for tp in SCHEDULE}
_TP_LABEL = {tp.code: ("baseline" if tp.is_baseline else tp.label) for tp in SCHEDULE}
_CATEGORIES = ("sex", "smoking", "diabetes", "asa_grade", "diagnosis_group", "treatment")


def _label(group: str) -> str:
    if group == "all":
        return "All episodes"
    if group == "conservative":
        return "Conservative care"
    if ":" in group:
        family, approach = group.split(":", 1)
        return f"{family.capitalize()}, {'MIS' if approach == 'mis' else approach}"
    return group.replace("_", " ").capitalize()


def _cohort_view_sql(year: int) -> str:
    proc = ("CASE WHEN a.treatment = 'conservative' THEN 'conservative' "
            "WHEN a.treatment IN ('mis', 'open') "
            "THEN CONCAT(COALESCE(a.treatment_family, 'unknown'), ':', a.treatment) "
            "ELSE 'no treatment recorded' END")
    return (f"SELECT a.*, e.index_year, e.age_at_index, p.site, p.sex, p.bmi, p.smoking, p.diabetes, p.asa_grade, "
            f"a.diagnosis_group AS dx, {proc} AS proc FROM {ANALYSIS_TABLE} a "
            "JOIN episodes e ON e.episode_key = a.episode_key JOIN patients p ON p.patient_key = a.patient_key "
            f"WHERE e.index_year = {int(year)}")


def available_years(engine: Engine) -> dict[int, int]:
    """Episodes per index year in the registered snapshot (one grouped query)."""
    rows = engine.sql("SELECT index_year, COUNT(*) FROM episodes WHERE index_year IS NOT NULL "
                      "GROUP BY index_year ORDER BY index_year")
    return {int(y): int(n) for y, n in rows}


def available_sites(engine: Engine, year: int) -> list[str]:
    """The sites with episodes indexed in ``year`` (one grouped query)."""
    rows = engine.sql("SELECT p.site FROM episodes e JOIN patients p ON p.patient_key = e.patient_key "
                      f"WHERE e.index_year = {int(year)} GROUP BY p.site ORDER BY p.site")
    return [str(r[0]) for r in rows]


def _cell(n: Any) -> dict[str, Any]:
    k = int(n or 0)
    small = 0 < k < MIN_CELL_SIZE
    return {"n": None if small else k, "suppressed": small}


def _stat(n: Any, s: Any, ss: Any) -> dict[str, Any]:
    """Mean and SD (n − 1) from the count, sum and sum of squares; suppressed under 5."""
    k = int(n or 0)
    if k < MIN_CELL_SIZE:
        return {"n": None if k else 0, "mean": None, "sd": None, "suppressed": k > 0}
    mean = float(s) / k
    var = max((float(ss) - k * mean * mean) / (k - 1), 0.0)
    return {"n": k, "mean": mean, "sd": math.sqrt(var), "suppressed": False}


def _share(n: Any, events: Any) -> dict[str, Any]:
    """A share of patients; suppressed under 5 patients, and bounded (no count, no share) when
    the patients with the event, or those without, number 1 to 4 — as the follow-up cells."""
    k = int(n or 0)
    if k < MIN_CELL_SIZE:
        return {"n": None if k else 0, "events": None, "value": None, "suppressed": k > 0, "bound": None}
    e = round(float(events or 0))
    bound = "fewer_than_5" if 0 < e < MIN_CELL_SIZE else "all_but_fewer_than_5" if 0 < k - e < MIN_CELL_SIZE \
        else None
    if bound is not None:
        return {"n": k, "events": None, "value": None, "suppressed": True, "bound": bound}
    return {"n": k, "events": e, "value": e / k, "suppressed": False, "bound": None}


def _followup_cell(due: Any, returned: Any) -> dict[str, Any]:
    d, r = int(due or 0), int(returned or 0)
    if 0 < d < MIN_CELL_SIZE:
        return {"due": None, "returned": None, "share": None, "suppressed": True, "bound": None}
    if 0 < r < MIN_CELL_SIZE:
        return {"due": d, "returned": None, "share": None, "suppressed": True, "bound": "fewer_than_5"}
    if 0 < d - r < MIN_CELL_SIZE:
        return {"due": d, "returned": None, "share": None, "suppressed": True, "bound": "all_but_fewer_than_5"}
    return {"due": d, "returned": r, "share": r / d if d else None, "suppressed": False, "bound": None}


def _categories_sql() -> str:
    parts = {
        "sex": "COALESCE(sex, 'not recorded')",
        "smoking": "COALESCE(smoking, 'not recorded')",
        "diabetes": "CASE WHEN diabetes THEN 'yes' WHEN NOT diabetes THEN 'no' ELSE 'not recorded' END",
        "asa_grade": "COALESCE(CAST(asa_grade AS STRING), 'not recorded')",
        "diagnosis_group": "dx",
        "treatment": "proc",
    }
    union = " UNION ALL ".join(f"SELECT '{var}' AS var, {expr} AS level, site FROM {_VIEW}"
                               for var, expr in parts.items())
    return (f"SELECT var, level, site, COUNT(*) FROM ({union}) c "
            "GROUP BY GROUPING SETS ((var, level, site), (var, level))")


def _grouped_sql(tps: Sequence[str]) -> tuple[str, list[str]]:
    ex = ["COUNT(*)", "COUNT(DISTINCT patient_key)", "COUNT(DISTINCT site)",
          "COUNT(age_at_index)", "SUM(CAST(age_at_index AS DOUBLE))",
          "SUM(CAST(age_at_index AS DOUBLE) * CAST(age_at_index AS DOUBLE))",
          "COUNT(bmi)", "SUM(bmi)", "SUM(bmi * bmi)"]
    for m in MEASURES:
        ex += [f"SUM(CASE WHEN {m.where} THEN 1 ELSE 0 END)", f"SUM(CASE WHEN {m.where} THEN {m.y} END)",
               f"SUM(CASE WHEN {m.where} THEN ({m.y}) * ({m.y}) END)"]
    for tp in tps:
        due = f"followup_days >= {_TARGET_DAYS[tp]}"
        ex += [f"SUM(CASE WHEN {due} THEN 1 ELSE 0 END)",
               f"SUM(CASE WHEN {due} AND fu__{tp} = 1.0 THEN 1 ELSE 0 END)"]
    union = (f"SELECT 'all' AS dim, 'all' AS grp, v.* FROM {_VIEW} v UNION ALL "
             f"SELECT 'diagnosis' AS dim, dx AS grp, v.* FROM {_VIEW} v UNION ALL "
             f"SELECT 'procedure' AS dim, proc AS grp, v.* FROM {_VIEW} v")
    return (f"SELECT dim, grp, site, {', '.join(ex)} FROM ({union}) u "
            "GROUP BY GROUPING SETS ((dim, grp, site), (dim, grp))"), ex


def annual_data(engine: Engine, year: int, *, benchmark: dict[str, Any] | None = None,
                scorecard: dict[str, Any] | None = None, progress: Progress | None = None) -> dict[str, Any]:
    """The annual report's document for ``year`` on a registered snapshot (module docstring).

    Parameters
    ----------
    engine : Engine
        An engine with a snapshot registered (:meth:`Engine.register_snapshot`).
    year : int
        The index year of the cohort.
    benchmark : dict, optional
        The benchmark document (:func:`spinetrack.analysis.benchmark.benchmark_as_dict`); by
        default run here for the year's episodes at site level.
    scorecard : dict, optional
        A claims-scorecard document (``spinetrack analyze --json``), summarised under
        ``scorecard`` (:func:`scorecard_summary`); ``None`` leaves it out.

    Returns
    -------
    dict
        JSON values: ``schema_version``, ``year``, ``as_of``, ``years_available``, ``sites``,
        ``cohort``, ``followup``, ``outcomes``, ``mcid``, ``benchmark``, ``scorecard``, ``view``
        (the README's "annual report document").

    Raises
    ------
    ValidationError
        ``year`` is not a whole number or no episode is indexed in it (``field="year"``; the
        allowed values are the years on record).
    """
    if isinstance(year, bool) or not isinstance(year, int):
        raise ValidationError(field="year", value=year, allowed="a year as a whole number, e.g. 2024")
    years = available_years(engine)
    if year not in years:
        raise ValidationError(field="year", value=year, allowed=[str(y) for y in years] or ["(no episodes on record)"],
                              reason="no episode of care has its index date in that year")
    tick = progress or (lambda _msg: None)
    prepare_snapshot(engine)
    engine.create_view(_VIEW, _cohort_view_sql(year))
    cats = engine.sql(_categories_sql())
    tps = [tp for tp in TIMEPOINTS if tp in _TARGET_DAYS]
    query, _ = _grouped_sql(tps)
    rows = engine.sql(query)
    sites = sorted({str(r[2]) for r in rows if r[2] is not None})
    manifest = getattr(engine, "snapshot_dir", None)
    snap = load_manifest(manifest) if manifest is not None else {}
    created = str(snap.get("created_at") or "")
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION, "report": "annual", "year": year, "as_of": created[:10] or None,
        "engine": engine.name, "min_cell": MIN_CELL_SIZE,
        "years_available": [{"year": y, "episodes": n} for y, n in years.items()],
        "snapshot": {k: snap.get(k)
                     for k in ("created_at", "rekeyed", "synthetic", "row_counts", "spinetrack_version")},
        "sites": sites,
        "cohort": _cohort(rows, cats, sites),
        "followup": _followup(rows, tps),
        "outcomes": {"measures": [m.as_dict() for m in MEASURES], "rows": _outcome_rows(rows)},
        "mcid": _mcid(),
        "view": {"own_site": None, "pseudonymised": False},
    }
    tick("cohort, case mix, follow-up and outcomes")
    if benchmark is None:
        from spinetrack.analysis.benchmark import benchmark_as_dict, run_benchmark

        as_of = dt.date.fromisoformat(created[:10]) if created else None  # the CUSUM's dates
        benchmark = benchmark_as_dict(run_benchmark(engine, level="site", years=(year, year), as_of=as_of))
    doc["benchmark"] = benchmark
    tick("site benchmark")
    doc["scorecard"] = None if scorecard is None else scorecard_summary(scorecard)
    tick("claims scorecard summary")
    return doc


def _mcid() -> dict[str, Any]:
    th = thresholds.get("odi")
    return {"instrument": "odi", "absolute": th.absolute, "relative": th.relative, "source": th.source}


_BASE = 3 + 9  # dim, grp, site, then the nine cohort expressions


def _cohort(rows: Sequence[tuple[Any, ...]], cats: Sequence[tuple[Any, ...]], sites: list[str]
            ) -> list[dict[str, Any]]:
    out = []
    for site in [None, *sites]:
        r = next((r for r in rows if r[0] == "all" and r[2] == site), None)
        if r is None:
            continue
        categories: dict[str, list[dict[str, Any]]] = {var: [] for var in _CATEGORIES}
        for var, level, s, n in cats:
            if s == site and var in categories:
                label = _label(str(level)) if var in ("diagnosis_group", "treatment") else str(level)
                categories[var].append({"level": str(level), "label": label, **_cell(n)})
        for levels in categories.values():
            levels.sort(key=lambda c: c["level"])
        out.append({"site": site, "episodes": _cell(r[3]), "patients": _cell(r[4]),
                    "sites": int(r[5] or 0) if site is None else None,
                    "age_years": _stat(r[6], r[7], r[8]), "bmi": _stat(r[9], r[10], r[11]),
                    "categories": categories})
    _complementary(out)
    return out


def _complementary(blocks: list[dict[str, Any]]) -> None:
    """Secondary suppression of the case-mix counts: a count hidden alone in a row (one level
    over the sites, whose registry total is shown) or in a column (one site's levels of one
    variable, whose episode total is shown) could be recovered by subtraction, so the smallest
    other positive count there is hidden too, until no hidden count stands alone."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for b in blocks:
        for var, cells in b["categories"].items():
            groups.setdefault(("column", b["site"], var), []).extend(cells)
            if b["site"] is not None:
                for c in cells:
                    groups.setdefault(("row", var, c["level"]), []).append(c)
    changed = True
    while changed:
        changed = False
        for cells in groups.values():
            if sum(1 for c in cells if c["suppressed"]) != 1:
                continue
            shown = [c for c in cells if not c["suppressed"] and c["n"]]
            if shown:
                c = min(shown, key=lambda c: (c["n"], c["level"]))
                c.update(n=None, suppressed=True)
                changed = True


def _followup(rows: Sequence[tuple[Any, ...]], tps: Sequence[str]) -> list[dict[str, Any]]:
    o = _BASE + 3 * len(MEASURES)
    registry = next((r for r in rows if r[0] == "all" and r[2] is None), None)
    keep = [k for k, tp in enumerate(tps)
            if tp in DEFAULT_SCHEDULE or (registry is not None and int(registry[o + 2 * k + 1] or 0) > 0)]
    out = []
    for r in rows:
        if r[0] != "all":
            continue
        for k in keep:
            tp = tps[k]
            out.append({"site": r[2], "timepoint": tp, "label": _TP_LABEL[tp], "target_days": _TARGET_DAYS[tp],
                        **_followup_cell(r[o + 2 * k], r[o + 2 * k + 1])})
    order = {tp: i for i, tp in enumerate(tps)}
    out.sort(key=lambda c: (c["site"] is not None, c["site"] or "", order[c["timepoint"]]))
    return out


def _outcome_rows(rows: Sequence[tuple[Any, ...]]) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        values = {}
        for j, m in enumerate(MEASURES):
            n, s, ss = r[_BASE + 3 * j: _BASE + 3 * j + 3]
            values[m.key] = _stat(n, s, ss) if m.kind == "mean" else _share(n, s)
        out.append({"dimension": r[0], "group": str(r[1]), "label": _label(str(r[1])), "site": r[2],
                    "episodes": _cell(r[3]), "patients": _cell(r[4]), "values": values})
    dims = {"all": 0, "diagnosis": 1, "procedure": 2}
    out.sort(key=lambda x: (x["site"] is not None, x["site"] or "", dims.get(x["dimension"], 3), x["group"]))
    return out


# ------------------------------------------------------------------------------- scorecard


def scorecard_summary(scorecard: Mapping[str, Any]) -> dict[str, Any]:
    """The claims scorecard in brief: when and how it was run, the verdicts counted, and one row
    per claim and comparison (estimate and interval; a withheld row keeps neither)."""
    labels = {c.get("key"): c.get("label") for c in scorecard.get("comparisons") or []}
    rows: list[dict[str, Any]] = []
    counts: dict[str, int] = {}
    for r in scorecard.get("results") or []:
        status = r.get("status")
        withheld = status != "estimated"
        verdict = None if withheld else (r.get("verdict") or "inconclusive")
        key = verdict or str(status or "not estimated")
        counts[key] = counts.get(key, 0) + 1
        rows.append({"comparison": r.get("comparison"), "comparison_label": labels.get(r.get("comparison"),
                                                                                      r.get("comparison")),
                     "claim": r.get("claim"), "metric": r.get("metric"), "unit": r.get("unit"),
                     "better": r.get("better"), "role": r.get("role"), "status": status, "verdict": verdict,
                     "estimate": None if withheld else r.get("estimate"),
                     "ci_low": None if withheld else r.get("ci_low"),
                     "ci_high": None if withheld else r.get("ci_high"),
                     "withheld_because": list(r.get("withheld_because") or [])})
    snap = scorecard.get("snapshot") or {}
    return {"created_at": snap.get("created_at"), "engine": scorecard.get("engine"),
            "estimand": scorecard.get("estimand"), "ci_level": scorecard.get("ci_level"),
            "settings_hash": scorecard.get("settings_hash"), "counts": dict(sorted(counts.items())), "rows": rows}


# ------------------------------------------------------------------------------- who sees what


def site_labels(sites: Sequence[str], *, own_site: str | None, pseudonymise_all: bool = False) -> dict[str, str]:
    """Site code → the name shown: the own site by its code, every other site as "Site k"
    (numbered in the order of the codes); with ``pseudonymise_all`` every site as "Site k".

    >>> site_labels(["B", "A", "C"], own_site="B")
    {'A': 'Site 1', 'C': 'Site 2', 'B': 'B'}
    """
    out: dict[str, str] = {}
    k = 0
    for code in sorted(sites):
        if code == own_site and not pseudonymise_all:
            continue
        k += 1
        out[code] = f"Site {k}"
    if own_site is not None and own_site in sites and not pseudonymise_all:
        out[own_site] = own_site
    return out


def annual_view(doc: Mapping[str, Any], *, own_site: str | None, pseudonymise_all: bool = False) -> dict[str, Any]:
    """The document as a clinic (``own_site``: named, the others "Site 1" … "Site k") or a
    researcher (``pseudonymise_all``) may see it; the registry's own staff see ``doc`` as is.
    The benchmark's units are relabelled the same way, units of fewer than ``min_cell``
    patients suppressed, and CUSUM charts of other sites kept under their pseudonyms."""
    out = copy.deepcopy(dict(doc))
    sites = list(out.get("sites") or [])
    if own_site is not None and own_site not in sites:
        raise ValidationError(field="site", value=own_site, allowed=sites or ["(no sites in this year)"],
                              reason="no episodes of that site in the report's year")
    bench = out.get("benchmark")
    names = _names(sites, bench, own_site=own_site, pseudonymise_all=pseudonymise_all)

    def rename(value: Any) -> Any:
        return names.get(value, value) if isinstance(value, str) else value

    for block in out.get("cohort") or []:
        block["site"] = rename(block.get("site"))
    for cell in out.get("followup") or []:
        cell["site"] = rename(cell.get("site"))
    for row in (out.get("outcomes") or {}).get("rows") or []:
        row["site"] = rename(row.get("site"))
    out["sites"] = sorted((names[s] for s in sites), key=lambda s: (s != own_site, _order(s)))
    if isinstance(bench, dict):
        min_cell = int(bench.get("min_cell") or MIN_CELL_SIZE)
        for outcome in bench.get("outcomes") or []:
            for u in outcome.get("units") or []:
                _relabel(u, names, own_site, pseudonymise_all)
                if int(u.get("n") or 0) < min_cell:
                    u["suppressed"] = True
            outcome.get("units", []).sort(key=lambda u: (not u.get("own"), _order(str(u.get("label")))))
        for u in (bench.get("cusum") or {}).get("units") or []:
            _relabel(u, names, own_site, pseudonymise_all)
        if bench.get("cusum"):
            bench["cusum"].get("units", []).sort(key=lambda u: (not u.get("own"), _order(str(u.get("label")))))
        bench["audience"] = "researcher" if pseudonymise_all or own_site is None else "clinic"
    out["view"] = {"own_site": None if pseudonymise_all else own_site, "pseudonymised": True}
    return out


def _order(label: str) -> tuple[int, str]:
    """"Site 2" before "Site 10"."""
    head, _, num = label.rpartition(" ")
    return (int(num), head) if num.isdigit() else (0, label)


def _benchmark_codes(bench: Any) -> list[str]:
    if not isinstance(bench, Mapping):
        return []
    codes = [str(u.get("unit")) for o in bench.get("outcomes") or [] for u in o.get("units") or []]
    codes += [str(u.get("unit")) for u in (bench.get("cusum") or {}).get("units") or []]
    return list(dict.fromkeys(codes))


def _names(sites: Sequence[str], bench: Any, *, own_site: str | None, pseudonymise_all: bool) -> dict[str, str]:
    """Site code → name shown. With a benchmark document, its own rule
    (:func:`spinetrack.analysis.benchmark.view_for`: the others numbered by size, the same
    number in every outcome and chart) names its units; sites with episodes but no benchmarked
    unit follow, numbered on by code. Without one, :func:`site_labels`."""
    codes = _benchmark_codes(bench)
    if not codes:
        return site_labels(sites, own_site=own_site, pseudonymise_all=pseudonymise_all)
    from spinetrack.analysis.benchmark import view_for

    tagged = copy.deepcopy(dict(bench))
    for o in tagged.get("outcomes") or []:
        for u in o.get("units") or []:
            u["_code"] = u.get("unit")
    for u in (tagged.get("cusum") or {}).get("units") or []:
        u["_code"] = u.get("unit")
    viewed = view_for(tagged, own_site=None if pseudonymise_all else own_site)
    names: dict[str, str] = {}
    for o in viewed.get("outcomes") or []:
        for u in o.get("units") or []:
            names[str(u["_code"])] = str(u["label"])
    for u in (viewed.get("cusum") or {}).get("units") or []:
        names[str(u["_code"])] = str(u["label"])
    taken = {int(n.rsplit(" ", 1)[1]) for n in names.values() if n.startswith("Site ") and n[5:].isdigit()}
    k = max(taken, default=0)
    for code in sorted(set(sites) - set(names)):
        if code == own_site and not pseudonymise_all:
            names[code] = code
        else:
            k += 1
            names[code] = f"Site {k}"
    return names


def _relabel(u: dict[str, Any], names: Mapping[str, str], own_site: str | None, pseudonymise_all: bool) -> None:
    code = u.get("unit")
    own = code == own_site and not pseudonymise_all
    label = names[str(code)]
    u.update(unit=label, label=label, own=own)


# ------------------------------------------------------------------------------- on a snapshot


def annual_snapshot(snapshot_dir: str | Path, year: int, *, engine: str = "duckdb",
                    engine_options: dict[str, Any] | None = None, scorecard: dict[str, Any] | None = None,
                    benchmark: dict[str, Any] | None = None, progress: Progress | None = None) -> dict[str, Any]:
    """Open an engine on a snapshot directory, build :func:`annual_data` for ``year``, close the
    engine (as :func:`spinetrack.analysis.scorecard.analyze_snapshot` does)."""
    from spinetrack.engines import get_engine

    eng = get_engine(engine, **(engine_options or {}))
    try:
        eng.register_snapshot(snapshot_dir)
        return annual_data(eng, year, benchmark=benchmark, scorecard=scorecard, progress=progress)
    finally:
        eng.close()
