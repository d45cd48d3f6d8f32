"""Provider-neutral vocabulary: what the rest of Mboa Pay sees of an operator.

Amounts are `int` minor units plus an ISO 4217 currency (XAF has no minor unit, so 1 500 XAF is
`1500`). Phone numbers are E.164 strings (`+2376…`). No float ever crosses this boundary.
"""

from __future__ import annotations

import enum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt


class ProviderName(enum.StrEnum):
    mtn_momo = "mtn_momo"
    """MTN Mobile Money Cameroon, through the MoMo Open API (docs/providers-wire.md §1)."""
    orange_money = "orange_money"
    """Orange Money Cameroon: omcoreapis USSD push and OM WebPay (docs/providers-wire.md §2)."""


class Capability(enum.StrEnum):
    collect = "collect"
    """Ask a payer to pay us (MTN requesttopay, Orange mp/pay or WebPay)."""
    collection_status = "collection_status"
    """Read the state of a collection."""
    disburse = "disburse"
    """Pay out to a wallet (MTN transfer, Orange cashin)."""
    disbursement_status = "disbursement_status"
    """Read the state of a payout."""
    notifications = "notifications"
    """Parse the operator's callbacks into `ProviderNotification` hints."""
    balance = "balance"
    """Read our own account balance at the operator."""
    account_holder_check = "account_holder_check"
    """Ask the operator whether a wallet exists and is active."""
    resend_prompt = "resend_prompt"
    """Send the approval prompt to the payer's phone again."""


class Product(enum.StrEnum):
    """The operator product a call belongs to; each has its own credentials and breaker."""

    collection = "collection"
    disbursement = "disbursement"


class CollectionFlow(enum.StrEnum):
    push = "push"
    """The operator prompts the payer's phone (USSD or app) to approve."""
    redirect = "redirect"
    """The payer finishes on the operator's web page (Orange WebPay)."""


class TransactionStatus(enum.StrEnum):
    pending = "pending"
    """Not final: waiting for the payer, the operator, or simply not known yet."""
    succeeded = "succeeded"
    """Final: money moved."""
    failed = "failed"
    """Final: no money moved."""

    @property
    def is_final(self) -> bool:
        return self is not TransactionStatus.pending


class FailureCode(enum.StrEnum):
    """Why a transaction failed, in our words; the operator's own code is kept next to it."""

    insufficient_funds = "insufficient_funds"
    """The paying wallet (the payer's, or our disbursement account) lacked the money."""
    declined = "declined"
    """The payer rejected or cancelled the prompt."""
    expired = "expired"
    """The payer did not approve within the operator's approval window."""
    payer_not_found = "payer_not_found"
    """No wallet for the payer's number."""
    payee_not_found = "payee_not_found"
    """No wallet for the payee's number."""
    payee_not_allowed = "payee_not_allowed"
    """The payee's wallet may not receive money."""
    limit_reached = "limit_reached"
    """A wallet limit was hit."""
    not_allowed = "not_allowed"
    """The operator refused the operation for this account or configuration."""
    operator_error = "operator_error"
    """The operator reported an internal failure."""
    unknown = "unknown"
    """The operator gave a reason we do not recognise (see `raw_reason`)."""


Amount = Annotated[StrictInt, Field(gt=0)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
E164 = Annotated[str, Field(pattern=r"^\+[1-9]\d{6,14}$")]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CollectionRequest(_Frozen):
    """Ask `phone` to pay `amount`; the caller persists `reference` before calling."""

    external_id: str = Field(min_length=1, max_length=64)
    """Our own id for this attempt; sent as MTN `externalId` / Orange `orderId`."""
    amount: Amount
    currency: Currency
    phone: E164 | None = None
    """The payer; required for the push flow."""
    reference: str | None = None
    """The operator-side reference from `reserve_reference()` (MTN X-Reference-Id, Orange
    payToken). Required for the push flow, so that a retry re-uses it (docs/providers-wire.md §5.1)."""
    description: str = Field(default="", max_length=160)
    callback_url: str | None = None
    """Where the operator should notify us; it carries our own id (docs/providers-wire.md §1.9)."""
    flow: CollectionFlow = CollectionFlow.push
    return_url: str | None = None
    """Redirect flow only: where the operator's page sends the payer afterwards."""
    cancel_url: str | None = None


class DisbursementRequest(_Frozen):
    """Pay `amount` to `phone`; the caller persists `reference` before calling."""

    external_id: str = Field(min_length=1, max_length=64)
    amount: Amount
    currency: Currency
    phone: E164
    reference: str
    description: str = Field(default="", max_length=160)
    callback_url: str | None = None


class TransactionRef(_Frozen):
    """Everything needed to read a transaction's state again; persist it with the attempt."""

    provider: ProviderName
    product: Product
    reference: str
    """MTN X-Reference-Id, Orange payToken, or WebPay pay_token."""
    flow: CollectionFlow = CollectionFlow.push
    external_id: str | None = None
    """WebPay's `transactionstatus` needs our order id…"""
    amount: StrictInt | None = None
    """…and the amount (docs/providers-wire.md §2.1)."""


class TransactionResult(_Frozen):
    """The state of a collection or payout as the operator reported it."""

    ref: TransactionRef
    status: TransactionStatus
    failure_code: FailureCode | None = None
    raw_status: str | None = None
    """The operator's own status string, kept for audit (`SUCCESSFULL`, `CREATED`…)."""
    raw_reason: str | None = None
    """The operator's own reason or error code, kept for audit."""
    operator_transaction_id: str | None = None
    """MTN `financialTransactionId`, Orange `txnid`: the id on the operator's statement."""
    amount: StrictInt | None = None
    currency: str | None = None
    redirect_url: str | None = None
    """Redirect flow: the operator page to send the payer to."""
    notification_token: str | None = None
    """Redirect flow: the secret the operator echoes in its notification; persist it."""
    already_existed: bool = False
    """True when the operator had already accepted this reference (an earlier, timed-out try)."""


class Balance(_Frozen):
    available: StrictInt
    currency: Currency


class ProviderNotification(_Frozen):
    """An inbound callback, parsed. It is a hint only: confirm with a status read before acting,
    because no operator signs its callbacks (docs/providers-wire.md §1.9, §2.1, §2.2)."""

    provider: ProviderName
    our_id: str | None = None
    """Our own record id, taken from the callback URL path we gave the operator."""
    reference: str | None = None
    """The operator-side reference when the body carries one (MTN usually does not)."""
    external_id: str | None = None
    status: TransactionStatus
    failure_code: FailureCode | None = None
    raw_status: str | None = None
    raw_reason: str | None = None
    operator_transaction_id: str | None = None
    amount: StrictInt | None = None
    currency: str | None = None
    notification_token: str | None = None
    dedupe_key: str
    """Stable across duplicate deliveries of the same callback, for de-duplication."""
    payload: dict[str, Any]
    """The decoded body, for audit."""
