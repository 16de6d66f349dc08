"""The `live` command as a newcomer runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jwt


def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("LIVE_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "live", *args], cwd=cwd, env=full_env, capture_output=True,
        text=True, timeout=60,
    )


def test_help_lists_every_command(tmp_path: Path) -> None:
    out = run("--help", cwd=tmp_path).stdout
    for command in ("serve", "token", "db"):
        assert command in out
    assert "--dev" in run("serve", "--help", cwd=tmp_path).stdout


def test_token_with_secret(tmp_path: Path) -> None:
    secret = "k" * 40
    res = run("token", "alice", "--name", "Alice", "--ttl", "60", cwd=tmp_path, env={"LIVE_SECRET": secret})
    assert res.returncode == 0, res.stderr
    claims = jwt.decode(res.stdout.strip(), secret, algorithms=["HS256"])
    assert claims["sub"] == "alice" and claims["name"] == "Alice"
    assert claims["exp"] - claims["iat"] == 60


def test_token_without_secret_uses_the_dev_secret(tmp_path: Path) -> None:
    res = run("token", "bob", cwd=tmp_path)
    assert res.returncode == 0
    secret = (tmp_path / "var" / "dev-secret").read_text().strip()
    assert jwt.decode(res.stdout.strip(), secret, algorithms=["HS256"])["sub"] == "bob"
    assert "dev secret" in res.stderr


def test_bad_setting_is_one_clear_line(tmp_path: Path) -> None:
    res = run("serve", cwd=tmp_path, env={"LIVE_PORT": "nope", "LIVE_SECRET": "k" * 40})
    assert res.returncode == 2
    assert res.stderr.strip() == "live: LIVE_PORT: expected an integer, got 'nope'"
    res = run("serve", cwd=tmp_path)
    assert res.returncode == 2 and "LIVE_SECRET: required outside --dev" in res.stderr


def test_serve_refuses_an_old_schema_outside_dev(tmp_path: Path) -> None:
    res = run("serve", cwd=tmp_path, env={"LIVE_SECRET": "k" * 40})
    assert res.returncode == 2 and "run `live db upgrade` first" in res.stderr


def test_db_upgrade_then_current(tmp_path: Path) -> None:
    res = run("db", "upgrade", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "is at schema" in res.stdout
    current = run("db", "current", cwd=tmp_path).stdout.strip()
    assert current and current != "none"
    assert (tmp_path / "var" / "live.db").exists()


def test_serve_dev_answers_healthz(tmp_path: Path) -> None:
    """What `make serve` runs: a fresh directory, no Redis, no PostgreSQL, no secret."""
    import time
    import urllib.request

    from tests.support.redis_server import free_port

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVE_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "live", "serve", "--dev", "--port", str(port)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as resp:
                    assert resp.status == 200
                    break
            except OSError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                assert time.monotonic() < deadline, "no answer within 60 s"
                time.sleep(0.2)
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert f"serving on http://127.0.0.1:{port}" in out
    assert (tmp_path / "var" / "dev-secret").exists()
