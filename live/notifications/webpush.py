"""Web Push (RFC 8030) of one payload to one subscription: encrypted (RFC 8291), signed (RFC 8292).

The payload (the notification JSON) is encrypted with `aes128gcm` by http-ece: a fresh ECDH key
pair and salt per message, keyed to the subscription's `p256dh` and `auth` secrets, so only that
browser can read it and the push service sees ciphertext. The request carries the VAPID
`Authorization`, `TTL` (how long the push service may hold it for an offline browser) and
`Urgency`. The push service's answer decides what happens next (`Outcome`): 201/202 sent; 404/410
the subscription is gone (it is deleted); 429 and 5xx and network errors are retried; any other
4xx means this request will never succeed (dropped, logged).
"""

from __future__ import annotations

import dataclasses
import enum
import os

import http_ece
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from live.notifications.vapid import b64url_decode

TTL_SECONDS = 24 * 3600
MAX_PAYLOAD = 3993  # RFC 8291: at most 4096 bytes of body after encryption overhead


class Outcome(enum.Enum):
    SENT = "sent"
    GONE = "gone"  # 404/410: forget the subscription
    RETRY = "retry"
    DROP = "drop"  # a 4xx that retrying cannot fix


def classify(status: int) -> Outcome:
    if 200 <= status < 300:
        return Outcome.SENT
    if status in (404, 410):
        return Outcome.GONE
    if status in (408, 425, 429) or status >= 500:
        return Outcome.RETRY
    return Outcome.DROP


class BadKeys(ValueError):
    """The subscription's keys are not a P-256 point and a 16-byte secret."""


def check_keys(p256dh: str, auth: str) -> None:
    """Raise BadKeys unless `p256dh` is an uncompressed P-256 point and `auth` 16 bytes (base64url)."""
    try:
        point = b64url_decode(p256dh)
    except ValueError:
        raise BadKeys("keys.p256dh: not base64url") from None
    if len(point) != 65 or point[0] != 4:
        raise BadKeys("keys.p256dh: not an uncompressed P-256 point (65 bytes)")
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        raise BadKeys("keys.p256dh: not a point on the P-256 curve") from None
    try:
        secret = b64url_decode(auth)
    except ValueError:
        raise BadKeys("keys.auth: not base64url") from None
    if len(secret) != 16:
        raise BadKeys("keys.auth: the auth secret is 16 bytes")


def encrypt(payload: bytes, p256dh: str, auth: str) -> bytes:
    """The `aes128gcm` body of one push (RFC 8291 §4: salt, record size, sender key, ciphertext)."""
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"a push payload is at most {MAX_PAYLOAD} bytes")
    sender = ec.generate_private_key(ec.SECP256R1())
    return bytes(http_ece.encrypt(
        payload,
        salt=os.urandom(16),
        private_key=sender,
        dh=b64url_decode(p256dh),
        auth_secret=b64url_decode(auth),
        version="aes128gcm",
    ))


@dataclasses.dataclass(frozen=True, slots=True)
class PushRequest:
    url: str
    headers: dict[str, str]
    body: bytes


def build(endpoint: str, p256dh: str, auth: str, payload: bytes, authorization: str,
          urgency: str = "normal", topic: str | None = None) -> PushRequest:
    headers = {
        "Content-Type": "application/octet-stream",
        "Content-Encoding": "aes128gcm",
        "TTL": str(TTL_SECONDS),
        "Urgency": urgency,
        "Authorization": authorization,
    }
    if topic:
        headers["Topic"] = topic  # a newer push with the same topic replaces an undelivered one
    return PushRequest(endpoint, headers, encrypt(payload, p256dh, auth))


def public_point(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
