"""HTTP side of media: WHIP/WHEP (RFC 9725 and its viewer twin), recordings, thumbnails; and the
component that starts `services.components["media"]`.

WHIP: `POST /v1/live/{lid}/whip` with `Content-Type: application/sdp` and the host's (or a stage
guest's) Bearer token answers 201 with the SDP answer and `Location` of the session; `DELETE` on
that location stops publishing. WHEP is the same for viewers at `/whep`. `OPTIONS` answers CORS
preflights (and says `Accept-Post: application/sdp`). Configured ICE servers are announced in
`Link: <url>; rel="ice-server"` headers (RFC 9725 section 4.6). Trickle ICE (`PATCH`) is not
supported: the answer carries every candidate.

Sessions expire (`Sessions`): one whose live ended, or whose peer connection is gone (the
publisher stopped sending, the relay dropped the viewer), or that a newer session of the same
user and kind replaced, is collected, and its `DELETE` is 404 like any unknown session.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
import time
from pathlib import Path
from typing import Any

from starlette.responses import FileResponse, Response

from live.communities.access import require_reader
from live.errors import ApiError, ErrorCode
from live.errors import ErrorCode as E
from live.http.api import Api, Ctx, authenticate
from live.media.recorder import metadata
from live.media.service import MediaService
from live.rooms.access import check_room

api = Api("media")
log = logging.getLogger("live.media")

CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, If-Match",
    "Access-Control-Expose-Headers": "Location, Link, ETag, Accept-Post",
    "Access-Control-Max-Age": "600",
}
SDP_LIMIT = 64 * 1024
SWEEP_SECONDS = 5.0


@dataclasses.dataclass
class Session:
    """A WHIP or WHEP session: what its `Location` names, until it is deleted or collected."""

    sid: str
    room: str
    user_id: str
    kind: str  # "whip" | "whep"
    publisher: str
    created: float  # time.monotonic()
    seen: bool = False  # its peer connection was seen in the relay at least once


class Sessions:
    """This node's WHIP/WHEP sessions, and their collection.

    A session is alive while its live is, and while its peer connection is: a WHIP session while
    its user publishes in the room, a WHEP session while the publisher it watches does and the
    relay still holds the viewer's subscription. With media workers this node learns of a new
    publication a moment after the answer, so a session not yet seen there is given `settle`
    seconds (the media timeout) before that counts against it. Dead sessions go at once on
    `live.ended`, every SWEEP_SECONDS, and whenever one is asked for (so a DELETE never acts on
    a dead one).
    """

    def __init__(self, services: Any, media: MediaService) -> None:
        self.services = services
        self.media = media
        self.settle = float(services.settings.media_timeout_seconds)
        self.by_id: dict[str, Session] = {}
        self._sweeper: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.services.events.on("live.ended", self.on_live_ended)
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="whip-session-sweep")

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        self.by_id.clear()

    def add(self, room: str, user_id: str, kind: str, publisher: str) -> Session:
        # A new session of the same user and kind replaces the old one in the relay (a publisher
        # has one publication per room, a viewer one subscription per publisher): the old
        # Location would otherwise stop the new session's media.
        for old in [s for s in self.by_id.values()
                    if (s.room, s.user_id, s.kind, s.publisher) == (room, user_id, kind, publisher)]:
            del self.by_id[old.sid]
        session = Session(secrets.token_urlsafe(16), room, user_id, kind, publisher, time.monotonic(),
                          seen=publisher in self.media.publishers(room))
        self.by_id[session.sid] = session
        return session

    async def get(self, sid: str) -> Session | None:
        """The live session called `sid`, or None (unknown, deleted, or dead and now collected)."""
        session = self.by_id.get(sid)
        if session is None:
            return None
        if not await self._live_is_on(session.room) or not await self._peer_is_there(session):
            self.by_id.pop(sid, None)
            return None
        return session

    def remove(self, sid: str) -> None:
        self.by_id.pop(sid, None)

    async def on_live_ended(self, payload: dict[str, Any]) -> None:
        room = f"live:{(payload.get('live') or {}).get('id')}"
        for sid in [s.sid for s in self.by_id.values() if s.room == room]:
            self.by_id.pop(sid, None)

    async def sweep(self) -> int:
        """Collect every dead session now; how many went."""
        gone = 0
        rooms_on = {room: await self._live_is_on(room) for room in {s.room for s in self.by_id.values()}}
        for session in list(self.by_id.values()):
            if not rooms_on.get(session.room, False) or not await self._peer_is_there(session):
                if self.by_id.pop(session.sid, None) is not None:
                    gone += 1
        return gone

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            try:
                await self.sweep()
            except Exception:  # noqa: BLE001 - the next sweep tries again
                log.warning("collecting WHIP/WHEP sessions failed", exc_info=True)

    async def _live_is_on(self, room: str) -> bool:
        lives = self.services.components.get("lives")
        if lives is None:
            return False
        info = await lives.room_info(room.removeprefix("live:"))
        return info is not None and info.status == "live"

    async def _peer_is_there(self, session: Session) -> bool:
        there = session.publisher in self.media.publishers(session.room)
        if there and session.kind == "whep":
            # Unknown (None) with media workers: the publisher's presence is all this node sees.
            there = await self.media.subscribed(session.room, session.user_id, session.publisher) is not False
        if there:
            session.seen = True
            return True
        return not session.seen and time.monotonic() - session.created < self.settle


async def start(services: Any) -> None:
    media = MediaService(services)
    await media.start()
    services.components["media"] = media
    sessions = Sessions(services, media)
    sessions.start()
    services.components["media_sessions"] = sessions


async def stop(services: Any) -> None:
    sessions = services.components.pop("media_sessions", None)
    if sessions is not None:
        await sessions.close()
    media = services.components.pop("media", None)
    if media is not None:
        await media.shutdown()


def _media(ctx: Ctx[Any, Any]) -> MediaService:
    media = ctx.services.components.get("media")
    if media is None:
        raise ApiError(ErrorCode.UNAVAILABLE, "media is not available on this server")
    return media  # type: ignore[no-any-return]


def _sessions(ctx: Ctx[Any, Any]) -> Sessions:
    sessions = ctx.services.components.get("media_sessions")
    if sessions is None:
        raise ApiError(ErrorCode.UNAVAILABLE, "media is not available on this server")
    return sessions  # type: ignore[no-any-return]


async def _sdp_body(ctx: Ctx[Any, Any]) -> str:
    ctype = ctx.request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/sdp":
        raise ApiError(ErrorCode.INVALID_REQUEST, "the body must be an SDP offer (Content-Type: application/sdp)",
                       fields={"content-type": "expected application/sdp"})
    raw = await ctx.request.body()
    if len(raw) > SDP_LIMIT:
        raise ApiError(ErrorCode.PAYLOAD_TOO_LARGE, "the SDP offer is too large")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(ErrorCode.INVALID_REQUEST, "the SDP offer is not UTF-8", fields={"body": "not UTF-8"}) from None


def _links(ctx: Ctx[Any, Any]) -> dict[str, str]:
    links = []
    for server in ctx.services.settings.ice_servers:
        urls = server["urls"] if isinstance(server["urls"], list) else [server["urls"]]
        for url in urls:
            link = f'<{url}>; rel="ice-server"'
            if server.get("username"):
                link += f'; username="{server["username"]}"; credential="{server.get("credential", "")}"'
                link += '; credential-type="password"'
            links.append(link)
    return {"Link": ", ".join(links)} if links else {}


async def _open_session(ctx: Ctx[Any, Any], kind: str) -> Response:
    lid = ctx.params["lid"]
    room = f"live:{lid}"
    sdp = await _sdp_body(ctx)
    media = _media(ctx)
    if kind == "whip":
        answer = (await media.publish(room, ctx.user, sdp)).sdp
        publisher = ctx.user.id
    else:
        await check_room(ctx.services, room, ctx.user.id)
        publisher = (await media.live_info(room)).host_id
        answer = (await media.subscribe(room, ctx.user, sdp, publisher)).sdp
    sid = _sessions(ctx).add(room, ctx.user.id, kind, publisher).sid
    location = f"/v1/live/{lid}/{kind}/{sid}"
    headers = {**CORS, "Location": location, "ETag": f'"{sid}"', **_links(ctx)}
    return Response(answer, status_code=201, media_type="application/sdp", headers=headers)


async def _close_session(ctx: Ctx[Any, Any], kind: str) -> Response:
    media, sessions = _media(ctx), _sessions(ctx)
    session = await sessions.get(ctx.params["sid"])
    if (session is None or session.kind != kind or session.room != f"live:{ctx.params['lid']}"
            or session.user_id != ctx.user.id):
        raise ApiError(ErrorCode.NOT_FOUND, "no such session")
    sessions.remove(session.sid)
    await media.stop(session.room, ctx.user, session.publisher)
    return Response(status_code=200, headers=CORS)


def _preflight() -> Response:
    return Response(status_code=204, headers={**CORS, "Accept-Post": "application/sdp"})


@api.post("/v1/live/{lid}/whip", status=201, content_type="application/sdp",
          errors=[E.INVALID_REQUEST, E.FORBIDDEN, E.NOT_FOUND, E.CONFLICT, E.PAYLOAD_TOO_LARGE, E.UNAVAILABLE])
async def whip_publish(ctx: Ctx[None, None]) -> Response:
    """Publish to a live with WHIP (RFC 9725): SDP offer in, 201 with the answer and Location.

    The host or a guest on stage; H.264 or VP8 video and Opus audio; all candidates in the SDP."""
    return await _open_session(ctx, "whip")


@api.delete("/v1/live/{lid}/whip/{sid}", errors=[E.NOT_FOUND])
async def whip_stop(ctx: Ctx[None, None]) -> Response:
    """End a WHIP publishing session."""
    return await _close_session(ctx, "whip")


@api.options("/v1/live/{lid}/whip", auth=False, status=204)
async def whip_options(ctx: Ctx[None, None]) -> Response:
    """CORS preflight of WHIP."""
    return _preflight()


@api.options("/v1/live/{lid}/whip/{sid}", auth=False, status=204)
async def whip_session_options(ctx: Ctx[None, None]) -> Response:
    """CORS preflight of a WHIP session."""
    return _preflight()


@api.post("/v1/live/{lid}/whep", status=201, content_type="application/sdp",
          errors=[E.INVALID_REQUEST, E.NOT_FOUND, E.CONFLICT, E.BANNED, E.PAYLOAD_TOO_LARGE, E.UNAVAILABLE])
async def whep_watch(ctx: Ctx[None, None]) -> Response:
    """Watch a live with WHEP: SDP offer (recvonly) in, 201 with the answer and Location."""
    return await _open_session(ctx, "whep")


@api.delete("/v1/live/{lid}/whep/{sid}", errors=[E.NOT_FOUND])
async def whep_stop(ctx: Ctx[None, None]) -> Response:
    """End a WHEP viewing session."""
    return await _close_session(ctx, "whep")


@api.options("/v1/live/{lid}/whep", auth=False, status=204)
async def whep_options(ctx: Ctx[None, None]) -> Response:
    """CORS preflight of WHEP."""
    return _preflight()


@api.options("/v1/live/{lid}/whep/{sid}", auth=False, status=204)
async def whep_session_options(ctx: Ctx[None, None]) -> Response:
    """CORS preflight of a WHEP session."""
    return _preflight()


# -- recordings and thumbnails -----------------------------------------------------------------


async def _readable_live(ctx: Ctx[Any, Any], user_id: str | None) -> Any:
    """The live's info, if `user_id` may read its community (None: only public communities)."""
    lives = ctx.services.components.get("lives")
    if lives is None:
        raise ApiError(ErrorCode.UNAVAILABLE, "live sessions are not available on this server")
    info = await lives.room_info(ctx.params["lid"])
    if info is None:
        raise ApiError(ErrorCode.NOT_FOUND, "no such live")
    async with ctx.services.db.session() as session:
        if user_id is not None:
            await require_reader(session, info.community_id, user_id)
        else:
            from live.communities.access import load_community

            community = await load_community(session, info.community_id)
            if community.read_policy != "public":
                raise ApiError(ErrorCode.NOT_FOUND, "no such live")
    return info


def _recording(ctx: Ctx[Any, Any], info: Any) -> dict[str, Any]:
    if info.status == "live":
        raise ApiError(ErrorCode.CONFLICT, "the live is still running; its recording is ready once it ends")
    meta = metadata(Path(ctx.services.settings.var_dir) / "recordings", info.id)
    if meta is None or not Path(meta["path"]).exists():
        raise ApiError(ErrorCode.NOT_FOUND, "this live has no recording")
    return meta


@api.get("/v1/live/{lid}/recording", errors=[E.NOT_FOUND, E.CONFLICT])
async def recording(ctx: Ctx[None, None]) -> dict[str, Any]:
    """A live's recording once it has ended: size, duration, format and download URL (409 while live)."""
    info = await _readable_live(ctx, ctx.user.id)
    meta = _recording(ctx, info)
    path = Path(meta["path"])
    webm = path.suffix == ".webm"
    return {
        "live_id": info.id,
        "size": meta["size"],
        "duration": meta.get("duration"),
        "format": "webm" if webm else "matroska",
        "content_type": "video/webm" if webm else "video/x-matroska",
        "streams": meta.get("streams", []),
        "url": f"/v1/live/{info.id}/recording/file",
    }


@api.get("/v1/live/{lid}/recording/file", errors=[E.NOT_FOUND, E.CONFLICT])
async def recording_file(ctx: Ctx[None, None]) -> Response:
    """Download a live's recording (WebM for VP8, Matroska for H.264)."""
    info = await _readable_live(ctx, ctx.user.id)
    path = Path(_recording(ctx, info)["path"])
    webm = path.suffix == ".webm"
    return FileResponse(path, media_type="video/webm" if webm else "video/x-matroska",
                        filename=f"live-{info.id}{path.suffix}")


@api.get("/v1/live/{lid}/thumbnail.jpg", auth=False, errors=[E.NOT_FOUND, E.UNAUTHORIZED])
async def thumbnail(ctx: Ctx[None, None]) -> Response:
    """The live's latest thumbnail (JPEG). Public communities need no token (so `<img>` works)."""
    user_id = None
    if ctx.request.headers.get("authorization"):
        user_id = (await authenticate(ctx.request, ctx.services)).id
    info = await _readable_live(ctx, user_id)
    path = Path(ctx.services.settings.var_dir) / "thumbnails" / f"{info.id}.jpg"
    if not await asyncio.to_thread(path.exists):
        raise ApiError(ErrorCode.NOT_FOUND, "no thumbnail yet")
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "no-cache"})
