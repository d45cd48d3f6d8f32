"""`mboa trigger <event type>`: create, in test mode, through the public API and the sandbox's
magic numbers (docs/sandbox.md), the objects that make the platform write that event (docs/events.md,
"Testing locally: mboa listen and mboa trigger"). With `mboa listen` running, the event then
reaches the local endpoint.

Every call is an ordinary API request with the merchant's test key, so what a trigger does is what
an integration would see. One recipe also plays the customer: `refund.failed` presses Approve and
then Reject on the MTN simulator's phone page (its `/_sim` control API, docs/sandbox.md "The
customer's phone"), exactly what a developer testing by hand would click.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

MTN_SUCCESS = "+237670000000"
"""Magic number 00: approved (docs/sandbox.md)."""
MTN_INSUFFICIENT_FUNDS = "+237670000001"
"""01: the payer's wallet lacks the amount."""
MTN_LIMIT_REACHED = "+237670000014"
"""14: the operator's limit refuses the transfer."""
MTN_ON_THE_PHONE = "+237670000013"
"""13: every transaction, payment or transfer back, waits for a click on the phone page."""
AMOUNT = 1_000
"""XAF: above the minimum of every operation, below every limit."""


class TriggerError(Exception):
    """The trigger could not produce its event; the message says why and what to do."""


@dataclasses.dataclass
class Api:
    client: httpx.AsyncClient
    echo: Callable[[str], None]
    wait_seconds: float = 60.0
    simulator_url: str = "http://127.0.0.1:8101"
    """The MTN simulator, whose phone page the `refund.failed` recipe presses."""

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        headers = {"Idempotency-Key": str(uuid.uuid4())} if method == "POST" else None
        response = await self.client.request(method, path, json=body, headers=headers)
        if response.status_code != 200:
            try:
                error = response.json()["error"]
                detail = f"{error.get('code')}: {error.get('message')}"
            except (ValueError, KeyError, TypeError):
                detail = response.text[:300]
            raise TriggerError(f"{method} {path} answered {response.status_code} ({detail})")
        return response.json()

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        created: dict[str, Any] = await self.call("POST", path, body)
        self.echo(f"created {created['object']} {created['id']} ({created['status']})")
        return created

    async def until(self, path: str, done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """Read `path` until `done`; the worker and the simulators take a moment."""
        deadline = asyncio.get_running_loop().time() + self.wait_seconds
        while True:
            current: dict[str, Any] = await self.call("GET", path)
            if done(current):
                self.echo(f"{current['object']} {current['id']} is {current['status']}")
                return current
            if asyncio.get_running_loop().time() > deadline:
                raise TriggerError(
                    f"{current['object']} {current['id']} is still {current['status']} after"
                    f" {self.wait_seconds:.0f} s: are the worker and the simulators running"
                    " (`make run`)?"
                )
            await asyncio.sleep(0.5)

    async def on_the_phone(self, reference: str, *, approve: bool) -> None:
        """The payer answers the prompt of operator transaction `reference` on the simulator's
        phone page, once the worker has sent it to the operator."""
        action = "approve" if approve else "reject"
        deadline = asyncio.get_running_loop().time() + self.wait_seconds
        async with httpx.AsyncClient(base_url=self.simulator_url.rstrip("/"), timeout=10) as sim:
            while True:
                try:
                    found = await sim.get(f"/_sim/transactions/{reference}")
                except httpx.TransportError as exc:
                    raise TriggerError(
                        f"The MTN simulator at {self.simulator_url} is out of reach ({exc!r}):"
                        " is `make run` running? (--simulator-url)"
                    ) from None
                if found.status_code == 200 and found.json()["awaiting_approval"]:
                    break
                if asyncio.get_running_loop().time() > deadline:
                    raise TriggerError(
                        f"The MTN simulator at {self.simulator_url} shows no prompt {reference}"
                        f" after {self.wait_seconds:.0f} s: is the worker running, and is that"
                        " the simulator the API uses? (--simulator-url)"
                    )
                await asyncio.sleep(0.25)
            answered = await sim.post(f"/_sim/transactions/{reference}/{action}")
            if answered.status_code != 200:
                raise TriggerError(f"The phone page refused to {action}: {answered.text[:300]}")
        self.echo(f"the payer pressed {action.capitalize()} on the phone ({reference})")


# -- recipes -------------------------------------------------------------------------------------


async def _intent(api: Api, *, phone: str | None = MTN_SUCCESS) -> dict[str, Any]:
    body: dict[str, Any] = {"amount": AMOUNT, "currency": "XAF", "description": "mboa trigger"}
    if phone is not None:
        body["phone"] = phone
    return await api.create("/v1/payment_intents", body)


async def _paid_intent(api: Api) -> dict[str, Any]:
    intent = await _intent(api)
    return await api.until(
        f"/v1/payment_intents/{intent['id']}", lambda i: i["status"] == "succeeded"
    )


async def payment_intent_created(api: Api) -> None:
    await _intent(api, phone=None)


async def payment_intent_processing(api: Api) -> None:
    await _intent(api)


async def payment_intent_succeeded(api: Api) -> None:
    await _paid_intent(api)


async def payment_intent_payment_failed(api: Api) -> None:
    intent = await _intent(api, phone=MTN_INSUFFICIENT_FUNDS)
    await api.until(
        f"/v1/payment_intents/{intent['id']}", lambda i: i["last_payment_error"] is not None
    )


async def payment_intent_canceled(api: Api) -> None:
    intent = await _intent(api, phone=None)
    canceled = await api.call("POST", f"/v1/payment_intents/{intent['id']}/cancel")
    api.echo(f"payment_intent {canceled['id']} is {canceled['status']}")


async def _refund(api: Api) -> dict[str, Any]:
    intent = await _paid_intent(api)
    return await api.create("/v1/refunds", {"payment_intent": intent["id"]})


async def refund_created(api: Api) -> None:
    await _refund(api)


async def refund_succeeded(api: Api) -> None:
    refund = await _refund(api)
    await api.until(f"/v1/refunds/{refund['id']}", lambda r: r["status"] == "succeeded")


async def refund_failed(api: Api) -> None:
    """A payment from 13 approved on the phone, then a refund whose transfer back the payer
    rejects on the phone: the operator fails it, the refund fails."""
    intent = await _intent(api, phone=MTN_ON_THE_PHONE)
    await api.on_the_phone(intent["latest_attempt"]["operator_reference"], approve=True)
    await api.until(f"/v1/payment_intents/{intent['id']}", lambda i: i["status"] == "succeeded")
    refund = await api.create("/v1/refunds", {"payment_intent": intent["id"]})
    path = f"/v1/refunds/{refund['id']}"
    refund = await api.until(path, lambda r: r["operator_reference"] is not None)
    await api.on_the_phone(refund["operator_reference"], approve=False)
    await api.until(path, lambda r: r["status"] == "failed")


async def _payout(api: Api, phone: str) -> dict[str, Any]:
    try:
        return await api.create(
            "/v1/payouts",
            {"amount": AMOUNT, "currency": "XAF", "destination": {"phone": phone}},
        )
    except TriggerError as exc:
        if "balance_insufficient" in str(exc):
            raise TriggerError(
                f"{exc}. A payout is paid from the available balance: collected money becomes"
                " available after the fee plan's settlement delay (docs/payouts.md); trigger"
                " payment_intent.succeeded and retry once it has settled."
            ) from None
        raise


async def payout_created(api: Api) -> None:
    await _payout(api, MTN_SUCCESS)


async def payout_updated(api: Api) -> None:
    payout = await _payout(api, MTN_SUCCESS)
    await api.until(f"/v1/payouts/{payout['id']}", lambda p: p["status"] != "pending")


async def payout_paid(api: Api) -> None:
    payout = await _payout(api, MTN_SUCCESS)
    await api.until(f"/v1/payouts/{payout['id']}", lambda p: p["status"] == "paid")


async def payout_failed(api: Api) -> None:
    payout = await _payout(api, MTN_LIMIT_REACHED)
    await api.until(f"/v1/payouts/{payout['id']}", lambda p: p["status"] == "failed")


TRIGGERS: dict[str, Callable[[Api], Awaitable[None]]] = {
    "payment_intent.created": payment_intent_created,
    "payment_intent.processing": payment_intent_processing,
    "payment_intent.succeeded": payment_intent_succeeded,
    "payment_intent.payment_failed": payment_intent_payment_failed,
    "payment_intent.canceled": payment_intent_canceled,
    "refund.created": refund_created,
    "refund.succeeded": refund_succeeded,
    "refund.failed": refund_failed,
    "payout.created": payout_created,
    "payout.updated": payout_updated,
    "payout.paid": payout_paid,
    "payout.failed": payout_failed,
}
"""What `mboa trigger` can fire. Not here: `payment_intent.late_success` (takes the simulators'
`late_success_seconds`, 7 minutes), `payout.canceled` and `payout.approved` (a test-mode payout
is sent at once; approval is a live-mode staff step)."""


def supported() -> str:
    return ", ".join(TRIGGERS)


async def trigger(
    event_type: str,
    *,
    api_base: str,
    api_key: str,
    echo: Callable[[str], None] = print,
    wait_seconds: float = 60.0,
    simulator_url: str = "http://127.0.0.1:8101",
) -> None:
    recipe = TRIGGERS.get(event_type)
    if recipe is None:
        raise TriggerError(f"Unknown event type {event_type!r}. Supported: {supported()}")
    if not api_key.startswith(("sk_test_", "rk_test_")):
        raise TriggerError("mboa trigger works in test mode only: give a sk_test_ key.")
    async with httpx.AsyncClient(
        base_url=api_base.rstrip("/"),
        headers={"Authorization": f"Bearer {api_key}", "User-Agent": "mboa-trigger/1"},
        timeout=30,
    ) as client:
        await recipe(Api(client, echo, wait_seconds, simulator_url))
    echo(f"Trigger succeeded: {event_type} fired.")
