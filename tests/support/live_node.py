"""A real `live serve` process on a free port: start it, wait until ready, kill -9 it, start it again.

    node = LiveNode(env_for(db_url, redis_url, var_dir), log_dir)
    await node.start()          # returns once GET /readyz answers 200
    node.kill9()                # SIGKILL to the server process only (its children see it die)
    await node.start()          # a fresh process on the same port
    node.stop()                 # SIGTERM, then SIGKILL if it lingers

Used by the reliability tests (tests/test_reliability_*.py) and the soak (tests/test_soak.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from live.auth.tokens import mint
from tests.support.redis_server import free_port
from tests.support.servers import METRICS_TOKEN, SECRET, TLS

ROOT = Path(__file__).resolve().parents[2]


def env_for(database_url: str, var_dir: Path | str, redis_url: str = "", **extra: str) -> dict[str, str]:
    """The environment of a node: the test secret, the given database, Redis (optional), and
    nothing from the caller's own LIVE_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVE_")}
    env.update(LIVE_SECRET=SECRET, LIVE_METRICS_TOKEN=METRICS_TOKEN, LIVE_DATABASE_URL=database_url,
               LIVE_VAR_DIR=str(var_dir), LIVE_LOG_LEVEL="INFO", LIVE_MEDIA_PROCESSES="1")
    if redis_url:
        env["LIVE_REDIS_URL"] = redis_url
    env.update(extra)
    return env


def children_of(pid: int) -> list[int]:
    """The pids whose parent is `pid` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = (entry / "stat").read_text()
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
            if ppid == pid:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


class LiveNode:
    """`python -m live serve` as its own process, always on the same port."""

    def __init__(self, env: dict[str, str], log_dir: Path, name: str = "node", port: int | None = None) -> None:
        self.env = dict(env)
        self.name = name
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = Path(log_dir) / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def token(self, user_id: str, name: str | None = None, ttl: int = 3600) -> str:
        return mint(SECRET, user_id, name=name, ttl=ttl)

    def client(self, user_id: str | None = None, name: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {self.token(user_id, name)}"} if user_id else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=30, verify=TLS)

    async def start(self, timeout: float = 60.0) -> LiveNode:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.starts += 1
        with open(self.log, "ab") as out:  # the child keeps its own descriptor
            out.write(f"--- start {self.starts} ---\n".encode())
            out.flush()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "live", "serve", "--port", str(self.port)],
                env={**self.env, "LIVE_PORT": str(self.port)}, cwd=ROOT,
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
        await self.ready(timeout)
        return self

    async def ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2, verify=TLS) as http:
            while time.monotonic() < deadline:
                if self.proc is not None and self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited ({self.proc.returncode}): {self.tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(self.url + "/readyz")).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.name} did not become ready in {timeout:g} s: {self.tail()}")

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def kill9(self) -> None:
        """SIGKILL the server process (not its children: they must notice on their own)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        kids = children_of(self.proc.pid)
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        for kid in kids:  # media processes stop when the server does; make sure of it
            with contextlib.suppress(ProcessLookupError):
                deadline = time.monotonic() + 5
                while alive(kid) and time.monotonic() < deadline:
                    time.sleep(0.05)
                if alive(kid):
                    os.kill(kid, signal.SIGKILL)
