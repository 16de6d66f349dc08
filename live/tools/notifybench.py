"""Measure a `live.started` fan-out: the starting request's latency, and how long until every
member's inbox row is written and every connected member has the `notification` event.

    python -m live.tools.notifybench [--members 10000] [--connected 1000] [--runs 3]
                                     [--database-url URL] [--redis-url URL]

A real `live serve` runs as its own process (a fresh SQLite file under a temporary var dir
unless `--database-url` names a PostgreSQL database). This process makes the community and its
members (users and memberships written straight into the database: the bench is about the
fan-out, not about 10,000 sign-ups); a child process connects `--connected` members over the
WebSocket (so reading 10,000 events does not slow the timing of the request); then each run a
host goes live (`POST /v1/communities/{cid}/live`) and the clock starts:

- `request_ms`: until the 201 answer;
- `ws_all_ms`: until the last connected member received its `notification` event;
- `inbox_all_ms`: until the database holds one inbox row per member (polled every 20 ms).

Printed as one JSON object per run, and a summary line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, insert, select, update

from live.auth.tokens import mint
from live.client import LiveClient
from live.communities.models import Community, Membership
from live.notifications.models import Notification
from live.storage import migrate
from live.storage.db import Database
from live.storage.models import User

SECRET = "notifybench-" + "s" * 40


def _clients(conn: Connection, url: str, ids: list[str]) -> None:
    """Child process: hold the members' WebSockets; on "arm" wait for one `notification` each and
    answer the wall-clock time the last one arrived (so the HTTP timing process stays idle)."""

    async def main() -> None:
        clients: list[LiveClient] = []
        for start in range(0, len(ids), 100):
            batch = ids[start:start + 100]
            clients += await asyncio.gather(*(LiveClient.connect(url, mint(SECRET, u, name=u)) for u in batch))
        loop = asyncio.get_running_loop()
        conn.send(("connected", len(clients)))
        while True:
            msg = await loop.run_in_executor(None, conn.recv)
            if msg == "exit":
                break
            got: list[float] = []

            async def wait_one(client: LiveClient, got: list[float]) -> None:
                await client.next_event("notification", timeout=120)
                got.append(time.time())
            waiters = [asyncio.create_task(wait_one(c, got)) for c in clients]
            conn.send("armed")
            await asyncio.gather(*waiters)
            conn.send(max(got) if got else 0.0)
        for client in clients:
            with contextlib.suppress(Exception):
                await client.close()

    asyncio.run(main())


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(600):
            if proc.poll() is not None:
                raise SystemExit("live serve exited during start-up")
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(url + "/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise SystemExit("live serve did not become ready")


async def add_members(db: Database, cid: str, count: int, prefix: str) -> list[str]:
    ids = [f"{prefix}{n:06d}" for n in range(count)]
    async with db.session() as session:
        for start in range(0, count, 2000):
            chunk = ids[start:start + 2000]
            await session.execute(insert(User), [{"id": u, "name": u} for u in chunk])
            await session.execute(insert(Membership), [
                {"community_id": cid, "user_id": u, "role": "member", "invites_left": 0} for u in chunk
            ])
        await session.execute(update(Community).where(Community.id == cid)
                              .values(member_count=Community.member_count + count))
    return ids


async def inbox_rows(db: Database, nid: str) -> int:
    async with db.session() as session:
        return int((await session.execute(
            select(func.count()).select_from(Notification).where(Notification.id == nid)
        )).scalar_one())


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    var = Path(tempfile.mkdtemp(prefix="notifybench-"))
    db_url = args.database_url or f"sqlite+aiosqlite:///{var / 'live.db'}"
    await migrate.upgrade(db_url)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVE_")}
    env.update(LIVE_SECRET=SECRET, LIVE_DATABASE_URL=db_url, LIVE_VAR_DIR=str(var), LIVE_PORT=str(port),
               LIVE_LOG_LEVEL="WARNING", LIVE_MEDIA_PROCESSES="1", LIVE_RECORDING="0", LIVE_HLS="0")
    if args.redis_url:
        env["LIVE_REDIS_URL"] = args.redis_url
        env["LIVE_REDIS_PREFIX"] = f"notifybench{os.getpid()}:"
    proc = subprocess.Popen([sys.executable, "-m", "live", "serve"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = Database(db_url)
    child: mp.process.BaseProcess | None = None
    parent_conn, child_conn = mp.Pipe()
    results: list[dict[str, Any]] = []
    try:
        await wait_ready(url, proc)
        prefix = f"m{int(time.time()) % 100000}-"
        owner = prefix + "owner"
        async with httpx.AsyncClient(base_url=url, timeout=60,
                                     headers={"Authorization": f"Bearer {mint(SECRET, owner, name='owner')}"}) as http:
            cid = (await http.post("/v1/communities", json={"name": "bench", "join_policy": "open"})).json()["id"]
            members = await add_members(db, cid, args.members, prefix)
            child = mp.get_context("spawn").Process(target=_clients, args=(child_conn, url, members[: args.connected]))
            child.start()
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, parent_conn.recv)  # ("connected", n)
            for n in range(args.runs):
                parent_conn.send("arm")
                await loop.run_in_executor(None, parent_conn.recv)  # "armed"
                gc.collect()  # this process's own garbage is not the server's latency
                wall0, t0 = time.time(), time.perf_counter()
                r = await http.post(f"/v1/communities/{cid}/live", json={"title": f"run {n}"})
                request_ms = (time.perf_counter() - t0) * 1000
                assert r.status_code == 201, r.text
                lid = r.json()["id"]
                nid = None
                while nid is None:
                    async with db.session() as session:
                        nid = (await session.execute(
                            select(Notification.id).where(Notification.live_id == lid).limit(1)
                        )).scalar_one_or_none()
                    if nid is None:
                        await asyncio.sleep(0.02)
                while await inbox_rows(db, nid) < args.members:
                    await asyncio.sleep(0.02)
                inbox_ms = (time.perf_counter() - t0) * 1000
                last = await loop.run_in_executor(None, parent_conn.recv)
                ws_ms = (last - wall0) * 1000 if last else 0.0
                result = {"run": n, "members": args.members, "connected": args.connected,
                          "request_ms": round(request_ms, 1), "inbox_all_ms": round(inbox_ms, 1),
                          "ws_all_ms": round(ws_ms, 1), "database": db_url.split(":", 1)[0]}
                print(json.dumps(result), flush=True)
                results.append(result)
                await http.post(f"/v1/live/{lid}/end")
    finally:
        if child is not None:
            parent_conn.send("exit")
            child.join(30)
        await db.close()
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(20)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m live.tools.notifybench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--connected", type=int, default=1_000, help="members connected over the WebSocket")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--redis-url", default=None, help="default: the in-process bus")
    args = parser.parse_args(argv)
    if args.connected > args.members:
        parser.error("--connected cannot exceed --members")
    results = asyncio.run(run(args))
    worst = {k: max(r[k] for r in results) for k in ("request_ms", "inbox_all_ms", "ws_all_ms")}
    print(f"worst of {len(results)} runs: request {worst['request_ms']} ms, every inbox row "
          f"{worst['inbox_all_ms']} ms, every connected member's event {worst['ws_all_ms']} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
