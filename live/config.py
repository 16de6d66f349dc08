"""Settings: one declarative table, read from the environment (and a few CLI flags).

Every setting is a `Setting` row in `SETTINGS`; the README's configuration table is checked
against it by the test suite, so adding a row here means documenting it there.
A malformed value stops start-up with one line that names the variable.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from live.errors import SettingsError

log = logging.getLogger("live.config")


def _int(lo: int, hi: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"expected an integer, got {raw!r}") from None
        if not lo <= value <= hi:
            raise ValueError(f"expected an integer from {lo} to {hi}, got {value}")
        return value

    return parse


def _float(lo: float, hi: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"expected a number, got {raw!r}") from None
        if not lo <= value <= hi:
            raise ValueError(f"expected a number from {lo} to {hi}, got {value}")
        return value

    return parse


def _bool(raw: str) -> bool:
    low = raw.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected 1/0, true/false, yes/no or on/off, got {raw!r}")


def _str(raw: str) -> str:
    return raw


def _opt_str(raw: str) -> str | None:
    return raw or None


def _database_url(raw: str) -> str:
    if not (raw.startswith("sqlite+aiosqlite://") or raw.startswith("postgresql+asyncpg://")):
        raise ValueError(
            f"expected sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER@HOST/DB, got {raw!r}"
        )
    return raw


def _sqlite_synchronous(raw: str) -> str:
    level = raw.upper()
    if level not in ("FULL", "NORMAL"):
        raise ValueError(f"expected FULL or NORMAL, got {raw!r}")
    return level


def _redis_url(raw: str) -> str | None:
    if not raw:
        return None
    if not raw.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError(f"expected redis://HOST:PORT[/DB], rediss:// or unix://, got {raw!r}")
    return raw


def _ice_servers(raw: str) -> list[dict[str, Any]]:
    """JSON list of RTCIceServer dicts, or a comma-separated list of stun:/turn: URLs."""
    raw = raw.strip()
    if not raw:
        return []
    if raw.startswith("["):
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON: {exc.msg}") from None
        if not isinstance(value, list) or not all(
            isinstance(s, dict) and isinstance(s.get("urls"), (str, list)) for s in value
        ):
            raise ValueError('expected a JSON list of {"urls": ..., "username"?, "credential"?}')
        return value
    urls = [u.strip() for u in raw.split(",") if u.strip()]
    for url in urls:
        if not url.startswith(("stun:", "stuns:", "turn:", "turns:")):
            raise ValueError(f"expected stun:/turn: URLs, got {url!r}")
    return [{"urls": url} for url in urls]


def _metrics_token(raw: str) -> str | None:
    if not raw:
        return None
    if len(raw) < 16 or any(c.isspace() for c in raw):
        raise ValueError("expected at least 16 characters without spaces")
    return raw


def _addresses(raw: str) -> str:
    """A comma-separated list of IP addresses and networks (CIDR), or `*` for any."""
    import ipaddress

    for item in (part.strip() for part in raw.split(",")):
        if not item or item == "*":
            continue
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ValueError(f"expected IP addresses or networks (CIDR) or *, got {item!r}") from None
    return raw


def _user_ids(raw: str) -> frozenset[str]:
    """Comma-separated user ids (the `sub` of their tokens), each 1-64 characters."""
    ids = [part.strip() for part in raw.split(",") if part.strip()]
    for user_id in ids:
        if len(user_id) > 64:
            raise ValueError(f"a user id has at most 64 characters, got {user_id[:20]!r}...")
    return frozenset(ids)


def _log_level(raw: str) -> str:
    level = raw.upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ValueError(f"expected DEBUG, INFO, WARNING or ERROR, got {raw!r}")
    return level


def _host_ports(raw: str) -> frozenset[str]:
    """Comma-separated `host:port` pairs (LIVE_PUSH_INSECURE_HOSTS)."""
    out: set[str] = set()
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        host, sep, port = item.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"expected host:port pairs separated by commas, got {item!r}")
        out.add(item.lower())
    return frozenset(out)


def _webhook_urls(raw: str) -> tuple[str, ...]:
    """Comma-separated http(s) URLs (LIVE_WEBHOOK_URLS)."""
    from urllib.parse import urlsplit

    urls: list[str] = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        parts = urlsplit(item)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"expected http:// or https:// URLs separated by commas, got {item!r}")
        urls.append(item)
    return tuple(urls)


def _vapid_key(raw: str) -> str | None:
    """A VAPID private key: base64url of the raw 32-byte P-256 scalar, or a PEM block."""
    raw = raw.strip()
    if not raw:
        return None
    from live.notifications.vapid import load_private_key

    load_private_key(raw)  # raises ValueError naming what is wrong
    return raw


def _vapid_subject(raw: str) -> str:
    if not raw.startswith(("mailto:", "https://")):
        raise ValueError(f"expected a mailto: or https:// contact for push services, got {raw!r}")
    return raw


@dataclasses.dataclass(frozen=True)
class Setting:
    """One row of the configuration table."""

    env: str
    field: str
    parse: Callable[[str], Any]
    default: str
    doc: str


SETTINGS: tuple[Setting, ...] = (
    Setting("LIVE_HOST", "host", _str, "127.0.0.1", "Address `live serve` listens on."),
    Setting("LIVE_PORT", "port", _int(1, 65535), "8080", "Port `live serve` listens on."),
    Setting("LIVE_WORKERS", "workers", _int(1, 64), "1",
            "Server processes (uvicorn workers); each is a full app node."),
    Setting("LIVE_DATABASE_URL", "database_url", _database_url,
            "sqlite+aiosqlite:///var/live.db",
            "SQLAlchemy URL: `sqlite+aiosqlite:///PATH` or `postgresql+asyncpg://USER@HOST/DB`."),
    Setting("LIVE_SQLITE_SYNCHRONOUS", "sqlite_synchronous", _sqlite_synchronous, "FULL",
            "SQLite only: FULL, an acknowledged write survives a power loss (an fsync per commit); "
            "NORMAL, it survives a crash of the process but the last commits may be lost with the "
            "power ([docs/recovery.md](docs/recovery.md))."),
    Setting("LIVE_REDIS_URL", "redis_url", _redis_url, "",
            "Unset: in-process bus (one node). Set: Redis pub/sub and streams across nodes."),
    Setting("LIVE_REDIS_CLUSTER", "redis_cluster", _bool, "0",
            "1: `LIVE_REDIS_URL` names a Redis Cluster node; rooms use sharded pub/sub "
            "(SPUBLISH/SSUBSCRIBE)."),
    Setting("LIVE_REDIS_PREFIX", "redis_prefix", _str, "live:",
            "Prefix of every Redis key and channel, so deployments can share a Redis."),
    Setting("LIVE_SECRET", "secret", _opt_str, "",
            "HS256 key for tokens (at least 32 characters). Required outside `--dev`."),
    Setting("LIVE_VAR_DIR", "var_dir", _str, "var",
            "Directory for the dev secret, recordings, thumbnails, HLS segments and uploaded images."),
    Setting("LIVE_LOG_LEVEL", "log_level", _log_level, "INFO", "DEBUG, INFO, WARNING or ERROR."),
    Setting("LIVE_MAX_BODY_BYTES", "max_body_bytes", _int(1024, 1 << 30), "1048576",
            "Largest HTTP request body; larger gets 413 `payload_too_large`."),
    Setting("LIVE_MAX_URL_BYTES", "max_url_bytes", _int(256, 1 << 20), "8192",
            "Longest request target (path and query); longer gets 414 `invalid_request`."),
    Setting("LIVE_MAX_HEADER_BYTES", "max_header_bytes", _int(1024, 1 << 20), "16384",
            "Largest request head (request line and headers); larger gets 431 `invalid_request`."),
    Setting("LIVE_MAX_HEADERS", "max_headers", _int(8, 1000), "100",
            "Most header lines in one request; more gets 431 `invalid_request`."),
    Setting("LIVE_KEEPALIVE_TIMEOUT_SECONDS", "keepalive_timeout_seconds", _float(0.1, 3600), "5",
            "A connection that sends no request for this long (a new one, or one kept alive after a "
            "response) is closed."),
    Setting("LIVE_HEADER_TIMEOUT_SECONDS", "header_timeout_seconds", _float(0.1, 3600), "10",
            "A request head must arrive whole within this long of its first byte; else 408 `invalid_request`."),
    Setting("LIVE_BODY_TIMEOUT_SECONDS", "body_timeout_seconds", _float(0.1, 3600), "60",
            "A request body must arrive whole within this long of its head; else 408 `invalid_request`."),
    Setting("LIVE_WRITE_TIMEOUT_SECONDS", "write_timeout_seconds", _float(0.1, 3600), "60",
            "A response the client stops reading for this long (the socket's buffer full) is abandoned "
            "and the connection closed."),
    Setting("LIVE_MAX_CONNECTIONS_PER_ADDRESS", "max_connections_per_address", _int(0, 1_000_000), "256",
            "Open connections (HTTP and WebSocket) one client address may hold per server process; past it "
            "429 `rate_limited`. Trusted proxies (`LIVE_FORWARDED_ALLOW_IPS`) are exempt; 0: no cap."),
    Setting("LIVE_FORWARDED_ALLOW_IPS", "forwarded_allow_ips", _addresses, "127.0.0.1,::1",
            "Proxies (addresses, CIDR networks, or `*`) whose X-Forwarded-For and X-Forwarded-Proto are "
            "believed; they are exempt from the per-address cap (they enforce their own)."),
    Setting("LIVE_MAX_JSON_DEPTH", "max_json_depth", _int(2, 256), "32",
            "Deepest nesting of arrays and objects in a JSON request body; deeper gets 422 `invalid_request`."),
    Setting("LIVE_WS_CONTROL_RATE", "ws_control_rate", _float(0.1, 1_000_000), "10",
            "WebSocket control frames (ping, pong) and unfinished fragments a client may keep sending "
            "per second; past the burst the connection is closed with 4029."),
    Setting("LIVE_WS_CONTROL_BURST", "ws_control_burst", _int(1, 1_000_000), "50",
            "WebSocket control frames and fragments a client may send at once before the rate applies."),
    Setting("LIVE_METRICS_TOKEN", "metrics_token", _metrics_token, "",
            "Bearer token `GET /metrics` requires (at least 16 characters). Unset: /metrics answers 401."),
    Setting("LIVE_TOKEN_LEEWAY_SECONDS", "token_leeway_seconds", _int(0, 300), "30",
            "Clock skew allowed when checking a token's `exp`/`iat`."),
    Setting("LIVE_COMMUNITY_LIMIT", "community_limit", _int(1, 1000), "3",
            "Communities one user may own."),
    Setting("LIVE_INVITE_QUOTA", "invite_quota", _int(0, 1000), "5",
            "Invitations granted to a member when they join (staff have no quota)."),
    Setting("LIVE_INVITE_TTL_SECONDS", "invite_ttl_seconds", _int(60, 365 * 86400), "604800",
            "How long an invite code stays valid."),
    Setting("LIVE_INSIGHTS_MIN_MEMBERS", "insights_min_members", _int(0, 1_000_000), "50",
            "Insights need more members than this."),
    Setting("LIVE_GRACE_SECONDS", "live_grace_seconds", _float(0, 3600), "60",
            "A live whose host is not in its room (never came, or lost every connection) ends after this long."),
    Setting("LIVE_STAGE_MAX_GUESTS", "stage_max_guests", _int(0, 16), "4",
            "Guests on a live's stage besides the host."),
    Setting("LIVE_CHAT_RATE", "chat_rate", _float(0.01, 1000), "2",
            "Chat messages per second one user may keep sending (token bucket refill)."),
    Setting("LIVE_CHAT_BURST", "chat_burst", _int(1, 10000), "10",
            "Chat messages one user may send at once before `rate_limited`."),
    Setting("LIVE_SEND_QUEUE_BYTES", "send_queue_bytes", _int(16 * 1024, 1 << 30), "1048576",
            "Outgoing backlog per WebSocket; past it the connection is closed with 4008."),
    Setting("LIVE_HEARTBEAT_SECONDS", "heartbeat_seconds", _float(1, 600), "25",
            "Server heartbeat interval on WebSockets; a peer silent for 2.5x this is dropped."),
    Setting("LIVE_WRITE_INTERVAL_MS", "write_interval_ms", _float(0, 1000), "20",
            "Writes to a WebSocket while messages keep coming are paced to one per this time on average (after "
            "a burst of four at once); what arrives meanwhile goes out batched in one frame. 0: no wait."),
    Setting("LIVE_MAX_FRAME_BYTES", "max_frame_bytes", _int(1024, 16 << 20), "65536",
            "Largest WebSocket frame a client may send; larger closes with 4009."),
    Setting("LIVE_MAX_SOCKETS_PER_USER", "max_sockets_per_user", _int(1, 10_000), "10",
            "WebSockets one user may hold open (across nodes with Redis); a newer one closes the oldest "
            "with 4029."),
    Setting("LIVE_MAX_ROOMS_PER_CONNECTION", "max_rooms_per_connection", _int(1, 10_000), "50",
            "Rooms one WebSocket may be in at once; one more is refused with `conflict`."),
    Setting("LIVE_JOIN_RATE", "join_rate", _float(0.01, 1000), "2",
            "`room.join` and `room.leave` per second one WebSocket may keep sending (token bucket refill); "
            "past it `rate_limited` with `retry_after`."),
    Setting("LIVE_JOIN_BURST", "join_burst", _int(1, 10_000), "20",
            "`room.join` and `room.leave` one WebSocket may send at once before `rate_limited`."),
    Setting("LIVE_JOIN_HISTORY_BYTES", "join_history_bytes", _int(0, 16 << 20), "65536",
            "Most chat history bytes one `room.join` reply carries (newest kept; at most half of "
            "`LIVE_SEND_QUEUE_BYTES`); a `since` that needs more answers `recovered: false`."),
    Setting("LIVE_MAX_REQUESTS_IN_FLIGHT", "max_requests_in_flight", _int(1, 1000), "8",
            "Requests of one WebSocket being performed at once (media negotiations run side by side); "
            "one more is refused with `rate_limited`."),
    Setting("LIVE_ICE_SERVERS", "ice_servers", _ice_servers, "",
            "STUN/TURN servers: comma-separated URLs or a JSON list of RTCIceServer objects."),
    Setting("LIVE_MEDIA_TIMEOUT_SECONDS", "media_timeout_seconds", _float(0.5, 600), "10",
            "A publisher whose media stops for this long is unpublished (media.unpublished)."),
    Setting("LIVE_MEDIA_MIN_BITRATE", "media_min_bitrate", _int(0, 100_000_000), "1000000",
            "Lowest bitrate (bits/s) the relay's bandwidth estimate (REMB) asks of a publisher; 0: no floor."),
    Setting("LIVE_RECORDING", "recording", _bool, "1",
            "Record every live's host audio and video (remuxed, no re-encoding) under the var dir."),
    Setting("LIVE_THUMBNAIL_SECONDS", "thumbnail_seconds", _float(0, 3600), "5",
            "How often a live's thumbnail is refreshed from a keyframe; 0 turns thumbnails off."),
    Setting("LIVE_MEDIA_WORKERS", "media_workers", _bool, "0",
            "Relay media in `live media-worker` processes on any machine, reached through Redis (needs "
            "LIVE_REDIS_URL), instead of in media processes that each app node starts."),
    Setting("LIVE_MEDIA_PROCESSES", "media_processes", _int(0, 256), "0",
            "Media processes `live serve` starts and supervises (without LIVE_MEDIA_WORKERS); 0: the machine's "
            "cores minus one, at least 1."),
    Setting("LIVE_MEDIA_VIEWERS_PER_WORKER", "media_viewers_per_worker", _int(1, 100_000), "200",
            "WebRTC viewers of one live that one media process takes before the live's next viewers go to "
            "another process (an edge of the live's relay tree)."),
    Setting("LIVE_MEDIA_PIPE_HOST", "media_pipe_host", _str, "127.0.0.1",
            "Address media processes listen on for pipes from other media processes (the relay tree); "
            "with workers on several machines, one the others can reach."),
    Setting("LIVE_MEDIA_PIPE_BUFFER_BYTES", "media_pipe_buffer_bytes", _int(16 * 1024, 1 << 30), "2097152",
            "Bytes an origin buffers towards one edge before it drops that edge's frames (its viewers then "
            "wait for the next keyframe); a stalled edge never slows the origin."),
    Setting("LIVE_MEDIA_PIPE_ADVERTISE", "media_pipe_advertise", _opt_str, "",
            "Address other media processes use to reach this one's pipe (default: LIVE_MEDIA_PIPE_HOST), "
            "e.g. the machine's address when listening on 0.0.0.0."),
    Setting("LIVE_HLS", "hls", _bool, "1",
            "Write every live's host media as HLS (fMP4) under the var dir, served at "
            "`/v1/live/{lid}/hls/index.m3u8`."),
    Setting("LIVE_HLS_SEGMENT_SECONDS", "hls_segment_seconds", _float(1, 10), "2",
            "Target HLS segment length; H.264 hosts are asked for a keyframe this often."),
    Setting("LIVE_HLS_PART_SECONDS", "hls_part_seconds", _float(0, 2), "0.5",
            "Target LL-HLS part length (low-latency players fetch these); 0: segments only."),
    Setting("LIVE_OPERATORS", "operators", _user_ids, "",
            "Platform operators: comma-separated user ids (besides those granted with `live admin grant`). "
            "They handle account reports and suspend accounts."),
    Setting("LIVE_UPLOAD_MAX_BYTES", "upload_max_bytes", _int(1024, 100 << 20), "10485760",
            "Largest image upload (`POST /v1/uploads`); larger gets 413 `payload_too_large`."),
    Setting("LIVE_VAPID_PRIVATE_KEY", "vapid_private_key", _vapid_key, "",
            "Web Push (VAPID) signing key: base64url of the raw P-256 private key, or PEM. Unset: one is "
            "generated once and kept under the var dir (`vapid-private.pem`)."),
    Setting("LIVE_VAPID_SUBJECT", "vapid_subject", _vapid_subject, "mailto:push@localhost",
            "Contact push services may use about this server's pushes (a `mailto:` or `https://` URL)."),
    Setting("LIVE_PUSH_INSECURE_HOSTS", "push_insecure_hosts", _host_ports, "",
            "Push endpoints (`host:port`, comma-separated) allowed without https and on private "
            "addresses (tests, a private push service); every other endpoint must be https on a public address."),
    Setting("LIVE_WEBHOOK_URLS", "webhook_urls", _webhook_urls, "",
            "Comma-separated URLs that receive every webhook event (signed POSTs, retried for 24 h)."),
    Setting("LIVE_WEBHOOK_SECRET", "webhook_secret", _opt_str, "",
            "HMAC-SHA256 key of the `Live-Signature` header of webhooks (required with LIVE_WEBHOOK_URLS)."),
    Setting("LIVE_DELIVERY_TIMEOUT_SECONDS", "delivery_timeout_seconds", _float(0.5, 120), "10",
            "How long one Web Push or webhook request may take before it counts as failed and is retried."),
    Setting("LIVE_REMINDER_MINUTES", "reminder_minutes", _int(1, 1440), "10",
            "A scheduled live's `live.reminder` goes out this many minutes before `starts_at`."),
    Setting("LIVE_USAGE_FLUSH_SECONDS", "usage_flush_seconds", _float(1, 3600), "60",
            "How often a node writes the usage minutes it saw (watching, hosting) to the database."),
)

_BY_FIELD = {s.field: s for s in SETTINGS}


@dataclasses.dataclass(frozen=True)
class Settings:
    """The resolved configuration of one process."""

    host: str
    port: int
    workers: int
    database_url: str
    redis_url: str | None
    redis_prefix: str
    redis_cluster: bool
    secret: str | None
    var_dir: str
    log_level: str
    max_body_bytes: int
    token_leeway_seconds: int
    community_limit: int
    invite_quota: int
    invite_ttl_seconds: int
    insights_min_members: int
    live_grace_seconds: float
    stage_max_guests: int
    chat_rate: float
    chat_burst: int
    send_queue_bytes: int
    heartbeat_seconds: float
    max_frame_bytes: int
    ice_servers: list[dict[str, Any]]
    write_interval_ms: float = 20.0
    sqlite_synchronous: str = "FULL"
    media_timeout_seconds: float = 10.0
    media_min_bitrate: int = 1_000_000
    recording: bool = True
    thumbnail_seconds: float = 5.0
    media_workers: bool = False
    media_processes: int = 0
    media_viewers_per_worker: int = 200
    media_pipe_host: str = "127.0.0.1"
    media_pipe_advertise: str | None = None
    media_pipe_buffer_bytes: int = 2 << 20
    hls: bool = True
    hls_segment_seconds: float = 2.0
    hls_part_seconds: float = 0.5
    max_sockets_per_user: int = 10
    max_rooms_per_connection: int = 50
    join_rate: float = 2.0
    join_burst: int = 20
    join_history_bytes: int = 65536
    max_requests_in_flight: int = 8
    max_url_bytes: int = 8192
    max_header_bytes: int = 16384
    max_headers: int = 100
    keepalive_timeout_seconds: float = 5.0
    header_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 60.0
    write_timeout_seconds: float = 60.0
    max_connections_per_address: int = 256
    forwarded_allow_ips: str = "127.0.0.1,::1"
    max_json_depth: int = 32
    ws_control_rate: float = 10.0
    ws_control_burst: int = 50
    metrics_token: str | None = None
    operators: frozenset[str] = frozenset()
    upload_max_bytes: int = 10 << 20
    vapid_private_key: str | None = None
    vapid_subject: str = "mailto:push@localhost"
    push_insecure_hosts: frozenset[str] = frozenset()
    webhook_urls: tuple[str, ...] = ()
    webhook_secret: str | None = None
    delivery_timeout_seconds: float = 10.0
    reminder_minutes: int = 10
    usage_flush_seconds: float = 60.0
    dev: bool = False

    @classmethod
    def load(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        dev: bool = False,
        **overrides: Any,
    ) -> Settings:
        """Read every setting from `env` (default: os.environ); `overrides` win (CLI flags).

        Raises SettingsError with one line naming the bad variable.
        """
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for setting in SETTINGS:
            if setting.field in overrides and overrides[setting.field] is not None:
                values[setting.field] = overrides[setting.field]
                continue
            raw = env.get(setting.env, setting.default)
            try:
                values[setting.field] = setting.parse(raw)
            except ValueError as exc:
                raise SettingsError(f"{setting.env}: {exc}") from None
        unknown = set(overrides) - set(_BY_FIELD)
        if unknown:
            raise SettingsError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        settings = cls(**values, dev=dev)
        if settings.webhook_urls and not settings.webhook_secret:
            raise SettingsError("LIVE_WEBHOOK_SECRET: required when LIVE_WEBHOOK_URLS is set")
        return settings.with_secret()

    def with_secret(self) -> Settings:
        """Check the secret; in dev mode make (or reuse) one under the var dir."""
        if self.secret:
            if len(self.secret) < 32:
                raise SettingsError("LIVE_SECRET: must be at least 32 characters")
            return self
        if not self.dev:
            raise SettingsError("LIVE_SECRET: required outside --dev (at least 32 characters)")
        return dataclasses.replace(self, secret=dev_secret(self.var_dir))

    @property
    def var_path(self) -> Path:
        return Path(self.var_dir)

    def to_env(self) -> dict[str, str]:
        """These settings as LIVE_* variables: how a child process (a media process) gets the same."""
        out: dict[str, str] = {}
        for setting in SETTINGS:
            value = getattr(self, setting.field)
            if value is None:
                out[setting.env] = ""
            elif isinstance(value, bool):
                out[setting.env] = "1" if value else "0"
            elif isinstance(value, list):
                out[setting.env] = json.dumps(value) if value else ""
            elif isinstance(value, (tuple, frozenset)):
                out[setting.env] = ",".join(sorted(value) if isinstance(value, frozenset) else value)
            else:
                out[setting.env] = str(value)
        return out

    @property
    def media_process_count(self) -> int:
        """How many media processes an app node starts (LIVE_MEDIA_PROCESSES, 0: cores - 1, at least 1)."""
        return self.media_processes or max(1, (os.cpu_count() or 2) - 1)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def dev_secret(var_dir: str) -> str:
    """The development secret under `var_dir`, created on first use (mode 0600)."""
    path = Path(var_dir) / "dev-secret"
    if path.exists():
        secret = path.read_text().strip()
        if len(secret) >= 32:
            return secret
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secret + "\n")
    log.warning(
        "development mode: created a signing secret at %s; set LIVE_SECRET in production", path
    )
    return secret
