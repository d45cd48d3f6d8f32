"""The provider port: one small Protocol per capability, and a `ProviderSpec` saying which ones a
provider offers (Hyperswitch-style, see docs/providers.md).

Services depend on these Protocols, never on an adapter class. A provider that lacks a
capability still has the method, which raises `UnsupportedCapability`; check
`spec.supports(...)` first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar, runtime_checkable

from mboa.providers.types import (
    Balance,
    Capability,
    CollectionFlow,
    CollectionRequest,
    DisbursementRequest,
    Product,
    ProviderName,
    ProviderNotification,
    TransactionRef,
    TransactionResult,
)

if TYPE_CHECKING:
    # Annotations only: importing the port must not load httpx, and config.py imports the
    # operators' settings.
    import httpx

    from mboa.providers.config import ProvidersSettings


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """What a provider supports; static, known without credentials or network."""

    name: ProviderName
    display_name: str
    currencies: frozenset[str]
    capabilities: frozenset[Capability]
    collection_flows: frozenset[CollectionFlow]
    phone_prefixes: tuple[str, ...]
    """National-number prefixes (after 237) that usually belong to this operator
    (docs/providers-wire.md §3.2). A routing hint only: numbers are portable."""

    def supports(self, capability: Capability) -> bool:
        return capability in self.capabilities


@runtime_checkable
class ReferenceIssuer(Protocol):
    async def reserve_reference(self, product: Product) -> str:
        """Return a fresh operator-side reference for the next collection or payout.

        Persist it before calling `collect`/`disburse` so that a retry after a crash or a
        timeout re-uses it. MTN: a local UUID v4 (no I/O). Orange: a `payToken` from `mp/init`
        or `cashin/init`."""
        ...


@runtime_checkable
class Collector(Protocol):
    async def collect(self, request: CollectionRequest) -> TransactionResult:
        """Ask the payer to pay. Returns the state right after the operator accepted the request
        (usually pending); the result's `ref` is what to persist for status reads.

        Safe to call again with the same `request.reference` after a timeout: the adapter
        detects that the operator already has it and returns its state."""
        ...


@runtime_checkable
class CollectionStatusReader(Protocol):
    async def collection_status(self, ref: TransactionRef) -> TransactionResult:
        """Read a collection's state from the operator (the only source of truth)."""
        ...


@runtime_checkable
class Disburser(Protocol):
    async def disburse(self, request: DisbursementRequest) -> TransactionResult:
        """Pay out to a wallet. Same retry contract as `collect`."""
        ...


@runtime_checkable
class DisbursementStatusReader(Protocol):
    async def disbursement_status(self, ref: TransactionRef) -> TransactionResult:
        """Read a payout's state from the operator."""
        ...


@runtime_checkable
class NotificationParser(Protocol):
    def parse_notification(
        self,
        body: bytes,
        *,
        headers: Mapping[str, str] | None = None,
        our_id: str | None = None,
    ) -> ProviderNotification:
        """Turn a callback body into a neutral hint. `our_id` is the id we put in the callback
        URL path. Raises `InvalidNotification` on an unreadable body."""
        ...

    def verify_notification(
        self, notification: ProviderNotification, *, expected_token: str | None
    ) -> None:
        """Check what can be checked (Orange WebPay's `notif_token`); raise
        `InvalidNotification` otherwise. Passing is never proof: confirm with a status read."""
        ...


@runtime_checkable
class BalanceReader(Protocol):
    async def balance(self, product: Product = Product.collection) -> Balance:
        """Our available balance on the operator account behind `product`."""
        ...


@runtime_checkable
class AccountHolderChecker(Protocol):
    async def is_account_holder_active(self, phone: str) -> bool:
        """Whether `phone` (E.164) has an active wallet at this operator."""
        ...


@runtime_checkable
class PromptResender(Protocol):
    async def resend_prompt(self, ref: TransactionRef) -> None:
        """Push the approval prompt to the payer's phone again (Orange `mp/push`)."""
        ...


@runtime_checkable
class PaymentProvider(
    ReferenceIssuer,
    Collector,
    CollectionStatusReader,
    Disburser,
    DisbursementStatusReader,
    NotificationParser,
    BalanceReader,
    AccountHolderChecker,
    PromptResender,
    Protocol,
):
    """Everything a provider adapter exposes; `spec` says which parts really work."""

    @property
    def spec(self) -> ProviderSpec: ...

    async def aclose(self) -> None:
        """Release HTTP connections."""
        ...


class OperatorSettings(Protocol):
    """What the registry needs of an operator's settings group."""

    @property
    def enabled(self) -> bool: ...


SettingsT = TypeVar("SettingsT", bound=OperatorSettings)
SettingsT_contra = TypeVar("SettingsT_contra", bound=OperatorSettings, contravariant=True)


class ProviderFactory(Protocol[SettingsT_contra]):
    """An adapter class: built from its settings group (and a test transport)."""

    def __call__(
        self, settings: SettingsT_contra, /, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> PaymentProvider: ...


@dataclass(frozen=True, slots=True)
class OperatorEntry(Generic[SettingsT]):
    """Everything the registry knows about one operator, declared once next to its adapter."""

    spec: ProviderSpec
    settings_of: Callable[[ProvidersSettings], SettingsT]
    """Its group in `settings.providers` (`MBOA_PROVIDERS__<NAME>__…`)."""
    build: ProviderFactory[SettingsT]

    @property
    def name(self) -> ProviderName:
        return self.spec.name

    def create(
        self, providers: ProvidersSettings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> PaymentProvider:
        return self.build(self.settings_of(providers), transport=transport)
