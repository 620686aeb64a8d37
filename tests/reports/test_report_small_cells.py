"""The scorecard report's counts of patients under the registry's small-cell rule, its one love
plot for every comparison, and claims that do not apply to a comparison.

The rule is the registry's (``spinetrack.store.reads.MIN_CELL_SIZE = 5``: aggregate cells with
fewer than 5 responses are suppressed); the report shows a count from 1 to 4 as ``<5`` and bounds
a share that would give one away. Documents: ``scorecard_example.json`` (see ``test_report.py``)
with counts set by hand; the expected strings are worked out here (e.g. 2 of 334 returned: the lost
share would be 332 / 334 = 99.4%, shown as "over 98.5%", 1 − 5 / 334 = 0.98503).
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from spinetrack.reports import render_html
from spinetrack.reports._format import MIN_CELL, fmt_followup, fmt_patients
from spinetrack.store.reads import MIN_CELL_SIZE

FIXTURE = Path(__file__).with_name("scorecard_example.json")


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


def _section(html: str, section_id: str) -> str:
    """A top-level section without subsections (cohort, balance), up to the next section."""
    start = html.index(f'<section id="{section_id}"')
    return html[start:html.index("<section id=", start + 1)]


def test_the_reports_rule_is_the_registrys() -> None:
    assert MIN_CELL == MIN_CELL_SIZE == 5


@pytest.mark.parametrize(("n", "shown"), [(None, "—"), (0, "0"), (1, "<5"), (4, "<5"), (4.4, "<5"), (5, "5"),
                                          (1234, "1,234")])
def test_counts_of_patients(n: float | None, shown: str) -> None:
    assert fmt_patients(n) == shown


@pytest.mark.parametrize(("returned", "population", "lost", "shown"), [
    (321, 334, 0.0389222, ("321 of 334", "3.9%")),         # 13 lost: nothing small
    (334, 334, 0.0, ("334 of 334", "0.0%")),                # none lost: 0 is no small cell
    (2, 334, 0.9940120, ("<5 of 334", "over 98.5%")),       # 2 returned: 1 − 5/334 = 98.5%
    (331, 334, 0.0089820, ("over 329 of 334", "<5 patients")),  # 3 lost
    (3, 4, 0.25, ("<5 of <5", "suppressed")),               # the population itself is small
    (0, 40, 1.0, ("0 of 40", "100.0%")),
])
def test_followup_cells(returned: int, population: int, lost: float, shown: tuple[str, str]) -> None:
    assert fmt_followup(returned, population, lost) == shown


def test_cohort_tables_never_show_a_count_from_1_to_4(doc: dict[str, Any]) -> None:
    d = copy.deepcopy(doc)
    comp = d["comparisons"][0]
    comp["attrition"][-1].update(n_treated=3, n_control=1185)
    comp["followup"][1].update(population_treated=3167, returned_treated=3164, lost_treated=3 / 3167,
                               population_control=1185, returned_control=2, lost_control=1183 / 1185)
    cohort = _section(render_html(d), "cohort")
    att = cohort.split("Attrition")[1].split("</table>")[0]
    assert '<td class="num">&lt;5</td><td class="num">1,185</td>' in att
    fu = cohort.split("Questionnaires returned per timepoint")[1].split("</table>")[0]
    row = fu.split("<tr>")[3]  # header, baseline, 2 weeks
    cells = re.findall(r'<td class="num">([^<]*(?:&lt;[^<]*)?)</td>', row)
    assert cells == ["over 3,162 of 3,167", "&lt;5 patients", "&lt;5 of 1,185", "over 99.6%"]
    assert "3,164" not in row and "99.8%" not in row and "0.1%" not in row
    assert "Counts of patients from 1 to 4 are shown as “&lt;5”" in cohort


def test_one_love_plot_names_every_comparison(doc: dict[str, Any]) -> None:
    balance = _section(render_html(doc), "balance")
    assert balance.count('<svg id="fig-love"') == 1
    desc = re.search(r'<desc id="fig-love-desc">([^<]*)</desc>', balance)
    assert desc is not None
    for comp in doc["comparisons"]:
        assert comp["label"] in desc.group(1)
    # the covariate table: one row per covariate, before and after for each comparison
    names = {r["name"] for c in doc["comparisons"] for r in c["balance_before"]["rows"]}
    table = balance.split("Standardised mean differences before and after weighting")[1]
    assert table.count('<th scope="row">') == len(names)
    assert table.count(": before</th>") == len(doc["comparisons"])


def test_not_applicable_comparisons_are_named_under_the_claims_table(doc: dict[str, Any]) -> None:
    html = render_html(doc)
    block = html.split('<section id="claim-incision"')[1].split("</section>")[0]
    table, after = block.split("</table>", 1)
    assert "Surgery" not in table.split("<tbody>")[1]  # incision does not apply to surgery vs conservative care
    assert after.removeprefix("</div>").startswith('<p class="table-note">Not applicable to <span '
                                                  'id="claim-incision--surgery_vs_conservative">Surgery (MIS or open)')
