"""Abuse of the WebSocket codec through a real server (SQLite and PostgreSQL), as regression tests:
NUL characters and lone surrogates in every kind of string field, `seq` outside
0..2**31-1 (chat seq columns are 32-bit on PostgreSQL) and `epoch` outside 0..2**63-1, a `ref`
beyond 64 bits, floats and NaN where integers go. Each frame gets the contract's
`invalid_request` error (echoing the ref when it is a valid one);
never an `internal` error, a close (1011) or silence; and the connection goes on working. (The
same rule as HTTP bodies: text no database column can hold is refused, naming the field.)
"""

from __future__ import annotations

import json
from typing import Any

import msgpack
import pytest

from live.client import LiveClient
from tests.support.communities import make_community, people
from tests.support.servers import RunningServer

BIG = 2**63  # one past the largest 64-bit signed integer
SEQ_BIG = 2**31  # one past the largest chat seq (an INTEGER column: 32 bits on PostgreSQL)
HUGE = 2**70  # beyond what MessagePack can carry


def frames(room: str) -> list[tuple[str, dict[str, Any] | str]]:
    """(name, message or raw JSON text) of frames that must be refused with invalid_request."""
    return [
        ("nul in nonce", {"type": "chat.send", "ref": 1, "room": room, "text": "hi", "nonce": "a\x00b"}),
        ("nul in chat text", {"type": "chat.send", "ref": 12, "room": room, "text": "a\x00b", "nonce": "n12"}),
        ("nul in delete reason", {"type": "chat.delete", "ref": 13, "room": room, "seq": 1, "reason": "r\x00"}),
        ("nul in room", {"type": "room.join", "ref": 2, "room": room + "\x00"}),
        ("nul in reaction kind", {"type": "reaction.send", "ref": 3, "room": room, "kind": "he\x00art"}),
        ("nul in user id", {"type": "stage.invite", "ref": 4, "room": room, "user_id": "u\x00"}),
        ("nul in ref", {"type": "ping", "ref": "r\x00"}),
        ("nul in type", {"type": "pi\x00ng", "ref": 5}),
        ("nul in epoch", {"type": "room.join", "ref": 6, "room": room, "since": {"epoch": "e\x00", "seq": 0}}),
        ("seq past 2**31-1 in delete", {"type": "chat.delete", "ref": 7, "room": room, "seq": SEQ_BIG}),
        ("seq past 2**31-1 in since", {"type": "room.join", "ref": 8, "room": room,
                                       "since": {"epoch": 1, "seq": SEQ_BIG}}),
        ("seq past 2**63-1 in delete", {"type": "chat.delete", "ref": 14, "room": room, "seq": BIG}),
        ("epoch past 2**63-1", {"type": "room.join", "ref": 9, "room": room, "since": {"epoch": BIG, "seq": 0}}),
        ("negative epoch", {"type": "room.join", "ref": 10, "room": room, "since": {"epoch": -1, "seq": 0}}),
        ("float seq", {"type": "chat.delete", "ref": 11, "room": room, "seq": 1.5}),
    ]


JSON_ONLY = [  # raw JSON text: what MessagePack cannot even carry
    ("lone surrogate in nonce", '{"type":"chat.send","ref":20,"room":"%s","text":"hi","nonce":"\\ud800"}'),
    ("lone surrogate in text", '{"type":"chat.send","ref":21,"room":"%s","text":"a\\udfffb","nonce":"n21"}'),
    ("lone surrogate in room", '{"type":"room.join","ref":22,"room":"%s\\ud800"}'),
    ("lone surrogate in kind", '{"type":"reaction.send","ref":23,"room":"%s","kind":"\\udc00"}'),
    ("lone surrogate in type", '{"type":"\\ud800","ref":24}'),
    ("lone surrogate in ref", '{"type":"ping","ref":"\\ud800"}'),
    ("lone surrogate in a key", '{"type":"ping","ref":25,"\\ud800":1}'),
    ("lone surrogate in sdp", '{"type":"media.publish","ref":26,"room":"%s","sdp":"v=0\\ud800"}'),
    ("ref beyond 64 bits", '{"type":"ping","ref":' + str(HUGE) + "}"),
    ("negative ref beyond 64 bits", '{"type":"ping","ref":-' + str(HUGE) + "}"),
    ("seq beyond 64 bits", '{"type":"chat.delete","ref":27,"room":"%s","seq":' + str(HUGE) + "}"),
    ("NaN seq", '{"type":"chat.delete","ref":28,"room":"%s","seq":NaN}'),
    ("Infinity epoch", '{"type":"room.join","ref":29,"room":"%s","since":{"epoch":Infinity,"seq":0}}'),
]


async def _setup(server: RunningServer, person: Any) -> str:
    community = await make_community(person)
    live = await person.ok("POST", f"/v1/communities/{community['id']}/live", 201, json={"title": "t"})
    return str(live["room"])


async def _next_reply(client: LiveClient) -> dict[str, Any]:
    while True:
        event = await client.next_event(timeout=10)
        if event.get("type") in ("ok", "error"):
            return event


async def _still_works(client: LiveClient, room: str, n: int) -> None:
    """The connection answers (a ping each time; a stored chat message every fifth time, which
    stays under the chat rate limit)."""
    assert (await client.request("ping"))["type"] == "ok"
    if n % 5 == 0:
        reply = await client.request("chat.send", room=room, text=f"still here {n}", nonce=f"ok{n}")
        assert reply["seq"] >= 1


@pytest.mark.parametrize("encoding", ["json", "msgpack"])
async def test_bad_strings_and_numbers_are_invalid_request(server: RunningServer, encoding: str) -> None:
    async with people(server, "host") as (host,):
        room = await _setup(server, host)
        client = await LiveClient.connect(server.url, server.token(host.id, "host"), encoding)
        try:
            await client.request("room.join", room=room)
            for n, (name, message) in enumerate(frames(room)):
                await client.send(message)  # type: ignore[arg-type]
                reply = await _next_reply(client)
                assert reply["type"] == "error" and reply["code"] == "invalid_request", (name, reply)
                ref = message["ref"] if isinstance(message, dict) else None  # type: ignore[index]
                if isinstance(ref, int):
                    assert reply.get("ref") == ref, (name, reply)
                await _still_works(client, room, n)
        finally:
            await client.close()
        assert client.close_code in (1000, None), client.close_code


async def test_json_only_abuse_is_invalid_request(server: RunningServer) -> None:
    async with people(server, "host") as (host,):
        room = await _setup(server, host)
        client = await LiveClient.connect(server.url, server.token(host.id, "host"), "json")
        try:
            await client.request("room.join", room=room)
            for n, (name, raw) in enumerate(JSON_ONLY):
                text = raw % room if "%s" in raw else raw
                await client.ws.send(text)
                reply = await _next_reply(client)
                assert reply["type"] == "error" and reply["code"] == "invalid_request", (name, reply)
                ref = json.loads(text.replace("NaN", "0").replace("Infinity", "0")).get("ref") \
                    if "\\ud800" not in text else None
                if isinstance(ref, int) and -(2**63) <= ref < 2**64:
                    assert reply.get("ref") == ref, (name, reply)
                await _still_works(client, room, 100 + n)
        finally:
            await client.close()


async def test_msgpack_oddities_are_invalid_request(server: RunningServer) -> None:
    """MessagePack-only shapes: binary where strings go, extension types, a map with integer keys."""
    async with people(server, "host") as (host,):
        room = await _setup(server, host)
        client = await LiveClient.connect(server.url, server.token(host.id, "host"), "msgpack")
        try:
            await client.request("room.join", room=room)
            raw = [
                msgpack.packb({"type": "chat.send", "ref": 40, "room": room, "text": b"bin", "nonce": "x"}),
                msgpack.packb({"type": "chat.send", "ref": 41, "room": room, "text": "x", "nonce": b"\x00"}),
                msgpack.packb({"type": "ping", "ref": 42, 7: "int key"}),
                msgpack.packb({"type": "ping", "ref": msgpack.ExtType(5, b"x")}),
                msgpack.packb({"type": "chat.delete", "ref": 43, "room": room, "seq": 2**64 - 1}),
                msgpack.packb({"type": "room.join", "ref": 44, "room": room, "since": {"epoch": 2**64 - 1, "seq": 0}}),
            ]
            for n, frame in enumerate(raw):
                await client.ws.send(frame)
                reply = await _next_reply(client)
                assert reply["type"] == "error" and reply["code"] == "invalid_request", (n, reply)
                await _still_works(client, room, 200 + n)
        finally:
            await client.close()
