"""Rules for user-written text in posts, comments and announcements.

Text is stored exactly as sent (no trimming, no normalization: right-to-left scripts, emoji and
combining marks come back byte for byte). Length is counted in Unicode code points.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from live.errors import ApiError, ErrorCode, invalid

POST_MAX = 5000
COMMENT_MAX = 2000
ANNOUNCEMENT_MAX = 5000


def check_text(text: str, limit: int, *, field: str = "text") -> None:
    """Blank text is 422 `invalid_request`; text over `limit` is 422 `message_too_long`."""
    if not text.strip():
        raise invalid({field: "must not be blank"})
    if len(text) > limit:
        raise ApiError(
            ErrorCode.MESSAGE_TOO_LONG,
            f"the text has {len(text)} characters; the limit is {limit}",
            fields={field: f"at most {limit} characters"},
        )


def blocked_word(text: str, words: Sequence[str]) -> str | None:
    """The first of the community's blocked words that `text` contains as a whole word, if any.

    Case-insensitive (casefold), and a word only matches between non-word characters so that
    blocking "ass" does not block "class".
    """
    folded = text.casefold()
    for word in words:
        w = word.casefold().strip()
        if w and re.search(rf"(?<!\w){re.escape(w)}(?!\w)", folded):
            return word
    return None


def check_blocked(text: str, words: Sequence[str], *, field: str = "text") -> None:
    word = blocked_word(text, words)
    if word is not None:
        raise ApiError(
            ErrorCode.BLOCKED_WORD,
            "the text contains a word this community's filter blocks",
            fields={field: f"contains the blocked word {word!r}"},
        )
