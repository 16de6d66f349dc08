"""Service endpoints: liveness, readiness, metrics, the OpenAPI document, and `/v1/me`."""

from __future__ import annotations

import asyncio
import hmac
from typing import Any

from pydantic import BaseModel
from starlette.responses import JSONResponse, Response

from live.errors import ApiError, ErrorCode
from live.http.api import Api, Ctx
from live.metrics import render
from live.services import Services
from live.storage.base import iso

api: Api[Services] = Api("service")


@api.get("/healthz", auth=False, summary="The process is alive")
async def healthz(ctx: Ctx[Services, None, None]) -> dict[str, Any]:
    return {"status": "ok"}


@api.get("/readyz", auth=False, summary="Dependencies (database, Redis) are reachable",
         errors=[ErrorCode.UNAVAILABLE])
async def readyz(ctx: Ctx[Services, None, None]) -> Response:
    """200 when the database and the bus answer; 503 `unavailable` naming what does not."""
    db_ok, bus_ok = await asyncio.gather(ctx.services.db.ping(), ctx.services.bus.ping())
    checks = {"database": "ok" if db_ok else "down", "bus": "ok" if bus_ok else "down"}
    if db_ok and bus_ok:
        return JSONResponse({"status": "ready", "checks": checks})
    down = ", ".join(k for k, v in checks.items() if v != "ok")
    return JSONResponse(
        {"error": {"code": "unavailable", "message": f"not ready: {down} unreachable"}, "checks": checks},
        status_code=503,
    )


@api.get("/metrics", auth=False, summary="Prometheus metrics (text format)",
         errors=[ErrorCode.UNAUTHORIZED])
async def metrics(ctx: Ctx[Services, None, None]) -> Response:
    """Needs `Authorization: Bearer <LIVE_METRICS_TOKEN>`; with no LIVE_METRICS_TOKEN set, it is off (401).

    The numbers name rooms' counts, connections and refusals by limit: an operator's, not the
    public's (docs/security.md).
    """
    expected = ctx.services.settings.metrics_token
    if expected is None:
        raise ApiError(ErrorCode.UNAUTHORIZED, "metrics are off on this server: set LIVE_METRICS_TOKEN")
    scheme, _, given = ctx.request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected.encode()):
        raise ApiError(ErrorCode.UNAUTHORIZED, "an Authorization: Bearer <LIVE_METRICS_TOKEN> header is required")
    return Response(render(), media_type="text/plain; version=0.0.4; charset=utf-8")


@api.get("/openapi.json", auth=False, summary="This document")
async def openapi(ctx: Ctx[Services, None, None]) -> Response:
    return JSONResponse(ctx.request.app.state.openapi.get())


class Me(BaseModel):
    id: str
    name: str
    created_at: str | None


@api.get("/v1/me", response=Me, summary="Who the token speaks for")
async def me(ctx: Ctx[Services, None, None]) -> Me:
    user = await ctx.services.users.get(ctx.user.id)
    if user is None:  # (authentication has just made it)
        raise ApiError(ErrorCode.NOT_FOUND, "no such user")
    return Me(id=user.id, name=user.name, created_at=iso(user.created_at))
