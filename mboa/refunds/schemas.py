from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, StrictInt

from mboa.kit.schemas import ApiObject, InputSchema, Metadata, Schema, UnixTimestamp
from mboa.providers.types import ProviderName
from mboa.refunds.states import Status

Reason = Literal["duplicate", "fraudulent", "requested_by_customer", "expired_uncaptured"]
"""`expired_uncaptured` is ours: the automatic refund of a success that arrived after the intent
was canceled (docs/payments.md, "Late successes"); the API does not take it."""
RequestedReason = Literal["duplicate", "fraudulent", "requested_by_customer"]


class RefundDestination(Schema):
    phone: str = Field(description="The payer's wallet, masked: +23767*****56.")
    provider: ProviderName


class Refund(ApiObject):
    """Money given back to the payer of a payment intent (`re_…`, docs/refunds.md)."""

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "re_01JD5Z8Q4Y2V6N3K7M9P1R0S2T",
                    "object": "refund",
                    "livemode": False,
                    "created": 1795750600,
                    "metadata": {},
                    "payment_intent": "pi_01JD5Z8Q4Y2V6N3K7M9P1R0S2A",
                    "amount": 500,
                    "fee_returned": 10,
                    "currency": "XAF",
                    "status": "succeeded",
                    "reason": "requested_by_customer",
                    "destination": {"phone": "+23767*****00", "provider": "mtn_momo"},
                }
            ]
        },
    )

    object: Literal["refund"] = "refund"
    payment_intent: str
    amount: int = Field(description="What the payer gets back, in XAF.")
    fee_returned: int = Field(
        description="The share of the payment's fee given back with the refund: the merchant's "
        "balance pays `amount - fee_returned`."
    )
    currency: str
    status: Status
    reason: Reason | None
    destination: RefundDestination
    failure_reason: str | None
    failure_message: str | None
    succeeded_at: UnixTimestamp | None
    failed_at: UnixTimestamp | None
    balance_transaction: str = Field(description="The reservation on the ledger (`txn_…`).")
    operator_reference: str | None = Field(description="Our reference at the operator.")
    operator_transaction_id: str | None


class RefundCreate(InputSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "payment_intent": "pi_01JD5Z8Q4Y2V6N3K7M9P1R0S2A",
                    "amount": 500,
                    "reason": "requested_by_customer",
                }
            ]
        }
    )

    payment_intent: str = Field(max_length=40)
    amount: StrictInt | None = Field(
        default=None,
        description="In XAF; the rest of what was received when absent. Several partial refunds "
        "may follow each other up to the amount received.",
    )
    reason: RequestedReason | None = None
    metadata: Metadata | None = None
