"""A `Relay` on a thread of its own, with its own event loop, for tools and tests in one process.

Media processes (`live.media.worker`) run their relay on their main loop; this is for measuring the
relay alone (`live.tools.relaybench`) and for tests that drive it next to their own peers.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from live.media.loop import new_loop
from live.media.relay.relay import Relay

log = logging.getLogger("live.media")

T = TypeVar("T")


class RelayThread:
    """Runs a `Relay` on its own thread and event loop; `call` bridges from any other loop."""

    def __init__(self, make: Callable[[], Relay]) -> None:
        self._make = make
        self.loop = new_loop()
        self.relay: Relay | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="media-relay", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.relay = self._make()
        except BaseException as exc:  # noqa: BLE001 - reported by start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self.loop.run_forever()
        self.loop.close()

    def start(self) -> Relay:
        self.thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error
        assert self.relay is not None
        return self.relay

    async def call(self, fn: Callable[[Relay], Coroutine[Any, Any, T]]) -> T:
        assert self.relay is not None
        future = asyncio.run_coroutine_threadsafe(fn(self.relay), self.loop)
        return await asyncio.wrap_future(future)

    def stop(self, timeout: float = 10.0) -> None:
        if not self.thread.is_alive():
            return
        if self.relay is not None:
            try:
                asyncio.run_coroutine_threadsafe(self.relay.close(), self.loop).result(timeout)
            except Exception:
                log.exception("closing the relay failed")
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout)
