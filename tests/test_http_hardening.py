"""JSON nesting, cursors and /metrics: the HTTP API's own limits, against real servers."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from live.http import nesting
from tests.support import boom
from tests.support.rawhttp import counter
from tests.support.servers import RunningServer, run_server, settings, uid

WITH_BOOM = (boom.api,)


def assert_error(resp: httpx.Response, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert body["error"]["code"] == code and body["error"]["message"]
    return body["error"]


@pytest.fixture
async def echo(sqlite_url: str):
    async with run_server(settings(database_url=sqlite_url), extra_apis=WITH_BOOM) as running:
        yield running


# -- nesting ------------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [
    b"[" * 100_000,                                   # RecursionError in json.loads before
    b"[" * 2000 + b"]" * 2000,                        # valid JSON, too deep
    b'{"text": ' + b"[" * 33 + b"]" * 33 + b"}",      # one level past the default 32
    b'{"a": ' * 500 + b"1" + b"}" * 500,
])
async def test_deep_json_is_422_and_the_connection_lives_on(echo: RunningServer, body: bytes) -> None:
    before = counter(await echo.metrics(), "live_limit_refusals_total", limit="json_depth")
    async with httpx.AsyncClient(base_url=echo.url, timeout=30) as c:
        error = assert_error(await c.post("/test/echo", content=body), 422, "invalid_request")
        assert error["fields"] == {"body": "nested deeper than 32 levels"}
        # The same keep-alive connection serves the next request.
        ok = await c.post("/test/echo", json={"text": "next"})
        assert ok.status_code == 200 and ok.json() == {"text": "next", "count": 1}
    assert counter(await echo.metrics(), "live_limit_refusals_total", limit="json_depth") == before + 1


async def test_brackets_inside_strings_do_not_count(echo: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=echo.url) as c:
        resp = await c.post("/test/echo", json={"text": "[[[[[", "count": 2, "x": "[" * 5000})
    assert resp.status_code == 200 and resp.json() == {"text": "[[[[[", "count": 2}


async def test_the_depth_is_a_setting(sqlite_url: str) -> None:
    async with run_server(settings(database_url=sqlite_url, max_json_depth=3), extra_apis=WITH_BOOM) as srv:
        async with httpx.AsyncClient(base_url=srv.url) as c:
            assert (await c.post("/test/echo", json={"text": "ok", "x": [[1]]})).status_code == 200
            error = assert_error(await c.post("/test/echo", json={"text": "ok", "x": [[[1]]]}), 422,
                                 "invalid_request")
            assert error["fields"] == {"body": "nested deeper than 3 levels"}


@pytest.mark.transport_only
async def test_a_deep_cursor_is_422(server: RunningServer) -> None:
    cursor = base64.urlsafe_b64encode(b"[" * 5000).decode().rstrip("=")
    async with server.client(uid("cur")) as c:
        error = assert_error(await c.get("/v1/communities", params={"cursor": cursor}), 422, "invalid_request")
    assert "cursor" in error["fields"]


def test_depth_measure_table() -> None:
    cases = [
        (b"{}", 1), (b"[]", 1), (b"1", 0), (b'"[[["', 0), (b'[["]]]]"], {"a": [1]}]', 3),
        (b'["\\"[["]', 1), (b"[" * 40 + b"]" * 40, 40), (b"[]" * 100, 1), ("[\udcff]", 1),
    ]
    for raw, depth in cases:
        assert not nesting.too_deep(raw, depth), raw
        assert nesting.too_deep(raw, depth - 1) == (depth > 0), raw
    with pytest.raises(nesting.TooDeep):
        nesting.loads(b"[" * 10 + b"]" * 10, 9)
    assert nesting.loads(json.dumps({"a": [{"b": []}]}), 4) == {"a": [{"b": []}]}


# -- /metrics -----------------------------------------------------------------------------------


@pytest.mark.transport_only
async def test_metrics_need_the_operator_token(server: RunningServer) -> None:
    async with server.client() as c:
        assert_error(await c.get("/metrics"), 401, "unauthorized")
        assert_error(await c.get("/metrics", headers={"Authorization": "Bearer wrong-token-of-some-length"}),
                     401, "unauthorized")
    # A user's token is not the operator's.
    async with server.client(uid("user")) as c:
        assert_error(await c.get("/metrics"), 401, "unauthorized")
    text = await server.metrics()
    assert "live_limit_refusals_total" in text or "live_http_requests_total" in text


async def test_metrics_are_off_without_a_token(sqlite_url: str) -> None:
    cfg = settings(database_url=sqlite_url, metrics_token=None)
    async with run_server(cfg) as srv, srv.client() as c:
        error = assert_error(await c.get("/metrics", headers={"Authorization": "Bearer anything-at-all-here"}),
                             401, "unauthorized")
        assert "LIVE_METRICS_TOKEN" in error["message"]
