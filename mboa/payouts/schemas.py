from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, StrictInt

from mboa.kit.schemas import ApiObject, InputSchema, Metadata, Schema, UnixTimestamp
from mboa.payouts.states import Status
from mboa.providers.types import ProviderName

ReviewStatus = Literal["not_required", "awaiting", "approved", "rejected"]
CancellationReason = Literal["requested_by_merchant", "rejected_by_platform"]


class Destination(Schema):
    phone: str = Field(description="The wallet's number, masked: +23767*****56.")
    provider: ProviderName


class Payout(ApiObject):
    """Money sent from the available balance to a mobile-money wallet (`po_…`, docs/payouts.md)."""

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "po_01JD5Z8Q4Y2V6N3K7M9P1R0S2T",
                    "object": "payout",
                    "livemode": False,
                    "created": 1795750600,
                    "metadata": {},
                    "amount": 5000,
                    "currency": "XAF",
                    "status": "paid",
                    "destination": {"phone": "+23767*****00", "provider": "mtn_momo"},
                }
            ]
        },
    )

    object: Literal["payout"] = "payout"
    amount: int
    currency: str
    description: str | None
    status: Status
    destination: Destination
    review_status: ReviewStatus = Field(
        description="`awaiting` while a live payout above the review threshold waits for staff."
    )
    failure_code: str | None
    failure_message: str | None
    cancellation_reason: CancellationReason | None
    canceled_at: UnixTimestamp | None
    paid_at: UnixTimestamp | None
    failed_at: UnixTimestamp | None
    balance_transaction: str = Field(description="The reservation on the ledger (`txn_…`).")
    operator_reference: str | None = Field(description="Our reference at the operator.")
    operator_transaction_id: str | None


class DestinationCreate(InputSchema):
    phone: str = Field(max_length=20, description="The wallet to pay, e.g. +237670000000.")
    provider: ProviderName | None = Field(
        default=None, description="The operator; detected from the number when absent."
    )


class PayoutCreate(InputSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "amount": 5000,
                    "currency": "XAF",
                    "destination": {"phone": "+237670000000"},
                    "description": "Weekly withdrawal",
                }
            ]
        }
    )

    amount: StrictInt = Field(description="In XAF (no minor unit).")
    currency: str = Field(min_length=3, max_length=3)
    destination: DestinationCreate
    description: str | None = Field(default=None, max_length=500)
    metadata: Metadata | None = None
