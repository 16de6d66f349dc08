"""Schemathesis against a real `live serve` process's own /openapi.json: every operation, generated
requests (valid and invalid) with a valid token, against real objects.

Before the run the test makes, through the API, a community the fuzzing user owns (with a group, a
live, a post and its comment, an invitation, another member) and gives their ids to Schemathesis as
path parameters, so most requests reach real objects instead of 404s. The checks: no 5xx
(`not_a_server_error`), every status code and body as the document says (`status_code_conformance`,
`response_schema_conformance`, `content_type_conformance`). The server's own access log must show
no 5xx either. Request counts are printed (docs/security.md quotes them).

`LIVE_FUZZ_SECONDS` (default 35) is the time budget of the fuzzing; `LIVE_FUZZ_EXAMPLES` (default 15)
the examples per operation and phase.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from pathlib import Path

import pytest

from live.storage import migrate
from tests.support.live_node import LiveNode, env_for

pytestmark = pytest.mark.timeout(170)

SECONDS = int(os.environ.get("LIVE_FUZZ_SECONDS", "35"))
EXAMPLES = int(os.environ.get("LIVE_FUZZ_EXAMPLES", "15"))
CHECKS = "not_a_server_error,status_code_conformance,response_schema_conformance,content_type_conformance"


async def test_schemathesis_finds_no_server_error(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'live.db'}"
    await migrate.upgrade(url)
    # Rates raised: the fuzzer is one user sending thousands of requests; 429 is not what is tested.
    node = LiveNode(env_for(url, tmp_path, LIVE_MAX_CONNECTIONS_PER_ADDRESS="0"), tmp_path, "fuzz")
    await node.start()
    try:
        me, other = f"fuzzer-{tmp_path.name[-6:]}", f"other-{tmp_path.name[-6:]}"
        async with node.client(me, "fuzzer") as http, node.client(other, "other") as http2:
            async def ok(resp_: object) -> dict[str, object]:
                resp = await resp_  # type: ignore[misc]
                assert resp.status_code in (200, 201), resp.text
                return resp.json()  # type: ignore[no-any-return]

            c = await ok(http.post("/v1/communities", json={"name": "fuzz", "join_policy": "open"}))
            cid = c["id"]
            await ok(http2.post(f"/v1/communities/{cid}/join"))
            g = await ok(http.post(f"/v1/communities/{cid}/groups", json={"name": "g"}))
            live = await ok(http.post(f"/v1/communities/{cid}/live", json={"title": "fuzzing"}))
            post = await ok(http.post(f"/v1/communities/{cid}/posts", json={"text": "hello"}))
            comment = await ok(http.post(f"/v1/posts/{post['id']}/comments", json={"text": "hi"}))
            invite = await ok(http.post(f"/v1/communities/{cid}/invites", json={}))
            token = node.token(me, "fuzzer", ttl=3600)
        config = tmp_path / "schemathesis.toml"
        params = {"cid": cid, "gid": g["id"], "lid": live["id"], "pid": post["id"], "comment_id": comment["id"],
                  "code": invite["code"], "uid": other}
        config.write_text("\n".join([
            f'headers = {{ Authorization = "Bearer {token}" }}',
            "[parameters]",
            *(f'"path.{k}" = "{v}"' for k, v in params.items()),
        ]) + "\n")
        # WHIP and WHEP take application/sdp: sent as text (a fuzzed offer is still an offer to refuse).
        (tmp_path / "fuzz_hooks.py").write_text(
            'import schemathesis\nschemathesis.serializer.alias("application/sdp", "text/plain")\n')
        env = {**os.environ, "SCHEMATHESIS_HOOKS": "fuzz_hooks",
               "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
        report = tmp_path / "report.json"
        ndjson = tmp_path / "events.ndjson"
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run", f"{node.url}/openapi.json",
            "--checks", CHECKS, "--phases", "examples,coverage,fuzzing", "-n", str(EXAMPLES),
            "--max-time", str(SECONDS), "--workers", "1", "--request-timeout", "10", "--no-color",
            "--generation-database", "none", "--seed", "20261205", "--report", "json,ndjson",
            "--report-json-path", str(report), "--report-ndjson-path", str(ndjson),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=tmp_path, env=env)
        out, _ = await asyncio.wait_for(proc.communicate(), SECONDS + 120)
        text = out.decode(errors="replace")
        result = json.loads(report.read_text())
        requests = sum(1 for line in ndjson.read_text().splitlines() if '"ScenarioFinished"' in line)
        access = node.log.read_text(errors="replace")
        statuses = re.findall(r'HTTP/1\.1" (\d{3})', access)
        fivexx = [s for s in statuses if s.startswith("5")]
        by_class: dict[str, int] = {}
        for s in statuses:
            by_class[s[0] + "xx"] = by_class.get(s[0] + "xx", 0) + 1
        print(f"\nschemathesis: {result['operations']['tested']} operations, "
              f"{result['test_cases']['generated']} test cases generated, {len(statuses)} HTTP requests answered "
              f"by the server ({by_class}), failures: {result['failures']}, errors: {result['errors']}; "
              f"{requests} scenarios")
        assert result["operations"]["tested"] >= 100, text[-3000:]
        assert result["test_cases"]["generated"] >= 1000, text[-3000:]
        assert not fivexx, f"the server answered {len(fivexx)} requests with 5xx"
        assert not result["failures"], text[-6000:]
        assert not result["errors"], text[-6000:]
    finally:
        node.stop()
