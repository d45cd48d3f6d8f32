"""The audit log through the real API: what each action records, who may read it, and what the
database refuses (append-only, one unbroken chain)."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import orjson
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from mboa.audit import metrics
from mboa.audit.service import Actor, ActorType, AuditContext, audit
from mboa.audit.tasks import verify_chain
from mboa.config import Settings
from mboa.kit.net import free_port
from mboa.postgres import Database, TenantContext, set_merchant_only, set_tenant
from mboa.providers.registry import ProviderRegistry
from mboa.tasks import load_tasks
from mboa.worker import TaskContext
from tests.helpers import PASSWORD, Api, assert_error, bearer
from tests.payouts.helpers import fund

UA = {"User-Agent": "audit-test/1.0"}


async def rows(owner: asyncpg.Connection, action: str | None = None) -> list[dict[str, Any]]:
    """Every audit row (as the owner: no row-level security), oldest first."""
    found = await owner.fetch(
        "SELECT * FROM audit_log WHERE $1::text IS NULL OR action = $1 ORDER BY seq", action
    )
    out = []
    for row in found:
        item = dict(row)
        for column in ("before", "after"):
            if isinstance(item[column], str):
                item[column] = orjson.loads(item[column])
        out.append(item)
    return out


async def one(owner: asyncpg.Connection, action: str) -> dict[str, Any]:
    found = await rows(owner, action)
    assert len(found) == 1, [r["action"] for r in await rows(owner)]
    return found[0]


def no_secret_in(row: dict[str, Any], *secrets: str) -> None:
    blob = orjson.dumps({k: v for k, v in row.items() if k != "created_at"}).decode()
    for secret in secrets:
        assert secret not in blob, (secret, blob)


async def verify(db: Database) -> Any:
    async with db.platform_transaction() as session:
        return await audit.verify(session)


async def test_api_keys_created_rolled_revoked(
    api: Api, owner_connection: asyncpg.Connection
) -> None:
    account = await api.signup()
    response = await api.http.post(
        f"/v1/merchants/{account.merchant_id}/api_keys",
        json={"type": "restricted", "name": "reports", "scopes": ["customers:read"]},
        headers={**account.user_headers, **UA},
    )
    assert response.status_code == 200, response.text
    key = response.json()
    created = [
        r for r in await rows(owner_connection, "api_key.created") if r["target_id"] == key["id"]
    ]
    assert len(created) == 1
    row = created[0]
    assert (row["actor_type"], row["actor_id"], row["actor_label"]) == (
        "user", account.user_id, account.email
    )  # fmt: skip
    assert (row["merchant_id"], row["livemode"], row["target_type"]) == (
        account.merchant_id, False, "api_key"
    )  # fmt: skip
    assert row["after"]["redacted"] == key["redacted"]
    assert row["after"]["secret"] is None
    assert row["ip"] == "127.0.0.1"
    assert row["user_agent"] == "audit-test/1.0"
    assert row["request_id"] == response.headers["x-request-id"]
    no_secret_in(row, key["secret"])

    rolled = await api.http.post(
        f"/v1/merchants/{account.merchant_id}/api_keys/{key['id']}/roll",
        json={"expires_in": 3600},
        headers=account.user_headers,
    )
    assert rolled.status_code == 200, rolled.text
    row = await one(owner_connection, "api_key.rolled")
    assert row["target_id"] == key["id"]
    assert row["before"]["rolled_to"] is None
    assert row["before"]["expires_at"] is None
    assert row["after"]["rolled_to"] == rolled.json()["id"]
    assert row["after"]["new_key"] == {
        "id": rolled.json()["id"],
        "redacted": rolled.json()["redacted"],
    }
    no_secret_in(row, key["secret"], rolled.json()["secret"])
    # Only the roll is recorded, not a second "created".
    assert len(await rows(owner_connection, "api_key.created")) == len(created) + 2  # signup's 2

    revoked = await api.http.post(
        f"/v1/merchants/{account.merchant_id}/api_keys/{key['id']}/revoke",
        headers=account.user_headers,
    )
    assert revoked.status_code == 200, revoked.text
    row = await one(owner_connection, "api_key.revoked")
    assert row["before"] == {"revoked_at": None}
    assert row["after"]["revoked_at"] == revoked.json()["revoked_at"]
    # Revoking again changes nothing and records nothing.
    again = await api.http.post(
        f"/v1/merchants/{account.merchant_id}/api_keys/{key['id']}/revoke",
        headers=account.user_headers,
    )
    assert again.status_code in (200, 400), again.text
    assert len(await rows(owner_connection, "api_key.revoked")) == 1
    assert (await verify(api.state.db)).ok


async def test_sign_in_and_failed_sign_in(api: Api, owner_connection: asyncpg.Connection) -> None:
    account = await api.signup()
    await api.login(account.email)
    row = await one(owner_connection, "auth.login")
    assert (row["actor_type"], row["actor_id"], row["actor_label"]) == (
        "user", account.user_id, account.email
    )  # fmt: skip
    assert row["merchant_id"] is None
    assert row["target_id"] == account.user_id

    wrong = "Wrong-password-123"
    failed = await api.http.post(
        "/v1/auth/login", json={"email": account.email, "password": wrong}, headers=UA
    )
    assert_error(failed, 401)
    row = await one(owner_connection, "auth.login_failed")
    assert (row["actor_type"], row["actor_id"], row["target_id"]) == (
        "user", account.user_id, account.user_id
    )  # fmt: skip
    assert row["request_id"] == failed.headers["x-request-id"]
    assert row["user_agent"] == "audit-test/1.0"
    no_secret_in(row, wrong, PASSWORD)

    # An email nobody has: recorded without naming anyone (the typed text is not kept).
    nobody = await api.http.post(
        "/v1/auth/login", json={"email": "ghost@example.cm", "password": wrong}
    )
    assert_error(nobody, 401)
    found = await rows(owner_connection, "auth.login_failed")
    assert len(found) == 2
    assert (found[1]["actor_id"], found[1]["actor_label"], found[1]["target_id"]) == (
        None, None, None
    )  # fmt: skip
    no_secret_in(found[1], "ghost@example.cm", wrong)

    # Staff sign in as staff.
    await api.staff()
    staff_rows = [
        r for r in await rows(owner_connection, "auth.login") if r["actor_type"] == "staff"
    ]
    assert len(staff_rows) == 1
    granted = await one(owner_connection, "staff.granted")
    assert (granted["actor_type"], granted["actor_label"]) == ("system", "mboa admin create")
    assert granted["target_id"] == staff_rows[0]["actor_id"]
    no_secret_in(granted, PASSWORD)


async def test_team_changes(api: Api, owner_connection: asyncpg.Connection) -> None:
    owner = await api.signup()
    member = await api.add_member(owner, "developer")
    row = await one(owner_connection, "member.added")
    assert row["merchant_id"] == owner.merchant_id
    assert row["actor_id"] == owner.user_id
    assert row["after"] == {"user": member.user_id, "email": member.email, "role": "developer"}
    member_id = row["target_id"]
    changed = await api.http.post(
        f"/v1/merchants/{owner.merchant_id}/members/{member_id}",
        json={"role": "analyst"},
        headers=owner.user_headers,
    )
    assert changed.status_code == 200, changed.text
    row = await one(owner_connection, "member.role_changed")
    assert (row["before"]["role"], row["after"]["role"], row["target_id"]) == (
        "developer", "analyst", member_id
    )  # fmt: skip
    removed = await api.http.delete(
        f"/v1/merchants/{owner.merchant_id}/members/{member_id}", headers=owner.user_headers
    )
    assert removed.status_code in (200, 204), removed.text
    row = await one(owner_connection, "member.removed")
    assert row["before"] == {"user": member.user_id, "role": "analyst"}
    # A refused change (the last owner cannot be demoted) records nothing.
    own = await api.http.get(
        f"/v1/merchants/{owner.merchant_id}/members", headers=owner.user_headers
    )
    owner_member = own.json()["data"][0]["id"]
    refused = await api.http.post(
        f"/v1/merchants/{owner.merchant_id}/members/{owner_member}",
        json={"role": "admin"},
        headers=owner.user_headers,
    )
    assert refused.status_code == 400, refused.text
    assert len(await rows(owner_connection, "member.role_changed")) == 1

    renamed = await api.http.post(
        f"/v1/merchants/{owner.merchant_id}",
        json={"name": "New name", "metadata": {"k": "v"}},
        headers=owner.user_headers,
    )
    assert renamed.status_code == 200, renamed.text
    row = await one(owner_connection, "merchant.updated")
    assert row["before"] == {"name": "Shop", "metadata": {}}
    assert row["after"] == {"name": "New name", "metadata": {"k": "v"}}


async def test_webhook_endpoint_changes(api: Api, owner_connection: asyncpg.Connection) -> None:
    account = await api.signup()
    headers = account.key_headers
    created = await api.http.post(
        "/v1/webhook_endpoints",
        json={"url": "https://shop.example.cm/hooks", "enabled_events": ["*"]},
        headers=headers,
    )
    assert created.status_code == 200, created.text
    endpoint = created.json()
    row = await one(owner_connection, "webhook_endpoint.created")
    assert (row["actor_type"], row["actor_id"]) == ("api_key", row["actor_id"])
    assert row["actor_label"].startswith("sk_test_…")
    assert row["after"]["url"] == "https://shop.example.cm/hooks"
    assert "secret" not in row["after"]
    updated = await api.http.post(
        f"/v1/webhook_endpoints/{endpoint['id']}",
        json={"description": "Orders"},
        headers=headers,
    )
    assert updated.status_code == 200, updated.text
    row = await one(owner_connection, "webhook_endpoint.updated")
    assert row["before"] == {"description": None}
    assert row["after"] == {"description": "Orders"}
    rolled = await api.http.post(
        f"/v1/webhook_endpoints/{endpoint['id']}/roll_secret", json={}, headers=headers
    )
    assert rolled.status_code == 200, rolled.text
    row = await one(owner_connection, "webhook_endpoint.secret_rolled")
    assert row["after"] == {"overlap_seconds": 0}
    deleted = await api.http.delete(f"/v1/webhook_endpoints/{endpoint['id']}", headers=headers)
    assert deleted.status_code == 200, deleted.text
    row = await one(owner_connection, "webhook_endpoint.deleted")
    assert row["before"]["url"] == "https://shop.example.cm/hooks"
    for found in await rows(owner_connection):
        no_secret_in(found, endpoint["secret"], rolled.json()["secret"])


async def test_staff_decisions_and_fee_plans(
    api: Api, owner_connection: asyncpg.Connection
) -> None:
    """The going-live decisions through the staff API, each by its staff member with the
    reason, and the owner's submissions (the console's: tests/audit/test_wiring.py)."""
    account = await api.signup()
    compliance = bearer(await api.staff("compliance"))
    await api.submit_kyc(account)
    row = await one(owner_connection, "merchant.submitted")
    assert (row["actor_type"], row["actor_id"]) == ("user", account.user_id)
    assert (row["merchant_id"], row["before"], row["after"]) == (
        account.merchant_id, {"status": "sandbox"}, {"status": "submitted"}
    )  # fmt: skip
    admin = f"/v1/admin/merchants/{account.merchant_id}"
    rejected = await api.http.post(
        f"{admin}/reject", json={"reason": "The ID is blurred."}, headers=compliance
    )
    assert rejected.status_code == 200, rejected.text
    row = await one(owner_connection, "merchant.rejected")
    assert row["actor_type"] == "staff"
    assert row["actor_label"].startswith("compliance")
    assert (row["merchant_id"], row["before"], row["after"]) == (
        account.merchant_id,
        {"status": "submitted"},
        {"status": "rejected", "reason": "The ID is blurred."},
    )
    resubmitted = await api.http.post(
        f"/v1/merchants/{account.merchant_id}/kyc/submit", headers=account.user_headers
    )
    assert resubmitted.status_code == 200, resubmitted.text
    submissions = await rows(owner_connection, "merchant.submitted")
    assert [r["before"] for r in submissions] == [{"status": "sandbox"}, {"status": "rejected"}]
    approved = await api.http.post(
        f"{admin}/approve", json={"reason": "New ID is readable."}, headers=compliance
    )
    assert approved.status_code == 200, approved.text
    row = await one(owner_connection, "merchant.approved")
    assert row["actor_type"] == "staff"
    assert row["actor_label"].startswith("compliance")
    assert (row["merchant_id"], row["before"], row["after"]) == (
        account.merchant_id,
        {"status": "submitted"},
        {"status": "active", "reason": "New ID is readable."},
    )
    suspended = await api.http.post(
        f"{admin}/suspend", json={"reason": "chargebacks"}, headers=compliance
    )
    assert suspended.status_code == 200, suspended.text
    row = await one(owner_connection, "merchant.suspended")
    assert row["after"] == {"status": "suspended", "reason": "chargebacks"}
    reactivated = await api.http.post(
        f"{admin}/reactivate", json={"reason": "refunded"}, headers=compliance
    )
    assert reactivated.status_code == 200, reactivated.text
    row = await one(owner_connection, "merchant.reactivated")
    assert (row["before"], row["after"]) == (
        {"status": "suspended"}, {"status": "active", "reason": "refunded"}
    )  # fmt: skip

    staff = bearer(await api.staff("finance"))
    plan = await api.http.post(
        f"/v1/admin/merchants/{account.merchant_id}/fee_plans",
        json={"operator": "mtn_momo", "currency": "XAF", "percent_bps": 150, "fixed_amount": 0},
        headers=staff,
    )
    assert plan.status_code == 200, plan.text
    row = await one(owner_connection, "fee_plan.set")
    assert row["before"]["merchant_id"] is None  # the default applied
    assert row["before"]["percent_bps"] == 200
    assert (row["after"]["percent_bps"], row["after"]["merchant_id"]) == (150, account.merchant_id)
    assert row["target_id"] == f"{account.merchant_id}:mtn_momo:XAF"
    removed = await api.http.delete(
        f"/v1/admin/merchants/{account.merchant_id}/fee_plans/mtn_momo", headers=staff
    )
    assert removed.status_code == 200, removed.text
    row = await one(owner_connection, "fee_plan.removed")
    assert (row["before"]["percent_bps"], row["after"]["percent_bps"]) == (150, 200)

    # Staff read them all; the merchant reads its own (both modes, the staff actions too).
    listed = await api.http.get(
        "/v1/admin/audit_logs",
        params={"merchant": account.merchant_id, "limit": 100},
        headers=staff,
    )
    assert listed.status_code == 200, listed.text
    actions = [r["action"] for r in listed.json()["data"]]
    assert actions[:5] == [
        "fee_plan.removed", "fee_plan.set", "merchant.reactivated", "merchant.suspended",
        "merchant.approved",
    ]  # fmt: skip
    mine = await api.http.get(
        f"/v1/merchants/{account.merchant_id}/audit_logs",
        params={"action": "merchant.*"},
        headers=account.user_headers,
    )
    assert mine.status_code == 200, mine.text
    assert [r["action"] for r in mine.json()["data"]] == [
        "merchant.reactivated", "merchant.suspended", "merchant.approved", "merchant.submitted",
        "merchant.rejected", "merchant.submitted",
    ]  # fmt: skip
    assert mine.json()["data"][0]["actor"]["type"] == "staff"


async def test_payouts_requested_approved_rejected(
    api: Api, db: Database, owner_connection: asyncpg.Connection
) -> None:
    account, live_key = await api.live_account()
    threshold = api.state.settings.payouts.approval_threshold
    await fund(db, account.merchant_id, 3_000_000, livemode=True)
    body = {"amount": threshold + 1, "currency": "XAF", "destination": {"phone": "+237670000123"}}
    big = await api.http.post("/v1/payouts", json=body, headers=bearer(live_key))
    assert big.status_code == 200, big.text
    other = await api.http.post("/v1/payouts", json=body, headers=bearer(live_key))
    requested = await rows(owner_connection, "payout.requested")
    assert [r["target_id"] for r in requested] == [big.json()["id"], other.json()["id"]]
    row = requested[0]
    assert (row["actor_type"], row["merchant_id"], row["livemode"]) == (
        "api_key", account.merchant_id, True
    )  # fmt: skip
    assert row["after"]["amount"] == threshold + 1
    no_secret_in(row, "670000123", "237670000123")
    staff = bearer(await api.staff())
    approved = await api.http.post(f"/v1/admin/payouts/{big.json()['id']}/approve", headers=staff)
    assert approved.status_code == 200, approved.text
    row = await one(owner_connection, "payout.approved")
    assert (row["actor_type"], row["before"], row["after"]) == (
        "staff", {"review_status": "awaiting"}, {"review_status": "approved"}
    )  # fmt: skip
    rejected = await api.http.post(f"/v1/admin/payouts/{other.json()['id']}/reject", headers=staff)
    assert rejected.status_code == 200, rejected.text
    row = await one(owner_connection, "payout.rejected")
    assert row["after"] == {"review_status": "rejected", "status": "canceled"}
    assert (await verify(db)).ok


async def test_append_only_for_every_role(
    api: Api, db: Database, owner_connection: asyncpg.Connection
) -> None:
    account = await api.signup()
    await api.login(account.email)
    target = (await rows(owner_connection))[0]["id"]
    for sessions in (db.app_sessions, db.platform_sessions):
        for statement in (
            f"UPDATE audit_log SET action = 'x' WHERE id = '{target}'",
            f"DELETE FROM audit_log WHERE id = '{target}'",
            "TRUNCATE audit_log",
            "INSERT INTO audit_log (id, seq, created_at, actor_type, action, prev_hash, hash)"
            " VALUES ('aud_x', 999, now(), 'system', 'x', '', '')",
            "UPDATE audit_chain_head SET seq = 0",
        ):
            async with sessions() as session:
                with pytest.raises(DBAPIError) as refused:
                    async with session.begin():
                        await set_merchant_only(session, account.merchant_id)
                        await session.execute(text(statement))
                assert "permission denied" in str(refused.value) or "append-only" in str(
                    refused.value
                ), (statement, refused.value)
    # The owner too (the trigger).
    for statement in (
        f"UPDATE audit_log SET action = 'x' WHERE id = '{target}'",
        f"DELETE FROM audit_log WHERE id = '{target}'",
        "TRUNCATE audit_log",
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await owner_connection.execute(statement)
    # A merchant's transaction cannot append a row for another merchant.
    other = await api.signup()
    async with db.app_sessions() as session:
        with pytest.raises(DBAPIError, match="another merchant"):
            async with session.begin():
                await set_tenant(session, TenantContext(account.merchant_id, livemode=False))
                await audit.record(
                    session, action="x.y", merchant_id=other.merchant_id,
                    actor=Actor.system("test"),
                )  # fmt: skip
    assert (await verify(db)).ok


async def verify_cli(database_url: str) -> tuple[int, str]:
    env = {
        **os.environ,
        "MBOA_DATABASE_URL": database_url,
        "MBOA_REDIS_URL": os.environ["MBOA_TEST_REDIS_URL"],
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mboa", "audit", "verify", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await process.communicate()
    return process.returncode or 0, out.decode()


async def test_verify_finds_the_altered_row(
    api: Api, database_url: str, owner_connection: asyncpg.Connection
) -> None:
    account = await api.signup()
    for _ in range(3):
        await api.login(account.email)
    code, out = await verify_cli(database_url)
    assert code == 0, out
    assert "audit verify: OK, 5 rows" in out  # signup's two keys, three sign-ins
    logins = await rows(owner_connection, "auth.login")
    victim = logins[1]["id"]
    async with owner_connection.transaction():
        await owner_connection.execute("SET LOCAL session_replication_role = replica")
        await owner_connection.execute("UPDATE audit_log SET ip = '10.0.0.1' WHERE id = $1", victim)
    code, out = await verify_cli(database_url)
    assert code == 1, out
    assert f"FAIL at row {victim}" in out
    assert "altered" in out
    # Put it back: the chain verifies again. Then drop the last row: the head says so.
    async with owner_connection.transaction():
        await owner_connection.execute("SET LOCAL session_replication_role = replica")
        await owner_connection.execute(
            "UPDATE audit_log SET ip = '127.0.0.1' WHERE id = $1", victim
        )
    assert (await verify(api.state.db)).ok
    async with owner_connection.transaction():
        await owner_connection.execute("SET LOCAL session_replication_role = replica")
        await owner_connection.execute("DELETE FROM audit_log WHERE seq = 5")
    report = await verify(api.state.db)
    assert not report.ok
    assert "removed at the end" in (report.reason or "")
    # A row removed in the middle: the next one names the gap.
    async with owner_connection.transaction():
        await owner_connection.execute("SET LOCAL session_replication_role = replica")
        await owner_connection.execute("DELETE FROM audit_log WHERE seq = 2")
    report = await verify(api.state.db)
    assert not report.ok
    assert report.broken_seq == 3
    assert "missing" in (report.reason or "")
    # A walk that cannot run is not a tampered log: exit 2, one line saying why.
    unreachable = urlunsplit(
        urlsplit(database_url)._replace(netloc=f"nobody@127.0.0.1:{free_port()}")
    )
    code, out = await verify_cli(unreachable)
    assert code == 2, out
    assert "audit verify could not run" in out
    assert "Traceback" not in out


async def test_concurrent_appends_keep_one_chain(api: Api, db: Database) -> None:
    accounts = [await api.signup() for _ in range(2)]

    async def append(i: int) -> None:
        account = accounts[i % 2]
        async with db.app_sessions() as session, session.begin():
            await set_merchant_only(session, account.merchant_id)
            await audit.record(
                session,
                action="test.concurrent",
                target=("thing", str(i)),
                merchant_id=account.merchant_id,
                actor=Actor(ActorType.user, account.user_id),
            )

    started = time.perf_counter()
    await asyncio.gather(*(append(i) for i in range(50)))
    elapsed = time.perf_counter() - started
    report = await verify(db)
    assert report.ok, report.render()
    assert report.rows == 4 + 50
    # The cost of one append: the statement's round trip and the function, median of 100
    # (run with -s to see it; docs/audit.md quotes it). The commit it rides on is the action's.
    account = accounts[0]
    spent = []
    for i in range(100):
        async with db.app_sessions() as session, session.begin():
            await set_merchant_only(session, account.merchant_id)
            await session.execute(text("SELECT 1"))
            started = time.perf_counter()
            await audit.record(
                session, action="test.sequential", target=("thing", str(i)),
                merchant_id=account.merchant_id, actor=Actor.system("bench"),
            )  # fmt: skip
            spent.append(time.perf_counter() - started)
    spent.sort()
    print(
        f"50 concurrent appends: {elapsed * 1000:.0f} ms; one append: median"
        f" {spent[50] * 1000:.2f} ms, p90 {spent[90] * 1000:.2f} ms"
    )
    assert (await verify(db)).ok


async def test_merchants_see_only_their_rows(
    api: Api, owner_connection: asyncpg.Connection
) -> None:
    a = await api.signup()
    b = await api.signup()
    await api.create_key(a, name="a-key")
    await api.create_key(b, name="b-key")
    b_row = (await api.http.get(
        f"/v1/merchants/{b.merchant_id}/audit_logs", headers=b.user_headers
    )).json()["data"][0]  # fmt: skip
    a_list = await api.http.get(
        f"/v1/merchants/{a.merchant_id}/audit_logs", params={"limit": 100}, headers=a.user_headers
    )
    assert a_list.status_code == 200, a_list.text
    assert {r["account"] for r in a_list.json()["data"]} == {a.merchant_id}
    assert len(a_list.json()["data"]) == 3
    assert_error(
        await api.http.get(
            f"/v1/merchants/{a.merchant_id}/audit_logs/{b_row['id']}", headers=a.user_headers
        ),
        404,
    )
    assert_error(
        await api.http.get(f"/v1/merchants/{b.merchant_id}/audit_logs", headers=a.user_headers),
        404,
        param="merchant_id",
    )
    assert_error(await api.http.get(f"/v1/audit_logs/{b_row['id']}", headers=a.key_headers), 404)
    key_list = await api.http.get("/v1/audit_logs", headers=a.key_headers)
    assert {r["account"] for r in key_list.json()["data"]} == {a.merchant_id}
    own = await api.http.get(
        f"/v1/audit_logs/{key_list.json()['data'][0]['id']}", headers=a.key_headers
    )
    assert own.status_code == 200, own.text
    # Staff see both.
    staff = bearer(await api.staff())
    everything = await api.http.get(
        "/v1/admin/audit_logs", params={"action": "api_key.created", "limit": 100}, headers=staff
    )
    assert {r["account"] for r in everything.json()["data"]} == {a.merchant_id, b.merchant_id}
    one_row = await api.http.get(f"/v1/admin/audit_logs/{b_row['id']}", headers=staff)
    assert one_row.json()["id"] == b_row["id"]
    # Only owners and admins (and secret keys) read it.
    analyst = await api.add_member(a, "analyst")
    assert_error(
        await api.http.get(
            f"/v1/merchants/{a.merchant_id}/audit_logs", headers=analyst.user_headers
        ),
        403,
    )
    restricted = await api.create_key(a, type="restricted", scopes=["customers:read"])
    assert_error(await api.http.get("/v1/audit_logs", headers=bearer(restricted["secret"])), 403)
    assert_error(await api.http.get("/v1/admin/audit_logs", headers=a.user_headers), 403)


async def test_list_filters_and_pages(api: Api) -> None:
    account = await api.signup()
    key = await api.create_key(account, name="x")
    for _ in range(3):
        await api.login(account.email)
    path = f"/v1/merchants/{account.merchant_id}/audit_logs"

    async def ids(**params: Any) -> list[tuple[str, str]]:
        params = {
            name.replace("__", "[") + ("]" if "__" in name else ""): v for name, v in params.items()
        }
        response = await api.http.get(path, params=params, headers=account.user_headers)
        assert response.status_code == 200, response.text
        return [(r["action"], r["target"]["id"]) for r in response.json()["data"]]

    assert await ids(action="api_key.created", target=key["id"]) == [("api_key.created", key["id"])]
    assert len(await ids(action="api_key.*")) == 3
    assert len(await ids(actor=account.user_id)) == 3  # sign-up's two keys are the owner's too
    assert len(await ids(actor=account.email.upper())) == 3
    assert await ids(actor="usr_nobody") == []
    assert await ids(created__gte=int(time.time()) + 3600) == []
    assert len(await ids(created__gte=int(time.time()) - 3600, action="api_key.created")) == 3
    first = await api.http.get(path, params={"limit": 2}, headers=account.user_headers)
    assert first.json()["has_more"] is True
    after = first.json()["data"][-1]["id"]
    rest = await api.http.get(
        path, params={"limit": 2, "starting_after": after}, headers=account.user_headers
    )
    assert rest.json()["has_more"] is False
    assert len(rest.json()["data"]) == 1
    unknown = await api.http.get(path, params={"actions": "x"}, headers=account.user_headers)
    assert_error(unknown, 400, code="parameter_unknown")


async def test_entry_schema(api: Api, http: httpx.AsyncClient) -> None:
    account = await api.signup()
    listed = await http.get("/v1/audit_logs", headers=account.key_headers)
    entry = listed.json()["data"][0]
    assert entry["object"] == "audit_log"
    assert set(entry) >= {
        "id", "created", "account", "livemode", "action", "actor", "target", "before", "after",
        "ip", "user_agent", "request_id", "seq", "prev_hash", "hash",
    }  # fmt: skip
    assert entry["id"].startswith("aud_")
    assert len(entry["hash"]) == 64


async def test_a_key_reads_its_mode_and_account_wide_rows(api: Api) -> None:
    account, live_key = await api.live_account()
    live_rows = await api.http.get(
        "/v1/audit_logs", params={"action": "api_key.created"}, headers=bearer(live_key)
    )
    assert live_rows.status_code == 200, live_rows.text
    modes = {r["livemode"] for r in live_rows.json()["data"]}
    assert modes == {True}
    live_entry = live_rows.json()["data"][0]["id"]
    test_rows = await api.http.get("/v1/audit_logs", headers=account.key_headers)
    assert all(r["livemode"] in (False, None) for r in test_rows.json()["data"])
    assert "merchant.approved" in {r["action"] for r in test_rows.json()["data"]}  # no mode
    assert_error(
        await api.http.get(f"/v1/audit_logs/{live_entry}", headers=account.key_headers), 404
    )
    # Members see both modes.
    both = await api.http.get(
        f"/v1/merchants/{account.merchant_id}/audit_logs",
        params={"action": "api_key.created"},
        headers=account.user_headers,
    )
    assert {r["livemode"] for r in both.json()["data"]} == {True, False}


async def test_the_documented_hash_matches_the_database_on_awkward_text(
    api: Api, db: Database
) -> None:
    """`verify` recomputes each hash in Python (`service.canonical`) and compares it with the
    database's function: text with quotes, backslashes, control characters, accents and emoji,
    nested objects and numbers must serialise identically on both sides."""
    awkward = 'Quote " back\\slash \n new\tline \x01 ctrl é ñ 漢字 😀 </script>'
    context = AuditContext(
        Actor(ActorType.system, None, awkward), ip="2001:db8::1", user_agent=awkward,
        request_id="req_x",
    )  # fmt: skip
    async with db.platform_transaction() as session:
        await audit.record(
            session,
            action="test.awkward",
            target=("thing", awkward[:60]),
            before={"a": 1, "bb": [1, 2.5, -3, 10**15], "c": {"zz": None, "y": True}},
            after={"text": awkward, "nested": {"deeper": [{"k": "v"}, []], "": {}}, "f": 0.1},
            context=context,
        )
        await audit.record(session, action="test.empty", context=context)
    report = await verify(db)
    assert report.ok, report.render()
    assert report.rows == 2


async def test_the_hourly_task_reports_the_chain_in_metrics(
    api: Api, settings: Settings, db: Database, owner_connection: asyncpg.Connection
) -> None:
    account = await api.signup()
    await api.login(account.email)
    providers = ProviderRegistry(settings.providers)
    context = TaskContext(settings, db, providers=providers)
    try:
        assert load_tasks()["audit.verify"].cron == "29 * * * *"
        assert await verify_chain(context, {}) is True
        assert (metrics.CHAIN_OK._value.get(), metrics.CHAIN_ROWS._value.get()) == (1, 3)
        async with owner_connection.transaction():
            await owner_connection.execute("SET LOCAL session_replication_role = replica")
            await owner_connection.execute("UPDATE audit_log SET action = 'x' WHERE seq = 1")
        assert await verify_chain(context, {}) is False
        assert metrics.CHAIN_OK._value.get() == 0
    finally:
        await providers.aclose()
