"""Cleaning user-written text: the one function every place where text enters `live` applies.

Names, titles, posts, comments, chat, announcements, reasons, appeals and the `name` claim of a
token all pass through `clean` before they are checked or stored:

- Control characters (C0, DEL, C1) go: they ring terminals (BEL), recolour them (ESC sequences)
  and hide in logs. Multi-line text keeps newline and tab (CR LF and lone CR become newline);
  single-line text turns every line break and tab into a space.
- Bidirectional overrides, embeddings and isolates (U+202A-U+202E, U+2066-U+2069, and the
  deprecated U+206A-U+206F) go: they reorder what a reader sees ("Trojan Source" names and
  titles) and nobody types them.
- Lone surrogates go (no database can store them).
- Everything else stays byte for byte, in particular the joiners and marks that real writing
  needs inside words: ZWNJ and ZWJ (Persian, Arabic, Indic scripts, emoji sequences), LRM, RLM
  and ALM (mixed-direction text), variation selectors (emoji presentation).

`is_blank` then says whether what is left shows anything: text made only of whitespace and
invisible characters (zero-width spaces and joiners, direction marks, the BOM, variation
selectors, fillers) is blank, so "\u200b" is no more a name than "   " is.

Pure functions; no I/O. The table-driven tests are in tests/test_text.py.
"""

from __future__ import annotations

import re

# Removed everywhere: reorder what the reader sees.
BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_DEPRECATED_FORMAT = "\u206a\u206b\u206c\u206d\u206e\u206f"

# Line breaks other than LF that single-line text turns into a space and multi-line text into LF.
_BREAKS = "\r\x0b\x0c\x85\u2028\u2029"

# Characters that show nothing by themselves (kept inside text, but never enough to make it
# not blank). Ranges as (first, last), inclusive.
INVISIBLE_RANGES: tuple[tuple[int, int], ...] = (
    (0x00AD, 0x00AD),  # soft hyphen
    (0x034F, 0x034F),  # combining grapheme joiner
    (0x061C, 0x061C),  # Arabic letter mark (ALM)
    (0x115F, 0x1160),  # Hangul choseong/jungseong fillers
    (0x17B4, 0x17B5),  # Khmer inherent vowels
    (0x180B, 0x180F),  # Mongolian variation selectors and vowel separator
    (0x200B, 0x200F),  # ZWSP, ZWNJ, ZWJ, LRM, RLM
    (0x202A, 0x202E),  # bidi embeddings and overrides (removed anyway)
    (0x2060, 0x206F),  # word joiner, invisible operators, isolates, deprecated format controls
    (0x2800, 0x2800),  # Braille pattern blank
    (0x3164, 0x3164),  # Hangul filler
    (0xFE00, 0xFE0F),  # variation selectors
    (0xFEFF, 0xFEFF),  # BOM / zero-width no-break space
    (0xFFA0, 0xFFA0),  # halfwidth Hangul filler
    (0x1BCA0, 0x1BCA3),  # shorthand format controls
    (0x1D173, 0x1D17A),  # musical symbol format controls
    (0xE0000, 0xE007F),  # tags
    (0xE0100, 0xE01EF),  # variation selectors supplement
)


def _removals(*, multiline: bool) -> dict[int, str | None]:
    table: dict[int, str | None] = {}
    for code in (*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)):
        table[code] = None
    for ch in BIDI_CONTROLS + _DEPRECATED_FORMAT:
        table[ord(ch)] = None
    for ch in _BREAKS:
        table[ord(ch)] = "\n" if multiline else " "
    table[ord("\n")] = "\n" if multiline else " "
    table[ord("\t")] = "\t" if multiline else " "
    return table


_SINGLE_LINE = _removals(multiline=False)
_MULTI_LINE = _removals(multiline=True)
_SURROGATES = re.compile("[\ud800-\udfff]")
_INVISIBLE_CLASS = "".join(
    re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in INVISIBLE_RANGES
)
_BLANK = re.compile(rf"[\s{_INVISIBLE_CLASS}]*")


def clean(text: str, *, multiline: bool = False) -> str:
    """`text` without control characters, bidi overrides and lone surrogates.

    Single-line text (names, titles, topics) also has its line breaks and tabs turned into
    spaces and is trimmed; multi-line text (posts, chat, reasons) keeps newline and tab, turns
    CR LF and other line breaks into newline, and is otherwise left as written (not trimmed).
    """
    cleaned = text.replace("\r\n", "\n").translate(_MULTI_LINE if multiline else _SINGLE_LINE)
    if not cleaned.isascii():
        cleaned = _SURROGATES.sub("", cleaned)
    return cleaned if multiline else cleaned.strip()


def is_blank(text: str) -> bool:
    """Whether `text` shows nothing: only whitespace and invisible characters (or nothing)."""
    return _BLANK.fullmatch(text) is not None
