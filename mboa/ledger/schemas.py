from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, StrictInt

from mboa.kit.schemas import InputSchema, UnixTimestamp
from mboa.ledger.fees import MAX_FIXED_AMOUNT, MAX_SETTLEMENT_DELAY_SECONDS, FeePlan
from mboa.ledger.service import BalanceTransactionView, MerchantBalance
from mboa.providers.types import ProviderName


class BalanceAmount(BaseModel):
    amount: int = Field(description="Minor units (XAF has none).")
    currency: str


class Balance(BaseModel):
    """The merchant's balance in the key's mode (docs/api-conventions.md §A6)."""

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


class FeePlanView(BaseModel):
    """The fees a merchant pays on collections through one operator, in one currency."""

    object: Literal["fee_plan"] = "fee_plan"
    operator: str
    currency: str
    percent_bps: int = Field(description="Basis points of the amount (250 = 2.5 %).")
    fixed_amount: int = Field(description="Added to each collection's fee, minor units.")
    settlement_delay_seconds: int = Field(
        description="How long collected money stays pending before it is available."
    )
    default: bool = Field(description="True when the merchant has no plan of its own here.")

    @classmethod
    def of(cls, plan: FeePlan) -> FeePlanView:
        return cls(
            operator=plan.operator,
            currency=plan.currency,
            percent_bps=plan.percent_bps,
            fixed_amount=plan.fixed_amount,
            settlement_delay_seconds=plan.settlement_delay_seconds,
            default=plan.merchant_id is None,
        )


class FeePlanSet(InputSchema):
    """Set a merchant's own plan for one operator and currency (replacing any it had)."""

    operator: ProviderName
    currency: Literal["XAF"] = "XAF"
    percent_bps: StrictInt = Field(ge=0, le=10_000)
    fixed_amount: StrictInt = Field(ge=0, le=MAX_FIXED_AMOUNT)
    settlement_delay_seconds: StrictInt = Field(
        default=86_400, ge=0, le=MAX_SETTLEMENT_DELAY_SECONDS
    )
