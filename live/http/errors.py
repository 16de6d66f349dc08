"""Errors become the contract's JSON body here, and only here."""

from __future__ import annotations

import logging
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from live.errors import ApiError, ErrorCode
from live.metrics import HTTP_CLIENT_GONE

# nginx's "client closed request": what the metrics record for a request whose client left
# before the answer (nobody receives it).
CLIENT_CLOSED_REQUEST = 499

log = logging.getLogger("live.http")

_HTTP_CODES = {
    400: ErrorCode.INVALID_REQUEST,
    401: ErrorCode.UNAUTHORIZED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.INVALID_REQUEST,
    409: ErrorCode.CONFLICT,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    422: ErrorCode.INVALID_REQUEST,
    429: ErrorCode.RATE_LIMITED,
    503: ErrorCode.UNAVAILABLE,
}


def error_response(exc: ApiError, headers: dict[str, str] | None = None) -> JSONResponse:
    headers = dict(headers or {})
    if exc.retry_after is not None:
        headers.setdefault("Retry-After", str(max(1, int(exc.retry_after + 0.999))))
    return JSONResponse({"error": exc.to_dict()}, status_code=exc.status, headers=headers)


async def on_api_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc)


async def on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, ErrorCode.INVALID_REQUEST)
    if exc.status_code == 404:
        message = f"no route {request.url.path}"
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}"
    else:
        message = str(exc.detail)
    return error_response(ApiError(code, message, status=exc.status_code), dict(exc.headers or {}))


async def on_client_disconnect(request: Request, _exc: Exception) -> Response:
    """The client left while its body was being read: not a server error, nothing to answer."""
    HTTP_CLIENT_GONE.inc()
    log.debug("client left during %s %s", request.method, request.url.path)
    return Response(status_code=CLIENT_CLOSED_REQUEST)


async def on_unhandled(request: Request, exc: Exception) -> Response:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(ApiError(ErrorCode.INTERNAL, "internal server error"))


EXCEPTION_HANDLERS: dict[Any, Any] = {
    ApiError: on_api_error,
    HTTPException: on_http_exception,
    ClientDisconnect: on_client_disconnect,
    Exception: on_unhandled,
}
