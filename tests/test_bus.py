"""One contract for both buses: in-process and Redis (including a Redis restart)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from live.bus import Bus, Gap, Message, Subscription
from live.bus.memory import MemoryBus
from live.bus.redis import RedisBus
from live.errors import ApiError, ErrorCode
from tests.support.redis_server import RedisServer
from tests.support.waiting import poll


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def bus(request: pytest.FixtureRequest, redis_prefix: str) -> AsyncIterator[Bus]:
    if request.param == "memory":
        impl: Bus = MemoryBus()
    else:
        impl = RedisBus(request.getfixturevalue("redis_url"), prefix=redis_prefix)
    await impl.start()
    yield impl
    await impl.close()


async def take(sub: Subscription, n: int, timeout: float = 5.0) -> list[Any]:
    out: list[Any] = []

    async def run() -> None:
        async for event in sub:
            out.append(event)
            if len(out) == n:
                return

    await asyncio.wait_for(run(), timeout)
    return out


async def test_publish_reaches_subscribers_in_order(bus: Bus) -> None:
    a, b = bus.subscription(), bus.subscription()
    await a.subscribe("room:1")
    await b.subscribe("room:1", "room:2")
    for i in range(50):
        await bus.publish("room:1", f"m{i}".encode())
    await bus.publish("room:2", b"other")
    got_a = await take(a, 50)
    got_b = await take(b, 51)
    assert [m.data for m in got_a] == [f"m{i}".encode() for i in range(50)]
    assert [m.data for m in got_b if m.channel == "room:1"] == [m.data for m in got_a]
    assert Message("room:2", b"other") in got_b
    await a.close()
    await b.close()


async def test_only_subscribed_channels_arrive(bus: Bus) -> None:
    sub = bus.subscription()
    await sub.subscribe("x")
    await bus.publish("y", b"not for you")
    await bus.publish("x", b"for you")
    assert await take(sub, 1) == [Message("x", b"for you")]
    await sub.close()


async def test_unsubscribe_stops_delivery(bus: Bus) -> None:
    sub = bus.subscription()
    await sub.subscribe("a", "b")
    await sub.unsubscribe("a")
    assert sub.channels == frozenset({"b"})
    await bus.publish("a", b"gone")
    await bus.publish("b", b"kept")
    assert await take(sub, 1) == [Message("b", b"kept")]
    await sub.close()


async def test_binary_payloads_are_exact(bus: Bus) -> None:
    sub = bus.subscription()
    await sub.subscribe("bin")
    payload = bytes(range(256)) * 40
    await bus.publish("bin", payload)
    assert (await take(sub, 1))[0].data == payload
    await sub.close()


async def test_close_ends_iteration(bus: Bus) -> None:
    sub = bus.subscription()
    await sub.subscribe("c")
    reader = asyncio.create_task(take(sub, 10))
    await asyncio.sleep(0.05)
    await sub.close()
    with pytest.raises(AssertionError):
        await asyncio.wait_for(reader, 2)
        raise AssertionError  # iteration ended early without error: what we want
    assert await bus.ping()


async def test_a_slow_consumer_gets_a_gap_not_unbounded_memory() -> None:
    bus = MemoryBus(max_queue=10)
    sub = bus.subscription()
    await sub.subscribe("flood")
    for i in range(100):
        await bus.publish("flood", b"%d" % i)
    events = await take(sub, 1)
    assert isinstance(events[0], Gap) and events[0].channels == frozenset({"flood"})
    await bus.publish("flood", b"after")
    assert await take(sub, 1) == [Message("flood", b"after")]


@pytest.mark.redis
async def test_redis_restart_reconnects_resubscribes_and_reports_a_gap(
    redis_server: RedisServer,
) -> None:
    bus = RedisBus(redis_server.url, heartbeat=0.5)
    sub = bus.subscription()
    await sub.subscribe("room:r")
    await bus.publish("room:r", b"before")
    assert await take(sub, 1) == [Message("room:r", b"before")]

    redis_server.restart(down_seconds=0.5)
    assert not isinstance(await _publish_eventually(bus, "room:r", b"probe"), Exception)
    # The probe may be lost while the subscriber is away: that is what the Gap reports.
    first = (await take(sub, 1, timeout=15))[0]
    assert first == Gap(frozenset({"room:r"}), "reconnected")
    # After the gap, live delivery works again on the resubscribed channel.
    await bus.publish("room:r", b"after")
    rest = await take(sub, 1, timeout=10)
    if rest == [Message("room:r", b"probe")]:
        rest = await take(sub, 1, timeout=10)
    assert rest == [Message("room:r", b"after")]
    await sub.close()
    await bus.close()


@pytest.mark.redis
async def test_redis_down_publish_is_unavailable_and_ping_false(redis_server: RedisServer) -> None:
    bus = RedisBus(redis_server.url)
    assert await bus.ping()
    redis_server.stop()
    assert not await bus.ping()
    with pytest.raises(ApiError) as err:
        await bus.publish("x", b"y")
    assert err.value.code is ErrorCode.UNAVAILABLE
    redis_server.start()
    await poll(bus.ping, 5, interval=0.1)
    assert await bus.ping()
    await bus.close()


async def _publish_eventually(bus: Bus, channel: str, data: bytes) -> object:
    for _ in range(100):
        try:
            await bus.publish(channel, data)
            return None
        except ApiError:
            await asyncio.sleep(0.1)
    return RuntimeError("never published")
