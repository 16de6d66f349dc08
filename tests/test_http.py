"""The HTTP foundation: auth, the JSON error policy, limits, OpenAPI, readiness."""

from __future__ import annotations

import time

import httpx
import jwt
import pytest

from tests.support import boom
from tests.support.redis_server import RedisServer
from tests.support.servers import SECRET, run_server, settings, uid
from tests.support.waiting import poll

WITH_BOOM = (boom.api,)


def assert_error(resp: httpx.Response, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body


async def test_healthz_and_me(server) -> None:
    async with server.client() as anon:
        assert (await anon.get("/healthz")).json() == {"status": "ok"}
    alice = uid("alice")
    async with server.client(alice, "Alice") as c:
        me = (await c.get("/v1/me")).json()
        assert me["id"] == alice and me["name"] == "Alice"
    async with server.client(alice, "Alice Renamed") as c:
        assert (await c.get("/v1/me")).json()["name"] == "Alice Renamed"


@pytest.mark.parametrize(
    "make_header",
    [
        lambda: None,
        lambda: "Bearer",
        lambda: "Basic Zm9vOmJhcg==",
        lambda: "Bearer not-a-jwt",
        lambda: "Bearer " + jwt.encode({"sub": "x", "exp": time.time() + 60}, "z" * 40, "HS256"),
        lambda: "Bearer " + jwt.encode({"sub": "x", "exp": time.time() - 3600}, SECRET, "HS256"),
        lambda: "Bearer " + jwt.encode({"sub": "x"}, SECRET, "HS256"),
        lambda: "Bearer " + jwt.encode({"sub": "", "exp": time.time() + 60}, SECRET, "HS256"),
        lambda: "Bearer " + jwt.encode({"sub": "x" * 65, "exp": time.time() + 60}, SECRET, "HS256"),
        lambda: "Bearer " + jwt.encode({"sub": 5, "exp": time.time() + 60}, SECRET, "HS256"),
        lambda: "Bearer " + jwt.encode({"sub": "x", "exp": time.time() + 60}, SECRET, "HS512"),
        lambda: "Bearer " + jwt.encode({"sub": "x", "exp": time.time() + 60}, None, "none"),
    ],
    ids=["missing", "empty-bearer", "basic", "malformed", "forged", "expired", "no-exp",
         "empty-sub", "long-sub", "int-sub", "wrong-alg", "alg-none"],
)
@pytest.mark.transport_only
async def test_bad_tokens_are_401(server, make_header) -> None:
    header = make_header()
    headers = {"Authorization": header} if header else {}
    async with server.client() as c:
        assert_error(await c.get("/v1/me", headers=headers), 401, "unauthorized")


@pytest.mark.transport_only
async def test_small_clock_skew_is_tolerated(server) -> None:
    token = jwt.encode({"sub": uid(), "exp": time.time() - 5}, SECRET, "HS256")
    async with server.client() as c:
        assert (await c.get("/v1/me", headers={"Authorization": f"Bearer {token}"})).status_code == 200


@pytest.mark.transport_only
async def test_unknown_route_and_method_are_json(server) -> None:
    async with server.client() as c:
        assert_error(await c.get("/nope"), 404, "not_found")
        assert_error(await c.get("/v1/nope/deeper"), 404, "not_found")
        resp = await c.delete("/healthz")
        assert_error(resp, 405, "invalid_request")


@pytest.mark.transport_only
async def test_errors_bugs_bodies_and_limits(db_url: str) -> None:
    cfg = settings(database_url=db_url, max_body_bytes=2048)
    async with run_server(cfg, extra_apis=WITH_BOOM) as srv, srv.client() as c:
        body = assert_error(await c.get("/test/boom"), 500, "internal")
        assert "shadow" not in str(body) and "Traceback" not in str(body)
        assert_error(await c.post("/test/echo", content=b"x" * 4096), 413, "payload_too_large")
        # Streaming (no Content-Length) past the limit as well.
        async def chunks():
            for _ in range(10):
                yield b"x" * 1000
        assert_error(await c.post("/test/echo", content=chunks()), 413, "payload_too_large")
        bad = assert_error(await c.post("/test/echo", content=b"{nope"), 422, "invalid_request")
        assert bad["error"]["fields"] == {"body": "not valid JSON"}
        bad = assert_error(await c.post("/test/echo", json={"text": 5, "count": "x"}), 422,
                           "invalid_request")
        assert set(bad["error"]["fields"]) == {"text", "count"}
        bad = assert_error(await c.post("/test/echo", json={}), 422, "invalid_request")
        assert "text" in bad["error"]["fields"]
        bad = assert_error(await c.post("/test/echo", json={"text": "x" * 11}), 422, "invalid_request")
        assert "text" in bad["error"]["fields"]
        bad = assert_error(await c.post("/test/echo", json=[1, 2]), 422, "invalid_request")
        ok = await c.post("/test/echo", json={"text": "مرحبا 👋"})
        assert ok.json() == {"text": "مرحبا 👋", "count": 1}
        # The server is still healthy after all of that.
        assert (await c.get("/healthz")).status_code == 200


@pytest.mark.transport_only
async def test_openapi_describes_every_route(server) -> None:
    async with server.client() as c:
        doc = (await c.get("/openapi.json")).json()
    assert doc["openapi"].startswith("3.")
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    served = set()
    for route in server.app.routes:
        for method in getattr(route, "methods", None) or ():
            if method != "HEAD":
                served.add((method, route.path))
    assert served <= documented, served - documented
    me = doc["paths"]["/v1/me"]["get"]
    assert me["security"] == [{"bearer": []}] and "401" in me["responses"]


@pytest.mark.transport_only
async def test_metrics_are_prometheus_text(server) -> None:
    async with server.client() as c:
        await c.get("/healthz")
        resp = await c.get("/metrics", headers={"Authorization": f"Bearer {server.settings.metrics_token}"})
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    assert 'live_http_requests_total{method="GET",route="/healthz",status="200"}' in resp.text


@pytest.mark.redis
async def test_readyz_follows_redis_down_and_back(db_url: str, redis_server: RedisServer) -> None:
    cfg = settings(database_url=db_url, redis_url=redis_server.url)
    async with run_server(cfg) as srv, srv.client() as c:
        assert (await c.get("/readyz")).status_code == 200
        redis_server.stop()
        resp = await c.get("/readyz")
        body = assert_error(resp, 503, "unavailable")
        assert body["checks"] == {"database": "ok", "bus": "down"}
        redis_server.start()

        async def ready() -> bool:
            return (await c.get("/readyz")).status_code == 200

        await poll(ready, 10, interval=0.1)
        assert (await c.get("/readyz")).status_code == 200
