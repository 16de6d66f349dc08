"""Serving HLS from any app node (`GET /v1/live/{lid}/hls/{name}`), cheap enough for thousands.

The files are the ones the relay's process writes under `{LIVE_VAR_DIR}/hls/{lid}/`
(live.media.hls); with several machines the var dir is a shared volume. Per request, no database:

- **Who may read.** The same rule as the live: public communities' lives need no token, others
  need `?token=` of a reader (which the playlist copies onto every URI it names). The decision is
  cached per (live, token) for `ACCESS_SECONDS`, so a ban reaches HLS within that time. A live
  the caller cannot read, one without media yet, an ended one without a recording and any name
  that is not a playlist, init segment, segment or part all answer 404 `not_found`, the same body.
- **Playlists** are re-read only when their file changes (one `stat` a request). A live
  playlist request without a viewer id is redirected once to the same URL with `v=` (how HLS
  viewers are counted, live.media.hls_viewers). Blocking reloads (`_HLS_msn`, `_HLS_part`) wait
  on one poller per live, shared by every waiting request.
- **Segments, parts, init segments** never change once written: kept in a bounded in-memory
  cache, sent with `Cache-Control: immutable`, so a CDN in front can serve them to everyone
  (public lives; members' lives are `private`).

The route and the middleware that answers it from the top of the stack are `live.media.hls_api`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import json
import logging
import math
import os
import re
import secrets
import time
import urllib.parse
from pathlib import Path
from typing import Protocol

from prometheus_client import Counter

from live.auth.tokens import verify
from live.coalesce import Coalescer
from live.communities.access import load_community, require_reader
from live.errors import ApiError, ErrorCode
from live.lives.service import LiveService
from live.media.hls_playlist import NAME, Position, read_position, render_vod
from live.media.hls_status import HlsStatus
from live.metrics import REGISTRY
from live.services import Services

log = logging.getLogger("live.media.hls")


class SessionMinutes(Protocol):
    """Where a signed-in player's minute of watching is noted (`live.me.usage`)."""

    def note(self, user_id: str, community_id: str | None, kind: str) -> None: ...

PATH = re.compile(r"^/v1/live/([A-Za-z0-9_-]{1,64})/hls/([^/]{1,64})$")
VIEWER = re.compile(r"^[A-Za-z0-9_-]{8,40}$")
ACCESS_SECONDS = 5.0
ACCESS_ENTRIES = 50_000
CACHE_BYTES = 128 << 20
POLL_SECONDS = 0.02  # how often a live with blocked playlist requests looks for a new playlist
DUE_STEP = 0.25  # blocked playlist requests time out on this grid (seconds; see PlaylistFile.wait)
MAX_SEQUENCE = 10**9

REQUESTS = Counter("live_hls_requests_total", "HLS requests served, by file kind and status",
                   ["kind", "status"], registry=REGISTRY)
BYTES = Counter("live_hls_bytes_total", "HLS bytes sent (bodies)", registry=REGISTRY)

_MIME = {".m3u8": "application/vnd.apple.mpegurl", ".mp4": "video/mp4", ".m4s": "video/iso.segment"}
_IMMUTABLE = "max-age=31536000, immutable"


@dataclasses.dataclass(frozen=True, slots=True)
class Grant:
    """What a (live, token) may read, as decided at `until`."""

    lid: str
    status: str
    private: bool  # a members-only community: caches other than the caller's must not keep it
    recorded: bool
    community_id: str = ""
    user_id: str | None = None  # the token's user: their viewing counts as usage time (live.me.usage)


@dataclasses.dataclass(slots=True)
class Reply:
    """An answer as ASGI sends it: the headers are bytes, the content length not among them."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


_CORS = (b"access-control-allow-origin", b"*")
_JSON = (b"content-type", b"application/json")
_NO_STORE = (b"cache-control", b"no-store")
_TYPES = {k: (b"content-type", v.encode()) for k, v in _MIME.items()}
_FILE_CACHE = {scope: (b"cache-control", f"{scope}, {_IMMUTABLE}".encode()) for scope in ("public", "private")}
_LIVE_CACHE = {scope: (b"cache-control", f"{scope}, max-age=1".encode()) for scope in ("public", "private")}
_VOD_CACHE = {scope: (b"cache-control", f"{scope}, max-age=60".encode()) for scope in ("public", "private")}


def error_reply(exc: ApiError) -> Reply:
    body = json.dumps({"error": exc.to_dict()}).encode()
    return Reply(exc.status, [_JSON, _NO_STORE], body)


def _missing() -> ApiError:
    return ApiError(ErrorCode.NOT_FOUND, "no such HLS playlist or segment")


class PlaylistFile:
    """One live's playlist as this node last read it, and the requests waiting for it to grow."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.stamp: tuple[int, int] | None = None
        self.text = ""
        self.plain = b""  # the text as sent when no query is added to its URIs
        self.position = Position(0, 0, False)
        self.changed = asyncio.Event()
        self.waiters = 0
        self.due: dict[float, int] = {}  # waiters by when they are due (see `wait`)
        self.poller: asyncio.Task[None] | None = None
        self.variants: dict[str, bytes] = {}  # the text with a query on every URI, by query
        self.used = time.monotonic()

    def current(self) -> bool:
        """Re-read the file if it changed; whether it exists."""
        self.used = time.monotonic()
        try:
            st = os.stat(self.path)
        except OSError:
            return False
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp != self.stamp:
            try:
                text = self.path.read_text("ascii")
            except (OSError, UnicodeDecodeError):
                return self.stamp is not None
            self.stamp, self.text, self.plain = stamp, text, text.encode("ascii")
            self.position = read_position(text)
            self.variants.clear()
            self._wake()
        return True

    async def wait(self, msn: int, part: int | None, timeout: float) -> None:
        """Until the playlist holds segment `msn` (part `part`), or about `timeout` passes.

        Thousands of players wait on one playlist: no timer (nor `wait_for`'s task) each. The
        waiters are counted by when they are due, rounded up to `DUE_STEP`, and the live's poller
        wakes them all when the earliest is due (those not due wait again: a live that stalls
        costs a wake-up a `DUE_STEP`, one that runs none).
        """
        deadline = time.monotonic() + timeout
        due = math.ceil(deadline / DUE_STEP) * DUE_STEP
        while not self.position.has(msn, part) and time.monotonic() < deadline:
            self.waiters += 1
            self.due[due] = self.due.get(due, 0) + 1
            if self.poller is None or self.poller.done():
                self.poller = asyncio.create_task(self._poll())
            try:
                await self.changed.wait()
            finally:
                self.waiters -= 1
                if self.due[due] > 1:
                    self.due[due] -= 1
                else:
                    del self.due[due]

    async def _poll(self) -> None:
        while self.waiters > 0:
            await asyncio.sleep(POLL_SECONDS)
            self.current()  # a new text wakes every waiter
            if self.due and min(self.due) <= time.monotonic():
                self._wake()  # some are due: the rest wait again

    def _wake(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()

    def body(self, query: str) -> bytes:
        """The playlist, with `?query` on every URI it names (members' lives: the token)."""
        if not query:
            return self.plain
        found = self.variants.get(query)
        if found is None:
            found = _with_query(self.text, query).encode("ascii")
            if len(self.variants) > 1000:
                self.variants.clear()
            self.variants[query] = found
        return found


_URI = re.compile(r"(\.m4s|\.mp4)(\"|\n)")


def _with_query(text: str, query: str) -> str:
    return _URI.sub(lambda m: f"{m.group(1)}?{query}{m.group(2)}", text)


class FileCache:
    """Immutable files (segments, parts, init segments) kept in memory, least recently used out."""

    def __init__(self, budget: int = CACHE_BYTES) -> None:
        self.budget = budget
        self.size = 0
        self.files: collections.OrderedDict[tuple[str, str], bytes] = collections.OrderedDict()

    def get(self, root: Path, lid: str, name: str) -> bytes | None:
        """`root/lid/name`'s bytes (keyed by the two strings: no path built on a hit)."""
        key = (lid, name)
        data = self.files.get(key)
        if data is not None:
            self.files.move_to_end(key)
            return data
        try:
            data = (root / lid / name).read_bytes()  # from the page cache: cheaper than a hop to a thread
        except OSError:
            return None
        self.files[key] = data
        self.size += len(data)
        while self.size > self.budget and self.files:
            _, old = self.files.popitem(last=False)
            self.size -= len(old)
        return data


class HlsService:
    """Access, files, playlists and viewer counts of HLS on this node."""

    def __init__(self, services: Services, status: HlsStatus, lives: LiveService, usage: SessionMinutes) -> None:
        self.services = services
        self.settings = services.settings
        self.status = status
        self.lives = lives
        self.usage = usage
        self.root = status.root
        self.viewers = status.viewers
        self.grants: dict[tuple[str, str], tuple[float, Grant | ApiError]] = {}
        self.deciding = Coalescer()
        self.files = FileCache()
        self.playlists: dict[str, PlaylistFile] = {}
        self._tally: dict[tuple[str, int], int] = {}  # requests by (kind, status) not yet in REQUESTS
        self._bytes = 0  # body bytes not yet in BYTES
        self._ticker: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._ticker = asyncio.create_task(self._tick_forever(), name="hls-viewers")

    async def stop(self) -> None:
        self._count()
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._ticker
        for playlist in self.playlists.values():
            if playlist.poller is not None:
                playlist.poller.cancel()

    # -- serving ---------------------------------------------------------------------------------
    async def serve(self, lid: str, name: str, raw_query: str) -> Reply:
        kind = "playlist" if name.endswith(".m3u8") else "part" if name.startswith("p") else \
            "init" if name.startswith("init") else "segment"
        try:
            reply = await self._serve(lid, name, raw_query)
        except ApiError as exc:
            reply = error_reply(exc)
        key = (kind, reply.status)
        self._tally[key] = self._tally.get(key, 0) + 1  # into the metrics once a second (`_count`)
        self._bytes += len(reply.body)
        reply.headers.append(_CORS)
        return reply

    async def _serve(self, lid: str, name: str, raw_query: str) -> Reply:
        if not NAME.match(name):
            raise _missing()
        query = _query(raw_query)
        token = query.get("token") or None
        grant = await self._grant(lid, token)
        scope = "private" if grant.private or token else "public"
        if name == "index.m3u8":
            return await self._playlist(grant, query, token, scope)
        data = self.files.get(self.root, lid, name)
        if data is None:
            raise _missing()
        return Reply(200, [_TYPES[name[name.rfind("."):]], _FILE_CACHE[scope]], data)

    async def _playlist(self, grant: Grant, query: dict[str, str], token: str | None, scope: str) -> Reply:
        playlist = self.playlists.get(grant.lid)
        if playlist is None:
            playlist = self.playlists[grant.lid] = PlaylistFile(self.root / grant.lid / "index.m3u8")
        if not playlist.current():
            raise _missing()  # no media yet (or none ever)
        uri_query = urllib.parse.urlencode({"token": token}) if token else ""
        kind = _TYPES[".m3u8"]
        if grant.status != "live":
            body = playlist.body(uri_query)
            if not playlist.position.ended:
                # the media process died before finishing: the VOD from its segment log
                log_path = self.root / grant.lid / "segments.log"
                text = render_vod(log_path.read_text("ascii")) if log_path.exists() else ""
                if not text:
                    raise _missing()
                body = (_with_query(text, uri_query) if uri_query else text).encode("ascii")
            return Reply(200, [kind, _VOD_CACHE[scope]], body)
        viewer = query.get("v", "")
        if not VIEWER.match(viewer):
            # one redirect gives the player its viewer id; players reload the URL they landed on
            fresh = {k: v for k, v in query.items() if k not in ("v", "_HLS_msn", "_HLS_part", "_HLS_skip")}
            fresh["v"] = secrets.token_urlsafe(12)
            location = "index.m3u8?" + urllib.parse.urlencode(fresh)
            return Reply(302, [(b"location", location.encode("latin-1")), _NO_STORE], b"")
        self.viewers.seen(grant.lid, viewer, query.get("joined") == "1")
        if grant.user_id is not None:
            self.usage.note(grant.user_id, grant.community_id, "watching")  # a signed-in HLS viewer's minute
        msn, part = _directive(query, "_HLS_msn"), _directive(query, "_HLS_part")
        if part is not None and msn is None:
            raise ApiError(ErrorCode.INVALID_REQUEST, "_HLS_part needs _HLS_msn",
                           fields={"_HLS_part": "without _HLS_msn"})
        if msn is not None:
            if playlist.position.too_far(msn):
                raise ApiError(ErrorCode.INVALID_REQUEST, "that segment is too far ahead of the live",
                               fields={"_HLS_msn": "more than one segment past the newest"})
            await playlist.wait(msn, part, 3 * self.settings.hls_segment_seconds)
        return Reply(200, [kind, _LIVE_CACHE[scope]], playlist.body(uri_query))

    async def _grant(self, lid: str, token: str | None) -> Grant:
        key = (lid, token or "")
        now = time.monotonic()
        cached = self.grants.get(key)
        if cached is None or cached[0] < now:
            # The players of a live reload together (a new segment wakes every blocked reload at
            # once): one decision for all of them, not one database read each.
            found: Grant | ApiError = await self.deciding.run(key, lambda: self._decision(lid, token))
            if len(self.grants) >= ACCESS_ENTRIES:
                self.grants.clear()
            cached = self.grants[key] = (now + ACCESS_SECONDS, found)
        if isinstance(cached[1], ApiError):
            raise cached[1]
        return cached[1]

    async def _decision(self, lid: str, token: str | None) -> Grant | ApiError:
        try:
            return await self._decide(lid, token)
        except ApiError as exc:
            return exc

    async def _decide(self, lid: str, token: str | None) -> Grant:
        """The read right of the live itself (live.communities.access), and its recording."""
        user = None
        if token is not None:
            user = verify(self.settings.secret or "", token, leeway=self.settings.token_leeway_seconds)
        info = await self.lives.room_info(lid)
        if info is None:
            raise _missing()
        async with self.services.db.session() as session:
            try:
                if user is not None:
                    community, _ = await require_reader(session, info.community_id, user.id)
                else:
                    community = await load_community(session, info.community_id)
            except ApiError as exc:
                if exc.code is ErrorCode.NOT_FOUND:
                    raise _missing() from None  # one answer for everything unreadable
                raise
        if community.read_policy != "public" and user is None:
            raise _missing()
        recorded = self.status.recorded(lid)
        if info.status != "live" and not recorded:
            raise _missing()  # an ended live's HLS lasts as long as its recording
        return Grant(lid, info.status, community.read_policy != "public", recorded, info.community_id,
                     user.id if user is not None else None)

    # -- viewers ---------------------------------------------------------------------------------
    def _count(self) -> None:
        """Move the tallies into the metrics (a labelled counter's lock per request costs more)."""
        tally, self._tally = self._tally, {}
        for (kind, status), n in tally.items():
            REQUESTS.labels(kind, str(status)).inc(n)
        if self._bytes:
            BYTES.inc(self._bytes)
            self._bytes = 0

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self._count()
            try:
                idle = time.monotonic() - 60
                for lid in [lid for lid, p in self.playlists.items() if p.used < idle and p.waiters == 0]:
                    del self.playlists[lid]  # a live nobody asked about for a minute
                counts = await self.viewers.sync()
                for lid in counts:
                    await self.lives.record_viewers(lid, self.lives.viewer_count(lid))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("HLS viewer sync failed", exc_info=True)


def _query(raw: str) -> dict[str, str]:
    """The query's parameters (the last of a repeated name), unquoting only what is quoted."""
    if not raw:
        return {}
    if "%" in raw or "+" in raw:
        return dict(urllib.parse.parse_qsl(raw, keep_blank_values=True))
    return dict(pair.partition("=")[::2] for pair in raw.split("&") if pair)


def _directive(query: dict[str, str], name: str) -> int | None:
    raw = query.get(name)
    if raw is None:
        return None
    if not raw.isdigit() or int(raw) > MAX_SEQUENCE:
        raise ApiError(ErrorCode.INVALID_REQUEST, f"{name} must be a non-negative integer", fields={name: raw[:32]})
    return int(raw)


