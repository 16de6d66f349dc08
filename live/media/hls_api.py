"""The HLS route, `GET /v1/live/{lid}/hls/{name}` (`live.media.hls_service` answers it).

`answer` serves these paths from the very top of the app (`live.app.LiveApp`), before the
middleware, the router and the exception handlers: a segment request costs a dict lookup and a
write. The route stays declared (OpenAPI, and the same answers through the ordinary stack).
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from starlette.responses import Response

from live.errors import ApiError, ErrorCode as E
from live.http.api import Api, Ctx
from live.media.hls_service import PATH, HlsService, error_reply

log = logging.getLogger("live.media.hls")

__all__ = ["PATH", "answer", "api"]


class HlsServices(Protocol):
    """What the HLS route needs of the node."""

    @property
    def hls(self) -> HlsService: ...


api: Api[HlsServices] = Api("hls")


@api.get("/v1/live/{lid}/hls/{name}", auth=False,
         errors=[E.NOT_FOUND, E.UNAUTHORIZED, E.INVALID_REQUEST, E.UNAVAILABLE])
async def hls_file(ctx: Ctx[HlsServices, None, None]) -> Response:
    """The live's HLS: `index.m3u8` (playlist), and the init segments, segments and parts it names.

    `?token=` for members-only communities (copied onto every URI of the playlist). A live
    playlist request without `v` is redirected (302) to one with a viewer id; `joined=1` says the
    player's user is also in the live's room over the WebSocket. `_HLS_msn` / `_HLS_part` block
    until that segment or part is listed (LL-HLS). Ended lives: the VOD, while the recording exists.
    """
    reply = await ctx.services.hls.serve(ctx.params["lid"], ctx.params["name"], ctx.request.url.query)
    return Response(reply.body, status_code=reply.status,
                    headers={k.decode("latin-1"): v.decode("latin-1") for k, v in reply.headers})


async def answer(hls: HlsService, lid: str, name: str, scope: Any, send: Any) -> None:
    """Serve one HLS request straight to ASGI `send` (`live.app.LiveApp` calls this first).

    With the stack below skipped, this is also where an unexpected error becomes the contract's
    500 `internal` (logged), as the exception middleware would make it.
    """
    try:
        reply = await hls.serve(lid, name, scope["query_string"].decode("latin-1"))
    except Exception:
        log.exception("unhandled error serving HLS %s", scope["path"])
        reply = error_reply(ApiError(E.INTERNAL, "internal server error"))
    headers = reply.headers
    headers.append((b"content-length", str(len(reply.body)).encode()))
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else reply.body})
