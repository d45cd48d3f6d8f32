"""Tenant isolation: merchant A can never read, list, update or infer merchant B's objects, nor
cross from test to live mode — and the database enforces it, not only the application."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from mboa.postgres import Database, TenantContext, set_tenant
from tests.helpers import Api, assert_error, bearer


async def test_api_isolation_between_merchants(api: Api) -> None:
    a = await api.signup()
    b = await api.signup()
    b_customer = await api.create_customer(b.secret_key, name="Secret", email="b@example.cm")
    a_customer = await api.create_customer(a.secret_key, name="Mine")

    missing = await api.http.get(f"/v1/customers/{b_customer['id']}", headers=a.key_headers)
    assert_error(missing, 404, code="resource_missing")
    # Same answer as an id that never existed: no way to infer that B's object exists.
    never = await api.http.get(
        "/v1/customers/cus_01M8DH00000000000000000000", headers=a.key_headers
    )
    assert missing.json()["error"]["message"].replace(b_customer["id"], "X") == never.json()[
        "error"
    ]["message"].replace("cus_01M8DH00000000000000000000", "X")

    update = await api.http.post(
        f"/v1/customers/{b_customer['id']}", json={"name": "pwned"}, headers=a.key_headers
    )
    assert_error(update, 404)
    delete = await api.http.delete(f"/v1/customers/{b_customer['id']}", headers=a.key_headers)
    assert_error(delete, 404)

    listed = await api.http.get("/v1/customers", headers=a.key_headers)
    assert [c["id"] for c in listed.json()["data"]] == [a_customer["id"]]
    by_email = await api.http.get(
        "/v1/customers", params={"email": "b@example.cm"}, headers=a.key_headers
    )
    assert by_email.json()["data"] == []
    cursor = await api.http.get(
        "/v1/customers", params={"starting_after": b_customer["id"]}, headers=a.key_headers
    )
    assert_error(cursor, 400, param="starting_after")

    still = await api.http.get(f"/v1/customers/{b_customer['id']}", headers=b.key_headers)
    assert still.json()["name"] == "Secret"


async def test_test_and_live_modes_are_separate(api: Api) -> None:
    account, live_key = await api.live_account()
    test_customer = await api.create_customer(account.secret_key, name="Test")
    live_customer = await api.create_customer(live_key, name="Live")
    assert test_customer["livemode"] is False
    assert live_customer["livemode"] is True

    assert_error(
        await api.http.get(f"/v1/customers/{live_customer['id']}", headers=account.key_headers), 404
    )
    assert_error(
        await api.http.get(f"/v1/customers/{test_customer['id']}", headers=bearer(live_key)), 404
    )
    live_list = await api.http.get("/v1/customers", headers=bearer(live_key))
    assert [c["id"] for c in live_list.json()["data"]] == [live_customer["id"]]


async def test_team_endpoints_hide_other_merchants(api: Api) -> None:
    a = await api.signup()
    b = await api.signup()
    for path in ("", "/members", "/api_keys"):
        response = await api.http.get(
            f"/v1/merchants/{b.merchant_id}{path}", headers=a.user_headers
        )
        assert_error(response, 404, param="merchant_id")
    key = await api.create_key(b)
    response = await api.http.post(
        f"/v1/merchants/{b.merchant_id}/api_keys/{key['id']}/revoke", headers=a.user_headers
    )
    assert_error(response, 404)
    # A's own merchant id in the path cannot reach B's key either.
    response = await api.http.get(
        f"/v1/merchants/{a.merchant_id}/api_keys/{key['id']}", headers=a.user_headers
    )
    assert_error(response, 404)


class TestDatabaseEnforcement:
    """The same guarantees with the application out of the way: raw SQL as the API role."""

    async def test_no_tenant_context_sees_nothing(self, api: Api, db: Database) -> None:
        account = await api.signup()
        await api.create_customer(account.secret_key, name="x")
        async with db.app_sessions() as session, session.begin():
            for table in (
                "customers",
                "api_keys",
                "merchants",
                "merchant_members",
                "idempotency_keys",
            ):
                count = (await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()
                assert count == 0, table

    async def test_context_shows_only_that_tenant(self, api: Api, db: Database) -> None:
        a = await api.signup()
        b = await api.signup()
        await api.create_customer(a.secret_key, name="a")
        await api.create_customer(b.secret_key, name="b")
        async with db.app_sessions() as session, session.begin():
            await set_tenant(session, TenantContext(a.merchant_id, livemode=False))
            names = (await session.execute(text("SELECT name FROM customers"))).scalars().all()
            assert names == ["a"]
            await set_tenant(session, TenantContext(a.merchant_id, livemode=True))
            assert (await session.execute(text("SELECT count(*) FROM customers"))).scalar_one() == 0

    async def test_read_path_shows_only_its_tenant_and_cannot_write(
        self, api: Api, db: Database
    ) -> None:
        a = await api.signup()
        b = await api.signup()
        await api.create_customer(a.secret_key, name="a")
        await api.create_customer(b.secret_key, name="b")
        async with db.tenant_reads(TenantContext(a.merchant_id, livemode=False)) as reads:
            assert [r["name"] for r in await reads.fetch("SELECT name FROM customers")] == ["a"]
            with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
                await reads.execute("UPDATE customers SET name = 'pwned'")
        async with db.tenant_reads(TenantContext(a.merchant_id, livemode=True)) as reads:
            assert await reads.fetchval("SELECT count(*) FROM customers") == 0
        # The settings end with the transaction: the pooled connection keeps no tenant.
        async with db.tenant_reads(TenantContext(b.merchant_id, livemode=False)) as reads:
            assert [r["name"] for r in await reads.fetch("SELECT name FROM customers")] == ["b"]
        pool = await db.reads.pool()
        async with pool.acquire() as bare:
            assert await bare.fetchval("SELECT current_setting('mboa.merchant_id', true)") in (
                None,
                "",
            )
            assert await bare.fetchval("SELECT count(*) FROM customers") == 0

    async def test_read_path_refuses_a_merchant_id_it_would_inline(self, db: Database) -> None:
        with pytest.raises(ValueError, match="not a merchant id"):
            async with db.tenant_reads(TenantContext("acct_x', true); --", livemode=False)):
                pass

    async def test_cannot_write_into_another_tenant(self, api: Api, db: Database) -> None:
        a = await api.signup()
        b = await api.signup()
        with pytest.raises(DBAPIError, match="row-level security"):
            async with db.app_sessions() as session, session.begin():
                await set_tenant(session, TenantContext(a.merchant_id, livemode=False))
                await session.execute(
                    text(
                        "INSERT INTO customers (id, merchant_id, livemode) VALUES ('cus_x', :m, false)"
                    ),
                    {"m": b.merchant_id},
                )

    async def test_update_of_other_tenant_touches_nothing(self, api: Api, db: Database) -> None:
        a = await api.signup()
        b = await api.signup()
        await api.create_customer(b.secret_key, name="b")
        async with db.app_sessions() as session, session.begin():
            await set_tenant(session, TenantContext(a.merchant_id, livemode=False))
            result = await session.execute(text("UPDATE customers SET name = 'pwned'"))
            assert result.rowcount == 0  # type: ignore[attr-defined]

    async def test_app_role_is_not_superuser_and_cannot_bypass(self, db: Database) -> None:
        async with db.app_sessions() as session:
            row = (
                await session.execute(
                    text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
                )
            ).one()
            assert tuple(row) == (False, False)
            forced = (
                await session.execute(
                    text(
                        "SELECT count(*) FROM pg_class WHERE relname IN"
                        " ('customers', 'api_keys', 'merchants', 'merchant_members', 'idempotency_keys')"
                        " AND relrowsecurity AND relforcerowsecurity"
                    )
                )
            ).scalar_one()
            assert forced == 5

    async def test_app_role_cannot_read_the_outbox(self, db: Database) -> None:
        with pytest.raises(DBAPIError, match="permission denied"):
            async with db.app_sessions() as session, session.begin():
                await session.execute(text("SELECT * FROM outbox"))
