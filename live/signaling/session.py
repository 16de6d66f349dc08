"""The WebSocket session core: pure, no I/O, no `await` — frames in, effects out.

The adapter (`endpoint.py`) feeds what the client sent (`receive_frame`) and what a service
answered (`complete` / `fail`), and carries out the returned effects in order:

- `Reply(message)`: send this message to the client (every reply echoes the request's `ref`);
- `Request(type, message)`: perform this validated client request, then call back;
- `Close(code, reason)`: close the socket with this code.

The rules are data. A connection is `OPEN` or `CLOSED` (`CONNECTION_TRANSITIONS`); each room of
the connection is absent, `JOINING` or `JOINED` (`ROOM_TRANSITIONS`); a missing key in a table is
a protocol error, either the client's (an error reply) or ours (`LocalProtocolError`). Flooding is
judged on raw frames, before any decoding, by a token bucket with an injected clock.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

from live.auth.tokens import Principal
from live.errors import ApiError, ErrorCode, LiveError
from live.signaling import codec

# Close codes of the contract (and two of RFC 6455).
CLOSE_GOING_AWAY = 1001
CLOSE_SERVER_ERROR = 1011
CLOSE_UNAUTHORIZED = 4001
CLOSE_FORBIDDEN = 4003
CLOSE_TOO_SLOW = 4008
CLOSE_TOO_BIG = 4009
CLOSE_FLOODING = 4029

# Raw frames a client may send: a sustained rate and a burst on top (a page reload that rejoins
# ten rooms and replays a few chat messages stays far below; a script in a loop does not).
FLOOD_RATE = 30.0
FLOOD_BURST = 60.0


class LocalProtocolError(LiveError):
    """We misused the core (a bug in the adapter), e.g. feeding frames after `Close`."""


class ConnectionState(enum.Enum):
    OPEN = "open"
    CLOSED = "closed"


class RoomState(enum.Enum):
    JOINING = "joining"
    JOINED = "joined"


# {state: {event: next state}}; a missing key is not allowed.
CONNECTION_TRANSITIONS: dict[ConnectionState, dict[str, ConnectionState]] = {
    ConnectionState.OPEN: {
        "frame": ConnectionState.OPEN,
        "flood": ConnectionState.CLOSED,
        "oversize": ConnectionState.CLOSED,
        "close": ConnectionState.CLOSED,
    },
    ConnectionState.CLOSED: {"close": ConnectionState.CLOSED},
}

# None = not in the room. Rejoining a joined room is allowed (a client recovering with `since`).
ROOM_TRANSITIONS: dict[RoomState | None, dict[str, RoomState | None]] = {
    None: {"join": RoomState.JOINING, "leave": None, "removed": None},
    RoomState.JOINING: {"joined": RoomState.JOINED, "join_failed": None, "removed": None},
    RoomState.JOINED: {"join": RoomState.JOINING, "leave": None, "removed": None},
}


# -- effects -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Reply:
    message: dict[str, Any]


@dataclasses.dataclass(frozen=True, slots=True)
class Request:
    type: str
    message: dict[str, Any]

    @property
    def ref(self) -> Any:
        return self.message.get("ref")

    @property
    def room(self) -> str | None:
        return self.message.get("room")


@dataclasses.dataclass(frozen=True, slots=True)
class Close:
    code: int
    reason: str


Effect = Reply | Request | Close


# -- replies (the one place ApiError becomes a WebSocket error message) --------------------------


def ok_reply(ref: Any, data: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "ok"}
    if ref is not None:
        out["ref"] = ref
    if data:
        out.update({k: v for k, v in data.items() if k not in ("type", "ref")})
    return out


def error_reply(ref: Any, error: ApiError) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "error"}
    if ref is not None:
        out["ref"] = ref
    out.update(error.to_dict())
    return out


# -- the flood limiter -------------------------------------------------------------------------


class TokenBucket:
    """`rate` tokens a second up to `burst`; each frame takes one. The clock is the caller's."""

    __slots__ = ("rate", "burst", "_tokens", "_at")

    def __init__(self, rate: float = FLOOD_RATE, burst: float = FLOOD_BURST, now: float = 0.0):
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._at = now

    def allow(self, now: float) -> bool:
        if now > self._at:
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
            self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


# -- the session -------------------------------------------------------------------------------


class Session:
    """One client connection's protocol state."""

    __slots__ = ("id", "user", "encoding", "max_frame_bytes", "limiter", "state", "rooms", "frames_in")

    def __init__(
        self,
        session_id: str,
        user: Principal,
        *,
        encoding: codec.Encoding = codec.Encoding.JSON,
        max_frame_bytes: int = 65536,
        limiter: TokenBucket | None = None,
    ) -> None:
        self.id = session_id
        self.user = user
        self.encoding = encoding
        self.max_frame_bytes = max_frame_bytes
        self.limiter = limiter or TokenBucket()
        self.state = ConnectionState.OPEN
        self.rooms: dict[str, RoomState] = {}
        self.frames_in = 0

    # -- transitions

    def _move(self, event: str) -> None:
        try:
            self.state = CONNECTION_TRANSITIONS[self.state][event]
        except KeyError:
            raise LocalProtocolError(f"{event!r} in state {self.state.value}") from None

    def _move_room(self, room: str, event: str) -> bool:
        """Apply a room event; False when the table does not allow it."""
        current = self.rooms.get(room)
        allowed = ROOM_TRANSITIONS[current]
        if event not in allowed:
            return False
        nxt = allowed[event]
        if nxt is None:
            self.rooms.pop(room, None)
        else:
            self.rooms[room] = nxt
        return True

    # -- input

    def welcome(self, heartbeat: float, ice_servers: list[dict[str, Any]]) -> dict[str, Any]:
        """The first message the server sends."""
        return {
            "type": "welcome",
            "session": self.id,
            "user": {"id": self.user.id, "name": self.user.name},
            "heartbeat": heartbeat,
            "ice_servers": ice_servers,
        }

    def receive_frame(self, frame: bytes | str, now: float) -> list[Effect]:
        """A frame from the client, at time `now` (seconds, any monotonic origin)."""
        if self.state is ConnectionState.CLOSED:
            raise LocalProtocolError("frame received after close")
        size = len(frame) if isinstance(frame, bytes) else len(frame.encode())
        if size > self.max_frame_bytes:
            self._move("oversize")
            return [Close(CLOSE_TOO_BIG, f"frame over {self.max_frame_bytes} bytes")]
        if not self.limiter.allow(now):
            self._move("flood")
            return [Close(CLOSE_FLOODING, "too many frames")]
        self._move("frame")
        self.frames_in += 1
        try:
            message = codec.decode(frame, self.encoding)
        except codec.FrameError as exc:
            return [Reply(exc.reply())]
        return self.receive_message(message)

    def receive_message(self, message: dict[str, Any]) -> list[Effect]:
        """A validated client message (from `codec.decode`)."""
        kind: str = message["type"]
        ref = message.get("ref")
        if kind == "ping":
            return [Reply(ok_reply(ref))]
        if kind == "room.join":
            room = message["room"]
            if not self._move_room(room, "join"):
                error = ApiError(ErrorCode.CONFLICT, f"already joining {room}")
                return [Reply(error_reply(ref, error))]
        elif kind == "room.leave":
            self._move_room(message["room"], "leave")
        return [Request(kind, message)]

    # -- results of requests

    def complete(self, request: Request, data: dict[str, Any] | None = None) -> list[Effect]:
        """The service performed `request`: the ok reply (room state advances for joins)."""
        if request.type == "room.join" and request.room is not None:
            if not self._move_room(request.room, "joined"):
                # Removed (kick/ban) while the join was in flight: the join does not stand.
                error = ApiError(ErrorCode.FORBIDDEN, "you were removed from this room")
                return [Reply(error_reply(request.ref, error))]
        return [Reply(ok_reply(request.ref, data))]

    def fail(self, request: Request, error: ApiError) -> list[Effect]:
        """The service refused `request`: the error reply."""
        if request.type == "room.join" and request.room is not None:
            self._move_room(request.room, "join_failed")
        return [Reply(error_reply(request.ref, error))]

    def remove_from_room(self, room: str) -> bool:
        """The server took the client out of `room` (kick, ban, room closed); False if not in it."""
        if room not in self.rooms:
            return False
        self._move_room(room, "removed")
        return True

    def close(self, code: int, reason: str) -> list[Effect]:
        if self.state is ConnectionState.CLOSED:
            return []
        self._move("close")
        return [Close(code, reason)]

    def joined(self, room: str) -> bool:
        return self.rooms.get(room) is RoomState.JOINED
