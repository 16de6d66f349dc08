"""A component for tests only: routes that fail in ways the error policy must contain."""

from __future__ import annotations

from pydantic import BaseModel, Field
from starlette.responses import Response

from live.http.api import Api, Ctx

api = Api("test")


class Echo(BaseModel):
    text: str = Field(max_length=10)
    count: int = 1


@api.get("/test/boom", auth=False)
async def boom(ctx: Ctx[None, None]) -> None:
    raise RuntimeError("a bug, with a secret path /etc/shadow in its message")


@api.post("/test/echo", body=Echo, auth=False)
async def echo(ctx: Ctx[Echo, None]) -> dict[str, object]:
    return ctx.body.model_dump()


BIG_BYTES = 16 << 20


@api.get("/test/big", auth=False)
async def big(ctx: Ctx[None, None]) -> Response:
    """A response larger than any socket buffer (for clients that stop reading)."""
    return Response(b"x" * BIG_BYTES, media_type="application/octet-stream")
