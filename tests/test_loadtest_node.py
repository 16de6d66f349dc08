"""The Node.js Socket.IO peer (`loadtest/peers/socketio-node`): installed from its lock with
`npm ci`, started against a real Redis, driven by the load generator like the other targets.

Skipped, loudly, where Node.js or npm is missing; `make bench` then measures without it and says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from loadtest.clients import RequestFailed, SocketIOClient
from tests.support import banner
from tests.support.locks import file_lock
from tests.support.redis_server import free_port
from tests.support.waiting import eventually

ROOT = Path(__file__).resolve().parents[1]
PEER = ROOT / "loadtest" / "peers" / "socketio-node"
FAST = ["--processes", "1", "--ramp", "1", "--drain", "1.5", "--quiet"]


def _installed() -> None:
    """The peer's packages, exactly as locked (npm ci), installed once per checkout."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        banner.say("Node.js or npm is not installed: the Node.js Socket.IO peer tests were SKIPPED")
        pytest.skip("node and npm are needed for the Node.js Socket.IO peer")
    marker = PEER / "node_modules" / ".package-lock.json"
    lock = PEER / "package-lock.json"
    # One `npm ci` at a time: pytest-xdist workers may get here together (the others wait, then
    # find it installed).
    with file_lock(PEER / ".npm-ci.lock"):
        if marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime:
            return
        proc = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--prefer-offline"], cwd=PEER,
                              capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"npm ci failed: {proc.stderr[-2000:]}"


@contextlib.asynccontextmanager
async def node_peer(redis_url: str, prefix: str) -> AsyncIterator[tuple[str, asyncio.subprocess.Process]]:
    _installed()
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        shutil.which("node") or "node", "server.js", "--port", str(port), "--redis-url", redis_url, "--prefix", prefix,
        cwd=PEER, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        assert b"listening" in line, line
        yield f"http://127.0.0.1:{port}", proc
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def _loadtest(*argv: str, timeout: float = 180) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "loadtest", *argv, cwd=ROOT,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_node_peer_carries_the_chat_scenario_and_a_ladder(redis_url: str, redis_prefix: str,
                                                                tmp_path: Path) -> None:
    async with node_peer(redis_url, redis_prefix) as (url, proc):
        out = tmp_path / "chat.json"
        code, _, err = await _loadtest("chat", "--target", "socketio", "--url", url, "--rooms", "2", "--members", "6",
                                       "--senders", "6", "--rate", "6", "--duration", "2", "--out", str(out), *FAST)
        assert code == 0, err
        s = json.loads(out.read_text())["summary"]
        assert s["connected"] == 12 and s["failed"] == 0 and s["closed_by_server"] == 0
        assert s["sent"] > 0 and s["acked"] == s["sent"] and s["rejected"] == 0
        assert s["delivered"] == s["acked"] * 6 and s["missing"] == 0 and s["duplicated"] == 0
        assert s["server"] and s["server"][0]["pid"] == proc.pid  # found by its port and measured
        # The ladder's members stay connected across steps through the same peer.
        out = tmp_path / "ladder.json"
        code, _, err = await _loadtest("ladder", "--target", "socketio", "--url", url, "--members", "6", "--start", "4",
                                       "--ceiling", "8", "--fine-steps", "0", "--overload", "0", "--step-messages", "1",
                                       "--step-seconds", "1:1", "--warmup", "0.5", "--ramp", "0.5", "--out", str(out))
        assert code == 0, err
        steps = json.loads(out.read_text())["steps"]
        assert [st["rate"] for st in steps][:1] == [4]
        for st in steps:
            assert st["acked"] == st["sent"] > 0 and st["delivered"] == st["acked"] * 6 and st["missing"] == 0, st


async def test_node_peer_answers_bad_requests_with_an_error(redis_url: str, redis_prefix: str) -> None:
    async with node_peer(redis_url, redis_prefix) as (url, _):
        got: list[object] = []
        client = SocketIOClient(url, "u1", "U1", lambda chats, at: got.append(chats))
        await client.connect(10)
        try:
            with pytest.raises(RequestFailed) as failed:
                await client.join("")
            assert failed.value.code == "invalid_request"
            assert await client.join("r1") == 0
            replies: asyncio.Queue[tuple[str | None, int | None]] = asyncio.Queue()
            client.send_chat("r1", "x" * 501, "n1", lambda code, seq, at: replies.put_nowait((code, seq)))
            client.send_chat("r1", "   ", "n2", lambda code, seq, at: replies.put_nowait((code, seq)))
            client.send_chat("r1", "1.0|0|hello", "n3", lambda code, seq, at: replies.put_nowait((code, seq)))
            assert [await asyncio.wait_for(replies.get(), 10) for _ in range(3)] == [
                ("message_too_long", None), ("invalid_request", None), (None, 1)]
            await eventually(lambda: bool(got), 10)
            assert got == [(("r1", 1, 1.0, 0),)]  # its own message, back through the room
        finally:
            client.close()
        # A ping that arrives while our close is on its way is not answered (nor an error).
        client.ws.data_received(b"\x81\x012")


def test_node_peer_refuses_bad_arguments() -> None:
    _installed()
    proc = subprocess.run([shutil.which("node") or "node", "server.js", "--port", "nope"], cwd=PEER,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "--port" in proc.stderr
    proc = subprocess.run([shutil.which("node") or "node", "server.js", "--colour", "blue"], cwd=PEER,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "usage" in proc.stderr


def test_the_bench_says_why_it_could_not_measure_the_node_peer(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from loadtest.bench_servers import node_peer

    _installed()
    notes: list[str] = []
    assert node_peer(notes)  # installed from the lock: nothing to do, even offline
    assert notes == []
    # Offline, with nothing installed: npm ci fails, and the bench says so instead of failing.
    folder = tmp_path / "peer"
    folder.mkdir()
    for name in ("package.json", "package-lock.json"):
        (folder / name).write_bytes((PEER / name).read_bytes())
    monkeypatch.setenv("npm_config_registry", "http://127.0.0.1:9/")  # nothing listens there
    monkeypatch.setenv("npm_config_cache", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("npm_config_fetch_retries", "0")
    assert not node_peer(notes, folder)
    assert "could not install" in notes[-1] and "NOT measured" in notes[-1]
    # No Node.js at all.
    monkeypatch.setenv("PATH", str(tmp_path))
    assert not node_peer(notes, folder)
    assert "Node.js or npm was not found" in notes[-1]
