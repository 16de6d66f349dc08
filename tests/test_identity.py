"""Token claims are input: a signed `sub` that cannot be a user id is 401 / close 4001 (never a
500 or a 1011 "retry"), a `name` is cleaned like every display name, and nobody signs in as the
server's own tombstone account."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
import websockets

from live.auth.tokens import check_user_id, display_name
from live.client import Closed, LiveClient
from live.me.erase import TOMBSTONE_ID
from tests.support.communities import error_of, make_community, people
from tests.support.servers import SECRET, RunningServer, run_server, settings, uid
from tests.test_cli import run


def signed(sub: Any, name: Any = None) -> str:
    """A correctly signed token with whatever claims a careless minting app might put in it."""
    claims: dict[str, Any] = {"sub": sub, "exp": int(time.time()) + 600, "iat": int(time.time())}
    if name is not None:
        claims["name"] = name
    return jwt.encode(claims, SECRET, algorithm="HS256")


BAD_SUBS = {
    "nul": "ali\x00ce",
    "lone-surrogate": "ali\ud800ce",
    "blank": "   ",
    "leading-space": " alice",
    "trailing-newline": "alice\n",
    "escape": "ali\x1bce",
    "bell": "alice\x07",
    "bidi-override": "alice\u202e",
    "zero-width-only": "\u200b",
    "zero-width-inside": "al\u200bice",
    "tombstone": TOMBSTONE_ID,
    "reserved": "~system",
    "too-long": "x" * 65,
    "empty": "",
    "not-a-string": ["alice"],
}


@pytest.mark.parametrize("sub", list(BAD_SUBS.values()), ids=list(BAD_SUBS))
def test_check_user_id_refuses(sub: Any) -> None:
    with pytest.raises(ValueError):
        check_user_id(sub)


@pytest.mark.parametrize("sub", ["alice", "u-1_2.3@example.org", "سارا", "王小明", "a b", "x" * 64, "a~"])
def test_check_user_id_accepts(sub: str) -> None:
    assert check_user_id(sub) == sub


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("Alice", "Alice"),
        ("  Alice  ", "Alice"),
        ("Al\x00ice", "Alice"),
        ("Al\ud800ice", "Alice"),
        ("\x1b[31mAlice\x07", "[31mAlice"),
        ("Alice\u202eevil", "Aliceevil"),
        ("Alice\nBob", "Alice Bob"),
        ("\u200b\u200d", "the-id"),
        ("   ", "the-id"),
        ("\x00\x07", "the-id"),
        (None, "the-id"),
        (42, "the-id"),
        ("n" * 300, "n" * 200),
        ("سارا\u200cجان", "سارا\u200cجان"),
    ],
)
def test_display_name(name: Any, shown: str) -> None:
    assert display_name(name, "the-id") == shown


@pytest.mark.parametrize("sub", list(BAD_SUBS.values()), ids=list(BAD_SUBS))
async def test_bad_sub_is_401_over_http(server: RunningServer, sub: Any) -> None:
    async with server.client() as http:
        resp = await http.get("/v1/me", headers={"Authorization": f"Bearer {signed(sub, 'x')}"})
        error_of(resp, 401, "unauthorized")


@pytest.mark.parametrize("sub", ["ali\x00ce", "ali\ud800ce", "   ", "\u200b", TOMBSTONE_ID],
                         ids=["nul", "lone-surrogate", "blank", "zero-width", "tombstone"])
async def test_bad_sub_closes_the_websocket_with_4001(server: RunningServer, sub: str) -> None:
    with pytest.raises(Closed) as caught:
        await LiveClient.connect(server.url, signed(sub, "x"))
    assert caught.value.code == 4001


async def test_bad_names_are_cleaned_not_500(server: RunningServer) -> None:
    """A NUL or a lone surrogate in `name` was a 500 on PostgreSQL; controls and bidi overrides
    were stored. Now every one is cleaned, and a name that cleans to nothing is the id."""
    cases = [
        ("Al\x00ice", "Alice"),
        ("Al\ud800ice", "Alice"),
        ("\x1b[1mBold\x07", "[1mBold"),
        ("evil\u202etxt.exe", "eviltxt.exe"),
        ("\u200b\u200c\u200d", None),
        ("\x00", None),
    ]
    for name, shown in cases:
        user = uid("named")
        async with server.client() as http:
            resp = await http.get("/v1/me", headers={"Authorization": f"Bearer {signed(user, name)}"})
            assert resp.status_code == 200, resp.text
            assert resp.json()["name"] == (shown if shown is not None else user)


async def test_bad_name_over_the_websocket_is_cleaned(server: RunningServer) -> None:
    user = uid("ws")
    client = await LiveClient.connect(server.url, signed(user, "Web\x00So\ud800cket\u202e"))
    try:
        assert client.welcome["user"] == {"id": user, "name": "WebSocket"}
    finally:
        await client.close()


async def test_a_bad_name_does_not_break_what_shows_it(server: RunningServer) -> None:
    """The cleaned name is what others see: as a community owner and as a chat sender."""
    user = uid("owner")
    token = signed(user, "\u202eOwner\x07")
    async with people(server, "x") as (helper,):
        helper.http.headers["Authorization"] = f"Bearer {token}"
        community = await make_community(helper)
        members = await helper.ok("GET", f"/v1/communities/{community['id']}/members")
        assert [m["user"] for m in members["items"]] == [{"id": user, "name": "Owner"}]


async def test_the_tombstone_cannot_sign_in_or_export(server: RunningServer) -> None:
    # Someone is erased first, so the tombstone exists and owns their leftovers.
    async with people(server, "leaver") as (leaver,):
        community = await make_community(leaver)
        await leaver.ok("POST", f"/v1/communities/{community['id']}/posts", 201, json={"text": "bye"})
        await leaver.ok("DELETE", f"/v1/communities/{community['id']}", 204)
        await leaver.call("DELETE", "/v1/me", 204)
    async with server.client() as http:
        for path in ("/v1/me", "/v1/me/export"):
            resp = await http.get(path, headers={"Authorization": f"Bearer {signed(TOMBSTONE_ID)}"})
            error_of(resp, 401, "unauthorized")
    with pytest.raises(ValueError):
        server.token(TOMBSTONE_ID)


@pytest.mark.parametrize("sub", ["~deleted", " alice", "ali\x07ce", "\u200b", "a\u202eb"])
def test_live_token_refuses_ids_no_token_may_carry(tmp_path: Path, sub: str) -> None:
    res = run("token", sub, cwd=tmp_path, env={"LIVE_SECRET": "k" * 40})
    assert res.returncode == 2
    assert res.stdout == ""
    assert res.stderr.startswith("live: USER_ID: ")


def test_live_token_cleans_the_name(tmp_path: Path) -> None:
    secret = "k" * 40
    res = run("token", "alice", "--name", "\x1b[31mAlice\u202e", cwd=tmp_path, env={"LIVE_SECRET": secret})
    assert res.returncode == 0, res.stderr
    assert jwt.decode(res.stdout.strip(), secret, algorithms=["HS256"])["name"] == "[31mAlice"


async def test_raw_handshake_with_a_bad_sub_gets_4001_not_1011(server: RunningServer) -> None:
    """Straight from a WebSocket library: the close code and reason a client sees."""
    url = server.ws_url + "/v1/ws?token=" + signed("bad\x00sub", "x")
    async with websockets.connect(url) as ws:
        with pytest.raises(websockets.ConnectionClosed) as caught:
            await ws.recv()
    assert caught.value.rcvd is not None and caught.value.rcvd.code == 4001
    assert "retry" not in caught.value.rcvd.reason
    assert json.dumps(caught.value.rcvd.reason)  # a readable reason


async def test_dev_sign_in_refuses_ids_no_token_may_carry(sqlite_url: str) -> None:
    async with run_server(settings(database_url=sqlite_url, dev=True)) as dev, dev.client() as http:
        for user_id in (TOMBSTONE_ID, "ali\x00ce", "a\u202eb", "\u200b"):
            res = await http.post("/v1/dev/token", json={"user_id": user_id})
            error = error_of(res, 422, "invalid_request")
            assert "user_id" in error["fields"]
        res = await http.post("/v1/dev/token", json={"user_id": "dev-ok", "name": "\x1b[2JDev\u202e"})
        assert res.status_code == 200, res.text
        assert res.json()["user"] == {"id": "dev-ok", "name": "[2JDev"}
