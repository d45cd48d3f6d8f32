from __future__ import annotations

import httpx
import pytest

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
    staff = await api.staff("support")
    listed = await api.http.get("/v1/admin/merchants", headers=bearer(staff))
    assert listed.status_code == 200
    assert [m["id"] for m in listed.json()["data"]] == [second.merchant_id, first.merchant_id]
    await api.approve(first)
    sandbox = await api.http.get(
        "/v1/admin/merchants", params={"status": "sandbox"}, headers=bearer(staff)
    )
    assert [m["id"] for m in sandbox.json()["data"]] == [second.merchant_id]
    bad = await api.http.get(
        "/v1/admin/merchants", params={"status": "zombie"}, headers=bearer(staff)
    )
    assert_error(bad, 400, param="status")


async def test_approval_needs_a_submitted_application_and_a_reason(api: Api) -> None:
    """No side door: the staff API approves only what the console would (docs/going-live.md)."""
    account = await api.signup()
    staff = await api.staff("compliance")
    approve = f"/v1/admin/merchants/{account.merchant_id}/approve"
    bare = await api.http.post(approve, json={"reason": "looks fine"}, headers=bearer(staff))
    error = assert_error(bare, 409, code="merchant_status_invalid", param="status")
    assert "sandbox" in error["message"]
    assert (await api.http.get("/v1/account", headers=account.key_headers)).json()[
        "status"
    ] == "sandbox"

    await api.submit_kyc(account)
    for body in ({}, {"reason": ""}):
        no_reason = await api.http.post(approve, json=body, headers=bearer(staff))
        assert_error(no_reason, 400, param="reason")
    assert_error(await api.http.post(approve, headers=bearer(staff)), 400)

    approved = await api.http.post(
        approve, json={"reason": "RCCM and ID match"}, headers=bearer(staff)
    )
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert body["status"] == "active"
    assert body["live_enabled"] is True
    assert body["approved_by"].startswith("usr_")
    again = await api.http.post(approve, json={"reason": "twice"}, headers=bearer(staff))
    error = assert_error(again, 409, code="merchant_status_invalid")
    assert "active" in error["message"]


async def test_staff_roles_apply_to_the_staff_api(api: Api) -> None:
    """The console's roles (mboa/console/access.py `ROLE_PERMISSIONS`) on `/v1/admin`: 403
    `permission_denied` names the missing permission."""
    account = await api.signup()
    await api.submit_kyc(account)
    merchant = f"/v1/admin/merchants/{account.merchant_id}"
    plan = {"operator": "mtn_momo", "percent_bps": 150, "fixed_amount": 0}
    support = bearer(await api.staff("support"))
    compliance = bearer(await api.staff("compliance"))
    finance = bearer(await api.staff("finance"))

    def refused(response: httpx.Response, permission: str) -> None:
        error = assert_error(response, 403, code="permission_denied")
        assert f"'{permission}'" in error["message"], error

    # support: read only
    assert (await api.http.get(merchant, headers=support)).status_code == 200
    assert (await api.http.get(f"{merchant}/fee_plans", headers=support)).status_code == 200
    assert (await api.http.get("/v1/admin/audit_logs", headers=support)).status_code == 200
    decision = {"reason": "ok"}
    refused(
        await api.http.post(f"{merchant}/approve", json=decision, headers=support), "kyc:decide"
    )
    refused(
        await api.http.post(f"{merchant}/suspend", json=decision, headers=support), "kyc:decide"
    )
    refused(
        await api.http.post(f"{merchant}/fee_plans", json=plan, headers=support),
        "fee_plans:write",
    )
    refused(
        await api.http.post("/v1/admin/payouts/po_nope/approve", headers=support),
        "payouts:approve",
    )
    # finance: payouts and fee plans, not KYC decisions
    refused(await api.http.post(f"{merchant}/reject", json=decision, headers=finance), "kyc:decide")
    set_plan = await api.http.post(f"{merchant}/fee_plans", json=plan, headers=finance)
    assert set_plan.status_code == 200, set_plan.text
    missing = await api.http.post("/v1/admin/payouts/po_nope/approve", headers=finance)
    assert missing.status_code == 404, missing.text
    # compliance: KYC decisions, not fee plans nor payouts
    refused(
        await api.http.delete(f"{merchant}/fee_plans/mtn_momo", headers=compliance),
        "fee_plans:write",
    )
    refused(
        await api.http.post("/v1/admin/payouts/po_nope/reject", headers=compliance),
        "payouts:approve",
    )
    approved = await api.http.post(f"{merchant}/approve", json=decision, headers=compliance)
    assert approved.status_code == 200, approved.text
    # Nothing the refused calls asked for happened.
    plans = (await api.http.get(f"{merchant}/fee_plans", headers=support)).json()
    assert {p["operator"]: p["percent_bps"] for p in plans}["mtn_momo"] == 150


async def test_staff_without_two_factor_are_refused_when_the_console_requires_it(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = bearer(await api.staff("superadmin", with_two_factor=False))
    assert api.state.settings.console.require_two_factor  # the default
    for response in (
        await api.http.get("/v1/admin/merchants", headers=token),
        await api.http.get("/v1/admin/audit_logs", headers=token),
        await api.http.post("/v1/admin/payouts/po_nope/approve", headers=token),
    ):
        assert_error(response, 403, code="two_factor_required")
    monkeypatch.setattr(api.state.settings.console, "require_two_factor", False)
    assert (await api.http.get("/v1/admin/merchants", headers=token)).status_code == 200


async def test_suspension_blocks_live_but_not_test(api: Api) -> None:
    account, live_key = await api.live_account()
    staff = await api.staff("compliance")
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
    reactivate = f"/v1/admin/merchants/{account.merchant_id}/reactivate"
    no_reason = await api.http.post(reactivate, json={}, headers=bearer(staff))
    assert_error(no_reason, 400, code="parameter_missing", param="reason")
    reactivated = await api.http.post(
        reactivate, json={"reason": "review closed"}, headers=bearer(staff)
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
    missing = await api.http.post(
        "/v1/admin/merchants/acct_nope/approve", json={"reason": "x"}, headers=bearer(staff)
    )
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
    # Staff, but the staff API (as the console) waits for two-factor sign-in.
    refused = await api.http.get("/v1/admin/merchants", headers=bearer(token))
    assert_error(refused, 403, code="two_factor_required")
