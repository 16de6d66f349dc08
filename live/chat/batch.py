"""The database half of a group commit: one batch of a room's messages, as one synchronous unit.

`append_batch(conn, room, pending)` runs inside the caller's write transaction (`Database.write`)
and does a fixed few statements whatever the batch holds: the room row (locked: `FOR UPDATE` on
PostgreSQL, SQLite's writer holds the whole database), the earlier messages with the batch's
(user, nonce) pairs (one query), when each sender in slow mode last wrote (one query for all of
them), one INSERT of every new row, one UPDATE of the room's `last_seq`. It is synchronous so
that SQLite runs it on the event loop without a thread hop per statement (`live.storage.sqlite`);
PostgreSQL runs the
same function through `run_sync`. The caller publishes the events and commits.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from live.chat import rules
from live.chat.models import ChatMessage, ChatRoom
from live.chat.store import event_of_row, new_epoch
from live.errors import ApiError
from live.storage.base import utcnow
from live.storage.ids import new_id

# A mapped class's `__table__` is typed as any FROM clause; these are the declared tables.
MESSAGES = cast(Table, ChatMessage.__table__)
ROOMS = cast(Table, ChatRoom.__table__)

# Built once: a statement object keeps its cache key, so running it again skips SQLAlchemy's
# per-call construction and cache-key walk (a third of the batch's time on the loop, profiled).
_ROOM = select(ROOMS.c.epoch, ROOMS.c.last_seq).where(ROOMS.c.room == bindparam("room")).with_for_update()
_NEW_ROOM = insert(ROOMS)
_INSERT = insert(MESSAGES)
_MOVE = update(ROOMS).where(ROOMS.c.room == bindparam("the_room")).values(last_seq=bindparam("new_last_seq"))
_LAST_AT = (
    select(MESSAGES.c.user_id, func.max(MESSAGES.c.created_at))
    .where(MESSAGES.c.room == bindparam("room"), MESSAGES.c.user_id.in_(bindparam("users", expanding=True)))
    .group_by(MESSAGES.c.user_id)
)
_COLUMNS = ", ".join(c.name for c in MESSAGES.c)


@dataclasses.dataclass(frozen=True, slots=True)
class Pending:
    """One message of the batch, as the writer needs it."""

    user_id: str
    user_name: str
    text: str
    nonce: str
    slow: int  # the room's slow mode for this user, seconds (0: none)


@dataclasses.dataclass(slots=True)
class Stored:
    """What a batch did: each pending message's answer (in order), and the new events to publish."""

    epoch: str
    answers: list[dict[str, Any] | ApiError]
    events: list[dict[str, Any]]
    repeats: int  # answered with an earlier message of the same nonce


def append_batch(conn: Connection, room: str, pending: list[Pending]) -> Stored:
    """Store the batch's new messages with consecutive seqs (see the module's docstring)."""
    epoch, seq = _room(conn, room)
    seen = _by_nonces(conn, room, epoch, {(p.user_id, p.nonce) for p in pending})
    last_at = _last_sent_at(conn, room, {p.user_id for p in pending if p.slow and (p.user_id, p.nonce) not in seen})
    now = utcnow()  # under the room's lock, so every node judges slow mode by one clock order
    at = now.timestamp()
    out = Stored(epoch, [], [], 0)
    rows: list[dict[str, Any]] = []
    for p in pending:
        previous = seen.get((p.user_id, p.nonce))
        if previous is not None:  # a retry (or a twin in this batch): the stored event
            out.repeats += 1
            out.answers.append(previous)
            continue
        if p.slow:
            wait = rules.slow_mode_wait(last_at.get(p.user_id), at, p.slow)
            if wait > 0:
                out.answers.append(rules.slow_mode_error(wait))
                continue
        seq += 1
        row = {"room": room, "seq": seq, "id": new_id(), "user_id": p.user_id, "user_name": p.user_name,
               "text": p.text, "nonce": p.nonce, "created_at": now}
        event = event_of_row(row, epoch)
        seen[(p.user_id, p.nonce)] = event
        last_at[p.user_id] = at
        rows.append(row)
        out.events.append(event)
        out.answers.append(event)
    if rows:
        conn.execute(_INSERT, rows)  # one executemany
        conn.execute(_MOVE, {"the_room": room, "new_last_seq": seq})
    return out


def _room(conn: Connection, room: str) -> tuple[str, int]:
    """The room's (epoch, last_seq), its row locked; the row is made on first use."""
    found = conn.execute(_ROOM, {"room": room}).first()
    if found is None:
        savepoint = conn.begin_nested()
        try:
            conn.execute(_NEW_ROOM, {"room": room, "epoch": new_epoch(), "last_seq": 0, "created_at": utcnow()})
            savepoint.commit()
        except IntegrityError:
            savepoint.rollback()  # another node made it first: take theirs
        found = conn.execute(_ROOM, {"room": room}).one()
    return str(found.epoch), int(found.last_seq)


def _by_nonces(
    conn: Connection, room: str, epoch: str, keys: set[tuple[str, str]]
) -> dict[tuple[str, str], dict[str, Any]]:
    """The stored events of the room's messages with these (user_id, nonce) keys."""
    if not keys:
        return {}
    # One exact (room, user_id, nonce) term per pair, OR-ed: each is a probe of the unique index
    # (SQLite: MULTI-INDEX OR; PostgreSQL: a BitmapOr). A row-value IN, `(user_id, nonce) IN
    # (VALUES ...)`, made SQLite walk every message of the room (0.6 ms at 4,500, growing with
    # the room); a filter on the nonce alone did the same on both databases.
    # As text (typed by the table's columns): a fresh expression of N terms would cost a
    # cache-key walk of N terms per call, the text is cached by its string.
    pairs = sorted(keys)
    terms = " OR ".join(f"(room = :room AND user_id = :u{i} AND nonce = :n{i})" for i in range(len(pairs)))
    stmt = text(f"SELECT {_COLUMNS} FROM chat_messages WHERE {terms}").columns(*MESSAGES.c)
    params: dict[str, Any] = {"room": room}
    for i, (user_id, nonce) in enumerate(pairs):
        params[f"u{i}"] = user_id
        params[f"n{i}"] = nonce
    return {(r["user_id"], r["nonce"]): event_of_row(dict(r), epoch) for r in conn.execute(stmt, params).mappings()}


def _last_sent_at(conn: Connection, room: str, user_ids: set[str]) -> dict[str, float]:
    """When each of these users last wrote in the room (POSIX seconds), in one query, from the
    database so every node agrees. Users who never wrote here are left out."""
    if not user_ids:
        return {}
    out: dict[str, float] = {}
    for user_id, value in conn.execute(_LAST_AT, {"room": room, "users": sorted(user_ids)}):
        if value is None:
            continue
        if isinstance(value, str):  # defensive: an aggregate that lost the column's type
            value = dt.datetime.fromisoformat(value)
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        out[user_id] = value.timestamp()
    return out
