"""How `live` runs under uvicorn: the same options for `live serve`, its workers, and the tests.

The HTTP protocol is `live.http.protocol`'s (limits on heads, bodies, timers, connections per
address), the WebSocket protocol `live.signaling.wire`'s (control frames counted, pongs bounded,
the synchronous write for fan-out); uvicorn believes `X-Forwarded-For` only from
`LIVE_FORWARDED_ALLOW_IPS`, and every log line passes the token filter (`live.logs`).
"""

from __future__ import annotations

import functools
from typing import Any

from live.config import Settings
from live.http.protocol import HttpLimits, LiveHttpProtocol, address_table
from live.http.uvicorn_probe import check_uvicorn
from live.logs import log_config
from live.signaling.endpoint import uvicorn_ws_options


def uvicorn_options(settings: Settings, *, root_logging: bool = True) -> dict[str, Any]:
    """Keyword arguments for `uvicorn.run` / `uvicorn.Config` (all but the app, host and port).

    `root_logging` False leaves the root logger to the host process (tests). Raises RuntimeError if
    the installed uvicorn lacks what the protocols build on (`live.http.uvicorn_probe`).
    """
    check_uvicorn()
    return {
        "http": functools.partial(LiveHttpProtocol, limits=HttpLimits.of(settings), addresses=address_table(settings)),
        **uvicorn_ws_options(settings),
        "timeout_keep_alive": settings.keepalive_timeout_seconds,
        "proxy_headers": False,  # the app applies them itself, past its HLS fast path (live.app.LiveApp)
        "log_config": log_config(settings.log_level, root=root_logging),
        "log_level": settings.log_level.lower(),
    }
