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

Units that cannot be confused (IPDAS; Trevena LJ, et al. Presenting quantitative information
about decision outcomes: a risk communication primer for patient decision aid developers. BMC
Med Inform Decis Mak 2013;13(Suppl 2):S7): a score always with its scale and direction ("18 on a
0 to 100 scale (lower is better)"), a chance always as a natural frequency ("6 in 100 people";
:func:`natural_frequency`, rounding rule there) with a 100-icon array, a time with its unit;
every number with where it comes from ("from this clinic's patients" / "from published
studies"). Never a bare number.

Layout: summary first (the options and the side-by-side table of the key figures, which stacks
into one card per option on a narrow screen: ``static/decision.css``), the details of each
question, of each option and the studies folded in ``<details>`` (opened in the PDF).

Languages: every text goes through :func:`spinetrack.i18n.gettext` in the current language
(the ``decision`` catalog); :func:`render_decision_aid_pdf` renders inside
``i18n.use_locale(language)``.

The patient's "what matters most to you" weights (:mod:`spinetrack.domain.preferences`) are
shown as given, with the sentence that they never change the numbers (:func:`render_preferences`).

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
from spinetrack.domain.preferences import FACTORS, LEVELS
from spinetrack.i18n import N_, format_date, get_locale, gettext, ngettext, use_locale
from spinetrack.reports._format import esc
from spinetrack.reports.decision_aid_units import (
    IconArray,
    _pct,
    _whole,
    icon_array,
    natural_frequency,
    score_on_scale,
)
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

_ = gettext

__all__ = [  # the wording's OPTION_NAMES and URGENT_FALLBACK are re-exported for their readers
    "OPTION_NAMES",
    "URGENT_FALLBACK",
    "WEIGHTS_DO_NOT_CHANGE",
    "IconArray",
    "PatientAid",
    "build_patient_aid",
    "icon_array",
    "natural_frequency",
    "patient_text",
    "render_decision_aid_html",
    "render_decision_aid_pdf",
    "render_patient_body",
    "render_preferences",
    "score_on_scale",
]

Payload = Mapping[str, Any]

# ---------------------------------------------------------------------------------- the patient version


@dataclass(frozen=True)
class PatientStatement:
    """What one option's number says for one outcome."""

    option_key: str
    option_name: str
    source: str                  # clinic | literature | none | not_applicable
    sentences: tuple[str, ...]   # running text
    cell: str                    # the side-by-side table's cell ("62 in 100 people")
    icons: IconArray | None = None
    tag: str | None = None       # where the cell's number comes from ("from this clinic's patients")
    ranged: bool = False         # the sentences give how much people differ (a prediction interval)


@dataclass(frozen=True)
class PatientOutcome:
    key: str
    question: str
    scale: str | None
    statements: tuple[PatientStatement, ...]
    mixed: bool = False  # the row's numbers come from different places (clinic and published studies)
    short: str = ""      # the summary's short name of the question


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
    language: str = "en"

    def grid(self) -> list[tuple[str, list[tuple[str, str | None]]]]:
        """Rows of the side-by-side table: (question, one (cell, source tag) per available option)."""
        return [(o.question, [(s.cell, s.tag) for s in o.statements]) for o in self.outcomes]

    def mixed_rows(self) -> list[bool]:
        """Per row of :meth:`grid`: whether its numbers come from different places."""
        return [o.mixed for o in self.outcomes]


def _option_name(option: Mapping[str, Any]) -> str:
    known = OPTION_NAMES.get(option["key"])
    return _(known) if known else str(option.get("label") or option["key"])


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
    return format_date(d, "long")


def _between(low: float | None, high: float | None, fmt: Any) -> str | None:
    """The interval of a chance in words: "We are fairly sure it is between 55 and 69."."""
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return None
    a, b = fmt(low), fmt(high)
    if a == b:
        return _("We are fairly sure it is close to %(a)s.", a=a)
    return _("We are fairly sure it is between %(a)s and %(b)s.", a=a, b=b)


def _days_phrase(days: float) -> str:
    """A number of days in the unit a person would use: days up to 2 weeks, then weeks."""
    if days >= 14:
        n = _whole(days / 7)
        return ngettext("%(num)d week", "%(num)d weeks", n)
    n = max(_whole(days), 0)
    return ngettext("%(num)d day", "%(num)d days", n)


def _in_ten(level: float | None) -> int:
    """A prediction level as the "9" of "9 in 10"."""
    return _whole(10 * (level or 0.9))


def _spread(words: OutcomeWords | None, cell: Mapping[str, Any], clinic: bool, fmt: Any, unit: str = "") -> str | None:
    """How much people differ, from the document's prediction interval: "9 in 10 people like
    you had a score between 5 and 38." (``None`` when the document gives no range). A range
    whose top lies beyond the follow-up of the data reads "… 1 to more than 58 weeks"."""
    low, high, beyond = cell.get("pi_low"), cell.get("pi_high"), cell.get("pi_beyond_days")
    if low is None or not math.isfinite(low) or not (words and words.spread):
        return None
    if high is None:
        if beyond is None:
            return None
        b = _("more than %(n)s", n=fmt(beyond))
    else:
        b = fmt(high)
        if fmt(low) == b:
            return None
    what = _(words.spread, a=fmt(low), b=b)
    if unit == "weeks":
        what = _("%(range)s weeks", range=what)
    elif unit == "days":
        what = _("%(range)s days", range=what)
    if clinic:
        return _("%(n)s in 10 people like you %(what)s.", n=_in_ten(cell.get("pi_level")), what=what)
    return _("%(n)s in 10 people in published studies %(what)s.", n=_in_ten(cell.get("pi_level")), what=what)


def _statement(outcome: Mapping[str, Any], option: Mapping[str, Any]) -> PatientStatement:
    key, name = option["key"], _option_name(option)
    cell_data = (outcome.get("by_option") or {}).get(key)
    words = outcome_words(outcome["key"])
    if cell_data is None:
        return PatientStatement(key, name, "not_applicable", (_("This does not apply to %(option)s.",
                                                                  option=name.lower()),), _("does not apply"))
    source = cell_data.get("source") or "none"
    est = cell_data.get("estimate")
    if source == "none" or est is None:
        return PatientStatement(key, name, "none", (_(SOURCE_SENTENCES["none"]),), _("no estimate"))
    low, high = cell_data.get("ci_low"), cell_data.get("ci_high")
    clinic = source == "clinic"
    icons = None
    score = False
    kind = outcome.get("kind")
    label = str(outcome.get("label", "")).lower()
    if kind == "probability":
        n = _pct(est)
        event = _(words.event) if words else label
        lead = (_("Out of 100 people like you, about %(n)s %(event)s.", n=n, event=event) if clinic
                else _("Out of 100 people in published studies, about %(n)s %(event)s.", n=n, event=event))
        icons = icon_array(_whole(100 * est), label=lead, id_prefix=f"ia-{outcome['key']}-{key}")
        # the uncertainty of a chance (a probability needs no range of people: it is one person's chance)
        spread = _between(low, high, _pct)
        cell = natural_frequency(est)
    elif kind == "median_days" or outcome.get("unit") == "days":
        value = _days_phrase(est)
        doing = _(words.days) if words else label
        if kind == "median_days":
            lead = (_("Half of the people like you %(doing)s within about %(time)s.", doing=doing, time=value)
                    if clinic else _("Half of the people in published studies %(doing)s within about %(time)s.",
                                     doing=doing, time=value))
        else:
            lead = (_("On average, people like you %(doing)s after about %(time)s.", doing=doing, time=value)
                    if clinic else _("On average, people in published studies %(doing)s after about %(time)s.",
                                     doing=doing, time=value))
        pi_high = cell_data.get("pi_high") if cell_data.get("pi_high") is not None else cell_data.get("pi_beyond_days")
        in_weeks = (pi_high if pi_high is not None else est) >= 14
        spread = _spread(words, cell_data, clinic, lambda x: str(max(_whole(x / 7 if in_weeks else x), 0)),
                         "weeks" if in_weeks else "days")
        cell = _("about %(time)s", time=value)
    else:  # a mean on a score
        score = True
        top = words.out_of if words and words.out_of else None
        subject = _(words.subject) if words else label
        shown = _whole(est)
        if top:
            if outcome["key"].endswith("_12m"):
                lead = (_("After one year, %(subject)s is about %(n)s out of %(top)s for people like you.",
                          subject=subject, n=shown, top=top) if clinic
                        else _("After one year, %(subject)s is about %(n)s out of %(top)s for people in published "
                               "studies.", subject=subject, n=shown, top=top))
            else:
                lead = (_("On average, %(subject)s is about %(n)s out of %(top)s for people like you.",
                          subject=subject, n=shown, top=top) if clinic
                        else _("On average, %(subject)s is about %(n)s out of %(top)s for people in published "
                               "studies.", subject=subject, n=shown, top=top))
            cell = score_on_scale(est, top, str(outcome.get("better", "")))
        else:
            lead = _("On average, %(subject)s is about %(n)s %(unit)s.", subject=subject, n=shown,
                     unit=str(outcome.get("unit", "")))
            cell = _("about %(n)s %(unit)s", n=shown, unit=str(outcome.get("unit", "")))
        spread = _spread(words, cell_data, clinic, lambda x: str(_whole(x)))
    better = {"higher": _("Higher is better."), "lower": _("Lower is better.")}.get(outcome.get("better", ""), "")
    sentences = [lead]
    if spread:
        sentences.append(spread)
    ranged = bool(spread) and kind != "probability"
    if score and better:
        sentences.append(better)
    sentences.append(_(SOURCE_SENTENCES.get(source, SOURCE_SENTENCES["none"])))
    if clinic and cell_data.get("uses_baseline_scores") is False:
        sentences += _sentences_of(_(NO_BASELINE_SENTENCE))
    tag = SOURCE_TAGS.get(source)
    return PatientStatement(key, name, source, tuple(sentences), cell, icons, _(tag) if tag else None, ranged)


def build_patient_aid(payload: Payload) -> PatientAid:
    """The patient version of the decision-support document, in the current language.

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
    lang = get_locale()
    screening = payload.get("screening") or {}
    if screening.get("urgent"):
        return PatientAid("urgent", _("Important: please read this now"),
                          message=_sentences_of(_(URGENT_PATIENT_TEXT)), language=lang)
    if not _is_screened(screening):
        return PatientAid("unscreened", _("Safety questions first"), message=_sentences_of(_(UNSCREENED_TEXT)),
                          language=lang)
    episode = payload.get("episode") or {}
    known = CONDITION_NAMES.get(episode.get("diagnosis_group") or "")
    condition = _(known) if known else _("your back problem")
    family = episode.get("family")
    options: list[PatientOption] = []
    for option in payload.get("options") or []:
        name = _option_name(option)
        about_text = OPTION_ABOUT.get(option["key"])
        about = list(_sentences_of(_(about_text) if about_text else None))
        if option["key"] in APPROACHES and family in FAMILY_ABOUT:
            about.append(_(FAMILY_ABOUT[family]))
        if not option.get("available", True):
            about = [_("%(option)s is not a choice for you right now.", option=name),
                     _("Your care team can tell you why.")]
        options.append(PatientOption(option["key"], name, bool(option.get("available", True)), tuple(about)))
    columns = tuple(o for o in options if o.available)
    available = [o for o in payload.get("options") or [] if o.get("available", True)]
    outcomes = []
    for outcome in payload.get("outcomes") or []:
        words = outcome_words(outcome["key"])
        question = _(words.question) if words else str(outcome.get("label") or outcome["key"])
        statements = tuple(_statement(outcome, o) for o in available)
        shown = {st.source for st in statements if st.source in ("clinic", "literature")}
        mixed = bool(outcome.get("mixed_sources")) or len(shown) > 1
        outcomes.append(PatientOutcome(outcome["key"], question, _(words.scale) if words and words.scale else None,
                                       statements, mixed, _(words.short) if words and words.short else question))
    intro: tuple[str, ...] = (
        _("This page can help you and your care team talk about your choices for %(condition)s.",
          condition=condition),
        _("There is no single right choice. The best choice for you depends on what matters most to you."),
        _("No one can say for sure what will happen to you. The numbers show what happened to other people."),
        _("Some numbers are out of 100 people. A filled circle stands for one person who has that result. "
          "An empty circle stands for one person who does not."),
    )
    if any(st.ranged for o in outcomes for st in o.statements):
        intro += (_(RANGE_TEXT),)
    if payload.get("baseline_scores_missing"):
        intro += (_(NO_BASELINE_TEXT),)
    closing = (_("Take your time. You can ask your care team any question."),
               _("You can also talk it over with your family or friends before you choose."))
    return PatientAid(
        "ready", _("Your choices for %(condition)s", condition=condition), intro=intro, options=tuple(options),
        outcomes=tuple(outcomes), closing=closing,
        synthetic=_(SYNTHETIC_TEXT) if payload.get("synthetic_data") else None,
        made_on=_long_date(payload.get("generated_on")), sources=tuple(payload.get("sources") or ()), columns=columns,
        language=lang)


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
            lines += _sentences_of(_(MIXED_TEXT))
        for statement in outcome.statements:
            lines += statement.sentences
    lines += aid.closing
    return "\n".join(lines)


def _p(sentences: Sequence[str], cls: str = "") -> str:
    attr = f' class="{cls}"' if cls else ""
    return f"<p{attr}>{esc(' '.join(sentences))}</p>" if sentences else ""


# Headings and short labels of the patient version (f-strings hide a call from the extractor).
_H = {
    "prefs": N_("What matters most to you"),
    "chosen": N_("Chosen on %(date)s"),
    "made": N_("Made on %(date)s"),
    "choices": N_("Your choices"),
    "means": N_("What each choice means"),
    "read": N_("How to read the numbers"),
    "next": N_("What next"),
    "studies": N_("Studies used"),
    "question": N_("Question"),
}


WEIGHTS_DO_NOT_CHANGE = N_("What you choose here does not change any of the numbers. "
                           "It helps you and your care team talk about what matters to you.")


def render_preferences(weights: Mapping[str, int] | None, *, heading_level: int = 2,
                       recorded_on: str | None = None) -> str:
    """What matters most to the patient, as given (each factor and its level in words), or a
    line saying nothing was chosen yet; always with :data:`WEIGHTS_DO_NOT_CHANGE`."""
    h = f"h{heading_level}"
    parts = [f'<section class="aid-prefs" aria-labelledby="aid-prefs-h"><{h} id="aid-prefs-h">'
             f'{esc(_(_H["prefs"]))}</{h}>']
    if weights:
        levels = dict(LEVELS)
        parts.append('<dl class="aid-prefs-list">')
        for f in FACTORS:
            if f.key in weights:
                parts.append(f"<dt>{esc(_(f.label))}</dt><dd>{esc(_(levels[int(weights[f.key])]))}</dd>")
        parts.append("</dl>")
        if recorded_on:
            parts.append(f'<p class="aid-date">{esc(_(_H["chosen"], date=recorded_on))}</p>')
    else:
        parts.append(_p([_("Nothing has been chosen yet.")]))
    parts.append(_p([_(WEIGHTS_DO_NOT_CHANGE)], "aid-note"))
    parts.append("</section>")
    return "".join(parts)


def render_patient_body(payload: Payload | PatientAid, *, heading_level: int = 1, open_details: bool = False,
                        preferences: str = "") -> str:
    """The patient version as an HTML fragment (sections, no ``<html>``): the same markup on the
    web page and in the PDF. Summary first (the options and the table of key figures), then
    ``preferences`` (the page's "what matters most" step, already rendered), then the details
    folded in ``<details>`` (``open_details``: open, for print). Every text is escaped; the
    SVGs are built here.
    """
    aid = payload if isinstance(payload, PatientAid) else build_patient_aid(payload)
    h1, h2, h3 = (f"h{heading_level + i}" for i in range(3))
    if aid.state in ("urgent", "unscreened"):
        role = ' role="alert"' if aid.state == "urgent" else ""
        return (f'<section class="aid-message aid-{aid.state}"{role} aria-labelledby="aid-title">'
                f'<{h1} id="aid-title">{esc(aid.title)}</{h1}>'
                + "".join(f"<p>{esc(s)}</p>" for s in aid.message) + "</section>")
    op = " open" if open_details else ""
    parts = [f'<{h1} id="aid-title">{esc(aid.title)}</{h1}>']
    if aid.made_on:
        parts.append(f'<p class="aid-date">{esc(_(_H["made"], date=aid.made_on))}</p>')
    if aid.synthetic:
        parts.append(f'<p class="aid-demo"><strong>{esc(aid.synthetic)}</strong></p>')
    parts.append('<div class="aid-intro">' + "".join(_p([s]) for s in aid.intro[:2]) + "</div>")
    parts.append(f'<section aria-labelledby="aid-options"><{h2} id="aid-options">{esc(_(_H["choices"]))}</{h2}>'
                 '<ul class="aid-option-names">'
                 + "".join(f"<li{'' if o.available else _UNAVAILABLE}>{esc(o.name)}</li>"
                           for o in aid.options) + "</ul>")
    parts.append(f'<details class="aid-more"{op}><summary>{esc(_(_H["means"]))}</summary>')
    for o in aid.options:
        parts.append(f'<div class="aid-option{"" if o.available else " aid-unavailable"}">'
                     f"<{h3}>{esc(o.name)}</{h3}>{_p(o.sentences)}</div>")
    parts.append("</details></section>")
    if aid.columns:
        parts.append(_grid_html(aid, h2))
    parts.append(preferences)
    if aid.columns:
        more = esc(_("More about each question"))
        parts.append(f'<section aria-labelledby="aid-details"><{h2} id="aid-details">{more}</{h2}>')
        if len(aid.intro) > 2:
            parts.append(f'<details class="aid-more"{op}><summary>{esc(_(_H["read"]))}</summary>'
                         + "".join(_p([s]) for s in aid.intro[2:]) + "</details>")
        for i, outcome in enumerate(aid.outcomes):
            parts.append(f'<details class="aid-outcome"{op}><summary id="aid-q{i}">{esc(outcome.question)}</summary>')
            if outcome.scale:
                parts.append(_p([outcome.scale], "aid-scale"))
            if outcome.mixed:
                parts.append(f'<p class="aid-mixed" role="note"><strong>{esc(_(MIXED_TEXT))}</strong></p>')
            parts.append('<div class="aid-cards">')
            for s in outcome.statements:
                parts.append(f'<div class="aid-card aid-source-{esc(s.source)}"><{h3}>{esc(s.option_name)}</{h3}>'
                             + (f'<div class="aid-icons">{s.icons.svg}</div>' if s.icons else "")
                             + _p(s.sentences) + "</div>")
            parts.append("</div></details>")
        parts.append("</section>")
    parts.append(f'<section aria-labelledby="aid-next"><{h2} id="aid-next">{esc(_(_H["next"]))}</{h2}>'
                 + "".join(_p([s]) for s in aid.closing) + "</section>")
    if aid.sources:
        parts.append(f'<details class="aid-sources"{op}><summary id="aid-studies">{esc(_(_H["studies"]))}</summary>'
                     "<ul>" + "".join(f"<li>{esc(s)}</li>" for s in aid.sources) + "</ul></details>")
    return "".join(parts)


_UNAVAILABLE = ' class="aid-unavailable"'


def _grid_html(aid: PatientAid, h2: str) -> str:
    """The side-by-side table: options as columns, questions as rows, every cell with its unit
    and source. On a narrow screen ``decision.css`` stacks it into one block per row, each cell
    led by its option's name (``data-option``), so no column is ever cut off."""
    head = "".join(f'<th scope="col">{esc(c.name)}</th>' for c in aid.columns)
    names = [c.name for c in aid.columns]
    rows = "".join(
        f'<tr><th scope="row">{esc(q)}'
        + (f'<span class="aid-mixed-tag">{esc(_(MIXED_TAG))}</span>' if mixed else "") + "</th>" + "".join(
            f'<td data-option="{esc(name)}"><span class="aid-opt">{esc(name)}</span>{esc(c)}'
            + (f'<span class="aid-src">{esc(t)}</span>' if t else "") + "</td>"
            for name, (c, t) in zip(names, cells, strict=True))
        + "</tr>"
        for (q, cells), mixed in zip(aid.grid(), aid.mixed_rows(), strict=True))
    title = _("Your choices side by side")
    return (f'<section aria-labelledby="aid-grid"><{h2} id="aid-grid">{esc(title)}</{h2}>'
            f'<div class="aid-table-wrap">'
            f'<table class="aid-grid"><thead><tr><th scope="col">{esc(_(_H["question"]))}</th>{head}</tr></thead>'
            f"<tbody>{rows}</tbody></table></div></section>")


# ---------------------------------------------------------------------------------- the PDF

_PDF_CSS = """
@page { size: A4; margin: 16mm 15mm; }
* { box-sizing: border-box; }
html { font-family: "DejaVu Sans", system-ui, sans-serif; font-size: 12.5pt; line-height: 1.45; color: #1a1a1a; }
h1 { font-size: 20pt; margin: 0 0 6pt; } h2 { font-size: 15pt; margin: 16pt 0 6pt; break-after: avoid; }
h3 { font-size: 13pt; margin: 6pt 0 3pt; break-after: avoid; }
p { margin: 4pt 0; }
details, summary { display: block; }
summary { font-size: 13.5pt; font-weight: bold; margin: 10pt 0 4pt; break-after: avoid; }
.aid-date { color: #4a4a4a; }
.aid-demo { border: 2px solid #8a5a00; padding: 4pt 6pt; }
.aid-message { border: 3px solid #a4161a; padding: 8pt 10pt; }
.aid-unscreened { border-color: #8a5a00; }
table.aid-grid { border-collapse: collapse; width: 100%; font-size: 11pt; }
table.aid-grid th, table.aid-grid td { border: 1px solid #8a8f94; padding: 4pt; text-align: left; vertical-align: top; }
table.aid-grid thead th { background: #eef2f6; }
table.aid-grid .aid-opt { display: none; }
table.aid-grid .aid-src { display: block; font-size: 9pt; color: #4a4a4a; }
table.aid-grid .aid-mixed-tag { display: block; font-size: 9pt; font-weight: normal; color: #8a5a00; }
.aid-mixed { border-left: 4px solid #8a5a00; padding-left: 6pt; }
.aid-outcome { break-inside: avoid; }
.aid-cards { display: flex; flex-wrap: wrap; gap: 8pt; }
.aid-card { border: 1px solid #c4cad0; padding: 6pt; width: 31.5%; break-inside: avoid; margin: 0 0 6pt;
  font-size: 11pt; }
svg.icon-array { width: 110pt; height: 110pt; }
.aid-prefs dl { display: grid; grid-template-columns: 1fr auto; gap: 2pt 10pt; }
.aid-prefs dd { margin: 0; font-weight: bold; }
.aid-sources { font-size: 9.5pt; color: #333333; }
.aid-sources li { overflow-wrap: anywhere; }
"""


def render_decision_aid_html(payload: Payload, *, language: str | None = None,
                             preferences: Mapping[str, int] | None = None, preferences_on: str | None = None) -> str:
    """The patient version as one self-contained HTML document (inline CSS and SVG, no scripts,
    no external resources), laid out for A4, every detail open: what
    :func:`render_decision_aid_pdf` prints. ``language``: rendered inside
    ``i18n.use_locale(language)`` (default: the current language); ``preferences``: the
    patient's current weights, shown as given."""
    with use_locale(language or get_locale()):
        aid = build_patient_aid(payload)
        prefs = render_preferences(preferences, recorded_on=preferences_on) if aid.state == "ready" else ""
        return (f'<!doctype html><html lang="{esc(aid.language)}"><head><meta charset="utf-8">'
                f"<title>{esc(aid.title)}</title><style>{_PDF_CSS}</style></head>"
                f'<body class="decision-aid"><main>{render_patient_body(aid, open_details=True, preferences=prefs)}'
                "</main></body></html>")


def render_decision_aid_pdf(payload: Payload, *, language: str | None = None,
                            preferences: Mapping[str, int] | None = None, preferences_on: str | None = None) -> bytes:
    """The patient version as a PDF (A4) in ``language`` (the patient's; default the current
    one), printed by WeasyPrint through :func:`spinetrack.reports.pdf.write_pdf`.

    Raises
    ------
    spinetrack.reports.pdf.ReportDependencyError
        WeasyPrint or a system library it needs is missing.
    """
    html = render_decision_aid_html(payload, language=language, preferences=preferences,
                                    preferences_on=preferences_on)
    with tempfile.TemporaryDirectory(prefix="spinetrack-aid-") as tmp:
        path = Path(tmp) / "decision-aid.pdf"
        write_pdf(html, path)
        return path.read_bytes()
