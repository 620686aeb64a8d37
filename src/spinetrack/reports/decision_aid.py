"""The decision aid: plain-language text, icon arrays and the PDF for one patient's choices.

Input is the decision-support document built by
``spinetrack.predict.decision.build_decision_support`` (a JSON-serialisable dict: patient,
episode, red-flag screening, options, expected outcomes per option with intervals and their
source, model performance, sources). This module computes nothing statistical: every number
shown comes from the document and is only rounded and put into words here.

Two readers:

* the **patient version** (:func:`build_patient_aid`, :func:`render_patient_body`,
  :func:`render_decision_aid_html`, :func:`render_decision_aid_pdf`): short sentences at or below
  school grade 8 (Flesch–Kincaid, measured by the tests with
  :mod:`spinetrack.reports.readability`), "out of 100 people" with icon arrays (a 10 × 10 grid of
  filled and outlined circles, an accessible inline SVG whose title and description give the
  number in words) and the uncertainty of a chance as "between 55 and 69"; for scores and days,
  how much people differ: "9 in 10 people like you had a score between 5 and 38" (the document's
  prediction interval, explained once at the top) — never the interval of an average, which
  says how sure we are of the average, not where one person will be; where each
  number comes from, a warning on any question whose numbers come from different places, a
  plain statement when the patient's own baseline scores were not used, and a side-by-side
  table (options as columns, questions as rows; the layout of an Option Grid, with spinetrack's
  own wording);
* the **clinician version** (:func:`spinetrack.reports.decision_support.build_clinician_view`,
  in its own module): the same numbers with one decimal,
  their 95% confidence intervals and the prediction intervals for one patient, the source of
  every cell and a warning on rows that mix sources, model performance, the red-flag screening
  and the guideline criteria, for the web page.

Safety rules, applied to both: when the screening is urgent (a red flag present) only the urgent
message is shown — no options, no numbers. (The clinician sees the document's message; the
patient sees :data:`URGENT_PATIENT_TEXT`, in plain words, because the document's message is
written for the clinician.) When red-flag screening is not recorded, or some
red-flag question is unanswered, the patient version says that the screening must be completed
first and shows nothing else; the clinician version shows a warning above the numbers.

The running text is measured the way Flesch advised ("test only the running text"): headings,
table cells, captions and the list of studies are not part of it (:func:`patient_text`).

References
----------
Elwyn G, Lloyd A, Joseph-Williams N, et al. Option Grids: shared decision making made easier.
Patient Educ Couns 2013;90(2):207-212 (the side-by-side layout; no Option Grid wording is used).
Galesic M, Garcia-Retamero R, Gigerenzer G. Using icon arrays to communicate medical risks:
overcoming low numeracy. Health Psychol 2009;28(2):210-216.
Flesch R. How to write plain English. New York: Harper & Row; 1979 (chapter 2: test only the
running text).
"""

from __future__ import annotations

import math
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from spinetrack.domain.comparisons import APPROACHES
from spinetrack.reports._format import esc
from spinetrack.reports.decision_aid_words import (
    CONDITION_NAMES,
    FAMILY_ABOUT,
    MIXED_TAG,
    MIXED_TEXT,
    NO_BASELINE_SENTENCE,
    NO_BASELINE_TEXT,
    OPTION_ABOUT,
    OPTION_NAMES,
    RANGE_TEXT,
    SOURCE_SENTENCES,
    SOURCE_TAGS,
    SYNTHETIC_TEXT,
    UNSCREENED_TEXT,
    URGENT_FALLBACK,
    URGENT_PATIENT_TEXT,
    OutcomeWords,
    outcome_words,
)
from spinetrack.reports.pdf import write_pdf
from spinetrack.reports.readability import number_words

__all__ = [  # the wording's OPTION_NAMES and URGENT_FALLBACK are re-exported for their readers
    "OPTION_NAMES",
    "URGENT_FALLBACK",
    "IconArray",
    "PatientAid",
    "build_patient_aid",
    "icon_array",
    "patient_text",
    "render_decision_aid_html",
    "render_decision_aid_pdf",
    "render_patient_body",
]

Payload = Mapping[str, Any]

# ---------------------------------------------------------------------------------- icon arrays


@dataclass(frozen=True)
class IconArray:
    """A 10 × 10 icon array: ``count`` filled circles out of 100, as an accessible inline SVG."""

    count: int
    label: str   # the <title>: the sentence, with the number as digits
    words: str   # the <desc>: the numbers in words
    svg: str


def _words(n: int) -> str:
    return number_words(str(n)).replace("one hundred", "a hundred")


def icon_array(count: int, *, label: str, id_prefix: str, size_px: int = 160) -> IconArray:
    """A 10 × 10 grid with ``count`` filled circles (row by row from the top left) and the rest
    outlined ("empty" in the words), so that the picture does not rely on colour alone.

    The SVG has ``role="img"`` and is labelled by its ``<title>`` (``label``) and ``<desc>`` (the
    numbers in words, e.g. "Sixty two filled circles and thirty eight empty circles, out of a
    hundred.").

    Examples
    --------
    >>> ia = icon_array(62, label="About 62 out of 100 people feel better.", id_prefix="x")
    >>> ia.svg.count("<circle"), ia.svg.count('class="on"')
    (100, 62)
    >>> ia.words
    'Sixty two filled circles and thirty eight empty circles, out of a hundred.'
    """
    count = max(0, min(100, int(count)))
    pid = re.sub(r"[^A-Za-z0-9_-]+", "-", id_prefix)
    words = (f"{_words(count).capitalize()} filled circle{'s' if count != 1 else ''} and {_words(100 - count)} "
             f"empty circle{'s' if 100 - count != 1 else ''}, out of a hundred.")
    cells = []
    for i in range(100):
        row, col = divmod(i, 10)
        cls = "on" if i < count else "off"
        cells.append(f'<circle class="{cls}" cx="{col * 20 + 10}" cy="{row * 20 + 10}" r="7"/>')
    svg = (f'<svg class="icon-array" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 200 200" width="{size_px}" '
           f'height="{size_px}" role="img" aria-labelledby="{pid}-t {pid}-d">'
           f'<title id="{pid}-t">{esc(label)}</title><desc id="{pid}-d">{esc(words)}</desc>'
           '<g fill="#0b5cad" stroke="#0b5cad" stroke-width="2">' + "".join(c for c in cells if 'class="on"' in c)
           + '</g><g fill="#ffffff" stroke="#4a4a4a" stroke-width="2">'
           + "".join(c for c in cells if 'class="off"' in c)
           + "</g></svg>")
    return IconArray(count=count, label=label, words=words, svg=svg)


# ---------------------------------------------------------------------------------- the patient version


@dataclass(frozen=True)
class PatientStatement:
    """What one option's number says for one outcome."""

    option_key: str
    option_name: str
    source: str                  # clinic | literature | none | not_applicable
    sentences: tuple[str, ...]   # running text
    cell: str                    # the side-by-side table's cell ("about 62 in 100")
    icons: IconArray | None = None
    tag: str | None = None       # where the cell's number comes from ("from this clinic")
    ranged: bool = False         # the sentences give how much people differ (a prediction interval)


@dataclass(frozen=True)
class PatientOutcome:
    key: str
    question: str
    scale: str | None
    statements: tuple[PatientStatement, ...]
    mixed: bool = False  # the row's numbers come from different places (clinic and published studies)


@dataclass(frozen=True)
class PatientOption:
    key: str
    name: str
    available: bool
    sentences: tuple[str, ...]


@dataclass(frozen=True)
class PatientAid:
    """The patient version, ready to render. ``state`` is ``urgent`` (only ``message`` is
    shown), ``unscreened`` (only ``message``) or ``ready``."""

    state: str
    title: str
    message: tuple[str, ...] = ()
    intro: tuple[str, ...] = ()
    options: tuple[PatientOption, ...] = ()
    outcomes: tuple[PatientOutcome, ...] = ()
    closing: tuple[str, ...] = ()
    synthetic: str | None = None
    made_on: str | None = None
    sources: tuple[str, ...] = ()
    columns: tuple[PatientOption, ...] = ()

    def grid(self) -> list[tuple[str, list[tuple[str, str | None]]]]:
        """Rows of the side-by-side table: (question, one (cell, source tag) per available option)."""
        return [(o.question, [(s.cell, s.tag) for s in o.statements]) for o in self.outcomes]

    def mixed_rows(self) -> list[bool]:
        """Per row of :meth:`grid`: whether its numbers come from different places."""
        return [o.mixed for o in self.outcomes]


def _option_name(option: Mapping[str, Any]) -> str:
    return OPTION_NAMES.get(option["key"], str(option.get("label") or option["key"]))


def _sentences_of(text: str | None) -> tuple[str, ...]:
    return tuple(s for s in re.split(r"(?<=[.!?])\s+", (text or "").strip()) if s)


def _is_screened(screening: Mapping[str, Any]) -> bool:
    return bool(screening.get("recorded")) and not screening.get("unanswered")


def _long_date(iso: str | None) -> str | None:
    if not iso:
        return None
    try:
        d = date.fromisoformat(iso)
    except ValueError:
        return iso
    return f"{d.day} {d.strftime('%B')} {d.year}"


def _whole(x: float) -> int:
    """Round half up (2.5 → 3), as people expect; Python's round() rounds half to even."""
    return math.floor(x + 0.5)


def _pct(p: float) -> str:
    """A probability as a whole number of people out of 100, in words where it rounds away."""
    n = _whole(100 * p)
    if n == 0 and p > 0:
        return "fewer than 1"
    if n == 100 and p < 1:
        return "more than 99"
    return str(n)


def _between(low: float | None, high: float | None, fmt: Any, unit: str = "") -> str | None:
    """The interval in words: "We are fairly sure it is between 55 and 69." (``unit`` plural;
    singular after "close to 1")."""
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return None
    a, b = fmt(low), fmt(high)
    if a == b:
        tail = f" {unit[:-1] if a == '1' and unit.endswith('s') else unit}" if unit else ""
        return f"We are fairly sure it is close to {a}{tail}."
    tail = f" {unit}" if unit else ""
    return f"We are fairly sure it is between {a} and {b}{tail}."


def _days_phrase(days: float) -> tuple[str, str]:
    """A number of days in the unit a person would use: days up to 2 weeks, then weeks."""
    if days >= 14:
        n = _whole(days / 7)
        return str(n), "week" if n == 1 else "weeks"
    n = max(_whole(days), 0)
    return str(n), "day" if n == 1 else "days"


def _in_ten(level: float | None) -> str:
    """A prediction level as "9 in 10"."""
    return f"{_whole(10 * (level or 0.9))} in 10"


def _spread(words: OutcomeWords | None, cell: Mapping[str, Any], who: str, fmt: Any, unit: str = "") -> str | None:
    """How much people differ, from the document's prediction interval: "9 in 10 people like
    you had a score between 5 and 38." (``None`` when the document gives no range). A range
    whose top lies beyond the follow-up of the data reads "… 1 to more than 58 weeks"."""
    low, high, beyond = cell.get("pi_low"), cell.get("pi_high"), cell.get("pi_beyond_days")
    if low is None or not math.isfinite(low) or not (words and words.spread):
        return None
    tail = f" {unit}" if unit else ""
    if high is None:
        if beyond is None:
            return None
        b = f"more than {fmt(beyond)}"
    else:
        b = fmt(high)
        if fmt(low) == b:
            return None
    return f"{_in_ten(cell.get('pi_level'))} {who} {words.spread.format(a=fmt(low), b=b)}{tail}."


def _statement(outcome: Mapping[str, Any], option: Mapping[str, Any]) -> PatientStatement:
    key, name = option["key"], _option_name(option)
    cell_data = (outcome.get("by_option") or {}).get(key)
    words = outcome_words(outcome["key"])
    if cell_data is None:
        return PatientStatement(key, name, "not_applicable", (f"This does not apply to {name.lower()}.",),
                                "does not apply")
    source = cell_data.get("source") or "none"
    est = cell_data.get("estimate")
    if source == "none" or est is None:
        return PatientStatement(key, name, "none", (SOURCE_SENTENCES["none"],), "no estimate")
    low, high = cell_data.get("ci_low"), cell_data.get("ci_high")
    who = "people like you" if source == "clinic" else "people in published studies"
    icons = None
    score = False
    kind = outcome.get("kind")
    if kind == "probability":
        n = _pct(est)
        event = words.event if words else f"have this: {str(outcome.get('label', '')).lower()}"
        lead = f"Out of 100 {who}, about {n} {event}."
        icons = icon_array(_whole(100 * est), label=lead, id_prefix=f"ia-{outcome['key']}-{key}")
        # the uncertainty of a chance (a probability needs no range of people: it is one person's chance)
        spread = _between(low, high, _pct)
        cell = f"about {n} in 100"
    elif kind == "median_days" or outcome.get("unit") == "days":
        value, unit = _days_phrase(est)
        doing = words.days if words else f"reach this: {str(outcome.get('label', '')).lower()}"
        lead = (f"Half of the {who} {doing} within about {value} {unit}." if kind == "median_days"
                else f"On average, {who} {doing} after about {value} {unit}.")
        pi_high = cell_data.get("pi_high") if cell_data.get("pi_high") is not None else cell_data.get("pi_beyond_days")
        in_weeks = (pi_high if pi_high is not None else est) >= 14
        spread = _spread(words, cell_data, who, lambda x: str(max(_whole(x / 7 if in_weeks else x), 0)),
                         "weeks" if in_weeks else "days")
        cell = f"about {value} {unit}"
    else:  # a mean on a score
        score = True
        top = words.out_of if words and words.out_of else None
        subject = words.subject if words else str(outcome.get("label", "the result")).lower()
        shown = str(_whole(est))
        scale = f" out of {top}" if top else f" {outcome.get('unit', '')}".rstrip()
        lead = f"After one year, {subject} is about {shown}{scale} for {who}." if outcome["key"].endswith("_12m") \
            else f"On average, {subject} is about {shown}{scale} for {who}."
        spread = _spread(words, cell_data, who, lambda x: str(_whole(x)))
        cell = f"about {shown}{scale}"
    better = {"higher": "Higher is better.", "lower": "Lower is better."}.get(outcome.get("better", ""), "")
    sentences = [lead]
    if spread:
        sentences.append(spread)
    ranged = bool(spread) and kind != "probability"
    if score and better:
        sentences.append(better)
    sentences.append(SOURCE_SENTENCES.get(source, SOURCE_SENTENCES["none"]))
    if source == "clinic" and cell_data.get("uses_baseline_scores") is False:
        sentences += _sentences_of(NO_BASELINE_SENTENCE)
    return PatientStatement(key, name, source, tuple(sentences), cell, icons, SOURCE_TAGS.get(source), ranged)


def build_patient_aid(payload: Payload) -> PatientAid:
    """The patient version of the decision-support document.

    Parameters
    ----------
    payload : Mapping
        The document of ``build_decision_support`` (see the module docstring).

    Returns
    -------
    PatientAid
        ``state`` ``urgent``: only the urgent message; ``unscreened``: only the message that the
        safety questions come first; ``ready``: intro, options, one section per outcome, the
        side-by-side table's rows (:meth:`PatientAid.grid`), closing words and sources.
    """
    screening = payload.get("screening") or {}
    if screening.get("urgent"):
        return PatientAid("urgent", "Important: please read this now", message=_sentences_of(URGENT_PATIENT_TEXT))
    if not _is_screened(screening):
        return PatientAid("unscreened", "Safety questions first", message=_sentences_of(UNSCREENED_TEXT))
    episode = payload.get("episode") or {}
    condition = CONDITION_NAMES.get(episode.get("diagnosis_group") or "", "your back problem")
    family = episode.get("family")
    options: list[PatientOption] = []
    for option in payload.get("options") or []:
        name = _option_name(option)
        about = list(_sentences_of(OPTION_ABOUT.get(option["key"])))
        if option["key"] in APPROACHES and family in FAMILY_ABOUT:
            about.append(FAMILY_ABOUT[family])
        if not option.get("available", True):
            about = [f"{name} is not a choice for you right now.", "Your care team can tell you why."]
        options.append(PatientOption(option["key"], name, bool(option.get("available", True)), tuple(about)))
    columns = tuple(o for o in options if o.available)
    available = [o for o in payload.get("options") or [] if o.get("available", True)]
    outcomes = []
    for outcome in payload.get("outcomes") or []:
        words = outcome_words(outcome["key"])
        question = words.question if words else str(outcome.get("label") or outcome["key"])
        statements = tuple(_statement(outcome, o) for o in available)
        shown = {st.source for st in statements if st.source in ("clinic", "literature")}
        mixed = bool(outcome.get("mixed_sources")) or len(shown) > 1
        outcomes.append(PatientOutcome(outcome["key"], question, words.scale if words and words.scale else None,
                                       statements, mixed))
    intro: tuple[str, ...] = (
        f"This page can help you and your care team talk about your choices for {condition}.",
        "There is no single right choice. The best choice for you depends on what matters most to you.",
        "No one can say for sure what will happen to you. The numbers show what happened to other people.",
        ("Some numbers are out of 100 people. A filled circle stands for one person who has that result. "
         "An empty circle stands for one person who does not."),
    )
    if any(st.ranged for o in outcomes for st in o.statements):
        intro += (RANGE_TEXT,)
    if payload.get("baseline_scores_missing"):
        intro += (NO_BASELINE_TEXT,)
    closing = ("Take your time. You can ask your care team any question.",
               "You can also talk it over with your family or friends before you choose.")
    return PatientAid(
        "ready", f"Your choices for {condition}", intro=intro, options=tuple(options), outcomes=tuple(outcomes),
        closing=closing, synthetic=SYNTHETIC_TEXT if payload.get("synthetic_data") else None,
        made_on=_long_date(payload.get("generated_on")), sources=tuple(payload.get("sources") or ()), columns=columns)


def patient_text(payload: Payload | PatientAid) -> str:
    """The running text of the patient version, one sentence group per line: what the
    readability check measures (headings, table cells and the list of studies are left out).

    Examples
    --------
    >>> patient_text({"screening": {"recorded": False}})[:40]
    'Before we can talk about your choices, y'
    """
    aid = payload if isinstance(payload, PatientAid) else build_patient_aid(payload)
    lines: list[str] = [*aid.message]
    if aid.synthetic:
        lines.append(aid.synthetic)
    lines += aid.intro
    for option in aid.options:
        lines += option.sentences
    for outcome in aid.outcomes:
        if outcome.scale:
            lines.append(outcome.scale)
        if outcome.mixed:
            lines += _sentences_of(MIXED_TEXT)
        for statement in outcome.statements:
            lines += statement.sentences
    lines += aid.closing
    return "\n".join(lines)


def _p(sentences: Sequence[str], cls: str = "") -> str:
    attr = f' class="{cls}"' if cls else ""
    return f"<p{attr}>{esc(' '.join(sentences))}</p>" if sentences else ""


def render_patient_body(payload: Payload | PatientAid, *, heading_level: int = 1) -> str:
    """The patient version as an HTML fragment (sections, no ``<html>``): the same markup on the
    web page and in the PDF. Every text is escaped; the SVGs are built here.
    """
    aid = payload if isinstance(payload, PatientAid) else build_patient_aid(payload)
    h1, h2, h3 = (f"h{heading_level + i}" for i in range(3))
    if aid.state in ("urgent", "unscreened"):
        role = ' role="alert"' if aid.state == "urgent" else ""
        return (f'<section class="aid-message aid-{aid.state}"{role} aria-labelledby="aid-title">'
                f'<{h1} id="aid-title">{esc(aid.title)}</{h1}>'
                + "".join(f"<p>{esc(s)}</p>" for s in aid.message) + "</section>")
    parts = [f'<{h1} id="aid-title">{esc(aid.title)}</{h1}>']
    if aid.made_on:
        parts.append(f'<p class="aid-date">Made on {esc(aid.made_on)}</p>')
    if aid.synthetic:
        parts.append(f'<p class="aid-demo"><strong>{esc(aid.synthetic)}</strong></p>')
    parts.append('<div class="aid-intro">' + "".join(_p([s]) for s in aid.intro) + "</div>")
    parts.append(f'<section aria-labelledby="aid-options"><{h2} id="aid-options">Your choices</{h2}>')
    for o in aid.options:
        parts.append(f'<div class="aid-option{"" if o.available else " aid-unavailable"}">'
                     f"<{h3}>{esc(o.name)}</{h3}>{_p(o.sentences)}</div>")
    parts.append("</section>")
    if aid.columns:
        parts.append(_grid_html(aid, h2))
        for i, outcome in enumerate(aid.outcomes):
            parts.append(f'<section class="aid-outcome" aria-labelledby="aid-q{i}">'
                         f'<{h2} id="aid-q{i}">{esc(outcome.question)}</{h2}>')
            if outcome.scale:
                parts.append(_p([outcome.scale], "aid-scale"))
            if outcome.mixed:
                parts.append(f'<p class="aid-mixed" role="note"><strong>{esc(MIXED_TEXT)}</strong></p>')
            parts.append('<div class="aid-cards">')
            for s in outcome.statements:
                parts.append(f'<div class="aid-card aid-source-{esc(s.source)}"><{h3}>{esc(s.option_name)}</{h3}>'
                             + (f'<div class="aid-icons">{s.icons.svg}</div>' if s.icons else "")
                             + _p(s.sentences) + "</div>")
            parts.append("</div></section>")
    parts.append('<section aria-labelledby="aid-next"><' + h2 + ' id="aid-next">What next</' + h2 + ">"
                 + "".join(_p([s]) for s in aid.closing) + "</section>")
    if aid.sources:
        parts.append(f'<section class="aid-sources" aria-labelledby="aid-studies"><{h2} id="aid-studies">'
                     f"Studies used</{h2}><ul>" + "".join(f"<li>{esc(s)}</li>" for s in aid.sources)
                     + "</ul></section>")
    return "".join(parts)


def _grid_html(aid: PatientAid, h2: str) -> str:
    head = "".join(f'<th scope="col">{esc(c.name)}</th>' for c in aid.columns)
    rows = "".join(
        f'<tr><th scope="row">{esc(q)}'
        + (f'<span class="aid-mixed-tag">{esc(MIXED_TAG)}</span>' if mixed else "") + "</th>" + "".join(
            f"<td>{esc(c)}" + (f'<span class="aid-src">{esc(t)}</span>' if t else "") + "</td>" for c, t in cells)
        + "</tr>"
        for (q, cells), mixed in zip(aid.grid(), aid.mixed_rows(), strict=True))
    return (f'<section aria-labelledby="aid-grid"><{h2} id="aid-grid">Your choices side by side</{h2}>'
            '<div class="aid-table-wrap" tabindex="0" role="region" aria-label="Table: your choices side by side">'
            f'<table class="aid-grid"><thead><tr><th scope="col">Question</th>{head}</tr></thead>'
            f"<tbody>{rows}</tbody></table></div></section>")


# ---------------------------------------------------------------------------------- the PDF

_PDF_CSS = """
@page { size: A4; margin: 16mm 15mm; }
* { box-sizing: border-box; }
html { font-family: "DejaVu Sans", system-ui, sans-serif; font-size: 12.5pt; line-height: 1.45; color: #1a1a1a; }
h1 { font-size: 20pt; margin: 0 0 6pt; } h2 { font-size: 15pt; margin: 16pt 0 6pt; break-after: avoid; }
h3 { font-size: 13pt; margin: 6pt 0 3pt; break-after: avoid; }
p { margin: 4pt 0; }
.aid-date { color: #4a4a4a; }
.aid-demo { border: 2px solid #8a5a00; padding: 4pt 6pt; }
.aid-message { border: 3px solid #a4161a; padding: 8pt 10pt; }
.aid-unscreened { border-color: #8a5a00; }
table.aid-grid { border-collapse: collapse; width: 100%; font-size: 11pt; }
table.aid-grid th, table.aid-grid td { border: 1px solid #8a8f94; padding: 4pt; text-align: left; vertical-align: top; }
table.aid-grid thead th { background: #eef2f6; }
table.aid-grid .aid-src { display: block; font-size: 9pt; color: #4a4a4a; }
table.aid-grid .aid-mixed-tag { display: block; font-size: 9pt; font-weight: normal; color: #8a5a00; }
.aid-mixed { border-left: 4px solid #8a5a00; padding-left: 6pt; }
.aid-outcome { break-inside: avoid; }
.aid-cards { display: flex; flex-wrap: wrap; gap: 8pt; }
.aid-card { border: 1px solid #c4cad0; padding: 6pt; width: 31.5%; break-inside: avoid; margin: 0 0 6pt;
  font-size: 11pt; }
svg.icon-array { width: 110pt; height: 110pt; }
.aid-sources { font-size: 9.5pt; color: #333333; }
.aid-sources li { overflow-wrap: anywhere; }
"""


def render_decision_aid_html(payload: Payload) -> str:
    """The patient version as one self-contained HTML document (inline CSS and SVG, no scripts,
    no external resources), laid out for A4: what :func:`render_decision_aid_pdf` prints."""
    aid = build_patient_aid(payload)
    return ('<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f"<title>{esc(aid.title)}</title><style>{_PDF_CSS}</style></head>"
            f'<body class="decision-aid"><main>{render_patient_body(aid)}</main></body></html>')


def render_decision_aid_pdf(payload: Payload) -> bytes:
    """The patient version as a PDF (A4), printed by WeasyPrint through
    :func:`spinetrack.reports.pdf.write_pdf`.

    Raises
    ------
    spinetrack.reports.pdf.ReportDependencyError
        WeasyPrint or a system library it needs is missing.
    """
    html = render_decision_aid_html(payload)
    with tempfile.TemporaryDirectory(prefix="spinetrack-aid-") as tmp:
        path = Path(tmp) / "decision-aid.pdf"
        write_pdf(html, path)
        return path.read_bytes()
