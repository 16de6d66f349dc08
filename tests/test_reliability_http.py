"""HTTP abuse as regression tests, through a real server on SQLite and on PostgreSQL: numbers past
what the columns hold, NUL characters and invalid UTF-8 in paths, query strings and bodies,
odd cursors and times. Every answer is the contract's typed error (or a plain empty answer),
never a 500. (Deep JSON, header and body limits are tests/test_http_hardening.py's; identities are
tests/test_identity.py's; text hygiene is tests/test_text_hygiene.py's.)
"""

from __future__ import annotations

import json
from typing import Any

from tests.support.communities import make_community, people
from tests.support.servers import RunningServer

BIG = 2**63  # one past the largest BIGINT
SEQ = 2**31 - 1  # the largest chat seq (an INTEGER column: 32 bits on PostgreSQL)
HUGE = 10**30


async def test_numbers_strings_and_cursors_never_500(server: RunningServer) -> None:
    async with people(server, "owner", "member") as (owner, member):
        community = await make_community(owner)
        cid = community["id"]
        await member.ok("POST", f"/v1/communities/{cid}/join")
        live = await owner.ok("POST", f"/v1/communities/{cid}/live", 201, json={"title": "t"})
        lid = live["id"]
        cases: list[tuple[str, str, Any, set[int]]] = [
            ("GET", f"/v1/live/{lid}/chat?after_seq={BIG}", None, {422}),
            ("GET", f"/v1/live/{lid}/chat?after_seq={HUGE}", None, {422}),
            ("GET", f"/v1/live/{lid}/chat?after_seq={SEQ}", None, {200}),
            ("GET", f"/v1/live/{lid}/chat?after_seq={SEQ + 1}", None, {422}),
            ("GET", f"/v1/live/{lid}/chat?limit={HUGE}", None, {422}),
            ("PUT", f"/v1/live/{lid}/pin", {"seq": BIG}, {422}),
            ("PUT", f"/v1/live/{lid}/pin", {"seq": HUGE}, {422}),
            ("PUT", f"/v1/live/{lid}/pin", {"seq": SEQ}, {404}),
            ("PUT", f"/v1/live/{lid}/pin", {"seq": SEQ + 1}, {422}),
            ("GET", f"/v1/me/usage?days={HUGE}", None, {422}),
            ("GET", f"/v1/communities/{cid}/insights?days={HUGE}", None, {422}),
            ("POST", f"/v1/communities/{cid}/moderation",
             {"action": "timeout", "user_id": member.id, "reason": "x", "duration_seconds": HUGE}, {422}),
            ("POST", f"/v1/communities/{cid}/moderation",
             {"action": "delete", "target": {"type": "message", "id": f"{lid}:{HUGE}"}, "reason": "x"}, {404, 422}),
            ("POST", f"/v1/communities/{cid}/moderation",
             {"action": "delete", "target": {"type": "message", "id": f"{lid}:{BIG}"}, "reason": "x"}, {404, 422}),
            ("POST", f"/v1/communities/{cid}/reports",
             {"target": {"type": "message", "id": f"{lid}:{HUGE}"}, "reason": "x"}, {404, 422}),
            ("PATCH", f"/v1/communities/{cid}", {"slow_mode_seconds": HUGE}, {422}),
            ("PUT", "/v1/me/notification-settings", {"muted_communities": [], "daily_limit_minutes": HUGE}, {422}),
            ("GET", "/v1/communities/%00", None, {404, 422}),
            ("GET", "/v1/communities/%ED%A0%80", None, {404, 422}),
            ("GET", "/v1/communities/%FF%FE", None, {404, 422}),
            ("GET", f"/v1/live/{lid}%00/chat", None, {404, 422}),
            ("GET", f"/v1/live/{lid}%ED%A0%80", None, {404, 422}),
            ("POST", f"/v1/live/{lid}%00/end", None, {404, 422}),
            ("GET", f"/v1/live/{lid}%00/hls/index.m3u8", None, {404, 422}),
            ("GET", f"/v1/live/{lid}/hls/index%00.m3u8", None, {404, 422}),
            ("GET", "/v1/posts/%00/comments", None, {404, 422}),
            ("GET", "/v1/groups/%00/chat", None, {404, 422}),
            ("DELETE", "/v1/me/blocks/%00", None, {404, 422}),
            ("GET", "/v1/uploads/%00", None, {404, 422}),
            ("GET", "/v1/communities?q=%00", None, {422}),
            ("GET", "/v1/communities?q=%ED%A0%80", None, {200, 422}),
            ("GET", "/v1/communities?topic=%FF", None, {200, 422}),
            ("GET", "/v1/communities?cursor=%ED%A0%80", None, {422}),
            ("GET", f"/v1/communities/{cid}/posts?cursor=%00%ff", None, {422}),
            ("GET", f"/v1/me/notifications?cursor={HUGE}", None, {422}),
            ("GET", f"/v1/live?scope=mine&cursor={HUGE}", None, {422}),
            ("POST", f"/v1/communities/{cid}/posts", {"text": "a\udfffb"}, {422}),
            ("POST", f"/v1/communities/{cid}/posts", {"text": "a\x00b"}, {422}),
            ("POST", f"/v1/communities/{cid}/live", {"title": "x", "starts_at": "9999-12-31T23:59:59Z"}, {422}),
            ("POST", f"/v1/communities/{cid}/live", {"title": "x", "starts_at": "0001-01-01T00:00:00+14:00"}, {422}),
            ("PUT", "/v1/me/notification-settings",
             {"muted_communities": [], "quiet_hours": {"start": "25:99", "end": "00:00", "tz": "Mars/Base"}}, {422}),
            ("POST", f"/v1/admin/users/{member.id}/suspend", {"reason": "x", "duration_seconds": HUGE}, {403, 422}),
        ]
        for method, path, body, expected in cases:
            if body is None:
                resp = await owner.http.request(method, path)
            else:
                raw = json.dumps(body).encode()  # escapes lone surrogates as \\udfff, as JSON allows
                resp = await owner.http.request(method, path, content=raw,
                                                headers={"Content-Type": "application/json"})
            assert resp.status_code in expected, (method, path, resp.status_code, resp.text)
            if resp.status_code >= 400:
                error = resp.json()["error"]
                assert error["code"] and error["message"], resp.text
