"""Readability of plain-language text: Flesch–Kincaid grade level and Flesch reading ease.

Pure (standard library only). Used to keep the patient decision aid at or below school
grade 8 (the tests of :mod:`spinetrack.reports.decision_aid` measure every patient text).

Formulas, with W words, S sentences and Y syllables:

* Flesch reading ease (Flesch 1948): ``206.835 − 1.015·W/S − 84.6·Y/W`` (higher = easier;
  60–70 is plain English);
* Flesch–Kincaid grade level (Kincaid et al. 1975): ``0.39·W/S + 11.8·Y/W − 15.59`` (a US
  school grade).

Counting rules (stated, because every readability tool counts a little differently):

* **Sentences** end at ``.``, ``!`` or ``?`` (one or more, with any closing quote or bracket)
  followed by white space or the end of the text, and at every line break; a decimal point
  (``0.62``) or a colon does not end a sentence. Empty pieces are not counted.
* **Words** are runs of letters or digits, joined by an apostrophe or a hyphen (``don't``,
  ``follow-up`` and ``62`` are one word each); a number keeps its decimal point and thousands
  commas (``0.55``, ``1,200``).
* **Syllables** (:func:`count_syllables`) are estimated by a heuristic, as in every automated
  tool; its rules are listed in that function. A number is counted as spoken
  (``62`` → "sixty two" → 3 syllables), a hyphenated word as the sum of its parts.

References
----------
Flesch R. A new readability yardstick. J Appl Psychol 1948;32(3):221-233.
Kincaid JP, Fishburne RP, Rogers RL, Chissom BS. Derivation of new readability formulas
(Automated Readability Index, Fog Count and Flesch Reading Ease Formula) for Navy enlisted
personnel. Research Branch Report 8-75. Millington, TN: Naval Technical Training Command; 1975.
Fast G. Lingua::EN::Syllable (Perl module, 1999): the vowel-group heuristic with sub- and
add-syllable patterns that the rules of :func:`count_syllables` follow in spirit.

Examples
--------
>>> r = measure_readability("The cat sat on the mat.")
>>> (r.sentences, r.words, r.syllables)
(1, 6, 6)
>>> round(r.flesch_reading_ease, 1), round(r.flesch_kincaid_grade, 2)
(116.1, -1.45)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from spinetrack.errors import InputError

__all__ = [
    "ReadabilityResult",
    "count_syllables",
    "flesch_kincaid_grade",
    "flesch_reading_ease",
    "measure_readability",
    "number_words",
    "split_sentences",
    "split_words",
]

_VOWELS = "aeiouy"
_SENTENCE_END = re.compile(r"[.!?]+[\"'”’)\]]*(?=\s|$)|\n+")
_WORD = re.compile(r"\d+(?:[.,]\d+)*(?![A-Za-z0-9])|[A-Za-z0-9]+(?:['’\-][A-Za-z0-9]+)*")
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")

# Vowel pairs spoken as two syllables ("tri-al", "ra-di-o", "u-su-al", "vi-de-o", "qui-et"),
# each with the contexts in which the pair is one sound ("na-tion", "re-gion", "qual", "peo-ple").
_SPLIT_PAIRS = (
    re.compile(r"(?<![ct])ia"),                             # tri-al, me-di-a; not so-cial, par-tial
    re.compile(r"(?<![tscxgln])io|(?<=[tscxgln])io(?![nu])"),  # ra-di-o, phys-i-o; not na-tion, mil-lion, gra-cious
    re.compile(r"iu"),                                      # pre-mi-um
    re.compile(r"(?<!g)eo(?!p|n$)"),                        # vi-de-o; not sur-geon, peo-ple, some-one
    re.compile(r"(?<![qg])ua"),                             # u-su-al, ac-tu-al; not e-qual, lan-guage
    re.compile(r"ie(?=t|r$|st$)"),                          # qui-et, eas-i-er, eas-i-est
    re.compile(r"ea$"),                                     # i-de-a, ar-e-a
    re.compile(r"(?<=[aeiouy])ing$"),                       # go-ing, be-ing
)
_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
         "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


@dataclass(frozen=True)
class ReadabilityResult:
    """Counts and scores of one text.

    Attributes
    ----------
    sentences, words, syllables : int
        The counts (rules in the module docstring).
    flesch_kincaid_grade : float
        US school grade (Kincaid et al. 1975).
    flesch_reading_ease : float
        0–100 and beyond; higher is easier (Flesch 1948).
    """

    sentences: int
    words: int
    syllables: int
    flesch_kincaid_grade: float
    flesch_reading_ease: float

    @property
    def words_per_sentence(self) -> float:
        return self.words / self.sentences

    @property
    def syllables_per_word(self) -> float:
        return self.syllables / self.words


def flesch_kincaid_grade(words: int, sentences: int, syllables: int) -> float:
    """Flesch–Kincaid grade level ``0.39·W/S + 11.8·Y/W − 15.59`` (Kincaid et al. 1975).

    Examples
    --------
    >>> round(flesch_kincaid_grade(13, 1, 24), 1)  # Wikipedia's "Australian platypus" sentence
    11.3
    """
    _check_counts(words, sentences, syllables)
    return 0.39 * words / sentences + 11.8 * syllables / words - 15.59


def flesch_reading_ease(words: int, sentences: int, syllables: int) -> float:
    """Flesch reading ease ``206.835 − 1.015·W/S − 84.6·Y/W`` (Flesch 1948).

    Examples
    --------
    >>> round(flesch_reading_ease(1, 1, 1), 2)  # the highest possible score
    121.22
    """
    _check_counts(words, sentences, syllables)
    return 206.835 - 1.015 * words / sentences - 84.6 * syllables / words


def _check_counts(words: int, sentences: int, syllables: int) -> None:
    if words < 1 or sentences < 1 or syllables < words:
        raise InputError(f"readability needs at least one word and one sentence and one syllable per word "
                         f"(got words={words}, sentences={sentences}, syllables={syllables})")


def number_words(token: str) -> str:
    """A number as it is read aloud (for counting its syllables): ``"62"`` → ``"sixty two"``,
    ``"1,200"`` → ``"one thousand two hundred"``, ``"0.5"`` → ``"zero point five"``. Whole numbers
    up to 999,999,999; digits after a decimal point are read one by one.

    Examples
    --------
    >>> number_words("100")
    'one hundred'
    >>> number_words("2.75")
    'two point seven five'
    """
    whole, _, decimals = token.replace(",", "").partition(".")
    words = _spell(int(whole)) if whole else ["zero"]
    if decimals:
        words += ["point", *(_ONES[int(d)] for d in decimals)]
    return " ".join(words)


def _spell(n: int) -> list[str]:
    if n < 20:
        return [_ONES[n]]
    if n < 100:
        return [_TENS[n // 10]] + ([_ONES[n % 10]] if n % 10 else [])
    for size, name in ((1_000_000_000, "billion"), (1_000_000, "million"), (1000, "thousand"), (100, "hundred")):
        if n >= size:
            if n >= size * 1000:  # beyond what we read aloud: say the digits
                return [_ONES[int(d)] for d in str(n)]
            head, rest = divmod(n, size)
            return _spell(head) + [name] + (_spell(rest) if rest else [])
    raise AssertionError(n)  # pragma: no cover - every n >= 100 matches a size above


def count_syllables(word: str) -> int:
    """Estimated number of spoken syllables in one word (at least 1).

    Rules, in order:

    1. A number is counted as it is read aloud (:func:`number_words`); a hyphenated word is
       the sum of its parts; apostrophes are dropped (``don't`` → ``dont``).
    2. Silent endings are removed: a final ``e`` ("care", "time"; but it stays after a consonant
       + ``l`` as in "ta-ble", "peo-ple", and when it is the word's only vowel, "the", "be");
       ``es`` and ``ed`` when they add no syllable ("times", "used"; but "plac-es", "chang-es",
       "need-ed", "hun-dred" and "ta-bles" keep theirs).
    3. A leading ``y`` is a consonant ("you", "year").
    4. Each run of vowels (a, e, i, o, u, y) is one syllable.
    5. A vowel pair spoken as two syllables adds one: "tri-al", "ra-di-o", "vi-de-o", "u-su-al",
       "qui-et", "i-de-a", "go-ing" (but not "na-tion", "re-gion", "mil-lion", "so-cial", "e-qual",
       "peo-ple", "some-one").
    6. A silent ``e`` inside before ``-ly``, ``-ment``, ``-ful`` or a final ``-ty`` takes one away
       ("like-ly", "move-ment", "care-ful", "safe-ty").

    Like every such heuristic it is sometimes wrong by one; the tests measure it against a
    list of hand-counted words.

    Examples
    --------
    >>> [count_syllables(w) for w in ("the", "people", "surgery", "usual", "hundred", "62")]
    [1, 2, 3, 3, 2, 3]
    """
    if any(ch.isdigit() for ch in word):
        number = _NUMBER.search(word)
        spoken = number_words(number.group(0)) if number else ""
        letters = re.sub(r"[\d.,]+", " ", word)
        return max(1, sum(_count_word(w) for w in (spoken + " " + letters).split() if w.isalpha()))
    parts = [p for p in re.split(r"[-‐–]", word) if p]
    return max(1, sum(_count_word(p) for p in parts))


def _count_word(word: str) -> int:
    w = re.sub(r"[^a-z]", "", word.lower())
    if not w:
        return 0
    if len(w) <= 2:
        return 1
    w = _strip_silent_ending(w)
    w = w.removeprefix("y")
    n = len(re.findall(r"[aeiouy]+", w))
    n += sum(1 for pattern in _SPLIT_PAIRS if pattern.search(w))
    n -= len(re.findall(r"[^aeiouyl]e(?:ly$|ment|ful|ty$)", w))
    return max(1, n)


def _has_vowel(w: str) -> bool:
    return any(ch in _VOWELS for ch in w)


def _strip_silent_ending(w: str) -> str:
    consonant_l = len(w) >= 4 and w[-3] == "l" and w[-4] not in _VOWELS and w[-4] != "l"
    if w.endswith("es") and len(w) > 3:
        keeps = w[-3] in "sxzgc" or w.endswith(("ches", "shes")) or consonant_l
        return w if keeps or not _has_vowel(w[:-2]) else w[:-2]
    if w.endswith("ed") and len(w) > 3:
        keeps = w[-3] in "td" or w.endswith(("dred", "tred")) or consonant_l
        return w if keeps or not _has_vowel(w[:-2]) else w[:-2]
    if w.endswith("e"):
        consonant_le = w.endswith("le") and w[-3] not in _VOWELS
        return w if consonant_le or not _has_vowel(w[:-1]) else w[:-1]
    return w


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text`` (rules in the module docstring), stripped, empty ones left out.

    Examples
    --------
    >>> split_sentences("About 62 in 100 feel better. It could be 0.55 to 0.69!\\nA heading")
    ['About 62 in 100 feel better.', 'It could be 0.55 to 0.69!', 'A heading']
    """
    out, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        piece = text[start:m.end()].strip()
        if _WORD.search(piece):
            out.append(piece)
        start = m.end()
    tail = text[start:].strip()
    if _WORD.search(tail):
        out.append(tail)
    return out


def split_words(text: str) -> list[str]:
    """The words of ``text``: letters or digits, joined by an apostrophe or hyphen.

    Examples
    --------
    >>> split_words("Don't worry: follow-up is in 6 weeks.")
    ["Don't", 'worry', 'follow-up', 'is', 'in', '6', 'weeks']
    """
    return _WORD.findall(text)


def measure_readability(text: str) -> ReadabilityResult:
    """Count sentences, words and syllables of ``text`` and score it.

    Parameters
    ----------
    text : str
        Running text; headings or list items on their own line count as sentences.

    Returns
    -------
    ReadabilityResult

    Raises
    ------
    spinetrack.errors.InputError
        The text has no words.
    """
    sentences = split_sentences(text)
    words = split_words(text)
    if not words:
        raise InputError("readability needs text with at least one word")
    syllables = sum(count_syllables(w) for w in words)
    s, w = len(sentences), len(words)
    return ReadabilityResult(sentences=s, words=w, syllables=syllables,
                             flesch_kincaid_grade=flesch_kincaid_grade(w, s, syllables),
                             flesch_reading_ease=flesch_reading_ease(w, s, syllables))
