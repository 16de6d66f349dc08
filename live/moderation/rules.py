"""The rules of a moderation request, with no I/O: what each action needs and who may act on whom.

Every action is one row of `ACTIONS`: whether it names a user, a target, and what it does with a
duration. `validate` turns a request into the first error it breaks (422 with `fields`);
`may_act_on` is the rank rule (nobody acts on someone of equal or higher rank).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum

from live.communities.access import Role
from live.errors import ApiError, ErrorCode, invalid

# A year is the longest timed restriction; longer means "until lifted" (no duration).
MAX_DURATION_SECONDS = 365 * 24 * 3600


class Duration(enum.Enum):
    NONE = "none"  # a duration is refused
    OPTIONAL = "optional"  # none: until lifted
    REQUIRED = "required"


@dataclasses.dataclass(frozen=True)
class ActionSpec:
    needs_user: bool
    needs_target: bool
    duration: Duration
    sanction: str | None  # the sanction kind it imposes (ban|mute), if any
    lifts: str | None = None  # the sanction kind it lifts, if any
    removes_membership: bool = False
    appealable: bool = True


ACTIONS: dict[str, ActionSpec] = {
    "mute": ActionSpec(needs_user=True, needs_target=False, duration=Duration.OPTIONAL, sanction="mute"),
    "timeout": ActionSpec(needs_user=True, needs_target=False, duration=Duration.REQUIRED, sanction="mute"),
    "ban": ActionSpec(
        needs_user=True, needs_target=False, duration=Duration.OPTIONAL, sanction="ban", removes_membership=True
    ),
    "unban": ActionSpec(
        needs_user=True, needs_target=False, duration=Duration.NONE, sanction=None, lifts="ban", appealable=False
    ),
    # Beyond the contract's list: lifting a mute or timeout early.
    "unmute": ActionSpec(
        needs_user=True, needs_target=False, duration=Duration.NONE, sanction=None, lifts="mute", appealable=False
    ),
    "kick": ActionSpec(
        needs_user=True, needs_target=False, duration=Duration.NONE, sanction=None, removes_membership=True
    ),
    "delete": ActionSpec(needs_user=False, needs_target=True, duration=Duration.NONE, sanction=None),
}

TARGET_TYPES = ("post", "comment", "message")


def validate(action: str, user_id: str | None, target_type: str | None, duration_seconds: int | None) -> ActionSpec:
    """The action's spec, or 422 `invalid_request` naming every field that is wrong."""
    spec = ACTIONS.get(action)
    if spec is None:
        raise invalid({"action": f"must be one of {', '.join(ACTIONS)}"})
    fields: dict[str, str] = {}
    if spec.needs_user and not user_id:
        fields["user_id"] = f"{action} needs the user it applies to"
    if spec.needs_target and target_type is None:
        fields["target"] = f"{action} needs a target {{type, id}}"
    if not spec.needs_target and target_type is not None:
        fields["target"] = f"{action} applies to a user, not a target"
    if spec.duration is Duration.REQUIRED and duration_seconds is None:
        fields["duration_seconds"] = f"{action} needs a duration"
    if spec.duration is Duration.NONE and duration_seconds is not None:
        fields["duration_seconds"] = f"{action} takes no duration"
    if fields:
        raise invalid(fields)
    return spec


def expiry(now: dt.datetime, duration_seconds: int | None) -> dt.datetime | None:
    return None if duration_seconds is None else now + dt.timedelta(seconds=duration_seconds)


def may_act_on(actor: Role, target: Role | None) -> bool:
    """Moderators and up act on anyone strictly weaker; a non-member counts as a plain member."""
    return actor.at_least(Role.MODERATOR) and actor.outranks(target or Role.MEMBER)


def check_rank(actor: Role, target: Role | None) -> None:
    if not may_act_on(actor, target):
        raise ApiError(
            ErrorCode.FORBIDDEN,
            f"a {actor.value} cannot act on a {(target or Role.MEMBER).value}: "
            "nobody acts on someone of equal or higher rank",
        )
