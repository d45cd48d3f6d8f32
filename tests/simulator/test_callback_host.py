"""The MTN simulator's preset API user accepts callbacks to one host, as MTN's API users do
(`providerCallbackHost`): 127.0.0.1 by default (`make run`), the public URL's host in a cluster
(`MBOA_PROVIDERS__SIMULATOR__MTN_CALLBACK_HOST`, set by the chart's dev values), since the
application builds its callback URLs from `MBOA_API__PUBLIC_URL`."""

from __future__ import annotations

import base64
import uuid

import httpx
import pytest

from mboa.config import Settings
from mboa.simulator.config import SimulatorSettings
from mboa.simulator.run import running_simulators


async def _request_to_pay(
    http: httpx.AsyncClient, base: str, settings: SimulatorSettings, callback_url: str
) -> httpx.Response:
    key = {"Ocp-Apim-Subscription-Key": "any-key"}
    basic = base64.b64encode(f"{settings.mtn_api_user}:{settings.mtn_api_key}".encode()).decode()
    token = await http.post(
        f"{base}/collection/token/", headers={**key, "Authorization": f"Basic {basic}"}
    )
    assert token.status_code == 200
    return await http.post(
        f"{base}/collection/v1_0/requesttopay",
        headers={
            **key,
            "Authorization": f"Bearer {token.json()['access_token']}",
            "X-Target-Environment": "sandbox",
            "X-Reference-Id": str(uuid.uuid4()),
            "X-Callback-Url": callback_url,
        },
        json={
            "amount": "1500",
            "currency": "XAF",
            "externalId": "order-1",
            "payer": {"partyIdType": "MSISDN", "partyId": "237670998877"},
        },
    )


async def test_the_preset_user_takes_callbacks_to_the_configured_host(
    monkeypatch: pytest.MonkeyPatch, http: httpx.AsyncClient
) -> None:
    monkeypatch.setenv("MBOA_PROVIDERS__SIMULATOR__MTN_CALLBACK_HOST", "api.dev.mboa.example")
    # No payer approves: the simulator never calls the (unresolvable) host back.
    monkeypatch.setenv("MBOA_PROVIDERS__SIMULATOR__MANUAL_APPROVAL", "true")
    settings = Settings().providers.simulator
    assert settings.mtn_callback_host == "api.dev.mboa.example"
    callback = "https://api.dev.mboa.example/v1/providers/mtn_momo/callback/pa_1"
    async with running_simulators(settings) as simulators:
        accepted = await _request_to_pay(http, simulators.mtn_url, settings, callback)
        assert accepted.status_code == 202
        local = "http://127.0.0.1:8000/v1/providers/mtn_momo/callback/pa_2"
        refused = await _request_to_pay(http, simulators.mtn_url, settings, local)
    assert refused.status_code == 500
    assert refused.json()["code"] == "INVALID_CALLBACK_URL_HOST"


async def test_by_default_the_preset_user_takes_callbacks_to_loopback(
    http: httpx.AsyncClient,
) -> None:
    settings = SimulatorSettings(manual_approval=True)
    assert settings.mtn_callback_host == "127.0.0.1"
    async with running_simulators(settings) as simulators:
        local = "http://127.0.0.1:8000/v1/providers/mtn_momo/callback/pa_3"
        assert (await _request_to_pay(http, simulators.mtn_url, settings, local)).status_code == 202
        public = "https://api.dev.mboa.example/v1/providers/mtn_momo/callback/pa_4"
        refused = await _request_to_pay(http, simulators.mtn_url, settings, public)
    assert refused.json()["code"] == "INVALID_CALLBACK_URL_HOST"
