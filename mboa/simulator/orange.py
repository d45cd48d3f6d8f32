"""Orange Money Cameroon, simulated (docs/providers-wire.md §2): the omcoreapis merchant payment and
cash-in API, and OM WebPay with its payment page, on one port."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import orjson
from fastapi import FastAPI, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from mboa.simulator.common import OperatorMiddleware, control_router, json_response, render
from mboa.simulator.config import SimulatorSettings
from mboa.simulator.engine import WAT, Engine, Failure, Kind, SimTransaction
from mboa.simulator.scenarios import Outcome

API = "/omcoreapis/1.0.2"
FAMILIES: dict[str, Kind] = {"mp": "collection", "cashin": "disbursement"}

# Orange's French messages (docs/providers-wire.md §2.2; orangemoney-go stubs).
INSUFFICIENT = "Le solde du compte du payeur est insuffisant"
NOT_FOUND = "Beneficiaire introuvable"
TOO_MUCH = "Vous avez saisi un montant superieur au montant maximum autorise"
REFUSED = "Transaction refusee par le client"
_IMMEDIATE_REFUSALS = {
    Outcome.insufficient_funds: ("60019", INSUFFICIENT),
    Outcome.not_found: ("60011", NOT_FOUND),
    Outcome.limit_reached: ("60018", TOO_MUCH),
}
_INVALID_TOKEN = {
    "fault": {
        "code": 900901,
        "message": "Invalid Credentials",
        "description": "Invalid Credentials. Make sure you have given the correct access token",
    }
}


def message(status: int, text: str) -> Response:
    return json_response({"message": text}, status)


class OrangeSimulator(Engine):
    def __init__(self, settings: SimulatorSettings, *, seed: int | None = None) -> None:
        super().__init__("orange_money", settings, seed=seed)
        self.render_callback = self._callback

    def reset(self) -> None:
        super().reset()
        self.tokens: dict[str, tuple[str, float]] = {}
        """access token -> (`core` or `webpay`, monotonic expiry)."""
        self.pay_tokens: dict[str, tuple[str, float]] = {}
        """payToken from init -> (family, monotonic creation time)."""
        self.next_id = 48_460_000

    def revoke_tokens(self) -> None:
        self.tokens.clear()

    def new_pay_token(self, family: str) -> str:
        prefix = "MP" if family == "mp" else "CI"
        stamp = self.now().astimezone(WAT).strftime("%y%m%d")
        return f"{prefix}{stamp}{self.random_hex(20).upper()}"

    def new_txnid(self, family: str) -> str:
        local = self.now().astimezone(WAT)
        letter = "ABCDEFGH"[self.rng.randrange(8)]
        prefix = "MP" if family == "mp" else "CI"
        return f"{prefix}{local:%y%m%d}.{local:%H%M}.{letter}{self.random_digits(5)}"

    def raw_status(self, tx: SimTransaction) -> str:
        if tx.flow == "redirect":
            if tx.state == "pending":
                return "INITIATED" if tx.awaiting_approval else "PENDING"
            if tx.state == "succeeded":
                return "SUCCESS"
            return "EXPIRED" if tx.failure == Failure.expired else "FAILED"
        if tx.state == "pending":
            return "PENDING"
        if tx.state == "succeeded":
            return "SUCCESSFULL"  # sic: Orange's real spelling (docs/providers-wire.md §2.2)
        return "EXPIRED" if tx.failure == Failure.expired else "FAILED"

    def data(self, tx: SimTransaction) -> dict[str, Any]:
        confirm_status: str | None = None
        confirm_message: str | None = None
        init_status = tx.wire.get("inittxnstatus", "200")
        init_message = tx.wire.get(
            "inittxnmessage",
            "Paiement en attente. Le client doit confirmer avec son code PIN.",
        )
        if tx.state == "succeeded":
            confirm_status = "200"
            confirm_message = (
                f"Successful Payment from {tx.msisdn}. Transaction ID:{tx.wire.get('txnid')}, "
                f"Amount:{tx.amount}."
            )
        elif tx.state == "failed" and tx.failure == Failure.rejected:
            confirm_status, confirm_message = "60011", REFUSED
        elif tx.state == "failed" and tx.failure == Failure.insufficient_funds:
            init_status, init_message = "60019", INSUFFICIENT
        data = {
            "id": tx.wire.get("id"),
            "createtime": str(int(tx.created_at.timestamp())),
            "subscriberMsisdn": tx.msisdn,
            "amount": tx.amount,
            "payToken": tx.id,
            "txnid": tx.wire.get("txnid"),
            "txnmode": tx.wire.get("orderId"),
            "inittxnmessage": init_message,
            "inittxnstatus": init_status,
            "confirmtxnstatus": confirm_status,
            "confirmtxnmessage": confirm_message,
            "status": self.raw_status(tx),
            "notifUrl": tx.callback_url,
            "description": tx.wire.get("description"),
            "channelUserMsisdn": tx.wire.get("channelUserMsisdn"),
        }
        if tx.kind == "disbursement":
            data["txnmessage"] = confirm_message or init_message
        return data

    def _callback(self, tx: SimTransaction) -> tuple[str, dict[str, Any]]:
        if tx.flow == "redirect":
            # WebPay: status, notif_token and txnid (docs/providers-wire.md §2.1).
            return "POST", {
                "status": self.raw_status(tx),
                "notif_token": tx.wire.get("notif_token"),
                "txnid": tx.wire.get("txnid"),
            }
        # omcoreapis: the payload is UNVERIFIED (§2.2); send what public handlers read.
        return "POST", {
            "payToken": tx.id,
            "orderId": tx.external_id,
            "status": self.raw_status(tx),
            "txnid": tx.wire.get("txnid"),
            "amount": str(tx.amount),
            "message": self.data(tx)["confirmtxnmessage"] or self.data(tx)["inittxnmessage"],
        }


def _basic(request: Request) -> tuple[str, str] | None:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
    except ValueError:  # binascii.Error, UnicodeDecodeError, non-ASCII input
        return None
    return user, secret


def create_orange_app(sim: OrangeSimulator) -> FastAPI:
    app = FastAPI(
        title="Orange Money simulator", docs_url="/_sim/docs", openapi_url="/_sim/openapi.json"
    )
    app.add_middleware(
        OperatorMiddleware, engine=sim, unavailable_body={"message": "Service Unavailable"}
    )
    app.include_router(control_router(sim, title="Orange Money"))

    def s() -> SimulatorSettings:
        # Read each time: the control API can replace the settings at runtime.
        return sim.settings

    @app.post("/_sim/tokens/revoke")
    async def revoke() -> dict[str, str]:
        sim.revoke_tokens()
        return {"status": "revoked"}

    # -- tokens -----------------------------------------------------------------------------

    async def issue(request: Request, kind: str, key: str, secret: str) -> Response | str:
        form = await request.form()
        if _basic(request) != (key, secret):
            return json_response(
                {"error": "invalid_client", "error_description": "Client Authentication failed."},
                401,
            )
        if form.get("grant_type") != "client_credentials":
            return json_response({"error": "unsupported_grant_type"}, 400)
        token = sim.random_hex(8) + "-" + sim.random_hex(4) + "-" + sim.random_hex(20)
        ttl = s().token_ttl_seconds if kind == "core" else s().webpay_token_ttl_seconds
        sim.tokens[token] = (kind, sim.clock() + ttl)
        return token

    @app.post("/token")
    async def core_token(request: Request) -> Response:
        token = await issue(request, "core", s().orange_consumer_key, s().orange_consumer_secret)
        if isinstance(token, Response):
            return token
        return json_response(
            {
                "access_token": token,
                "scope": "am_application_scope default",
                "token_type": "Bearer",
                "expires_in": s().token_ttl_seconds,
            }
        )

    @app.post("/oauth/v3/token")
    async def webpay_token(request: Request) -> Response:
        token = await issue(
            request, "webpay", s().orange_webpay_client_id, s().orange_webpay_client_secret
        )
        if isinstance(token, Response):
            return token
        # WebPay sends expires_in as a string (docs/providers-wire.md §2.1).
        return json_response(
            {
                "token_type": "Bearer",
                "access_token": token,
                "expires_in": str(s().webpay_token_ttl_seconds),
            }
        )

    def bearer_ok(request: Request, kind: str) -> bool:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        entry = sim.tokens.get(value) if scheme.lower() == "bearer" else None
        return entry is not None and entry[0] == kind and entry[1] > sim.clock()

    def core_auth(request: Request) -> Response | None:
        if not bearer_ok(request, "core"):
            return json_response(_INVALID_TOKEN, 401)
        auth = request.headers.get("x-auth-token", "")
        allowed = s().orange_auth_tokens
        if not auth or (allowed and auth not in allowed):
            return message(403, "X-AUTH-TOKEN invalide")
        return None

    # -- omcoreapis (§2.2) ------------------------------------------------------------------

    @app.post(API + "/{family}/init")
    async def init(family: str, request: Request) -> Response:
        if family not in FAMILIES:
            return message(404, "Ressource introuvable")
        denied = core_auth(request)
        if denied is not None:
            return denied
        pay_token = sim.new_pay_token(family)
        sim.pay_tokens[pay_token] = (family, sim.clock())
        return json_response(
            {"message": "Payment request successfully initiated", "data": {"payToken": pay_token}}
        )

    @app.post(API + "/{family}/pay")
    async def pay(family: str, request: Request) -> Response:
        if family not in FAMILIES:
            return message(404, "Ressource introuvable")
        denied = core_auth(request)
        if denied is not None:
            return denied
        kind = FAMILIES[family]
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return message(400, "Le corps de la requete doit etre du JSON")
        if not isinstance(body, dict):
            return message(400, "Le corps de la requete doit etre un objet JSON")
        required = ("channelUserMsisdn", "amount", "subscriberMsisdn", "pin", "orderId", "payToken")
        for key in (*required, "description", "notifUrl"):
            value = body.get(key)
            if key in required and not value:
                return message(400, f"{key} est obligatoire")
            if value is not None and not isinstance(value, str):
                # Every value is a string on this API (docs/providers-wire.md §2.2).
                return message(400, f"{key} doit etre une chaine")
        amount_text: str = body["amount"]
        if not amount_text.isdigit() or int(amount_text) < 1:
            return message(400, "Montant invalide")
        subscriber: str = body["subscriberMsisdn"]
        if len(subscriber) != 9 or not subscriber.isdigit() or subscriber[0] != "6":
            # 9-digit national numbers without 237 (§2.2).
            return message(400, "subscriberMsisdn invalide")
        if (
            body["channelUserMsisdn"] != s().orange_channel_user_msisdn
            or body["pin"] != s().orange_pin
        ):
            return message(400, "Compte marchand ou code PIN invalide")
        pay_token: str = body["payToken"]
        issued = sim.pay_tokens.get(pay_token)
        if issued is None or issued[0] != family:
            return message(400, "payToken invalide")
        existing = sim.transactions.get(pay_token)
        if existing is not None:
            # The same pay re-sent: answer with the transaction already made.
            return json_response(
                {"message": "Merchant payment successfully initiated", "data": sim.data(existing)}
            )
        if sim.clock() - issued[1] > s().approval_window_seconds:
            return message(400, "payToken expire")
        attempt = sim.count_attempt(pay_token)
        outcome = sim.plan(subscriber, kind)
        if outcome is Outcome.operator_5xx or (outcome is Outcome.transient_5xx and attempt == 1):
            return message(503, "Service Unavailable")
        amount = int(amount_text)
        funds = sim.wallet(subscriber) if kind == "collection" else sim.accounts["disbursement"]
        refusal = _IMMEDIATE_REFUSALS.get(outcome)
        if refusal is None and funds < amount:
            refusal = _IMMEDIATE_REFUSALS[Outcome.insufficient_funds]
        sim.next_id += 1
        wire = {
            "id": sim.next_id,
            "txnid": sim.new_txnid(family),
            "orderId": body["orderId"],
            "description": body.get("description"),
            "channelUserMsisdn": body["channelUserMsisdn"],
        }
        if refusal is not None:
            wire.update({"inittxnstatus": refusal[0], "inittxnmessage": refusal[1], "txnid": None})
        tx = sim.create(
            reference=pay_token,
            kind=kind,
            amount=amount,
            currency="XAF",
            msisdn=subscriber,
            external_id=body["orderId"],
            callback_url=body.get("notifUrl"),
            wire=wire,
        )
        if refusal is not None:
            # Refused at once: HTTP 417 with the FAILED transaction (orangemoney-go stubs).
            failure = {
                "60019": Failure.insufficient_funds,
                "60011": Failure.not_found,
                "60018": Failure.limit_reached,
            }[refusal[0]]
            tx.outcome = Outcome.callback_lost  # no notification for a refusal at init
            sim.finalise(tx, succeeded=False, failure=failure)
            return json_response(
                {"message": f"{refusal[0]} :: {refusal[1]}", "data": sim.data(tx)}, 417
            )
        if outcome is Outcome.operator_timeout and attempt == 1:
            await asyncio.sleep(s().slow_response_seconds)
        text = (
            "Merchant payment successfully initiated"
            if family == "mp"
            else "Cashin payment successfully initiated"
        )
        return json_response({"message": text, "data": sim.data(tx)})

    @app.get(API + "/{family}/paymentstatus/{pay_token}")
    async def payment_status(family: str, pay_token: str, request: Request) -> Response:
        if family not in FAMILIES:
            return message(404, "Ressource introuvable")
        denied = core_auth(request)
        if denied is not None:
            return denied
        tx = sim.transactions.get(pay_token)
        if tx is not None and tx.kind == FAMILIES[family]:
            return json_response(
                {"message": "Transaction retrieved successfully", "data": sim.data(tx)}
            )
        issued = sim.pay_tokens.get(pay_token)
        if issued is None or issued[0] != family:
            return message(404, "Transaction introuvable")
        # Initiated but never paid: only payToken and status are filled (orangemoney-go's
        # EXPIRED stub).
        expired = sim.clock() - issued[1] > s().approval_window_seconds
        empty = dict.fromkeys(
            (
                "id",
                "createtime",
                "subscriberMsisdn",
                "amount",
                "txnid",
                "txnmode",
                "inittxnmessage",
                "inittxnstatus",
                "confirmtxnstatus",
                "confirmtxnmessage",
                "notifUrl",
                "description",
                "channelUserMsisdn",
            )
        )
        data = {**empty, "payToken": pay_token, "status": "EXPIRED" if expired else "PENDING"}
        return json_response({"message": "Transaction retrieved successfully", "data": data})

    @app.get(API + "/mp/push/{pay_token}")
    async def push(pay_token: str, request: Request) -> Response:
        denied = core_auth(request)
        if denied is not None:
            return denied
        tx = sim.transactions.get(pay_token)
        if tx is None or tx.kind != "collection":
            return message(404, "Transaction introuvable")
        if tx.state != "pending":
            return message(400, "La transaction n'est plus en attente")
        tx.pushes += 1
        return json_response({"message": "Push sent to customer", "data": sim.data(tx)})

    # -- WebPay (§2.1) ----------------------------------------------------------------------

    @app.post("/orange-money-webpay/{country}/v1/webpayment")
    async def webpayment(country: str, request: Request) -> Response:
        if country not in {"cm", "dev"}:
            return message(404, "Ressource introuvable")
        if not bearer_ok(request, "webpay"):
            return json_response(_INVALID_TOKEN, 401)
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return json_response({"status": 400, "message": "Invalid JSON"}, 400)
        if not isinstance(body, dict):
            return json_response({"status": 400, "message": "Invalid JSON"}, 400)
        amount = body.get("amount")
        # WebPay takes the amount as a JSON number (docs/providers-wire.md §5.4).
        if not isinstance(amount, int) or isinstance(amount, bool) or amount < 1:
            return json_response({"status": 400, "message": "amount must be a number"}, 400)
        for key in (
            "merchant_key",
            "currency",
            "order_id",
            "return_url",
            "cancel_url",
            "notif_url",
        ):
            if not isinstance(body.get(key), str) or not body[key]:
                return json_response({"status": 400, "message": f"{key} is required"}, 400)
        expected_currency = "OUV" if country == "dev" else "XAF"
        if body["currency"] != expected_currency:
            return json_response({"status": 400, "message": "invalid currency"}, 400)
        for tx in sim.transactions.values():
            if tx.flow == "redirect" and tx.external_id == body["order_id"]:
                if tx.amount != amount:
                    return json_response({"status": 400, "message": "duplicate order_id"}, 400)
                return json_response(sim_webpay_created(request, tx), 201)
        pay_token = "v1" + sim.random_hex(40)
        tx = sim.create(
            reference=pay_token,
            kind="collection",
            amount=amount,
            currency=body["currency"],
            msisdn=None,
            external_id=body["order_id"],
            callback_url=body["notif_url"],
            flow="redirect",
            wire={
                "notif_token": sim.random_hex(32),
                "return_url": body["return_url"],
                "cancel_url": body["cancel_url"],
                "txnid": sim.new_txnid("mp"),
            },
        )
        return json_response(sim_webpay_created(request, tx), 201)

    def sim_webpay_created(request: Request, tx: SimTransaction) -> dict[str, Any]:
        base = str(request.base_url).rstrip("/")
        return {
            "status": 201,
            "message": "OK",
            "pay_token": tx.id,
            "payment_url": f"{base}/webpay/pay/{tx.id}",
            "notif_token": tx.wire["notif_token"],
        }

    @app.post("/orange-money-webpay/{country}/v1/transactionstatus")
    async def transaction_status(country: str, request: Request) -> Response:
        if not bearer_ok(request, "webpay"):
            return json_response(_INVALID_TOKEN, 401)
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return json_response({"status": 400, "message": "Invalid JSON"}, 400)
        tx = sim.transactions.get(str(body.get("pay_token"))) if isinstance(body, dict) else None
        if (
            tx is None
            or tx.flow != "redirect"
            or tx.external_id != body.get("order_id")
            or tx.amount != body.get("amount")
        ):
            return json_response({"status": 404, "message": "Transaction not found"}, 404)
        return json_response(
            {
                "status": sim.raw_status(tx),
                "order_id": tx.external_id,
                "txnid": tx.wire["txnid"] if tx.state == "succeeded" else None,
            }
        )

    @app.get("/webpay/pay/{pay_token}", response_class=HTMLResponse)
    async def payment_page(pay_token: str) -> Response:
        tx = sim.transactions.get(pay_token)
        if tx is None or tx.flow != "redirect":
            return HTMLResponse("<p>Lien de paiement inconnu.</p>", status_code=404)
        return render("webpay.html", tx=tx, status=sim.raw_status(tx))

    @app.post("/webpay/pay/{pay_token}")
    async def payment_page_submit(
        pay_token: str, msisdn: str = Form(""), action: str = Form("confirm")
    ) -> Response:
        tx = sim.transactions.get(pay_token)
        if tx is None or tx.flow != "redirect":
            return HTMLResponse("<p>Lien de paiement inconnu.</p>", status_code=404)
        if tx.state != "pending" or not tx.awaiting_approval:
            return HTMLResponse("<p>Ce paiement n'est plus en attente.</p>", status_code=409)
        if action == "cancel":
            sim.reject(tx)
            return RedirectResponse(tx.wire["cancel_url"], status_code=303)
        digits = "".join(c for c in msisdn if c.isdigit()).removeprefix("237")
        if len(digits) != 9 or digits[0] != "6":
            return render("webpay.html", tx=tx, status=sim.raw_status(tx), error="Numero invalide")
        tx.msisdn = digits
        tx.awaiting_approval = False
        tx.outcome = sim.plan(digits, "collection")
        sim.start(tx)
        return RedirectResponse(tx.wire["return_url"], status_code=303)

    return app
