"""The HLS route, `GET /v1/live/{lid}/hls/{name}` (`live.media.hls_service` answers it).

`DirectHls` serves these paths from the top of the ASGI stack, before the router and the other
middleware: a segment request costs a dict lookup and a write. The route stays declared (OpenAPI,
and the same answers without the middleware).
"""

from __future__ import annotations

from typing import Any, Protocol

from starlette.middleware import Middleware
from starlette.responses import Response

from live.errors import ErrorCode as E
from live.http.api import Api, Ctx
from live.media.hls_service import PATH, HlsService


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
    return Response(reply.body, status_code=reply.status, headers=dict(reply.headers))


class DirectHls:
    """ASGI middleware answering HLS paths before the router (see the module's docstring)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            match = PATH.match(scope["path"])
            services: HlsServices | None = getattr(scope["app"].state, "services", None) if "app" in scope else None
            if match is not None and services is not None:
                reply = await services.hls.serve(match.group(1), match.group(2),
                                                 scope["query_string"].decode("latin-1"))
                headers = [(k.encode(), v.encode()) for k, v in reply.headers]
                headers.append((b"content-length", str(len(reply.body)).encode()))
                await send({"type": "http.response.start", "status": reply.status, "headers": headers})
                body = b"" if scope["method"] == "HEAD" else reply.body
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


MIDDLEWARE = Middleware(DirectHls)
