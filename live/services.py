"""What one app node holds while it runs: settings, database, bus, and the domains' services."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

from live.auth.tokens import Principal
from live.auth.users import UserDirectory
from live.bus import Bus
from live.clock import Clock, SystemClock
from live.config import Settings
from live.events import Events
from live.storage.db import Database


@dataclasses.dataclass
class Services:
    settings: Settings
    db: Database
    bus: Bus
    users: UserDirectory
    events: Events
    # "What time is it" for background work (notifications, schedules, usage); tests move it.
    clock: Clock = dataclasses.field(default_factory=SystemClock)
    # Domain services attach here at start-up (e.g. "gateway", "media"), keyed by component name.
    components: dict[str, Any] = dataclasses.field(default_factory=dict)
    # Called for every authenticated HTTP request that is not a read, before its body is read,
    # with (principal, method, route path): raise an ApiError to refuse it (a suspended account).
    write_guards: list[WriteGuard] = dataclasses.field(default_factory=list)


WriteGuard = Callable[[Principal, str, str], Awaitable[None]]
