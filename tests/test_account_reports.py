"""Account reports to the platform's operators, against a real server on SQLite and PostgreSQL."""

from __future__ import annotations

from live.safety import operators
from tests.support.communities import error_of, people
from tests.support.servers import RunningServer


async def test_report_an_account_and_get_an_answer(server: RunningServer) -> None:
    async with people(server, "op", "ana", "troll") as (op, ana, troll):
        async with server.services.db.session() as session:
            await operators.grant(session, op.id)
        await troll.ok("GET", "/v1/me")
        body = {"target": {"type": "user", "id": troll.id}, "reason": "threatens people in three communities"}
        report = await ana.ok("POST", "/v1/reports", 201, json=body)
        assert report["target"] == {"type": "user", "id": troll.id} and report["status"] == "open"
        assert report["scope"] == "platform" and "reporter_id" not in report

        error_of(await ana.call("POST", "/v1/reports", json=body), 409, "conflict")
        error_of(await ana.call("POST", "/v1/reports", json={**body, "target": {"type": "user", "id": ana.id}}),
                 422, "invalid_request")
        error_of(await ana.call("POST", "/v1/reports", json={**body, "target": {"type": "user", "id": "ghost"}}),
                 404, "not_found")
        error_of(await ana.call("POST", "/v1/reports", json={**body, "target": {"type": "post", "id": "p1"}}),
                 422, "invalid_request")
        error_of(await ana.call("POST", "/v1/reports", json={"target": body["target"]}), 422, "invalid_request")
        error_of(await ana.call("POST", "/v1/reports", json={**body, "reason": "   "}), 422, "invalid_request")

        listed = await op.ok("GET", "/v1/admin/reports")
        mine = [r for r in listed["items"] if r["id"] == report["id"]]
        assert mine and mine[0]["reporter_id"] == ana.id and mine[0]["target_name"] == "troll"
        resolved_ids = {r["id"] for r in (await op.ok("GET", "/v1/admin/reports?status=resolved&limit=100"))["items"]}
        assert report["id"] not in resolved_ids  # (the database is shared with other tests)
        error_of(await op.call("GET", "/v1/admin/reports?status=bogus"), 422, "invalid_request")
        resolved = await op.ok("POST", f"/v1/admin/reports/{report['id']}/resolve",
                               json={"resolution": "suspended for a week"})
        assert resolved["status"] == "resolved" and resolved["resolved_by"] == op.id
        error_of(await op.call("POST", f"/v1/admin/reports/{report['id']}/resolve", json={"resolution": "again"}),
                 409, "conflict")
        error_of(await op.call("POST", "/v1/admin/reports/nope/resolve", json={"resolution": "x"}), 404, "not_found")

        answered = (await ana.ok("GET", "/v1/me/account-reports"))["items"]
        assert answered[0]["resolution"] == "suspended for a week" and "resolved_by" not in answered[0]
        # Once answered, the same account may be reported again.
        await ana.ok("POST", "/v1/reports", 201, json=body)
        # The reported account never learns who reported it.
        assert ana.id not in str(await troll.ok("GET", "/v1/me/export"))
        assert "account_reports" in (await ana.ok("GET", "/v1/me/export"))["tables"]
