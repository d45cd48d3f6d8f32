from __future__ import annotations

from tests.helpers import Api, assert_error, bearer


async def test_only_staff_reach_admin_endpoints(api: Api) -> None:
    account = await api.signup()
    response = await api.http.get("/v1/admin/merchants", headers=account.user_headers)
    assert_error(response, 403, code="platform_admin_required")
    assert_error(await api.http.get("/v1/admin/merchants"), 401)
    # An API key is not a staff credential either.
    assert_error(await api.http.get("/v1/admin/merchants", headers=account.key_headers), 401)


async def test_list_and_filter_merchants(api: Api) -> None:
    first = await api.signup(business="First")
    second = await api.signup(business="Second")
    staff = await api.staff()
    listed = await api.http.get("/v1/admin/merchants", headers=bearer(staff))
    assert listed.status_code == 200
    assert [m["id"] for m in listed.json()["data"]] == [second.merchant_id, first.merchant_id]
    await api.http.post(f"/v1/admin/merchants/{first.merchant_id}/approve", headers=bearer(staff))
    sandbox = await api.http.get(
        "/v1/admin/merchants", params={"status": "sandbox"}, headers=bearer(staff)
    )
    assert [m["id"] for m in sandbox.json()["data"]] == [second.merchant_id]
    bad = await api.http.get(
        "/v1/admin/merchants", params={"status": "zombie"}, headers=bearer(staff)
    )
    assert_error(bad, 400, param="status")


async def test_approve_enables_live_and_is_recorded(api: Api) -> None:
    account = await api.signup()
    staff = await api.staff()
    approved = await api.http.post(
        f"/v1/admin/merchants/{account.merchant_id}/approve", headers=bearer(staff)
    )
    body = approved.json()
    assert body["status"] == "active"
    assert body["live_enabled"] is True
    assert body["approved_by"].startswith("usr_")
    again = await api.http.post(
        f"/v1/admin/merchants/{account.merchant_id}/approve", headers=bearer(staff)
    )
    assert_error(again, 400, code="merchant_status_invalid")


async def test_suspension_blocks_live_but_not_test(api: Api) -> None:
    account, live_key = await api.live_account()
    staff = await api.staff()
    suspended = await api.http.post(
        f"/v1/admin/merchants/{account.merchant_id}/suspend",
        json={"reason": "fraud review"},
        headers=bearer(staff),
    )
    assert suspended.json()["status"] == "suspended"
    assert suspended.json()["suspension_reason"] == "fraud review"
    assert_error(
        await api.http.get("/v1/account", headers=bearer(live_key)), 403, code="account_not_live"
    )
    assert (await api.http.get("/v1/account", headers=account.key_headers)).status_code == 200
    new_live = await api.http.post(
        f"/v1/merchants/{account.merchant_id}/api_keys",
        params={"livemode": "true"},
        json={},
        headers=account.user_headers,
    )
    assert_error(new_live, 403, code="account_not_live")
    reactivated = await api.http.post(
        f"/v1/admin/merchants/{account.merchant_id}/reactivate", headers=bearer(staff)
    )
    assert reactivated.json()["status"] == "active"
    assert (await api.http.get("/v1/account", headers=bearer(live_key))).status_code == 200


async def test_suspend_needs_a_reason_and_unknown_merchant(api: Api) -> None:
    account = await api.signup()
    staff = await api.staff()
    no_reason = await api.http.post(
        f"/v1/admin/merchants/{account.merchant_id}/suspend", json={}, headers=bearer(staff)
    )
    assert_error(no_reason, 400, code="parameter_missing", param="reason")
    missing = await api.http.post("/v1/admin/merchants/acct_nope/approve", headers=bearer(staff))
    assert_error(missing, 404)


async def test_staff_cli_command_creates_platform_admin(api: Api, database_url: str) -> None:
    import asyncio
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "MBOA_DATABASE_URL": database_url,
        "MBOA_REDIS_URL": "redis://127.0.0.1:1/0",
    }
    result = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "mboa",
            "admin",
            "create",
            "--email",
            "ops@mboa.cm",
            "--password",
            "very-strong-pass-1",
            "--name",
            "Ops",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    token = (await api.login("ops@mboa.cm", "very-strong-pass-1"))["access_token"]
    assert (await api.http.get("/v1/admin/merchants", headers=bearer(token))).status_code == 200
