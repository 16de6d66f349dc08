"""Serve the web client: `/` is the single page, `/static/...` its modules, styles and icons.

Also two small endpoints the page needs before it can do anything else:

- `GET /v1/web/config`: whether the server runs with `--dev` (the page then offers the dev
  sign-in), and the STUN/TURN servers for its peer connections (only to a signed-in caller,
  since TURN credentials are not for the whole world).
- `POST /v1/dev/token` `{user_id, name?}` -> `{token}`: a signed token for any user, for trying
  the product on one machine. The route exists only when the server runs with `--dev`; otherwise
  it does not match at all, so the answer is exactly the one of an unknown path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from live.auth.tokens import check_user_id, display_name, mint, verify
from live.errors import ApiError, invalid
from live.http import nesting
from live.http.api import Api, Ctx
from live.http.errors import error_response
from live.services import Services

STATIC_DIR = Path(__file__).parent / "static"
INDEX = Path(__file__).parent / "index.html"
SERVICE_WORKER = Path(__file__).parent / "sw.js"  # not under /static: its URL decides its scope
DEV_TOKEN_TTL = 12 * 3600

# The page only ever talks to its own origin; user text is never parsed as HTML, and this header
# makes sure that a mistake there could not run a script either.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob: mediastream:; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

api: Api[Services] = Api("web")


class WebConfig(BaseModel):
    dev: bool
    ice_servers: list[dict[str, Any]] = Field(
        description="RTCIceServer objects for the page's peer connections (empty without a valid token)"
    )


@api.get("/v1/web/config", auth=False, response=WebConfig)
async def web_config(ctx: Ctx[Services, None, None]) -> dict[str, Any]:
    """What the web client needs to start: dev mode, and ICE servers for a signed-in caller."""
    settings = ctx.services.settings
    ice: list[dict[str, Any]] = []
    header = ctx.request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        try:
            verify(settings.secret or "", header[7:].strip(), leeway=settings.token_leeway_seconds)
            ice = settings.ice_servers
        except ApiError:
            ice = []
    return {"dev": settings.dev, "ice_servers": ice}


class DevTokenBody(BaseModel):
    user_id: str = Field(min_length=1, max_length=64)
    name: str | None = Field(None, max_length=200)


async def dev_token(request: Request) -> Response:
    """Mint a token for any user (only mounted in dev mode: see DevOnlyRoute)."""
    settings = request.app.state.settings
    try:
        raw = await request.body()
        data = nesting.loads(raw or b"null", settings.max_json_depth)
    except ValueError:  # not JSON, not UTF-8, or nested too deeply
        return error_response(invalid({"body": "must be a JSON object"}))
    if not isinstance(data, dict):
        return error_response(invalid({"body": "must be a JSON object"}))
    try:
        body = DevTokenBody.model_validate(data)
    except ValidationError as exc:
        fields = {".".join(str(p) for p in err["loc"]) or "body": err["msg"] for err in exc.errors()}
        return error_response(invalid(fields))
    user_id = body.user_id.strip()
    try:
        check_user_id(user_id)
    except ValueError as exc:
        return error_response(invalid({"user_id": str(exc)}))
    name = display_name(body.name, user_id)
    token = mint(settings.secret or "", user_id, name=name, ttl=DEV_TOKEN_TTL)
    return JSONResponse({"token": token, "user": {"id": user_id, "name": name}, "expires_in": DEV_TOKEN_TTL})


class DevOnlyRoute(Route):
    """A route that matches only when the app was built with `dev=True`.

    Not matching (rather than answering 403) keeps a production server's surface free of it: the
    request falls through to the ordinary 404 of an unknown path.
    """

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        app = scope.get("app")
        settings = getattr(getattr(app, "state", None), "settings", None)
        if settings is None or not settings.dev:
            return Match.NONE, {}
        return super().matches(scope)


async def index(request: Request) -> Response:
    return FileResponse(INDEX, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)


async def service_worker(request: Request) -> Response:
    """The service worker that shows Web Push notifications, served at the root so its scope is `/`."""
    return FileResponse(SERVICE_WORKER, media_type="text/javascript; charset=utf-8", headers={
        "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff", "Service-Worker-Allowed": "/",
    })


class _Static(StaticFiles):
    """Static files that revalidate (no build step, so no hashed names) and are not sniffed."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}

# The page and the dev-only route are plain Starlette routes; they are described here.
OPENAPI_EXTRA: dict[str, Any] = {
    "/": {
        "get": {
            "tags": ["web"],
            "summary": "The web client (a single HTML page; its modules are under /static/)",
            "security": [],
            "responses": {"200": {"description": "the page", "content": {"text/html": {}}}},
        }
    },
    "/sw.js": {
        "get": {
            "tags": ["web"],
            "summary": "The web client's service worker (shows Web Push notifications; scope `/`)",
            "security": [],
            "responses": {"200": {"description": "JavaScript", "content": {"text/javascript": {}}}},
        }
    },
    "/v1/dev/token": {
        "post": {
            "tags": ["web"],
            "summary": "Development only: a token for any user (absent unless `live serve --dev`)",
            "description": (
                "Exists only when the server runs with `--dev`; otherwise the path does not match "
                "and answers 404 `not_found` like any unknown path. Body `{user_id, name?}`."
            ),
            "security": [],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": DevTokenBody.model_json_schema()}},
            },
            "responses": {
                "200": {"description": "`{token, user: {id, name}, expires_in}`"},
                "404": {"description": "not in dev mode", "content": _ERROR},
                "422": {"description": "invalid_request (`fields` names the bad ones)", "content": _ERROR},
            },
        }
    },
}


def routes() -> list[BaseRoute]:
    """The page and its assets (plain Starlette routes, beside the declared API)."""
    return [
        Route("/", index, methods=["GET", "HEAD"]),
        Route("/sw.js", service_worker, methods=["GET", "HEAD"]),
        Mount("/static", app=_Static(directory=STATIC_DIR), name="static"),
        DevOnlyRoute("/v1/dev/token", dev_token, methods=["POST"]),
    ]

