"""A client written only from the operators' documentation (docs/providers-wire.md), step by step
with plain httpx and none of our adapter code, must work against the simulators."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import Awaitable, Callable

import httpx

from mboa.simulator.run import RunningSimulators


async def _poll(
    check: Callable[[], Awaitable[dict[str, object]]], attempts: int = 100
) -> dict[str, object]:
    body = await check()
    for _ in range(attempts):
        if body["status"] not in {"PENDING", "CREATED", "INITIATED"}:
            break
        await asyncio.sleep(0.02)
        body = await check()
    return body


async def test_mtn_momo_from_the_documentation(
    simulators: RunningSimulators, http: httpx.AsyncClient
) -> None:
    base = simulators.mtn_url
    key = {"Ocp-Apim-Subscription-Key": "my-primary-key"}

    # §1.3 sandbox provisioning: our UUID becomes the API user id.
    api_user = str(uuid.uuid4())
    created = await http.post(
        f"{base}/v1_0/apiuser",
        headers={**key, "X-Reference-Id": api_user},
        json={"providerCallbackHost": "127.0.0.1"},
    )
    assert created.status_code == 201
    assert created.content == b""
    api_key = await http.post(f"{base}/v1_0/apiuser/{api_user}/apikey", headers=key)
    assert api_key.status_code == 201
    secret = api_key.json()["apiKey"]
    user = await http.get(f"{base}/v1_0/apiuser/{api_user}", headers=key)
    assert user.json() == {"providerCallbackHost": "127.0.0.1", "targetEnvironment": "sandbox"}

    # §1.4 token: Basic base64(apiUser:apiKey), no body, trailing slash.
    basic = base64.b64encode(f"{api_user}:{secret}".encode()).decode()
    token = await http.post(
        f"{base}/collection/token/", headers={**key, "Authorization": f"Basic {basic}"}
    )
    assert token.status_code == 200
    assert token.json()["expires_in"] == 3600
    bearer = {
        **key,
        "Authorization": f"Bearer {token.json()['access_token']}",
        "X-Target-Environment": "sandbox",
    }

    # §1.5 request to pay: 202, empty body, the resource id is our X-Reference-Id.
    reference = str(uuid.uuid4())
    body = {
        "amount": "1500",
        "currency": "XAF",
        "externalId": "order-8842",
        "payer": {"partyIdType": "MSISDN", "partyId": "237670998877"},
        "payerMessage": "Order 8842",
        "payeeNote": "Order 8842",
    }
    accepted = await http.post(
        f"{base}/collection/v1_0/requesttopay",
        headers={**bearer, "X-Reference-Id": reference},
        json=body,
    )
    assert accepted.status_code == 202
    assert accepted.content == b""

    # §5.1: the same reference again is a 409, never a second payment.
    duplicate = await http.post(
        f"{base}/collection/v1_0/requesttopay",
        headers={**bearer, "X-Reference-Id": reference},
        json=body,
    )
    assert duplicate.status_code == 409
    assert duplicate.json()["code"] == "RESOURCE_ALREADY_EXIST"

    # §1.6 status.
    async def read() -> dict[str, object]:
        r = await http.get(f"{base}/collection/v1_0/requesttopay/{reference}", headers=bearer)
        assert r.status_code == 200
        return r.json()  # type: ignore[no-any-return]

    final = await _poll(read)
    assert final["status"] == "SUCCESSFUL"
    assert final["amount"] == "1500"
    assert final["externalId"] == "order-8842"
    assert isinstance(final["financialTransactionId"], str)

    missing = await http.get(f"{base}/collection/v1_0/requesttopay/{uuid.uuid4()}", headers=bearer)
    assert missing.status_code == 404
    assert missing.json()["code"] == "RESOURCE_NOT_FOUND"

    # §1.7 balance and account holder.
    balance = await http.get(f"{base}/collection/v1_0/account/balance", headers=bearer)
    assert balance.json() == {"availableBalance": "1500", "currency": "XAF"}
    active = await http.get(
        f"{base}/collection/v1_0/accountholder/msisdn/237670998877/active", headers=bearer
    )
    assert active.json() == {"result": True}

    # A collection token does not open the disbursement product.
    wrong = await http.post(
        f"{base}/disbursement/v1_0/transfer",
        headers={**bearer, "X-Reference-Id": str(uuid.uuid4())},
        json=body,
    )
    assert wrong.status_code == 401

    # Errors of §1.10.
    no_key = await http.get(f"{base}/collection/v1_0/account/balance")
    assert no_key.status_code == 401
    bad_reference = await http.post(
        f"{base}/collection/v1_0/requesttopay",
        headers={**bearer, "X-Reference-Id": "not-a-uuid"},
        json=body,
    )
    assert bad_reference.status_code == 400


async def _mtn_api_user(http: httpx.AsyncClient, base: str, key: dict[str, str]) -> str:
    """Provision a sandbox API user; its Basic credentials."""
    api_user = str(uuid.uuid4())
    created = await http.post(
        f"{base}/v1_0/apiuser",
        headers={**key, "X-Reference-Id": api_user},
        json={"providerCallbackHost": "127.0.0.1"},
    )
    assert created.status_code == 201
    secret = (await http.post(f"{base}/v1_0/apiuser/{api_user}/apikey", headers=key)).json()
    return base64.b64encode(f"{api_user}:{secret['apiKey']}".encode()).decode()


async def test_mtn_token_requests_with_a_body_as_third_party_clients_send_them(
    simulators: RunningSimulators, http: httpx.AsyncClient
) -> None:
    """MTN's hosts issue tokens whatever the body; widely used clients send one. The first
    request is byte for byte what the `mtnmomo` package (PyPI, sparkplug/momoapi-python)
    sends: `requests.post(url, auth=HTTPBasicAuth(user, key), data=json.dumps({}),
    headers={"Content-Type": "application/json", "Ocp-Apim-Subscription-Key": key})`."""
    base = simulators.mtn_url
    key = {"Ocp-Apim-Subscription-Key": "my-primary-key"}
    basic = await _mtn_api_user(http, base, key)
    mtnmomo_request = {
        "User-Agent": "python-requests/2.32.3",
        "Accept-Encoding": "gzip, deflate",
        "Accept": "*/*",
        "Connection": "keep-alive",
        "Content-Type": "application/json",
        "Ocp-Apim-Subscription-Key": "my-primary-key",
        "Content-Length": "2",
        "Authorization": f"Basic {basic}",
    }
    bodies: list[tuple[dict[str, str], bytes]] = [
        (mtnmomo_request, b"{}"),
        (
            {**key, "Authorization": f"Basic {basic}", "Content-Type": "application/json"},
            b'{"grant_type":"client_credentials"}',
        ),
        (
            {
                **key,
                "Authorization": f"Basic {basic}",
                "Content-Type": "application/x-www-form-urlencoded",
            },
            b"grant_type=client_credentials",
        ),
    ]
    for headers, content in bodies:
        token = await http.post(f"{base}/collection/token/", headers=headers, content=content)
        assert token.status_code == 200, (content, token.text)
        assert token.json()["token_type"] == "access_token"
        balance = await http.get(
            f"{base}/collection/v1_0/account/balance",
            headers={
                **key,
                "Authorization": f"Bearer {token.json()['access_token']}",
                "X-Target-Environment": "sandbox",
            },
        )
        assert balance.status_code == 200

    # A body is ignored, never a way around the credentials.
    wrong = base64.b64encode(f"{uuid.uuid4()}:nope".encode()).decode()
    denied = await http.post(
        f"{base}/collection/token/",
        headers={**key, "Authorization": f"Basic {wrong}"},
        json={"grant_type": "client_credentials"},
    )
    assert denied.status_code == 401
    assert denied.json() == {"error": "login_failed"}


async def test_orange_omcoreapis_from_the_documentation(
    simulators: RunningSimulators, http: httpx.AsyncClient
) -> None:
    base = simulators.orange_url
    basic = base64.b64encode(b"simulator-consumer-key:simulator-consumer-secret").decode()

    # §2.2 token: Basic key:secret, form grant_type=client_credentials.
    token = await http.post(
        f"{base}/token",
        headers={"Authorization": f"Basic {basic}"},
        data={"grant_type": "client_credentials"},
    )
    assert token.status_code == 200
    assert token.json()["token_type"] == "Bearer"
    assert token.json()["scope"] == "am_application_scope default"
    headers = {
        "Authorization": f"Bearer {token.json()['access_token']}",
        "X-AUTH-TOKEN": base64.b64encode(b"user:password").decode(),
    }

    init = await http.post(f"{base}/omcoreapis/1.0.2/mp/init", headers=headers)
    assert init.json()["message"] == "Payment request successfully initiated"
    pay_token = init.json()["data"]["payToken"]
    assert pay_token.startswith("MP")

    paid = await http.post(
        f"{base}/omcoreapis/1.0.2/mp/pay",
        headers=headers,
        json={
            "notifUrl": "http://127.0.0.1:9/om/notify",
            "channelUserMsisdn": "699112233",
            "amount": "1500",
            "subscriberMsisdn": "690998877",
            "pin": "2222",
            "orderId": "ORD-123",
            "description": "Order 123",
            "payToken": pay_token,
        },
    )
    assert paid.status_code == 200
    assert paid.json()["data"]["status"] == "PENDING"
    assert paid.json()["data"]["inittxnstatus"] == "200"

    async def read() -> dict[str, object]:
        r = await http.get(f"{base}/omcoreapis/1.0.2/mp/paymentstatus/{pay_token}", headers=headers)
        assert r.json()["message"] == "Transaction retrieved successfully"
        return r.json()["data"]  # type: ignore[no-any-return]

    final = await _poll(read)
    assert final["status"] == "SUCCESSFULL"
    assert final["confirmtxnstatus"] == "200"
    assert final["amount"] == 1500

    # Insufficient funds: HTTP 417 with the FAILED transaction.
    init = await http.post(f"{base}/omcoreapis/1.0.2/mp/init", headers=headers)
    poor = await http.post(
        f"{base}/omcoreapis/1.0.2/mp/pay",
        headers=headers,
        json={
            "channelUserMsisdn": "699112233",
            "amount": "1500",
            "subscriberMsisdn": "690000001",
            "pin": "2222",
            "orderId": "ORD-124",
            "description": "Order 124",
            "payToken": init.json()["data"]["payToken"],
        },
    )
    assert poor.status_code == 417
    assert poor.json()["message"].startswith("60019 :: ")
    assert poor.json()["data"]["status"] == "FAILED"

    # No token, no service (WSO2 fault).
    denied = await http.post(f"{base}/omcoreapis/1.0.2/mp/init")
    assert denied.status_code == 401
    assert denied.json()["fault"]["code"] == 900901


async def test_orange_webpay_from_the_documentation(
    simulators: RunningSimulators, http: httpx.AsyncClient
) -> None:
    base = simulators.orange_url
    basic = base64.b64encode(b"simulator-webpay-client:simulator-webpay-secret").decode()
    token = await http.post(
        f"{base}/oauth/v3/token",
        headers={"Authorization": f"Basic {basic}"},
        data={"grant_type": "client_credentials"},
    )
    assert token.json()["expires_in"] == "7776000"
    bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}

    init = await http.post(
        f"{base}/orange-money-webpay/dev/v1/webpayment",
        headers=bearer,
        json={
            "merchant_key": "xxxxxxxx",
            "currency": "OUV",
            "order_id": "ORD-9",
            "amount": 1500,
            "return_url": "https://m.example/return",
            "cancel_url": "https://m.example/cancel",
            "notif_url": "http://127.0.0.1:9/om/notify",
            "lang": "fr",
            "reference": "Merchant name",
        },
    )
    assert init.status_code == 201
    created = init.json()
    assert created["status"] == 201
    assert {"pay_token", "payment_url", "notif_token"} <= created.keys()

    query = {"order_id": "ORD-9", "amount": 1500, "pay_token": created["pay_token"]}
    status = await http.post(
        f"{base}/orange-money-webpay/dev/v1/transactionstatus", headers=bearer, json=query
    )
    assert status.json()["status"] == "INITIATED"

    confirm = await http.post(created["payment_url"], data={"msisdn": "690998877"})
    assert confirm.status_code == 303

    async def read() -> dict[str, object]:
        r = await http.post(
            f"{base}/orange-money-webpay/dev/v1/transactionstatus", headers=bearer, json=query
        )
        return r.json()  # type: ignore[no-any-return]

    final = await _poll(read)
    assert final["status"] == "SUCCESS"
    assert final["order_id"] == "ORD-9"
    assert final["txnid"]


async def test_undecodable_basic_credentials_are_401_on_both_simulators(
    simulators: RunningSimulators, http: httpx.AsyncClient
) -> None:
    for header in (b"Basic \xff", b"Basic %%%"):
        mtn = await http.post(
            f"{simulators.mtn_url}/collection/token/",
            headers={"Ocp-Apim-Subscription-Key": "my-primary-key", "Authorization": header},
        )
        assert mtn.status_code == 401, mtn.text
        orange = await http.post(
            f"{simulators.orange_url}/token",
            headers={"Authorization": header},
            data={"grant_type": "client_credentials"},
        )
        assert orange.status_code == 401, orange.text
