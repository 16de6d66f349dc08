"""How a periodic job says that a dependency is down: one warning when it starts failing, one line
when it works again, and nothing in between; a traceback only for a failure that is not an outage.

A job that ticks every second while PostgreSQL is down for a minute would otherwise write sixty
tracebacks that all say "the database is unavailable".
"""

from __future__ import annotations

import logging

from live.errors import ApiError, ErrorCode


def is_outage(exc: BaseException) -> bool:
    """A dependency (database, Redis, a media process) that cannot be reached now: retry later."""
    return isinstance(exc, ApiError) and exc.code is ErrorCode.UNAVAILABLE


class OutageLog:
    """The log of one periodic job: `failed(exc)` in its `except`, `worked()` after a good run."""

    def __init__(self, log: logging.Logger, what: str) -> None:
        self.log = log
        self.what = what
        self.down = False

    def failed(self, exc: BaseException) -> None:
        if not is_outage(exc):
            self.log.error("%s failed", self.what, exc_info=exc)
            return
        if not self.down:
            self.down = True
            self.log.warning("%s: %s (said once; retrying until it works again)", self.what, exc)

    def worked(self) -> None:
        if self.down:
            self.down = False
            self.log.warning("%s works again", self.what)
