from __future__ import annotations

import datetime as dt

from sqlalchemy import text

from mboa.kit.time import utc_now
from mboa.ledger.service import ledger
from mboa.postgres import Database, TenantContext, set_tenant
from tests.helpers import Api, assert_error, bearer


async def collect(
    db: Database, merchant_id: str, *, livemode: bool, amount: int, source: str
) -> str:
    async with db.platform_transaction() as session:
        result = await ledger.post_collection(
            session,
            merchant_id=merchant_id,
            livemode=livemode,
            operator="mtn_momo",
            amount=amount,
            currency="XAF",
            source=source,
            idempotency_key=f"collect:{source}",
        )
    assert result.ok
    return result.transaction_id


async def settle_all(db: Database) -> None:
    async with db.platform_transaction() as session:
        await ledger.settle_due(session, now=utc_now() + dt.timedelta(days=2))


class TestBalance:
    async def test_pending_then_available(self, api: Api, ledger_db: Database) -> None:
        account = await api.signup()
        empty = await api.http.get("/v1/balance", headers=account.key_headers)
        assert empty.status_code == 200, empty.text
        assert empty.json()["available"] == [{"amount": 0, "currency": "XAF"}]

        await collect(ledger_db, account.merchant_id, livemode=False, amount=10_000, source="pi_a")
        body = (await api.http.get("/v1/balance", headers=account.key_headers)).json()
        assert body["object"] == "balance"
        assert body["livemode"] is False
        assert body["pending"] == [{"amount": 9_800, "currency": "XAF"}]
        assert body["available"] == [{"amount": 0, "currency": "XAF"}]

        await settle_all(ledger_db)
        body = (await api.http.get("/v1/balance", headers=account.key_headers)).json()
        assert body["pending"] == [{"amount": 0, "currency": "XAF"}]
        assert body["available"] == [{"amount": 9_800, "currency": "XAF"}]

    async def test_requires_a_key(self, api: Api, ledger_db: Database) -> None:
        assert_error(await api.http.get("/v1/balance"), 401)

    async def test_creation_filter_beyond_representable_time_is_400(
        self, api: Api, ledger_db: Database
    ) -> None:
        account = await api.signup()
        for param, value in (("created[gte]", 13691155051651), ("created[lt]", -1)):
            response = await api.http.get(
                "/v1/balance_transactions", params={param: value}, headers=account.key_headers
            )
            assert_error(response, 400, param=param)


class TestBalanceTransactions:
    async def test_list_retrieve_and_filters(self, api: Api, ledger_db: Database) -> None:
        account = await api.signup()
        first = await collect(
            ledger_db, account.merchant_id, livemode=False, amount=10_000, source="pi_1"
        )
        second = await collect(
            ledger_db, account.merchant_id, livemode=False, amount=3_000, source="pi_2"
        )

        listed = await api.http.get("/v1/balance_transactions", headers=account.key_headers)
        assert listed.status_code == 200, listed.text
        data = listed.json()["data"]
        assert [row["id"] for row in data] == [second, first]  # newest first
        row = data[1]
        assert row["object"] == "balance_transaction"
        assert (row["amount"], row["fee"], row["net"]) == (10_000, 200, 9_800)
        assert row["type"] == "payment"
        assert row["source"] == "pi_1"
        assert row["status"] == "pending"
        assert row["available_on"] > row["created"]
        assert row["fee_details"] == [
            {"amount": 200, "currency": "XAF", "type": "mboa_fee", "description": "Mboa Pay fee"}
        ]

        await settle_all(ledger_db)
        retrieved = await api.http.get(
            f"/v1/balance_transactions/{first}", headers=account.key_headers
        )
        assert retrieved.status_code == 200
        assert retrieved.json()["status"] == "available"
        # The settlement itself is internal: still two balance transactions.
        listed = await api.http.get("/v1/balance_transactions", headers=account.key_headers)
        assert len(listed.json()["data"]) == 2

        by_source = await api.http.get(
            "/v1/balance_transactions", params={"source": "pi_2"}, headers=account.key_headers
        )
        assert [row["id"] for row in by_source.json()["data"]] == [second]
        by_type = await api.http.get(
            "/v1/balance_transactions", params={"type": "payout"}, headers=account.key_headers
        )
        assert by_type.json()["data"] == []
        future = int((utc_now() + dt.timedelta(hours=1)).timestamp())
        later = await api.http.get(
            "/v1/balance_transactions", params={"created[gte]": future}, headers=account.key_headers
        )
        assert later.json()["data"] == []
        page = await api.http.get(
            "/v1/balance_transactions", params={"limit": 1}, headers=account.key_headers
        )
        assert page.json()["has_more"] is True
        rest = await api.http.get(
            "/v1/balance_transactions",
            params={"limit": 1, "starting_after": second},
            headers=account.key_headers,
        )
        assert [row["id"] for row in rest.json()["data"]] == [first]

    async def test_created_filters_in_every_stripe_form(
        self, api: Api, ledger_db: Database
    ) -> None:
        account = await api.signup()
        txn = await collect(
            ledger_db, account.merchant_id, livemode=False, amount=1_000, source="pi_t"
        )
        retrieved = await api.http.get(
            f"/v1/balance_transactions/{txn}", headers=account.key_headers
        )
        t = retrieved.json()["created"]
        customer = await api.create_customer(account.secret_key, name="Ama")
        c = customer["created"]

        async def ids(url: str, params: dict[str, int]) -> list[str]:
            response = await api.http.get(url, params=params, headers=account.key_headers)
            assert response.status_code == 200, response.text
            return [row["id"] for row in response.json()["data"]]

        for url, created, expected in (
            ("/v1/balance_transactions", t, txn),
            ("/v1/customers", c, customer["id"]),
        ):
            for params, found in (
                ({"created": created}, True),
                ({"created": created - 1}, False),
                ({"created[gt]": created}, False),
                ({"created[gt]": created - 1}, True),
                ({"created[gte]": created}, True),
                ({"created[lt]": created}, False),
                ({"created[lt]": created + 1}, True),
                ({"created[lte]": created}, True),
                ({"created[lte]": created - 1}, False),
                ({"created[gte]": created, "created[lte]": created}, True),
            ):
                assert (await ids(url, params) == [expected]) is found, (url, params)
            assert_error(
                await api.http.get(
                    url, params={"created[gt]": 253_402_300_799}, headers=account.key_headers
                ),
                400,
                param="created[gt]",
            )

    async def test_unknown_type_is_400_naming_the_parameter(
        self, api: Api, ledger_db: Database
    ) -> None:
        account = await api.signup()
        for value in ("bogus", "PAYMENT", "payment_reversal_reversal", ""):
            response = await api.http.get(
                "/v1/balance_transactions", params={"type": value}, headers=account.key_headers
            )
            assert_error(response, 400, param="type")

    async def test_reversals_are_typed_after_what_they_undo(
        self, api: Api, ledger_db: Database
    ) -> None:
        account = await api.signup()
        payment = await collect(
            ledger_db, account.merchant_id, livemode=False, amount=5_000, source="pi_r"
        )
        async with ledger_db.platform_transaction() as session:
            reversal = await ledger.reverse(session, payment, idempotency_key="undo:pi_r")
        assert reversal.ok
        async with ledger_db.platform_transaction() as session:
            again = await ledger.reverse(
                session, reversal.transaction_id, idempotency_key="redo:pi_r"
            )
        assert again.ok

        async def listed(type_: str) -> list[tuple[str, int]]:
            response = await api.http.get(
                "/v1/balance_transactions", params={"type": type_}, headers=account.key_headers
            )
            assert response.status_code == 200, response.text
            return [(row["id"], row["net"]) for row in response.json()["data"]]

        assert await listed("payment_reversal") == [(reversal.transaction_id, -4_900)]
        # Undoing the reversal applies the payment again: typed as one, with its amounts.
        assert await listed("payment") == [(again.transaction_id, 4_900), (payment, 4_900)]

    async def test_statuses_add_up_to_the_balance_through_a_reversal(
        self, api: Api, ledger_db: Database
    ) -> None:
        account = await api.signup()
        kept = await collect(
            ledger_db, account.merchant_id, livemode=False, amount=10_000, source="pi_k"
        )
        undone = await collect(
            ledger_db, account.merchant_id, livemode=False, amount=5_000, source="pi_u"
        )
        async with ledger_db.platform_transaction() as session:
            assert (await ledger.reverse(session, undone, idempotency_key="undo:pi_u")).ok

        async def totals() -> tuple[dict[str, int], dict[str, int]]:
            balance = (await api.http.get("/v1/balance", headers=account.key_headers)).json()
            rows = (
                await api.http.get(
                    "/v1/balance_transactions", params={"limit": 100}, headers=account.key_headers
                )
            ).json()["data"]
            shown = {"pending": 0, "available": 0}
            for row in rows:
                shown[row["status"]] += row["net"]
            held = {kind: balance[kind][0]["amount"] for kind in ("pending", "available")}
            return shown, held

        shown, held = await totals()
        assert shown == held == {"pending": 9_800, "available": 0}
        statuses = {
            row["id"]: row["status"]
            for row in (
                await api.http.get("/v1/balance_transactions", headers=account.key_headers)
            ).json()["data"]
        }
        assert statuses[kept] == "pending"
        assert statuses[undone] == "available"  # closed by its reversal, which nets it out
        await settle_all(ledger_db)
        shown, held = await totals()
        assert shown == held == {"pending": 0, "available": 9_800}


class TestIsolation:
    async def test_merchants_and_modes_are_separate(self, api: Api, ledger_db: Database) -> None:
        a, a_live_key = await api.live_account()
        b = await api.signup()
        a_test = await collect(
            ledger_db, a.merchant_id, livemode=False, amount=1_000, source="pi_at"
        )
        a_live = await collect(
            ledger_db, a.merchant_id, livemode=True, amount=2_000, source="pi_al"
        )
        b_test = await collect(
            ledger_db, b.merchant_id, livemode=False, amount=4_000, source="pi_bt"
        )

        async def ids(key: str) -> list[str]:
            response = await api.http.get("/v1/balance_transactions", headers=bearer(key))
            assert response.status_code == 200, response.text
            return [row["id"] for row in response.json()["data"]]

        assert await ids(a.secret_key) == [a_test]
        assert await ids(a_live_key) == [a_live]
        assert await ids(b.secret_key) == [b_test]
        assert_error(
            await api.http.get(f"/v1/balance_transactions/{b_test}", headers=a.key_headers), 404
        )
        assert_error(
            await api.http.get(f"/v1/balance_transactions/{a_live}", headers=a.key_headers), 404
        )
        live_balance = (await api.http.get("/v1/balance", headers=bearer(a_live_key))).json()
        assert live_balance["livemode"] is True
        assert live_balance["pending"] == [{"amount": 1_960, "currency": "XAF"}]

    async def test_row_level_security_hides_platform_accounts(
        self, api: Api, ledger_db: Database
    ) -> None:
        a = await api.signup()
        b = await api.signup()
        await collect(ledger_db, a.merchant_id, livemode=False, amount=1_000, source="pi_x")
        await collect(ledger_db, b.merchant_id, livemode=False, amount=1_000, source="pi_y")
        async with ledger_db.app_sessions() as session, session.begin():
            # Without a tenant the API role sees no ledger row at all.
            assert (
                await session.execute(text("SELECT count(*) FROM ledger_accounts"))
            ).scalar() == 0
            await set_tenant(session, TenantContext(a.merchant_id, False))
            rows = (
                await session.execute(text("SELECT merchant_id, kind FROM ledger_accounts"))
            ).all()
            # A's pending account only: no platform account (fee revenue, operator float), no B.
            assert rows == [(a.merchant_id, "pending")]
            txns = (
                await session.execute(text("SELECT merchant_id FROM ledger_transactions"))
            ).all()
            assert txns == [(a.merchant_id,)]
