"""What the staff console shows and does, through the domains' own services: KYC decisions
(`kyc.service`), payouts' review (`payouts.service`), fee plans (`ledger.fees`), balances
(`ledger.service`, read under the merchant's row-level security), `ledger verify`."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

import anyio
import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from mboa.auth.subject import AuthSubject, SubjectKind
from mboa.config import Settings
from mboa.console.repository import ConsoleRepository, ProviderWindow
from mboa.kit.time import utc_now
from mboa.kyc.schemas import Kyc
from mboa.kyc.service import kyc as kyc_service
from mboa.ledger.fees import FeePlan, fee_plan
from mboa.ledger.service import MerchantBalance, ledger
from mboa.ledger.verify import verify
from mboa.ledger.verify_repository import VerifyRepository
from mboa.merchants.service import merchant as merchant_service
from mboa.models import ApiKey, Merchant, PaymentIntent, RiskNote
from mboa.payouts.schemas import Payout as PayoutObject
from mboa.payouts.service import payout as payout_service
from mboa.postgres import Database, TenantContext, set_tenant
from mboa.providers import breaker_board
from mboa.providers.breaker_board import BreakerSummary
from mboa.providers.registry import ProviderRegistry
from mboa.providers.types import Capability, ProviderName

LEDGER_VERIFY_KEY = "mboa:console:ledger_verify"
HEALTH_WINDOW = dt.timedelta(hours=1)
BALANCE_TIMEOUT_SECONDS = 3.0


@dataclasses.dataclass(frozen=True, slots=True)
class MerchantPage:
    merchant: Merchant
    kyc: Kyc
    members: list[tuple[str, str, str | None]]
    keys: Sequence[ApiKey]
    balances: dict[str, list[MerchantBalance]]
    fee_plans: list[FeePlan]
    payments: Sequence[PaymentIntent]
    notes: Sequence[RiskNote]


@dataclasses.dataclass(frozen=True, slots=True)
class ProviderHealth:
    provider: str
    window: ProviderWindow | None
    breakers: BreakerSummary
    """Its circuit breakers over the workers reporting now (`providers.breaker_board`)."""
    float_balance: int | None
    float_currency: str | None


def staff_subject(user_id: str) -> AuthSubject:
    """The staff member as the services' callers are (payouts' review records `reviewed_by`)."""
    return AuthSubject(
        kind=SubjectKind.user, permissions=frozenset(), user_id=user_id, is_platform_admin=True
    )


class ConsoleService:
    async def merchants(
        self, session: AsyncSession, *, search: str | None, status: str | None
    ) -> tuple[Sequence[Merchant], dict[str, int]]:
        repository = ConsoleRepository.from_session(session)
        rows = await repository.merchants(search=search, status=status)
        return rows, await repository.count_by_status()

    async def merchant_page(
        self, session: AsyncSession, db: Database, merchant_id: str
    ) -> MerchantPage:
        merchant = await merchant_service.get(session, merchant_id)
        repository = ConsoleRepository.from_session(session)
        return MerchantPage(
            merchant=merchant,
            kyc=await kyc_service.view(session, merchant_id),
            members=await repository.members(merchant_id),
            keys=await repository.api_keys(merchant_id),
            balances={
                "test": await self._balances(db, merchant_id, livemode=False),
                "live": await self._balances(db, merchant_id, livemode=True),
            },
            fee_plans=await fee_plan.plans_of(session, merchant_id),
            payments=await repository.recent_payments(merchant_id),
            notes=await kyc_service.notes(session, merchant_id),
        )

    async def _balances(
        self, db: Database, merchant_id: str, *, livemode: bool
    ) -> list[MerchantBalance]:
        """The ledger's own balance read, under the merchant's row-level security (the API
        role, scoped to that merchant and mode), as its dashboard shows them."""
        async with db.app_sessions() as session, session.begin():
            await set_tenant(session, TenantContext(merchant_id, livemode))
            return await ledger.merchant_balances(session)

    async def set_fee_plan(
        self,
        session: AsyncSession,
        merchant_id: str,
        *,
        operator: ProviderName,
        percent_bps: int,
        fixed_amount: int,
        settlement_delay_seconds: int,
    ) -> FeePlan:
        await merchant_service.get(session, merchant_id)
        return await fee_plan.set_plan(
            session,
            merchant_id=merchant_id,
            operator=str(operator),
            currency="XAF",
            percent_bps=percent_bps,
            fixed_amount=fixed_amount,
            settlement_delay_seconds=settlement_delay_seconds,
        )

    async def payouts_awaiting(self, session: AsyncSession) -> list[tuple[Any, str]]:
        return await ConsoleRepository.from_session(session).payouts_awaiting()

    async def review_payout(
        self, session: AsyncSession, staff_id: str, payout_id: str, *, approve: bool
    ) -> PayoutObject:
        subject = staff_subject(staff_id)
        if approve:
            return await payout_service.approve(session, subject, payout_id)
        return await payout_service.reject(session, subject, payout_id)

    async def provider_health(
        self,
        session: AsyncSession,
        providers: ProviderRegistry,
        redis: Any,
        *,
        queue_prefix: str,
        now: dt.datetime,
    ) -> list[ProviderHealth]:
        windows = {
            w.provider: w
            for w in await ConsoleRepository.from_session(session).provider_health(
                now - HEALTH_WINDOW
            )
        }
        breakers = await breaker_board.summaries(
            redis, queue_prefix, [name.value for name in ProviderName]
        )
        shown = []
        for name in ProviderName:
            balance, currency = await _float_balance(providers, name)
            shown.append(
                ProviderHealth(
                    provider=name.value,
                    window=windows.get(name.value),
                    breakers=breakers[name.value],
                    float_balance=balance,
                    float_currency=currency,
                )
            )
        return shown

    async def run_ledger_verify(
        self, db: Database, redis: Any, settings: Settings, *, staff_email: str
    ) -> dict[str, Any]:
        """`mboa ledger verify` on demand (one repeatable-read snapshot); the result is kept
        in Redis for the page."""
        async with db.platform_transaction() as session:
            await VerifyRepository.from_session(session).take_snapshot()
            report = await verify(
                session, roles=[settings.database.app_role, settings.database.platform_role]
            )
        result = {
            "ok": report.ok,
            "ran_at": utc_now().isoformat(),
            "by": staff_email,
            "totals": report.totals,
            "violations": report.violations,
            "report": report.render(),
        }
        await redis.set(LEDGER_VERIFY_KEY, orjson.dumps(result))
        return result

    async def last_ledger_verify(self, redis: Any) -> dict[str, Any] | None:
        raw = await redis.get(LEDGER_VERIFY_KEY)
        if not raw:
            return None
        value = orjson.loads(raw)
        value["ran_at"] = dt.datetime.fromisoformat(value["ran_at"])
        return dict(value)


async def _float_balance(
    providers: ProviderRegistry, name: ProviderName
) -> tuple[int | None, str | None]:
    """The operator's own balance of our account, if the adapter reads it; None: unknown
    (disabled, no balance reader, or no answer within a few seconds)."""
    if name not in providers.enabled():
        return None, None
    provider = providers.get(name)
    if not provider.spec.supports(Capability.balance):
        return None, None
    try:
        with anyio.fail_after(BALANCE_TIMEOUT_SECONDS):
            balance = await provider.balance()
    except Exception:
        return None, None
    return balance.available, balance.currency


console = ConsoleService()
