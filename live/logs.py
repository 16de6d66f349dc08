"""Logging of every `live` process: one configuration, and no token in any line.

Tokens travel in places that get logged: the WebSocket URL (`/v1/ws?token=...`, in uvicorn's
access line and its "WebSocket accepted" line), `Authorization: Bearer ...` headers, and error
messages that quote what a client sent. `RedactTokens` is a filter on every handler (so it sees
records from any logger, ours, uvicorn's or a library's), and rewrites the record's message, its
arguments and its traceback text before any formatter runs:

- `token=...` (any query or form parameter whose name ends in `token`) becomes `token=[redacted]`;
- `Bearer ...` becomes `Bearer [redacted]`;
- anything shaped like a JWT (`eyJ...` `.` `...` `.` `...`) becomes `[jwt]`.
"""

from __future__ import annotations

import logging
import logging.config
import re
import traceback
from typing import Any

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(token=)[^&\s\"'<>]+", re.I), r"\1[redacted]"),
    (re.compile(r"(bearer\s+)[^\s\"',;]+", re.I), r"\1[redacted]"),
    (re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), "[jwt]"),
)


def redact(text: str) -> str:
    """`text` with every token-shaped part replaced."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _redact_arg(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else value


class RedactTokens(logging.Filter):
    """Rewrites a record so that no token reaches a log line (never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            # Keep the tuple's shape: formatters such as uvicorn's access formatter read the
            # arguments one by one.
            record.args = tuple(_redact_arg(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: _redact_arg(v) for k, v in record.args.items()}
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


LIVE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_config(level: str = "INFO", *, root: bool = True) -> dict[str, Any]:
    """A `logging.config.dictConfig` document: ours on the root, uvicorn's own lines as uvicorn
    prints them, every handler filtered.

    `root` False leaves the root logger alone (a host process, such as a test runner, owns it).
    """
    filters = ["redact_tokens"]
    config: dict[str, Any] = {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact_tokens": {"()": "live.logs.RedactTokens"}},
        "formatters": {
            "live": {"format": LIVE_FORMAT},
            "default": {"()": "uvicorn.logging.DefaultFormatter", "fmt": "%(levelprefix)s %(message)s",
                        "use_colors": None},
            "access": {"()": "uvicorn.logging.AccessFormatter",
                       "fmt": '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s'},
        },
        "handlers": {
            "live": {"formatter": "live", "class": "logging.StreamHandler", "stream": "ext://sys.stderr",
                     "filters": filters},
            "default": {"formatter": "default", "class": "logging.StreamHandler", "stream": "ext://sys.stderr",
                        "filters": filters},
            "access": {"formatter": "access", "class": "logging.StreamHandler", "stream": "ext://sys.stdout",
                       "filters": filters},
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": ["access"], "level": level, "propagate": False},
        },
    }
    if root:
        config["root"] = {"handlers": ["live"], "level": level}
    return config


def setup(level: str) -> None:
    """Configure this process's logging (a command's first step)."""
    logging.config.dictConfig(log_config(level))
