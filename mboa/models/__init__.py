"""Every ORM table, one module each; imported here so Alembic and the mappers see them all."""

from mboa.kit.db import Model
from mboa.models.api_key import ApiKey, ApiKeyType
from mboa.models.customer import Customer
from mboa.models.event import Event
from mboa.models.idempotency_key import IdempotencyKey
from mboa.models.ledger import (
    LedgerAccount,
    LedgerEntry,
    LedgerFeePlan,
    LedgerOpenPending,
    LedgerSettlementDue,
    LedgerTransaction,
)
from mboa.models.merchant import MemberRole, Merchant, MerchantMember, MerchantStatus
from mboa.models.outbox import OutboxMessage
from mboa.models.payment import PaymentAttempt, PaymentIntent
from mboa.models.payout import Disbursement, Payout
from mboa.models.provider_event import CallbackResult, CallbackVerification, ProviderEvent
from mboa.models.refund import Refund, RefundDisbursement  # refunds (issue 13 point 4)
from mboa.models.session import SpentRefreshToken, UserSession
from mboa.models.user import User

__all__ = [
    "ApiKey",
    "ApiKeyType",
    "CallbackResult",
    "CallbackVerification",
    "Customer",
    "Disbursement",
    "Event",
    "IdempotencyKey",
    "LedgerAccount",
    "LedgerEntry",
    "LedgerFeePlan",
    "LedgerOpenPending",
    "LedgerSettlementDue",
    "LedgerTransaction",
    "MemberRole",
    "Merchant",
    "MerchantMember",
    "MerchantStatus",
    "Model",
    "OutboxMessage",
    "PaymentAttempt",
    "PaymentIntent",
    "Payout",
    "ProviderEvent",
    "Refund",
    "RefundDisbursement",
    "SpentRefreshToken",
    "User",
    "UserSession",
]
