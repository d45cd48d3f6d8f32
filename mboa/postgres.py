"""Database engines, roles and the tenant context.

Three roles touch the database (docs/architecture.md, "Tenancy"):
- the **owner** (the URL in `MBOA_DATABASE_URL`) runs migrations and owns the tables;
- **`mboa_app`** serves tenant requests. It is not a superuser and every merchant-owned table has
  `FORCE ROW LEVEL SECURITY` keyed on `mboa.merchant_id` / `mboa.livemode`, which are set per
  transaction by `set_tenant()`. A query without a tenant context sees no merchant rows;
- **`mboa_platform`** (BYPASSRLS) serves work that crosses merchants on purpose: workers, the
  scheduler and platform-staff endpoints. It has its own engine and is never handed to tenant code.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import quote, urlsplit, urlunsplit

from sqlalchemy import text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from mboa.config import Settings


@dataclasses.dataclass(frozen=True, slots=True)
class TenantContext:
    merchant_id: str
    livemode: bool


def asyncpg_url(url: str) -> str:
    scheme, rest = url.split("://", 1)
    if scheme in {"postgres", "postgresql"}:
        scheme = "postgresql+asyncpg"
    return f"{scheme}://{rest}"


def plain_url(url: str) -> str:
    """The libpq form (for psql, pg tools and asyncpg.connect)."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def with_user(url: str, user: str, password: str | None) -> str:
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    netloc = quote(user, safe="")
    if password:
        netloc += ":" + quote(password, safe="")
    netloc += "@" + host
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/") or "postgres"


def role_urls(settings: Settings, owner_url: str) -> tuple[str, str]:
    """(app_url, platform_url) derived from the owner URL with the configured role names."""
    db = settings.database
    app_password = db.app_password.get_secret_value() if db.app_password else None
    platform_password = db.platform_password.get_secret_value() if db.platform_password else None
    return (
        with_user(owner_url, db.app_role, app_password),
        with_user(owner_url, db.platform_role, platform_password),
    )


def create_engine(settings: Settings, url: str, *, application_name: str) -> AsyncEngine:
    return create_async_engine(
        asyncpg_url(url),
        pool_size=settings.database.pool_size,
        max_overflow=settings.database.max_overflow,
        pool_pre_ping=False,
        pool_recycle=3600,
        connect_args={
            "server_settings": {
                "application_name": application_name,
                "statement_timeout": str(settings.database.statement_timeout_ms),
                # A crashed client must not hold row locks for ever.
                "idle_in_transaction_session_timeout": "60000",
            }
        },
    )


def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


_SET_TENANT = text(
    "SELECT set_config('mboa.merchant_id', :merchant_id, true),"
    " set_config('mboa.livemode', :livemode, true)"
)
_SET_MERCHANT = text(
    "SELECT set_config('mboa.merchant_id', :merchant_id, true), set_config('mboa.livemode', '', true)"
)


async def set_tenant(session: AsyncSession, tenant: TenantContext) -> None:
    """Scope the current transaction to one merchant and mode (row-level security reads these)."""
    # Core execution on the session's connection: the ORM layer adds nothing for a bare SELECT.
    connection = await session.connection()
    await connection.execute(
        _SET_TENANT,
        {"merchant_id": tenant.merchant_id, "livemode": "true" if tenant.livemode else "false"},
    )


async def set_merchant_only(session: AsyncSession, merchant_id: str) -> None:
    """Scope to a merchant's account-level rows (merchant, team); mode-scoped rows stay hidden."""
    await session.execute(_SET_MERCHANT, {"merchant_id": merchant_id})


@dataclasses.dataclass
class Database:
    """The engines of one process."""

    app: AsyncEngine
    platform: AsyncEngine
    app_sessions: async_sessionmaker[AsyncSession]
    platform_sessions: async_sessionmaker[AsyncSession]

    @classmethod
    def connect(cls, settings: Settings, owner_url: str, *, process: str) -> Database:
        app_url, platform_url = role_urls(settings, owner_url)
        app = create_engine(settings, app_url, application_name=f"mboa-{process}")
        platform = create_engine(
            settings, platform_url, application_name=f"mboa-{process}-platform"
        )
        return cls(app, platform, sessionmaker(app), sessionmaker(platform))

    @asynccontextmanager
    async def platform_transaction(self) -> AsyncIterator[AsyncSession]:
        """A platform-role transaction: commits on success, rolls back on error."""
        async with self.platform_sessions() as session, session.begin():
            yield session

    async def dispose(self) -> None:
        await self.app.dispose()
        await self.platform.dispose()
