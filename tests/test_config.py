"""Settings: defaults, parsing, one clear line per bad value, and the README documents them all."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from live.config import SETTINGS, Settings
from live.errors import SettingsError

GOOD = {"LIVE_SECRET": "s" * 32}


def test_defaults() -> None:
    s = Settings.load(GOOD)
    assert (s.host, s.port, s.workers) == ("127.0.0.1", 8080, 1)
    assert s.database_url == "sqlite+aiosqlite:///var/live.db"
    assert s.redis_url is None
    assert (s.community_limit, s.invite_quota, s.stage_max_guests) == (3, 5, 4)
    assert s.send_queue_bytes == 1 << 20


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"LIVE_PORT": "eighty"}, "LIVE_PORT: expected an integer"),
        ({"LIVE_PORT": "70000"}, "LIVE_PORT: expected an integer from 1 to 65535"),
        ({"LIVE_DATABASE_URL": "mysql://x"}, "LIVE_DATABASE_URL: expected sqlite+aiosqlite"),
        ({"LIVE_REDIS_URL": "http://x"}, "LIVE_REDIS_URL: expected redis://"),
        ({"LIVE_LOG_LEVEL": "loud"}, "LIVE_LOG_LEVEL"),
        ({"LIVE_ICE_SERVERS": "http://x"}, "LIVE_ICE_SERVERS: expected stun:/turn: URLs"),
        ({"LIVE_ICE_SERVERS": "[{]"}, "LIVE_ICE_SERVERS: not valid JSON"),
        ({"LIVE_SECRET": "short"}, "LIVE_SECRET: must be at least 32 characters"),
        ({"LIVE_METRICS_TOKEN": "short"}, "LIVE_METRICS_TOKEN: expected at least 16 characters"),
        ({"LIVE_FORWARDED_ALLOW_IPS": "10.0.0.1,proxy.local"}, "LIVE_FORWARDED_ALLOW_IPS: expected IP addresses"),
        ({"LIVE_MAX_HEADER_BYTES": "10"}, "LIVE_MAX_HEADER_BYTES: expected an integer from 1024"),
        ({"LIVE_HEADER_TIMEOUT_SECONDS": "0"}, "LIVE_HEADER_TIMEOUT_SECONDS: expected a number from 0.1"),
        ({"LIVE_SECRET": ""}, "LIVE_SECRET: required outside --dev"),
    ],
)
def test_bad_values_name_the_setting(env: dict[str, str], needle: str) -> None:
    with pytest.raises(SettingsError) as err:
        Settings.load({**GOOD, **env})
    assert needle in str(err.value)
    assert "\n" not in str(err.value)


def test_dev_creates_and_reuses_a_secret(tmp_path: Path) -> None:
    first = Settings.load({"LIVE_VAR_DIR": str(tmp_path)}, dev=True)
    again = Settings.load({"LIVE_VAR_DIR": str(tmp_path)}, dev=True)
    assert first.secret and first.secret == again.secret
    assert (tmp_path / "dev-secret").stat().st_mode & 0o777 == 0o600


def test_ice_servers_forms() -> None:
    s = Settings.load({**GOOD, "LIVE_ICE_SERVERS": "stun:a:3478, turn:b:3478"})
    assert s.ice_servers == [{"urls": "stun:a:3478"}, {"urls": "turn:b:3478"}]
    s = Settings.load({**GOOD, "LIVE_ICE_SERVERS": '[{"urls": "turn:b", "username": "u", "credential": "c"}]'})
    assert s.ice_servers[0]["username"] == "u"


def test_overrides_win() -> None:
    assert Settings.load({**GOOD, "LIVE_PORT": "1"}, port=9000).port == 9000


def test_readme_documents_every_setting() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    documented = set(re.findall(r"^\| `(LIVE_[A-Z_]+)` \|", readme, re.M))
    assert documented == {s.env for s in SETTINGS}


def test_transport_limits_parse() -> None:
    s = Settings.load({**GOOD, "LIVE_FORWARDED_ALLOW_IPS": "10.0.0.0/8, ::1, *", "LIVE_METRICS_TOKEN": "t" * 16,
                       "LIVE_MAX_CONNECTIONS_PER_ADDRESS": "0"})
    assert s.forwarded_allow_ips == "10.0.0.0/8, ::1, *"
    assert s.metrics_token == "t" * 16 and s.max_connections_per_address == 0
    d = Settings.load(GOOD)
    assert d.metrics_token is None and d.max_json_depth == 32 and d.keepalive_timeout_seconds == 5
