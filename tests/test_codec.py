"""The wire codec, both encodings: negotiation, batching, and every malformed input."""

from __future__ import annotations

import json
from typing import Any

import msgpack
import pytest

from live.signaling import codec
from live.signaling.codec import Encoding

ENCODINGS = [Encoding.JSON, Encoding.MSGPACK]


def frame(value: Any, encoding: Encoding) -> bytes | str:
    if encoding is Encoding.MSGPACK:
        return msgpack.packb(value, use_bin_type=True)
    return json.dumps(value)


@pytest.mark.parametrize(
    ("offered", "encoding", "accepted"),
    [
        ([], Encoding.JSON, None),
        (["live.v1.json"], Encoding.JSON, "live.v1.json"),
        (["live.v1.msgpack"], Encoding.MSGPACK, "live.v1.msgpack"),
        (["live.v1.msgpack", "live.v1.json"], Encoding.MSGPACK, "live.v1.msgpack"),
        (["live.v1.json", "live.v1.msgpack"], Encoding.JSON, "live.v1.json"),
        (["chat", "live.v1.msgpack"], Encoding.MSGPACK, "live.v1.msgpack"),
        (["chat"], Encoding.JSON, None),
    ],
)
def test_negotiation(offered: list[str], encoding: Encoding, accepted: str | None) -> None:
    assert codec.negotiate(offered) == (encoding, accepted)


VALID: list[dict[str, Any]] = [
    {"type": "ping"},
    {"type": "ping", "ref": "abc"},
    {"type": "ping", "ref": 7},
    {"type": "room.join", "room": "live:01abc"},
    {"type": "room.join", "room": "group:g1", "since": {"epoch": "e1", "seq": 4}},
    {"type": "room.join", "room": "community:c1", "since": {"epoch": 3, "seq": 0}},
    {"type": "room.leave", "room": "live:x"},
    {"type": "chat.send", "room": "live:x", "text": "hello", "nonce": "n1"},
    {"type": "chat.send", "room": "live:x", "text": "no nonce"},
    {"type": "chat.delete", "room": "live:x", "seq": 3},
    {"type": "chat.delete", "room": "live:x", "seq": 3, "reason": "spam"},
    {"type": "reaction.send", "room": "live:x", "kind": "heart"},
    {"type": "stage.request", "room": "live:x"},
    {"type": "stage.invite", "room": "live:x", "user_id": "bob"},
    {"type": "stage.accept", "room": "live:x", "user_id": "bob"},
    {"type": "stage.remove", "room": "live:x", "user_id": "bob"},
    {"type": "media.publish", "room": "live:x", "sdp": "v=0"},
    {"type": "media.subscribe", "room": "live:x", "sdp": "v=0", "publisher": "alice"},
    {"type": "media.stop", "room": "live:x"},
    {"type": "ping", "extra": "ignored"},
]


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("message", VALID, ids=lambda m: m["type"])
def test_valid_messages_decode(encoding: Encoding, message: dict[str, Any]) -> None:
    assert codec.decode(frame(message, encoding), encoding) == message


def test_every_client_type_has_a_valid_case() -> None:
    assert {m["type"] for m in VALID} == set(codec.SCHEMAS)


# (frame builder, error class, ref echoed, fields)
MALFORMED: list[tuple[str, Any, type[codec.FrameError], Any, dict[str, str] | None]] = [
    ("list", [{"type": "ping"}], codec.NotAMap, None, None),
    ("number", 42, codec.NotAMap, None, None),
    ("string", "ping", codec.NotAMap, None, None),
    ("null", None, codec.NotAMap, None, None),
    ("no type", {"ref": 1}, codec.MissingType, 1, {"type": "required"}),
    ("type not a string", {"type": 5, "ref": "r"}, codec.MissingType, "r", {"type": "must be a string"}),
    ("unknown type", {"type": "chat.shout", "ref": 9}, codec.UnknownType, 9, {"type": "unknown"}),
    ("server type", {"type": "welcome"}, codec.UnknownType, None, {"type": "unknown"}),
    ("ref a bool", {"type": "ping", "ref": True}, codec.BadFields, None, None),
    ("ref a map", {"type": "ping", "ref": {}}, codec.BadFields, None, None),
    ("missing room", {"type": "room.join", "ref": 2}, codec.BadFields, 2, {"room": "required"}),
    ("room not a string", {"type": "room.join", "room": 5}, codec.BadFields, None, None),
    ("room bad kind", {"type": "room.join", "room": "lobby:1"}, codec.BadFields, None, None),
    ("room no id", {"type": "room.join", "room": "live:"}, codec.BadFields, None, None),
    ("since not a map", {"type": "room.join", "room": "live:x", "since": 3}, codec.BadFields, None, None),
    ("since bad seq", {"type": "room.join", "room": "live:x", "since": {"epoch": "e", "seq": -1}},
     codec.BadFields, None, None),
    ("since seq bool", {"type": "room.join", "room": "live:x", "since": {"epoch": "e", "seq": True}},
     codec.BadFields, None, None),
    ("since no epoch", {"type": "room.join", "room": "live:x", "since": {"seq": 1}}, codec.BadFields, None, None),
    ("text a number", {"type": "chat.send", "room": "live:x", "text": 5}, codec.BadFields, None, None),
    ("text blank", {"type": "chat.send", "room": "live:x", "text": "  "}, codec.BadFields, None, None),
    ("nonce too long", {"type": "chat.send", "room": "live:x", "text": "a", "nonce": "n" * 65},
     codec.BadFields, None, None),
    ("seq a string", {"type": "chat.delete", "room": "live:x", "seq": "3"}, codec.BadFields, None, None),
    ("kind empty", {"type": "reaction.send", "room": "live:x", "kind": ""}, codec.BadFields, None, None),
    ("user_id a list", {"type": "stage.invite", "room": "live:x", "user_id": ["b"]},
     codec.BadFields, None, None),
    ("sdp missing", {"type": "media.publish", "room": "live:x", "ref": "m"}, codec.BadFields, "m",
     {"sdp": "required"}),
]


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize(("name", "value", "error", "ref", "fields"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_messages(encoding: Encoding, name: str, value: Any, error: type[codec.FrameError],
                            ref: Any, fields: dict[str, str] | None) -> None:
    with pytest.raises(error) as caught:
        codec.decode(frame(value, encoding), encoding)
    exc = caught.value
    reply = exc.reply()
    assert reply["type"] == "error" and reply["code"] == "invalid_request" and reply["message"]
    assert exc.ref == ref and reply.get("ref") == ref
    if fields is not None:
        assert exc.fields == fields


@pytest.mark.parametrize(
    ("encoding", "raw"),
    [
        (Encoding.JSON, b"\xff\xfe\x00"),  # not UTF-8
        (Encoding.JSON, "{not json"),
        (Encoding.JSON, b"{\"type\": "),
        (Encoding.JSON, ""),
        (Encoding.JSON, "[" * 5000 + "]" * 5000),  # nesting bomb
        (Encoding.MSGPACK, b"\xc1"),  # never-used byte
        (Encoding.MSGPACK, b"\x81\xa4type"),  # truncated map
        (Encoding.MSGPACK, msgpack.packb({"type": "ping"}) + b"\x00"),  # trailing bytes
        (Encoding.MSGPACK, b""),
        (Encoding.MSGPACK, '{"type": "ping"}'),  # a text frame on a binary protocol
    ],
)
def test_undecodable_frames(encoding: Encoding, raw: bytes | str) -> None:
    with pytest.raises(codec.NotDecodable) as caught:
        codec.decode(raw, encoding)
    assert caught.value.reply()["code"] == "invalid_request"


def test_msgpack_non_string_keys_are_not_a_map() -> None:
    raw = msgpack.packb({1: "a", "type": "ping"})
    with pytest.raises(codec.NotAMap):
        codec.decode(raw, Encoding.MSGPACK)


def test_json_accepts_utf8_bytes_too() -> None:
    assert codec.decode(b'{"type":"ping"}', Encoding.JSON) == {"type": "ping"}


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("n", [1, 2, 15, 16, 300, 70000])
def test_batches_roundtrip(encoding: Encoding, n: int) -> None:
    messages = [{"type": "chat.message", "seq": i, "text": "é" * (i % 3)} for i in range(n)]
    out = codec.encode(messages, encoding)
    assert isinstance(out, bytes) is encoding.binary
    assert codec.decode_server_frame(out) == messages
    if n == 1:  # one message goes alone, not as an array of one
        one = msgpack.unpackb(out) if isinstance(out, bytes) else json.loads(out)
        assert one == messages[0]
