"""A small route registry: validation with pydantic, auth, JSON out, and OpenAPI from the same data.

Every HTTP endpoint of `live` is declared once::

    api: Api[Services] = Api("communities")

    @api.post("/v1/communities", body=CommunityCreate, status=201, summary="Create a community")
    async def create_community(ctx: Ctx[Services, CommunityCreate, None]) -> dict: ...

The registry turns declarations into Starlette routes (`routes`) and into the OpenAPI document
(`live.http.openapi`), so the two cannot disagree.

What a handler may use is typed: `ctx.services` is the node's parts as the handler's module
declares it needs them (`Services`, the core every node has, or a small Protocol adding the domain
services it calls). The app's own parts (`live.app.Node`) must satisfy every module's
declaration, which a type checker verifies where the app lists its APIs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from live.auth.tokens import Principal, verify
from live.auth.users import UserDirectory
from live.config import Settings
from live.errors import ApiError, ErrorCode, invalid, not_found
from live.http import nesting
from live.metrics import refused

B = TypeVar("B")
Q = TypeVar("Q")
S = TypeVar("S", covariant=True)
S_contra = TypeVar("S_contra", contravariant=True)


# A check every authenticated write passes before its body is read, with (principal, method,
# route path): raises an ApiError to refuse (a suspended account's writes).
WriteGuard = Callable[[Principal, str, str], Awaitable[None]]


class Node(Protocol):
    """What the registry itself needs of the node's parts: settings, users, write guards."""

    @property
    def settings(self) -> Settings: ...

    @property
    def users(self) -> UserDirectory: ...

    @property
    def write_guards(self) -> Sequence[WriteGuard]: ...


@dataclasses.dataclass(frozen=True, slots=True)
class Ctx(Generic[S, B, Q]):
    """What a handler gets: the request, the node's parts it needs, who is asking, and validated
    input."""

    request: Request
    services: S
    principal: Principal | None
    params: dict[str, str]
    body: B
    query: Q

    @property
    def user(self) -> Principal:
        """The caller (endpoints with auth=True always have one)."""
        assert self.principal is not None
        return self.principal


Handler = Callable[[Ctx[Any, Any, Any]], Awaitable[Any]]


@dataclasses.dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    response: type[BaseModel] | None
    status: int
    summary: str
    description: str
    auth: bool
    tag: str
    errors: tuple[ErrorCode, ...]
    content_type: str | None = None


class Api(Generic[S_contra]):
    """The endpoints of one domain, whose handlers need `S_contra` of the node."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.endpoints: list[Endpoint] = []

    def route(
        self,
        method: str,
        path: str,
        *,
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        response: type[BaseModel] | None = None,
        status: int = 200,
        summary: str = "",
        auth: bool = True,
        errors: Sequence[ErrorCode] = (),
        content_type: str | None = None,
    ) -> Callable[[Callable[[Ctx[S_contra, Any, Any]], Awaitable[Any]]], Handler]:
        def register(fn: Callable[[Ctx[S_contra, Any, Any]], Awaitable[Any]]) -> Handler:
            doc = (fn.__doc__ or "").strip()
            self.endpoints.append(
                Endpoint(
                    method=method.upper(),
                    path=path,
                    handler=fn,
                    body=body,
                    query=query,
                    response=response,
                    status=status,
                    summary=summary or doc.split("\n", 1)[0],
                    description=doc,
                    auth=auth,
                    tag=self.tag,
                    errors=tuple(errors),
                    content_type=content_type,
                )
            )
            return fn

        return register

    def get(self, path: str, **kw: Any) -> Callable[[Callable[[Ctx[S_contra, Any, Any]], Awaitable[Any]]], Handler]:
        return self.route("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Callable[[Callable[[Ctx[S_contra, Any, Any]], Awaitable[Any]]], Handler]:
        return self.route("POST", path, **kw)

    def patch(self, path: str, **kw: Any) -> Callable[[Callable[[Ctx[S_contra, Any, Any]], Awaitable[Any]]], Handler]:
        return self.route("PATCH", path, **kw)

    def put(self, path: str, **kw: Any) -> Callable[[Callable[[Ctx[S_contra, Any, Any]], Awaitable[Any]]], Handler]:
        return self.route("PUT", path, **kw)

    def delete(self, path: str, **kw: Any) -> Callable[[Callable[[Ctx[S_contra, Any, Any]], Awaitable[Any]]], Handler]:
        return self.route("DELETE", path, **kw)

    def options(self, path: str, **kw: Any) -> Callable[[Callable[[Ctx[S_contra, Any, Any]], Awaitable[Any]]], Handler]:
        return self.route("OPTIONS", path, **kw)


def routes(apis: Sequence[Api[Any]]) -> list[Route]:
    """Starlette routes for every endpoint; endpoints sharing a path share one Route."""
    by_path: dict[str, dict[str, Endpoint]] = {}
    for api in apis:
        for ep in api.endpoints:
            methods = by_path.setdefault(ep.path, {})
            if ep.method in methods:
                raise RuntimeError(f"{ep.method} {ep.path} declared twice")
            methods[ep.method] = ep
    return [
        Route(path, _dispatcher(methods), methods=list(methods), name=None)
        for path, methods in by_path.items()
    ]


def _dispatcher(methods: dict[str, Endpoint]) -> Callable[[Request], Awaitable[Response]]:
    async def dispatch(request: Request) -> Response:
        return await _call(methods[request.method], request)

    return dispatch


async def _call(ep: Endpoint, request: Request) -> Response:
    services: Node = request.app.state.services
    principal = None
    if ep.auth:
        principal = await authenticate(request, services)
        if ep.method not in ("GET", "HEAD", "OPTIONS"):
            for guard in services.write_guards:  # e.g. a suspended account's writes
                await guard(principal, ep.method, ep.path)
    params = dict(request.path_params)
    if not all(_could_be_an_id(value) for value in params.values()):
        raise not_found()
    query = _validate(ep.query, dict(request.query_params), "query") if ep.query else None
    body: Any = None
    if ep.body is not None:
        body = _validate(ep.body, await read_json(request, services.settings.max_json_depth), "body")
    ctx: Ctx[Node, Any, Any] = Ctx(
        request=request,
        services=services,
        principal=principal,
        params=params,
        body=body,
        query=query,
    )
    result = await ep.handler(ctx)
    if isinstance(result, Response):
        return result
    if isinstance(result, BaseModel):
        result = result.model_dump(mode="json")
    if result is None and ep.status == 204:
        return Response(status_code=204)
    return JSONResponse(result, status_code=ep.status)


def _could_be_an_id(value: object) -> bool:
    """Whether a path parameter could name something stored: none holds a NUL character (which
    PostgreSQL refuses in a query) or anything without a UTF-8 form (a lone surrogate, a byte
    of invalid UTF-8 in the URL), so those are 404 without a database trip, on every route."""
    if not isinstance(value, str):
        return True
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


async def authenticate(request: Request, services: Node) -> Principal:
    """The caller of a request with a valid Bearer token (or ApiError unauthorized)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(ErrorCode.UNAUTHORIZED, "an Authorization: Bearer <token> header is required")
    principal = verify(
        services.settings.secret or "", token.strip(), leeway=services.settings.token_leeway_seconds
    )
    await services.users.ensure(principal)
    return principal


async def read_json(request: Request, max_depth: int) -> Any:
    """The request's JSON body ({} when empty); 422 `invalid_request` when not JSON or too deep."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return nesting.loads(raw, max_depth)
    except nesting.TooDeep as exc:
        refused("json_depth")
        raise invalid({"body": str(exc)}, "the request body is nested too deeply") from None
    except ValueError:
        raise invalid({"body": "not valid JSON"}, "the request body is not valid JSON") from None


def _validate(model: type[BaseModel], data: Any, where: str) -> BaseModel:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid(validation_fields(exc)) from None


def validation_fields(exc: ValidationError) -> dict[str, str]:
    """pydantic errors as the contract's `fields`: dotted path -> human message."""
    fields: dict[str, str] = {}
    for err in exc.errors(include_url=False):
        path = ".".join(str(p) for p in err["loc"]) or "body"
        fields.setdefault(path, err["msg"])
    return fields
