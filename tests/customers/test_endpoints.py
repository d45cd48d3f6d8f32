"""Customers through the real API: create, retrieve, update, delete, tenancy."""

from __future__ import annotations

from tests.helpers import Api, assert_error, bearer


async def test_create_retrieve_update_delete(api: Api) -> None:
    account = await api.signup()
    key = bearer(account.secret_key)
    created = await api.create_customer(
        account.secret_key,
        name="Ama Nkeng",
        email="ama@example.cm",
        phone="6 77 12 34 56",
        metadata={"order": "42", "channel": "shop"},
    )
    assert created["object"] == "customer"
    assert created["id"].startswith("cus_")
    assert created["livemode"] is False
    # Stored in E.164 whatever the spelling.
    assert created["phone"] == "+237677123456"
    assert isinstance(created["created"], int)

    fetched = await api.http.get(f"/v1/customers/{created['id']}", headers=key)
    assert fetched.status_code == 200
    assert fetched.json() == created

    # Only the fields sent change; an empty metadata value removes that key.
    updated = await api.http.post(
        f"/v1/customers/{created['id']}",
        json={"description": "VIP", "metadata": {"channel": "", "tier": "gold"}},
        headers=key,
    )
    assert updated.status_code == 200, updated.text
    body = updated.json()
    assert body["description"] == "VIP"
    assert body["name"] == "Ama Nkeng"
    assert body["metadata"] == {"order": "42", "tier": "gold"}

    deleted = await api.http.delete(f"/v1/customers/{created['id']}", headers=key)
    assert deleted.status_code == 200
    assert deleted.json() == {"id": created["id"], "object": "customer", "deleted": True}
    gone = await api.http.get(f"/v1/customers/{created['id']}", headers=key)
    assert_error(gone, 404, code="resource_missing", param="id")


async def test_invalid_phone_is_400_and_creates_nothing(api: Api) -> None:
    account = await api.signup()
    key = bearer(account.secret_key)
    response = await api.http.post("/v1/customers", json={"phone": "12"}, headers=key)
    assert_error(response, 400, code="parameter_invalid", param="phone")
    listed = await api.http.get("/v1/customers", headers=key)
    assert listed.json()["data"] == []


async def test_another_merchant_cannot_see_a_customer(api: Api) -> None:
    owner = await api.signup()
    stranger = await api.signup()
    created = await api.create_customer(owner.secret_key, name="Ama")
    for headers in [bearer(stranger.secret_key)]:
        response = await api.http.get(f"/v1/customers/{created['id']}", headers=headers)
        assert_error(response, 404, code="resource_missing")
        response = await api.http.post(
            f"/v1/customers/{created['id']}", json={"name": "x"}, headers=headers
        )
        assert_error(response, 404, code="resource_missing")
        response = await api.http.delete(f"/v1/customers/{created['id']}", headers=headers)
        assert_error(response, 404, code="resource_missing")
    listed = await api.http.get("/v1/customers", headers=bearer(stranger.secret_key))
    assert listed.json()["data"] == []
