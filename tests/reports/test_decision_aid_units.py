"""Units that cannot be confused, and the aid in Spanish.

* A chance is a natural frequency out of 100 people, ``100 p`` rounded half up to a whole person
  (0.0612 → "6 in 100 people", 0.065 → 7; a chance strictly between 0 and 1 is never shown as 0
  or 100: "fewer than 1", "more than 99"); a score carries its scale and direction
  ("27 on a 0 to 100 scale (lower is better)"); every cell of the table carries its source.
  (Trevena LJ, et al. BMC Med Inform Decis Mak 2013;13(Suppl 2):S7, the IPDAS risk
  communication chapter: natural frequencies with a constant denominator, icon arrays.)
* The icon array of a chance has exactly as many filled circles as the frequency says.
* The aid, its "what matters most" section and its PDF render in Spanish inside
  ``i18n.use_locale("es")``; the PDF's text (extracted with pypdf) is Spanish.
"""

from __future__ import annotations

import io
import re

import pytest

from spinetrack.i18n import use_locale
from spinetrack.reports.decision_aid import (
    build_patient_aid,
    icon_array,
    natural_frequency,
    render_decision_aid_html,
    render_patient_body,
    render_preferences,
    score_on_scale,
)
from tests.reports.test_decision_aid import fixture


@pytest.mark.parametrize(("p", "text"), [
    (0.0612, "6 in 100 people"),       # the brief's example
    (0.065, "7 in 100 people"),        # half up, not half to even
    (0.055, "6 in 100 people"),        # 5.5 → 6 (round() would give 6 too; 0.065 is the telling case)
    (0.0, "0 in 100 people"),
    (0.004, "fewer than 1 in 100 people"),
    (0.9951, "more than 99 in 100 people"),
    (1.0, "100 in 100 people"),
])
def test_a_chance_is_a_natural_frequency_out_of_100(p: float, text: str) -> None:
    assert natural_frequency(p) == text


def test_a_score_carries_its_scale_and_direction() -> None:
    assert score_on_scale(27.4, 100, "lower") == "27 on a 0 to 100 scale (lower is better)"
    assert score_on_scale(2.5, 10, "lower") == "3 on a 0 to 10 scale (lower is better)"
    assert score_on_scale(61.5, 100, "higher") == "62 on a 0 to 100 scale (higher is better)"


def test_no_cell_of_the_table_is_a_bare_number() -> None:
    aid = build_patient_aid(fixture("normal"))
    cells = [(c, tag) for _, row in aid.grid() for c, tag in row]
    units = re.compile(r"in 100 people$|scale \((lower|higher) is better\)$|\b(days?|weeks?)$")
    for cell, tag in cells:
        if cell == "does not apply":
            assert tag is None
            continue
        assert units.search(cell), cell
        assert tag in ("from this clinic's patients", "from published studies"), (cell, tag)
    lit = build_patient_aid(fixture("literature"))
    assert ("about 1 day", "from published studies") in lit.grid()[4][1]


@pytest.mark.parametrize("count", [0, 1, 6, 62, 99, 100])
def test_the_icon_array_fills_exactly_the_frequency(count: int) -> None:
    svg = icon_array(count, label="x", id_prefix="t").svg
    assert svg.count("<circle") == 100
    assert svg.count('class="on"') == count and svg.count('class="off"') == 100 - count


def test_every_chance_of_the_aid_has_its_icon_array_with_the_same_number() -> None:
    aid = build_patient_aid(fixture("normal"))
    for outcome in aid.outcomes:
        for s in outcome.statements:
            if s.cell.endswith("in 100 people"):
                n = int(s.cell.split()[0])
                assert s.icons is not None and s.icons.count == n, (outcome.key, s.cell)
                assert f"about {n} " in s.icons.label  # the accessible title says the same number


def test_summary_first_details_folded() -> None:
    body = render_patient_body(fixture("normal"), preferences='<section id="aid-prefs"></section>')
    grid, prefs, details = body.index('id="aid-grid"'), body.index('id="aid-prefs"'), body.index('id="aid-details"')
    assert grid < prefs < details
    assert body.count("<details") == 1 + 1 + 8 + 1  # the options, how to read, 8 questions, the studies
    assert not re.findall(r"<details[^>]* open>", body)
    assert len(re.findall(r"<details[^>]* open>", render_patient_body(fixture("normal"), open_details=True))) == 11


def test_preferences_are_shown_as_given_and_never_change_the_numbers() -> None:
    html = render_preferences({"pain_relief": 4, "avoid_surgery": 0})
    assert "Less pain in my leg or back</dt><dd>Matters most to me" in html
    assert "Not having an operation</dt><dd>Does not matter to me" in html
    assert "Getting back" not in html  # a factor not weighed is not shown as if it were
    assert "does not change any of the numbers" in html
    assert "Nothing has been chosen yet." in render_preferences(None)
    doc = fixture("normal")
    plain = render_decision_aid_html(doc)
    weighed = render_decision_aid_html(doc, preferences={"pain_relief": 4, "complication_risk": 0})
    numbers = re.compile(r"\d+ (?:in 100 people|on a 0 to \d+ scale)")
    assert numbers.findall(plain) == numbers.findall(weighed) and numbers.findall(plain)


def test_the_aid_in_spanish() -> None:
    with use_locale("es"):
        aid = build_patient_aid(fixture("normal"))
        body = render_patient_body(aid)
    assert aid.title == "Sus opciones para una hernia de disco que aprieta un nervio"
    assert aid.language == "es" and aid.made_on == "26 de noviembre de 2026"
    rows = dict(aid.grid())
    assert rows["¿Cuántas personas se sienten claramente mejor en su vida diaria después de un año?"][1] == (
        "62 de cada 100 personas", "de los pacientes de esta clínica")
    assert rows["¿Cuánto duele la pierna después de un año?"][1][0] == "2 en una escala de 0 a 10 (más bajo es mejor)"
    assert "Sus opciones una al lado de la otra" in body and "Cirugía por una incisión pequeña" in body
    assert "62 círculos rellenos y 38 círculos vacíos, de cien." in body
    assert "Your choices" not in body and "people" not in body


def test_the_pdf_in_spanish() -> None:
    pypdf = pytest.importorskip("pypdf")
    pdf = pytest.importorskip("spinetrack.reports.pdf")
    try:
        from spinetrack.reports.decision_aid import render_decision_aid_pdf

        data = render_decision_aid_pdf(fixture("normal"), language="es", preferences={"pain_relief": 4})
    except pdf.ReportDependencyError as exc:  # pragma: no cover - WeasyPrint missing
        pytest.skip(str(exc))
    text = " ".join((page.extract_text() or "") for page in pypdf.PdfReader(io.BytesIO(data)).pages)
    text = re.sub(r"\s+", " ", text)
    for words in ("Sus opciones para una hernia de disco", "62 de cada 100 personas", "Lo que más le importa",
                  "Es lo que más me importa", "Tener menos dolor en la pierna o la espalda",
                  "Lo que elija aquí no cambia ninguna de las cifras"):
        assert words in text, words
    assert "Your choices" not in text
    # the English PDF of the same document, for contrast
    english = render_decision_aid_pdf(fixture("normal"))
    text_en = " ".join((p.extract_text() or "") for p in pypdf.PdfReader(io.BytesIO(english)).pages)
    assert "Your choices for a slipped disc" in re.sub(r"\s+", " ", text_en)
