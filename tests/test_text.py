"""The one text-cleaning function (`live.text`), table-tested: what goes, what stays, what is blank."""

from __future__ import annotations

import pytest

from live.text import clean, is_blank

# (input, single-line result, multi-line result)
CLEANED: list[tuple[str, str, str]] = [
    ("Alice", "Alice", "Alice"),
    ("  Alice  ", "Alice", "  Alice  "),
    # control characters: ESC (terminal colours), BEL, DEL, C1
    ("\x1b[31mred\x1b[0m", "[31mred[0m", "[31mred[0m"),
    ("ring\x07", "ring", "ring"),
    ("a\x7fb\x80c\x9fd", "abcd", "abcd"),
    ("a\x00b", "ab", "ab"),
    # line breaks: spaces on one line, LF on several
    ("one\ntwo", "one two", "one\ntwo"),
    ("one\r\ntwo\rthree", "one two three", "one\ntwo\nthree"),
    ("tab\there", "tab here", "tab\there"),
    ("v\x0bf\x0cn\x85end", "v f n end", "v\nf\nn\nend"),
    ("para\u2028graph\u2029", "para graph", "para\ngraph\n"),
    # bidi overrides, embeddings and isolates
    ("admin\u202egnp.exe", "admingnp.exe", "admingnp.exe"),
    ("\u202a\u202b\u202c\u202d\u202e", "", ""),
    ("\u2066x\u2067y\u2068z\u2069", "xyz", "xyz"),
    ("old\u206aformat\u206f", "oldformat", "oldformat"),
    # lone surrogates cannot be stored
    ("a\ud800b\udfff", "ab", "ab"),
    # real writing keeps its joiners and marks
    ("مرحبا بالعالم", "مرحبا بالعالم", "مرحبا بالعالم"),
    ("می\u200cخواهم", "می\u200cخواهم", "می\u200cخواهم"),  # Persian ZWNJ
    ("ক্\u200dষ", "ক্\u200dষ", "ক্\u200dষ"),  # Bengali ZWJ
    ("\U0001F468\u200d\U0001F469\u200d\U0001F467", "\U0001F468\u200d\U0001F469\u200d\U0001F467",
     "\U0001F468\u200d\U0001F469\u200d\U0001F467"),  # emoji family (ZWJ sequence)
    ("\u2764\ufe0f", "\u2764\ufe0f", "\u2764\ufe0f"),  # emoji presentation selector
    ("abc \u200f123\u200e def", "abc \u200f123\u200e def", "abc \u200f123\u200e def"),  # RLM, LRM
    ("\u061c١٢٣", "\u061c١٢٣", "\u061c١٢٣"),  # ALM
    ("é and e\u0301", "é and e\u0301", "é and e\u0301"),  # not normalized
    ("\U0001F3F4\U000E0067\U000E0062\U000E0065\U000E006E\U000E0067\U000E007F",) * 3,  # tag flag
]


@pytest.mark.parametrize(("raw", "single", "multi"), CLEANED)
def test_clean(raw: str, single: str, multi: str) -> None:
    assert clean(raw) == single
    assert clean(raw, multiline=True) == multi


@pytest.mark.parametrize("raw", [text for text, _, _ in CLEANED])
def test_clean_is_idempotent(raw: str) -> None:
    for multiline in (False, True):
        once = clean(raw, multiline=multiline)
        assert clean(once, multiline=multiline) == once


BLANK = [
    "",
    "   ",
    "\t\n",
    "\u00a0\u3000",
    "\u200b",  # zero-width space
    "\u200c\u200d",  # ZWNJ, ZWJ alone
    "\u200e\u200f\u061c",  # LRM, RLM, ALM alone
    "\u2060",  # word joiner
    "\ufeff",  # BOM
    "\ufe0f\ufe0e",  # variation selectors alone
    "\U000E0101",  # variation selector supplement
    "\u00ad",  # soft hyphen
    "\u034f",  # combining grapheme joiner
    "\u3164\u115f\uffa0",  # Hangul fillers
    "\u2800",  # Braille blank
    "\u180e",  # Mongolian vowel separator
    " \u200b \u200d\ufeff ",
]
NOT_BLANK = ["a", ".", "\u200bx", "x\u200c", "٠", "\u2764\ufe0f", "\u0301", "ـ"]


@pytest.mark.parametrize("text", BLANK)
def test_blank(text: str) -> None:
    assert is_blank(text)
    assert is_blank(clean(text)) and is_blank(clean(text, multiline=True))


@pytest.mark.parametrize("text", NOT_BLANK)
def test_not_blank(text: str) -> None:
    assert not is_blank(text)
