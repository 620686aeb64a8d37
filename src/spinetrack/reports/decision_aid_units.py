"""The decision aid's units: icon arrays, natural frequencies and scores with their scale.

Units that cannot be confused (IPDAS; Trevena LJ, et al. Presenting quantitative information
about decision outcomes: a risk communication primer for patient decision aid developers. BMC
Med Inform Decis Mak 2013;13(Suppl 2):S7): a chance as a natural frequency out of 100 people
with a 100-icon array, a score with its scale and its direction. Every text goes through
:func:`spinetrack.i18n.gettext` in the current language (the ``decision`` catalog).

References
----------
Galesic M, Garcia-Retamero R, Gigerenzer G. Using icon arrays to communicate medical risks:
overcoming low numeracy. Health Psychol 2009;28(2):210-216.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from spinetrack.i18n import get_locale, gettext, ngettext
from spinetrack.reports._format import esc
from spinetrack.reports.readability import number_words

_ = gettext

__all__ = ["IconArray", "icon_array", "natural_frequency", "score_on_scale"]

# ---------------------------------------------------------------------------------- icon arrays


@dataclass(frozen=True)
class IconArray:
    """A 10 × 10 icon array: ``count`` filled circles out of 100, as an accessible inline SVG."""

    count: int
    label: str   # the <title>: the sentence, with the number as digits
    words: str   # the <desc>: the numbers in words (digits in a language other than English)
    svg: str


def _words(n: int) -> str:
    if get_locale() != "en":
        return str(n)
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
    filled = ngettext("%(w)s filled circle", "%(w)s filled circles", count, w=_words(count))
    empty = ngettext("%(w)s empty circle", "%(w)s empty circles", 100 - count, w=_words(100 - count))
    words = _("%(filled)s and %(empty)s, out of a hundred.", filled=filled, empty=empty)
    words = words[:1].upper() + words[1:]
    on = "".join(f'<circle class="on" cx="{(i % 10) * 20 + 10}" cy="{(i // 10) * 20 + 10}" r="7"/>'
                 for i in range(count))
    off = "".join(f'<circle class="off" cx="{(i % 10) * 20 + 10}" cy="{(i // 10) * 20 + 10}" r="7"/>'
                  for i in range(count, 100))
    svg = (f'<svg class="icon-array" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 200 200" width="{size_px}" '
           f'height="{size_px}" role="img" aria-labelledby="{pid}-t {pid}-d">'
           f'<title id="{pid}-t">{esc(label)}</title><desc id="{pid}-d">{esc(words)}</desc>'
           f'<g fill="#0b5cad" stroke="#0b5cad" stroke-width="2">{on}</g>'
           f'<g fill="#ffffff" stroke="#4a4a4a" stroke-width="2">{off}</g></svg>')
    return IconArray(count=count, label=label, words=words, svg=svg)


# ---------------------------------------------------------------------------------- units


def _whole(x: float) -> int:
    """Round half up (2.5 → 3), as people expect; Python's round() rounds half to even."""
    return math.floor(x + 0.5)


def _pct(p: float) -> str:
    """A probability as a whole number of people out of 100: ``100 p`` rounded half up; a chance
    above 0 that rounds to 0 is "fewer than 1", one below 1 that rounds to 100 "more than 99"."""
    n = _whole(100 * p)
    if n == 0 and p > 0:
        return _("fewer than 1")
    if n == 100 and p < 1:
        return _("more than 99")
    return str(n)


def natural_frequency(p: float) -> str:
    """A chance as a natural frequency out of 100 people (Gigerenzer; IPDAS): ``100 p`` rounded
    half up to a whole person, never 0 or 100 for a chance strictly between 0 and 1.

    Examples
    --------
    >>> natural_frequency(0.0612)
    '6 in 100 people'
    >>> natural_frequency(0.065), natural_frequency(0.001), natural_frequency(0.9996)
    ('7 in 100 people', 'fewer than 1 in 100 people', 'more than 99 in 100 people')
    """
    return _("%(n)s in 100 people", n=_pct(p))


def score_on_scale(value: float, top: int, better: str) -> str:
    """A score with its scale and direction, rounded half up to a whole point.

    Examples
    --------
    >>> score_on_scale(27.4, 100, "lower")
    '27 on a 0 to 100 scale (lower is better)'
    """
    direction = {"lower": _("lower is better"), "higher": _("higher is better")}.get(better)
    text = _("%(n)s on a 0 to %(top)s scale", n=_whole(value), top=top)
    return _("%(score)s (%(direction)s)", score=text, direction=direction) if direction else text
