"""The grace period of a live whose host is gone: one timer per live on the node that saw it go.

`start` arms a timer (a second `start` for the same live keeps the first); `cancel` disarms it
(the host is back). At expiry `still_here` is asked (is the host connected through any node, or
still sending media?) and, if not, `expire` ends the live. Timers never outlive the node.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("live.lives.grace")

Check = Callable[[str, str], Awaitable[bool]]
Expire = Callable[[str, str], Awaitable[None]]


class GracePeriod:
    def __init__(self, seconds: float, still_here: Check, expire: Expire) -> None:
        self.seconds = seconds
        self._still_here = still_here
        self._expire = expire
        self._timers: dict[str, asyncio.Task[None]] = {}

    def __contains__(self, lid: str) -> bool:
        timer = self._timers.get(lid)
        return timer is not None and not timer.done()

    def start(self, lid: str, host_id: str) -> None:
        if lid in self:
            return
        self._timers[lid] = asyncio.create_task(self._run(lid, host_id), name=f"live-grace-{lid}")

    def cancel(self, lid: str) -> None:
        timer = self._timers.pop(lid, None)
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()

    async def _run(self, lid: str, host_id: str) -> None:
        try:
            await asyncio.sleep(self.seconds)
            if await self._still_here(lid, host_id):
                return
            log.info("live %s: host %s gone for %.0fs; ending it", lid, host_id, self.seconds)
            await self._expire(lid, host_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("live %s: grace period failed", lid)
        finally:
            if self._timers.get(lid) is asyncio.current_task():
                del self._timers[lid]

    async def close(self) -> None:
        timers = list(self._timers.values())
        self._timers.clear()
        for timer in timers:
            timer.cancel()
        for timer in timers:
            try:
                await timer
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - shutting down
                pass
