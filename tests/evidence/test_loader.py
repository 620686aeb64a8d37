"""The loader: the shipped data validate, and broken files are refused with a message that
names the file, the line, the column and the allowed values."""

from __future__ import annotations

import csv
import io
import tomllib
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import pytest

from spinetrack.errors import ValidationError
from spinetrack.evidence import (
    ArmSummary,
    Comparison,
    EvidenceDataError,
    Measure,
    Outcome,
    PublishedEstimate,
    load_arm_data,
    load_studies,
    select,
)
from spinetrack.evidence.reader import MAX_CELL_CHARS
from spinetrack.evidence.schema import ARM_COLUMNS, STUDY_COLUMNS

PROJECT_ROOT = Path(__file__).resolve().parents[2]
Rows = list[dict[str, str]]


def _shipped_text(name: str) -> str:
    return resources.files("spinetrack.evidence").joinpath("data").joinpath(name).read_text(encoding="utf-8")


def _shipped_rows(name: str) -> Rows:
    return list(csv.DictReader(io.StringIO(_shipped_text(name))))


def _write(path: Path, rows: Rows, columns: list[str] | None = None) -> Path:
    cols = columns or list(rows[0])
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=cols, lineterminator="\n", extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return path


def _row_index(rows: Rows, row_id: str) -> int:
    return next(i for i, r in enumerate(rows) if r["id"] == row_id)


def _broken_studies(tmp_path: Path, edit: Callable[[Rows], None]) -> EvidenceDataError:
    rows = _shipped_rows("studies.csv")
    edit(rows)
    with pytest.raises(EvidenceDataError) as info:
        load_studies(_write(tmp_path / "studies.csv", rows))
    return info.value


def _broken_arms(tmp_path: Path, edit: Callable[[Rows], None]) -> EvidenceDataError:
    rows = _shipped_rows("arm_data.csv")
    edit(rows)
    with pytest.raises(EvidenceDataError) as info:
        load_arm_data(_write(tmp_path / "arm_data.csv", rows))
    return info.value


# ------------------------------------------------------------------ shipped data


def test_shipped_files_load_and_validate() -> None:
    studies, arms = load_studies(), load_arm_data()
    assert len(studies) >= 150 and len(arms) == 37  # arm_data.csv of the seed has 37 rows
    assert all(isinstance(r, PublishedEstimate) for r in studies)
    assert all(isinstance(a, ArmSummary) for a in arms)
    assert {r.comparison for r in studies} == set(Comparison)


def test_loading_an_explicit_copy_gives_the_same_rows(tmp_path: Path) -> None:
    path = tmp_path / "studies.csv"
    path.write_text(_shipped_text("studies.csv"), encoding="utf-8")
    assert load_studies(path) == load_studies()


def test_ids_are_unique_across_both_files() -> None:
    ids = [r.id for r in load_studies()] + [a.id for a in load_arm_data()]
    assert len(ids) == len(set(ids))


def test_every_row_has_a_citation_link() -> None:
    rows: list[PublishedEstimate | ArmSummary] = [*load_studies(), *load_arm_data()]
    for r in rows:
        c = r.citation
        assert c.doi or c.pmid or c.url, r.id
        assert c.link.startswith("http"), r.id
        assert c.format(), r.id


def test_flagged_rows_are_never_poolable() -> None:
    rows: list[PublishedEstimate | ArmSummary] = [*load_studies(), *load_arm_data()]
    flagged = [r for r in rows if r.flags]
    assert len(flagged) >= 30
    assert not any(r.poolable for r in flagged)


def test_medians_narratives_and_missing_sd_are_not_poolable() -> None:
    for r in load_studies():
        if r.measure in (Measure.MEDIAN_PAIR, Measure.NARRATIVE, Measure.MEAN_PAIR) or r.unit.value == "not_stated":
            assert not r.poolable, r.id
    for a in load_arm_data():
        if a.statistic.value in ("mean_only", "percent", "median_iqr"):
            assert not a.poolable, a.id


def test_against_rows_are_present_for_recurrence_operative_time_and_radiation() -> None:
    """The scorecard must be able to show evidence against MISS."""
    against = [r for r in load_studies() if r.against_claim]
    outcomes = {r.outcome for r in against}
    assert Outcome.RECURRENCE in outcomes
    assert Outcome.OPERATIVE_TIME in outcomes
    radiation = {Outcome.RADIATION_DOSE, Outcome.RADIATION_EXPOSURE, Outcome.FLUOROSCOPY_TIME,
                 Outcome.FLUOROSCOPY_COUNT}
    assert outcomes & radiation
    assert {r.comparison for r in against} >= {Comparison.DISCECTOMY, Comparison.DECOMPRESSION, Comparison.FUSION}


def test_no_excerpt_text_is_shipped() -> None:
    for name, columns in (("studies.csv", STUDY_COLUMNS), ("arm_data.csv", ARM_COLUMNS)):
        text = _shipped_text(name)
        reader = csv.reader(io.StringIO(text))
        header = next(reader)
        assert header == list(columns)
        assert not any("excerpt" in h.lower() for h in header)
        for cells in reader:
            assert all(len(c) <= MAX_CELL_CHARS for c in cells), cells[0]
        assert "\u201c" not in text and "\u201d" not in text  # no curly-quoted fragments


def test_arm_links_point_to_the_same_figures() -> None:
    arms = {a.id: a for a in load_arm_data()}
    linked = [r for r in load_studies() if r.arm_id]
    assert len(linked) >= 30
    for r in linked:
        assert arms[r.arm_id].outcome is r.outcome, r.id


def test_pyproject_ships_the_data_and_layers_evidence() -> None:
    config = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    package_data = config["tool"]["setuptools"]["package-data"]["spinetrack"]
    assert "evidence/data/*.csv" in package_data
    layers = next(c for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "layers")["layers"]
    assert any("spinetrack.evidence" in layer and "spinetrack.store" in layer for layer in layers)


# ------------------------------------------------------------------ invalid files


def test_unknown_vocabulary_value_names_file_line_column_and_allowed(tmp_path: Path) -> None:
    def edit(rows: Rows) -> None:
        rows[1]["comparison"] = "spine"

    err = _broken_studies(tmp_path, edit)
    message = str(err)
    assert "studies.csv" in message and "line 3" in message and "column 'comparison'" in message
    assert "allowed: discectomy, decompression, fusion, cross_cutting" in message
    assert err.problems[0].line == 3 and err.problems[0].column == "comparison"
    assert err.field.endswith("studies.csv:3:comparison")
    assert isinstance(err, ValidationError) and isinstance(err, ValueError)


def test_estimate_outside_its_interval_is_refused(tmp_path: Path) -> None:
    def edit(rows: Rows) -> None:
        i = _row_index(rows, "disc-intorth2014-recurrence")
        rows[i]["estimate"] = rows[i]["norm_estimate"] = "3.5"

    err = _broken_studies(tmp_path, edit)
    assert [(p.line, p.column) for p in err.problems] == [(2, "estimate")]
    assert "between ci_low and ci_high (1.19 to 3.19)" in str(err)


def test_flagged_row_marked_poolable_is_refused(tmp_path: Path) -> None:
    def edit(rows: Rows) -> None:
        rows[_row_index(rows, "fus-crude-sr-complications")]["poolable"] = "true"

    err = _broken_studies(tmp_path, edit)
    assert err.problems[0].column == "poolable" and "flagged" in err.problems[0].reason


def test_row_without_doi_pmid_or_url_is_refused(tmp_path: Path) -> None:
    def edit(rows: Rows) -> None:
        for col in ("doi", "pmid", "pmcid", "url", "alt_url"):
            rows[0][col] = ""

    err = _broken_studies(tmp_path, edit)
    assert err.problems[0].line == 2 and "DOI, a PMID or a URL" in str(err)


def test_duplicate_id_is_refused(tmp_path: Path) -> None:
    def edit(rows: Rows) -> None:
        rows[5]["id"] = rows[4]["id"]

    err = _broken_studies(tmp_path, edit)
    assert err.problems[0].line == 7 and err.problems[0].column == "id"
    assert "already used on line 6" in str(err)


def test_silently_flipped_sign_is_caught(tmp_path: Path) -> None:
    """Park 2018 prints the reduction as +269.5; flipping it in place without the convention fails."""
    def edit(rows: Rows) -> None:
        i = _row_index(rows, "fus-park2018-blood-loss")
        rows[i].update(estimate="-269.5", ci_low="-292.9", ci_high="-246.2")

    err = _broken_studies(tmp_path, edit)
    assert {p.column for p in err.problems} >= {"norm_estimate"}


def test_finding_contradicting_the_interval_is_caught(tmp_path: Path) -> None:
    def edit(rows: Rows) -> None:
        rows[_row_index(rows, "disc-sips2y-leg-pain")]["finding"] = "favours_mis"

    err = _broken_studies(tmp_path, edit)
    assert err.problems[0].column == "finding" and err.problems[0].allowed == "favours_open"


def test_excerpt_column_is_refused_at_the_header(tmp_path: Path) -> None:
    rows = _shipped_rows("studies.csv")
    for r in rows:
        r["excerpt"] = "quoted text"
    with pytest.raises(EvidenceDataError) as info:
        load_studies(_write(tmp_path / "studies.csv", rows, [*STUDY_COLUMNS, "excerpt"]))
    p = info.value.problems[0]
    assert (p.line, p.column) == (1, "excerpt") and "excerpts are not shipped" in p.reason


def test_missing_column_is_refused(tmp_path: Path) -> None:
    rows = _shipped_rows("studies.csv")
    with pytest.raises(EvidenceDataError) as info:
        load_studies(_write(tmp_path / "studies.csv", rows, [c for c in STUDY_COLUMNS if c != "ci_level"]))
    assert (info.value.problems[0].line, info.value.problems[0].column) == (1, "ci_level")


def test_overlong_cell_is_refused(tmp_path: Path) -> None:
    def edit(rows: Rows) -> None:
        rows[2]["notes"] = "x" * (MAX_CELL_CHARS + 1)

    err = _broken_studies(tmp_path, edit)
    assert (err.problems[0].line, err.problems[0].column) == (4, "notes")


def test_bad_numbers_and_p_values_are_refused(tmp_path: Path) -> None:
    def edit(rows: Rows) -> None:
        rows[0]["p"] = "p=0.008"
        rows[1]["n_mis"] = "12.5"

    err = _broken_studies(tmp_path, edit)
    assert [(p.line, p.column) for p in err.problems] == [(2, "p"), (3, "n_mis")]


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    def edit(rows: Rows) -> None:
        rows[0]["measure"] = "HR"
        rows[3]["timepoint_norm"] = "5y"
        rows[7]["flags"] = "dubious"

    err = _broken_studies(tmp_path, edit)
    assert [(p.line, p.column) for p in err.problems] == [(2, "measure"), (5, "timepoint_norm"), (9, "flags")]
    assert "3 problem(s)" in str(err)


def test_median_pair_must_be_flagged(tmp_path: Path) -> None:
    def edit(rows: Rows) -> None:
        rows[_row_index(rows, "disc-gadjradj2022-leg-pain-median")]["flags"] = ""

    err = _broken_studies(tmp_path, edit)
    assert err.problems[0].column == "flags" and "median_not_mean" in err.problems[0].allowed


def test_arm_link_disagreement_is_caught(tmp_path: Path) -> None:
    def edit(rows: Rows) -> None:
        rows[_row_index(rows, "fus-hockley2019-blood-loss")]["mis_value"] = "148"

    err = _broken_studies(tmp_path, edit)
    assert err.problems[0].column == "arm_id"


def test_arm_events_above_n_are_refused(tmp_path: Path) -> None:
    def edit(rows: Rows) -> None:
        rows[_row_index(rows, "arm-ijss-revision")]["mis_events"] = "70"

    err = _broken_arms(tmp_path, edit)
    assert err.problems[0].column == "mis_events" and "at most mis_n (69)" in str(err)


def test_arm_negative_sd_is_refused(tmp_path: Path) -> None:
    def edit(rows: Rows) -> None:
        rows[0]["open_sd"] = "-70.2"

    err = _broken_arms(tmp_path, edit)
    assert (err.problems[0].line, err.problems[0].column) == (2, "open_sd")
    assert "at least 0" in err.problems[0].allowed


def test_arm_percent_only_row_cannot_be_poolable(tmp_path: Path) -> None:
    def edit(rows: Rows) -> None:
        rows[_row_index(rows, "arm-sips2y-reoperation")]["poolable"] = "true"

    err = _broken_arms(tmp_path, edit)
    assert err.problems[0].column == "poolable" and err.problems[0].reason == "events not reported"


def test_arm_statistic_requires_its_columns(tmp_path: Path) -> None:
    def edit(rows: Rows) -> None:
        rows[0]["mis_sd"] = ""

    err = _broken_arms(tmp_path, edit)
    assert err.problems[0].column == "mis_sd" and "mean_sd" in err.problems[0].reason


# ------------------------------------------------------------------ selection


def test_select_by_comparison_and_outcome() -> None:
    studies = load_studies()
    fusion = select(studies, comparison="fusion", include_cross_cutting=False)
    assert fusion and {r.comparison for r in fusion} == {Comparison.FUSION}
    with_cc = select(studies, comparison=Comparison.FUSION)
    assert {r.comparison for r in with_cc} == {Comparison.FUSION, Comparison.CROSS_CUTTING}
    assert select(studies, comparison="pooled") == studies
    los = select(studies, outcome=["length_of_stay", Outcome.BLOOD_LOSS])
    assert {r.outcome for r in los} == {Outcome.LENGTH_OF_STAY, Outcome.BLOOD_LOSS}
    assert all(r.poolable for r in select(studies, poolable_only=True))
    arms = select(load_arm_data(), comparison="discectomy", outcome="leg_pain")
    assert [a.id for a in arms] == ["arm-gadjradj2022-leg-pain"]


def test_select_refuses_unknown_names() -> None:
    with pytest.raises(ValidationError, match="comparison"):
        select(load_studies(), comparison="spine")
    with pytest.raises(ValidationError, match="outcome"):
        select(load_studies(), outcome="pain")
    with pytest.raises(ValidationError, match="claim"):
        select(load_studies(), claim="faster_healing")
