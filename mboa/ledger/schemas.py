from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from mboa.kit.schemas import UnixTimestamp
from mboa.ledger.service import BalanceTransactionView, MerchantBalance


class BalanceAmount(BaseModel):
    amount: int = Field(description="Minor units (XAF has none).")
    currency: str


class Balance(BaseModel):
    """The merchant's balance in the key's mode (api-conventions §A6)."""

    object: Literal["balance"] = "balance"
    livemode: bool
    available: list[BalanceAmount] = Field(description="Can be paid out now.")
    pending: list[BalanceAmount] = Field(description="Collected, not yet settled.")
    reserved: list[BalanceAmount] = Field(
        description="Set aside for payouts and refunds in flight."
    )

    @classmethod
    def of(cls, livemode: bool, balances: list[MerchantBalance]) -> Balance:
        if not balances:
            balances = [MerchantBalance("XAF", 0, 0, 0)]
        return cls(
            livemode=livemode,
            available=[BalanceAmount(amount=b.available, currency=b.currency) for b in balances],
            pending=[BalanceAmount(amount=b.pending, currency=b.currency) for b in balances],
            reserved=[BalanceAmount(amount=b.reserved, currency=b.currency) for b in balances],
        )


class FeeDetail(BaseModel):
    amount: int
    currency: str
    type: Literal["mboa_fee"] = "mboa_fee"
    description: str


class BalanceTransaction(BaseModel):
    """One immutable movement of the merchant's balance (`txn_…`)."""

    id: str
    object: Literal["balance_transaction"] = "balance_transaction"
    livemode: bool
    amount: int = Field(description="Gross amount, minor units; negative when money leaves.")
    fee: int = Field(description="Fees paid for this transaction (positive when charged).")
    net: int = Field(description="amount - fee: the effect on the merchant's balance.")
    currency: str
    type: str = Field(description="payment, payout, refund, payout_failure, adjustment, …")
    source: str | None = Field(description="The object that caused it, e.g. pi_….")
    status: Literal["pending", "available"]
    available_on: UnixTimestamp
    created: UnixTimestamp
    description: str | None
    fee_details: list[FeeDetail]
    metadata: dict[str, str]

    @classmethod
    def of(cls, view: BalanceTransactionView) -> BalanceTransaction:
        row = view.transaction
        fee = row.fee or 0
        return cls(
            id=row.id,
            livemode=row.livemode,
            amount=row.amount or 0,
            fee=fee,
            net=row.net if row.net is not None else (row.amount or 0) - fee,
            currency=row.currency.strip(),
            type=row.bt_type or row.type,
            source=row.source,
            status="pending" if view.status == "pending" else "available",
            available_on=row.available_on or row.created_at,
            created=row.created_at,
            description=row.description,
            fee_details=(
                [FeeDetail(amount=fee, currency=row.currency.strip(), description="Mboa Pay fee")]
                if fee
                else []
            ),
            metadata={k: str(v) for k, v in (row.metadata_ or {}).items()},
        )
