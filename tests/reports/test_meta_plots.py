"""Forest and funnel plots of a pooled result: SVG text with the numbers of the result, ratio
measures on a log axis with back-transformed labels, an inverted SE axis, PNG on request."""

from __future__ import annotations

from pathlib import Path

import pytest
from matplotlib.figure import Figure

from spinetrack.reports.meta_plots import (
    _draw_forest,
    _draw_funnel,
    forest_plot,
    funnel_plot,
    measure_label,
)
from spinetrack.stats.meta import (
    MetaResult,
    effect_sizes_binary,
    effect_sizes_from_variances,
    pool_studies,
)
from tests.stats.meta.reference_data import BCG_CNEG, BCG_CPOS, BCG_LABELS, BCG_TNEG, BCG_TPOS


@pytest.fixture(scope="module")
def bcg_reml() -> MetaResult:
    t = effect_sizes_binary(events1=BCG_TPOS, n1=BCG_TPOS + BCG_TNEG, events2=BCG_CPOS, n2=BCG_CPOS + BCG_CNEG,
                            measure="RR", labels=BCG_LABELS)
    return pool_studies(t, method="REML")


def test_forest_plot_svg_carries_rows_pooled_diamond_and_prediction_interval(bcg_reml: MetaResult,
                                                                             tmp_path: Path) -> None:
    png = tmp_path / "forest.png"
    svg = forest_plot(bcg_reml, png_path=png, left_label="favours vaccine", right_label="favours control")
    assert svg.startswith("<svg") and 'role="img"' in svg and "<title" in svg and "<desc" in svg
    for label in ("Aronson, 1948", "Comstock et al, 1976", "Weight", "RR [95% CI]", "Prediction interval (95%)",
                  "favours vaccine"):
        assert label in svg, label
    # pooled RR 0.49 [0.34, 0.70] and prediction interval [0.15, 1.55] (metafor predict: 0.4894,
    # 0.3441-0.6962, 0.1546-1.5490), study 1 0.41 [0.13, 1.26]
    assert "0.49 [0.34, 0.70]" in svg and "[0.15, 1.55]" in svg and "0.41 [0.13, 1.26]" in svg
    assert "Risk ratio (log scale)" in svg and "Heterogeneity" in svg and "Test for overall effect" in svg
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert forest_plot(bcg_reml) == forest_plot(bcg_reml)  # deterministic


def test_ratio_axis_is_log_scaled_with_back_transformed_tick_labels(bcg_reml: MetaResult) -> None:
    import math

    fig = Figure(figsize=(9, 6))
    ax = fig.add_subplot()
    _draw_forest(fig, ax, bcg_reml, left_label=None, right_label=None)
    ticks = ax.get_xticks()
    labels = [ax.xaxis.get_major_formatter()(t, i) for i, t in enumerate(ticks)]
    assert "1" in labels and "0.5" in labels
    assert all(math.exp(t) == pytest.approx(float(lab)) for t, lab in zip(ticks, labels, strict=True))
    diamond = ax.patches[0]  # the pooled diamond is the only patch
    xs = [v[0] for v in diamond.get_xy()]  # type: ignore[attr-defined]
    assert min(xs) == pytest.approx(bcg_reml.ci_low) and max(xs) == pytest.approx(bcg_reml.ci_high)


def test_funnel_plot_inverts_the_standard_error_axis(bcg_reml: MetaResult, tmp_path: Path) -> None:
    fig = Figure()
    ax = fig.add_subplot()
    _draw_funnel(ax, bcg_reml)
    assert ax.yaxis_inverted() and ax.get_ylim()[1] == 0.0
    assert ax.get_ylabel() == "Standard error"
    points = next(line for line in ax.get_lines() if line.get_label() == "studies")
    assert len(points.get_xdata()) == 13
    svg = funnel_plot(bcg_reml, png_path=tmp_path / "funnel.png")
    assert svg.startswith("<svg") and "pseudo 95% confidence limits" in svg
    assert (tmp_path / "funnel.png").stat().st_size > 1000


def test_difference_measures_use_a_linear_axis_and_single_study_footer() -> None:
    r = pool_studies(effect_sizes_from_variances([-20.0, -2.0, -55.0], [40.5, 2.1, 15.7], measure="MD"),
                     method="FE")
    svg = forest_plot(r)
    assert "Mean difference" in svg and "(log scale)" not in svg and "\u221220.00" in svg
    one = pool_studies(effect_sizes_from_variances([0.3], [0.04], measure="SMD"))
    assert "not applicable (one study)" in forest_plot(one)
    assert measure_label("OR") == "Odds ratio" and measure_label("XYZ") == "XYZ"
