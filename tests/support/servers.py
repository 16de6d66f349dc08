"""Run a real `live` app on a free port inside the test's event loop, and talk to it."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import os
import secrets
import socket
import ssl
import tempfile
from collections.abc import AsyncIterator
from typing import Any

import httpx
import uvicorn

from live.app import create_app
from live.auth.tokens import mint
from live.config import Settings
from live.http.api import Api
from live.http.serving import uvicorn_options
from tests.support.redis_server import free_port

SECRET = "test-secret-" + "x" * 40
METRICS_TOKEN = "test-metrics-" + "m" * 20
_counter = itertools.count()
# One TLS context for every test HTTP client (`verify=TLS`): httpx makes a new one per client
# otherwise, loading the CA bundle each time (~20 ms of CPU), for servers that are plain http.
TLS = ssl.create_default_context()
# Generous: start-up spawns the media worker processes, on a machine the suite's workers share.
START_TIMEOUT = 30.0
_var_dir: str | None = None


def var_dir() -> str:
    """This test process's own var dir (uploads, recordings, HLS, keys): one per xdist worker, so
    parallel workers never share one, and none is left in the checkout."""
    global _var_dir
    if _var_dir is None:
        _var_dir = tempfile.mkdtemp(prefix=f"live-var-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-")
    return _var_dir


def uid(prefix: str = "u") -> str:
    """A user (or any) id unique to this test run."""
    return f"{prefix}{next(_counter)}-{secrets.token_hex(3)}"


def settings(**overrides: Any) -> Settings:
    env = {"LIVE_SECRET": SECRET, "LIVE_METRICS_TOKEN": METRICS_TOKEN, "LIVE_VAR_DIR": var_dir()}
    return Settings.load(env, **overrides)


class QuickServer(uvicorn.Server):
    """uvicorn's Server, but stopped without its fixed pauses: `stop()` wakes the main loop (uvicorn
    looks at `should_exit` every 0.1 s), and the shutdown waits for the connections it asked to close
    only until they are gone (uvicorn sleeps 0.1 s whatever they do). Each test's server stops some
    0.2 s sooner; what a shutdown does, and in what order, is uvicorn's own (`live serve` is not this)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self.should_exit = True
        self._stopping.set()

    async def main_loop(self) -> None:
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), 0.1)
            should_exit = await self.on_tick(counter)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # uvicorn 0.55's Server.shutdown, with its `await asyncio.sleep(0.1)` after the connections
        # were asked to shut down replaced by a wait for them to be gone (at most those 0.1 s).
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 0.1
        while self.server_state.connections and loop.time() < deadline:
            await asyncio.sleep(0.005)
        try:
            async with asyncio.timeout(self.config.timeout_graceful_shutdown):
                await self._wait_tasks_to_complete()
        except TimeoutError:
            for t in self.server_state.tasks:
                t.cancel(msg="Task cancelled, timeout graceful shutdown exceeded")
        if not self.force_exit:
            await self.lifespan.shutdown()


@dataclasses.dataclass
class RunningServer:
    url: str
    settings: Settings
    app: Any

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://", 1)

    def token(self, user_id: str, name: str | None = None, ttl: int = 3600) -> str:
        return mint(self.settings.secret or "", user_id, name=name, ttl=ttl)

    def client(self, user_id: str | None = None, name: str | None = None) -> httpx.AsyncClient:
        """An HTTP client, signed in as `user_id` when given (the caller closes it)."""
        headers = {}
        if user_id is not None:
            headers["Authorization"] = f"Bearer {self.token(user_id, name)}"
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=30, verify=TLS)

    async def metrics(self) -> str:
        """The server's `GET /metrics` text, fetched with the operator's token."""
        async with httpx.AsyncClient(base_url=self.url, timeout=30, verify=TLS) as c:
            resp = await c.get("/metrics", headers={"Authorization": f"Bearer {self.settings.metrics_token}"})
        resp.raise_for_status()
        return resp.text

    @property
    def services(self) -> Any:
        return self.app.state.services


@contextlib.asynccontextmanager
async def run_server(
    cfg: Settings, *, extra_apis: tuple[Api[Any], ...] = (), ws: str | None = None
) -> AsyncIterator[RunningServer]:
    """Serve `create_app(cfg)` with uvicorn on a free port until the block exits.

    `extra_apis`: endpoints of the test's own (tests/support/boom.py's failing routes).

    `ws` names another uvicorn WebSocket implementation than the one `live serve` uses (a server
    without the synchronous-write extension, say).
    """
    # Bound here and handed to uvicorn: the port is ours from the start (no window in which a
    # parallel test could take it). Made with proto IPPROTO_TCP, as the socket uvicorn binds itself
    # (`live serve`) is: asyncio sets TCP_NODELAY on the connections a listener accepts only when its
    # proto says TCP, and with proto 0 every response written in two parts (head, then body) waited
    # out Nagle against the client's delayed ACK, about 40 ms a request.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", free_port()))
    port = int(sock.getsockname()[1])
    cfg = dataclasses.replace(cfg, host="127.0.0.1", port=port)
    app = create_app(cfg, extra_apis=extra_apis)
    options = {**uvicorn_options(cfg, root_logging=False), "log_level": "warning"}
    if ws is not None:
        options["ws"] = ws
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on", **options)
    server = QuickServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        deadline = asyncio.get_running_loop().time() + START_TIMEOUT
        while not (server.started or task.done()) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        if task.done():
            task.result()
            raise RuntimeError("server exited during start-up")
        if not server.started:
            raise RuntimeError(f"server did not start within {START_TIMEOUT:g} s")
        yield RunningServer(url=f"http://127.0.0.1:{port}", settings=cfg, app=app)
    finally:
        server.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 10)
        sock.close()
