"""Staff set a merchant's fee plan; the next collection is priced by it."""

from __future__ import annotations

from typing import Any

import pytest

from mboa.exceptions import BadRequest
from mboa.ledger.exceptions import FeePlanMissing
from mboa.ledger.fees import fee_plan
from mboa.postgres import Database
from tests.helpers import Api, assert_error, bearer
from tests.ledger.test_endpoints import collect


async def test_staff_see_the_defaults_then_set_a_merchants_own_plan(
    api: Api, ledger_db: Database
) -> None:
    account = await api.signup()
    staff = bearer(await api.staff())
    url = f"/v1/admin/merchants/{account.merchant_id}/fee_plans"

    listed = await api.http.get(url, headers=staff)
    assert listed.status_code == 200, listed.text
    assert [(p["operator"], p["default"]) for p in listed.json()] == [
        ("mtn_momo", True),
        ("orange_money", True),
    ]

    body = {"operator": "mtn_momo", "percent_bps": 150, "fixed_amount": 25}
    created = await api.http.post(url, json=body, headers=staff)
    assert created.status_code == 200, created.text
    assert created.json() == {
        "object": "fee_plan", "operator": "mtn_momo", "currency": "XAF", "percent_bps": 150,
        "fixed_amount": 25, "settlement_delay_seconds": 86_400, "default": False,
    }  # fmt: skip
    listed = (await api.http.get(url, headers=staff)).json()
    assert [(p["operator"], p["default"]) for p in listed] == [
        ("mtn_momo", False),
        ("orange_money", True),
    ]

    txn = await collect(ledger_db, account.merchant_id, livemode=False, amount=10_000, source="pi")
    shown = await api.http.get(f"/v1/balance_transactions/{txn}", headers=account.key_headers)
    assert (shown.json()["fee"], shown.json()["net"]) == (175, 9_825)  # 1.5 % + 25

    # Back to the default: the answer is the plan that now applies; doing it twice is harmless.
    for _ in range(2):
        removed = await api.http.delete(f"{url}/mtn_momo", headers=staff)
        assert removed.status_code == 200, removed.text
        assert (removed.json()["percent_bps"], removed.json()["default"]) == (200, True)
    later = await collect(
        ledger_db, account.merchant_id, livemode=False, amount=10_000, source="pi2"
    )
    shown = await api.http.get(f"/v1/balance_transactions/{later}", headers=account.key_headers)
    assert shown.json()["fee"] == 200
    # The collection posted under the merchant's own plan keeps its fee.
    first = await api.http.get(f"/v1/balance_transactions/{txn}", headers=account.key_headers)
    assert first.json()["fee"] == 175
    assert_error(await api.http.delete(f"{url}/mtn", headers=staff), 400, param="operator")
    assert_error(
        await api.http.delete(f"{url}/mtn_momo?currency=EUR", headers=staff), 400, param="currency"
    )


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"operator": "mtn", "percent_bps": 1, "fixed_amount": 0}, "operator"),
        ({"operator": "mtn_momo", "percent_bps": 10_001, "fixed_amount": 0}, "percent_bps"),
        ({"operator": "mtn_momo", "percent_bps": -1, "fixed_amount": 0}, "percent_bps"),
        ({"operator": "mtn_momo", "percent_bps": 1, "fixed_amount": "5"}, "fixed_amount"),
        ({"operator": "mtn_momo", "percent_bps": 1.5, "fixed_amount": 0}, "percent_bps"),
        (
            {
                "operator": "mtn_momo",
                "percent_bps": 1,
                "fixed_amount": 0,
                "settlement_delay_seconds": 2**31,
            },
            "settlement_delay_seconds",
        ),
        (
            {"operator": "mtn_momo", "percent_bps": 1, "fixed_amount": 0, "currency": "EUR"},
            "currency",
        ),
        ({"operator": "mtn_momo", "percent_bps": 1, "fixed_amount": 0, "fee": 3}, "fee"),
        ({"operator": "mtn_momo", "fixed_amount": 0}, "percent_bps"),
    ],
)
async def test_bad_plans_are_400_naming_the_parameter(
    api: Api, ledger_db: Database, body: dict[str, Any], param: str
) -> None:
    account = await api.signup()
    staff = bearer(await api.staff())
    url = f"/v1/admin/merchants/{account.merchant_id}/fee_plans"
    assert_error(await api.http.post(url, json=body, headers=staff), 400, param=param)
    # Nothing was written: the merchant still has the defaults only.
    assert all(plan["default"] for plan in (await api.http.get(url, headers=staff)).json())


async def test_only_staff_and_only_known_merchants(api: Api, ledger_db: Database) -> None:
    account = await api.signup()
    url = f"/v1/admin/merchants/{account.merchant_id}/fee_plans"
    body = {"operator": "mtn_momo", "percent_bps": 0, "fixed_amount": 0}
    assert_error(await api.http.post(url, json=body, headers=account.user_headers), 403)
    assert_error(await api.http.get(url, headers=account.key_headers), 401)
    staff = bearer(await api.staff())
    missing = "/v1/admin/merchants/acct_01JDNOSUCHMERCHANT000000001/fee_plans"
    assert_error(await api.http.post(missing, json=body, headers=staff), 404)
    assert_error(await api.http.get(missing, headers=staff), 404)


async def test_the_service_checks_what_the_api_does(ledger_db: Database) -> None:
    async with ledger_db.platform_transaction() as session:
        for kwargs, param in (
            ({"operator": "mtn"}, "operator"),
            ({"currency": "ZZZ"}, "currency"),
            ({"settlement_delay_seconds": 2**31}, "settlement_delay_seconds"),
            ({"fixed_amount": -1}, "fixed_amount"),
        ):
            plan = {"operator": "mtn_momo", "currency": "XAF", "percent_bps": 0, "fixed_amount": 0}
            with pytest.raises(BadRequest) as refused:
                await fee_plan.set_plan(session, merchant_id="acct_x", **{**plan, **kwargs})
            assert refused.value.param == param
        # No plan at all (not even a default) for a currency: a platform set-up error.
        with pytest.raises(FeePlanMissing):
            await fee_plan.plan_for(
                session, merchant_id="acct_x", operator="mtn_momo", currency="XOF"
            )
