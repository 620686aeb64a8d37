"""Languages: gettext catalogs (Babel), the current language, and locale-aware dates and numbers.

spinetrack speaks English (the source language of every message) and Spanish. The catalogs
live in ``spinetrack/locale/<lang>/LC_MESSAGES/<domain>.po``, one per *domain* (the part of the
application whose strings it holds):

``patient``         the patient pages, the error pages
``messages``        the e-mail and SMS messages and the printed letters a patient receives
``questionnaires``  the wording of spinetrack's own questionnaires, the neutral labels of the
                    licensed ones, the names of the visits
``decision``        the decision aid (page and PDF)
``staff``           the clinic, coordinator, researcher and admin pages (translatable; Spanish
                    is not complete)

Each domain's extraction map is ``spinetrack/locale/<domain>.cfg``.

At run time the domains of a language are merged into one :class:`babel.support.Translations`
(from a compiled ``.mo`` when it is at least as new as its ``.po``, else from the ``.po``
itself, compiled in memory), so nothing needs compiling for the app to speak Spanish; ``make
i18n-compile`` only saves that work. ``make i18n-extract`` / ``i18n-update`` keep the catalogs in
step with the code (CONTRIBUTING.md). The test ``tests/test_i18n_catalog.py`` fails when a
patient-facing string (domains ``patient`` and ``decision``) has no Spanish translation.

The current language is a context variable: the web app sets it per request
(:mod:`spinetrack.web.locale`), a message is rendered inside :func:`use_locale`. Strings
declared at import time are marked with :func:`N_` (extracted, not translated) and translated
where they are shown, or wrapped in :func:`lazy_gettext`.

Pure rooms (``domain``, ``instruments``) may import :func:`N_` only: it does nothing but mark.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import functools
import io
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_LANGUAGE",
    "DOMAINS",
    "LANGUAGES",
    "LANGUAGE_NAMES",
    "N_",
    "PATIENT_DOMAINS",
    "format_date",
    "format_datetime",
    "format_decimal",
    "format_percent",
    "get_locale",
    "gettext",
    "install_jinja",
    "lazy_gettext",
    "locale_dir",
    "negotiate",
    "ngettext",
    "normalise",
    "set_locale",
    "translations",
    "use_locale",
]

LANGUAGES: tuple[str, ...] = ("en", "es")
"""The languages spinetrack speaks (the ``patient_identities.language`` CHECK lists the same)."""
DEFAULT_LANGUAGE = "en"
LANGUAGE_NAMES: dict[str, str] = {"en": "English", "es": "Español"}
"""Each language in its own words (the language switch shows these, never translated)."""
DOMAINS: tuple[str, ...] = ("patient", "messages", "questionnaires", "decision", "staff")
PATIENT_DOMAINS: tuple[str, ...] = ("patient", "messages", "questionnaires", "decision")
"""The domains whose every string must be translated (checked by the catalog test)."""

_current: contextvars.ContextVar[str] = contextvars.ContextVar("spinetrack_locale", default=DEFAULT_LANGUAGE)


def N_(message: str) -> str:
    """Mark a string for extraction without translating it (translate it where it is shown)."""
    return message


def locale_dir() -> Path:
    return Path(str(resources.files("spinetrack"))) / "locale"


def normalise(code: str | None) -> str | None:
    """A language tag (``es``, ``es-MX``, ``ES_es``) as one of :data:`LANGUAGES`, or None."""
    if not code:
        return None
    base = code.strip().replace("_", "-").split("-")[0].lower()
    return base if base in LANGUAGES else None


def negotiate(*, chosen: str | None = None, recorded: str | None = None, accept: str | None = None) -> str:
    """The language to speak: the one chosen on the page (the language switch's cookie), else
    the one recorded for the patient, else the best of the browser's ``Accept-Language`` that
    spinetrack speaks (by its q-values), else English."""
    for code in (chosen, recorded):
        lang = normalise(code)
        if lang:
            return lang
    if accept:
        ranked: list[tuple[float, int, str]] = []
        for order, part in enumerate(accept.split(",")[:20]):
            tag, _, params = part.strip().partition(";")
            q = 1.0
            for param in params.split(";"):
                key, _, value = param.strip().partition("=")
                if key == "q":
                    try:
                        q = float(value)
                    except ValueError:
                        q = 0.0
            lang = normalise(tag)
            if lang and q > 0:
                ranked.append((-q, order, lang))
        if ranked:
            return min(ranked)[2]
    return DEFAULT_LANGUAGE


def _load_domain(lang: str, domain: str) -> Any:
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po
    from babel.support import Translations

    folder = locale_dir() / lang / "LC_MESSAGES"
    po, mo = folder / f"{domain}.po", folder / f"{domain}.mo"
    if mo.exists() and (not po.exists() or mo.stat().st_mtime >= po.stat().st_mtime):
        with mo.open("rb") as fp:
            return Translations(fp, domain=domain)
    if not po.exists():
        return None
    with po.open("rb") as fp:
        catalog = read_po(fp, locale=lang, domain=domain)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(buf, domain=domain)


@functools.lru_cache(maxsize=len(LANGUAGES))
def translations(lang: str) -> Any:
    """The merged catalogs of ``lang`` (every domain), cached; English (or a language without
    catalogs) gives the identity translation."""
    from babel.support import NullTranslations, Translations

    merged: Any = None
    for domain in DOMAINS:
        t = _load_domain(lang, domain)
        if t is None:
            continue
        if merged is None:
            merged = Translations()
            merged.domain = "messages"
        merged.merge(t)
    return merged if merged is not None else NullTranslations()


def get_locale() -> str:
    return _current.get()


def set_locale(lang: str | None) -> str:
    """Speak ``lang`` (normalised; unknown → English) from here on in this context."""
    code = normalise(lang) or DEFAULT_LANGUAGE
    _current.set(code)
    return code


@contextlib.contextmanager
def use_locale(lang: str | None) -> Iterator[str]:
    """Speak ``lang`` inside the block (a message to a patient, a PDF), then as before."""
    token = _current.set(normalise(lang) or DEFAULT_LANGUAGE)
    try:
        yield _current.get()
    finally:
        _current.reset(token)


def gettext(message: str, **variables: Any) -> str:
    """``message`` in the current language; ``%(name)s`` placeholders filled from ``variables``."""
    text = str(translations(_current.get()).ugettext(message)) if message else message
    return text % variables if variables else text


def ngettext(singular: str, plural: str, n: int, **variables: Any) -> str:
    """The singular or plural form for ``n`` in the current language (``%(num)d`` is ``n``)."""
    text = str(translations(_current.get()).ungettext(singular, plural, n))
    return text % {"num": n, **variables}


def lazy_gettext(message: str, **variables: Any) -> Any:
    """A string translated when it is used (for values built at import time)."""
    from babel.support import LazyProxy

    return LazyProxy(gettext, message, enable_cache=False, **variables)


def _babel_locale() -> str:
    return _current.get()


def format_date(value: dt.date | dt.datetime | None, format: str = "medium") -> str:
    """A calendar date in the current language (``medium``: "7 Dec 2026" / "7 dic 2026")."""
    if value is None:
        return ""
    from babel import dates

    day = value.date() if isinstance(value, dt.datetime) else value
    return str(dates.format_date(day, format=format, locale=_babel_locale()))


def format_datetime(value: dt.datetime | None, format: str = "medium") -> str:
    if value is None:
        return ""
    from babel import dates

    return str(dates.format_datetime(value, format=format, locale=_babel_locale()))


def format_decimal(value: float | int | None, decimals: int = 1) -> str:
    """A number with exactly ``decimals`` decimals in the current language ("2.5" / "2,5")."""
    if value is None:
        return ""
    from babel import numbers

    pattern = "#,##0" + ("." + "0" * decimals if decimals > 0 else "")
    return str(numbers.format_decimal(value, format=pattern, locale=_babel_locale(), decimal_quantization=True))


def format_percent(value: float | None, decimals: int = 0) -> str:
    """A proportion (0.25) as a percentage in the current language ("25%" / "25 %")."""
    if value is None:
        return ""
    from babel import numbers

    pattern = "#,##0" + ("." + "0" * decimals if decimals > 0 else "") + "%"
    return str(numbers.format_percent(value, format=pattern, locale=_babel_locale(), decimal_quantization=True))


def install_jinja(env: Any) -> None:
    """Give a Jinja2 environment ``_()``/``gettext``/``ngettext`` and ``{% trans %}`` in the current
    language (new-style: ``_("%(n)s visits", n=3)``), the ``current_locale()`` and ``languages``
    globals, and the ``format_date``/``format_datetime``/``format_decimal``/``format_percent``
    filters."""
    env.add_extension("jinja2.ext.i18n")
    # Jinja's new-style wrappers fill the placeholders themselves: give them the raw lookups
    env.install_gettext_callables(lambda m: str(translations(_current.get()).ugettext(m)),
                                  lambda s, p, n: str(translations(_current.get()).ungettext(s, p, n)),
                                  newstyle=True)
    env.globals.update(current_locale=get_locale, languages=LANGUAGES, language_names=LANGUAGE_NAMES)
    env.filters.update(format_date=format_date, format_datetime=format_datetime, format_decimal=format_decimal,
                       format_percent=format_percent)
