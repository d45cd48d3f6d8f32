"""Shared by the event tests: events made through the real API."""

from __future__ import annotations

from typing import Any

import httpx

from tests.helpers import bearer

MTN_OK = "+237670000000"


async def create_intent(
    http: httpx.AsyncClient, key: str, *, idempotency_key: str | None = None, **body: Any
) -> httpx.Response:
    headers = bearer(key)
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    response = await http.post(
        "/v1/payment_intents", json={"amount": 1500, "currency": "XAF", **body}, headers=headers
    )
    assert response.status_code == 200, response.text
    return response


async def cancel_intent(http: httpx.AsyncClient, key: str, intent_id: str) -> dict[str, Any]:
    response = await http.post(f"/v1/payment_intents/{intent_id}/cancel", headers=bearer(key))
    assert response.status_code == 200, response.text
    return dict(response.json())


async def list_events(http: httpx.AsyncClient, key: str, **params: Any) -> dict[str, Any]:
    response = await http.get("/v1/events", params=params, headers=bearer(key))
    assert response.status_code == 200, response.text
    return dict(response.json())
