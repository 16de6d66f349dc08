"""Webhooks for operators: every event POSTed, signed, to each of `LIVE_WEBHOOK_URLS`.

An event is `{id, type, created_at, data}`, serialized once when it is stored: every retry sends
the same bytes and the same `id`, so a receiver deduplicates by `id`. The header

    Live-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" with LIVE_WEBHOOK_SECRET>

is made afresh for each attempt (`t` is the time of sending): a receiver checks the HMAC over the
raw body (before parsing it) with a constant-time comparison, and refuses a `t` too far from its
own clock, which stops replays of a captured request. A 2xx answer is success; anything else,
or no answer within `LIVE_DELIVERY_TIMEOUT_SECONDS`, is retried with backoff for 24 h.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from typing import Any

from live.storage.base import iso

SIGNATURE_HEADER = "Live-Signature"
TYPES = ("live.started", "live.ended", "live.scheduled", "member.joined", "notification.created")


def envelope(event_id: str, type_: str, created_at: dt.datetime, data: dict[str, Any]) -> str:
    """The JSON body of one event (stored as is, sent as is on every attempt)."""
    return json.dumps(
        {"id": event_id, "type": type_, "created_at": iso(created_at), "data": data},
        separators=(",", ":"), ensure_ascii=False,
    )


def signature(secret: str, body: bytes, t: int) -> str:
    """The `Live-Signature` value for `body` sent at unix time `t`."""
    mac = hmac.new(secret.encode("utf-8"), f"{t}.".encode("ascii") + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify(secret: str, body: bytes, header: str, now: int, tolerance: int = 300) -> bool:
    """A receiver's check (the same as the documented snippet; the tests use it)."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    try:
        t = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - t) > tolerance:
        return False
    expected = hmac.new(secret.encode("utf-8"), f"{t}.".encode("ascii") + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts.get("v1", ""))
