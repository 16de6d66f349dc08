"""CPU and memory of server processes, sampled from /proc once a second (psutil when there is
no /proc), and finding a server's processes by the port it listens on."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from urllib.parse import urlsplit

PROC = Path("/proc")
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # comm may contain spaces and parentheses: the fields after it start past the last ')'.
    return raw[raw.rindex(")") + 2 :].split()


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process, in seconds."""
    if not PROC.exists():
        return _psutil_cpu(pid)
    fields = _stat_fields(pid)
    if fields is None:
        return None
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_bytes(pid: int) -> int | None:
    if not PROC.exists():
        return _psutil_rss(pid)
    try:
        return int((PROC / str(pid) / "statm").read_text().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return None


def describe(pid: int) -> str:
    """A short name for a process: its command line, trimmed."""
    try:
        cmd = (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        cmd = ""
    if not cmd:
        try:
            cmd = (PROC / str(pid) / "comm").read_text().strip()
        except OSError:
            cmd = "?"
    parts = cmd.split()
    if parts and "/" in parts[0]:
        parts[0] = parts[0].rsplit("/", 1)[1]
    cmd = " ".join(parts)
    return cmd if len(cmd) <= 60 else cmd[:57] + "..."


def worker_id(pid: int) -> str:
    """A `live media-worker` process's id (its `--id` argument); the pid as text otherwise."""
    try:
        args = (PROC / str(pid) / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return str(pid)
    if b"media-worker" in args and b"--id" in args:
        at = args.index(b"--id")
        if at + 1 < len(args):
            return args[at + 1].decode(errors="replace")
    return str(pid)


def children(pid: int) -> list[int]:
    """Direct and indirect children (uvicorn workers, multiprocessing pools)."""
    if not PROC.exists():
        return []
    parents: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is None:
            continue
        parents.setdefault(int(fields[1]), []).append(int(entry.name))
    out: list[int] = []
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def pids_listening_on(port: int) -> list[int]:
    """The processes holding a listening TCP socket on `port` (any address), via /proc."""
    inodes: set[str] = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (PROC / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if len(cols) > 9 and cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(cols[9])
    if not inodes:
        return []
    wanted = {f"socket:[{i}]" for i in inodes}
    found: list[int] = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                try:
                    if os.readlink(fd) in wanted:
                        found.append(int(entry.name))
                        break
                except OSError:
                    continue
        except OSError:
            continue
    return sorted(found)


def server_pids(args: argparse.Namespace, urls: list[str]) -> list[int]:
    """The server processes a run samples: `--server-pid`s, else those listening on the local
    URLs' ports (none with `--no-server-stats`)."""
    if args.no_server_stats:
        return []
    if args.server_pid:
        return list(args.server_pid)
    pids: list[int] = []
    for url in urls:
        parts = urlsplit(url)
        if parts.hostname in ("127.0.0.1", "localhost", "::1", "0.0.0.0"):
            port = parts.port or (443 if parts.scheme in ("https", "wss") else 80)
            pids.extend(p for p in pids_listening_on(port) if p not in pids)
    return pids


def machine_jiffies() -> tuple[int, int, int] | None:
    """(total, idle + iowait, steal) clock ticks of all CPUs since boot, from /proc/stat."""
    try:
        with open(PROC / "stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    steal = fields[7] if len(fields) > 7 else 0
    return sum(fields[:8]), fields[3] + (fields[4] if len(fields) > 4 else 0), steal


def core_jiffies() -> dict[int, tuple[int, int, int]]:
    """Per CPU: (total, idle + iowait, steal) clock ticks since boot, from /proc/stat."""
    out: dict[int, tuple[int, int, int]] = {}
    try:
        with open(PROC / "stat") as f:
            for line in f:
                if not line.startswith("cpu") or line.startswith("cpu "):
                    if out:
                        break
                    continue
                name, *rest = line.split()
                fields = [int(x) for x in rest]
                steal = fields[7] if len(fields) > 7 else 0
                out[int(name[3:])] = (sum(fields[:8]), fields[3] + (fields[4] if len(fields) > 4 else 0), steal)
    except (OSError, ValueError):
        return {}
    return out


def with_children(pids: list[int]) -> list[int]:
    """`pids` and all their descendants, each once."""
    out: list[int] = []
    for pid in pids:
        for p in (pid, *children(pid)):
            if p not in out:
                out.append(p)
    return out


def affinity(pid: int) -> set[int] | None:
    """The CPUs a process may run on (None when it cannot be read)."""
    try:
        return set(os.sched_getaffinity(pid))
    except (OSError, AttributeError):
        return None


class Sampler:
    """Once-a-second CPU% (of one core) and RSS of a set of processes, kept as a timeline."""

    def __init__(self, pids: list[int]) -> None:
        self.pids: dict[int, str] = {}
        for pid in pids:
            self.pids[pid] = describe(pid)
            for child in children(pid):
                self.pids.setdefault(child, describe(child))
        self._last: dict[int, tuple[float, float]] = {}
        self.roots = list(pids)
        self.series: dict[int, list[tuple[float, float, int]]] = {pid: [] for pid in self.pids}
        self._machine = machine_jiffies()
        self.cores = os.cpu_count() or 1
        self.machine: tuple[float, float] = (0.0, 0.0)  # last busy % and steal % (of one core)
        for pid in self.pids:
            cpu = cpu_seconds(pid)
            if cpu is not None:
                self._last[pid] = (time.time(), cpu)

    def refresh(self) -> None:
        """Also follow children started since (a server's media processes start on first use)."""
        for root in self.roots:
            for child in children(root):
                if child not in self.pids:
                    self.pids[child] = describe(child)
                    self.series[child] = []
                    cpu = cpu_seconds(child)
                    if cpu is not None:
                        self._last[child] = (time.time(), cpu)

    def sample(self) -> dict[int, tuple[float, int]]:
        """(cpu %, rss bytes) of each live process now; also appended to the timeline."""
        now = time.time()
        out: dict[int, tuple[float, int]] = {}
        machine = machine_jiffies()
        if machine is not None and self._machine is not None and machine[0] > self._machine[0]:
            total = machine[0] - self._machine[0]
            busy = total - (machine[1] - self._machine[1])
            steal = machine[2] - self._machine[2]
            self.machine = (round(100.0 * self.cores * busy / total, 1), round(100.0 * self.cores * steal / total, 1))
        self._machine = machine
        for pid in self.pids:
            cpu = cpu_seconds(pid)
            rss = rss_bytes(pid)
            if cpu is None or rss is None:
                continue
            last = self._last.get(pid)
            self._last[pid] = (now, cpu)
            if last is None or now <= last[0]:
                continue
            pct = 100.0 * (cpu - last[1]) / (now - last[0])
            out[pid] = (pct, rss)
            self.series[pid].append((round(now, 3), round(pct, 1), rss))
        return out

    def to_json(self) -> list[dict[str, object]]:
        return [
            {"pid": pid, "name": name, "samples": [list(s) for s in self.series[pid]]}
            for pid, name in self.pids.items()
        ]


def _psutil_cpu(pid: int) -> float | None:
    try:
        import psutil
    except ImportError:
        return None
    try:
        t = psutil.Process(pid).cpu_times()
        return float(t.user + t.system)
    except psutil.Error:
        return None


def _psutil_rss(pid: int) -> int | None:
    try:
        import psutil
    except ImportError:
        return None
    try:
        return int(psutil.Process(pid).memory_info().rss)
    except psutil.Error:
        return None
