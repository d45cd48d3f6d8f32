"""The MTN MoMo Open API, simulated (docs/providers-wire.md §1): same paths, headers, status codes
and bodies as sandbox.momodeveloper.mtn.com, with outcomes chosen by magic numbers."""

from __future__ import annotations

import asyncio
import base64
import uuid
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

import orjson
from fastapi import FastAPI, Request, Response

from mboa.simulator.common import OperatorMiddleware, control_router, json_response
from mboa.simulator.config import SimulatorSettings
from mboa.simulator.engine import Engine, Failure, Kind, SimTransaction
from mboa.simulator.scenarios import Outcome

PRODUCTS = ("collection", "disbursement", "remittance")

_REASONS = {
    Failure.insufficient_funds: "NOT_ENOUGH_FUNDS",
    Failure.rejected: "APPROVAL_REJECTED",
    Failure.expired: "EXPIRED",
    Failure.limit_reached: "PAYER_LIMIT_REACHED",
    Failure.payee_not_allowed: "PAYEE_NOT_ALLOWED_TO_RECEIVE",
    Failure.failed: "INTERNAL_PROCESSING_ERROR",
    Failure.could_not_perform: "COULD_NOT_PERFORM_TRANSACTION",
}
_CONFIG_ERRORS = {
    Outcome.not_allowed: "NOT_ALLOWED",
    Outcome.not_allowed_target_environment: "NOT_ALLOWED_TARGET_ENVIRONMENT",
    Outcome.invalid_callback_url_host: "INVALID_CALLBACK_URL_HOST",
    Outcome.invalid_currency: "INVALID_CURRENCY",
    Outcome.internal_error: "INTERNAL_PROCESSING_ERROR",
}
DUPLICATE = "Duplicated reference id. Creation of resource failed."
_SUBSCRIPTION_DENIED = {
    "statusCode": 401,
    "message": "Access denied due to invalid subscription key. "
    "Make sure to provide a valid key for an active subscription.",
}


def error(status: int, code: str, message: str) -> Response:
    # `{"code", "message"}` as reproduced by several independent mocks (docs/providers-wire.md §1.10).
    return json_response({"code": code, "message": message}, status)


class MtnSimulator(Engine):
    def __init__(self, settings: SimulatorSettings, *, seed: int | None = None) -> None:
        super().__init__("mtn_momo", settings, seed=seed)
        self.render_callback = self._callback

    def reset(self) -> None:
        super().reset()
        self.api_users: dict[str, dict[str, Any]] = {
            self.settings.mtn_api_user: {
                "providerCallbackHost": self.settings.mtn_callback_host,
                "apiKey": self.settings.mtn_api_key,
            }
        }
        self.tokens: dict[str, tuple[str, str, float]] = {}
        """access token -> (product, api user, monotonic expiry)."""

    def revoke_tokens(self) -> None:
        self.tokens.clear()

    def status_body(self, tx: SimTransaction) -> dict[str, Any]:
        party = "payer" if tx.kind == "collection" else "payee"
        body: dict[str, Any] = {}
        if tx.operator_transaction_id:
            body["financialTransactionId"] = tx.operator_transaction_id
        body.update(
            {
                "externalId": tx.external_id,
                "amount": tx.wire.get("amount", str(tx.amount)),
                "currency": tx.currency,
                party: {"partyIdType": tx.wire.get("partyIdType", "MSISDN"), "partyId": tx.msisdn},
                "payerMessage": tx.wire.get("payerMessage", ""),
                "payeeNote": tx.wire.get("payeeNote", ""),
            }
        )
        if tx.state == "pending":
            body["status"] = tx.raw_status_override or "PENDING"
        elif tx.state == "succeeded":
            body["status"] = "SUCCESSFUL"
        else:
            body["status"] = "FAILED"
            reason = _REASONS.get(tx.failure or "", "INTERNAL_PROCESSING_ERROR")
            if tx.failure == Failure.not_found:
                reason = "PAYER_NOT_FOUND" if tx.kind == "collection" else "PAYEE_NOT_FOUND"
            if self.settings.mtn_reason_as_object:
                body["reason"] = {"code": reason, "message": reason.replace("_", " ").lower()}
            else:
                body["reason"] = reason
        return body

    def _callback(self, tx: SimTransaction) -> tuple[str, dict[str, Any]]:
        # The callback body is the status resource, without the reference id (§1.9).
        return self.settings.callback_method, self.status_body(tx)


def _is_uuid4(value: str | None) -> bool:
    try:
        parsed = uuid.UUID(value or "")
    except ValueError:
        return False
    return parsed.version == 4 and str(parsed) == (value or "").lower()


def _subscription_ok(sim: MtnSimulator, request: Request) -> bool:
    key = request.headers.get("ocp-apim-subscription-key", "")
    allowed = sim.settings.mtn_subscription_keys
    return bool(key) and (not allowed or key in allowed)


def _whole_amount(value: Any) -> int | None:
    """MTN takes amounts as strings (§1.5); the simulator keeps whole units."""
    if not isinstance(value, str):
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        return None
    if not number.is_finite() or number <= 0 or number != number.to_integral_value():
        return None
    return int(number)


def create_mtn_app(sim: MtnSimulator) -> FastAPI:
    app = FastAPI(
        title="MTN MoMo simulator", docs_url="/_sim/docs", openapi_url="/_sim/openapi.json"
    )
    app.add_middleware(
        OperatorMiddleware,
        engine=sim,
        unavailable_body={"code": "SERVICE_UNAVAILABLE", "message": "Service unavailable."},
    )
    app.include_router(control_router(sim, title="MTN MoMo"))

    @app.post("/_sim/tokens/revoke")
    async def revoke() -> dict[str, str]:
        sim.revoke_tokens()
        return {"status": "revoked"}

    # -- sandbox provisioning (§1.3) --------------------------------------------------------

    @app.post("/v1_0/apiuser")
    async def create_api_user(request: Request) -> Response:
        if not _subscription_ok(sim, request):
            return json_response(_SUBSCRIPTION_DENIED, 401)
        reference = request.headers.get("x-reference-id")
        if not _is_uuid4(reference):
            return error(400, "INVALID_REFERENCE_ID", "X-Reference-Id must be a UUID v4.")
        assert reference is not None
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return error(400, "BAD_REQUEST", "Body must be JSON.")
        host = body.get("providerCallbackHost") if isinstance(body, dict) else None
        if not isinstance(host, str) or not host:
            return error(400, "BAD_REQUEST", "providerCallbackHost is required.")
        if reference in sim.api_users:
            return error(
                409,
                "RESOURCE_ALREADY_EXIST",
                "Duplicated reference id. Creation of resource failed.",
            )
        sim.api_users[reference] = {"providerCallbackHost": host, "apiKey": None}
        return Response(status_code=201)

    @app.post("/v1_0/apiuser/{api_user}/apikey")
    async def create_api_key(api_user: str, request: Request) -> Response:
        if not _subscription_ok(sim, request):
            return json_response(_SUBSCRIPTION_DENIED, 401)
        user = sim.api_users.get(api_user)
        if user is None:
            return error(404, "RESOURCE_NOT_FOUND", "Requested resource was not found.")
        user["apiKey"] = sim.random_hex(32)
        return json_response({"apiKey": user["apiKey"]}, 201)

    @app.get("/v1_0/apiuser/{api_user}")
    async def get_api_user(api_user: str, request: Request) -> Response:
        if not _subscription_ok(sim, request):
            return json_response(_SUBSCRIPTION_DENIED, 401)
        user = sim.api_users.get(api_user)
        if user is None:
            return error(404, "RESOURCE_NOT_FOUND", "Requested resource was not found.")
        return json_response(
            {"providerCallbackHost": user["providerCallbackHost"], "targetEnvironment": "sandbox"}
        )

    # -- tokens (§1.4) ----------------------------------------------------------------------

    @app.post("/{product}/token/")
    async def token(product: str, request: Request) -> Response:
        if product not in PRODUCTS:
            return error(404, "RESOURCE_NOT_FOUND", "Requested resource was not found.")
        if not _subscription_ok(sim, request):
            return json_response(_SUBSCRIPTION_DENIED, 401)
        # A body is accepted and ignored: widely used clients send `{}` or
        # `{"grant_type": "client_credentials"}` (JSON or form-encoded), and MTN's hosts issue
        # them tokens; only the Basic credentials count.
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        try:
            user_id, _, key = base64.b64decode(encoded, validate=True).decode().partition(":")
        except ValueError:  # binascii.Error, UnicodeDecodeError, non-ASCII input
            user_id, key = "", ""
        user = sim.api_users.get(user_id)
        if scheme.lower() != "basic" or user is None or not key or user.get("apiKey") != key:
            return json_response({"error": "login_failed"}, 401)
        access_token = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSMjU2In0." + sim.random_hex(48)
        ttl = sim.settings.token_ttl_seconds
        sim.tokens[access_token] = (product, user_id, sim.clock() + ttl)
        return json_response(
            {"access_token": access_token, "token_type": "access_token", "expires_in": ttl}
        )

    def authorize(request: Request, product: str) -> tuple[str | None, Response | None]:
        """The API user behind a valid Bearer token for `product`, or the error to return."""
        if not _subscription_ok(sim, request):
            return None, json_response(_SUBSCRIPTION_DENIED, 401)
        scheme, _, token_value = request.headers.get("authorization", "").partition(" ")
        entry = sim.tokens.get(token_value) if scheme.lower() == "bearer" else None
        if entry is not None and entry[2] <= sim.clock():
            del sim.tokens[token_value]  # expired
            entry = None
        if entry is None or entry[0] != product:
            return None, json_response(
                {"statusCode": 401, "message": "Unauthorized. Access token is missing or invalid."},
                401,
            )
        environment = request.headers.get("x-target-environment")
        if not environment:
            return None, error(400, "BAD_REQUEST", "X-Target-Environment is required.")
        if environment not in sim.settings.mtn_target_environments:
            return None, error(
                500, "NOT_ALLOWED_TARGET_ENVIRONMENT", "Access to target environment is forbidden."
            )
        return entry[1], None

    def currency_ok(request: Request, currency: Any) -> bool:
        environment = request.headers.get("x-target-environment")
        if environment == "sandbox":
            # MTN's sandbox takes EUR only (§1.1); ours also takes XAF so merchants can
            # rehearse in the currency they will use.
            return currency in {"EUR", "XAF"}
        return bool(currency == "XAF")

    async def create(request: Request, kind: Kind) -> Response:
        product = kind
        party_field = "payer" if kind == "collection" else "payee"
        user_id, denied = authorize(request, product)
        if denied is not None:
            return denied
        reference = request.headers.get("x-reference-id")
        if not _is_uuid4(reference):
            return error(400, "INVALID_REFERENCE_ID", "X-Reference-Id must be a UUID v4.")
        assert reference is not None
        assert user_id is not None
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return error(400, "BAD_REQUEST", "Body must be JSON.")
        if not isinstance(body, dict):
            return error(400, "BAD_REQUEST", "Body must be a JSON object.")
        amount = _whole_amount(body.get("amount"))
        if amount is None:
            return error(
                400, "BAD_REQUEST", "amount must be a string holding a positive whole number."
            )
        party = body.get(party_field)
        if not (
            isinstance(party, dict)
            and party.get("partyIdType") in {"MSISDN", "EMAIL", "PARTY_CODE"}
            and isinstance(party.get("partyId"), str)
            and party["partyId"]
        ):
            return error(400, "BAD_REQUEST", f"{party_field} must be {{partyIdType, partyId}}.")
        msisdn = party["partyId"]
        if party["partyIdType"] == "MSISDN" and not msisdn.isdigit():
            # "MSISDN format must include country code" and no `+` (§1.5).
            return error(400, "BAD_REQUEST", "partyId must be digits with the country code.")
        for key in ("externalId", "payerMessage", "payeeNote", "currency"):
            value = body.get(key)
            if value is not None and not isinstance(value, str):
                return error(400, "BAD_REQUEST", f"{key} must be a string.")
            if (
                key in {"payerMessage", "payeeNote"}
                and value
                and (len(value) > 160 or "'" in value)
            ):
                return error(400, "BAD_REQUEST", f"{key} is too long or has forbidden characters.")
        if not currency_ok(request, body.get("currency")):
            return error(500, "INVALID_CURRENCY", "Currency not supported.")
        callback_url = request.headers.get("x-callback-url")
        if callback_url is not None:
            parts = urlsplit(callback_url)
            if parts.scheme not in {"http", "https"} or not parts.hostname:
                return error(400, "BAD_REQUEST", "X-Callback-Url is not a valid URL.")
            expected = sim.api_users.get(user_id, {}).get("providerCallbackHost")
            if expected and parts.hostname != expected:
                return error(
                    500,
                    "INVALID_CALLBACK_URL_HOST",
                    "Callback URL host does not match the API user.",
                )
        if reference in sim.transactions:
            return error(
                409,
                "RESOURCE_ALREADY_EXIST",
                "Duplicated reference id. Creation of resource failed.",
            )
        attempt = sim.count_attempt(reference)
        outcome = sim.plan(msisdn, kind)
        if outcome is Outcome.operator_5xx or (outcome is Outcome.transient_5xx and attempt == 1):
            return error(503, "SERVICE_UNAVAILABLE", "Service unavailable.")
        if outcome in _CONFIG_ERRORS:
            return error(500, _CONFIG_ERRORS[outcome], "The request could not be processed.")
        sim.create(
            reference=reference,
            kind=kind,
            amount=amount,
            currency=str(body.get("currency")),
            msisdn=msisdn,
            external_id=str(body.get("externalId") or ""),
            callback_url=callback_url,
            wire={
                "amount": body["amount"],
                "partyIdType": party["partyIdType"],
                "payerMessage": body.get("payerMessage", ""),
                "payeeNote": body.get("payeeNote", ""),
            },
        )
        if outcome is Outcome.operator_timeout and attempt == 1:
            # Processed, but the answer comes after any sane client timeout.
            await asyncio.sleep(sim.settings.slow_response_seconds)
        return Response(status_code=202)

    def read(request: Request, kind: Kind, reference: str) -> Response:
        _, denied = authorize(request, kind)
        if denied is not None:
            return denied
        tx = sim.transactions.get(reference)
        if tx is None or tx.kind != kind:
            return error(404, "RESOURCE_NOT_FOUND", "Requested resource was not found.")
        return json_response(sim.status_body(tx))

    # -- collection (§1.5-§1.7) -------------------------------------------------------------

    @app.post("/collection/v1_0/requesttopay")
    async def request_to_pay(request: Request) -> Response:
        return await create(request, "collection")

    @app.get("/collection/v1_0/requesttopay/{reference}")
    async def request_to_pay_status(reference: str, request: Request) -> Response:
        return read(request, "collection", reference)

    # -- disbursement (§1.8) ----------------------------------------------------------------

    @app.post("/disbursement/v1_0/transfer")
    async def transfer(request: Request) -> Response:
        return await create(request, "disbursement")

    @app.get("/disbursement/v1_0/transfer/{reference}")
    async def transfer_status(reference: str, request: Request) -> Response:
        return read(request, "disbursement", reference)

    # -- account (§1.7) ---------------------------------------------------------------------

    async def balance_of(request: Request, product: str, currency: str | None) -> Response:
        if product not in ("collection", "disbursement"):
            return error(404, "RESOURCE_NOT_FOUND", "Requested resource was not found.")
        _, denied = authorize(request, product)
        if denied is not None:
            return denied
        if currency is not None and currency != "XAF":
            return error(500, "INVALID_CURRENCY", "Currency not supported.")
        available = sim.accounts["collection" if product == "collection" else "disbursement"]
        return json_response({"availableBalance": str(available), "currency": "XAF"})

    @app.get("/{product}/v1_0/account/balance")
    async def balance(product: str, request: Request) -> Response:
        return await balance_of(request, product, None)

    @app.get("/{product}/v1_0/account/balance/{currency}")
    async def balance_in(product: str, currency: str, request: Request) -> Response:
        return await balance_of(request, product, currency)

    @app.get("/{product}/v1_0/accountholder/{id_type}/{holder}/active")
    async def account_holder(product: str, id_type: str, holder: str, request: Request) -> Response:
        if product not in ("collection", "disbursement"):
            return error(404, "RESOURCE_NOT_FOUND", "Requested resource was not found.")
        _, denied = authorize(request, product)
        if denied is not None:
            return denied
        if id_type not in {"msisdn", "email", "party_code"}:
            return error(400, "BAD_REQUEST", "accountHolderIdType is msisdn, email or party_code.")
        outcome = sim.plan(holder, "account_holder")
        if outcome is Outcome.operator_5xx:
            return error(503, "SERVICE_UNAVAILABLE", "Service unavailable.")
        if outcome in _CONFIG_ERRORS:
            return error(500, _CONFIG_ERRORS[outcome], "The request could not be processed.")
        return json_response({"result": outcome not in {Outcome.not_found, Outcome.inactive}})

    return app
