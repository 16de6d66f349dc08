"""Appeals on actions in a community the caller cannot see answer exactly like an unknown action
(404), so an action id reveals nothing; the user the action hit may still appeal from outside."""

from __future__ import annotations

from typing import Any

from tests.test_moderation_support import make_cast


async def test_appeal_in_an_unreadable_community_is_404(server: Any) -> None:
    cast = await make_cast(server, read_policy="members")
    try:
        r = await cast.act("moderator", action="ban", user_id=cast.ids["member"], reason="flooding")
        assert r.status_code == 201, r.text
        action = r.json()
        body = {"text": "let me back"}

        unknown = await cast["outsider"].post("/v1/moderation/no-such-action/appeal", json=body)
        hidden = await cast["outsider"].post(f"/v1/moderation/{action['id']}/appeal", json=body)
        assert unknown.status_code == hidden.status_code == 404
        assert hidden.json() == unknown.json()  # same code, same message: nothing leaked

        # A member can read the log, so the action is no secret to them: 403.
        r = await cast["member2"].post(f"/v1/moderation/{action['id']}/appeal", json=body)
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"

        # The banned user is outside the members-only community now, and still may appeal.
        r = await cast["member"].post(f"/v1/moderation/{action['id']}/appeal", json=body)
        assert r.status_code == 201, r.text
        assert r.json()["action"]["id"] == action["id"]
    finally:
        await cast.close()
