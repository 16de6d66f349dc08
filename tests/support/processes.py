"""Peer servers as child processes (the load tester's peers), started and awaited the same way."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@contextlib.asynccontextmanager
async def python_module(module: str, *args: str, port: int,
                        timeout: float = 15.0) -> AsyncIterator[asyncio.subprocess.Process]:
    """Run `python -m module args...` from the repo root until the block exits; enter (with the
    process) once `port` accepts connections."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, *args, cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            except OSError:
                if proc.returncode is not None or asyncio.get_running_loop().time() > deadline:
                    raise RuntimeError(f"{module} did not listen on port {port}") from None
                await asyncio.sleep(0.1)
        yield proc
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()
