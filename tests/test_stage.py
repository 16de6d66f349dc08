"""The stage: the pure rules as a table of cases, then the service (persisted, published, limited)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from live.auth.tokens import Principal
from live.bus.base import Message
from live.errors import ApiError, ErrorCode
from live.lives import stage
from live.rooms.channels import decode_event, room_channel
from tests.support.communities import add_member, make_community, mute, people
from tests.support.servers import RunningServer
from tests.support.waiting import poll

HOST = stage.Actor("h", is_host=True, is_moderator=True)
VIEWER = stage.Actor("v", is_host=False, is_moderator=False)
OTHER = stage.Actor("o", is_host=False, is_moderator=False)
MOD = stage.Actor("m", is_host=False, is_moderator=True)

R, I, G = stage.REQUESTED, stage.INVITED, stage.GUEST  # noqa: E741 - one letter a state: the table reads
E = ErrorCode

# (name, seats before, actor, kind, user_id, max guests, seats after | error code)
CASES: list[tuple[str, dict[str, str], stage.Actor, str, str | None, int, dict[str, str] | ErrorCode]] = [
    ("viewer requests", {}, VIEWER, "request", None, 4, {"v": R}),
    ("request names self", {}, VIEWER, "request", "v", 4, {"v": R}),
    ("request again is a no-op", {"v": R}, VIEWER, "request", None, 4, {"v": R}),
    ("request for another", {}, VIEWER, "request", "o", 4, E.FORBIDDEN),
    ("host requests", {}, HOST, "request", None, 4, E.CONFLICT),
    ("guest requests", {"v": G}, VIEWER, "request", None, 4, E.CONFLICT),
    ("invited then requests: on stage", {"v": I}, VIEWER, "request", None, 4, {"v": G}),
    ("host invites", {}, HOST, "invite", "v", 4, {"v": I}),
    ("host invites a requester: on stage", {"v": R}, HOST, "invite", "v", 4, {"v": G}),
    ("invite a guest", {"v": G}, HOST, "invite", "v", 4, E.CONFLICT),
    ("invite the host", {}, HOST, "invite", "h", 4, E.CONFLICT),
    ("invite nobody", {}, HOST, "invite", None, 4, E.INVALID_REQUEST),
    ("viewer invites", {}, VIEWER, "invite", "o", 4, E.FORBIDDEN),
    ("moderator invites", {}, MOD, "invite", "o", 4, E.FORBIDDEN),
    ("host accepts a request", {"v": R}, HOST, "accept", "v", 4, {"v": G}),
    ("host accepts nobody", {}, HOST, "accept", None, 4, E.INVALID_REQUEST),
    ("host accepts a non-request", {"v": I}, HOST, "accept", "v", 4, E.NOT_FOUND),
    ("viewer accepts an invitation", {"v": I}, VIEWER, "accept", None, 4, {"v": G}),
    ("viewer accepts without one", {}, VIEWER, "accept", None, 4, E.NOT_FOUND),
    ("viewer accepts another's request", {"o": R}, VIEWER, "accept", "o", 4, E.FORBIDDEN),
    ("stage full on accept", {"a": G, "v": R}, HOST, "accept", "v", 1, E.CONFLICT),
    ("stage full on invitation accepted", {"a": G, "v": I}, VIEWER, "accept", None, 1, E.CONFLICT),
    ("stage full on invite of a requester", {"a": G, "v": R}, HOST, "invite", "v", 1, E.CONFLICT),
    ("full stage still takes requests", {"a": G}, VIEWER, "request", None, 1, {"a": G, "v": R}),
    ("no guests allowed", {"v": R}, HOST, "accept", "v", 0, E.CONFLICT),
    ("host removes a guest", {"v": G, "o": G}, HOST, "remove", "v", 4, {"o": G}),
    ("moderator removes a guest", {"v": G}, MOD, "remove", "v", 4, {}),
    ("host declines a request", {"v": R}, HOST, "remove", "v", 4, {}),
    ("guest leaves", {"v": G}, VIEWER, "remove", None, 4, {}),
    ("guest leaves naming self", {"v": G}, VIEWER, "remove", "v", 4, {}),
    ("requester withdraws", {"v": R}, VIEWER, "remove", None, 4, {}),
    ("viewer removes another", {"o": G}, VIEWER, "remove", "o", 4, E.FORBIDDEN),
    ("remove the host", {}, MOD, "remove", "h", 4, E.CONFLICT),
    ("remove someone not there", {}, HOST, "remove", "v", 4, E.NOT_FOUND),
    ("unknown action", {}, HOST, "dance", None, 4, E.INVALID_REQUEST),
]


@pytest.mark.parametrize(("name", "seats", "actor", "kind", "user_id", "max_guests", "expected"), CASES,
                         ids=[c[0] for c in CASES])
def test_stage_rules(name: str, seats: dict[str, str], actor: stage.Actor, kind: str, user_id: str | None,
                     max_guests: int, expected: dict[str, str] | ErrorCode) -> None:
    before = dict(seats)
    if isinstance(expected, ErrorCode):
        with pytest.raises(ApiError) as err:
            stage.apply(seats, "h", actor, kind, user_id, max_guests)
        assert err.value.code is expected, name
    else:
        assert stage.apply(seats, "h", actor, kind, user_id, max_guests) == expected, name
    assert seats == before  # pure: the input is never changed


def test_listing_order() -> None:
    seats = {"r1": R, "g2": G, "i1": I, "g1": G}
    order = {"g1": "2", "g2": "1", "r1": "0", "i1": "0"}
    assert stage.listing("h", seats, order) == [
        {"user_id": "h", "role": "host"},
        {"user_id": "g2", "role": "guest"},
        {"user_id": "g1", "role": "guest"},
        {"user_id": "i1", "role": "invited"},
        {"user_id": "r1", "role": "requested"},
    ]


async def _collect(sub: Any, out: list[dict[str, Any]]) -> None:
    async for event in sub:
        if isinstance(event, Message):
            decoded = decode_event(event.data)
            out.extend(decoded if isinstance(decoded, list) else [decoded])


async def test_stage_service(make_settings: Any) -> None:
    from tests.support.servers import run_server

    async with run_server(make_settings(stage_max_guests=2)) as server:
        await _stage_scenario(server)


async def _stage_scenario(server: RunningServer) -> None:
    async with people(server, "host", "g1", "g2", "g3", "mod", "muted", "outsider") as cast:
        host, g1, g2, g3, mod, muted, outsider = cast
        community = await make_community(host)
        cid = community["id"]
        for who in (g1, g2, g3, muted):
            await add_member(host, community, who)
        await add_member(host, community, mod, role="moderator")
        await mute(server, cid, muted.id)
        live = await host.ok("POST", f"/v1/communities/{cid}/live", 201, json={"title": "stage"})
        lid, room = live["id"], live["room"]
        lives = server.services.lives

        def p(person: Any) -> Principal:
            return Principal(person.id, person.name)

        seen: list[dict[str, Any]] = []
        domain: list[dict[str, Any]] = []

        async def on_stage(payload: dict[str, Any]) -> None:
            domain.append(payload)

        server.services.events.on("stage.changed", on_stage)
        sub = server.services.bus.subscription()
        await sub.subscribe(room_channel(room))
        reader = asyncio.create_task(_collect(sub, seen))
        try:
            assert not await lives.may_publish(lid, g1.id)
            assert await lives.may_publish(lid, host.id)
            out = await lives.stage_action(lid, p(g1), "request")
            assert out == [{"user_id": host.id, "role": "host"}, {"user_id": g1.id, "role": "requested"}]
            await lives.stage_action(lid, p(host), "accept", g1.id)
            assert await lives.may_publish(lid, g1.id)
            await lives.stage_action(lid, p(host), "invite", g2.id)
            assert not await lives.may_publish(lid, g2.id)
            out = await lives.stage_action(lid, p(g2), "accept")
            assert [s["role"] for s in out] == ["host", "guest", "guest"]
            # Full (2 guests): a third may ask, but cannot be accepted.
            await lives.stage_action(lid, p(g3), "request")
            with pytest.raises(ApiError) as err:
                await lives.stage_action(lid, p(host), "accept", g3.id)
            assert err.value.code is ErrorCode.CONFLICT
            # A moderator removes a guest; a guest leaves; then the third fits.
            await lives.stage_action(lid, p(mod), "remove", g1.id)
            await lives.stage_action(lid, p(g2), "remove")
            out = await lives.stage_action(lid, p(host), "accept", g3.id)
            assert out == [{"user_id": host.id, "role": "host"}, {"user_id": g3.id, "role": "guest"}]
            state = await lives.state(lid)
            assert state["stage"] == out and state["title"] == "stage"
            assert state["host"] == {"id": host.id, "name": "host"}
            assert state["pinned"] is None and state["viewer_count"] == 0

            # Errors: non-members, the muted, strangers to the community, ended lives.
            for who, kind, target, code in [
                (outsider, "request", None, ErrorCode.NOT_MEMBER),
                (muted, "request", None, ErrorCode.MUTED),
                (g1, "remove", g3.id, ErrorCode.FORBIDDEN),
                (host, "invite", outsider.id, ErrorCode.NOT_FOUND),
                (host, "invite", None, ErrorCode.INVALID_REQUEST),
            ]:
                with pytest.raises(ApiError) as err:
                    await lives.stage_action(lid, p(who), kind, target)
                assert err.value.code is code, (who.name, kind)
            with pytest.raises(ApiError) as err:
                await lives.stage_action("nope", p(host), "request")
            assert err.value.code is ErrorCode.NOT_FOUND
            # A muted guest may not publish.
            await lives.stage_action(lid, p(host), "invite", muted.id)
            assert not await lives.may_publish(lid, muted.id)

            await poll(lambda: len(seen) >= 9, 10)
            assert [e["type"] for e in seen] == ["stage.updated"] * 9
            assert seen[-1]["room"] == room
            assert seen[-2]["stage"] == out  # what the accept returned is what the room heard
            assert seen[-1]["stage"][-1] == {"user_id": muted.id, "role": "invited"}

            # The in-process event names who left the stage (the media relay stops them).
            assert len(domain) == 9 and domain[-1]["live_id"] == lid and domain[-1]["room"] == room
            assert [d["left"] for d in domain if d["left"]] == [[g1.id], [g2.id]]

            await host.ok("POST", f"/v1/live/{lid}/end")
            assert not await lives.may_publish(lid, host.id)
            assert not await lives.may_publish("nope", host.id)
            assert (await lives.state(lid))["stage"] == [{"user_id": host.id, "role": "host"}]
            with pytest.raises(ApiError) as err:
                await lives.stage_action(lid, p(g1), "request")
            assert err.value.code is ErrorCode.CONFLICT
        finally:
            reader.cancel()
            await sub.close()
