"""Mboa Pay's API from Python: `mboapay.Client` (or `mboapay.AsyncClient`), resources as
attributes, typed objects, retries, pagination and webhook verification (README.md)."""

from . import webhooks
from ._async.client import AsyncClient
from ._async.pagination import AsyncListIterator
from ._errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    ConflictError,
    IdempotencyError,
    InvalidRequestError,
    MboaError,
    NotFoundError,
    PermissionDeniedError,
    ProviderError,
    RateLimitError,
    ServerError,
)
from ._models import (
    Balance,
    BalanceAmount,
    BalanceTransaction,
    CheckoutSession,
    Customer,
    DeletedCustomer,
    DeletedWebhookEndpoint,
    EventObject,
    PaymentAttempt,
    PaymentError,
    PaymentIntent,
    PaymentLink,
    Payout,
    Refund,
    WebhookDelivery,
    WebhookEndpoint,
)
from ._sync.client import Client
from ._sync.pagination import ListIterator
from ._version import VERSION

Event = EventObject
__version__ = VERSION

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AsyncClient",
    "AsyncListIterator",
    "AuthenticationError",
    "Balance",
    "BalanceAmount",
    "BalanceTransaction",
    "CheckoutSession",
    "Client",
    "ConflictError",
    "Customer",
    "DeletedCustomer",
    "DeletedWebhookEndpoint",
    "Event",
    "EventObject",
    "IdempotencyError",
    "InvalidRequestError",
    "ListIterator",
    "MboaError",
    "NotFoundError",
    "PaymentAttempt",
    "PaymentError",
    "PaymentIntent",
    "PaymentLink",
    "Payout",
    "PermissionDeniedError",
    "ProviderError",
    "RateLimitError",
    "Refund",
    "ServerError",
    "WebhookDelivery",
    "WebhookEndpoint",
    "__version__",
    "webhooks",
]
