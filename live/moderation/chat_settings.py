"""Slow mode and the keyword filter, set by moderators and recorded in the moderation log.

Admins can also change them with the community's other settings (PATCH /v1/communities/{cid});
this is the moderators' way, and every change shows in the log like any other action, so a
community can see when and by which role its chat was slowed or a word was filtered.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from live.communities.access import Role, require_role
from live.errors import invalid
from live.moderation.models import ModerationAction
from live.storage.base import utcnow
from live.storage.ids import new_id

EVENT = "community.chat_settings"


async def update_chat_settings(
    session: AsyncSession,
    community_id: str,
    actor_id: str,
    slow_mode_seconds: int | None,
    blocked_words: list[str] | None,
    reason: str | None,
) -> tuple[dict[str, Any], list[ModerationAction]]:
    """Apply the given settings (moderators and up); one log entry per setting that changed."""
    community, member = await require_role(session, community_id, actor_id, Role.MODERATOR)
    if slow_mode_seconds is None and blocked_words is None:
        raise invalid({"body": "give slow_mode_seconds, blocked_words, or both"})
    now = utcnow()
    entries: list[ModerationAction] = []

    def log(action: str, what: str) -> None:
        entries.append(
            ModerationAction(
                community_id=community_id,
                action=action,
                reason=f"{what}: {reason}" if reason else what,
                moderator_id=actor_id,
                moderator_role=member.role,
                created_at=now,
            )
        )

    if slow_mode_seconds is not None and slow_mode_seconds != community.slow_mode_seconds:
        community.slow_mode_seconds = slow_mode_seconds
        log("slow_mode", f"slow mode {'off' if slow_mode_seconds == 0 else f'set to {slow_mode_seconds} s'}")
    if blocked_words is not None and list(blocked_words) != list(community.blocked_words or []):
        before = set(community.blocked_words or [])
        after = set(blocked_words)
        community.blocked_words = list(blocked_words)
        log("filter", f"keyword filter updated: {len(after - before)} added, {len(before - after)} removed")
    # Ids sort by millisecond only: give same-request entries ids in the order they happened.
    for entry, entry_id in zip(entries, sorted(new_id() for _ in entries), strict=True):
        entry.id = entry_id
    session.add_all(entries)
    settings = {
        "community_id": community_id,
        "slow_mode_seconds": community.slow_mode_seconds,
        "blocked_words": list(community.blocked_words or []),
    }
    return settings, entries
