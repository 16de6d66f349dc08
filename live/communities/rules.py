"""The rank rules of role changes, as a pure function (the service applies it, tests tabulate it).

Nobody acts on someone of equal or higher rank, and nobody gives a role at or above their own:
the owner gives admin, moderator or member to anyone else; an admin gives moderator or member to
moderators and members. Ownership moves only by handover, never by a role change.
"""

from __future__ import annotations

from live.communities.access import Role
from live.errors import ApiError, ErrorCode


def check_role_change(actor: Role, target: Role, wanted: Role) -> None:
    """Raise 403 `forbidden` unless `actor` may turn someone who is `target` into `wanted`."""
    if not actor.at_least(Role.ADMIN):
        raise ApiError(ErrorCode.FORBIDDEN, "changing roles needs the admin role or higher")
    if wanted is Role.OWNER:
        raise ApiError(ErrorCode.FORBIDDEN, "ownership moves only by handing it over")
    if not actor.outranks(target):
        raise ApiError(ErrorCode.FORBIDDEN, "you cannot change the role of someone of equal or higher rank")
    if not actor.outranks(wanted):
        raise ApiError(ErrorCode.FORBIDDEN, f"a {actor.value} cannot give the {wanted.value} role")
