"""The processes `make bench` measures: each chat target's server and its own redis-server,
pinned to the server's core; a fresh PostgreSQL database and its backends; the Node.js peer's
packages (`npm ci` from its lock). `loadtest.bench` runs them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

PY = sys.executable
ROOT = Path(__file__).resolve().parents[1]
NODE_PEER = ROOT / "loadtest" / "peers" / "socketio-node"
PG_ADMIN = os.environ.get("LIVE_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), 1):
            return True
    except OSError:
        return False


def wait_port(port: int, proc: subprocess.Popen[bytes], what: str, timeout: float = 60.0) -> None:
    deadline = time.time() + timeout
    while not reachable("127.0.0.1", port):
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before listening (see its log in the bench dir)")
        if time.time() > deadline:
            raise RuntimeError(f"{what} did not listen on port {port} within {timeout:g} s")
        time.sleep(0.1)


def wait_http(url: str, timeout: float = 60.0) -> None:
    import httpx

    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {timeout:g} s")


class Pinning:
    """Which cores the servers get and which the generator gets: the first core for the server
    (with its Redis and database backends), the others for the load generator and the bench."""

    def __init__(self) -> None:
        cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        if len(cores) >= 2:
            self.server, self.generator = {cores[0]}, set(cores[1:])
        else:
            self.server = self.generator = set(cores)
        self.notes: list[str] = []
        self.refused: set[str] = set()

    @property
    def split(self) -> bool:
        return bool(self.server) and not (self.server & self.generator)

    def label(self, cores: set[int]) -> str:
        return ",".join(str(c) for c in sorted(cores))

    def pin(self, pid: int, cores: set[int], what: str) -> bool:
        if not cores:
            return False
        try:
            os.sched_setaffinity(pid, cores)
            return True
        except (PermissionError, ProcessLookupError, OSError) as exc:
            if what not in self.refused:
                self.refused.add(what)
                self.notes.append(f"{what} could not be pinned ({type(exc).__name__}): it ran on any core")
            return False


class Servers:
    """The processes a bench run starts, stopped (in reverse) when it ends or on demand."""

    def __init__(self, workdir: Path, pinning: Pinning) -> None:
        self.workdir = workdir
        self.pinning = pinning
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.cleanups: list[Callable[[], None]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None, *, cwd: Path | None = None,
              pinned: bool = True) -> subprocess.Popen[bytes]:
        cores = self.pinning.server if pinned else None

        def pin() -> None:  # in the child, before exec: every thread it starts inherits the core
            if cores:
                os.sched_setaffinity(0, cores)

        with open(self.workdir / f"{name}.log", "ab") as log:  # the child has its own copy
            proc = subprocess.Popen(argv, env={**os.environ, **(env or {})}, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True, preexec_fn=pin, cwd=cwd)
        self.procs[name] = proc
        return proc

    def stop(self, *names: str) -> None:
        chosen = [n for n in reversed(list(self.procs)) if not names or n in names]
        for name in chosen:
            proc = self.procs[name]
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for name in chosen:
            proc = self.procs.pop(name)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def close(self) -> None:
        self.stop()
        for cleanup in reversed(self.cleanups):
            with contextlib.suppress(Exception):
                cleanup()


def redis_version() -> str:
    exe = shutil.which("redis-server")
    if not exe:
        return "?"
    words = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.split()
    return next((w.split("=")[1] for w in words if w.startswith("v=")), "?")


def start_redis(servers: Servers, name: str) -> tuple[str, int]:
    """A private redis-server for one target, pinned with its server: (url, pid)."""
    exe = shutil.which("redis-server")
    if not exe:
        raise RuntimeError("the bench needs redis-server (apt-get install redis-server)")
    port = free_port()
    proc = servers.start(name, [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                "--maxclients", "20000"])
    wait_port(port, proc, "redis-server", 10)
    return f"redis://127.0.0.1:{port}/0", proc.pid


class Postgres:
    """A fresh database for the bench on the machine's PostgreSQL, and its backends (pinned)."""

    def __init__(self, servers: Servers) -> None:
        self.servers = servers
        self.name = f"live_bench_{secrets.token_hex(3)}"
        self.dsn = PG_ADMIN.replace("postgresql+asyncpg://", "postgresql://")
        self.url: str | None = None

    def create(self) -> str | None:
        """The database's SQLAlchemy URL, or None (with a note) when there is no PostgreSQL."""
        parts = urlsplit(self.dsn)
        if not reachable(parts.hostname or "127.0.0.1", parts.port or 5432):
            self.servers.pinning.notes.append(f"no PostgreSQL answered at {PG_ADMIN}: live was measured on SQLite only")
            return None
        try:
            asyncio.run(self._execute(f'CREATE DATABASE "{self.name}"'))
        except Exception as exc:  # noqa: BLE001 - measured without it, and said so
            self.servers.pinning.notes.append(f"PostgreSQL at {PG_ADMIN} refused a new database ({exc}): "
                                              "live was measured on SQLite only")
            return None
        self.servers.cleanups.append(
            lambda: asyncio.run(self._execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        )
        self.url = PG_ADMIN.rsplit("/", 1)[0] + "/" + self.name
        return self.url

    async def _execute(self, sql: str) -> None:
        import asyncpg

        conn = await asyncpg.connect(self.dsn, timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    def backends(self) -> list[int]:
        """The backend processes serving the bench's database now, pinned to the server's core."""
        import asyncpg

        async def query() -> list[int]:
            conn = await asyncpg.connect(self.dsn, timeout=5)
            try:
                rows = await conn.fetch(
                    "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", self.name
                )
            finally:
                await conn.close()
            return [int(r["pid"]) for r in rows]

        try:
            pids = asyncio.run(query())
        except Exception:  # noqa: BLE001 - measured without them this step
            return []
        for pid in pids:
            self.servers.pinning.pin(pid, self.servers.pinning.server, "PostgreSQL's backends")
        return pids


def _locked_versions(path: Path) -> dict[str, str]:
    """{package path: version} of an npm lock file (or of node_modules/.package-lock.json)."""
    try:
        packages = json.loads(path.read_text())["packages"]
    except (OSError, KeyError, ValueError):
        return {}
    return {name: str(info.get("version")) for name, info in packages.items() if name.startswith("node_modules/")}


def node_peer(notes: list[str], folder: Path = NODE_PEER) -> bool:
    """Install the Node.js peer's packages exactly as locked (`npm ci`), unless node_modules already
    holds exactly those (so a machine that went offline still runs it); False, with a note saying
    why and what to do, when it cannot."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        notes.append("Node.js or npm was not found: the Node.js Socket.IO peer was NOT measured "
                     "(install Node.js 18 or newer with npm, then run make bench again)")
        return False
    locked = _locked_versions(folder / "package-lock.json")
    if locked and _locked_versions(folder / "node_modules" / ".package-lock.json") == locked:
        return True
    try:
        proc = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--prefer-offline"], cwd=folder,
                              capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        notes.append("`npm ci` did not finish in 10 minutes: the Node.js Socket.IO peer was NOT measured")
        return False
    if proc.returncode != 0:
        tail = " ".join((proc.stderr or proc.stdout).strip().splitlines()[-2:])[:300]
        notes.append("`npm ci` could not install the Node.js peer's packages from its lock (is the npm "
                     f"registry reachable from here? npm said: {tail}): the Node.js Socket.IO peer was NOT "
                     f"measured; run `npm ci` in {folder.relative_to(ROOT) if folder.is_relative_to(ROOT) else folder} "
                     "once online")
        return False
    return True


def node_version() -> str:
    node = shutil.which("node")
    if not node:
        return "?"
    version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip().lstrip("v")
    try:
        lock = json.loads((NODE_PEER / "package-lock.json").read_text())["packages"]
        pkgs = ", ".join(f"{n} {lock['node_modules/' + n]['version']}"
                         for n in ("socket.io", "@socket.io/redis-adapter", "redis"))
    except (OSError, KeyError, ValueError):
        pkgs = "?"
    return f"node {version}, {pkgs}"


class Target:
    """One chat target of the bench: how to start it (and its Redis), pinned."""

    def __init__(self, key: str, label: str, kind: str) -> None:
        self.key, self.label, self.kind = key, label, kind


TARGETS = [
    Target("live-sqlite", "live, SQLite (one process, in-process bus)", "live"),
    Target("live-pg", "live, PostgreSQL + Redis", "live"),
    Target("socketio", "python-socketio + Redis", "socketio"),
    Target("socketio-node", "Node.js Socket.IO + Redis adapter", "socketio"),
]


class TargetRun:
    """One chat target's processes while it is measured: its server and its own Redis, pinned."""

    def __init__(self, target: Target, servers: Servers, workdir: Path, secret: str, pg: Postgres | None) -> None:
        self.target, self.servers, self.workdir, self.secret, self.pg = target, servers, workdir, secret, pg
        self.port = free_port()
        self.names: list[str] = []
        self.server_pid = 0
        self.redis_pid: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        key = self.target.key
        redis_url = None
        if key != "live-sqlite":
            redis_url, self.redis_pid = start_redis(self.servers, f"{key}-redis")
            self.names.append(f"{key}-redis")
        if self.target.kind == "live":
            db = (self.pg.url if key == "live-pg" and self.pg else None) or \
                f"sqlite+aiosqlite:///{(self.workdir / 'live-sqlite.db').resolve()}"
            env = {"LIVE_SECRET": self.secret, "LIVE_DATABASE_URL": db, "LIVE_PORT": str(self.port),
                   "LIVE_HOST": "127.0.0.1", "LIVE_LOG_LEVEL": "WARNING", "LIVE_VAR_DIR": str(self.workdir / key),
                   # The benchmark measures fan-out, not the per-user flood limit.
                   "LIVE_CHAT_RATE": "1000", "LIVE_CHAT_BURST": "1000"}
            if redis_url:
                env.update({"LIVE_REDIS_URL": redis_url, "LIVE_REDIS_PREFIX": f"bench{secrets.token_hex(2)}:"})
            proc = self.servers.start(key, [PY, "-m", "live", "serve", "--dev"], env, cwd=ROOT)
            self.names.append(key)
            wait_port(self.port, proc, "live serve")
            wait_http(f"{self.url}/readyz")
        elif key == "socketio":
            assert redis_url
            proc = self.servers.start(key, [PY, "-m", "loadtest.peers.socketio_server", "--port", str(self.port),
                                            "--redis-url", redis_url, "--prefix", f"bench-sio{secrets.token_hex(2)}:"],
                                      cwd=ROOT)
            self.names.append(key)
            wait_port(self.port, proc, "the python-socketio peer")
        else:
            assert redis_url
            node = shutil.which("node") or "node"
            proc = self.servers.start(key, [node, "server.js", "--port", str(self.port), "--redis-url", redis_url,
                                            "--prefix", f"bench-node{secrets.token_hex(2)}:"], cwd=NODE_PEER)
            self.names.append(key)
            wait_port(self.port, proc, "the Node.js Socket.IO peer")
        self.server_pid = proc.pid

    def stop(self) -> None:
        self.servers.stop(*self.names)
        self.names = []

    def restart(self) -> None:
        self.stop()
        self.start()

    def pids(self) -> list[int]:
        """The processes whose CPU is the server's: it, its Redis and (PostgreSQL) its backends."""
        pids = [self.server_pid] + ([self.redis_pid] if self.redis_pid else [])
        if self.target.key == "live-pg" and self.pg is not None:
            pids += self.pg.backends()
        return pids

    def cores(self) -> dict[str, str]:
        """The cores each process may run on, read back from the kernel."""
        from loadtest import procstat

        out = {}
        processes = (("server", self.server_pid), ("its Redis", self.redis_pid),
                     ("the bench and generator", os.getpid()))
        for what, pid in processes:
            if pid:
                cores = procstat.affinity(pid)
                out[what] = self.servers.pinning.label(cores) if cores else "?"
        if self.target.key == "live-pg" and self.pg is not None:
            backends = self.pg.backends()
            seen = {self.servers.pinning.label(procstat.affinity(p) or set()) for p in backends}
            out["PostgreSQL backends"] = "/".join(sorted(seen)) or "-"
        return out

    def server_args(self) -> list[str]:
        pids = [self.server_pid] + ([self.redis_pid] if self.redis_pid else [])
        args = ["--url", self.url, *(arg for p in pids for arg in ("--server-pid", str(p)))]
        if self.target.kind == "live":
            return [*args, "--secret", self.secret]
        return ["--target", "socketio", *args]
