"""The stage of a live, as pure rules: who may bring whom on stage, and how many fit.

A seat is in one of three states; the host is always on stage and has no seat:

    (none) --request (viewer)-------> requested --accept (host) / invite (host)--> guest
    (none) --invite (host)----------> invited   --accept / request (the invitee)--> guest
    any seat --remove (host, moderator+, or its own user: "leave")--> (none)

Becoming a guest needs a free place (at most `max_guests` guests). `apply` takes the seats and
returns the new seats, or raises the contract's error; the service persists and publishes.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping

from live.errors import ApiError, ErrorCode, invalid

REQUESTED = "requested"
INVITED = "invited"
GUEST = "guest"
HOST = "host"


class Kind(str, enum.Enum):
    REQUEST = "request"
    INVITE = "invite"
    ACCEPT = "accept"
    REMOVE = "remove"


@dataclasses.dataclass(frozen=True, slots=True)
class Actor:
    id: str
    is_host: bool
    is_moderator: bool  # moderator, admin or owner of the community


def _forbidden(message: str) -> ApiError:
    return ApiError(ErrorCode.FORBIDDEN, message)


def _conflict(message: str) -> ApiError:
    return ApiError(ErrorCode.CONFLICT, message)


def _guests(seats: Mapping[str, str]) -> int:
    return sum(1 for state in seats.values() if state == GUEST)


def _seat_as_guest(seats: dict[str, str], user_id: str, max_guests: int) -> None:
    if _guests(seats) >= max_guests:
        raise _conflict(f"the stage is full ({max_guests} guests)")
    seats[user_id] = GUEST


def apply(
    seats: Mapping[str, str],
    host_id: str,
    actor: Actor,
    kind: Kind | str,
    user_id: str | None,
    max_guests: int,
) -> dict[str, str]:
    """The seats after `actor` does `kind` (to `user_id`, where it names someone)."""
    try:
        kind = Kind(kind)
    except ValueError:
        raise invalid({"type": "unknown stage action"}) from None
    out = dict(seats)
    if kind is Kind.REQUEST:
        if user_id not in (None, actor.id):
            raise _forbidden("you can only ask to come on stage yourself")
        if actor.is_host:
            raise _conflict("the host is always on stage")
        state = out.get(actor.id)
        if state == GUEST:
            raise _conflict("you are already on stage")
        if state == INVITED:  # asked and invited: both sides agree
            _seat_as_guest(out, actor.id, max_guests)
        else:
            out[actor.id] = REQUESTED
        return out

    if kind is Kind.INVITE:
        if not actor.is_host:
            raise _forbidden("only the host invites guests")
        if not user_id:
            raise invalid({"user_id": "required"})
        if user_id == host_id:
            raise _conflict("the host is always on stage")
        state = out.get(user_id)
        if state == GUEST:
            raise _conflict("already on stage")
        if state == REQUESTED:
            _seat_as_guest(out, user_id, max_guests)
        else:
            out[user_id] = INVITED
        return out

    if kind is Kind.ACCEPT:
        if actor.is_host:
            if not user_id:
                raise invalid({"user_id": "required"})
            if out.get(user_id) != REQUESTED:
                raise ApiError(ErrorCode.NOT_FOUND, "no request from that user")
            _seat_as_guest(out, user_id, max_guests)
            return out
        if user_id not in (None, actor.id):
            raise _forbidden("only the host accepts requests")
        if out.get(actor.id) != INVITED:
            raise ApiError(ErrorCode.NOT_FOUND, "you have no invitation to the stage")
        _seat_as_guest(out, actor.id, max_guests)
        return out

    # REMOVE
    target = user_id or actor.id
    if target == host_id:
        raise _conflict("the host cannot be removed from the stage")
    if target != actor.id and not (actor.is_host or actor.is_moderator):
        raise _forbidden("only the host or a moderator removes someone from the stage")
    if target not in out:
        raise ApiError(ErrorCode.NOT_FOUND, "that user is not on the stage")
    del out[target]
    return out


_ORDER = {GUEST: 0, INVITED: 1, REQUESTED: 2}


def listing(host_id: str, seats: Mapping[str, str], order: Mapping[str, object] | None = None) -> list[dict[str, str]]:
    """The `stage` list of `stage.updated`: the host, then guests, invitations, requests.

    `order` (user id -> a sortable, e.g. when the seat changed) keeps arrival order within a state.
    """
    rank = order or {}
    rest = sorted(seats.items(), key=lambda kv: (_ORDER.get(kv[1], 9), str(rank.get(kv[0], "")), kv[0]))
    return [{"user_id": host_id, "role": HOST}] + [{"user_id": u, "role": s} for u, s in rest]
