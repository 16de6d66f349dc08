"""Invitation quota accounting, as pure rules.

A member is granted `grant` invitations when they join; creating an invite spends one; revoking
an unused invite that spent one gives it back. The count never goes below 0 nor above the grant.
Staff (owner, admins, moderators) invite without spending. The SQL in `invites.py` applies the
same rules as conditional updates, so concurrent requests cannot break them either.
"""

from __future__ import annotations

import dataclasses

from live.communities.access import Role


class QuotaExhausted(Exception):
    """No invitations left."""


@dataclasses.dataclass(frozen=True, slots=True)
class Quota:
    grant: int
    left: int

    @classmethod
    def granted(cls, grant: int) -> Quota:
        return cls(grant=grant, left=grant)

    def spend(self) -> Quota:
        if self.left <= 0:
            raise QuotaExhausted
        return dataclasses.replace(self, left=self.left - 1)

    def give_back(self) -> Quota:
        return dataclasses.replace(self, left=min(self.grant, self.left + 1))


def spends_quota(role: Role) -> bool:
    """Whether an invite created by `role` spends one of their invitations."""
    return not role.at_least(Role.MODERATOR)
