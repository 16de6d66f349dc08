"""No input makes a moderation or me endpoint fail with a 500: odd ids, bodies and query strings."""

from __future__ import annotations

import json
from typing import Any

from tests.test_moderation_support import make_cast

ROUTES = [
    ("post", "/v1/communities/{cid}/moderation"),
    ("get", "/v1/communities/{cid}/moderation/log"),
    ("get", "/v1/communities/{cid}/moderation/sanctions"),
    ("patch", "/v1/communities/{cid}/moderation/chat"),
    ("post", "/v1/communities/{cid}/reports"),
    ("get", "/v1/communities/{cid}/reports"),
    ("get", "/v1/reports/{rid}"),
    ("post", "/v1/reports/{rid}/resolve"),
    ("post", "/v1/moderation/{aid}/appeal"),
    ("get", "/v1/communities/{cid}/appeals"),
    ("post", "/v1/appeals/{apid}/decide"),
    ("get", "/v1/communities/{cid}/insights"),
    ("get", "/v1/me/usage"),
    ("get", "/v1/me/moderation"),
    ("get", "/v1/me/reports"),
    ("get", "/v1/me/appeals"),
    ("get", "/v1/me/export"),
]
ODD_IDS = ["nope", "a%00b", "x" * 300, "%F0%9F%98%80", "0" * 26]
ODD_BODIES: list[bytes] = [
    b"",
    b"[1, 2]",
    b'"just a string"',
    b"{not json",
    json.dumps({"action": "mute\u0000", "user_id": "a\u0000", "reason": "a\u0000b", "text": "\u0000",
                "resolution": "\u0000", "response": "\u0000", "decision": "upheld",
                "target": {"type": "post", "id": "\u0000"}, "blocked_words": ["\u0000"]}).encode(),
    b'{"action": "ban", "user_id": "\\ud800", "reason": "\\udfff", "text": "\\ud800"}',
    json.dumps({"action": 3, "user_id": [1], "target": "post", "duration_seconds": 1e300, "reason": {"a": 1},
                "slow_mode_seconds": "10", "blocked_words": "spam", "decision": None}).encode(),
    json.dumps({"action": "delete", "target": {"type": "post", "id": "x" * 65}, "reason": "r",
                "duration_seconds": "60"}).encode(),
]
ODD_QUERIES = ["cursor=%00", "cursor=" + "A" * 600, "limit=-1", "limit=1e9", "status=%00", "days=%00",
               "days=-3", "cursor=W251bGxd", "cursor=eyJhIjoxfQ"]


def _fill(path: str, value: str) -> str:
    for name in ("cid", "rid", "aid", "apid"):
        path = path.replace("{" + name + "}", value)
    return path


async def test_no_input_gives_a_500(server: Any) -> None:
    cast = await make_cast(server)
    failures: list[str] = []
    client = cast["admin"]

    async def check(method: str, url: str, content: bytes | None = None) -> None:
        resp = await client.request(method.upper(), url, content=content, headers={"content-type": "application/json"})
        if resp.status_code >= 500 or (resp.status_code >= 400 and not resp.json()["error"]["code"]):
            failures.append(f"{method} {url} {content!r}: {resp.status_code} {resp.text[:200]}")

    try:
        for method, path in ROUTES:
            for odd in ODD_IDS:
                await check(method, _fill(path, odd), b"{}")
            for content in ODD_BODIES:
                await check(method, _fill(path, cast.cid), content)
            if method == "get":
                for query in ODD_QUERIES:
                    await check(method, _fill(path, cast.cid) + "?" + query)
        assert not failures, "\n".join(failures)
    finally:
        await cast.close()
