"""The grace period of a live whose host is not there: one timer per live on the node that armed it.

A timer is armed when a live starts (its host has not connected yet) and when the host's last
connection on a node goes; `cancel` disarms it (the host is in the room). At expiry `presence`
is asked where the host is:

- `GONE`: `expire` ends the live;
- `CONNECTED`: in the room through some node, whose gateway reports when that connection goes;
- `SENDING`: no connection, but still sending media (WHIP from a broadcasting tool); nothing
  reports when that stops, so the timer runs again and asks again.

Timers never outlive the node. `sleep` is injected so tests move time by hand
(`tests.support.clock.ManualClock`) instead of waiting for a grace period.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("live.lives.grace")


class HostPresence(enum.Enum):
    GONE = "gone"
    CONNECTED = "connected"
    SENDING = "sending"


Check = Callable[[str, str], Awaitable[HostPresence]]
Expire = Callable[[str, str], Awaitable[None]]
Sleep = Callable[[float], Awaitable[None]]


class GracePeriod:
    def __init__(self, seconds: float, presence: Check, expire: Expire, *, sleep: Sleep = asyncio.sleep) -> None:
        self.seconds = seconds
        self.sleep = sleep
        self._presence = presence
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
            while True:
                await self.sleep(self.seconds)
                presence = await self._presence(lid, host_id)
                if presence is HostPresence.CONNECTED:
                    return
                if presence is HostPresence.GONE:
                    log.info("live %s: host %s not there for %.0fs; ending it", lid, host_id, self.seconds)
                    await self._expire(lid, host_id)
                    return
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
