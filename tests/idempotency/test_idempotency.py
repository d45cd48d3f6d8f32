from __future__ import annotations

import asyncio

from mboa.idempotency.service import fingerprint
from tests.helpers import Api, assert_error, bearer


async def _count_customers(owner_connection) -> int:  # type: ignore[no-untyped-def]
    return int(await owner_connection.fetchval("SELECT count(*) FROM customers"))


class TestReplay:
    async def test_same_key_same_body_replays_first_response(
        self, api: Api, owner_connection
    ) -> None:  # type: ignore[no-untyped-def]
        account = await api.signup()
        headers = {**account.key_headers, "Idempotency-Key": "order-42"}
        first = await api.http.post("/v1/customers", json={"name": "Ama"}, headers=headers)
        second = await api.http.post("/v1/customers", json={"name": "Ama"}, headers=headers)
        assert first.status_code == second.status_code == 200
        assert first.json() == second.json()
        assert second.headers["idempotent-replayed"] == "true"
        assert "idempotent-replayed" not in first.headers
        assert await _count_customers(owner_connection) == 1

    async def test_error_responses_are_replayed_too(self, api: Api) -> None:
        account = await api.signup()
        headers = {**account.key_headers, "Idempotency-Key": "missing-customer"}
        url = "/v1/customers/cus_01M8DH00000000000000000000"
        first = await api.http.post(url, json={"name": "x"}, headers=headers)
        # Even once the outcome would differ, the first response is what the key answers.
        second = await api.http.post(url, json={"name": "x"}, headers=headers)
        assert_error(first, 404, param="id")
        assert second.status_code == 404
        assert second.json()["error"]["code"] == first.json()["error"]["code"]
        assert second.headers["idempotent-replayed"] == "true"

    async def test_validation_failure_is_not_stored(self, api: Api, owner_connection) -> None:  # type: ignore[no-untyped-def]
        account = await api.signup()
        headers = {**account.key_headers, "Idempotency-Key": "retry-me"}
        bad = await api.http.post("/v1/customers", json={"name": 5}, headers=headers)
        assert_error(bad, 400, param="name")
        bad_phone = await api.http.post("/v1/customers", json={"phone": "12"}, headers=headers)
        assert_error(bad_phone, 400, param="phone")
        assert await owner_connection.fetchval("SELECT count(*) FROM idempotency_keys") == 0
        good = await api.http.post("/v1/customers", json={"name": "Ama"}, headers=headers)
        assert good.status_code == 200
        assert "idempotent-replayed" not in good.headers

    async def test_team_routes_replay_too(self, api: Api) -> None:
        # Team routes scope their transaction to the merchant alone; the key is stored all the
        # same, so a retry replays instead of answering 409 until the lock goes stale.
        owner = await api.signup()
        member = await api.signup()
        request = {
            "url": f"/v1/merchants/{owner.merchant_id}/members",
            "json": {"email": member.email, "role": "developer"},
            "headers": {**owner.user_headers, "Idempotency-Key": "invite-1"},
        }
        first = await api.http.post(**request)
        assert first.status_code == 200, first.text
        again = await api.http.post(**request)
        assert again.status_code == 200, again.text
        assert again.headers.get("idempotent-replayed") == "true"
        assert again.json() == first.json()


class TestConflict:
    async def test_same_key_different_body(self, api: Api, owner_connection) -> None:  # type: ignore[no-untyped-def]
        account = await api.signup()
        headers = {**account.key_headers, "Idempotency-Key": "k1"}
        await api.http.post("/v1/customers", json={"name": "Ama"}, headers=headers)
        other = await api.http.post("/v1/customers", json={"name": "Bob"}, headers=headers)
        assert_error(other, 400, type_="idempotency_error", param="Idempotency-Key")
        assert await _count_customers(owner_connection) == 1

    async def test_same_key_different_endpoint(self, api: Api) -> None:
        account = await api.signup()
        headers = {**account.key_headers, "Idempotency-Key": "k2"}
        created = await api.http.post("/v1/customers", json={}, headers=headers)
        other = await api.http.post(
            f"/v1/customers/{created.json()['id']}", json={}, headers=headers
        )
        assert_error(other, 400, type_="idempotency_error")

    async def test_concurrent_duplicates_run_once(self, api: Api, owner_connection) -> None:  # type: ignore[no-untyped-def]
        account = await api.signup()
        headers = {**account.key_headers, "Idempotency-Key": "race"}
        responses = await asyncio.gather(
            *[
                api.http.post("/v1/customers", json={"name": "Ama"}, headers=headers)
                for _ in range(8)
            ]
        )
        statuses = sorted(r.status_code for r in responses)
        assert set(statuses) <= {200, 409}
        assert 200 in statuses
        for response in responses:
            if response.status_code == 409:
                assert_error(response, 409, code="idempotency_key_in_use")
        assert await _count_customers(owner_connection) == 1
        ids = {r.json()["id"] for r in responses if r.status_code == 200}
        assert len(ids) == 1


class TestScope:
    async def test_keys_are_scoped_to_merchant(self, api: Api) -> None:
        a = await api.signup()
        b = await api.signup()
        key = {"Idempotency-Key": "shared-key"}
        first = await api.http.post(
            "/v1/customers", json={"name": "A"}, headers={**a.key_headers, **key}
        )
        second = await api.http.post(
            "/v1/customers", json={"name": "B"}, headers={**b.key_headers, **key}
        )
        assert first.status_code == second.status_code == 200
        assert first.json()["id"] != second.json()["id"]

    async def test_keys_are_scoped_to_mode(self, api: Api) -> None:
        account, live_key = await api.live_account()
        key = {"Idempotency-Key": "mode-key"}
        test = await api.http.post("/v1/customers", json={}, headers={**account.key_headers, **key})
        live = await api.http.post("/v1/customers", json={}, headers={**bearer(live_key), **key})
        assert test.json()["livemode"] is False
        assert live.json()["livemode"] is True

    async def test_rolled_key_of_same_merchant_shares_the_scope(self, api: Api) -> None:
        account = await api.signup()
        other_key = await api.create_key(account)
        key = {"Idempotency-Key": "same-merchant"}
        first = await api.http.post(
            "/v1/customers", json={}, headers={**account.key_headers, **key}
        )
        second = await api.http.post(
            "/v1/customers", json={}, headers={**bearer(other_key["secret"]), **key}
        )
        assert second.json()["id"] == first.json()["id"]


async def test_key_length_limit(api: Api) -> None:
    account = await api.signup()
    response = await api.http.post(
        "/v1/customers", json={}, headers={**account.key_headers, "Idempotency-Key": "x" * 256}
    )
    assert_error(response, 400, param="Idempotency-Key")


async def test_stale_claim_is_taken_over(api: Api, owner_connection) -> None:  # type: ignore[no-untyped-def]
    """A claim left by a process that died mid-request does not block the key for ever."""
    account = await api.signup()
    headers = {**account.key_headers, "Idempotency-Key": "orphan"}
    await owner_connection.execute(
        "INSERT INTO idempotency_keys (merchant_id, livemode, key, request_method, request_path,"
        " request_fingerprint, locked_at, created_at) VALUES ($1, false, 'orphan', 'POST',"
        " '/v1/customers', 'x', now() - interval '10 minutes', now() - interval '10 minutes')",
        account.merchant_id,
    )
    blocked = await api.http.post("/v1/customers", json={}, headers=headers)
    # The fingerprint differs from the orphan's, so this is a different request: rejected.
    assert_error(blocked, 400, type_="idempotency_error")
    await owner_connection.execute(
        "UPDATE idempotency_keys SET request_fingerprint = $1 WHERE key = 'orphan'",
        fingerprint("POST", "/v1/customers", b"{}"),
    )
    taken = await api.http.post(
        "/v1/customers", content=b"{}", headers={**headers, "Content-Type": "application/json"}
    )
    assert taken.status_code == 200, taken.text


async def test_prune_task_removes_only_old_keys(api: Api, app_state, owner_connection) -> None:  # type: ignore[no-untyped-def]
    from mboa.idempotency.tasks import prune
    from mboa.worker import TaskContext

    account = await api.signup()
    for key in ("old", "new"):
        await api.http.post(
            "/v1/customers", json={}, headers={**account.key_headers, "Idempotency-Key": key}
        )
    await owner_connection.execute(
        "UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = 'old'"
    )
    removed = await prune(
        TaskContext(app_state.settings, app_state.db, providers=app_state.providers), {}
    )
    assert removed == 1
    keys = await owner_connection.fetch("SELECT key FROM idempotency_keys")
    assert [r["key"] for r in keys] == ["new"]
