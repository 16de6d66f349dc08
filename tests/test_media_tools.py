"""`python -m live.tools.publish` and `python -m live.tools.watch` against a real server."""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.communities import make_community, people
from tests.support.servers import RunningServer, run_server, settings


@pytest.fixture
async def media_server(sqlite_url: str, tmp_path: Path) -> AsyncIterator[RunningServer]:
    async with run_server(settings(database_url=sqlite_url, var_dir=str(tmp_path), thumbnail_seconds=1.0)) as running:
        yield running


async def test_publish_tool_and_watch_tool(media_server: RunningServer) -> None:
    server = media_server
    async with people(server, "alice", "bob") as (alice, bob):
        community = await make_community(alice)
        host_token = server.token(alice.id, alice.name)
        pub = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "live.tools.publish", "--url", server.url, "--token", host_token,
            "--community", community["id"], "--title", "pattern", "--size", "320x180", "--seconds", "9",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        try:
            assert pub.stdout is not None
            first = (await asyncio.wait_for(pub.stdout.readline(), 20)).decode()
            match = re.match(r"live (\S+) \(room live:\S+\)", first)
            assert match, first
            lid = match.group(1)
            watch = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "live.tools.watch", "--url", server.url,
                "--token", server.token(bob.id, bob.name), "--live", lid, "--seconds", "5",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )
            out, err = await asyncio.wait_for(watch.communicate(), 40)
            assert watch.returncode == 0, err.decode()[-2000:]
            rates = [int(m) for m in re.findall(r"video\s+(\d+) fps", out.decode())]
            assert rates and max(rates) >= 5, out.decode()
            assert "size 320x180" in out.decode()
            # the live tab shows the thumbnail while it runs
            tab = await bob.ok("GET", f"/v1/communities/{community['id']}/live")
            assert tab["items"][0]["thumbnail_url"] == f"/v1/live/{lid}/thumbnail.jpg"
            out, err = await asyncio.wait_for(pub.communicate(), 30)
            assert pub.returncode == 0, err.decode()[-2000:]
            assert "video:" in out.decode() and "connected" in out.decode()
        finally:
            if pub.returncode is None:
                pub.kill()
                await pub.wait()


async def test_tools_report_refusals(media_server: RunningServer) -> None:
    server = media_server
    async with people(server, "alice", "bob") as (alice, bob):
        community = await make_community(alice)
        live = await alice.ok("POST", f"/v1/communities/{community['id']}/live", 201, json={"title": "t"})
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "live.tools.publish", "--url", server.url,
            "--token", server.token(bob.id, bob.name), "--live", live["id"], "--seconds", "2",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 1 and b"forbidden" in err
