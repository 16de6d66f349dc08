"""Loud end-of-run lines (a skipped PostgreSQL leg, a Redis the suite had to start, no browser)."""

from __future__ import annotations

LINES: list[str] = []


def say(line: str) -> None:
    if line not in LINES:
        LINES.append(line)
