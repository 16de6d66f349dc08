"""JSON nesting depth, judged on the raw text before parsing.

Python's JSON decoder recurses once per level: about 1,000 levels of `[` raise RecursionError
(a 500 if nobody catches it), and fewer still make every later walk of the value (validation,
logging, re-encoding) recurse as deep. No request of `live` needs more than a few levels, so a
body is measured first and refused past `LIVE_MAX_JSON_DEPTH` with 422 `invalid_request`.

The measure runs in C for the most part: strings are cut out with one regular expression,
everything but brackets is deleted with `bytes.translate`, and only when there are more opening
brackets than the limit does a Python loop walk the brackets (stopping at the first too deep).
"""

from __future__ import annotations

import json
import re
from typing import Any

# A JSON string, escapes included, written so that the regex engine does not backtrack.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_OPEN = frozenset(b"[{")


def too_deep(raw: bytes | str, max_depth: int) -> bool:
    """Whether arrays and objects in `raw` nest deeper than `max_depth` (brackets in strings
    do not count)."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    brackets = _STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    if brackets.count(b"[") + brackets.count(b"{") <= max_depth:
        return False
    depth = 0
    for byte in brackets:
        if byte in _OPEN:
            depth += 1
            if depth > max_depth:
                return True
        else:
            depth -= 1
    return False


def loads(raw: bytes | str, max_depth: int) -> Any:
    """`json.loads(raw)`, refusing nesting deeper than `max_depth`.

    Raises `TooDeep` for nesting, `ValueError` (json.JSONDecodeError, UnicodeDecodeError) for
    anything else that is not JSON.
    """
    if too_deep(raw, max_depth):
        raise TooDeep(max_depth)
    try:
        return json.loads(raw)
    except RecursionError:  # cannot happen past the check above; kept as the last guard
        raise TooDeep(max_depth) from None


class TooDeep(ValueError):
    """JSON nested deeper than allowed."""

    def __init__(self, max_depth: int) -> None:
        super().__init__(f"nested deeper than {max_depth} levels")
        self.max_depth = max_depth
