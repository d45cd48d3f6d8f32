from __future__ import annotations

from tests.helpers import Api, bearer


async def test_signup_then_key_reads_account(api: Api) -> None:
    account = await api.signup(business="Chez Mama")
    response = await api.http.get("/v1/account", headers=bearer(account.secret_key))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == account.merchant_id
    assert body["object"] == "account"
    assert body["livemode"] is False
    assert body["status"] == "sandbox"
    assert response.headers["x-request-id"].startswith("req_")
