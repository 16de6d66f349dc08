"""Where a live's media goes: the data workers report, and the choices made from it (pure).

Every media process reports its state each second (`MediaWorker.state`): its load, its pipe's
address, and for each feed it carries whether it is the feed's origin and how many viewers it has
there. Placement is read from that data, not kept in a handler:

- a publisher's room goes to the least-loaded worker (its origin), claimed once so that app nodes
  racing on the same room agree;
- a viewer goes to the least-loaded worker that already carries the feed while that worker has
  fewer than `per_worker` viewers of it; when every carrier is full, to the least-loaded worker that
  does not carry it yet, which becomes a new edge of the feed's tree; when every worker carries it,
  to the carrier with the fewest of its viewers.

States are up to a second old, so a join storm would pile onto one worker: the placements an app
node made since a worker's last report are added to what it reported (`recent`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any


@dataclasses.dataclass(frozen=True)
class WorkerState:
    """What one media process last reported."""

    id: str
    pipe: str
    load: int
    viewers: int
    feeds: Mapping[str, tuple[bool, int]]  # feed key -> (is its origin, viewers here)
    counters: Mapping[str, Any]
    at: float  # the worker's clock (time.time()) when it reported

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> WorkerState:
        feeds = raw.get("feeds") or {}
        return cls(
            id=str(raw["id"]),
            pipe=str(raw.get("pipe") or ""),
            load=int(raw.get("load") or 0),
            viewers=int(raw.get("viewers") or 0),
            feeds={str(k): (bool(v[0]), int(v[1])) for k, v in feeds.items()},
            counters=raw.get("counters") or {},
            at=float(raw.get("at") or 0.0),
        )

    def viewers_of(self, feed: str) -> int:
        return self.feeds.get(feed, (False, 0))[1]

    def carries(self, feed: str) -> bool:
        return feed in self.feeds


def choose_origin(workers: Mapping[str, WorkerState], recent: Mapping[str, int] | None = None) -> str:
    """The worker a new room's publishers go to: the least loaded."""
    recent = recent or {}
    return min(workers.values(), key=lambda w: (w.load + recent.get(w.id, 0), w.id)).id


def choose_viewer_worker(feed: str, origin: str, workers: Mapping[str, WorkerState], per_worker: int,
                         recent: Mapping[tuple[str, str], int] | None = None) -> str:
    """The worker a new viewer of `feed` goes to (see the module's doc)."""
    recent = recent or {}

    def viewers(w: WorkerState) -> int:
        return w.viewers_of(feed) + recent.get((w.id, feed), 0)

    def load(w: WorkerState) -> int:
        return w.load + sum(n for (wid, _), n in recent.items() if wid == w.id)

    carriers = [w for w in workers.values() if w.id == origin or w.carries(feed) or (w.id, feed) in recent]
    roomy = [w for w in carriers if viewers(w) < per_worker]
    if roomy:
        return min(roomy, key=lambda w: (load(w), w.id != origin, w.id)).id
    others = [w for w in workers.values() if w not in carriers]
    if others:
        return min(others, key=lambda w: (load(w), w.id)).id
    return min(carriers, key=lambda w: (viewers(w), load(w), w.id)).id
