"""No input makes a community endpoint fail with a 500: odd ids, odd bodies, odd query strings."""

from __future__ import annotations

import json

from tests.support.communities import make_community, people
from tests.support.servers import RunningServer
from tests.test_communities_acceptance import ROUTES

ODD_IDS = ["nope", "a%00b", "x" * 300, "%F0%9F%98%80", "0" * 26]
ODD_BODIES: list[bytes] = [
    b"",
    b"[1, 2]",
    b'"just a string"',
    b"{not json",
    json.dumps({"text": "a\u0000b", "name": "a\u0000b", "join_policy": "open", "role": "member",
                "user_id": "a\u0000", "group_ids": ["\u0000"], "community_id": "\u0000"}).encode(),
    b'{"text": "\\ud800", "name": "\\udfff", "message": "\\ud800"}',
    json.dumps({"text": {"nested": 1}, "name": [1], "topics": [None], "role": 3, "archived": "no",
                "slow_mode_seconds": 1e300, "group_ids": "g"}).encode(),
]
ODD_QUERIES = ["cursor=%00", "cursor=" + "A" * 600, "limit=-1", "limit=1e9", "q=%00", "topic=%00",
               "role=%00", "status=%00", "archived=%00", "cursor=W251bGxd", "cursor=eyJhIjoxfQ"]


def _fill(path: str, value: str) -> str:
    out = path
    for name in ("cid", "uid", "code", "rid", "gid", "pid", "comment_id"):
        out = out.replace("{" + name + "}", value)
    return out


async def test_no_input_gives_a_500(server: RunningServer) -> None:
    async with people(server, "fuzzer") as (fuzzer,):
        real = (await make_community(fuzzer))["id"]
        failures = []

        async def check(method: str, url: str, content: bytes | None = None) -> None:
            resp = await fuzzer.http.request(method.upper(), url, content=content,
                                             headers={"content-type": "application/json"})
            body = resp.json() if resp.content else None
            if resp.status_code >= 500 or (resp.status_code >= 400 and not body["error"]["code"]):
                failures.append(f"{method} {url} {content!r}: {resp.status_code} {resp.text[:200]}")

        for method, path in ROUTES:
            for odd in ODD_IDS:
                await check(method, _fill(path, odd), b"{}")
            if (method, path) == ("delete", "/v1/communities/{cid}"):
                continue  # keep the real community for the checks that need it to exist
            for content in ODD_BODIES:
                await check(method, _fill(path, real), content)
            if method == "get":
                for query in ODD_QUERIES:
                    await check(method, _fill(path, real) + "?" + query)
        assert not failures, "\n".join(failures)
