"""The rules a chat message must pass, as pure functions and objects (no I/O, no `await`).

- `check_text`: cleaned (`live.text`), not blank, at most `MAX_CHARS` characters (code points, as
  users count them).
- `KeywordFilter`: a community's published blocked words and phrases, matched case-insensitively
  as whole words in any script (so "ass" does not catch "class", and "ÉCOLE" matches "école").
- `slow_mode_wait`: seconds a user must still wait in a room in slow mode.
- `RateLimiter`: a token bucket per key with an injected clock, so tests drive time by hand.

The chat service decides the order (cheapest and most telling first) and does the I/O.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Iterable

from live.errors import ApiError, ErrorCode
from live.text import clean, is_blank

MAX_CHARS = 500


def normalize(text: str) -> str:
    """NFC, so a composed and a decomposed "é" count and match alike."""
    return unicodedata.normalize("NFC", text)


def check_text(text: str, max_chars: int = MAX_CHARS) -> str:
    """The text to store (cleaned: control characters and bidi overrides removed, otherwise as
    sent), or `invalid_request` (blank or invisible-only, NUL, lone surrogate) /
    `message_too_long` (characters counted after NFC, so "é" is one however it was typed)."""
    if "\x00" in text:
        raise ApiError(ErrorCode.INVALID_REQUEST, "the message has a NUL character", fields={"text": "NUL"})
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(
            ErrorCode.INVALID_REQUEST, "the message is not valid Unicode", fields={"text": "lone surrogate"}
        ) from None
    text = clean(text, multiline=True)
    composed = normalize(text)
    if is_blank(composed):
        raise ApiError(ErrorCode.INVALID_REQUEST, "the message is empty", fields={"text": "empty"})
    if len(composed) > max_chars:
        raise ApiError(
            ErrorCode.MESSAGE_TOO_LONG,
            f"a message has at most {max_chars} characters ({len(composed)} given)",
        )
    return text


class KeywordFilter:
    """Whole-word, case-insensitive matching of words and phrases, in any script.

    A phrase matches with any run of whitespace between its words. "Whole word" means the
    character before and after the match is not a word character (`\\w` is Unicode-aware), so
    filters work for Cyrillic, Greek or accented Latin alike. Text is case-folded (ß ~ ss).
    """

    def __init__(self, words: Iterable[str]) -> None:
        parts: list[str] = []
        self.words: list[str] = []
        for word in words:
            tokens = normalize(word).casefold().split()
            if not tokens:
                continue
            self.words.append(word)
            parts.append(r"\s+".join(re.escape(t) for t in tokens))
        # Longest first so a phrase wins over one of its words when reporting what matched.
        parts.sort(key=len, reverse=True)
        self._pattern = (
            re.compile(r"(?<!\w)(?:" + "|".join(parts) + r")(?!\w)", re.UNICODE) if parts else None
        )

    def __bool__(self) -> bool:
        return self._pattern is not None

    def find(self, text: str) -> str | None:
        """The blocked word or phrase `text` contains (as found in the text), or None."""
        if self._pattern is None:
            return None
        match = self._pattern.search(normalize(text).casefold())
        return match.group(0) if match else None

    def check(self, text: str) -> None:
        if self.find(text) is not None:
            raise ApiError(
                ErrorCode.BLOCKED_WORD, "the message contains a word this community does not allow"
            )


def slow_mode_wait(last_sent_at: float | None, now: float, seconds: int) -> float:
    """How long until the user may send again in a room in slow mode (0: now)."""
    if seconds <= 0 or last_sent_at is None:
        return 0.0
    return max(0.0, last_sent_at + seconds - now)


def slow_mode_error(wait: float) -> ApiError:
    retry = _round_up(wait)
    return ApiError(
        ErrorCode.SLOW_MODE, f"slow mode: wait {retry:g} s before your next message", retry_after=retry
    )


def _round_up(seconds: float) -> float:
    """Whole seconds are friendlier and never too early; below 1 s, tenths."""
    if seconds >= 1:
        return float(math.ceil(seconds))
    return max(0.1, math.ceil(seconds * 10) / 10)


class RateLimiter:
    """A token bucket per key: `burst` tokens, refilled at `rate` per second.

    `clock` returns seconds (monotonic in production, a hand-moved number in tests). Buckets
    that have refilled completely are forgotten (`prune`), so memory follows active senders.
    """

    def __init__(self, rate: float, burst: int, clock: Callable[[], float]) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._last_prune = clock()

    def _tokens(self, key: str, now: float) -> float:
        tokens, at = self._buckets.get(key, (float(self.burst), now))
        return min(float(self.burst), tokens + (now - at) * self.rate)

    def take(self, key: str, cost: float = 1.0) -> float:
        """Spend `cost` tokens: 0.0 when allowed, else the seconds until it would be."""
        now = self._clock()
        self.prune(now)
        tokens = self._tokens(key, now)
        if tokens >= cost:
            self._buckets[key] = (tokens - cost, now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (cost - tokens) / self.rate

    def check(self, key: str) -> None:
        """`take` one token or raise `rate_limited` with `retry_after`."""
        wait = self.take(key)
        if wait > 0:
            retry = _round_up(wait)
            raise ApiError(
                ErrorCode.RATE_LIMITED, f"too many messages; retry in {retry:g} s", retry_after=retry
            )

    def prune(self, now: float | None = None) -> None:
        """Forget full buckets (at most once per refill period, so `take` stays O(1) amortized)."""
        now = self._clock() if now is None else now
        full_after = self.burst / self.rate
        if now - self._last_prune < full_after:
            return
        self._last_prune = now
        for key in [k for k, (tokens, at) in self._buckets.items() if tokens + (now - at) * self.rate >= self.burst]:
            del self._buckets[key]

    def __len__(self) -> int:
        return len(self._buckets)
