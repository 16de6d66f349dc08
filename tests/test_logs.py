"""No token in any log line: `live serve` as a user runs it, and the filter's table of cases."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from live.auth.tokens import mint
from live.logs import RedactTokens, redact
from tests.support.redis_server import free_port

SECRET = "log-secret-" + "k" * 40


def test_redact_table() -> None:
    jwt = mint(SECRET, "alice")
    cases = {
        f'127.0.0.1:5 - "GET /v1/ws?token={jwt} HTTP/1.1" 101': '"GET /v1/ws?token=[redacted] HTTP/1.1"',
        f"/v1/live/x/hls/index.m3u8?a=1&token={jwt}&b=2": "&token=[redacted]&b=2",
        f"Authorization: Bearer {jwt}": "Bearer [redacted]",
        "authorization: bearer abc.def": "bearer [redacted]",
        f"got {jwt} somewhere": "got [jwt] somewhere",
        "access_token=opaque123": "access_token=[redacted]",
    }
    for line, expected in cases.items():
        out = redact(line)
        assert expected in out, (line, out)
        assert jwt not in out and "opaque123" not in out and "abc.def" not in out
    assert redact("nothing to hide /v1/me 200") == "nothing to hide /v1/me 200"


def test_the_filter_covers_arguments_and_tracebacks() -> None:
    jwt = mint(SECRET, "bob")
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, 'client - "%s %s" %d',
                               ("GET", f"/v1/ws?token={jwt}", 101), None)
    try:
        raise ValueError(f"bad token {jwt}")
    except ValueError:
        record.exc_info = sys.exc_info()
    assert RedactTokens().filter(record)
    assert record.args == ("GET", "/v1/ws?token=[redacted]", 101)  # shape kept for formatters
    formatted = logging.Formatter().format(record)
    assert jwt not in formatted and "[jwt]" in formatted


def test_live_serve_never_logs_a_token(tmp_path: Path) -> None:
    """The access log, the WebSocket lines, a failed WebSocket: none shows the token."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVE_")}
    env.update({"LIVE_SECRET": SECRET, "LIVE_LOG_LEVEL": "INFO"})
    log_path = tmp_path / "serve.log"
    log_file = log_path.open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "live", "serve", "--dev", "--port", str(port)],
        cwd=tmp_path, env=env, stdout=log_file, stderr=subprocess.STDOUT, text=True,
    )
    token = mint(SECRET, "carol", name="Carol")
    expired = mint(SECRET, "dave", ttl=-3600)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=1):
                    break
            except OSError:
                assert proc.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, "no answer within 60 s"
                time.sleep(0.2)
        request = urllib.request.Request(f"{base}/v1/me", headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=10) as resp:
            assert resp.status == 200
        with urllib.request.urlopen(f"{base}/healthz?token={token}", timeout=10) as resp:
            assert resp.status == 200

        async def websockets() -> None:
            async with connect(f"ws://127.0.0.1:{port}/v1/ws?token={token}") as ws:
                await ws.recv()
            async with connect(f"ws://127.0.0.1:{port}/v1/ws?token={expired}") as ws:
                with pytest.raises(ConnectionClosed) as closed:
                    await ws.recv()
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 4001

        asyncio.run(websockets())
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log_file.close()
    out = log_path.read_text()
    assert "token=[redacted]" in out, out  # the lines were logged, without the token
    signatures = [t.rsplit(".", 1)[1] for t in (token, expired)]
    for secret_part in [token, expired, *signatures]:
        assert secret_part not in out
