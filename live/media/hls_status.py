"""What a live object says about its HLS: its URL once there is media to play, and its players.

Read from the var dir (the HLS writer's files, the recorder's metadata) and from `HlsViewers`,
without I/O beyond a `stat`: the live service asks it for every live object it shows.
"""

from __future__ import annotations

from pathlib import Path

from live.media.hls_viewers import HlsViewers


class HlsStatus:
    """The HLS facts of lives on this node: files under `{var}/hls/`, players from `viewers`."""

    def __init__(self, var_dir: Path, viewers: HlsViewers) -> None:
        self.root = var_dir / "hls"
        self.recordings = var_dir / "recordings"
        self.viewers = viewers

    def url(self, lid: str, status: str) -> str | None:
        """The live's `hls_url`: once the host's media is there; after the end, while recorded."""
        if not (self.root / lid / "index.m3u8").exists():
            return None
        if status != "live" and not self.recorded(lid):
            return None
        return f"/v1/live/{lid}/hls/index.m3u8"

    def count(self, lid: str) -> int:
        """HLS players of the live (its `hls_viewer_count`)."""
        return self.viewers.count(lid)

    def outside(self, lid: str) -> int:
        """HLS players whose user is not also in the live's room (added to its viewers)."""
        return self.viewers.outside(lid)

    def recorded(self, lid: str) -> bool:
        return (self.recordings / f"{lid}.json").exists()
