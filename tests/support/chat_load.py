"""Members chatting through real WebSocket clients, the way a careful app does, with a record of
what the server acknowledged and what each member saw.

A `Chatter` sends `chat.send` at a steady pace with a fresh nonce each time; a send that fails
(the connection dropped, the server answered `unavailable` or `rate_limited`, no answer in time)
is sent again with the same nonce until the server acknowledges it (a repeated nonce is not stored
twice). When its connection drops it reconnects, to the next node of its list first, and rejoins
the room with `since` = the last message it saw, so the join's `history` brings what it missed.

What it keeps: `acked` (nonce -> (seq, id) from the `ok` replies), `seen` (every `chat.message`
of the room it received, by seq, from events and from join histories), `duplicates` (a seq seen
twice), `refusals` (error codes answered), `recoveries` (seconds from losing the connection to a
join that said `recovered: true`), `unrecovered` (joins with `recovered: false`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from websockets.exceptions import ConnectionClosed

from live.client import Closed, LiveClient, RequestFailed

LOST = (Closed, ConnectionClosed, TimeoutError, OSError)


class Chatter:
    def __init__(self, name: str, token: Callable[[], str], urls: list[str], room: str, *,
                 interval: float = 0.2, sending: bool = True, encoding: str = "json") -> None:
        self.name = name
        self.token = token
        self.urls = list(urls)
        self.at = 0  # index in urls of the node it is connected to
        self.room = room
        self.interval = interval
        self.sending = sending
        self.encoding = encoding
        self.client: LiveClient | None = None
        self.epoch: Any = None
        self.acked: dict[str, tuple[int, str]] = {}
        self.seen: dict[int, dict[str, Any]] = {}
        self.duplicates: list[int] = []
        self.refusals: Counter[str] = Counter()
        self.recoveries: list[float] = []
        self.unrecovered = 0
        self.cut_off = 0  # sends whose answer never came (the connection dropped): sent again
        self.lost_at: float | None = None
        self.joined_at: float | None = None  # monotonic time of the last successful join
        self._reader: asyncio.Task[None] | None = None
        self._i = 0

    @property
    def last_seq(self) -> int:
        return max(self.seen, default=0)

    def _saw(self, message: dict[str, Any]) -> None:
        seq = int(message["seq"])
        if seq in self.seen:
            self.duplicates.append(seq)
        else:
            self.seen[seq] = message

    async def _read(self, client: LiveClient) -> None:
        async for event in client.events():
            if event.get("type") == "chat.message" and event.get("room") == self.room:
                self._saw(event)

    async def join(self, url_index: int, timeout: float = 5.0) -> None:
        """Connect to urls[url_index] and join the room (with `since` once it has seen anything)."""
        client = await LiveClient.connect(self.urls[url_index], self.token(), self.encoding, timeout=timeout)
        try:
            fields: dict[str, Any] = {"room": self.room}
            if self.epoch is not None:
                fields["since"] = {"epoch": self.epoch, "seq": self.last_seq}
            reply = await client.request("room.join", timeout=timeout, **fields)
        except BaseException:
            await client.close()
            raise
        if "since" in fields and (reply.get("recovered") is not True or reply.get("epoch") != self.epoch):
            self.unrecovered += 1
        self.epoch = reply["epoch"]
        for message in reply.get("history") or []:
            self._saw(message)
        self.client, self.at = client, url_index
        self.joined_at = time.monotonic()
        self._reader = asyncio.create_task(self._read(client))

    async def reconnect(self, deadline: float = 30.0) -> None:
        """Drop the connection and join again, trying the other nodes first, until one answers."""
        lost = self.lost_at = time.monotonic()
        await self._drop()
        n = len(self.urls)
        order = [(self.at + k) % n for k in range(1, n + 1)]
        while time.monotonic() - lost < deadline:
            for index in order:
                try:
                    await self.join(index, timeout=2.0)
                except (*LOST, RequestFailed):
                    continue
                self.recoveries.append(time.monotonic() - lost)
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"{self.name} could not rejoin any node within {deadline:g} s")

    async def _drop(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.close(), 2)
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(BaseException):
                await self._reader
            self._reader = None

    def _broken(self) -> bool:
        return self.client is None or (self._reader is not None and self._reader.done())

    async def run(self, stop: asyncio.Event) -> None:
        """Chat (or, not sending, just stay connected) until `stop` is set."""
        pending: str | None = None
        while not stop.is_set():
            if self._broken():
                await self.reconnect()
            if not self.sending:
                await _wait(stop, 0.05)
                continue
            nonce = pending or f"{self.name}-{self._i}"
            assert self.client is not None
            try:
                reply = await self.client.request("chat.send", room=self.room, text=nonce, nonce=nonce,
                                                  timeout=10)
            except RequestFailed as exc:
                self.refusals[exc.code] += 1
                pending = nonce
                pause = float(exc.retry_after or 0) if exc.code in ("rate_limited", "slow_mode") else 0.0
                await _wait(stop, max(pause, self.interval))
                continue
            except LOST:
                pending = nonce
                self.cut_off += 1
                await self.reconnect()
                continue
            self.acked[nonce] = (int(reply["seq"]), str(reply["id"]))
            pending = None
            self._i += 1
            await _wait(stop, self.interval)

    async def catch_up(self, last_seq: int, timeout: float = 10.0) -> None:
        """Wait until it has seen every seq up to `last_seq` (live events still arriving)."""
        deadline = time.monotonic() + timeout
        while not all(s in self.seen for s in range(1, last_seq + 1)) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        await self._drop()


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


def check_nothing_lost(chatters: list[Chatter], stored: list[dict[str, Any]]) -> dict[str, int]:
    """Every acknowledged message is stored exactly once (by id and by nonce) with the acked seq, the
    stored seqs run 1..n without a gap, and every member saw each stored message exactly once."""
    by_seq = {int(m["seq"]): m for m in stored}
    assert sorted(by_seq) == list(range(1, len(stored) + 1)), "stored seqs have a gap or a repeat"
    ids = Counter(str(m["id"]) for m in stored)
    texts = Counter(str(m["text"]) for m in stored)
    assert not [i for i, n in ids.items() if n > 1], "an id stored twice"
    assert not [t for t, n in texts.items() if n > 1], "a nonce (the text) stored twice"
    acked = 0
    for chatter in chatters:
        for nonce, (seq, mid) in chatter.acked.items():
            acked += 1
            assert seq in by_seq, f"{chatter.name}: acked {nonce} (seq {seq}) is not stored"
            entry = (str(by_seq[seq]["id"]), by_seq[seq]["text"])
            assert entry == (mid, nonce), f"acked {nonce}: seq {seq} holds another"
        assert not chatter.duplicates, f"{chatter.name} was sent seqs {chatter.duplicates} twice"
        missing = sorted(set(by_seq) - set(chatter.seen))
        assert not missing, f"{chatter.name} never saw seqs {missing[:20]}"
        for seq, message in chatter.seen.items():
            assert str(message["id"]) == str(by_seq[seq]["id"]), f"{chatter.name}: seq {seq} differs"
    return {"acked": acked, "stored": len(stored)}


async def stored_chat(http: Any, lid: str) -> list[dict[str, Any]]:
    """Every stored message of a live's chat, through `GET /v1/live/{lid}/chat` (paged)."""
    items: list[dict[str, Any]] = []
    after = 0
    while True:
        resp = await http.get(f"/v1/live/{lid}/chat", params={"after_seq": after, "limit": 200})
        assert resp.status_code == 200, resp.text
        page = resp.json()
        items += page["items"]
        if page["next_after_seq"] is None:
            return items
        after = page["next_after_seq"]
