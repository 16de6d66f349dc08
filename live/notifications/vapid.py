"""The server's VAPID identity (RFC 8292): one P-256 key, kept, and the headers that prove it.

Browsers bind a push subscription to the application server key the page subscribed with
(`GET /v1/web/push-key`), so the key must never change under them: it is read from
`LIVE_VAPID_PRIVATE_KEY`, or generated once and kept under the var dir (`vapid-private.pem`,
mode 0600, created with O_EXCL so two processes starting together agree on one). Nodes on
several machines must share it through `LIVE_VAPID_PRIVATE_KEY`.

Signing is py-vapid's (ES256 JWT, `Authorization: vapid t=...,k=...`); a token is reused per
push service origin for an hour (RFC 8292 allows up to 24 h), so 10,000 pushes to one push
service cost one signature, not 10,000.
"""

from __future__ import annotations

import base64
import logging
import os
import time
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02

log = logging.getLogger("live.notifications.vapid")

KEY_FILE = "vapid-private.pem"
TOKEN_SECONDS = 12 * 3600  # `exp` of a token: RFC 8292 says at most 24 h
REUSE_SECONDS = 3600  # a token is re-signed after this long
_BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_="


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Base64url without padding (as the Push API and VAPID write keys); ValueError if not."""
    cleaned = text.strip()
    if not cleaned or any(c not in _BASE64URL for c in cleaned):
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(cleaned.rstrip("=") + "=" * (-len(cleaned.rstrip("=")) % 4))
    except ValueError:
        raise ValueError("not base64url") from None


def load_private_key(raw: str) -> ec.EllipticCurvePrivateKey:
    """A P-256 private key from PEM or base64url of its raw 32-byte scalar (ValueError if neither)."""
    text = raw.strip()
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(text.encode("ascii"), password=None)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"not a readable PEM private key ({exc})") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
            raise ValueError("the PEM key is not a P-256 (prime256v1) EC key")
        return key
    try:
        scalar = b64url_decode(text)
    except ValueError:
        raise ValueError("expected base64url of a 32-byte P-256 private key, or a PEM block") from None
    if len(scalar) != 32:
        raise ValueError(f"a raw P-256 private key is 32 bytes, this one is {len(scalar)}")
    try:
        return ec.derive_private_key(int.from_bytes(scalar, "big"), ec.SECP256R1())
    except ValueError:
        raise ValueError("the 32 bytes are not a valid P-256 private key") from None


def key_from_var_dir(var_dir: str) -> ec.EllipticCurvePrivateKey:
    """The kept key under `var_dir`, generated (once, by whichever process gets there first)."""
    path = Path(var_dir) / KEY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it meanwhile: use theirs
        else:
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
            log.warning("created a Web Push (VAPID) key at %s; keep it: subscriptions are bound to it", path)
            return key
    for _ in range(50):  # a racing writer may not have finished its write yet
        text = path.read_text("ascii")
        if text.strip().endswith("-----END PRIVATE KEY-----"):
            return load_private_key(text)
        time.sleep(0.02)
    return load_private_key(path.read_text("ascii"))


class VapidSigner:
    """The server's key, its public half for pages, and cached `Authorization` headers."""

    def __init__(self, key: ec.EllipticCurvePrivateKey, subject: str) -> None:
        self.key = key
        self.subject = subject
        self._vapid = Vapid02(key)
        self._tokens: dict[str, tuple[float, str]] = {}

    @classmethod
    def from_settings(cls, private_key: str | None, var_dir: str, subject: str) -> VapidSigner:
        key = load_private_key(private_key) if private_key else key_from_var_dir(var_dir)
        return cls(key, subject)

    @property
    def public_key(self) -> str:
        """Base64url of the uncompressed point: the `applicationServerKey` pages subscribe with."""
        raw = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return b64url(raw)

    def authorization(self, origin: str, now: float | None = None) -> str:
        """The `Authorization: vapid t=...,k=...` value for a push service at `origin`."""
        at = time.time() if now is None else now
        cached = self._tokens.get(origin)
        if cached is not None and at - cached[0] < REUSE_SECONDS:
            return cached[1]
        claims = {"aud": origin, "sub": self.subject, "exp": int(at) + TOKEN_SECONDS}
        header = str(self._vapid.sign(claims)["Authorization"])
        if len(self._tokens) > 1000:
            self._tokens.clear()
        self._tokens[origin] = (at, header)
        return header
