"""The chat service: append, delete, page and recover room chat, durably and in order.

Ordering and durability (see docs/recovery.md):

1. The rules run first (length, membership, ban/mute, keyword filter, rate limit), on cached
   standing so a busy room does not query sanctions per message.
2. One transaction takes the room row's lock (SELECT ... FOR UPDATE on PostgreSQL; SQLite's
   BEGIN IMMEDIATE serializes every writer), answers a repeated nonce with the stored event,
   checks slow mode against the user's last stored message, allocates `last_seq + 1`, inserts.
   The appends that arrive while a room's transaction runs share the next one (group commit,
   `live.chat.appends`): consecutive seqs, one INSERT, one publish.
3. Commit. Only then are the events published: with Redis, one Lua script appends each to the
   room's capped stream and PUBLISHes the batch; without, the in-process bus. Then each event is
   returned: the `ok` a client gets, and every message anyone receives, names a stored message.

A node's writer publishes its batches in commit order. Two nodes writing one room at once may
publish out of order (B commits 8 after A committed 7, and B's publish overtakes A's): the hub
holds 8 back and recovers 7 and 8 from the store (`live.signaling.recovery`), so every
subscriber still sees 7 before 8. A node that dies between its commit and its publish leaves a
stored message that the next one's hole brings out the same way.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy import select

from live.auth.tokens import Principal
from live.chat import metrics, rules, store
from live.chat.appends import Append, RoomWriters
from live.chat.batch import Pending, append_batch
from live.chat.models import ChatMessage, ChatRoom
from live.chat.standing import Standing, Standings, read_chat_rules, read_room
from live.communities.access import Role, is_group_member, require_reader
from live.communities.models import Group
from live.errors import ApiError, ErrorCode, invalid, not_found
from live.room_id import RoomId
from live.rooms.channels import encode_event, room_channel
from live.services import Services
from live.storage.base import utcnow
from live.text import clean, is_blank

log = logging.getLogger("live.chat")

HISTORY = 50  # messages in `history` on join
RECOVER_MAX = 1000  # a client further behind than this reloads (recovered: false)
PAGE_MAX = 200
COMMUNITY_TTL = 2.0  # seconds a community's slow mode and blocked words may lag behind
PUBLISH_TIMEOUT = 3.0  # never hold a room's lock on a hung Redis for longer


@dataclasses.dataclass(frozen=True, slots=True)
class RoomInfo:
    """What chat needs to know about a room: its community, and whether it takes messages."""

    room: str
    kind: str  # live | group
    ident: str
    community_id: str
    open: bool  # the live is still on / the group is not archived
    expires: float


@dataclasses.dataclass(frozen=True, slots=True)
class CommunityRules:
    slow_mode_seconds: int
    filter: rules.KeywordFilter
    expires: float


def chat_room_id(room: str) -> RoomId:
    """`room` as a room with chat (`live:{id}` or `group:{id}`); `invalid_request` otherwise."""
    try:
        found = RoomId.parse(room)
    except ValueError:
        found = None
    if found is None or not found.has_chat:
        raise invalid({"room": "chat rooms are live:{id} or group:{id}"})
    return found


class ChatService:
    """Room chat: the rules, the group commit, history and recovery, deletion."""

    def __init__(self, services: Services, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.services = services
        self.db = services.db
        self.bus = services.bus
        self._clock = clock
        settings = services.settings
        self.limiter = rules.RateLimiter(settings.chat_rate, settings.chat_burst, clock)
        self._rooms: dict[str, RoomInfo] = {}
        self._standing = Standings(self.db, clock=clock)
        self._communities: dict[str, CommunityRules] = {}
        shared = self.bus.redis
        self.stream: store.StreamHistory | None = store.StreamHistory(shared) if shared is not None else None
        self.writers = RoomWriters(self._store_batch)

    # -- caches -------------------------------------------------------------------------------

    def invalidate(self, community_id: str, user_id: str) -> None:
        """Forget the user's cached role and sanctions here (after a moderation action)."""
        self._standing.invalidate(community_id, user_id)

    async def room_info(self, room: str) -> RoomInfo:
        """The room's community and whether it is open; `not_found` for no such room."""
        now = self._clock()
        cached = self._rooms.get(room)
        if cached is not None and cached.expires > now:
            return cached
        parsed = chat_room_id(room)
        kind, ident = parsed.kind.value, parsed.ident
        found = await self.db.run_read(read_room, kind, ident)
        if found is None:
            raise not_found(kind)
        info = RoomInfo(room, kind, ident, found[0], found[1], now + COMMUNITY_TTL)
        if len(self._rooms) > 10_000:
            self._rooms.clear()
        self._rooms[room] = info
        return info

    async def standing(self, community_id: str, user_id: str) -> Standing:
        """The user's role, groups and silencing sanction here (cached; misses read in batches)."""
        return await self._standing.get(community_id, user_id)

    async def community_rules(self, community_id: str) -> CommunityRules:
        now = self._clock()
        cached = self._communities.get(community_id)
        if cached is not None and cached.expires > now:
            return cached
        read = await self.db.run_read(read_chat_rules, community_id)
        if read is None:
            raise not_found("community")
        found = CommunityRules(read[0], rules.KeywordFilter(read[1]), now + COMMUNITY_TTL)
        if len(self._communities) > 10_000:
            self._communities.clear()
        self._communities[community_id] = found
        return found

    # -- append -------------------------------------------------------------------------------

    async def append(self, room: str, user: Principal, text: str, nonce: str) -> dict[str, Any]:
        """Store a message and publish its `chat.message`; the stored event for a repeated nonce."""
        try:
            return await self._append(room, user, text, nonce)
        except ApiError as exc:
            metrics.REFUSED.labels(exc.code.value).inc()
            raise

    async def _append(self, room: str, user: Principal, text: str, nonce: str) -> dict[str, Any]:
        if not isinstance(text, str):
            raise invalid({"text": "must be a string"})
        text = rules.check_text(text)
        if not isinstance(nonce, str) or not 1 <= len(nonce) <= 64:
            raise invalid({"nonce": "1 to 64 characters"})
        info = await self.room_info(room)
        if not info.open:
            raise ApiError(ErrorCode.CONFLICT, "this room is closed")
        standing = await self.standing(info.community_id, user.id)
        if standing.silenced is not None and standing.silenced.code is ErrorCode.BANNED:
            raise standing.silenced  # a ban also ended the membership: say why, not "not a member"
        if (role := standing.role) is None:
            raise ApiError(ErrorCode.NOT_MEMBER, "only members of this community can chat")
        if info.kind == "group" and info.ident not in standing.groups:
            # Joining a group does not pass through invalidate(): a miss is asked again.
            self.invalidate(info.community_id, user.id)
            standing = await self.standing(info.community_id, user.id)
            if (role := standing.role) is None:
                raise ApiError(ErrorCode.NOT_MEMBER, "only members of this community can chat")
            if info.ident not in standing.groups:
                raise ApiError(ErrorCode.FORBIDDEN, "only members of this group can chat here")
        if standing.silenced is not None:
            raise standing.silenced
        community = await self.community_rules(info.community_id)
        community.filter.check(text)
        if self.limiter.take(user.id) > 0:
            # A client retrying a message whose `ok` it lost gets that message, even when over
            # its rate; only then is the database asked (the common path stays cheap).
            stored = await self._stored(room, user.id, nonce)
            if stored is not None:
                metrics.DUPLICATES.inc()
                return stored
            self.limiter.check(user.id)
        slow = 0 if role.at_least(Role.MODERATOR) else community.slow_mode_seconds
        return await self.writers.append(room, user, text, nonce, slow)  # group commit: _store_batch

    async def _stored(self, room: str, user_id: str, nonce: str) -> dict[str, Any] | None:
        async with self.db.read() as session:
            msg = await store.by_nonce(session, room, user_id, nonce)
            if msg is None:
                return None
            chat_room = await session.get(ChatRoom, room)
            return store.event_of(msg, chat_room.epoch if chat_room is not None else "")

    async def _store_batch(self, room: str, batch: list[Append]) -> None:
        """Store a batch of a room's messages in one transaction and publish them (group commit,
        `live.chat.appends`); answers each append with its event or its own error.

        The statements are one synchronous unit (`live.chat.batch`): on SQLite the statements
        on the loop and the commit on the writer's thread; then the publish.
        """
        started = time.perf_counter()
        pending = [Pending(a.user.id, a.user.name or a.user.id, a.text, a.nonce, a.slow) for a in batch]
        async with self.db.write() as unit:
            stored = await unit.run(append_batch, room, pending)
        # Committed: only now does anyone hear of these messages (a publish before the commit
        # showed subscribers a message that a node killed in between never stored).
        if stored.events:
            await self._publish(room, stored.events, epoch=stored.epoch)
        metrics.STORED.inc(len(stored.events))
        metrics.DUPLICATES.inc(stored.repeats)
        metrics.APPEND_BATCH.observe(len(batch))
        metrics.APPEND_SECONDS.observe(time.perf_counter() - started)
        for a, answer in zip(batch, stored.answers, strict=True):
            a.answer(answer)

    async def _publish(self, room: str, events: list[dict[str, Any]], *, epoch: str) -> None:
        """Publish a committed batch as one bus message. A bus failure does not lose the
        messages: they are stored, the Redis listeners see a Gap when they reconnect, and
        recovery reads the database."""
        parts = [encode_event(e) for e in events]
        data = parts[0] if len(parts) == 1 else encode_event(events)
        channel = room_channel(room)
        try:
            if self.stream is not None:
                async with asyncio.timeout(PUBLISH_TIMEOUT):  # (no task of its own, unlike wait_for)
                    await self.stream.append_and_publish(
                        room, epoch, channel, [(e["seq"], p) for e, p in zip(events, parts, strict=True)], data
                    )
            else:
                await self.bus.publish(channel, data)
        except (RedisError, OSError, TimeoutError, ApiError) as exc:
            metrics.PUBLISH_FAILURES.inc()
            log.warning("chat publish in %s failed (stored; recovery fills the gap): %s", room, exc)

    # -- join and recovery -------------------------------------------------------------------

    async def join_state(self, room: str, since: dict[str, Any] | None) -> dict[str, Any]:
        """{epoch, seq, history, recovered?}: the last messages, or everything after `since`.

        All or nothing: with `since` from this epoch and at most RECOVER_MAX behind, `history`
        holds every stored message after it and `recovered` is true; otherwise `recovered` is
        false and `history` is the latest HISTORY messages (the client reloads).
        """
        chat_room_id(room)
        async with self.db.session() as session:
            # A share lock waits for an append in flight (published, not yet committed), so
            # `seq` covers everything already on the bus: nothing falls between history and live.
            chat_room = await store.room_row(session, room, lock="share")
            epoch, last = chat_room.epoch, chat_room.last_seq
            after = _recoverable_from(since, epoch, last)
            if after is not None:
                history = await self._range(session, room, epoch, after, last)
                metrics.JOINS.labels("recovered").inc()
                return {"epoch": epoch, "seq": last, "history": history, "recovered": True}
            history = await self._range(session, room, epoch, max(0, last - HISTORY), last)
        state: dict[str, Any] = {"epoch": epoch, "seq": last, "history": history}
        if since is not None:
            state["recovered"] = False
        metrics.JOINS.labels("fresh" if since is None else "not_recovered").inc()
        return state

    async def _range(self, session: Any, room: str, epoch: str, after: int, upto: int) -> list[dict[str, Any]]:
        if upto <= after:
            return []
        if self.stream is not None:
            try:
                async with asyncio.timeout(PUBLISH_TIMEOUT):
                    events = await self.stream.read(room, epoch, after, upto)
                if events is not None:
                    metrics.HISTORY_READS.labels("stream").inc()
                    gone = await store.deleted_seqs(session, room, after, upto)
                    return [e for e in events if e["seq"] not in gone] if gone else events
            except (RedisError, OSError, TimeoutError) as exc:
                log.info("chat stream of %s unreadable, using the database: %s", room, exc)
        metrics.HISTORY_READS.labels("database").inc()
        return [store.event_of(m, epoch) for m in await store.messages(session, room, after, upto)]

    async def readable_group_room(self, gid: str, user_id: str) -> str:
        """The chat room of group `gid`, if `user_id` may read it (its members); else the error."""
        async with self.db.read() as session:
            group = await session.get(Group, gid)
            if group is None:
                raise not_found("group")
            await require_reader(session, group.community_id, user_id)
            if not await is_group_member(session, gid, user_id):
                raise ApiError(ErrorCode.FORBIDDEN, "only members of this group can read its chat")
        return RoomId.group(gid)

    async def page(self, room: str, after_seq: int, limit: int) -> list[dict[str, Any]]:
        """Stored messages after `after_seq`, oldest first (deleted ones left out)."""
        chat_room_id(room)
        limit = max(1, min(PAGE_MAX, limit))
        async with self.db.read() as session:
            chat_room = await session.get(ChatRoom, room)
            if chat_room is None:
                return []
            rows = await store.messages(session, room, max(0, after_seq), limit=limit)
            return [store.event_of(m, chat_room.epoch) for m in rows]

    # -- deletion -----------------------------------------------------------------------------

    async def delete(self, room: str, seq: int, by: Principal, reason: str = "") -> None:
        """Delete a message: its author, or a moderator and up who outranks the author.

        A moderator's deletion is a moderation action like any other: it goes through the
        moderation service (rank rule, the member-visible log) and its "moderation.action"
        event tells the author (no silent sanctions).
        """
        reason = clean(reason, multiline=True).strip() if isinstance(reason, str) else ""
        if is_blank(reason):
            reason = ""
        info = await self.room_info(room)
        async with self.db.read() as session:
            msg = await session.get(ChatMessage, (room, seq))
            if msg is None or msg.deleted_at is not None:
                raise not_found("message")
            author, message_id = msg.user_id, msg.id
        if author == by.id:
            await self._delete(room, seq, reason or "")
            return
        from live.moderation import service as moderation

        request = moderation.ActionRequest(
            action="delete", user_id=None, target_type="message", target_id=message_id,
            duration_seconds=None, reason=reason or "deleted from the chat",
        )
        async with self.db.session() as session:
            record = await moderation.take_action(session, info.community_id, by, request)
            payload = moderation.event_payload(record)
        await self._delete(room, seq, record.reason)
        await self.services.events.emit(moderation.EVENT, payload)

    async def _delete(self, room: str, seq: int, reason: str) -> None:
        async with self.db.session() as session:
            await store.room_row(session, room, lock="update")  # ordered with appends and joins
            msg = await session.get(ChatMessage, (room, seq))
            if msg is None or msg.deleted_at is not None:
                raise not_found("message")
            msg.deleted_at = utcnow()
            msg.delete_reason = reason[:500]
            await session.flush()
            event = {"type": "chat.deleted", "room": room, "seq": seq, "reason": msg.delete_reason}
            data = encode_event(event)
            channel = room_channel(room)
            try:
                async with asyncio.timeout(PUBLISH_TIMEOUT):
                    await self.bus.publish(channel, data)
            except (RedisError, OSError, TimeoutError, ApiError) as exc:
                metrics.PUBLISH_FAILURES.inc()
                log.warning("chat.deleted publish in %s failed (stored): %s", room, exc)
        # In-process, after the commit: e.g. the live unpins a deleted message.
        await self.services.events.emit("chat.message_deleted", {"room": room, "seq": seq, "reason": reason[:500]})

    async def on_moderation_action(self, payload: dict[str, Any]) -> None:
        """A moderator deleted a chat message through the moderation API: remove it, tell the room.

        Moderation has already checked the moderator's rank and that the message is in the
        community; the community is checked again here so a stray event cannot reach further.
        """
        from live.moderation.messages import room_community

        target = payload.get("target") or {}
        if payload.get("action") != "delete" or target.get("type") != "message" or not target.get("id"):
            return
        async with self.db.read() as session:
            msg = (
                await session.execute(select(ChatMessage).where(ChatMessage.id == target["id"]))
            ).scalar_one_or_none()
            if msg is None or msg.deleted_at is not None:
                return
            room, seq = msg.room, msg.seq
            if await room_community(session, room) != payload.get("community_id"):
                return
        try:
            await self._delete(room, seq, str(payload.get("reason") or ""))
        except ApiError as exc:
            if exc.code is not ErrorCode.NOT_FOUND:
                raise

    async def on_standing_changed(self, payload: dict[str, Any]) -> None:
        """A member joined, left or changed role, or was sanctioned (`membership.changed`,
        `moderation.action`): forget what this node cached of their standing."""
        community_id, user_id = payload.get("community_id"), payload.get("user_id")
        if isinstance(community_id, str) and isinstance(user_id, str):
            self.invalidate(community_id, user_id)

    async def on_live_ended(self, payload: dict[str, Any]) -> None:
        """The live ended on this node: its room takes no more messages, without waiting for the cache."""
        live = payload.get("live") or {}
        self._rooms.pop(RoomId.live(str(live.get("id"))), None)

    async def on_chat_settings(self, payload: dict[str, Any]) -> None:
        """Slow mode or the keyword filter changed: read them again on the next message."""
        self._communities.pop(str(payload.get("community_id")), None)


def _recoverable_from(since: dict[str, Any] | None, epoch: str, last: int) -> int | None:
    """The seq to recover after, when `since` allows a complete recovery; else None."""
    if not isinstance(since, dict):
        return None
    seq = since.get("seq")
    if since.get("epoch") != epoch or isinstance(seq, bool) or not isinstance(seq, int):
        return None
    if seq < 0 or seq > last or last - seq > RECOVER_MAX:
        return None
    return seq
