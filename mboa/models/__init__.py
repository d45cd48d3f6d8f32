"""Every ORM table, one module each; imported here so Alembic and the mappers see them all."""

from mboa.kit.db import Model
from mboa.models.api_key import ApiKey, ApiKeyType
from mboa.models.audit import AuditChainHead, AuditLog  # audit log (issue 17 item 4)
from mboa.models.checkout import CheckoutSession, PaymentLink
from mboa.models.customer import Customer
from mboa.models.disbursement import Disbursement
from mboa.models.event import Event, EventSequence
from mboa.models.idempotency_key import IdempotencyKey
from mboa.models.kyc import KycDocument, MerchantProfile, RiskNote
from mboa.models.ledger import (
    LedgerAccount,
    LedgerEntry,
    LedgerFeePlan,
    LedgerOpenPending,
    LedgerSettlementDue,
    LedgerTransaction,
)
from mboa.models.merchant import MemberRole, Merchant, MerchantMember, MerchantStatus
from mboa.models.operator_discrepancy import OperatorDiscrepancy
from mboa.models.outbox import OutboxMessage
from mboa.models.payment import PaymentAttempt, PaymentIntent
from mboa.models.payout import Payout
from mboa.models.provider_event import CallbackResult, CallbackVerification, ProviderEvent
from mboa.models.refund import Refund  # refunds (issue 13 point 4)
from mboa.models.session import SpentRefreshToken, UserSession
from mboa.models.team import Invitation, PasswordReset  # team and e-mail (issue 16)
from mboa.models.user import User, UserRecoveryCode
from mboa.models.webhook import (
    DeliveryStatus,
    Notification,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEndpointStatus,
)

__all__ = [
    "ApiKey",
    "ApiKeyType",
    "AuditChainHead",
    "AuditLog",
    "CallbackResult",
    "CallbackVerification",
    "CheckoutSession",
    "Customer",
    "DeliveryStatus",
    "Disbursement",
    "Event",
    "EventSequence",
    "IdempotencyKey",
    "Invitation",
    "KycDocument",
    "LedgerAccount",
    "LedgerEntry",
    "LedgerFeePlan",
    "LedgerOpenPending",
    "LedgerSettlementDue",
    "LedgerTransaction",
    "MemberRole",
    "Merchant",
    "MerchantMember",
    "MerchantProfile",
    "MerchantStatus",
    "Model",
    "Notification",
    "OperatorDiscrepancy",
    "OutboxMessage",
    "PasswordReset",
    "PaymentAttempt",
    "PaymentIntent",
    "PaymentLink",
    "Payout",
    "ProviderEvent",
    "Refund",
    "RiskNote",
    "SpentRefreshToken",
    "User",
    "UserRecoveryCode",
    "UserSession",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEndpointStatus",
]
