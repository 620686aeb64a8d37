"""Every string a patient reads has its Spanish translation, with the same placeholders.

The strings are extracted from the code now (Babel's extractors, with each domain's map in
``spinetrack/locale/<domain>.cfg``), not read from a ``.pot`` that could be stale, so a new
patient-facing string without a translation fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from spinetrack import i18n

SRC = Path(i18n.__file__).parent
_PLACEHOLDER = re.compile(r"%\((\w+)\)[sdif]|%[sdif]")


def _extracted(domain: str) -> dict[str, tuple[str, ...]]:
    with (i18n.locale_dir() / f"{domain}.cfg").open(encoding="utf-8") as fp:
        method_map, options_map = parse_mapping_cfg(fp)
    keywords = {**DEFAULT_KEYWORDS, "lazy_gettext": None}
    found: dict[str, tuple[str, ...]] = {}
    for filename, _line, message, _comments, _context in extract_from_dir(
            str(SRC), method_map, options_map, keywords=keywords):
        key = message if isinstance(message, str) else message[0]
        found.setdefault(key, (message,) if isinstance(message, str) else tuple(message))
        assert filename
    return found


def _catalog(lang: str, domain: str):  # type: ignore[no-untyped-def]
    path = i18n.locale_dir() / lang / "LC_MESSAGES" / f"{domain}.po"
    if not path.exists():
        return None
    with path.open("rb") as fp:
        return read_po(fp, locale=lang, domain=domain)


@pytest.mark.parametrize("lang", [lang for lang in i18n.LANGUAGES if lang != i18n.DEFAULT_LANGUAGE])
@pytest.mark.parametrize("domain", i18n.PATIENT_DOMAINS)
def test_every_patient_facing_string_is_translated(domain: str, lang: str) -> None:
    messages = _extracted(domain)
    catalog = _catalog(lang, domain)
    missing, wrong = [], []
    for msgid, forms in messages.items():
        entry = catalog.get(msgid) if catalog is not None else None
        strings = ([entry.string] if isinstance(entry.string, str) else list(entry.string)) if entry else []
        if entry is None or entry.fuzzy or not strings or not all(s.strip() for s in strings):
            missing.append(msgid)
            continue
        want = sorted(_PLACEHOLDER.findall(forms[-1]))
        for text in strings:
            if sorted(_PLACEHOLDER.findall(text)) != want and sorted(_PLACEHOLDER.findall(forms[0])) != sorted(
                    _PLACEHOLDER.findall(text)):
                wrong.append(msgid)
    assert not missing, (f"{len(missing)} {domain} string(s) have no {lang} translation (run `make i18n-update "
                         f"I18N_DOMAINS={domain}` and translate them in locale/{lang}/LC_MESSAGES/{domain}.po): "
                         + "; ".join(repr(m) for m in missing[:15]))
    assert not wrong, f"placeholders differ from the English in {domain}/{lang}: " + "; ".join(map(repr, wrong[:15]))


def test_the_catalogs_load_and_translate() -> None:
    """The merged catalogs of each language load (from the .po when no newer .mo exists)."""
    for lang in i18n.LANGUAGES:
        assert i18n.translations(lang) is not None
    with i18n.use_locale("es"):
        assert i18n.get_locale() == "es"
    assert i18n.get_locale() == "en"


@pytest.mark.parametrize(("kwargs", "want"), [
    ({}, "en"),
    ({"accept": "es-MX,es;q=0.9,en;q=0.8"}, "es"),
    ({"accept": "fr-FR, en;q=0.5, es;q=0.7"}, "es"),          # the best q-value spinetrack speaks
    ({"accept": "de, fr"}, "en"),                              # none spoken: English
    ({"accept": "es;q=0"}, "en"),                              # q=0 means "not this"
    ({"recorded": "es", "accept": "en"}, "es"),                # the patient's record beats the browser
    ({"chosen": "en", "recorded": "es", "accept": "es"}, "en"),  # the switch beats both
    ({"chosen": "xx", "recorded": "es_ES"}, "es"),
])
def test_language_negotiation(kwargs: dict[str, str], want: str) -> None:
    # RFC 9110 §12.5.4 (Accept-Language: q-values, q=0 not acceptable)
    assert i18n.negotiate(**kwargs) == want


def test_dates_and_numbers_follow_the_language() -> None:
    """Formats from the Unicode CLDR, as Babel ships it: Spanish uses a decimal comma and
    lower-case abbreviated months; English a decimal point and a thousands comma."""
    import datetime as dt

    day = dt.date(2026, 12, 7)
    with i18n.use_locale("es"):
        assert i18n.format_decimal(2.5, 1) == "2,5"
        assert i18n.format_date(day) == "7 dic 2026"
        assert i18n.format_decimal(0.25, 2) == "0,25"
    with i18n.use_locale("en"):
        assert i18n.format_decimal(1234.5, 2) == "1,234.50"
        assert i18n.format_date(day) == "Dec 7, 2026"
        assert i18n.format_decimal(3, 0) == "3"
