"""The durable outbox and its sender: at-least-once delivery that survives crashes and outages.

Whatever must go out (a fan-out to expand, a push to send, a webhook to post) is first a row in
`outbox`, written in the same transaction as the fact it is about. A sender runs on every app
node and loops:

1. **Claim.** In one transaction, due rows (`next_attempt_at <= now`, no live lease) are leased to
   this node (`lease_owner`, `lease_until`), at most `cap(destination)` in flight per
   destination and `total` per node. On PostgreSQL the row locks are taken with SKIP LOCKED so
   nodes claiming together never wait on each other; SQLite serializes writers anyway. A lease
   that runs out (the node died mid-send) makes the row due again for any node.
2. **Run** each claimed row as its own task: a slow push service or webhook receiver holds only
   its own destination's slots, never the other destinations (nor the claim loop).
3. **Finish.** Done: the row is deleted. Failed: `attempts + 1`, `next_attempt_at` = now plus an
   exponential backoff (1 s, 2 s, 4 s ... capped at 5 min, with jitter), lease cleared, until 24 h
   after the row was made (then it is dropped, logged and counted). When a destination that was
   failing answers again, its other waiting rows are made due at once instead of each waiting out
   its own backoff: after an outage the backlog flows as soon as the receiver is back.

A crash at any point loses nothing: a row is deleted only after its work succeeded, so the worst
case is that work is done twice (a push or webhook sent again with the same `id`, which is why
every consumer deduplicates by `id`). "Now" is `services.clock` (tests move it); the loop's own
waiting is real time.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import enum
import json
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import Counter, Gauge
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from live.clock import Clock
from live.metrics import REGISTRY
from live.notifications.models import OutboxItem
from live.storage.db import Database
from live.storage.ids import new_id
from live.storage.outage import OutageLog

log = logging.getLogger("live.notifications.outbox")

RETRY_FOR = dt.timedelta(hours=24)
BACKOFF_FIRST = 1.0
BACKOFF_MAX = 300.0
POLL_SECONDS = 1.0

ATTEMPTS = Counter("live_outbox_attempts_total", "Outbox work attempted, by kind and outcome",
                   ["kind", "outcome"], registry=REGISTRY)
IN_FLIGHT = Gauge("live_outbox_in_flight", "Outbox rows this node is working on", registry=REGISTRY)


class Outcome(enum.Enum):
    DONE = "done"
    RETRY = "retry"
    DROP = "drop"  # will never succeed (a bad request, a subscription gone): forget it


@dataclasses.dataclass(frozen=True, slots=True)
class Attempt:
    outcome: Outcome
    error: str | None = None


DONE = Attempt(Outcome.DONE)


@dataclasses.dataclass(slots=True)
class Item:
    """A claimed row, as its handler sees it."""

    id: str
    kind: str
    destination: str
    payload: dict[str, Any]
    attempts: int
    created_at: dt.datetime


Handler = Callable[[Item], Awaitable[Attempt]]


def backoff(attempts: int, rng: random.Random | None = None) -> float:
    """Seconds to wait after the `attempts`-th failure (1, 2, 4 ... 300, each ±20%)."""
    base: float = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** max(0, attempts - 1))  # int ** int is Any to mypy
    return base * (rng or random).uniform(0.8, 1.2)


def enqueue(session: AsyncSession, kind: str, destination: str, payload: dict[str, Any],
            now: dt.datetime, item_id: str | None = None) -> str:
    """Add a row inside the caller's transaction (it goes out once that commits)."""
    row_id = item_id or new_id()
    session.add(OutboxItem(
        id=row_id, kind=kind, destination=destination, payload=json.dumps(payload, separators=(",", ":")),
        attempts=0, next_attempt_at=now, created_at=now,
    ))
    return row_id


class Sender:
    """Claims due rows and runs their handlers; one per app node."""

    def __init__(
        self,
        db: Database,
        clock: Callable[[], Clock],
        node_id: str,
        handlers: dict[str, Handler],
        *,
        cap: Callable[[str], int] = lambda destination: 32,
        total: int = 256,
        lease_seconds: float = 15.0,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self.db = db
        self._clock = clock
        self.node_id = node_id
        self.handlers = handlers
        self.cap = cap
        self.total = total
        self.lease = dt.timedelta(seconds=lease_seconds)
        self.poll_seconds = poll_seconds
        self._in_flight: dict[str, str] = {}  # row id -> destination
        self._per_destination: dict[str, int] = {}
        self._failing: set[str] = set()  # destinations whose last attempt failed
        self._outage = OutageLog(log, "outbox claim")
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._kicks = 0
        self._task: asyncio.Task[None] | None = None
        self._renewer: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def clock(self) -> Clock:
        return self._clock()

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="outbox-sender")
        self._renewer = asyncio.create_task(self._renew_forever(), name="outbox-leases")

    async def stop(self) -> None:
        """Stop claiming; work in flight is cancelled (its leases run out and another node, or
        this one after a restart, does it again: at-least-once)."""
        for task in (self._task, self._renewer, *self._tasks):
            if task is not None:
                task.cancel()
        await asyncio.gather(*(t for t in [self._task, self._renewer, *self._tasks] if t is not None),
                             return_exceptions=True)
        self._task = self._renewer = None

    def kick(self) -> None:
        """New rows (or a finished one): claim again now rather than at the next poll."""
        self._kicks += 1
        self._idle.clear()
        self._wake.set()

    async def settle(self) -> None:
        """Return once a claim pass found nothing due and nothing is in flight (tests, benchmarks)."""
        self.kick()
        await self._idle.wait()

    # -- the loop -------------------------------------------------------------------------------

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            # A kick during this pass may mean rows its claim did not see yet (committed after
            # its SELECT): then the pass does not count as idle, and the loop goes round again.
            seen = self._kicks
            try:
                claimed = await self.claim()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the database is down: try again later
                self._outage.failed(exc)
                claimed = []
            else:
                self._outage.worked()
            for item in claimed:
                self._start(item)
            if not claimed and not self._in_flight and seen == self._kicks:
                self._idle.set()
            if claimed and len(self._in_flight) < self.total:
                continue  # more may be due: claim again before sleeping
            try:
                # asyncio.timeout, not wait_for: Python 3.11's wait_for drops a cancel that arrives
                # as the wait completes (a kick during stop), and the loop then never stops.
                async with asyncio.timeout(self.poll_seconds):
                    await self._wake.wait()
            except TimeoutError:
                pass

    def _start(self, item: Item) -> None:
        self._in_flight[item.id] = item.destination
        self._per_destination[item.destination] = self._per_destination.get(item.destination, 0) + 1
        IN_FLIGHT.set(len(self._in_flight))
        task = asyncio.create_task(self._run(item), name=f"outbox-{item.kind}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, item: Item) -> None:
        try:
            handler = self.handlers.get(item.kind)
            if handler is None:
                attempt = Attempt(Outcome.RETRY, f"no handler for {item.kind!r} on this node")
            else:
                try:
                    attempt = await handler(item)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # a bug or a dependency down: retry later
                    log.exception("outbox %s %s failed", item.kind, item.id)
                    attempt = Attempt(Outcome.RETRY, f"{type(exc).__name__}: {exc}"[:300])
            ATTEMPTS.labels(item.kind, attempt.outcome.value).inc()
            try:
                await self.finish(item, attempt)
            except Exception as exc:  # noqa: BLE001 - the lease runs out and the row is retried
                log.warning("outbox finish of %s failed: %s", item.id, exc)
        finally:
            self._in_flight.pop(item.id, None)
            left = self._per_destination.get(item.destination, 1) - 1
            if left > 0:
                self._per_destination[item.destination] = left
            else:
                self._per_destination.pop(item.destination, None)
            IN_FLIGHT.set(len(self._in_flight))
            self.kick()

    async def _renew_forever(self) -> None:
        """Keep this node's leases alive while it works: short leases, so rows a dead node held
        are free again within `lease` (not after the longest possible request)."""
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            ids = list(self._in_flight)
            if not ids:
                continue
            try:
                async with self.db.session() as session:
                    await session.execute(
                        update(OutboxItem)
                        .where(OutboxItem.id.in_(ids), OutboxItem.lease_owner == self.node_id)
                        .values(lease_until=self.clock.now() + self.lease)
                    )
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the database is down: leases may lapse (at-least-once)
                log.warning("renewing outbox leases failed: %s", exc)

    # -- the database ---------------------------------------------------------------------------

    def _due(self, now: dt.datetime) -> Any:
        return (OutboxItem.next_attempt_at <= now) & or_(OutboxItem.lease_until.is_(None), OutboxItem.lease_until < now)

    async def claim(self) -> list[Item]:
        """Lease due rows to this node within the caps; the rows claimed."""
        free_total = self.total - len(self._in_flight)
        if free_total <= 0:
            return []
        now = self.clock.now()
        mine = list(self._in_flight)
        claimed: list[Item] = []
        async with self.db.session() as session:
            postgres = session.get_bind().dialect.name == "postgresql"
            stmt = select(OutboxItem.destination, func.count()).where(self._due(now))
            if mine:
                stmt = stmt.where(OutboxItem.id.not_in(mine))
            due = (await session.execute(stmt.group_by(OutboxItem.destination))).all()
            for dest, _count in sorted(due, key=lambda row: -row[1]):
                take = min(self.cap(dest) - self._per_destination.get(dest, 0), free_total - len(claimed))
                if take <= 0:
                    continue
                pick = (
                    select(OutboxItem.id)
                    .where(OutboxItem.destination == dest, self._due(now))
                    .order_by(OutboxItem.next_attempt_at)
                    .limit(take)
                )
                if mine:
                    pick = pick.where(OutboxItem.id.not_in(mine))
                if postgres:
                    pick = pick.with_for_update(skip_locked=True)
                ids = list((await session.execute(pick)).scalars())
                if not ids:
                    continue
                await session.execute(
                    update(OutboxItem).where(OutboxItem.id.in_(ids))
                    .values(lease_owner=self.node_id, lease_until=now + self.lease)
                )
                rows = (await session.execute(select(OutboxItem).where(OutboxItem.id.in_(ids)))).scalars()
                for row in rows:
                    claimed.append(Item(row.id, row.kind, row.destination, json.loads(row.payload),
                                        row.attempts, row.created_at))
                if len(claimed) >= free_total:
                    break
        return claimed

    async def finish(self, item: Item, attempt: Attempt) -> None:
        now = self.clock.now()
        mine = (OutboxItem.id == item.id) & (OutboxItem.lease_owner == self.node_id)
        async with self.db.session() as session:
            if attempt.outcome is Outcome.DONE:
                await session.execute(delete(OutboxItem).where(mine))
                if item.destination in self._failing:
                    # It answers again: its backlog need not wait out each row's own backoff.
                    self._failing.discard(item.destination)
                    await session.execute(
                        update(OutboxItem)
                        .where(OutboxItem.destination == item.destination, OutboxItem.next_attempt_at > now,
                               OutboxItem.lease_owner.is_(None))
                        .values(next_attempt_at=now)
                    )
                return
            if attempt.outcome is Outcome.DROP:
                log.warning("outbox %s %s to %s dropped: %s", item.kind, item.id, item.destination, attempt.error)
                await session.execute(delete(OutboxItem).where(mine))
                return
            self._failing.add(item.destination)
            if now - item.created_at >= RETRY_FOR:
                log.error("outbox %s %s to %s given up after %d attempts over 24 h: %s",
                          item.kind, item.id, item.destination, item.attempts + 1, attempt.error)
                ATTEMPTS.labels(item.kind, "expired").inc()
                await session.execute(delete(OutboxItem).where(mine))
                return
            delay = backoff(item.attempts + 1)
            await session.execute(
                update(OutboxItem).where(mine).values(
                    attempts=item.attempts + 1,
                    next_attempt_at=now + dt.timedelta(seconds=delay),
                    lease_owner=None,
                    lease_until=None,
                    last_error=(attempt.error or "")[:300] or None,
                )
            )

    async def renew(self, session: AsyncSession, item: Item, payload: dict[str, Any] | None = None) -> int:
        """Extend this node's lease on `item` (long work: a fan-out), saving its progress.

        Returns 0 when the lease is no longer this node's (another node carries the work on).
        """
        values: dict[str, Any] = {"lease_until": self.clock.now() + self.lease}
        if payload is not None:
            values["payload"] = json.dumps(payload, separators=(",", ":"))
        result = await session.execute(
            update(OutboxItem)
            .where(OutboxItem.id == item.id, OutboxItem.lease_owner == self.node_id)
            .values(**values)
        )
        return int(getattr(result, "rowcount", 0) or 0)
