"""`live admin grant|revoke|list`: platform operators stored in the database."""

from __future__ import annotations

from pathlib import Path

from tests.test_cli import run


def test_grant_list_revoke(tmp_path: Path) -> None:
    res = run("admin", "grant", "alice", cwd=tmp_path)
    assert res.returncode == 2 and "run `live db upgrade` first" in res.stderr
    assert run("db", "upgrade", cwd=tmp_path).returncode == 0
    assert run("admin", "grant", "alice", cwd=tmp_path).stdout.strip() == "alice is a platform operator"
    assert "(already)" in run("admin", "grant", "alice", cwd=tmp_path).stdout
    listed = run("admin", "list", cwd=tmp_path, env={"LIVE_OPERATORS": "bob"}).stdout.splitlines()
    assert listed[0].startswith("alice\tdatabase (since ") and listed[1] == "bob\tsetting"
    assert run("admin", "revoke", "alice", cwd=tmp_path).stdout.strip() == "alice is no longer a platform operator"
    assert run("admin", "revoke", "alice", cwd=tmp_path).stdout.strip() == "alice was not a platform operator"
    res = run("admin", "revoke", "bob", cwd=tmp_path, env={"LIVE_OPERATORS": "bob"})
    assert res.returncode == 1 and "LIVE_OPERATORS" in res.stderr
    assert run("admin", "grant", "x" * 65, cwd=tmp_path).returncode == 2
    assert "grant" in run("admin", "--help", cwd=tmp_path).stdout
