"""A minimal shop backend on FastAPI and the mboapay SDK: an order opens a hosted checkout
session, the webhook marks the order paid once its signature checks out.

    pip install -r requirements.txt   # in examples/python: pinned FastAPI, uvicorn, this mboapay
    MBOA_API_KEY=sk_test_… MBOA_WEBHOOK_SECRET=whsec_… uvicorn shop:app --port 4242

(MBOA_BASE_URL defaults to the local `make run`.) Register http://127.0.0.1:4242/webhooks as a
webhook endpoint (`enabled_events=["*"]`; the shop acts on `checkout.session.completed`) to
get the secret.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import mboapay
from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel

app = FastAPI(title="Chez Ama")
mboa = mboapay.AsyncClient()  # MBOA_API_KEY, MBOA_BASE_URL
PUBLIC_URL = os.environ.get("SHOP_URL", "http://127.0.0.1:4242")
# In a real shop: a table. Here: order id -> order.
ORDERS: dict[str, dict[str, Any]] = {}


class NewOrder(BaseModel):
    amount: int  # XAF
    description: str = "Order"


@app.post("/orders")
async def create_order(order: NewOrder) -> dict[str, Any]:
    order_id = f"order_{uuid.uuid4().hex[:12]}"
    session = await mboa.checkout_sessions.create(
        amount=order.amount,
        currency="XAF",
        description=order.description,
        reference=order_id,
        success_url=f"{PUBLIC_URL}/orders/{order_id}",
        metadata={"order_id": order_id},
        idempotency_key=order_id,  # a retried call never opens a second session
    )
    ORDERS[order_id] = {"id": order_id, "status": "awaiting_payment", "session": session.id}
    return {"order_id": order_id, "pay_url": session.url}


@app.get("/orders/{order_id}")
async def read_order(order_id: str) -> dict[str, Any]:
    if order_id not in ORDERS:
        raise HTTPException(404)
    return ORDERS[order_id]


@app.post("/webhooks")
async def webhook(request: Request) -> dict[str, bool]:
    body = await request.body()  # the raw bytes: never re-serialised JSON
    try:
        event = mboapay.webhooks.verify(body, request.headers, os.environ["MBOA_WEBHOOK_SECRET"])
    except mboapay.webhooks.SignatureVerificationError:
        raise HTTPException(400, "bad signature") from None
    if event.type == "checkout.session.completed":
        order_id = event.data.object.get("metadata", {}).get("order_id")
        order = ORDERS.get(order_id or "")
        # Deliveries can repeat: marking paid twice is harmless.
        if order is not None:
            order["status"] = "paid"
    return {"received": True}
