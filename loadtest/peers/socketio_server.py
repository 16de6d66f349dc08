"""The python-socketio peer: the same rooms and chat fan-out as `live`, the stock way.

An `AsyncServer` (ASGI, under uvicorn like `live`) with `AsyncRedisManager`, so every emit goes
through Redis pub/sub to every node, as in a multi-node deployment. Events (all with acks):

- `join` {room} -> {room, seq}: enter the room; `seq` is the room's latest.
- `leave` {room} -> {room}
- `chat.send` {room, text, nonce} -> {seq, id}: under a per-room lock, one Lua script allocates the
  next `seq` and appends the message to a capped Redis stream (history, like `live`'s), then the
  message is emitted to the room as `chat.message` {room, epoch, seq, id, user, text, ts}.

It does less than `live` per message (no SQL row, no membership, sanctions or rate limits), which
favours the peer; the comparison is about the fan-out path. No authentication: the client names
itself in the Socket.IO `auth` payload.

    python -m loadtest.peers.socketio_server --port 8090 --redis-url redis://127.0.0.1:6379/0
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from typing import Any

APPEND = """
local seq = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', '1000', '*', 'seq', seq, 'data', ARGV[1])
return seq
"""


def build_app(redis_url: str, prefix: str) -> Any:
    import redis.asyncio as aioredis
    import socketio

    manager = socketio.AsyncRedisManager(redis_url, channel=prefix + "socketio")
    sio = socketio.AsyncServer(
        async_mode="asgi", client_manager=manager, cors_allowed_origins="*", logger=False,
        engineio_logger=False, max_http_buffer_size=1 << 20,
    )
    redis = aioredis.from_url(redis_url)
    append = redis.register_script(APPEND)
    locks: dict[str, asyncio.Lock] = {}
    users: dict[str, dict[str, str]] = {}

    @sio.event
    async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> bool:
        auth = auth if isinstance(auth, dict) else {}
        user = str(auth.get("user") or sid)[:64]
        users[sid] = {"id": user, "name": str(auth.get("name") or user)[:200]}
        return True

    @sio.event
    async def disconnect(sid: str, *args: Any) -> None:
        users.pop(sid, None)

    def _room(data: Any) -> str | None:
        room = data.get("room") if isinstance(data, dict) else None
        return room if isinstance(room, str) and 0 < len(room) <= 100 else None

    @sio.on("join")
    async def join(sid: str, data: Any) -> dict[str, Any]:
        room = _room(data)
        if room is None:
            return {"error": "invalid_request"}
        await sio.enter_room(sid, room)
        seq = await redis.get(f"{prefix}seq:{room}")
        return {"room": room, "seq": int(seq or 0)}

    @sio.on("leave")
    async def leave(sid: str, data: Any) -> dict[str, Any]:
        room = _room(data)
        if room is None:
            return {"error": "invalid_request"}
        await sio.leave_room(sid, room)
        return {"room": room}

    @sio.on("chat.send")
    async def chat_send(sid: str, data: Any) -> dict[str, Any]:
        room = _room(data)
        text = data.get("text") if isinstance(data, dict) else None
        if room is None or not isinstance(text, str) or not text.strip():
            return {"error": "invalid_request"}
        if len(text) > 500:
            return {"error": "message_too_long"}
        user = users.get(sid) or {"id": sid, "name": sid}
        lock = locks.setdefault(room, asyncio.Lock())
        message_id = uuid.uuid4().hex
        async with lock:  # seq order == emit order, as `live` guarantees
            message = {"type": "chat.message", "room": room, "epoch": "1", "id": message_id,
                       "user": user, "text": text, "ts": time.time()}
            seq = int(await append(keys=[f"{prefix}seq:{room}", f"{prefix}history:{room}"],
                                   args=[text]))
            message["seq"] = seq
            await sio.emit("chat.message", message, room=room)
        return {"seq": seq, "id": message_id}

    return socketio.ASGIApp(sio, socketio_path="socket.io")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.peers.socketio_server",
        description="python-socketio + AsyncRedisManager chat server, the peer of `live` in benchmarks",
    )
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8090, help="listen port (default 8090)")
    parser.add_argument("--redis-url", default=os.environ.get("LIVE_REDIS_URL") or "redis://127.0.0.1:6379/0",
                        help="Redis for AsyncRedisManager and seq/history (default $LIVE_REDIS_URL "
                             "or redis://127.0.0.1:6379/0)")
    parser.add_argument("--prefix", default="loadtest-sio:",
                        help="prefix of its Redis keys and channel (default loadtest-sio:)")
    args = parser.parse_args(argv)

    import uvicorn

    uvicorn.run(build_app(args.redis_url, args.prefix), host=args.host, port=args.port,
                log_level="warning", ws_per_message_deflate=False, ws_max_size=1 << 20)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
