"""The pure chat rules: text limits, the keyword filter, slow mode, the token bucket (injected clock)."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings, strategies as st

from live.chat import rules
from live.errors import ApiError, ErrorCode


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("hello", None),
        ("x" * 500, None),
        ("😀" * 500, None),  # characters, not bytes or UTF-16 units
        ("e\u0301" * 500, None),  # NFC composes: 500 "é", not 1000 code points
        ("x" * 501, ErrorCode.MESSAGE_TOO_LONG),
        ("😀" * 501, ErrorCode.MESSAGE_TOO_LONG),
        ("", ErrorCode.INVALID_REQUEST),
        ("  \n\t ", ErrorCode.INVALID_REQUEST),
        ("a\x00b", ErrorCode.INVALID_REQUEST),
        ("lone \ud800 surrogate", ErrorCode.INVALID_REQUEST),
    ],
)
def test_check_text(text: str, code: ErrorCode | None) -> None:
    if code is None:
        assert rules.check_text(text) == text  # stored exactly as sent
    else:
        with pytest.raises(ApiError) as err:
            rules.check_text(text)
        assert err.value.code is code


FILTER = ["spam", "buy now", "ÉCOLE", "мат", "straße", "c++"]


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("this is SPAM", "spam"),
        ("Spam!", "spam"),
        ("(spam)", "spam"),
        ("spammer here", None),  # whole words only
        ("antispam", None),
        ("please BUY   NOW", "buy   now"),  # phrases match across any whitespace
        ("buy\nnow", "buy\nnow"),
        ("buy nowhere", None),
        ("buying now", None),
        ("à l'école", "école"),  # case-insensitive beyond ASCII
        ("e\u0301cole", "école"),  # decomposed input is composed first
        ("это МАТ", "мат"),
        ("математика", None),  # a Cyrillic word containing it is not it
        ("die STRASSE", "strasse"),  # case folding: ß ~ ss
        ("I like c++ a lot", "c++"),  # regex characters are literal
        ("I like c+ a lot", None),
        ("nothing to see", None),
        ("", None),
    ],
)
def test_keyword_filter(text: str, found: str | None) -> None:
    assert rules.KeywordFilter(FILTER).find(text) == found


def test_keyword_filter_edges() -> None:
    empty = rules.KeywordFilter([])
    assert not empty and empty.find("anything") is None
    assert not rules.KeywordFilter(["", "   "])
    f = rules.KeywordFilter(["bad"])
    f.check("fine")
    with pytest.raises(ApiError) as err:
        f.check("so BAD.")
    assert err.value.code is ErrorCode.BLOCKED_WORD and err.value.status == 422


@pytest.mark.parametrize(
    ("last", "now", "seconds", "wait"),
    [
        (None, 100.0, 10, 0.0),  # first message
        (95.0, 100.0, 0, 0.0),  # slow mode off
        (95.0, 100.0, 10, 5.0),
        (90.0, 100.0, 10, 0.0),  # exactly when allowed
        (99.5, 100.0, 1, 0.5),
        (100.0, 100.0, 30, 30.0),
    ],
)
def test_slow_mode_wait(last: float | None, now: float, seconds: int, wait: float) -> None:
    assert rules.slow_mode_wait(last, now, seconds) == pytest.approx(wait)


@pytest.mark.parametrize(("wait", "retry"), [(5.0, 5.0), (4.2, 5.0), (0.5, 0.5), (0.01, 0.1), (0.33, 0.4)])
def test_slow_mode_error_rounds_up(wait: float, retry: float) -> None:
    err = rules.slow_mode_error(wait)
    assert err.code is ErrorCode.SLOW_MODE and err.retry_after == retry and err.status == 429


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# Each step: (advance seconds, key, expected wait after take()).
BUCKET_CASES = [
    # rate 1/s, burst 3: three at once, the fourth waits 1 s.
    ("burst then wait", 1.0, 3, [(0, "a", 0), (0, "a", 0), (0, "a", 0), (0, "a", 1.0), (0.5, "a", 0.5),
                                  (0.5, "a", 0), (0, "a", 1.0)]),
    # keys are independent
    ("per key", 1.0, 1, [(0, "a", 0), (0, "b", 0), (0, "a", 1.0), (0, "b", 1.0), (1.0, "a", 0)]),
    # refill caps at burst: a long pause gives back burst tokens, not more
    ("cap", 2.0, 2, [(0, "a", 0), (0, "a", 0), (100, "a", 0), (0, "a", 0), (0, "a", 0.5)]),
    # a denied take does not spend a token
    ("denied is free", 1.0, 1, [(0, "a", 0), (0, "a", 1.0), (0, "a", 1.0), (1.0, "a", 0)]),
]


@pytest.mark.parametrize(("name", "rate", "burst", "steps"), BUCKET_CASES, ids=[c[0] for c in BUCKET_CASES])
def test_rate_limiter(name: str, rate: float, burst: int, steps: list[tuple[float, str, float]]) -> None:
    clock = Clock()
    limiter = rules.RateLimiter(rate, burst, clock)
    for advance, key, wait in steps:
        clock.now += advance
        assert limiter.take(key) == pytest.approx(wait), (name, clock.now, key)


def test_rate_limiter_check_and_prune() -> None:
    clock = Clock()
    limiter = rules.RateLimiter(2.0, 2, clock)
    limiter.check("u")
    limiter.check("u")
    with pytest.raises(ApiError) as err:
        limiter.check("u")
    assert err.value.code is ErrorCode.RATE_LIMITED and err.value.retry_after == 0.5
    for i in range(100):
        limiter.check(f"k{i}")
    assert len(limiter) == 101
    clock.now += 10  # everyone refilled: idle buckets are forgotten
    limiter.check("fresh")
    assert len(limiter) == 1
    with pytest.raises(ValueError):
        rules.RateLimiter(0, 1, clock)
    with pytest.raises(ValueError):
        rules.RateLimiter(1, 0, clock)


# -- properties ----------------------------------------------------------------------------------

WORD = st.text(st.characters(categories=("Ll", "Lu", "Lo", "Nd")), min_size=1, max_size=8)


def _folds_to_word_chars(text: str) -> bool:
    return all(ch.isalnum() for ch in rules.normalize(text).casefold())


@settings(max_examples=200, deadline=None)
@given(words=st.lists(WORD, min_size=1, max_size=3), gaps=st.lists(st.sampled_from([" ", "  ", "\n", "\t"]),
       min_size=3, max_size=3), before=st.sampled_from([" ", " ¡", " (", "\n"]),
       after=st.sampled_from([" ", "! ", ".", ")"]), shout=st.booleans())
def test_a_blocked_phrase_is_always_found(words: list[str], gaps: list[str], before: str, after: str,
                                          shout: bool) -> None:
    assume(all(_folds_to_word_chars(w) for w in words))
    spoken = "".join(w + g for w, g in zip(words, gaps, strict=False))[: -len(gaps[len(words) - 1])]
    if shout and spoken.upper().casefold() == spoken.casefold():
        spoken = spoken.upper()
    assert rules.KeywordFilter([" ".join(words)]).find(f"say{before}{spoken}{after}now") is not None


@settings(max_examples=200, deadline=None)
@given(word=WORD, left=st.sampled_from(["a", "Z", "9", "é", "ж"]), right=st.sampled_from(["b", "0", "ü", "я"]))
def test_a_blocked_word_inside_another_word_is_not_found(word: str, left: str, right: str) -> None:
    assume(_folds_to_word_chars(word))
    assert rules.KeywordFilter([word]).find(f"{left}{word}{right}") is None


@settings(max_examples=200, deadline=None)
@given(rate=st.floats(0.1, 50), burst=st.integers(1, 20),
       steps=st.lists(st.floats(0, 2), min_size=1, max_size=200))
def test_the_bucket_never_allows_more_than_burst_plus_refill(rate: float, burst: int, steps: list[float]) -> None:
    clock = Clock()
    start = clock.now
    limiter = rules.RateLimiter(rate, burst, clock)
    allowed = 0
    for advance in steps:
        clock.now += advance
        if limiter.take("k") == 0:
            allowed += 1
        assert allowed <= burst + (clock.now - start) * rate + 1e-6
