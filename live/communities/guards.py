"""Sanction checks the community writes share (bans, mutes), from the moderation domain."""

from __future__ import annotations

from live.moderation.sanctions import check_can_speak, check_not_banned

__all__ = ["check_can_speak", "check_not_banned"]
