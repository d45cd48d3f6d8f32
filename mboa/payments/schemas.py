from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import ConfigDict, Field, StrictInt

from mboa.kit.schemas import ApiObject, InputSchema, Metadata, Schema, UnixTimestamp
from mboa.payments.states import CancellationReason, Status
from mboa.providers.types import ProviderName


class PaymentError(Schema):
    """Why the last attempt failed, in our words, in English and French."""

    code: str
    message: str
    message_fr: str
    provider_code: str | None = None
    """The operator's own reason, for support (`NOT_ENOUGH_FUNDS`, `60019`…)."""


class PaymentAttempt(Schema):
    id: str
    object: Literal["payment_attempt"] = "payment_attempt"
    provider: ProviderName
    flow: Literal["push", "redirect"]
    phone: str | None = Field(description="The payer's number, masked: +23767*****56.")
    status: Literal["pending", "succeeded", "failed"]
    operator_reference: str | None
    operator_transaction_id: str | None
    failure_code: str | None
    created: UnixTimestamp


class NextAction(Schema):
    type: Literal["redirect_to_url"] = "redirect_to_url"
    url: str


class PaymentIntent(ApiObject):
    """A request for money (`pi_…`), collected from a mobile-money wallet (docs/payments.md)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "pi_01JD5Z8Q4Y2V6N3K7M9P1R0S2T",
                    "object": "payment_intent",
                    "livemode": False,
                    "created": 1795750600,
                    "metadata": {"order_id": "6735"},
                    "amount": 1500,
                    "currency": "XAF",
                    "status": "succeeded",
                    "reference": "order-6735",
                    "amount_received": 1500,
                    "fee": 30,
                    "net": 1470,
                    "amount_refunded": 0,
                }
            ]
        }
    )

    object: Literal["payment_intent"] = "payment_intent"
    amount: int
    currency: str
    status: Status
    reference: str | None
    description: str | None
    customer: str | None
    provider: ProviderName | None
    cancellation_reason: CancellationReason | None
    canceled_at: UnixTimestamp | None
    expires_at: UnixTimestamp
    amount_received: int
    fee: int
    net: int
    amount_refunded: int
    refund_due: bool = Field(
        description="A success arrived after the intent was canceled: the payer is owed a refund."
    )
    last_payment_error: PaymentError | None
    latest_attempt: PaymentAttempt | None
    next_action: NextAction | None


def render(intent: Mapping[str, Any], attempt: Mapping[str, Any] | None) -> PaymentIntent:
    """The API object from an intent's columns and its latest attempt's (ORM attribute names);
    the same function serves the ORM path, the read path and the events' snapshots."""
    latest = None
    next_action = None
    if attempt is not None:
        latest = PaymentAttempt(
            id=attempt["id"],
            provider=attempt["provider"],
            flow=attempt["flow"],
            phone=attempt["phone_masked"],
            status=attempt["status"],
            operator_reference=attempt["operator_reference"],
            operator_transaction_id=attempt["operator_transaction_id"],
            failure_code=attempt["failure_code"],
            created=attempt["created_at"],
        )
        if (
            attempt["status"] == "pending"
            and attempt["redirect_url"]
            and intent["status"] == Status.processing
        ):
            next_action = NextAction(url=attempt["redirect_url"])
    return PaymentIntent(
        id=intent["id"],
        livemode=intent["livemode"],
        created=intent["created_at"],
        metadata=intent["metadata_"],
        amount=intent["amount"],
        currency=intent["currency"],
        status=intent["status"],
        reference=intent["reference"],
        description=intent["description"],
        customer=intent["customer_id"],
        provider=intent["provider"],
        cancellation_reason=intent["cancellation_reason"],
        canceled_at=intent["canceled_at"],
        expires_at=intent["expires_at"],
        amount_received=intent["amount_received"],
        fee=intent["fee"],
        net=intent["net"],
        amount_refunded=intent["amount_refunded"],
        refund_due=intent["refund_due"],
        last_payment_error=intent["last_payment_error"],
        latest_attempt=latest,
        next_action=next_action,
    )


class PaymentIntentCreate(InputSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "amount": 1500,
                    "currency": "XAF",
                    "reference": "order-6735",
                    "phone": "+237670000000",
                    "metadata": {"order_id": "6735"},
                }
            ]
        }
    )

    amount: StrictInt = Field(description="In XAF (no minor unit): 1500 is 1 500 FCFA.")
    currency: str = Field(min_length=3, max_length=3)
    reference: str | None = Field(
        default=None, min_length=1, max_length=100, description="Yours; unique per mode."
    )
    description: str | None = Field(default=None, max_length=500)
    customer: str | None = Field(default=None, max_length=40)
    metadata: Metadata | None = None
    expires_in: StrictInt | None = Field(
        default=None, description="Seconds until an unpaid intent is canceled (`expired`)."
    )
    phone: str | None = Field(
        default=None,
        max_length=20,
        description="The payer's wallet: with it the intent is confirmed at once.",
    )
    provider: ProviderName | None = Field(
        default=None, description="The operator; detected from the number when absent."
    )


class PaymentIntentConfirm(InputSchema):
    phone: str | None = Field(default=None, max_length=20)
    provider: ProviderName | None = None


class PaymentIntentCancel(InputSchema):
    cancellation_reason: (
        Literal["requested_by_customer", "duplicate", "fraudulent", "abandoned"] | None
    ) = None
