"""What a notification is: its kinds, the draft a domain hands over, and its wire object.

A notification is `{id, kind, created_at, read, community_id?, live_id?, actor?: {id, name},
title, body, url}`; `url` is the web client's route (`#/live/{lid}`, `#/c/{cid}`...), which an
app maps to its own screen. Titles and bodies are written here in English, from the domain's
facts, so every delivery (inbox, WebSocket, Web Push, webhook) says the same thing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from live.storage.base import iso

LIVE_STARTED = "live.started"
LIVE_SCHEDULED = "live.scheduled"
LIVE_REMINDER = "live.reminder"
ANNOUNCEMENT = "announcement"
MODERATION_NOTICE = "moderation.notice"
REPORT_RESOLVED = "report.resolved"
APPEAL_DECIDED = "appeal.decided"
JOIN_REQUEST_DECIDED = "join_request.decided"
USAGE_REMINDER = "usage.reminder"

KINDS = (
    LIVE_STARTED, LIVE_SCHEDULED, LIVE_REMINDER, ANNOUNCEMENT, MODERATION_NOTICE, REPORT_RESOLVED,
    APPEAL_DECIDED, JOIN_REQUEST_DECIDED, USAGE_REMINDER,
)

TITLE_CHARS = 300
BODY_CHARS = 1000  # a push payload must stay well under the 4 KB push services accept


def clip(text: str, limit: int) -> str:
    text = " ".join(text.split()) if "\n" not in text else text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


@dataclasses.dataclass(frozen=True, slots=True)
class Actor:
    id: str
    name: str


@dataclasses.dataclass(frozen=True, slots=True)
class Draft:
    """A notification before it has an id and recipients."""

    kind: str
    title: str
    body: str
    url: str
    community_id: str | None = None
    live_id: str | None = None
    actor: Actor | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown notification kind {self.kind!r}")

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "title": clip(self.title, TITLE_CHARS),
            "body": clip(self.body, BODY_CHARS),
            "url": self.url,
            "community_id": self.community_id,
            "live_id": self.live_id,
            "actor": {"id": self.actor.id, "name": self.actor.name} if self.actor else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Draft:
        actor = data.get("actor")
        return cls(
            kind=data["kind"], title=data["title"], body=data.get("body") or "", url=data["url"],
            community_id=data.get("community_id"), live_id=data.get("live_id"),
            actor=Actor(actor["id"], actor["name"]) if actor else None,
        )


def wire(nid: str, draft: dict[str, Any], created_at: dt.datetime, read: bool = False) -> dict[str, Any]:
    """The notification object (every delivery carries exactly this)."""
    return {
        "id": nid,
        "kind": draft["kind"],
        "created_at": iso(created_at),
        "read": read,
        "community_id": draft.get("community_id"),
        "live_id": draft.get("live_id"),
        "actor": draft.get("actor"),
        "title": draft["title"],
        "body": draft.get("body") or "",
        "url": draft["url"],
    }


def live_url(lid: str) -> str:
    return f"#/live/{lid}"


def community_url(cid: str, tab: str | None = None) -> str:
    return f"#/c/{cid}/{tab}" if tab else f"#/c/{cid}"
