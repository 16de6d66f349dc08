"""Media processes that an app node starts and supervises itself (the default, no Redis needed).

`live serve` never relays media under its own interpreter: it starts `LIVE_MEDIA_PROCESSES` child
processes (`live media-worker --ipc-fd N`), each a `MediaWorker`, and talks to each over one end of a
socket pair handed to the child at start (no path, no port, no extra service). Messages both ways
are a 4-byte length and a MessagePack map:

    node -> worker   {t: "call", id, op, args}
    worker -> node   {t: "reply", id, result} | {t: "reply", id, error, message}
                     {t: "state", state}   (at once, then every second: placement reads it)
                     {t: "event", event}   (media.published / media.unpublished / thumbnail)

Processes start when media is first needed (the first publish; a live starting warms them up), so a
node that never streams never pays for them. A process that dies is started again (backing off
when it keeps dying); the rooms whose origin it was are lost and told `media.restart` by the
cluster's sweep, and the viewers it served as an edge are moved. When the app node goes, the
children see their socket close and stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import socket
import struct
import sys
from collections.abc import Callable
from typing import Any

import msgpack

from live.config import Settings
from live.errors import ApiError, ErrorCode
from live.media.placement import WorkerState
from live.media.relay import MediaError
from live.media.worker import STATE_SECONDS, MediaWorker

log = logging.getLogger("live.media.local")

LENGTH = struct.Struct("!I")
MAX_MESSAGE = 16 << 20
CALL_TIMEOUT = 20.0
READY_TIMEOUT = 60.0
RESTART_BACKOFF = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)


async def read_message(reader: asyncio.StreamReader) -> dict[str, Any]:
    (length,) = LENGTH.unpack(await reader.readexactly(LENGTH.size))
    if length > MAX_MESSAGE:
        raise ConnectionError(f"a message of {length} bytes")
    message = msgpack.unpackb(await reader.readexactly(length))
    if not isinstance(message, dict):
        raise ConnectionError("not a message")
    return message


def write_message(writer: asyncio.StreamWriter, message: dict[str, Any]) -> None:
    body = msgpack.packb(message, use_bin_type=True)
    writer.writelines((LENGTH.pack(len(body)), body))


# -- the child's side ----------------------------------------------------------------------------


class LocalLink:
    """A media process's link to the app node that started it (one end of a socket pair)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.writer: asyncio.StreamWriter | None = None
        self.tasks: set[asyncio.Task[Any]] = set()

    async def serve(self, worker: MediaWorker) -> None:
        sock = socket.socket(fileno=self.fd)
        reader, self.writer = await asyncio.open_unix_connection(sock=sock)
        states = asyncio.ensure_future(self._report(worker))
        try:
            while True:
                message = await read_message(reader)
                if message.get("t") == "call":
                    self._spawn(self._call(worker, message))
        except (asyncio.IncompleteReadError, ConnectionError):
            log.info("media worker %s: the app node went away; stopping", worker.id)
        finally:
            states.cancel()

    async def _report(self, worker: MediaWorker) -> None:
        while True:
            self._send({"t": "state", "state": worker.state()})
            await asyncio.sleep(STATE_SECONDS)

    async def _call(self, worker: MediaWorker, message: dict[str, Any]) -> None:
        reply: dict[str, Any] = {"t": "reply", "id": message.get("id")}
        try:
            reply["result"] = await worker.handle(str(message.get("op")), dict(message.get("args") or {}))
        except MediaError as exc:
            reply.update(error=exc.kind, message=str(exc))
        except Exception as exc:
            log.exception("media operation %s failed", message.get("op"))
            reply.update(error="invalid", message=f"media operation failed: {exc}")
        self._send(reply)

    def emit(self, event: dict[str, Any]) -> None:
        self._send({"t": "event", "event": event})

    def _send(self, message: dict[str, Any]) -> None:
        if self.writer is not None and not self.writer.is_closing():
            write_message(self.writer, message)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        if self.writer is not None:
            self.writer.close()


# -- the app node's side ---------------------------------------------------------------------------


class _Child:
    """One media process as its app node sees it."""

    def __init__(self, wid: str, process: asyncio.subprocess.Process, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.id = wid
        self.process = process
        self.reader = reader
        self.writer = writer
        self.state: WorkerState | None = None
        self.ready = asyncio.Event()
        self.pending: dict[int, asyncio.Future[Any]] = {}
        self.alive = True
        self.task: asyncio.Task[None] | None = None


class LocalWorkers:
    """This app node's own media processes: a `WorkerDirectory` over socket pairs."""

    def __init__(self, settings: Settings, count: int, on_event: Callable[[dict[str, Any]], None]) -> None:
        self.settings = settings
        self.count = count
        self.on_event = on_event
        self.children: dict[str, _Child] = {}
        self.rooms: dict[str, str] = {}  # room -> its origin worker
        self.deaths: dict[str, int] = {}  # worker id -> deaths in a row (for the back-off)
        self.ids = itertools.count(1)
        self.calls = itertools.count(1)
        self.closing = False
        self._starting: asyncio.Task[None] | None = None
        self._restarts: set[asyncio.Task[None]] = set()

    # -- starting and supervising ------------------------------------------------------------------
    def warm(self) -> None:
        """Start the processes in the background if they are not running yet."""
        if self._starting is None and not self.closing:
            self._starting = asyncio.ensure_future(self._start_all())

    async def ready(self) -> None:
        self.warm()
        assert self._starting is not None
        await asyncio.shield(self._starting)
        if not any(c.alive and c.state is not None for c in self.children.values()):
            raise ApiError(ErrorCode.UNAVAILABLE, "the media processes are not running; try again")

    async def _start_all(self) -> None:
        wids = [f"local-{os.getpid()}-{next(self.ids)}" for _ in range(self.count)]
        await asyncio.gather(*(self._spawn(wid) for wid in wids), return_exceptions=True)

    async def _spawn(self, wid: str) -> None:
        parent, child = socket.socketpair()
        try:
            env = {**os.environ, **self.settings.to_env()}
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "live", "media-worker", "--ipc-fd", str(child.fileno()), "--id", wid,
                pass_fds=(child.fileno(),), env=env, stdin=asyncio.subprocess.DEVNULL)
        finally:
            child.close()
        reader, writer = await asyncio.open_unix_connection(sock=parent)
        entry = _Child(wid, process, reader, writer)
        self.children[wid] = entry
        entry.task = asyncio.ensure_future(self._listen(entry))
        try:
            await asyncio.wait_for(entry.ready.wait(), READY_TIMEOUT)
            log.info("media process %s started (pid %d)", wid, process.pid)
        except TimeoutError:
            log.error("media process %s did not report within %.0f s; stopping it", wid, READY_TIMEOUT)
            with contextlib.suppress(ProcessLookupError):
                process.kill()

    async def _listen(self, child: _Child) -> None:
        try:
            while True:
                message = await read_message(child.reader)
                kind = message.get("t")
                if kind == "state":
                    child.state = WorkerState.parse(message["state"])
                    child.ready.set()
                    self.deaths.pop(child.id, None)
                elif kind == "reply":
                    future = child.pending.pop(int(message.get("id") or 0), None)
                    if future is not None and not future.done():
                        future.set_result(message)
                elif kind == "event":
                    try:
                        self.on_event(dict(message["event"]))
                    except Exception:
                        log.exception("handling a media event failed")
        except (asyncio.IncompleteReadError, ConnectionError, KeyError, ValueError):
            pass
        except asyncio.CancelledError:
            return
        await self._died(child)

    async def _died(self, child: _Child) -> None:
        child.alive = False
        child.ready.set()
        child.writer.close()
        for future in child.pending.values():
            if not future.done():
                future.set_exception(ApiError(ErrorCode.UNAVAILABLE, "the media process stopped; try again"))
        child.pending.clear()
        with contextlib.suppress(ProcessLookupError):
            child.process.kill()
        code = await child.process.wait()
        if self.closing:
            return
        deaths = self.deaths.get(child.id, 0)
        delay = RESTART_BACKOFF[min(deaths, len(RESTART_BACKOFF) - 1)]
        log.error("media process %s (pid %d) exited with %s; starting another in %.1f s",
                  child.id, child.process.pid, code, delay)
        task = asyncio.ensure_future(self._restart(child.id, delay, deaths + 1))
        self._restarts.add(task)
        task.add_done_callback(self._restarts.discard)

    async def _restart(self, old: str, delay: float, deaths: int) -> None:
        await asyncio.sleep(delay)
        if self.closing:
            return
        self.children.pop(old, None)
        wid = f"local-{os.getpid()}-{next(self.ids)}"
        self.deaths[wid] = deaths
        await self._spawn(wid)

    async def close(self) -> None:
        self.closing = True
        for task in list(self._restarts):
            task.cancel()
        if self._starting is not None and not self._starting.done():
            self._starting.cancel()
        children = list(self.children.values())
        for child in children:
            child.writer.close()  # the child stops when its socket closes
            with contextlib.suppress(ProcessLookupError):
                child.process.terminate()
        for child in children:
            try:
                await asyncio.wait_for(child.process.wait(), 10)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    child.process.kill()
                await child.process.wait()
            if child.task is not None:
                child.task.cancel()

    # -- the WorkerDirectory ---------------------------------------------------------------------------
    async def workers(self) -> dict[str, WorkerState]:
        return {c.id: c.state for c in self.children.values() if c.alive and c.state is not None}

    async def call(self, wid: str, op: str, args: dict[str, Any]) -> Any:
        child = self.children.get(wid)
        if child is None or not child.alive:
            raise ApiError(ErrorCode.UNAVAILABLE, "that media process is gone; try again")
        call_id = next(self.calls)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        child.pending[call_id] = future
        write_message(child.writer, {"t": "call", "id": call_id, "op": op, "args": args})
        try:
            reply = await asyncio.wait_for(future, CALL_TIMEOUT)
        except TimeoutError:
            raise ApiError(ErrorCode.UNAVAILABLE, "the media process did not answer; try again") from None
        finally:
            child.pending.pop(call_id, None)
        if "error" in reply:
            raise MediaError(str(reply["error"]), str(reply.get("message") or "media error"))
        return reply.get("result")

    async def room_owner(self, room: str) -> str | None:
        return self.rooms.get(room)

    async def claim_room(self, room: str, wid: str) -> str:
        return self.rooms.setdefault(room, wid)

    async def release_room(self, room: str) -> None:
        self.rooms.pop(room, None)

    async def lost_rooms(self) -> list[str]:
        alive = {c.id for c in self.children.values() if c.alive}
        lost = [room for room, wid in self.rooms.items() if wid not in alive]
        for room in lost:
            del self.rooms[room]
        return lost

    def states(self) -> list[WorkerState]:
        return [c.state for c in self.children.values() if c.alive and c.state is not None]

    def pids(self) -> dict[str, int]:
        """The processes' ids (for tests and operators: `kill` one to see the failover)."""
        return {c.id: c.process.pid for c in self.children.values() if c.alive}
