"""A serving process's heap: what start-up built is set aside from the cyclic garbage collector.

A full collection (generation 2) walks every container object the collector tracks, and holds
the event loop while it does: every socket, the chat writer, the flusher wait. After start-up a
node holds about 190,000 such objects that live as long as the process (modules, classes,
functions, SQLAlchemy's tables and cached statements, the codec tables), and walking them took
60-110 ms on the benchmark machine, a few times a minute under load: the largest part of chat's
p99 at 600 messages a second in one room (docs/fanout.md). `gc.freeze()` moves them to the
permanent generation, which collections skip: a full collection then walks what was made since
(about 20 ms with 500 members chatting).

Nothing is lost by it: what start-up built and later drops is freed by reference counting as
before; only a cycle among those objects would stay (the process's lifetime is theirs anyway).
Tests build many apps in one process and do not settle it (`create_app(settle_heap=False)`).
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger("live.heap")


def settle() -> int:
    """Collect what start-up left over, then freeze the rest; the number of objects frozen."""
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.debug("froze %d objects built at start-up", frozen)
    return frozen
