"""The node hub: which local connections are in which room, and fan-out from the bus to them.

One bus subscription per node. A room's channel is subscribed when the first local connection
joins and unsubscribed when the last one leaves, so a node decodes only the rooms its own
connections are in. One reader task takes each bus payload, decodes it once, encodes its events
once per wire encoding into one `Batch` (`live.frames`: its frame is then built once too), and
hands the same batch to every local connection in the room with a non-blocking `deliver` (a put
into that connection's byte-capped outbox): one slow reader can never hold up the others, it only
overflows its own outbox and is closed (4008).

A connection whose user blocked someone (`Member.blocked`) is listed per room in `blockers`; a
chat message is left out of the fan-out of those whose user blocked its author. Rooms without
such a connection (the common case) pay one dict lookup per fan-out for it.

Events whose `type` starts with `_` are node-to-node (reaction partials, moderation actions,
revocations, sockets to close) and never reach a client; they, announcements (filtered per
recipient) and gaps go to the callbacks of the hub's listener (the gateway, `listen`).

The other way, `publish` and `publish_user` put an event on a room's or a user's channel for
every node: what the services that speak to rooms (media, the live schedule) call.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from live.bus import Bus, Gap, Message, Subscription
from live.frames import Batch, Batches, Encoding
from live.room_id import RoomId
from live.rooms import metrics
from live.rooms.channels import decode_event, encode_event, room_channel, user_channel

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

    def deliver(self, room: RoomId | None, batch: Batch, origin: float) -> None: ...


# Gets the room (a `RoomId`) for an event on a room's channel, else the channel's name (user, control).
InternalHandler = Callable[[str, dict[str, Any]], None]
GapHandler = Callable[[RoomId], None]


def _ignore(*_: Any) -> None:
    return None


class Hub:
    def __init__(self, bus: Bus, *, on_internal: InternalHandler = _ignore, on_gap: GapHandler = _ignore,
                 on_hole: GapHandler | None = None, on_control_gap: Callable[[], None] = _ignore) -> None:
        self._bus = bus
        self.listen(on_internal=on_internal, on_gap=on_gap, on_hole=on_hole, on_control_gap=on_control_gap)
        self.rooms: dict[RoomId, set[Member]] = {}
        self._room_of: dict[str, RoomId] = {}  # bus channel -> the room (parsed once, at join)
        self.users: dict[str, set[Member]] = {}
        self.blockers: dict[RoomId, set[Member]] = {}  # room -> its members with a non-empty `blocked`
        self._subscribed: set[str] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        self._sub: Subscription | None = None
        self._task: asyncio.Task[None] | None = None
        # The last chat (epoch, seq) this node fanned out per room: a jump means a message never
        # reached the bus (its publish failed around an outage) and the room must be recovered.
        self.chat_position: dict[RoomId, tuple[Any, int]] = {}

    def listen(self, *, on_internal: InternalHandler, on_gap: GapHandler, on_hole: GapHandler | None = None,
               on_control_gap: Callable[[], None] = _ignore) -> None:
        """Who hears node-to-node events and gaps (the gateway, once it is made)."""
        self._on_internal = on_internal
        self._on_gap = on_gap  # the bus reported a gap on the room's channel
        self._on_hole = on_hole or on_gap  # a chat message skipped a seq
        self._on_control_gap = on_control_gap  # control messages (bans, revocations) may be lost

    async def publish(self, room: RoomId, event: dict[str, Any] | list[dict[str, Any]]) -> None:
        """Send an event to everyone in `room` on every node (encoded once, one publish)."""
        await self._bus.publish(room_channel(room), encode_event(event))

    async def publish_user(self, user_id: str, event: dict[str, Any]) -> None:
        """Send an event to every connection of `user_id` on every node."""
        await self._bus.publish(user_channel(user_id), encode_event(event))

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

    async def join(self, room: RoomId, member: Member) -> None:
        """Add `member` to `room`; returns once the node hears everything published after it.

        Raises ApiError(unavailable) when the bus cannot subscribe (the member is not added).
        """
        members = self.rooms.setdefault(room, set())
        members.add(member)
        self._room_of[room_channel(room)] = room
        if member.blocked:
            self.blockers.setdefault(room, set()).add(member)
        metrics.ROOMS.set(len(self.rooms))
        try:
            await self._sync(room_channel(room), bool(self.rooms.get(room)))
        except BaseException:
            await self.leave(room, member)
            raise

    async def leave(self, room: RoomId, member: Member) -> None:
        members = self.rooms.get(room)
        if members is None or member not in members:
            return
        members.discard(member)
        self._drop_blocker(room, member)
        if not members:
            del self.rooms[room]
            self._room_of.pop(room_channel(room), None)
            self.chat_position.pop(room, None)
        metrics.ROOMS.set(len(self.rooms))
        try:
            await self._sync(room_channel(room), room in self.rooms)
        except Exception as exc:  # noqa: BLE001 - the bus resubscribes from its own set later
            log.warning("unsubscribing %s failed: %s", room, exc)

    def set_blocked(self, member: Member, blocked: frozenset[str], rooms: list[RoomId]) -> None:
        """`member`'s user now blocks `blocked`: its fan-out in `rooms` (those it is in) follows."""
        member.blocked = blocked
        for room in rooms:
            if member not in self.rooms.get(room, ()):
                continue
            if blocked:
                self.blockers.setdefault(room, set()).add(member)
            else:
                self._drop_blocker(room, member)

    def _drop_blocker(self, room: RoomId, member: Member) -> None:
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

    def fanout(self, room: RoomId, events: list[dict[str, Any]], origin: float | None = None) -> int:
        """Deliver `events` to this node's connections in `room` (no bus); returns deliveries."""
        members = self.rooms.get(room)
        if not members or not events:
            return 0
        now = time.time()
        start = origin if origin is not None else min(_origin(event, now) for event in events)
        batches = Batches(events, [_chat_seq(event) for event in events])
        blockers = self.blockers.get(room)
        skips = [_blocking(event, blockers) for event in events] if blockers else None
        if skips is not None and all(skip is None for skip in skips):
            skips = None  # nobody here blocked the authors of these
        delivered = 0
        for member in list(members):
            batch = batches.get(member.encoding)
            if skips is not None and blockers is not None and member in blockers:
                keep = [i for i, skip in enumerate(skips) if skip is None or member not in skip]
                if not keep:
                    continue
                if len(keep) < len(events):
                    batch = batch.subset(keep)
            member.deliver(room, batch, start)
            delivered += batch.count
        metrics.FANOUT_DELIVERIES.inc(delivered)
        return delivered

    def note_position(self, room: RoomId, epoch: Any, seq: int) -> None:
        """This node's connections in `room` have everything up to `seq` (a join, a recovery)."""
        if room not in self.rooms or epoch is None:
            return
        known = self.chat_position.get(room)
        if known is None or known[0] != epoch or known[1] < seq:
            self.chat_position[room] = (epoch, seq)

    def _in_sequence(self, room: RoomId, event: dict[str, Any]) -> bool:
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

    def send_users(self, user_ids: Iterable[str], events: list[dict[str, Any]]) -> int:
        """Deliver `events` to this node's connections of `user_ids` (no bus); returns deliveries."""
        now = time.time()
        batches = Batches(events)
        sent = 0
        for user_id in user_ids:
            for member in list(self.users.get(user_id, ())):
                member.deliver(None, batches.get(member.encoding), now)
                sent += 1
        return sent * len(events)

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
            room = self._room_of.get(channel)
            if room is not None:
                self._on_gap(room)
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
            room = self._room_of.get(channel)
            if room is None:
                return  # a room no connection here is in (any more)
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
                self.send_users((user,), plain)
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
