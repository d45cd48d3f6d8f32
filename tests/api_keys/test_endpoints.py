from __future__ import annotations

import asyncio
import time

import pytest

from mboa.config import Settings
from tests.conftest import other_api
from tests.helpers import Api, assert_error, bearer


class TestCreate:
    async def test_secret_shown_once_stored_as_hash(self, api: Api, owner_connection) -> None:  # type: ignore[no-untyped-def]
        account = await api.signup()
        created = await api.create_key(account, name="backend")
        secret = created["secret"]
        assert secret.startswith("sk_test_")
        row = await owner_connection.fetchrow("SELECT * FROM api_keys WHERE id = $1", created["id"])
        assert row["last4"] == secret[-4:]
        assert secret not in str(dict(row))
        listed = await api.http.get(
            f"/v1/merchants/{account.merchant_id}/api_keys", headers=account.user_headers
        )
        assert listed.status_code == 200
        assert all(k["secret"] is None for k in listed.json()["data"])
        one = await api.http.get(
            f"/v1/merchants/{account.merchant_id}/api_keys/{created['id']}",
            headers=account.user_headers,
        )
        assert one.json()["secret"] is None
        assert one.json()["redacted"] == f"sk_test_…{secret[-4:]}"
        assert (await api.http.get("/v1/account", headers=bearer(secret))).status_code == 200

    async def test_live_keys_only_after_approval(self, api: Api) -> None:
        account = await api.signup()
        response = await api.http.post(
            f"/v1/merchants/{account.merchant_id}/api_keys",
            params={"livemode": "true"},
            json={},
            headers=account.user_headers,
        )
        assert_error(response, 403, code="account_not_live")
        await api.approve(account)
        live = await api.create_key(account, livemode=True)
        assert live["secret"].startswith("sk_live_")
        account_view = await api.http.get("/v1/account", headers=bearer(live["secret"]))
        assert account_view.json()["livemode"] is True

    async def test_publishable_key(self, api: Api) -> None:
        account = await api.signup()
        key = await api.create_key(account, type="publishable")
        assert key["secret"].startswith("pk_test_")
        # A publishable key identifies the merchant but may not read private resources.
        assert_error(
            await api.http.get("/v1/customers", headers=bearer(key["secret"])),
            403,
            code="insufficient_permissions",
        )


class TestAuthentication:
    async def test_unknown_key(self, api: Api) -> None:
        response = await api.http.get("/v1/account", headers=bearer("sk_test_" + "x" * 43))
        assert_error(response, 401, code="api_key_invalid", type_="authentication_error")

    async def test_missing_key(self, api: Api) -> None:
        response = await api.http.get("/v1/account")
        assert_error(response, 401, code="api_key_missing")
        assert response.headers["www-authenticate"].startswith("Bearer")

    async def test_basic_auth_with_key_as_username(self, api: Api) -> None:
        account = await api.signup()
        response = await api.http.get("/v1/account", auth=(account.secret_key, ""))
        assert response.status_code == 200


class TestRevoke:
    async def test_revoked_key_gets_401_immediately(self, api: Api) -> None:
        account = await api.signup()
        key = await api.create_key(account)
        assert (await api.http.get("/v1/account", headers=bearer(key["secret"]))).status_code == 200
        revoked = await api.http.post(
            f"/v1/merchants/{account.merchant_id}/api_keys/{key['id']}/revoke",
            headers=account.user_headers,
        )
        assert revoked.status_code == 200
        assert revoked.json()["revoked_at"] is not None
        response = await api.http.get("/v1/account", headers=bearer(key["secret"]))
        assert_error(response, 401, code="api_key_revoked")


class TestExpiry:
    async def test_key_stops_at_its_expiry(self, api: Api) -> None:
        account = await api.signup()
        key = await api.create_key(account, expires_at=int(time.time()) + 2)
        assert (await api.http.get("/v1/account", headers=bearer(key["secret"]))).status_code == 200
        await asyncio.sleep(2.2)
        response = await api.http.get("/v1/account", headers=bearer(key["secret"]))
        assert_error(response, 401, code="api_key_expired")

    async def test_expiry_in_the_past_is_rejected(self, api: Api) -> None:
        account = await api.signup()
        response = await api.http.post(
            f"/v1/merchants/{account.merchant_id}/api_keys",
            json={"expires_at": int(time.time()) - 10},
            headers=account.user_headers,
        )
        assert_error(response, 400, param="expires_at")

    @pytest.mark.parametrize("expires_at", [-1, 10**15])
    async def test_expiry_outside_representable_time_is_400(
        self, api: Api, expires_at: int
    ) -> None:
        account = await api.signup()
        response = await api.http.post(
            f"/v1/merchants/{account.merchant_id}/api_keys",
            json={"expires_at": expires_at},
            headers=account.user_headers,
        )
        assert_error(response, 400, param="expires_at")


class TestRoll:
    async def test_old_key_works_during_overlap_then_stops(self, api: Api) -> None:
        account = await api.signup()
        old = await api.create_key(account, name="server")
        rolled = await api.http.post(
            f"/v1/merchants/{account.merchant_id}/api_keys/{old['id']}/roll",
            json={"expires_in": 2},
            headers=account.user_headers,
        )
        assert rolled.status_code == 200, rolled.text
        new = rolled.json()
        assert new["secret"].startswith("sk_test_")
        assert new["secret"] != old["secret"]
        assert new["name"] == "server"
        for secret in (old["secret"], new["secret"]):
            assert (await api.http.get("/v1/account", headers=bearer(secret))).status_code == 200
        old_view = await api.http.get(
            f"/v1/merchants/{account.merchant_id}/api_keys/{old['id']}",
            headers=account.user_headers,
        )
        assert old_view.json()["rolled_to"] == new["id"]
        await asyncio.sleep(2.2)
        assert_error(await api.http.get("/v1/account", headers=bearer(old["secret"])), 401)
        assert (await api.http.get("/v1/account", headers=bearer(new["secret"]))).status_code == 200

    async def test_roll_without_overlap_stops_old_key_now(self, api: Api) -> None:
        account = await api.signup()
        old = await api.create_key(account)
        await api.http.post(
            f"/v1/merchants/{account.merchant_id}/api_keys/{old['id']}/roll",
            json={"expires_in": 0},
            headers=account.user_headers,
        )
        assert_error(await api.http.get("/v1/account", headers=bearer(old["secret"])), 401)

    async def test_roll_of_revoked_key_refused(self, api: Api) -> None:
        account = await api.signup()
        old = await api.create_key(account)
        base = f"/v1/merchants/{account.merchant_id}/api_keys/{old['id']}"
        await api.http.post(f"{base}/revoke", headers=account.user_headers)
        response = await api.http.post(f"{base}/roll", json={}, headers=account.user_headers)
        assert_error(response, 400, code="api_key_inactive")

    async def test_overlap_capped_at_seven_days(self, api: Api) -> None:
        account = await api.signup()
        old = await api.create_key(account)
        response = await api.http.post(
            f"/v1/merchants/{account.merchant_id}/api_keys/{old['id']}/roll",
            json={"expires_in": 8 * 86400},
            headers=account.user_headers,
        )
        assert_error(response, 400, param="expires_in")


class TestRestrictedKeys:
    async def test_scopes_limit_access(self, api: Api) -> None:
        account = await api.signup()
        reader = await api.create_key(account, type="restricted", scopes=["customers:read"])
        assert reader["secret"].startswith("rk_test_")
        listed = await api.http.get("/v1/customers", headers=bearer(reader["secret"]))
        assert listed.status_code == 200
        created = await api.http.post("/v1/customers", json={}, headers=bearer(reader["secret"]))
        assert_error(created, 403, code="insufficient_permissions", type_="permission_error")
        account_view = await api.http.get("/v1/account", headers=bearer(reader["secret"]))
        assert_error(account_view, 403)

    async def test_write_scope_implies_read(self, api: Api) -> None:
        account = await api.signup()
        writer = await api.create_key(account, type="restricted", scopes=["customers:write"])
        created = await api.create_customer(writer["secret"], name="Ama")
        got = await api.http.get(f"/v1/customers/{created['id']}", headers=bearer(writer["secret"]))
        assert got.status_code == 200

    async def test_unknown_scope_and_missing_scopes(self, api: Api) -> None:
        account = await api.signup()
        url = f"/v1/merchants/{account.merchant_id}/api_keys"
        bad = await api.http.post(
            url,
            json={"type": "restricted", "scopes": ["payouts:destroy"]},
            headers=account.user_headers,
        )
        assert_error(bad, 400, param="scopes")
        empty = await api.http.post(url, json={"type": "restricted"}, headers=account.user_headers)
        assert_error(empty, 400, param="scopes")
        secret_with_scopes = await api.http.post(
            url, json={"type": "secret", "scopes": ["customers:read"]}, headers=account.user_headers
        )
        assert_error(secret_with_scopes, 400, param="scopes")


async def test_revocation_reaches_other_api_processes(
    api: Api, settings: Settings, database_url: str, redis_url: str
) -> None:
    """Key look-ups are cached per process; a revocation in one process evicts them everywhere."""
    account = await api.signup()
    key = await api.create_key(account)
    async with other_api(settings, database_url, redis_url) as (_, client):
        await asyncio.sleep(0.2)  # let the other process subscribe
        assert (await client.get("/v1/account", headers=bearer(key["secret"]))).status_code == 200
        revoked = await api.http.post(
            f"/v1/merchants/{account.merchant_id}/api_keys/{key['id']}/revoke",
            headers=account.user_headers,
        )
        assert revoked.status_code == 200
        status = 200
        for _ in range(40):
            status = (await client.get("/v1/account", headers=bearer(key["secret"]))).status_code
            if status == 401:
                break
            await asyncio.sleep(0.05)
        assert status == 401
