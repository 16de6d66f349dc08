"""Real HTTP receivers for the notification tests: a webhook endpoint and a Web Push service.

Both are small ASGI apps served by uvicorn on a free port of 127.0.0.1, inside the test's event
loop (`serve`). They check what a real operator's receiver and a real push service check:

- `WebhookReceiver` verifies `Live-Signature` over the raw body with the shared secret, and keeps
  every request; `mode` makes it answer 200, fail with 503, or hold requests open ("hang") until
  released. `delivered` is the set of event ids it answered 2xx, `ok_counts` how often each.
- `PushService` plays a push service: each `subscription()` is a browser's (a fresh P-256 key pair
  and auth secret, an endpoint under this server). A push is accepted only with a valid VAPID
  `Authorization` (an ES256 JWT whose `aud` is this origin, signed by the key it names), and its
  body is decrypted here following RFC 8291 step by step with the `cryptography` primitives
  (ECDH, HKDF, AES-128-GCM): an implementation independent of the server's (http-ece).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
import os
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import jwt
import uvicorn
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from live.notifications.webhooks import verify
from tests.support.redis_server import free_port
from tests.support.servers import QuickServer
from tests.support.waiting import eventually


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@contextlib.asynccontextmanager
async def serve(app: Any) -> AsyncIterator[str]:
    """Serve an ASGI app on a free local port; yields its base URL."""
    port = free_port()
    server = QuickServer(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 10)


# The suite's one polling helper (tests/support/waiting.py), under the name older tests use.
until = eventually


# -- webhooks -------------------------------------------------------------------------------------


@dataclasses.dataclass
class Hook:
    id: str
    type: str
    data: dict[str, Any]
    signed: bool
    status: int


class WebhookReceiver:
    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.mode = "up"  # up | down | hang
        self.requests: list[Hook] = []
        self.ok_counts: Counter[str] = Counter()
        self.events: dict[str, Hook] = {}
        self.bad_signatures = 0
        self.held = 0  # requests taken in "hang" mode and not answered yet
        self.release = asyncio.Event()
        self.app = Starlette(routes=[Route("/hook", self._hook, methods=["POST"])])

    @property
    def delivered(self) -> set[str]:
        return set(self.ok_counts)

    def of_type(self, type_: str) -> list[Hook]:
        return [h for h in self.events.values() if h.type == type_]

    async def _hook(self, request: Request) -> Response:
        raw = await request.body()
        signed = verify(self.secret, raw, request.headers.get("live-signature", ""), int(time.time()))
        if not signed:
            self.bad_signatures += 1
            return Response("bad signature", status_code=400)
        event = json.loads(raw)
        if self.mode == "hang":
            self.held += 1
            await self.release.wait()
            self.requests.append(Hook(event["id"], event["type"], event["data"], signed, 503))
            return Response("cut off", status_code=503)  # its sender gave up on it long ago
        status = 503 if self.mode == "down" else 200
        hook = Hook(event["id"], event["type"], event["data"], signed, status)
        self.requests.append(hook)
        if status == 200:
            self.ok_counts[hook.id] += 1
            self.events.setdefault(hook.id, hook)  # deduplicated by id, as a receiver should
        return Response("ok" if status == 200 else "down", status_code=status)


# -- Web Push -------------------------------------------------------------------------------------


@dataclasses.dataclass
class Browser:
    """One subscribed browser: its keys, as the Push API would hold them."""

    token: str
    key: ec.EllipticCurvePrivateKey
    auth: bytes
    endpoint: str

    @property
    def p256dh(self) -> str:
        return b64url(self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint))

    def subscription(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": b64url(self.auth)}}


def rfc8291_decrypt(body: bytes, ua_key: ec.EllipticCurvePrivateKey, auth_secret: bytes) -> bytes:
    """RFC 8291 §3.4 and RFC 8188 §2, for one record: the plaintext of an aes128gcm push."""
    salt, rs, idlen = body[:16], int.from_bytes(body[16:20], "big"), body[20]
    as_public_raw = body[21:21 + idlen]
    ciphertext = body[21 + idlen:]
    assert idlen == 65 and rs >= 18 and len(ciphertext) <= rs
    as_public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), as_public_raw)
    ua_public_raw = ua_key.public_key().public_bytes(serialization.Encoding.X962,
                                                     serialization.PublicFormat.UncompressedPoint)
    ecdh_secret = ua_key.exchange(ec.ECDH(), as_public)
    key_info = b"WebPush: info\x00" + ua_public_raw + as_public_raw
    ikm = HKDF(hashes.SHA256(), 32, auth_secret, key_info).derive(ecdh_secret)
    cek = HKDF(hashes.SHA256(), 16, salt, b"Content-Encoding: aes128gcm\x00").derive(ikm)
    nonce = HKDF(hashes.SHA256(), 12, salt, b"Content-Encoding: nonce\x00").derive(ikm)
    padded = AESGCM(cek).decrypt(nonce, ciphertext, None)
    unpadded = padded.rstrip(b"\x00")
    assert unpadded.endswith(b"\x02"), "the last record ends with the 0x02 delimiter"
    return unpadded[:-1]


@dataclasses.dataclass
class Push:
    token: str
    payload: dict[str, Any]
    headers: dict[str, str]


class PushService:
    def __init__(self, server_key: str | None = None) -> None:
        self.server_key = server_key  # the VAPID public key pushes must be signed with
        self.url = ""
        self.browsers: dict[str, Browser] = {}
        self.answers: dict[str, int] = {}  # token -> status to answer (410, 503...)
        self.received: list[Push] = []
        self.refused: list[str] = []
        self.hang = False  # take pushes and never answer (until `release`)
        self.held = 0
        self.release = asyncio.Event()
        self.app = Starlette(routes=[Route("/push/{token}", self._push, methods=["POST"])])

    def subscription(self) -> Browser:
        token = b64url(os.urandom(12))
        browser = Browser(token, ec.generate_private_key(ec.SECP256R1()), os.urandom(16), f"{self.url}/push/{token}")
        self.browsers[token] = browser
        return browser

    def payloads(self, token: str) -> list[dict[str, Any]]:
        return [p.payload for p in self.received if p.token == token]

    def _check_vapid(self, header: str) -> str | None:
        scheme, _, params = header.partition(" ")
        if scheme.lower() != "vapid":
            return "not a vapid Authorization"
        parts = dict(p.split("=", 1) for p in params.split(","))
        k = unb64url(parts["k"])
        if self.server_key is not None and parts["k"] != self.server_key:
            return "signed with another key than the server's"
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), k)
        try:
            claims = jwt.decode(parts["t"], public, algorithms=["ES256"], audience=self.url)
        except jwt.PyJWTError as exc:
            return f"bad VAPID token: {exc}"
        if not str(claims.get("sub", "")).startswith(("mailto:", "https://")):
            return "no sub"
        return None

    async def _push(self, request: Request) -> Response:
        token = request.path_params["token"]
        browser = self.browsers.get(token)
        if browser is None:
            return Response(status_code=404)
        problem = self._check_vapid(request.headers.get("authorization", ""))
        if problem is None and request.headers.get("content-encoding") != "aes128gcm":
            problem = "not aes128gcm"
        if problem is None and not request.headers.get("ttl", "").isdigit():
            problem = "no TTL"
        if problem is not None:
            self.refused.append(problem)
            return Response(problem, status_code=403)
        if self.hang:
            self.held += 1
            await self.release.wait()
            return Response(status_code=503)
        answer = self.answers.get(token, 201)
        if answer >= 300:
            return Response(status_code=answer)
        plain = rfc8291_decrypt(await request.body(), browser.key, browser.auth)
        self.received.append(Push(token, json.loads(plain), dict(request.headers)))
        return Response(status_code=201)


@contextlib.asynccontextmanager
async def push_service(server_key: str | None = None) -> AsyncIterator[PushService]:
    service = PushService(server_key)
    async with serve(service.app) as url:
        service.url = url
        try:
            yield service
        finally:
            service.release.set()


@contextlib.asynccontextmanager
async def webhook_receiver(secret: str) -> AsyncIterator[tuple[WebhookReceiver, str]]:
    receiver = WebhookReceiver(secret)
    async with serve(receiver.app) as url:
        try:
            yield receiver, url + "/hook"
        finally:
            receiver.release.set()  # let held requests end, so the server can stop
