"""Rules for user-written text in names, titles, posts, comments, announcements and reasons.

Every text is cleaned where it enters (`live.text.clean`: control characters and bidi overrides
removed, line breaks unified) and then judged: text that shows nothing (whitespace, zero-width
characters, direction marks) is blank. Apart from that, text is stored as sent (no normalization:
right-to-left scripts, joiners, emoji and combining marks come back as written). Length is
counted in Unicode code points, after cleaning.

Request fields use `line(...)` (single-line: names, titles, topics, words) and `lines(...)`
(multi-line: descriptions, rules, messages, reasons); the services use `check_text` for the texts
whose length has its own error code (`message_too_long`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BeforeValidator, Field

from live.errors import ApiError, ErrorCode, invalid
from live.http.schemas import storable
from live.text import clean, is_blank

POST_MAX = 5000
COMMENT_MAX = 2000
ANNOUNCEMENT_MAX = 5000


def cleaner(*, multiline: bool, required: bool, trim: bool = True) -> Callable[[object], object]:
    """A pydantic before-validator: NUL and lone surrogates refused, the rest cleaned; blank text
    refused when `required`, else stored as ""."""

    def run(value: object) -> object:
        if not isinstance(value, str):
            return value  # the field's type check says what is wrong
        storable(value)
        text = clean(value, multiline=multiline)
        if trim:
            text = text.strip()
        if is_blank(text):
            if required:
                raise ValueError("must not be blank")
            return ""
        return text

    return run


def line(max_length: int) -> tuple[Any, ...]:
    """A required single-line text field (a name, a title): cleaned, trimmed, 1-`max_length`.

    The field's metadata, for `Annotated[str, *line(n)]` (a type checker sees a `str`)."""
    return Field(min_length=1, max_length=max_length), BeforeValidator(cleaner(multiline=False, required=True))


def lines(max_length: int, *, required: bool = True) -> tuple[Any, ...]:
    """A multi-line text field (a reason, a description): cleaned and trimmed; optional ones
    may be blank (stored as "").

    The field's metadata, for `Annotated[str, *lines(n)]` (a type checker sees a `str`)."""
    return (
        Field(min_length=1 if required else 0, max_length=max_length),
        BeforeValidator(cleaner(multiline=True, required=required)),
    )


def check_text(text: str, limit: int, *, field: str = "text") -> str:
    """The text to store, cleaned; blank text is 422 `invalid_request`, text over `limit` (after
    cleaning) is 422 `message_too_long`."""
    cleaned = clean(text, multiline=True)
    if is_blank(cleaned):
        raise invalid({field: "must not be blank"})
    if len(cleaned) > limit:
        raise ApiError(
            ErrorCode.MESSAGE_TOO_LONG,
            f"the text has {len(cleaned)} characters; the limit is {limit}",
            fields={field: f"at most {limit} characters"},
        )
    return cleaned


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
