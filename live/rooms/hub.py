"""The node hub: which local connections are in which room, and fan-out from the bus to them.

One bus subscription per node. A room's channel is subscribed when the first local connection
joins and unsubscribed when the last one leaves, so a node decodes only the rooms its own
connections are in. One reader task takes each bus payload, decodes it once, encodes each event
once per wire encoding, and hands the same bytes to every local connection in the room with a
non-blocking `deliver` (a put into that connection's byte-capped outbox): one slow reader can
never hold up the others, it only overflows its own outbox and is closed (4008).

A connection whose user blocked someone (`Member.blocked`) is listed per room in `blockers`; a
chat message is left out of the fan-out of those whose user blocked its author. Rooms without
such a connection (the common case) pay one dict lookup per fan-out for it.

Events whose `type` starts with `_` are node-to-node (reaction partials, moderation actions,
revocations, sockets to close) and never reach a client; they, announcements (filtered per
recipient) and gaps go to the owner's callbacks.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from live.bus import Bus, Gap, Message, Subscription
from live.rooms import metrics
from live.rooms.channels import decode_event, room_channel, user_channel
from live.signaling.codec import Encoding, encode_one

log = logging.getLogger("live.rooms.hub")

# Node-to-node control messages (moderation actions): every node subscribes; they are rare.
CONTROL_CHANNEL = "gateway.control"
# Delivered through the owner's callback rather than to every connection in the room.
FILTERED_TYPES = frozenset({"announcement"})


class Member(Protocol):
    """A local connection as the hub sees it."""

    user_id: str
    encoding: Encoding
    blocked: frozenset[str]  # whose chat messages it does not want (`live.safety`)

    def deliver(self, room: str | None, seq: int | None, part: bytes, origin: float) -> None: ...


InternalHandler = Callable[[str, dict[str, Any]], None]
GapHandler = Callable[[str], None]


class Hub:
    def __init__(self, bus: Bus, *, on_internal: InternalHandler, on_gap: GapHandler,
                 on_hole: GapHandler | None = None, on_control_gap: Callable[[], None] | None = None) -> None:
        self._bus = bus
        self._on_internal = on_internal
        self._on_gap = on_gap  # the bus reported a gap on the room's channel
        self._on_hole = on_hole or on_gap  # a chat message skipped a seq
        self._on_control_gap = on_control_gap  # control messages (bans, revocations) may be lost
        self.rooms: dict[str, set[Member]] = {}
        self.users: dict[str, set[Member]] = {}
        self.blockers: dict[str, set[Member]] = {}  # room -> its members with a non-empty `blocked`
        self._subscribed: set[str] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        self._sub: Subscription | None = None
        self._task: asyncio.Task[None] | None = None
        # The last chat (epoch, seq) this node fanned out per room: a jump means a message never
        # reached the bus (its publish failed around an outage) and the room must be recovered.
        self.chat_position: dict[str, tuple[Any, int]] = {}

    async def start(self) -> None:
        self._sub = self._bus.subscription()
        await self._sub.subscribe(CONTROL_CHANNEL)
        self._task = asyncio.create_task(self._read(), name="hub-reader")

    async def stop(self) -> None:
        if self._sub is not None:
            await self._sub.close()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - stopping regardless
                pass

    # -- membership

    async def join(self, room: str, member: Member) -> None:
        """Add `member` to `room`; returns once the node hears everything published after it.

        Raises ApiError(unavailable) when the bus cannot subscribe (the member is not added).
        """
        members = self.rooms.setdefault(room, set())
        members.add(member)
        if member.blocked:
            self.blockers.setdefault(room, set()).add(member)
        metrics.ROOMS.set(len(self.rooms))
        try:
            await self._sync(room_channel(room), bool(self.rooms.get(room)))
        except BaseException:
            await self.leave(room, member)
            raise

    async def leave(self, room: str, member: Member) -> None:
        members = self.rooms.get(room)
        if members is None or member not in members:
            return
        members.discard(member)
        self._drop_blocker(room, member)
        if not members:
            del self.rooms[room]
            self.chat_position.pop(room, None)
        metrics.ROOMS.set(len(self.rooms))
        try:
            await self._sync(room_channel(room), room in self.rooms)
        except Exception as exc:  # noqa: BLE001 - the bus resubscribes from its own set later
            log.warning("unsubscribing %s failed: %s", room, exc)

    def set_blocked(self, member: Member, blocked: frozenset[str], rooms: list[str]) -> None:
        """`member`'s user now blocks `blocked`: its fan-out in `rooms` (those it is in) follows."""
        member.blocked = blocked
        for room in rooms:
            if member not in self.rooms.get(room, ()):
                continue
            if blocked:
                self.blockers.setdefault(room, set()).add(member)
            else:
                self._drop_blocker(room, member)

    def _drop_blocker(self, room: str, member: Member) -> None:
        found = self.blockers.get(room)
        if found is not None:
            found.discard(member)
            if not found:
                del self.blockers[room]

    async def add_user(self, member: Member) -> None:
        self.users.setdefault(member.user_id, set()).add(member)
        try:
            await self._sync(user_channel(member.user_id), True)
        except Exception:
            await self.remove_user(member)
            raise

    async def remove_user(self, member: Member) -> None:
        members = self.users.get(member.user_id)
        if members is None:
            return
        members.discard(member)
        if not members:
            del self.users[member.user_id]
        try:
            await self._sync(user_channel(member.user_id), member.user_id in self.users)
        except Exception as exc:  # noqa: BLE001
            log.warning("unsubscribing user channel failed: %s", exc)

    async def _sync(self, channel: str, wanted: bool) -> None:
        """Bring the bus subscription of `channel` in line with whether anyone local wants it.

        Serialized per channel, and re-reading `wanted` under the lock, so a join racing the last
        leave always ends subscribed (and the reverse unsubscribed).
        """
        lock = self._locks.setdefault(channel, asyncio.Lock())
        async with lock:
            assert self._sub is not None
            if channel.startswith("room."):
                wanted = channel[5:] in self.rooms
            elif channel.startswith("user."):
                wanted = channel[5:] in self.users
            if wanted and channel not in self._subscribed:
                await self._sub.subscribe(channel)
                self._subscribed.add(channel)
            elif not wanted and channel in self._subscribed:
                self._subscribed.discard(channel)
                await self._sub.unsubscribe(channel)
        if not lock.locked() and self._locks.get(channel) is lock and channel not in self._subscribed:
            self._locks.pop(channel, None)

    # -- fan-out

    def fanout(self, room: str, events: list[dict[str, Any]], origin: float | None = None) -> int:
        """Deliver `events` to this node's connections in `room` (no bus); returns deliveries."""
        members = self.rooms.get(room)
        if not members:
            return 0
        now = time.time()
        delivered = 0
        blockers = self.blockers.get(room)
        for event in events:
            seq = _chat_seq(event)
            parts: dict[Encoding, bytes] = {}
            start = origin if origin is not None else _origin(event, now)
            skip = _blocking(event, blockers) if blockers else None
            for member in list(members):
                if skip is not None and member in skip:
                    continue
                part = parts.get(member.encoding)
                if part is None:
                    part = parts[member.encoding] = encode_one(event, member.encoding)
                member.deliver(room, seq, part, start)
                delivered += 1
        metrics.FANOUT_DELIVERIES.inc(delivered)
        return delivered

    def note_position(self, room: str, epoch: Any, seq: int) -> None:
        """This node's connections in `room` have everything up to `seq` (a join, a recovery)."""
        if room not in self.rooms or epoch is None:
            return
        known = self.chat_position.get(room)
        if known is None or known[0] != epoch or known[1] < seq:
            self.chat_position[room] = (epoch, seq)

    def _in_sequence(self, room: str, event: dict[str, Any]) -> bool:
        """Whether a room event may go out now: anything but a chat message that skips a seq."""
        position = _position(event)
        if position is None:
            return True
        known = self.chat_position.get(room)
        if known is None or (known[0] == position[0] and position[1] <= known[1] + 1):
            if known is None or position[1] > known[1]:
                self.chat_position[room] = position
            return True
        return False

    def send_user(self, user_id: str, events: list[dict[str, Any]]) -> int:
        members = self.users.get(user_id)
        if not members:
            return 0
        now = time.time()
        for event in events:
            parts: dict[Encoding, bytes] = {}
            for member in list(members):
                part = parts.get(member.encoding)
                if part is None:
                    part = parts[member.encoding] = encode_one(event, member.encoding)
                member.deliver(None, None, part, now)
        return len(members) * len(events)

    async def _read(self) -> None:
        assert self._sub is not None
        async for item in self._sub:
            try:
                if isinstance(item, Gap):
                    self._gap(item)
                elif isinstance(item, Message):
                    self._message(item)
            except Exception:
                log.exception("hub: handling a bus message failed")

    def _gap(self, gap: Gap) -> None:
        log.info("bus gap (%s) on %d channels", gap.reason, len(gap.channels))
        metrics.BUS_GAPS.inc()
        for channel in gap.channels:
            if channel.startswith("room.") and channel[5:] in self.rooms:
                self._on_gap(channel[5:])
            elif channel == CONTROL_CHANNEL and self._on_control_gap is not None:
                self._on_control_gap()

    def _message(self, message: Message) -> None:
        try:
            payload = decode_event(message.data)
        except Exception:  # noqa: BLE001 - a foreign publisher; never let it stop the reader
            log.warning("undecodable bus payload on %s", message.channel)
            return
        events = payload if isinstance(payload, list) else [payload]
        events = [e for e in events if isinstance(e, dict) and isinstance(e.get("type"), str)]
        channel = message.channel
        if channel.startswith("room."):
            room = channel[5:]
            plain = []
            for event in events:
                if event["type"].startswith("_") or event["type"] in FILTERED_TYPES:
                    self._on_internal(room, event)
                elif self._in_sequence(room, event):
                    plain.append(event)
                else:
                    # Held back: recovery delivers it, after the missing ones, from the store.
                    if plain:
                        self.fanout(room, plain)
                        plain = []
                    self._on_hole(room)
            if plain:
                self.fanout(room, plain)
        elif channel.startswith("user."):
            user = channel[5:]
            plain = [e for e in events if not e["type"].startswith("_")]
            for event in events:
                if event["type"].startswith("_"):
                    self._on_internal(channel, event)
            if plain:
                self.send_user(user, plain)
        elif channel == CONTROL_CHANNEL:
            for event in events:
                self._on_internal(channel, event)


def _blocking(event: dict[str, Any], blockers: set[Member]) -> set[Member] | None:
    """Those of `blockers` whose user blocked the author of `event` (a chat message, or the one
    a `chat.pinned` pins)."""
    kind = event.get("type")
    if kind == "chat.pinned" and isinstance(event.get("message"), dict):
        event = event["message"]
    elif kind != "chat.message":
        return None
    user = event.get("user")
    author = user.get("id") if isinstance(user, dict) else None
    skip = {m for m in blockers if author in m.blocked}
    return skip or None


def _position(event: dict[str, Any]) -> tuple[Any, int] | None:
    seq = _chat_seq(event)
    return None if seq is None else (event.get("epoch"), seq)


def _chat_seq(event: dict[str, Any]) -> int | None:
    """The seq by which connections de-duplicate (chat messages only)."""
    if event.get("type") != "chat.message":
        return None
    seq = event.get("seq")
    return seq if isinstance(seq, int) and not isinstance(seq, bool) else None


def _origin(event: dict[str, Any], now: float) -> float:
    """When the event was published (its `ts`), for the fan-out lag metric; else `now`."""
    ts = event.get("ts")
    value: float | None = None
    if isinstance(ts, (int, float)) and not isinstance(ts, bool):
        value = float(ts) / (1000.0 if ts > 1e12 else 1.0)
    elif isinstance(ts, str):
        try:
            parsed = dt.datetime.fromisoformat(ts.replace("Z", "+00:00"))
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=dt.UTC)
            value = parsed.timestamp()
        except ValueError:
            value = None
    if value is None or value > now or now - value > 3600:
        return now
    return value
