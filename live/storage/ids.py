"""Identifiers: time-sortable, unguessable strings (a ULID-like layout).

48 bits of milliseconds then 80 random bits, Crockford base32, 26 characters. Sorting ids sorts
by creation time, which keeps cursor pagination simple; the random part keeps them unguessable.
"""

from __future__ import annotations

import secrets
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def new_id(now_ms: int | None = None) -> str:
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    value = (ms & ((1 << 48) - 1)) << 80 | secrets.randbits(80)
    out = []
    for _ in range(26):
        out.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(out))


def new_code(nbytes: int = 18) -> str:
    """An unguessable code for links (invites): 144 random bits, URL-safe."""
    return secrets.token_urlsafe(nbytes)
