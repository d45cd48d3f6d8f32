"""The demo merchant that `make run` prints: a sandbox account with test keys, and a staff user.

The secret key is stored hashed like any other; its plaintext is kept only in `.mboa/demo.json`
(mode 0600, development data) so that every `make run` can print it again. If that key no longer
works (revoked, or the file was lost) a new one is issued.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from mboa.api_keys.service import api_key as api_key_service
from mboa.auth.repository import AuthRepository
from mboa.config import Settings
from mboa.dev.runtime import jwt_secret
from mboa.kit.crypto import sha256_hex
from mboa.ledger.fees import fee_plan
from mboa.merchants.service import merchant as merchant_service
from mboa.models import ApiKeyType
from mboa.postgres import Database, TenantContext, set_tenant
from mboa.users.repository import UserRepository
from mboa.users.service import user as user_service

DEMO_EMAIL = "demo@mboa.cm"
DEMO_PASSWORD = "demo-merchant-2026"
DEMO_BUSINESS = "Boutique Mboa (demo)"
STAFF_EMAIL = "staff@mboa.cm"
STAFF_PASSWORD = "staff-password-2026"


@dataclasses.dataclass
class DemoAccount:
    email: str
    password: str
    merchant_id: str
    secret_key: str
    publishable_key: str
    staff_email: str
    staff_password: str


def _load(path: Path) -> dict[str, str] | None:
    if not path.exists():
        return None
    loaded: dict[str, str] = json.loads(path.read_text())
    return loaded


def _save(path: Path, stored: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(stored))
    path.chmod(0o600)


async def _usable(db: Database, secret: str) -> bool:
    async with db.app_sessions() as session, session.begin():
        row = await AuthRepository.from_session(session).api_key(sha256_hex(secret))
    return row is not None and row.revoked_at is None and row.expires_at is None


async def shorten_default_settlement(session: AsyncSession, delay_seconds: int) -> None:
    """A local run settles collections after minutes, not a day: the default plans keep their
    rates and take `delay_seconds` (`MBOA_PAYMENTS__LOCAL_SETTLEMENT_DELAY_SECONDS`)."""
    for plan in await fee_plan.default_plans(session):
        if plan.settlement_delay_seconds != delay_seconds:
            await fee_plan.set_plan(
                session,
                merchant_id=None,
                operator=plan.operator,
                currency=plan.currency,
                percent_bps=plan.percent_bps,
                fixed_amount=plan.fixed_amount,
                settlement_delay_seconds=delay_seconds,
            )


async def ensure_demo(settings: Settings, db: Database) -> DemoAccount:
    path: Path = settings.data_dir / "demo.json"
    stored = await asyncio.to_thread(_load, path)
    async with db.app_sessions() as session, session.begin():
        user = await UserRepository.from_session(session).get_by_email(DEMO_EMAIL)
        if user is None:
            _, merchant, keys = await user_service.signup(
                session,
                email=DEMO_EMAIL,
                password=DEMO_PASSWORD,
                name="Demo Merchant",
                business_name=DEMO_BUSINESS,
                settings=settings.auth,
                jwt_secret=jwt_secret(settings),
            )
            secrets = {key.type: secret for key, secret in keys}
            stored = {
                "merchant_id": merchant.id,
                "secret_key": secrets[ApiKeyType.secret],
                "publishable_key": secrets[ApiKeyType.publishable],
            }
    # Its own transaction: the sign-up's is scoped to the demo merchant, and a platform-wide
    # action (granting staff, audited with no merchant) cannot be recorded in it.
    async with db.app_sessions() as session, session.begin():
        if await UserRepository.from_session(session).get_by_email(STAFF_EMAIL) is None:
            await user_service.create_platform_admin(
                session,
                email=STAFF_EMAIL,
                password=STAFF_PASSWORD,
                name="Platform staff",
                settings=settings.auth,
            )
    async with db.platform_transaction() as session:
        await shorten_default_settlement(session, settings.payments.local_settlement_delay_seconds)
    if stored is None:
        raise RuntimeError(
            f"demo user exists but {path} is missing; delete .mboa/dev to start over"
        )
    for field, key_type in (
        ("secret_key", ApiKeyType.secret),
        ("publishable_key", ApiKeyType.publishable),
    ):
        if not await _usable(db, stored[field]):
            async with db.app_sessions() as session, session.begin():
                await set_tenant(session, TenantContext(stored["merchant_id"], livemode=False))
                merchant = await merchant_service.get(session, stored["merchant_id"])
                _, stored[field] = await api_key_service.create(
                    session, merchant=merchant, livemode=False, key_type=key_type, name="Demo key"
                )
    await asyncio.to_thread(_save, path, stored)
    return DemoAccount(
        email=DEMO_EMAIL,
        password=DEMO_PASSWORD,
        merchant_id=stored["merchant_id"],
        secret_key=stored["secret_key"],
        publishable_key=stored["publishable_key"],
        staff_email=STAFF_EMAIL,
        staff_password=STAFF_PASSWORD,
    )
