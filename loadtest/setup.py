"""Identities and the rooms a run needs: tokens (minted or read from a file), and a community
with live rooms created through the HTTP API, joined by every member that chats."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx


class SetupError(Exception):
    """The target refused the setup (a status and the contract's error code, when there is one)."""


@dataclasses.dataclass(frozen=True)
class Identity:
    user_id: str
    name: str
    token: str


class Identities:
    """Where tokens come from: minted with the server's secret, or read from a file."""

    def __init__(self, *, secret: str | None = None, tokens: Sequence[str] = (), ttl: int = 4 * 3600,
                 prefix: str = "lt") -> None:
        if not secret and not tokens:
            raise ValueError("need a secret (--secret) or a tokens file (--tokens-file)")
        self.secret = secret
        self.tokens = list(tokens)
        self.ttl = ttl
        self.prefix = prefix

    @classmethod
    def from_file(cls, path: str) -> Identities:
        lines = [ln.strip() for ln in Path(path).read_text().splitlines()]
        tokens = [ln.split()[-1] for ln in lines if ln and not ln.startswith("#")]
        if not tokens:
            raise ValueError(f"{path}: no tokens")
        return cls(tokens=tokens)

    def get(self, index: int, role: str = "m") -> Identity:
        """The identity number `index` (file order; or minted as `{prefix}-{role}{index}`)."""
        if self.secret:
            return self.mint(f"{self.prefix}-{role}{index}")
        if index >= len(self.tokens):
            raise ValueError(f"the tokens file has {len(self.tokens)} tokens; this run needs more")
        token = self.tokens[index]
        claims = _claims(token)
        user_id = str(claims.get("sub") or f"token{index}")
        return Identity(user_id, str(claims.get("name") or user_id), token)

    def mint(self, user_id: str) -> Identity:
        """A token for any user id (only with a secret)."""
        import jwt

        assert self.secret, "minting needs the server's secret"
        now = int(time.time())
        claims = {"sub": user_id, "name": user_id, "iat": now, "exp": now + self.ttl}
        return Identity(user_id, user_id, jwt.encode(claims, self.secret, algorithm="HS256"))

    @property
    def minted(self) -> bool:
        return bool(self.secret)


def _claims(token: str) -> dict[str, Any]:
    """A JWT's claims, unverified (only to learn whose token it is)."""
    try:
        body = token.split(".")[1]
        return dict(json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))))
    except (IndexError, ValueError):
        return {}


def _error(response: httpx.Response, what: str) -> SetupError:
    try:
        err = response.json().get("error", {})
        detail = f"{err.get('code')}: {err.get('message')}"
    except ValueError:
        detail = response.text[:200]
    return SetupError(f"{what}: HTTP {response.status_code} {detail}")


async def create_rooms(base_url: str, owner: Identity, hosts: Sequence[Identity], title: str) -> tuple[str, list[str]]:
    """A community (open join) owned by `owner`, and a live by each host: (community id, rooms)."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        auth = {"Authorization": f"Bearer {owner.token}"}
        r = await http.post("/v1/communities", headers=auth,
                            json={"name": title[:80], "join_policy": "open", "read_policy": "public",
                                  "description": "created by loadtest"})
        if r.status_code != 201:
            raise _error(r, "creating the community")
        cid = r.json()["id"]
        rooms = []
        for i, host in enumerate(hosts):
            auth = {"Authorization": f"Bearer {host.token}"}
            if host.user_id != owner.user_id:
                r = await http.post(f"/v1/communities/{cid}/join", headers=auth)
                if r.status_code not in (200, 409):
                    raise _error(r, f"host {host.user_id} joining")
            r = await http.post(f"/v1/communities/{cid}/live", headers=auth, json={"title": f"{title} room {i}"})
            if r.status_code != 201:
                raise _error(r, f"host {host.user_id} going live")
            rooms.append(r.json()["room"])
        return cid, rooms


async def join_community(base_url: str, community_id: str, members: Sequence[Identity],
                         concurrency: int = 32) -> dict[str, int]:
    """Every member joins (409: already a member, fine); returns counts by outcome."""
    outcomes: dict[str, int] = {}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as http:
        gate = asyncio.Semaphore(concurrency)

        async def one(m: Identity) -> None:
            async with gate:
                for attempt in range(4):
                    try:
                        r = await http.post(f"/v1/communities/{community_id}/join",
                                            headers={"Authorization": f"Bearer {m.token}"})
                    except httpx.HTTPError as exc:
                        key = type(exc).__name__
                    else:
                        if r.status_code in (200, 409):
                            key = "ok"
                            break
                        if r.status_code in (429, 503):
                            key = str(r.status_code)
                        else:
                            raise _error(r, f"member {m.user_id} joining the community")
                    await asyncio.sleep(0.2 * 2**attempt)
                outcomes[key] = outcomes.get(key, 0) + 1

        await asyncio.gather(*(one(m) for m in members))
    return outcomes


async def end_lives(base_url: str, hosts: Sequence[Identity], rooms: Sequence[str]) -> None:
    """End the lives a run created (best effort: the run's figures do not depend on it)."""
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        for host, room in zip(hosts, rooms, strict=False):
            try:
                await http.post(f"/v1/live/{room.split(':', 1)[1]}/end",
                                headers={"Authorization": f"Bearer {host.token}"})
            except httpx.HTTPError:
                pass


async def hosts_of(base_url: str, ids: Identities, rooms: Sequence[str]) -> list[tuple[Identity, str]]:
    """(host, room) of existing lives (`--room live:{id}`), the hosts minted with the secret."""
    hosts = []
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        reader = ids.mint(f"{ids.prefix}-hostfinder")
        for room in rooms:
            r = await http.get(f"/v1/live/{room.split(':', 1)[1]}",
                               headers={"Authorization": f"Bearer {reader.token}"})
            if r.status_code != 200:
                # (e.g. a members-only community): the run goes on; the live lasts while hosted
                print(f"loadtest: {_error(r, f'finding the host of {room}')}; not hosting it", file=sys.stderr)
                continue
            hosts.append((ids.mint(r.json()["host"]["id"]), room))
    return hosts


class HostsInRooms:
    """The hosts of the lives a run created, connected and in their rooms for the whole run.

    `live` ends a live whose host has no connection in its room for LIVE_GRACE_SECONDS (a live
    nobody hosts does not stay on the live tab), and a load test's hosts otherwise never connect.
    One connection per host, on a thread and event loop of their own so the run's generator
    processes and timing are untouched. Runs given `--room` (lives made by `--setup-only`) find
    the hosts through the API and sign them in with the secret; with a tokens file instead, the
    lives last only while someone hosts them, or with LIVE_GRACE_SECONDS raised on the server.
    """

    def __init__(self, base_url: str, pairs: Sequence[tuple[Identity, str]]) -> None:
        self.base_url = base_url
        self.pairs = list(pairs)
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), name="loadtest-hosts", daemon=True)

    def start(self) -> None:
        """Connect every host and join its room (returns once they are in)."""
        if self.pairs and not self._thread.is_alive() and not self._ready.is_set():
            self._thread.start()
            self._ready.wait(120)
            if self._error is not None:
                self.stop()
                raise SetupError(f"connecting the hosts to their rooms: {self._error}")

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread.is_alive():
            self._thread.join(30)

    def __enter__(self) -> HostsInRooms:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _main(self) -> None:
        from loadtest.clients import LiveClient

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        clients: list[Any] = []
        try:
            for host, room in self.pairs:
                client = LiveClient(self.base_url, host.token, lambda *_: None)
                await client.connect()
                clients.append(client)
                await client.join(room)
        except Exception as exc:  # noqa: BLE001 - reported by __enter__
            self._error = exc
        finally:
            self._ready.set()
        if self._error is None:
            await self._stop.wait()
        for client in clients:
            client.close()
