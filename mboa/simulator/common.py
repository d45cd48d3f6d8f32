"""Pieces both simulated operators share: request recording and chaos (an ASGI middleware),
the `/_sim` control API, the phone page and the statement export."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import date
from pathlib import Path
from typing import Any

import orjson
from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from mboa.simulator.engine import Engine, RecordedRequest, SimTransaction

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CONTROL_PREFIX = "/_sim"

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)


def render(template: str, **context: Any) -> HTMLResponse:
    return HTMLResponse(_templates.get_template(template).render(**context))


def json_response(body: Any, status_code: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status_code, media_type="application/json")


class OperatorMiddleware:
    """Records every operator call (for wire-level tests) and applies chaos: latency, and a
    503 in `unavailable_body` for a share of calls. The control API and pages are exempt."""

    def __init__(self, app: ASGIApp, engine: Engine, unavailable_body: dict[str, Any]) -> None:
        self.app = app
        self.engine = engine
        self.unavailable = orjson.dumps(unavailable_body)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith((CONTROL_PREFIX, "/webpay/")):
            await self.app(scope, receive, send)
            return
        chunks = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        # Header bytes are Latin-1 (RFC 9110, and Starlette reads them so): never a decode error.
        headers = {
            k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])
        }
        self.engine.requests.append(
            RecordedRequest(
                method=scope["method"],
                path=path,
                query=scope.get("query_string", b"").decode("latin-1"),
                headers=headers,
                body=body,
                at=time.monotonic(),
            )
        )
        if await self.engine.chaos():
            await send(
                {
                    "type": "http.response.start",
                    "status": 503,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": self.unavailable})
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def control_router(engine: Engine, *, title: str) -> APIRouter:
    """`/_sim/…`: inspect and steer the simulator (docs/sandbox.md)."""
    router = APIRouter(prefix=CONTROL_PREFIX)

    def find(tx_id: str) -> SimTransaction:
        tx = engine.transactions.get(tx_id)
        if tx is None:
            raise HTTPException(404, f"no transaction {tx_id}")
        return tx

    @router.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "operator": engine.operator, "seed": engine.seed}

    @router.get("/transactions")
    async def transactions(
        state: str | None = None, msisdn: str | None = None
    ) -> list[dict[str, Any]]:
        return [
            tx.to_json()
            for tx in engine.transactions.values()
            if (state is None or tx.state == state) and (msisdn is None or tx.msisdn == msisdn)
        ]

    @router.get("/transactions/{tx_id}")
    async def transaction(tx_id: str) -> dict[str, Any]:
        return find(tx_id).to_json()

    @router.post("/transactions/{tx_id}/approve")
    async def approve(tx_id: str) -> dict[str, Any]:
        tx = find(tx_id)
        engine.approve(tx)
        return tx.to_json()

    @router.post("/transactions/{tx_id}/reject")
    async def reject(tx_id: str) -> dict[str, Any]:
        tx = find(tx_id)
        engine.reject(tx)
        return tx.to_json()

    @router.post("/transactions/{tx_id}/contradict")
    async def contradict(tx_id: str, request: Request) -> dict[str, Any]:
        """Report a final transaction otherwise: `{"state": "failed"|"succeeded", "amount": n}`
        (either or both); a callback follows. No money moves."""
        tx = find(tx_id)
        body = await request.json()
        state, amount = body.get("state"), body.get("amount")
        if state not in (None, "failed", "succeeded"):
            raise HTTPException(400, "state must be failed or succeeded")
        if amount is not None and (not isinstance(amount, int) or isinstance(amount, bool)):
            raise HTTPException(400, "amount must be an integer")
        engine.contradict(tx, state=state, amount=amount)
        return tx.to_json()

    @router.get("/wallets/{msisdn}")
    async def get_wallet(msisdn: str) -> dict[str, Any]:
        return {"msisdn": msisdn, "balance": engine.wallet(msisdn)}

    @router.put("/wallets/{msisdn}")
    async def set_wallet(msisdn: str, request: Request) -> dict[str, Any]:
        body = await request.json()
        balance = body.get("balance")
        if not isinstance(balance, int) or isinstance(balance, bool) or balance < 0:
            raise HTTPException(400, "balance must be a non-negative integer")
        engine.wallets[msisdn] = balance
        return {"msisdn": msisdn, "balance": balance}

    @router.get("/accounts")
    async def get_accounts() -> dict[str, int]:
        return dict(engine.accounts)

    @router.put("/accounts/{kind}")
    async def set_account(kind: str, request: Request) -> dict[str, int]:
        body = await request.json()
        balance = body.get("balance")
        if kind not in engine.accounts:
            raise HTTPException(404, "accounts are `collection` and `disbursement`")
        if not isinstance(balance, int) or isinstance(balance, bool) or balance < 0:
            raise HTTPException(400, "balance must be a non-negative integer")
        engine.accounts[kind] = balance
        return dict(engine.accounts)

    @router.get("/settings")
    async def get_settings() -> dict[str, Any]:
        return engine.settings.model_dump(mode="json")

    @router.patch("/settings")
    async def patch_settings(request: Request) -> dict[str, Any]:
        """Change chaos and timing at runtime: latency, failure rate, windows, token TTL."""
        changes = await request.json()
        if not isinstance(changes, dict) or "host" in changes:
            raise HTTPException(400, "send a JSON object of settings (host cannot change)")
        merged = {**engine.settings.model_dump(), **changes}
        try:
            engine.settings = type(engine.settings).model_validate(merged)
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from exc
        return engine.settings.model_dump(mode="json")

    @router.post("/reset")
    async def reset() -> dict[str, str]:
        engine.reset()
        return {"status": "reset"}

    @router.get("/requests")
    async def requests(limit: int = 100) -> list[dict[str, Any]]:
        return [r.to_json() for r in list(engine.requests)[-limit:]]

    @router.get("/callbacks")
    async def callbacks() -> list[dict[str, Any]]:
        return [
            {
                "transaction_id": c.transaction_id,
                "method": c.method,
                "url": c.url,
                "body": c.body,
                "status_code": c.status_code,
                "error": c.error,
            }
            for c in engine.callbacks
        ]

    @router.get("/statement")
    async def statement(
        day: date | None = None, format: str = "json", include_failed: bool = False
    ) -> Response:
        """Transactions finalised on `day` (Cameroon time), as the operator's daily statement."""
        rows = engine.statement(day or engine.now().date(), include_failed=include_failed)
        if format == "csv":
            out = io.StringIO()
            writer = csv.DictWriter(
                out,
                fieldnames=[
                    "date",
                    "time",
                    "operator_transaction_id",
                    "reference",
                    "external_id",
                    "type",
                    "msisdn",
                    "amount",
                    "fee",
                    "currency",
                    "status",
                ],
            )
            writer.writeheader()
            writer.writerows(rows)
            return Response(out.getvalue(), media_type="text/csv")
        if format != "json":
            raise HTTPException(400, "format is json or csv")
        return json_response(rows)

    @router.get("/phone", response_class=HTMLResponse)
    async def phone(msisdn: str | None = None) -> HTMLResponse:
        """A page playing the customer's phone: approve or reject waiting prompts."""
        waiting = [
            tx
            for tx in engine.transactions.values()
            if tx.state == "pending"
            and tx.flow == "push"
            and (msisdn is None or tx.msisdn == msisdn)
        ]
        recent = sorted(engine.transactions.values(), key=lambda t: t.created_at)[-20:]
        return render("phone.html", title=title, waiting=waiting, recent=recent, msisdn=msisdn)

    @router.post("/phone/{tx_id}/{action}")
    async def phone_action(tx_id: str, action: str) -> RedirectResponse:
        tx = find(tx_id)
        if action == "approve":
            engine.approve(tx)
        elif action == "reject":
            engine.reject(tx)
        else:
            raise HTTPException(404, "approve or reject")
        return RedirectResponse(f"{CONTROL_PREFIX}/phone", status_code=303)

    return router


def unavailable(body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, status_code=503)
