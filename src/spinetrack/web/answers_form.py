"""The answer fields of the clinic's phone and paper forms, shared by the scheduled visit's form
(:mod:`spinetrack.web.routes.followup`) and the form for any visit of an episode
(:mod:`spinetrack.web.routes.clinic_answers`); their template part is the macro
``questionnaire_fields`` of ``templates/clinic/_answers_fields.html``.

Each questionnaire's items are inputs named ``<instrument>.<item>`` (the instrument's neutral labels
and choices: the licensed wording is read to the patient from the site's own copy). The store's
problems (:meth:`spinetrack.store.entry.AnswerEntry.check`) become a
:class:`~spinetrack.web.forms.FormErrors` by :func:`entry_errors`: every problem beside its input, in
plain words, starting with the field's label ("Back pain (NRS 0-10), Pain: choose 0, 1, … or 10.").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from starlette.datastructures import FormData

from spinetrack import instruments
from spinetrack.errors import SpinetrackError, ValidationError
from spinetrack.i18n import N_
from spinetrack.i18n import gettext as _
from spinetrack.web.forms import FormErrors, label_of, plain_message

__all__ = ["FIELD_ORDER", "entry_errors", "form_values", "parse_answers", "questionnaires"]

#: the labels of the form's own inputs (marked for the staff catalog; translated when a message is made)
LABELS = {"episode": N_("Episode"), "timepoint": N_("Timepoint"), "source": N_("How the answers came"),
          "collected_on": N_("Answered on"), "questionnaires": N_("Questionnaires")}
FIELD_ORDER = ["episode", "timepoint", "source", "collected_on", "questionnaires"]


def questionnaires(codes: Sequence[str]) -> list[dict[str, Any]]:
    """The questionnaires for the form: items with their neutral labels and choices."""
    out = []
    for code in codes:
        d = instruments.get(code).definition
        out.append({"code": code, "title": d.title, "note": d.labels_note,
                    "items": [{"code": i.code, "label": i.label, "type": i.type.value, "required": i.required,
                               "options": [(o.value, o.label) for o in i.options], "low": i.low, "high": i.high,
                               "unit": i.unit} for i in d.items]})
    return out


def parse_answers(form: FormData, codes: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Answers per questionnaire from fields ``<instrument>.<item>``; a questionnaire is entered
    when any of its items is filled. Numbers as numbers; other text is passed on for the
    instrument to refuse naming the item."""
    out: dict[str, dict[str, Any]] = {}
    for code in codes:
        answers: dict[str, Any] = {}
        for item in instruments.get(code).definition.items:
            raw = form.get(f"{code}.{item.code}")
            if not isinstance(raw, str) or not raw.strip():
                continue
            text = raw.strip()
            try:
                answers[item.code] = int(text) if text.lstrip("-").isdigit() else (
                    float(text) if item.type.value == "decimal" else text)
            except ValueError:
                answers[item.code] = text
        if answers:
            out[code] = answers
    return out


def form_values(form: FormData) -> dict[str, str]:
    """What was typed, to fill the form again (the CSRF token left out)."""
    return {k: v for k, v in form.items() if k != "csrf_token" and isinstance(v, str)}


def input_of(field: str | None) -> str:
    """The input a store field points at: ``response.collected_on`` → ``collected_on``,
    ``response.instrument`` → ``questionnaires``, ``odi.walking`` → ``odi.walking``, ``odi`` (a
    whole questionnaire) → ``q-odi`` (its fieldset)."""
    if not field:
        return "questionnaires"
    if field.startswith("response."):
        leaf = field.split(".", 1)[1]
        return "questionnaires" if leaf in ("instrument", "answers") else leaf
    if field.startswith("followup."):
        return "collected_on"
    code, _dot, item = field.partition(".")
    if code in {i.definition.code for i in instruments.all()}:
        return f"{code}.{item}" if item else f"q-{code}"
    return "questionnaires"


def _label(name: str) -> str:
    if name in LABELS:
        return _(LABELS[name])
    code, _dot, item = name.removeprefix("q-").partition(".")
    try:
        d = instruments.get(code).definition
    except ValidationError:
        return name
    if not item:
        return d.title
    found = next((i for i in d.items if i.code == item), None)
    return f"{d.title}, {found.label if found else item}"


def message(exc: SpinetrackError, name: str) -> str:
    """One problem in plain words, starting with its input's label."""
    label = _label(name)
    if name in ("episode", "timepoint") and isinstance(exc, ValidationError) and exc.reason in (None, "required"):
        what = _("choose one of this patient's episodes") if name == "episode" else _(
            "choose the timepoint the answers belong to")
        return f"{label}: {what}."
    if isinstance(exc, ValidationError) and exc.reason and exc.reason != "required" and (
            name in ("collected_on", "timepoint") or exc.allowed.startswith("none")):
        allowed = "" if exc.allowed in ("none", "baseline") else (
            f"; {exc.allowed}" if exc.allowed.startswith("none") else f"; {_('allowed')}: {exc.allowed}")
        return f"{label}: {exc.reason}{allowed}."
    text = plain_message(exc, name)
    generic = label_of(name)
    body = text[len(generic) + 2:] if text.startswith(generic + ": ") else text
    return f"{label}: {body}"


def entry_errors(problems: Iterable[SpinetrackError], order: Sequence[str] = ()) -> FormErrors:
    """The store's problems as a :class:`FormErrors` ({input: plain message}), in the form's order
    (``order``: the answer inputs after :data:`FIELD_ORDER`'s first four)."""
    errors = FormErrors()
    for exc in problems:
        name = input_of(getattr(exc, "field", None))
        errors.add(name, message(exc, name))
    return errors.sort([*FIELD_ORDER[:4], "questionnaires", *order])


def answer_inputs(items: Sequence[Mapping[str, Any]]) -> list[str]:
    """The answer inputs of the questionnaires, top to bottom (each fieldset before its items)."""
    out: list[str] = []
    for q in items:
        out.append(f"q-{q['code']}")
        out.extend(f"{q['code']}.{it['code']}" for it in q["items"])
    return out
