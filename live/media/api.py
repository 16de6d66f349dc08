"""HTTP side of media: WHIP/WHEP (RFC 9725 and its viewer twin), recordings, thumbnails.

WHIP: `POST /v1/live/{lid}/whip` with `Content-Type: application/sdp` and the host's (or a stage
guest's) Bearer token answers 201 with the SDP answer and `Location` of the session; `DELETE` on
that location stops publishing. WHEP is the same for viewers at `/whep`. `OPTIONS` answers CORS
preflights (and says `Accept-Post: application/sdp`). Configured ICE servers are announced in
`Link: <url>; rel="ice-server"` headers (RFC 9725 section 4.6). Trickle ICE (`PATCH`) is not
supported: the answer carries every candidate.

Sessions expire (`live.media.sessions`): one whose live ended, or whose peer connection is gone
(the publisher stopped sending, the relay dropped the viewer), or that a newer session of the same
user and kind replaced, is collected, and its `DELETE` is 404 like any unknown session.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any, Protocol

from starlette.responses import FileResponse, Response

from live.communities.access import load_community, require_reader
from live.errors import ApiError, ErrorCode, ErrorCode as E
from live.http.api import Api, Ctx, authenticate
from live.lives.service import LiveInfo, LiveService
from live.media.recorder import metadata
from live.media.service import MediaService
from live.media.sessions import Sessions
from live.room_id import RoomId
from live.rooms.access import RoomChecks
from live.services import Core


class MediaServices(Core, Protocol):
    """What the media routes need of the node."""

    lives: LiveService
    media: MediaService
    media_sessions: Sessions
    room_checks: RoomChecks


api: Api[MediaServices] = Api("media")
log = logging.getLogger("live.media")

CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, If-Match",
    "Access-Control-Expose-Headers": "Location, Link, ETag, Accept-Post",
    "Access-Control-Max-Age": "600",
}
SDP_LIMIT = 64 * 1024


async def _sdp_body(ctx: Ctx[MediaServices, Any, Any]) -> str:
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


def _links(ctx: Ctx[MediaServices, Any, Any]) -> dict[str, str]:
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


async def _open_session(ctx: Ctx[MediaServices, Any, Any], kind: str) -> Response:
    lid = ctx.params["lid"]
    room = RoomId.live(lid)
    sdp = await _sdp_body(ctx)
    media = ctx.services.media
    if kind == "whip":
        answer = (await media.publish(room, ctx.user, sdp)).sdp
        publisher = ctx.user.id
    else:
        await ctx.services.room_checks.check(room, ctx.user.id)
        publisher = (await media.live_info(room)).host_id
        answer = (await media.subscribe(room, ctx.user, sdp, publisher)).sdp
    sid = ctx.services.media_sessions.add(room, ctx.user.id, kind, publisher).sid
    location = f"/v1/live/{lid}/{kind}/{sid}"
    headers = {**CORS, "Location": location, "ETag": f'"{sid}"', **_links(ctx)}
    return Response(answer, status_code=201, media_type="application/sdp", headers=headers)


async def _close_session(ctx: Ctx[MediaServices, Any, Any], kind: str) -> Response:
    media, sessions = ctx.services.media, ctx.services.media_sessions
    session = await sessions.get(ctx.params["sid"])
    if (session is None or session.kind != kind or session.room != RoomId.live(ctx.params["lid"])
            or session.user_id != ctx.user.id):
        raise ApiError(ErrorCode.NOT_FOUND, "no such session")
    sessions.remove(session.sid)
    await media.stop(session.room, ctx.user, session.publisher)
    return Response(status_code=200, headers=CORS)


def _preflight() -> Response:
    return Response(status_code=204, headers={**CORS, "Accept-Post": "application/sdp"})


@api.post("/v1/live/{lid}/whip", status=201, content_type="application/sdp",
          errors=[E.INVALID_REQUEST, E.FORBIDDEN, E.NOT_FOUND, E.CONFLICT, E.PAYLOAD_TOO_LARGE, E.UNAVAILABLE])
async def whip_publish(ctx: Ctx[MediaServices, None, None]) -> Response:
    """Publish to a live with WHIP (RFC 9725): SDP offer in, 201 with the answer and Location.

    The host or a guest on stage; H.264 or VP8 video and Opus audio; all candidates in the SDP."""
    return await _open_session(ctx, "whip")


@api.delete("/v1/live/{lid}/whip/{sid}", errors=[E.NOT_FOUND])
async def whip_stop(ctx: Ctx[MediaServices, None, None]) -> Response:
    """End a WHIP publishing session."""
    return await _close_session(ctx, "whip")


@api.options("/v1/live/{lid}/whip", auth=False, status=204)
async def whip_options(ctx: Ctx[MediaServices, None, None]) -> Response:
    """CORS preflight of WHIP."""
    return _preflight()


@api.options("/v1/live/{lid}/whip/{sid}", auth=False, status=204)
async def whip_session_options(ctx: Ctx[MediaServices, None, None]) -> Response:
    """CORS preflight of a WHIP session."""
    return _preflight()


@api.post("/v1/live/{lid}/whep", status=201, content_type="application/sdp",
          errors=[E.INVALID_REQUEST, E.NOT_FOUND, E.CONFLICT, E.BANNED, E.PAYLOAD_TOO_LARGE, E.UNAVAILABLE])
async def whep_watch(ctx: Ctx[MediaServices, None, None]) -> Response:
    """Watch a live with WHEP: SDP offer (recvonly) in, 201 with the answer and Location."""
    return await _open_session(ctx, "whep")


@api.delete("/v1/live/{lid}/whep/{sid}", errors=[E.NOT_FOUND])
async def whep_stop(ctx: Ctx[MediaServices, None, None]) -> Response:
    """End a WHEP viewing session."""
    return await _close_session(ctx, "whep")


@api.options("/v1/live/{lid}/whep", auth=False, status=204)
async def whep_options(ctx: Ctx[MediaServices, None, None]) -> Response:
    """CORS preflight of WHEP."""
    return _preflight()


@api.options("/v1/live/{lid}/whep/{sid}", auth=False, status=204)
async def whep_session_options(ctx: Ctx[MediaServices, None, None]) -> Response:
    """CORS preflight of a WHEP session."""
    return _preflight()


# -- recordings and thumbnails -----------------------------------------------------------------


async def _readable_live(ctx: Ctx[MediaServices, Any, Any], user_id: str | None) -> LiveInfo:
    """The live's info, if `user_id` may read its community (None: only public communities)."""
    info = await ctx.services.lives.room_info(ctx.params["lid"])
    if info is None:
        raise ApiError(ErrorCode.NOT_FOUND, "no such live")
    async with ctx.services.db.session() as session:
        if user_id is not None:
            await require_reader(session, info.community_id, user_id)
        else:
            community = await load_community(session, info.community_id)
            if community.read_policy != "public":
                raise ApiError(ErrorCode.NOT_FOUND, "no such live")
    return info


def _recording(ctx: Ctx[MediaServices, Any, Any], info: LiveInfo) -> dict[str, Any]:
    if info.status == "live":
        raise ApiError(ErrorCode.CONFLICT, "the live is still running; its recording is ready once it ends")
    meta = metadata(Path(ctx.services.settings.var_dir) / "recordings", info.id)
    if meta is None or not Path(meta["path"]).exists():
        raise ApiError(ErrorCode.NOT_FOUND, "this live has no recording")
    return meta


@api.get("/v1/live/{lid}/recording", errors=[E.NOT_FOUND, E.CONFLICT])
async def recording(ctx: Ctx[MediaServices, None, None]) -> dict[str, Any]:
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
async def recording_file(ctx: Ctx[MediaServices, None, None]) -> Response:
    """Download a live's recording (WebM for VP8, Matroska for H.264)."""
    info = await _readable_live(ctx, ctx.user.id)
    path = Path(_recording(ctx, info)["path"])
    webm = path.suffix == ".webm"
    return FileResponse(path, media_type="video/webm" if webm else "video/x-matroska",
                        filename=f"live-{info.id}{path.suffix}")


@api.get("/v1/live/{lid}/thumbnail.jpg", auth=False, errors=[E.NOT_FOUND, E.UNAUTHORIZED])
async def thumbnail(ctx: Ctx[MediaServices, None, None]) -> Response:
    """The live's latest thumbnail (JPEG). Public communities need no token (so `<img>` works)."""
    user_id = None
    if ctx.request.headers.get("authorization"):
        user_id = (await authenticate(ctx.request, ctx.services)).id
    info = await _readable_live(ctx, user_id)
    path = Path(ctx.services.settings.var_dir) / "thumbnails" / f"{info.id}.jpg"
    # Read whole, in one open: the thumbnail thread replaces the file every few seconds, and a
    # FileResponse stats the path, then opens it: across a replace, the length it announced and
    # the bytes it sent disagreed (a 500). A JPEG of a few tens of KB.
    try:
        data = await asyncio.to_thread(path.read_bytes)
    except FileNotFoundError:
        raise ApiError(ErrorCode.NOT_FOUND, "no thumbnail yet") from None
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-cache"})
