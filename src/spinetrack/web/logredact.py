"""Keep secrets out of log lines: invitation tokens, set-password tokens, any ``token=`` value.

An invitation link ``/p/<token>`` is a bearer credential (only its hash is stored); uvicorn's
access log would otherwise write it in clear (``"GET /p/3q2-... HTTP/1.1" 303``), and anyone who
can read the log could open the patient's visit. :class:`RedactTokensFilter` rewrites every log
record before any handler formats it:

* ``/p/<token>`` → ``/p/[redacted]`` (the patient pages ``/p/visit``, ``/p/q/…``, ``/p/done``,
  ``/p/results`` and ``/p/leave`` are left alone);
* the value of any query or form parameter whose name contains ``token``, ``secret``,
  ``password`` or ``key`` (``?token=…`` → ``?token=[redacted]``);
* any path segment of 32 or more URL-safe base64 characters (a 256-bit token is 43): tokens of
  routes added later are covered without naming them here.

:func:`install_log_redaction` attaches the filter to the loggers uvicorn writes to
(``uvicorn``, ``uvicorn.error``, ``uvicorn.access``), to ``spinetrack``, and to every handler
of the root logger; :func:`uvicorn_log_config` gives uvicorn a logging configuration whose
handlers carry it, so the access log is redacted however uvicorn sets logging up.
"""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

__all__ = ["REDACTED", "RedactTokensFilter", "install_log_redaction", "redact", "uvicorn_log_config"]

REDACTED = "[redacted]"
_PATIENT_PAGES = ("visit", "q", "done", "results", "leave", "home", "h")
_INVITATION = re.compile(r"(/p/)(?!(?:" + "|".join(_PATIENT_PAGES) + r")(?:[/?#\s\"']|$))([^/?#\s\"']+)")
_HOME_LINK = re.compile(r"(/p/h/)([^/?#\s\"']+)")  # a home link's token, or a letter's 12-character code
_SECRET_PARAM = re.compile(r"([?&;\s](?:[\w.-]*(?:token|secret|password|key)[\w.-]*)=)([^&#\s\"']+)", re.IGNORECASE)
_LONG_SEGMENT = re.compile(r"(/)([A-Za-z0-9_-]{32,})(?=[/?#\s\"']|$)")
LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "spinetrack")


def redact(text: str) -> str:
    """``text`` with invitation tokens, secret parameters and token-like path segments replaced.

    Examples
    --------
    >>> redact('GET /p/Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eHF1dXg HTTP/1.1')
    'GET /p/[redacted] HTTP/1.1'
    >>> redact("/p/visit?saved=odi"), redact("/set-password?token=abc&x=1")
    ('/p/visit?saved=odi', '/set-password?token=[redacted]&x=1')
    >>> redact("POST /p/h/ABCD-EFGH-JKMN/new-link"), redact("GET /p/home/results")
    ('POST /p/h/[redacted]/new-link', 'GET /p/home/results')
    """
    if "/" not in text and "=" not in text:
        return text
    text = _INVITATION.sub(r"\1" + REDACTED, text)
    text = _HOME_LINK.sub(r"\1" + REDACTED, text)
    text = _SECRET_PARAM.sub(r"\1" + REDACTED, text)
    return _LONG_SEGMENT.sub(r"\1" + REDACTED, text)


def _redact_arg(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else value


class RedactTokensFilter(logging.Filter):
    """A logging filter that redacts the message and its string arguments (never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redact_arg(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: _redact_arg(v) for k, v in record.args.items()}
        return True


_FILTER = RedactTokensFilter()


def _attach(target: logging.Logger | logging.Handler) -> None:
    if not any(isinstance(f, RedactTokensFilter) for f in target.filters):
        target.addFilter(_FILTER)


def install_log_redaction() -> None:
    """Attach the filter to uvicorn's and spinetrack's loggers and to the root handlers (idempotent)."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        _attach(logger)
        for handler in logger.handlers:
            _attach(handler)
    for handler in logging.getLogger().handlers:
        _attach(handler)


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's default logging configuration with the redacting filter on its handlers."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_tokens"] = {"()": RedactTokensFilter}
    for handler in config.get("handlers", {}).values():
        handler.setdefault("filters", []).append("redact_tokens")
    return config
