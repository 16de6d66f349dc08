"""The pure session core: state tables, flood limiter (injected clock), replies that echo `ref`."""

from __future__ import annotations

import json
from typing import Any

import msgpack
import pytest

from live.auth.tokens import Principal
from live.errors import ApiError, ErrorCode
from live.signaling.codec import Encoding
from live.signaling.session import (
    CLOSE_FLOODING,
    CLOSE_TOO_BIG,
    LIMIT_IN_FLIGHT,
    LIMIT_JOIN_RATE,
    LIMIT_ROOMS,
    ROOM_TRANSITIONS,
    Close,
    ConnectionState,
    Limited,
    Limits,
    LocalProtocolError,
    Reply,
    Request,
    RoomState,
    Session,
    TokenBucket,
)

ALICE = Principal("alice", "Alice")


def make(encoding: Encoding = Encoding.JSON, **kw: Any) -> Session:
    return Session("s1", ALICE, encoding=encoding, **kw)


def wire(message: Any, encoding: Encoding = Encoding.JSON) -> bytes | str:
    return msgpack.packb(message) if encoding is Encoding.MSGPACK else json.dumps(message)


def test_welcome() -> None:
    w = make().welcome(25.0, [{"urls": "stun:x"}])
    assert w == {"type": "welcome", "session": "s1", "user": {"id": "alice", "name": "Alice"},
                 "heartbeat": 25.0, "ice_servers": [{"urls": "stun:x"}]}


@pytest.mark.parametrize("encoding", [Encoding.JSON, Encoding.MSGPACK])
@pytest.mark.parametrize("ref", [1, "r-1", None])
def test_ping_is_answered_by_the_core_echoing_ref(encoding: Encoding, ref: Any) -> None:
    s = make(encoding)
    msg: dict[str, Any] = {"type": "ping"}
    if ref is not None:
        msg["ref"] = ref
    effects = s.receive_frame(wire(msg, encoding), 0.0)
    expected: dict[str, Any] = {"type": "ok"}
    if ref is not None:
        expected["ref"] = ref
    assert effects == [Reply(expected)]


# (frame, expected error fields or None) -> an invalid_request error reply, connection stays open
BAD_INPUT = [
    (b"\x00\xff", None),
    ("not json", None),
    ("[1,2]", None),
    ('{"ref": 3}', {"type": "required"}),
    ('{"type": "nope", "ref": 4}', {"type": "unknown"}),
    ('{"type": "chat.send", "ref": 5, "room": "live:x", "text": 7}', {"text": "must be a string"}),
]


@pytest.mark.parametrize(("raw", "fields"), BAD_INPUT)
def test_bad_input_is_an_error_reply_and_the_session_stays_open(raw: Any, fields: Any) -> None:
    s = make()
    [effect] = s.receive_frame(raw, 0.0)
    assert isinstance(effect, Reply)
    assert effect.message["type"] == "error" and effect.message["code"] == "invalid_request"
    if fields:
        assert effect.message["fields"] == fields
        assert "ref" in effect.message
    assert s.state is ConnectionState.OPEN
    assert s.receive_frame('{"type":"ping","ref":9}', 0.0) == [Reply({"type": "ok", "ref": 9})]


@pytest.mark.parametrize(
    "message",
    [
        {"type": "chat.send", "room": "live:x", "text": "hi", "ref": 1},
        {"type": "reaction.send", "room": "live:x", "kind": "heart"},
        {"type": "stage.request", "room": "live:x"},
        {"type": "media.stop", "room": "live:x"},
        {"type": "chat.delete", "room": "group:g", "seq": 1},
    ],
)
def test_service_requests_become_request_effects(message: dict[str, Any]) -> None:
    s = make()
    assert s.receive_frame(json.dumps(message), 0.0) == [Request(message["type"], message)]


def test_complete_and_fail_echo_ref() -> None:
    s = make()
    [req] = s.receive_frame('{"type":"chat.send","room":"live:x","text":"hi","ref":"c1"}', 0.0)
    assert isinstance(req, Request)
    assert s.complete(req, {"seq": 3, "id": "m"}) == [Reply({"type": "ok", "ref": "c1", "seq": 3, "id": "m"})]
    err = ApiError(ErrorCode.SLOW_MODE, "slow down", retry_after=2.5)
    assert s.fail(req, err) == [Reply({"type": "error", "ref": "c1", "code": "slow_mode",
                                       "message": "slow down", "retry_after": 2.5})]
    muted = ApiError(ErrorCode.MUTED, "muted", until="2030-01-01T00:00:00Z")
    assert s.fail(req, muted)[0].message["until"] == "2030-01-01T00:00:00Z"


def join(s: Session, room: str, ref: int = 1) -> list[Any]:
    return s.receive_frame(json.dumps({"type": "room.join", "room": room, "ref": ref}), 0.0)


# The room table, walked: (steps, final state). A step is (event, expected outcome).
ROOM_PATHS = [
    ([("join", "request")], RoomState.JOINING),
    ([("join", "request"), ("complete", "ok")], RoomState.JOINED),
    ([("join", "request"), ("fail", "error")], None),
    ([("join", "request"), ("join", "conflict")], RoomState.JOINING),
    ([("join", "request"), ("complete", "ok"), ("join", "request")], RoomState.JOINING),
    ([("join", "request"), ("complete", "ok"), ("leave", "request")], None),
    ([("leave", "request")], None),
    ([("join", "request"), ("removed", "removed"), ("complete", "forbidden")], None),
    ([("join", "request"), ("complete", "ok"), ("removed", "removed")], None),
]


@pytest.mark.parametrize(("steps", "final"), ROOM_PATHS)
def test_room_states(steps: list[tuple[str, str]], final: RoomState | None) -> None:
    s = make()
    room = "live:x"
    pending: Request | None = None
    for event, outcome in steps:
        if event == "join":
            [effect] = join(s, room)
            if outcome == "request":
                assert isinstance(effect, Request)
                pending = effect
            else:
                assert isinstance(effect, Reply) and effect.message["code"] == outcome
        elif event == "leave":
            [effect] = s.receive_frame(json.dumps({"type": "room.leave", "room": room}), 0.0)
            assert isinstance(effect, Request)
        elif event == "complete":
            assert pending is not None
            [reply] = s.complete(pending, {"room": room})
            expected = "ok" if outcome == "ok" else "error"
            assert reply.message["type"] == expected
            if outcome != "ok":
                assert reply.message["code"] == outcome
        elif event == "fail":
            assert pending is not None
            [reply] = s.fail(pending, ApiError(ErrorCode.NOT_FOUND, "no such live"))
            assert reply.message["code"] == "not_found"
        elif event == "removed":
            assert s.remove_from_room(room)
    assert s.rooms.get(room) is final


def test_room_table_covers_every_state() -> None:
    assert set(ROOM_TRANSITIONS) == {None, RoomState.JOINING, RoomState.JOINED}


def test_oversized_frame_closes_4009() -> None:
    s = make(max_frame_bytes=100)
    assert s.receive_frame("x" * 100, 0.0)[0].message["code"] == "invalid_request"  # type: ignore[union-attr]
    assert s.receive_frame("é" * 51, 0.0) == [Close(CLOSE_TOO_BIG, "frame over 100 bytes")]  # 102 bytes
    assert s.state is ConnectionState.CLOSED
    with pytest.raises(LocalProtocolError):
        s.receive_frame('{"type":"ping"}', 0.0)


# Token bucket with an injected clock: (rate, burst, frame times, index of the first refusal)
FLOOD_CASES = [
    (10.0, 5.0, [0.0] * 5, None),
    (10.0, 5.0, [0.0] * 6, 5),
    (10.0, 5.0, [0.0] * 5 + [0.1], None),  # one token back after 100 ms
    (10.0, 5.0, [0.0] * 5 + [0.05, 0.05], 5),
    (10.0, 5.0, [i * 0.1 for i in range(100)], None),  # a steady 10/s forever
    (10.0, 5.0, [i * 0.09 for i in range(100)], 40),  # 11/s: 0.1 token lost per frame
    (1.0, 1.0, [0.0, 1.0, 2.0, 2.5], 3),
]


@pytest.mark.parametrize(("rate", "burst", "times", "first_refusal"), FLOOD_CASES)
def test_token_bucket(rate: float, burst: float, times: list[float], first_refusal: int | None) -> None:
    bucket = TokenBucket(rate, burst)
    results = [bucket.allow(t) for t in times]
    refused = [i for i, ok in enumerate(results) if not ok]
    assert (refused[0] if refused else None) == first_refusal


def test_flooding_closes_4029_before_decoding() -> None:
    s = make(limiter=TokenBucket(rate=1.0, burst=3.0))
    for _ in range(3):
        assert s.receive_frame("garbage", 0.0)[0].message["type"] == "error"  # type: ignore[union-attr]
    assert s.receive_frame('{"type":"ping"}', 0.0) == [Close(CLOSE_FLOODING, "too many frames")]
    assert s.state is ConnectionState.CLOSED
    assert s.close(1000, "bye") == []  # closing twice is a no-op


def test_close_then_nothing() -> None:
    s = make()
    assert s.close(4003, "banned") == [Close(4003, "banned")]
    with pytest.raises(LocalProtocolError):
        s.receive_frame('{"type":"ping"}', 0.0)


# -- per-connection limits (injected clock) --------------------------------------------------------


def frame(message: dict[str, Any]) -> str:
    return json.dumps(message)


def test_rooms_per_connection_refuse_one_more_with_conflict() -> None:
    s = make(limits=Limits(max_rooms=2))
    for i, room in enumerate(("live:a", "group:b")):
        [req] = s.receive_frame(frame({"type": "room.join", "room": room, "ref": i}), float(i))
        assert isinstance(req, Request)
        s.complete(req, {"room": room})
    limited, reply = s.receive_frame(frame({"type": "room.join", "room": "community:c", "ref": 9}), 5.0)
    assert limited == Limited(LIMIT_ROOMS)
    assert isinstance(reply, Reply) and reply.message["code"] == "conflict" and reply.message["ref"] == 9
    assert "community:c" not in s.rooms
    [again] = s.receive_frame(frame({"type": "room.join", "room": "live:a"}), 6.0)  # a rejoin: fine
    assert isinstance(again, Request)


# (burst, rate, times of join/leave frames, {index: retry_after} of the refusals)
JOIN_RATE_CASES = [
    (3.0, 1.0, [0.0, 0.0, 0.0], {}),
    (3.0, 1.0, [0.0, 0.0, 0.0, 0.0], {3: 1.0}),
    (3.0, 1.0, [0.0, 0.0, 0.0, 0.5], {3: 0.5}),
    (3.0, 1.0, [0.0, 0.0, 0.0, 1.0, 1.0], {4: 1.0}),
    (2.0, 0.5, [0.0, 0.0, 0.1], {2: 2.0}),  # 1.9 s is rounded up: never too early
    (2.0, 4.0, [i * 0.25 for i in range(20)], {}),  # a steady 4 a second forever
]


@pytest.mark.parametrize(("burst", "rate", "times", "refusals"), JOIN_RATE_CASES)
def test_joins_and_leaves_share_a_token_bucket(burst: float, rate: float, times: list[float],
                                               refusals: dict[int, float]) -> None:
    s = make(limits=Limits(join_rate=rate, join_burst=burst))
    got = {}
    for i, t in enumerate(times):
        kind = "room.join" if i % 2 == 0 else "room.leave"
        effects = s.receive_frame(frame({"type": kind, "room": "live:x", "ref": i}), t)
        if isinstance(effects[0], Request):
            s.complete(effects[0], {"room": "live:x"})
            continue
        assert effects[0] == Limited(LIMIT_JOIN_RATE)
        reply = effects[1]
        assert isinstance(reply, Reply) and reply.message["code"] == "rate_limited"
        got[i] = reply.message["retry_after"]
    assert got == refusals


def test_other_requests_do_not_spend_join_tokens() -> None:
    s = make(limits=Limits(join_rate=0.001, join_burst=1.0))
    for _ in range(10):
        [req] = s.receive_frame(frame({"type": "reaction.send", "room": "live:x", "kind": "heart"}), 0.0)
        assert isinstance(req, Request)
        s.complete(req)
    assert isinstance(s.receive_frame(frame({"type": "room.join", "room": "live:x"}), 0.0)[0], Request)


def test_requests_in_flight_are_capped_and_ping_still_answers() -> None:
    s = make(limits=Limits(max_in_flight=2))
    offer = {"type": "media.publish", "room": "live:x", "sdp": "v=0"}
    first = s.receive_frame(frame({**offer, "ref": 1}), 0.0)[0]
    second = s.receive_frame(frame({**offer, "ref": 2}), 0.0)[0]
    assert isinstance(first, Request) and isinstance(second, Request) and s.in_flight == 2
    limited, reply = s.receive_frame(frame({**offer, "ref": 3}), 0.0)
    assert limited == Limited(LIMIT_IN_FLIGHT)
    assert isinstance(reply, Reply) and reply.message["code"] == "rate_limited" and reply.message["retry_after"] > 0
    assert s.receive_frame(frame({"type": "ping", "ref": 4}), 0.0) == [Reply({"type": "ok", "ref": 4})]
    s.fail(first, ApiError(ErrorCode.UNAVAILABLE, "no worker"))
    assert s.in_flight == 1
    assert isinstance(s.receive_frame(frame({**offer, "ref": 5}), 0.0)[0], Request)
