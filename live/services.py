"""What every app node has, whatever its domains: settings, database, bus, users, events, clock.

Handlers that need only these are typed `Ctx[Services, Services, ...]`; the app's own parts
(`live.app.Node`) extend it with the domains' services.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

from live.auth.users import UserDirectory
from live.bus import Bus
from live.clock import Clock, SystemClock
from live.config import Settings
from live.events import Events
from live.http.api import WriteGuard
from live.storage.db import Database


@dataclasses.dataclass(kw_only=True)
class Services:
    settings: Settings
    db: Database
    bus: Bus
    users: UserDirectory
    events: Events
    # "What time is it" for background work (notifications, schedules, usage): read when needed,
    # so a test can put its own clock here and move time.
    clock: Clock = dataclasses.field(default_factory=SystemClock)
    # Called for every authenticated HTTP request that is not a read, before its body is read
    # (`live.http.api.WriteGuard`).
    write_guards: list[WriteGuard] = dataclasses.field(default_factory=list)


class Core(Protocol):
    """`Services` as a Protocol, for the Protocols of handler modules to extend."""

    settings: Settings
    db: Database
    bus: Bus
    users: UserDirectory
    events: Events
    clock: Clock
    write_guards: list[WriteGuard]
