"""Where chat messages are kept: the database (the truth) and a capped Redis Stream per room.

Database: `chat_rooms` holds each room's epoch and last seq and is the room's lock;
`chat_messages` holds every message with its seq. A room row is made on first use.

Redis (when configured): `{{prefix}room.{room}}:chat` is a stream of the room's latest ~1000 events,
written by one Lua script together with the PUBLISH of the same events, as Centrifugo does: a
message is either in the stream and published, or neither (a batch of a group commit is one
script: an entry per message, one PUBLISH). Deletions (by an author, a
moderator, or an account's erasure) are recorded in the database only; readers of the stream
drop the seqs the database marks deleted, so erased text is never served from Redis. The stream
is a fast path only: a read that does not find every wanted seq, in order, in the room's epoch
answers None and the caller reads the database.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from live.bus import SharedRedis
from live.chat.models import ChatMessage, ChatRoom
from live.rooms.channels import decode_event, room_channel
from live.storage.base import iso

log = logging.getLogger("live.chat.store")

STREAM_MAXLEN = 1000
STREAM_TTL_SECONDS = 7 * 86400


def new_epoch() -> str:
    return secrets.token_hex(4)


async def room_row(session: AsyncSession, room: str, *, lock: str | None = "update") -> ChatRoom:
    """The room's row, made if missing; `lock` "update" (appends) or "share" (consistent reads).

    PostgreSQL takes the row lock; SQLite's BEGIN IMMEDIATE already holds the database's.
    """
    stmt = select(ChatRoom).where(ChatRoom.room == room)
    if lock is not None:
        stmt = stmt.with_for_update(read=lock == "share")
    row = (await session.execute(stmt)).scalar_one_or_none()
    if row is not None:
        return row
    try:
        async with session.begin_nested():
            session.add(ChatRoom(room=room, epoch=new_epoch(), last_seq=0))
    except IntegrityError:
        pass  # another node made it first: take theirs
    row = (await session.execute(stmt.execution_options(populate_existing=True))).scalar_one()
    return row


async def by_nonce(session: AsyncSession, room: str, user_id: str, nonce: str) -> ChatMessage | None:
    stmt = select(ChatMessage).where(
        ChatMessage.room == room, ChatMessage.user_id == user_id, ChatMessage.nonce == nonce
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def messages(
    session: AsyncSession, room: str, after_seq: int, upto_seq: int | None = None, limit: int | None = None
) -> list[ChatMessage]:
    """Messages with seq in (after_seq, upto_seq], not deleted, oldest first."""
    stmt = select(ChatMessage).where(
        ChatMessage.room == room, ChatMessage.seq > after_seq, ChatMessage.deleted_at.is_(None)
    )
    if upto_seq is not None:
        stmt = stmt.where(ChatMessage.seq <= upto_seq)
    stmt = stmt.order_by(ChatMessage.seq)
    if limit is not None:
        stmt = stmt.limit(limit)
    return list((await session.execute(stmt)).scalars())


async def latest(session: AsyncSession, room: str, count: int) -> list[ChatMessage]:
    """The newest `count` messages that are not deleted, oldest first."""
    stmt = (
        select(ChatMessage)
        .where(ChatMessage.room == room, ChatMessage.deleted_at.is_(None))
        .order_by(ChatMessage.seq.desc())
        .limit(count)
    )
    return list(reversed(list((await session.execute(stmt)).scalars())))


def event_of(msg: ChatMessage, epoch: str) -> dict[str, Any]:
    """The `chat.message` event of a stored message (the one format on the bus and in history)."""
    return {
        "type": "chat.message",
        "room": msg.room,
        "epoch": epoch,
        "seq": msg.seq,
        "id": msg.id,
        "user": {"id": msg.user_id, "name": msg.user_name},
        "text": msg.text,
        "ts": iso(msg.created_at),
    }


def event_of_row(row: dict[str, Any], epoch: str) -> dict[str, Any]:
    """`event_of` for a row about to be inserted (the columns of `ChatMessage` as a dict)."""
    return {
        "type": "chat.message",
        "room": row["room"],
        "epoch": epoch,
        "seq": row["seq"],
        "id": row["id"],
        "user": {"id": row["user_id"], "name": row["user_name"]},
        "text": row["text"],
        "ts": iso(row["created_at"]),
    }


# -- the Redis stream ---------------------------------------------------------------------------

# KEYS[1] stream; ARGV: maxlen, ttl, channel, publish command, payload, epoch, then a seq and its
# event's bytes for each message of the batch (an entry each; the payload is published once).
_APPEND = """
for i = 7, #ARGV, 2 do
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 's', ARGV[i], 'e', ARGV[6], 'd', ARGV[i + 1])
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call(ARGV[4], ARGV[3], ARGV[5])
return 1
"""


class StreamHistory:
    """The capped stream per room on the bus's Redis, written atomically with the publish."""

    def __init__(self, shared: SharedRedis) -> None:
        self.client = shared.client
        self.prefix = shared.prefix
        self._publish_command = "SPUBLISH" if shared.sharded else "PUBLISH"
        self._append = shared.client.register_script(_APPEND)

    def stream_key(self, room: str, channel: str | None = None) -> str:
        # The hash tag is the room's channel name on the wire, so in a Redis Cluster the stream
        # and the shard channel live in the same slot (a script may only touch one slot).
        return "{" + self.prefix + (channel or room_channel(room)) + "}:chat"

    async def append_and_publish(
        self, room: str, epoch: str, channel: str, entries: list[tuple[int, bytes]], payload: bytes
    ) -> None:
        """Append each (seq, event bytes) to the room's stream and publish `payload` (the batch)."""
        args: list[Any] = [STREAM_MAXLEN, STREAM_TTL_SECONDS, self.prefix + channel, self._publish_command,
                           payload, epoch]
        for seq, data in entries:
            args += [seq, data]
        await self._append(keys=[self.stream_key(room, channel)], args=args)

    async def read(self, room: str, epoch: str, after_seq: int, upto_seq: int) -> list[dict[str, Any]] | None:
        """Events with seq in (after_seq, upto_seq], oldest first; or None when the stream does
        not hold every one of them (trimmed, lost, or a write failed). Deleted messages are
        still in it: the caller drops them (the database says which)."""
        want = upto_seq - after_seq
        if want <= 0:
            return []
        if want > STREAM_MAXLEN:
            return None
        # Newest first; entries past upto_seq may exist (committed after the caller's read), and
        # two nodes' entries may be out of order (then this answers None): read a little more.
        entries = await self.client.xrevrange(self.stream_key(room), "+", "-", count=want + 32)
        picked: list[bytes] = []
        expected = upto_seq
        for _id, fields in entries:
            seq = int(fields[b"s"])
            if seq > expected:
                continue
            if seq != expected or fields[b"e"].decode() != epoch:
                return None
            picked.append(fields[b"d"])
            expected -= 1
            if expected == after_seq:
                break
        if expected != after_seq:
            return None
        out: list[dict[str, Any]] = []
        for data in reversed(picked):
            event = decode_event(data)
            assert isinstance(event, dict)
            out.append(event)
        return out


async def deleted_seqs(session: AsyncSession, room: str, after_seq: int, upto_seq: int) -> set[int]:
    """Seqs in (after_seq, upto_seq] that are deleted (a primary-key range scan)."""
    stmt = select(ChatMessage.seq).where(
        ChatMessage.room == room,
        ChatMessage.seq > after_seq,
        ChatMessage.seq <= upto_seq,
        ChatMessage.deleted_at.is_not(None),
    )
    return set((await session.execute(stmt)).scalars())
