"""A throwaway PostgreSQL cluster on a free port in a temp dir, for tests that stop or restart it.

Uses the Debian server binaries (/usr/lib/postgresql/<version>/bin, or `initdb` on the PATH).
PostgreSQL refuses to run as root: as root, the cluster belongs to the `postgres` user (or
`nobody`) and its processes run as that user. `PostgresServer.available()` says why it cannot run
here, if it cannot (the tests then skip, loudly).

    pg = PostgresServer().start()
    pg.url            # postgresql+asyncpg://postgres@127.0.0.1:<port>/postgres
    pg.stop()         # fast shutdown: clients are cut off at once
    pg.start()        # the same cluster again, on the same port
    pg.cleanup()
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.redis_server import free_port

NEEDED = ("initdb", "postgres", "pg_isready")


def _bindir() -> Path | None:
    """The newest Debian server binaries, else a directory on the PATH holding all of them."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    candidates = [Path(p).parent for p in reversed(found)]
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).parent)
    for bindir in candidates:
        if all((bindir / name).exists() for name in NEEDED):
            return bindir
    return None


def _run_as() -> pwd.struct_passwd | None:
    """The user the cluster runs as when we are root (None: as ourselves)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    return None


class PostgresServer:
    def __init__(self, port: int | None = None) -> None:
        self.bindir = _bindir()
        self.port = port or free_port()
        self.user = _run_as()
        self.dir = Path(tempfile.mkdtemp(prefix="live-pg-"))
        self.data = self.dir / "data"
        self.proc: subprocess.Popen[bytes] | None = None
        if self.user is not None:
            os.chown(self.dir, self.user.pw_uid, self.user.pw_gid)
        self._initialized = False

    @staticmethod
    def available() -> str | None:
        """None when a cluster can be made here, else why not."""
        if _bindir() is None:
            return "no PostgreSQL server binaries (initdb) on this machine"
        if os.geteuid() == 0 and _run_as() is None:
            return "running as root with no `postgres` or `nobody` user to run PostgreSQL as"
        return None

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _popen(self, args: list[str], **kw: object) -> subprocess.Popen[bytes]:
        extra: dict[str, object] = {}
        if self.user is not None:
            extra = {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}
        env = {"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
        return subprocess.Popen(args, env=env, cwd=self.dir, **extra, **kw)  # type: ignore[call-overload, no-any-return]

    def _initdb(self) -> None:
        assert self.bindir is not None
        proc = self._popen([str(self.bindir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                            "-E", "UTF8", "--no-sync", "--no-instructions"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out, _ = proc.communicate(timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"initdb failed: {out.decode(errors='replace')[-2000:]}")
        self._initialized = True

    def start(self, timeout: float = 30.0) -> PostgresServer:
        if not self._initialized:
            self._initdb()
        assert self.bindir is not None and self.proc is None
        log = open(self.dir / "log", "ab")  # noqa: SIM115 - the child keeps its own descriptor
        try:
            self.proc = self._popen(
                [str(self.bindir / "postgres"), "-D", str(self.data), "-p", str(self.port), "-k", str(self.dir),
                 "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
                 "-c", "full_page_writes=off", "-c", "max_connections=100", "-c", "shared_buffers=32MB"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited: {self.log_tail()}")
            if self._accepting():
                return self
            time.sleep(0.05)
        raise RuntimeError(f"postgres did not start on port {self.port}: {self.log_tail()}")

    def _accepting(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                # An SSLRequest: a server ready for connections answers N or S at once.
                s.sendall(b"\x00\x00\x00\x08\x04\xd2\x16\x2f")
                if s.recv(1) not in (b"N", b"S"):
                    return False
        except OSError:
            return False
        assert self.bindir is not None
        ready = subprocess.run([str(self.bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port),
                                "-U", "postgres", "-t", "1"], capture_output=True, check=False)
        return ready.returncode == 0

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return (self.dir / "log").read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        """Fast shutdown (SIGINT): open sessions are cut off, the port closes."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
