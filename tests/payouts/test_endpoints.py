"""Payouts through the real API, without a worker: what a request writes and reserves, what it
refuses (nothing written), staff review, and who may see what. The operator side: test_flow.py."""

from __future__ import annotations

import asyncpg
import orjson
import pytest

from mboa.postgres import Database
from tests.helpers import Api, assert_error, bearer
from tests.payouts.helpers import MTN_OK, balance, counts, create, fund


async def test_create_reserves_the_amount_and_enqueues_the_transfer_in_one_commit(
    api: Api, db: Database, owner_connection: asyncpg.Connection
) -> None:
    account = await api.signup()
    available = await fund(db, account.merchant_id, 100_000)
    assert await balance(api.http, account.secret_key) == (available, 0)
    before = await counts(owner_connection)
    response = await create(
        api.http,
        account.secret_key,
        amount=5000,
        description="Weekly withdrawal",
        metadata={"week": "49"},
    )
    assert response.status_code == 200, response.text
    payout = response.json()
    assert payout["id"].startswith("po_")
    assert payout["object"] == "payout"
    assert payout["status"] == "pending"
    assert payout["livemode"] is False
    assert payout["amount"] == 5000
    assert payout["currency"] == "XAF"
    assert payout["destination"]["provider"] == "mtn_momo"
    assert payout["destination"]["phone"] != MTN_OK
    assert payout["destination"]["phone"][-2:] == "00"
    assert payout["review_status"] == "not_required"
    assert payout["metadata"] == {"week": "49"}
    assert payout["balance_transaction"].startswith("txn_")
    # Our reference exists before any operator call (MTN: a UUID v4 of ours).
    assert len(payout["operator_reference"]) == 36
    assert await balance(api.http, account.secret_key) == (available - 5000, 5000)
    assert await counts(owner_connection) == (
        before[0] + 1,
        before[1] + 1,
        before[2] + 1,
        before[3] + 1,
    )
    job = await owner_connection.fetchrow("SELECT task, payload FROM outbox")
    assert job["task"] == "payouts.send"
    dsb = await owner_connection.fetchrow("SELECT * FROM disbursements")
    assert orjson.loads(job["payload"]) == {"disbursement_id": dsb["id"]}
    assert dsb["source_type"] == "payout"
    assert dsb["source_id"] == payout["id"]
    assert dsb["operator_reference"] == payout["operator_reference"]
    event = await owner_connection.fetchrow("SELECT * FROM events")
    assert event["type"] == "payout.created"
    assert orjson.loads(event["data"])["object"]["id"] == payout["id"]
    got = await api.http.get(f"/v1/payouts/{payout['id']}", headers=bearer(account.secret_key))
    assert got.status_code == 200
    assert got.json() == payout


async def test_a_payout_above_the_available_balance_is_refused_and_nothing_is_written(
    api: Api, db: Database, owner_connection: asyncpg.Connection
) -> None:
    account = await api.signup()
    # Collected but not settled: pending, not available.
    empty = await create(api.http, account.secret_key, amount=1000)
    assert_error(empty, 400, code="balance_insufficient", param="amount")
    available = await fund(db, account.merchant_id, 10_000)
    before = await counts(owner_connection)
    response = await create(api.http, account.secret_key, amount=available + 1)
    assert_error(response, 400, code="balance_insufficient", param="amount")
    assert str(available) in response.json()["error"]["message"]
    assert await counts(owner_connection) == before
    assert await balance(api.http, account.secret_key) == (available, 0)
    # Exactly the balance is fine; then nothing is left.
    assert (await create(api.http, account.secret_key, amount=available)).status_code == 200
    again = await create(api.http, account.secret_key, amount=100)
    assert_error(again, 400, code="balance_insufficient", param="amount")


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({"currency": "EUR"}, "currency_unsupported", "currency"),
        ({"amount": 0}, "amount_too_small", "amount"),
        ({"amount": -5}, "amount_too_small", "amount"),
        ({"amount": 1_000_001}, "amount_too_large", "amount"),
        ({"amount": 50.5}, "parameter_invalid", "amount"),
        ({"destination": {"phone": "12"}}, "phone_number_invalid", "destination[phone]"),
        ({"destination": {"phone": "+237660000000"}}, "phone_number_unsupported", None),
        ({"destination": {"phone": "+33612345678"}}, "phone_number_unsupported", None),
        (
            {"destination": {"phone": MTN_OK, "provider": "nexttel"}},
            "parameter_invalid",
            "destination[provider]",
        ),
        ({"destination": {}}, "parameter_missing", "destination[phone]"),
        ({"surprise": 1}, "parameter_unknown", "surprise"),
    ],
)
async def test_bad_input_names_the_parameter_and_writes_nothing(
    api: Api,
    db: Database,
    owner_connection: asyncpg.Connection,
    body: dict[str, object],
    code: str,
    param: str | None,
) -> None:
    account = await api.signup()
    available = await fund(db, account.merchant_id, 2_000_000)
    before = await counts(owner_connection)
    response = await create(api.http, account.secret_key, **body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == code, error
    if param is not None:
        assert error["param"] == param, error
    else:
        assert error["param"].startswith("destination"), error
    assert await counts(owner_connection) == before
    assert await balance(api.http, account.secret_key) == (available, 0)


async def test_cancel_while_pending_releases_the_funds_and_a_final_payout_cannot_move(
    api: Api, db: Database, owner_connection: asyncpg.Connection
) -> None:
    account = await api.signup()
    available = await fund(db, account.merchant_id, 50_000)
    payout = (await create(api.http, account.secret_key, amount=7000)).json()
    response = await api.http.post(
        f"/v1/payouts/{payout['id']}/cancel", headers=bearer(account.secret_key)
    )
    assert response.status_code == 200, response.text
    canceled = response.json()
    assert canceled["status"] == "canceled"
    assert canceled["cancellation_reason"] == "requested_by_merchant"
    assert canceled["canceled_at"] is not None
    assert await balance(api.http, account.secret_key) == (available, 0)
    types = [r["type"] for r in await owner_connection.fetch("SELECT type FROM events ORDER BY id")]
    assert types == ["payout.created", "payout.canceled"]
    again = await api.http.post(
        f"/v1/payouts/{payout['id']}/cancel", headers=bearer(account.secret_key)
    )
    assert_error(again, 409, code="payout_unexpected_state", param="id")
    assert await balance(api.http, account.secret_key) == (available, 0)
    # The balance transaction of the release is visible to the merchant.
    txns = await api.http.get(
        "/v1/balance_transactions",
        params={"source": payout["id"]},
        headers=bearer(account.secret_key),
    )
    assert {t["type"] for t in txns.json()["data"]} >= {"payout", "payout_failure"}


async def test_list_filters_by_status_and_created_and_pages(api: Api, db: Database) -> None:
    account = await api.signup()
    await fund(db, account.merchant_id, 100_000)
    ids = [(await create(api.http, account.secret_key, amount=1000)).json()["id"] for _ in range(3)]
    await api.http.post(f"/v1/payouts/{ids[0]}/cancel", headers=bearer(account.secret_key))
    key = bearer(account.secret_key)
    everything = (await api.http.get("/v1/payouts", headers=key)).json()
    assert [p["id"] for p in everything["data"]] == ids[::-1]
    assert everything["object"] == "list"
    assert everything["url"] == "/v1/payouts"
    pending = (await api.http.get("/v1/payouts", params={"status": "pending"}, headers=key)).json()
    assert [p["id"] for p in pending["data"]] == [ids[2], ids[1]]
    canceled = await api.http.get("/v1/payouts", params={"status": "canceled"}, headers=key)
    assert [p["id"] for p in canceled.json()["data"]] == [ids[0]]
    page = (await api.http.get("/v1/payouts", params={"limit": 1}, headers=key)).json()
    assert page["has_more"] is True
    assert [p["id"] for p in page["data"]] == [ids[2]]
    rest = await api.http.get(
        "/v1/payouts", params={"limit": 5, "starting_after": ids[2]}, headers=key
    )
    assert [p["id"] for p in rest.json()["data"]] == [ids[1], ids[0]]
    created = everything["data"][0]["created"]
    later = await api.http.get("/v1/payouts", params={"created[gt]": created}, headers=key)
    assert later.json()["data"] == []
    bad = await api.http.get("/v1/payouts", params={"status": "lost"}, headers=key)
    assert_error(bad, 400, code="parameter_invalid", param="status")
    unknown = await api.http.get("/v1/payouts", params={"statut": "paid"}, headers=key)
    assert_error(unknown, 400, code="parameter_unknown", param="statut")


async def test_tenant_isolation_on_every_route(
    api: Api, db: Database, owner_connection: asyncpg.Connection
) -> None:
    owner, other = await api.signup(), await api.signup()
    available = await fund(db, owner.merchant_id, 50_000)
    other_available = await fund(db, other.merchant_id, 50_000)
    payout = (await create(api.http, owner.secret_key, amount=3000)).json()
    intruder = bearer(other.secret_key)
    got = await api.http.get(f"/v1/payouts/{payout['id']}", headers=intruder)
    assert_error(got, 404, code="resource_missing", param="id")
    canceled = await api.http.post(f"/v1/payouts/{payout['id']}/cancel", headers=intruder)
    assert_error(canceled, 404, code="resource_missing", param="id")
    listed = await api.http.get("/v1/payouts", headers=intruder)
    assert listed.json()["data"] == []
    # The owner's live mode is another tenant too.
    await api.approve(owner)
    live = bearer(str((await api.create_key(owner, livemode=True))["secret"]))
    assert (await api.http.get(f"/v1/payouts/{payout['id']}", headers=live)).status_code == 404
    live_cancel = await api.http.post(f"/v1/payouts/{payout['id']}/cancel", headers=live)
    assert live_cancel.status_code == 404
    assert (await api.http.get("/v1/payouts", headers=live)).json()["data"] == []
    # Nothing of the owner's moved; the intruder's own money was never touched.
    row = await owner_connection.fetchrow("SELECT status FROM payouts WHERE id = $1", payout["id"])
    assert row["status"] == "pending"
    assert await balance(api.http, owner.secret_key) == (available - 3000, 3000)
    assert await balance(api.http, other.secret_key) == (other_available, 0)
    # Staff routes are for staff only.
    for path in ("approve", "reject"):
        for headers in (bearer(owner.secret_key), owner.user_headers):
            response = await api.http.post(
                f"/v1/admin/payouts/{payout['id']}/{path}", headers=headers
            )
            assert response.status_code in (401, 403), response.text


async def test_restricted_keys_and_roles_need_the_payouts_permission(
    api: Api, db: Database
) -> None:
    account = await api.signup()
    await fund(db, account.merchant_id, 50_000)
    reader = await api.create_key(account, type="restricted", scopes=["payouts:read"])
    refused = await create(api.http, str(reader["secret"]))
    assert_error(refused, 403, code="insufficient_permissions")
    assert (
        await api.http.get("/v1/payouts", headers=bearer(str(reader["secret"])))
    ).status_code == 200


async def test_live_payouts_above_the_threshold_wait_for_staff(
    api: Api, db: Database, owner_connection: asyncpg.Connection
) -> None:
    account, live_key = await api.live_account()
    threshold = api.state.settings.payouts.approval_threshold
    available = await fund(db, account.merchant_id, 2_000_000, livemode=True)
    small = (await create(api.http, live_key, amount=threshold)).json()
    assert small["review_status"] == "not_required"
    assert small["livemode"] is True
    big = (await create(api.http, live_key, amount=threshold + 1)).json()
    assert big["review_status"] == "awaiting"
    assert big["status"] == "pending"
    jobs = await owner_connection.fetch("SELECT payload FROM outbox WHERE task = 'payouts.send'")
    assert len(jobs) == 1  # the small one only
    assert await balance(api.http, live_key) == (
        available - 2 * threshold - 1,
        2 * threshold + 1,
    )
    staff = bearer(await api.staff())
    approved = await api.http.post(f"/v1/admin/payouts/{big['id']}/approve", headers=staff)
    assert approved.status_code == 200, approved.text
    assert approved.json()["review_status"] == "approved"
    assert approved.json()["status"] == "pending"
    jobs = await owner_connection.fetch("SELECT payload FROM outbox WHERE task = 'payouts.send'")
    assert len(jobs) == 2
    twice = await api.http.post(f"/v1/admin/payouts/{big['id']}/approve", headers=staff)
    assert_error(twice, 409, code="payout_unexpected_state", param="id")
    no_review = await api.http.post(f"/v1/admin/payouts/{small['id']}/reject", headers=staff)
    assert_error(no_review, 409, code="payout_unexpected_state", param="id")
    # A second big one is rejected: canceled, funds back.
    other = (await create(api.http, live_key, amount=threshold + 1)).json()
    rejected = await api.http.post(f"/v1/admin/payouts/{other['id']}/reject", headers=staff)
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["status"] == "canceled"
    assert rejected.json()["cancellation_reason"] == "rejected_by_platform"
    assert rejected.json()["review_status"] == "rejected"
    assert await balance(api.http, live_key) == (
        available - 2 * threshold - 1,
        2 * threshold + 1,
    )
    # The merchant may cancel one while it waits.
    waiting = (await create(api.http, live_key, amount=threshold + 1)).json()
    withdrawn = await api.http.post(f"/v1/payouts/{waiting['id']}/cancel", headers=bearer(live_key))
    assert withdrawn.json()["status"] == "canceled"
    assert withdrawn.json()["cancellation_reason"] == "requested_by_merchant"
    late = await api.http.post(f"/v1/admin/payouts/{waiting['id']}/approve", headers=staff)
    assert_error(late, 409, code="payout_unexpected_state", param="id")
    missing = await api.http.post("/v1/admin/payouts/po_nope/approve", headers=staff)
    assert_error(missing, 404, code="resource_missing", param="id")
    types = [
        r["type"]
        for r in await owner_connection.fetch(
            "SELECT type FROM events WHERE object_id = $1 ORDER BY id", big["id"]
        )
    ]
    assert types == ["payout.created", "payout.approved"]
    # Test mode never waits, whatever the amount.
    await fund(db, account.merchant_id, 2_000_000)
    test_payout = (await create(api.http, account.secret_key, amount=threshold + 1)).json()
    assert test_payout["review_status"] == "not_required"
