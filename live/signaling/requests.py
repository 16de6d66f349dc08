"""What each client request does: routed by type to the owning service after the room checks.

`perform` is what a connection calls for every request its session core passes on; the session
turns the outcome (data, or an ApiError) into the reply. A bug in a service answers `internal`
and closes the connection with 1011; the server stays up.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from live.chat.service import ChatService
from live.errors import ApiError, ErrorCode
from live.room_id import RoomId, RoomKind
from live.rooms.reactions import ReactionCounts
from live.signaling.connection import Connection
from live.signaling.parts import LiveRooms, MediaRequests
from live.signaling.rooms import RoomSeats
from live.signaling.safety import SafetyRealtime
from live.signaling.session import Effect, Request
from live.storage.ids import new_id

log = logging.getLogger("live.signaling.requests")

Handler = Callable[[Connection, Request], Awaitable[dict[str, Any]]]


class Requests:
    """The gateway's request router."""

    def __init__(self, *, rooms: RoomSeats, chat: ChatService, lives: LiveRooms, media: MediaRequests,
                 safety: SafetyRealtime, reactions: ReactionCounts) -> None:
        self.rooms = rooms
        self.chat = chat
        self.lives = lives
        self.media = media
        self.safety = safety
        self.reactions = reactions  # this node's viewers' reactions, published by the ticker
        self._handlers: dict[str, Handler] = {
            "room.join": self._join,
            "room.leave": self._leave,
            "chat.send": self._chat_send,
            "chat.delete": self._chat_delete,
            "reaction.send": self._reaction,
            "stage.request": self._stage,
            "stage.invite": self._stage,
            "stage.accept": self._stage,
            "stage.remove": self._stage,
            "media.publish": self._media,
            "media.subscribe": self._media,
            "media.stop": self._media,
        }

    async def perform(self, conn: Connection, request: Request) -> list[Effect]:
        """Perform one client request; the session turns the outcome into the reply."""
        handler = self._handlers.get(request.type)
        try:
            if handler is None:
                raise ApiError(ErrorCode.INVALID_REQUEST, f"unknown message type {request.type!r}")
            self.safety.check_request(conn, request.type)
            data = await handler(conn, request)
        except ApiError as exc:
            return conn.session.fail(request, exc)
        except Exception:
            log.exception("%s from %s failed", request.type, conn.user_id)
            effects = conn.session.fail(
                request, ApiError(ErrorCode.INTERNAL, "the server failed on this request")
            )
            return effects + conn.session.close(1011, "server error")
        return conn.session.complete(request, data)

    # -- rooms -----------------------------------------------------------------------------------

    async def _join(self, conn: Connection, request: Request) -> dict[str, Any]:
        return await self.rooms.join(conn, request.message["room"], request.message.get("since"))

    async def _leave(self, conn: Connection, request: Request) -> dict[str, Any]:
        room = request.message["room"]
        await self.rooms.leave(conn, room)
        return {"room": room}

    # -- chat, reactions, stage, media -----------------------------------------------------------

    @staticmethod
    def _chat_room(room: RoomId) -> None:
        # Who may chat (membership, bans, mutes, slow mode...) is the chat service's to decide,
        # on every message with its own fresh-enough caches; here only: does the room have chat.
        if not room.has_chat:
            raise ApiError(ErrorCode.INVALID_REQUEST, "community rooms have no chat",
                           fields={"room": "has no chat"})

    async def _chat_send(self, conn: Connection, request: Request) -> dict[str, Any]:
        room = request.message["room"]
        self._chat_room(room)
        nonce = request.message.get("nonce") or new_id()
        event = await self.chat.append(room, conn.user, request.message["text"], nonce)
        return {"room": room, "seq": event["seq"], "id": event["id"], "epoch": event.get("epoch")}

    async def _chat_delete(self, conn: Connection, request: Request) -> dict[str, Any]:
        room = request.message["room"]
        self._chat_room(room)
        await self.chat.delete(room, request.message["seq"], conn.user, request.message.get("reason") or "")
        return {"room": room}

    async def _reaction(self, conn: Connection, request: Request) -> dict[str, Any]:
        room = request.message["room"]
        access = await self.rooms.access(conn, room)
        # The same rule as chat: members only, not banned or muted (watching is not reacting).
        standing = await self.chat.standing(access.community_id, conn.user_id)
        if standing.silenced is not None and standing.silenced.code is ErrorCode.BANNED:
            raise standing.silenced
        if standing.role is None:
            raise ApiError(ErrorCode.NOT_MEMBER, "only members of this community can react")
        if standing.silenced is not None:
            raise standing.silenced
        self.reactions.add(room, request.message["kind"])
        return {}

    async def _stage(self, conn: Connection, request: Request) -> dict[str, Any]:
        room = request.message["room"]
        kind, lid = room.kind, room.ident
        if kind is not RoomKind.LIVE:
            raise ApiError(ErrorCode.INVALID_REQUEST, "only live rooms have a stage",
                           fields={"room": "not a live room"})
        await self.rooms.access(conn, room)
        action = request.type.split(".", 1)[1]
        stage = await self.lives.stage_action(lid, conn.user, action, request.message.get("user_id"))
        return {"room": room, "stage": stage}

    async def _media(self, conn: Connection, request: Request) -> dict[str, Any]:
        room = request.message["room"]
        await self.rooms.access(conn, room)
        msg = request.message
        if request.type == "media.publish":
            placed = await self.media.publish(room, conn.user, msg["sdp"])
            return {"sdp": placed.sdp, "worker": placed.worker}
        if request.type == "media.subscribe":
            placed = await self.media.subscribe(room, conn.user, msg["sdp"], msg.get("publisher"))
            return {"sdp": placed.sdp, "worker": placed.worker}
        await self.media.stop(room, conn.user, msg.get("publisher"))
        return {}
