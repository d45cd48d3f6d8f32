"""Database engines, roles and the tenant context.

Three roles touch the database (docs/architecture.md, "Tenancy"):
- the **owner** (the URL in `MBOA_DATABASE_URL`) runs migrations and owns the tables;
- **`mboa_app`** serves tenant requests. It is not a superuser and every merchant-owned table has
  `FORCE ROW LEVEL SECURITY` keyed on `mboa.merchant_id` / `mboa.livemode`, which are set per
  transaction by `set_tenant()`. A query without a tenant context sees no merchant rows;
- **`mboa_platform`** (BYPASSRLS) serves work that crosses merchants on purpose: workers, the
  scheduler and platform-staff endpoints. It has its own engine and is never handed to tenant code.

Tenant requests reach PostgreSQL three ways, all as `mboa_app` and all scoped per transaction:
the ORM session (most writes, and any read that needs more than one row fetch), the **read
path** (`Database.open_tenant_reads`): a read-only transaction on a bare asyncpg connection for
the hottest GETs, which costs a fraction of the ORM's CPU per request (docs/benchmarks.md), and
the **lean write path** (`Database.open_tenant_writes`): the same kind of connection in a
read-write transaction, for the hottest POST (`POST /v1/payment_intents`). The public payment
pages' GETs, which have no tenant until their URL is read, use a connection of the same pool with
no tenant at all (`Database.public_reads`): one statement calling a definer function that
returns only the row the URL names.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg
import structlog
from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, SessionTransaction

from mboa.config import Settings
from mboa.exceptions import DatabaseBusy

log = structlog.get_logger("mboa.postgres")


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


def _server_settings(settings: Settings, application_name: str) -> dict[str, str]:
    return {
        "application_name": application_name,
        "statement_timeout": str(settings.database.statement_timeout_ms),
        # A crashed client must not hold row locks for ever.
        "idle_in_transaction_session_timeout": "60000",
    }


def create_engine(settings: Settings, url: str, *, application_name: str) -> AsyncEngine:
    return create_async_engine(
        asyncpg_url(url),
        pool_size=settings.database.pool_size,
        max_overflow=settings.database.max_overflow,
        pool_pre_ping=False,
        pool_recycle=3600,
        pool_timeout=settings.database.pool_timeout_seconds,
        connect_args={"server_settings": _server_settings(settings, application_name)},
    )


class TenantSession(Session):
    """A session that scopes each of its transactions to `info["tenant"]` when it begins.

    The tenant is known once the caller is authenticated, but most GETs never open the ORM
    session: setting it lazily costs nothing for them and one statement for the rest.
    """


@event.listens_for(TenantSession, "after_begin")
def _scope_new_transaction(
    session: Session, transaction: SessionTransaction, connection: Connection
) -> None:
    tenant: TenantContext | None = session.info.get("tenant")
    if tenant is not None:
        connection.execute(_SET_TENANT, _tenant_params(tenant))


def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(
        engine, expire_on_commit=False, autoflush=False, sync_session_class=TenantSession
    )


_SET_TENANT = text(
    "SELECT set_config('mboa.merchant_id', :merchant_id, true),"
    " set_config('mboa.livemode', :livemode, true)"
)
_SET_MERCHANT = text(
    "SELECT set_config('mboa.merchant_id', :merchant_id, true), set_config('mboa.livemode', '', true)"
)


def _tenant_params(tenant: TenantContext) -> dict[str, str]:
    return {"merchant_id": tenant.merchant_id, "livemode": "true" if tenant.livemode else "false"}


async def set_tenant(session: AsyncSession, tenant: TenantContext) -> None:
    """Scope the current transaction, and the session's later ones, to one merchant and mode
    (row-level security reads these)."""
    # Core execution on the session's connection: the ORM layer adds nothing for a bare SELECT.
    connection = await session.connection()
    await connection.execute(_SET_TENANT, _tenant_params(tenant))
    # Stored after the statement, so a transaction begun by that statement is not scoped twice.
    session.info["tenant"] = tenant


async def scope_session(session: AsyncSession, tenant: TenantContext) -> None:
    """Scope the session to a tenant from its next statement on (see `TenantSession`)."""
    if session.in_transaction():
        await set_tenant(session, tenant)
    else:
        session.info["tenant"] = tenant


async def set_merchant_only(session: AsyncSession, merchant_id: str) -> None:
    """Scope to a merchant's account-level rows (merchant, team); mode-scoped rows stay hidden."""
    await session.execute(_SET_MERCHANT, {"merchant_id": merchant_id})
    # No longer scoped to a merchant *and mode*: later transactions must not be re-scoped to one.
    session.info.pop("tenant", None)


# Merchant ids are ours (`acct_` and a ULID); anything else never reaches a statement's text.
_INLINE_SAFE_ID = re.compile(r"[A-Za-z0-9_]{1,64}")


def _begin_tenant_reads(tenant: TenantContext) -> str:
    """BEGIN and the tenant settings in one round trip. The simple-query protocol that allows two
    statements in one message takes no parameters, so the merchant id is inlined, checked first."""
    if not _INLINE_SAFE_ID.fullmatch(tenant.merchant_id):
        raise ValueError(f"not a merchant id: {tenant.merchant_id!r}")
    livemode = "true" if tenant.livemode else "false"
    return (
        "BEGIN READ ONLY; SELECT set_config('mboa.merchant_id', "
        f"'{tenant.merchant_id}', true), set_config('mboa.livemode', '{livemode}', true)"
    )


def _begin_tenant_writes(tenant: TenantContext) -> str:
    """`_begin_tenant_reads`, read-write."""
    return _begin_tenant_reads(tenant).replace("BEGIN READ ONLY;", "BEGIN;", 1)


class Json(str):
    """A JSON document already serialised: a `jsonb` parameter of the bare asyncpg paths takes it
    as is (the lean write path serialises each document once and reuses the text)."""

    __slots__ = ()


def _encode_jsonb(value: object) -> str:
    return value if isinstance(value, Json) else json.dumps(value)


async def _init_read_connection(connection: asyncpg.Connection) -> None:
    await connection.set_type_codec(
        "jsonb", schema="pg_catalog", encoder=_encode_jsonb, decoder=json.loads
    )


async def _keep_session_state(connection: asyncpg.Connection) -> None:
    """Replaces asyncpg's reset on release (RESET ALL, UNLISTEN *, CLOSE ALL: one more round trip
    per request). The read path sets nothing beyond its transaction, which `close_tenant_reads`
    ends before releasing; asyncpg still rolls back any transaction left open."""


class ReadPool:
    """The asyncpg pool of the read path and the lean write path (both as the API role), opened
    on first use inside the event loop."""

    def __init__(self, settings: Settings, url: str, *, application_name: str) -> None:
        self._settings = settings
        self._url = plain_url(url)
        self._application_name = application_name
        self._pool: asyncpg.Pool | None = None
        self._lock = asyncio.Lock()

    async def pool(self) -> asyncpg.Pool:
        if self._pool is not None:
            return self._pool
        async with self._lock:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    self._url,
                    min_size=0,
                    max_size=self._settings.database.pool_size
                    + self._settings.database.max_overflow,
                    max_inactive_connection_lifetime=300,
                    init=_init_read_connection,
                    reset=_keep_session_state,
                    server_settings=_server_settings(self._settings, self._application_name),
                )
        return self._pool

    async def acquire(self) -> asyncpg.Connection:
        """A connection, waiting as long as the ORM's pool does (`pool_timeout_seconds`); when
        none frees up in time the request is answered 503 `database_busy`, not left hanging."""
        pool = await self.pool()
        try:
            connection: asyncpg.Connection = await pool.acquire(
                timeout=self._settings.database.pool_timeout_seconds
            )
        except TimeoutError as exc:
            raise DatabaseBusy() from exc
        return connection

    async def release(self, connection: asyncpg.Connection) -> None:
        """Back to the pool it came from; after `close()`, the connection is simply dropped."""
        pool = self._pool
        if pool is not None:
            await pool.release(connection)
        elif not connection.is_closed():
            connection.terminate()

    def size(self) -> int:
        return int(self._pool.get_size()) if self._pool is not None else 0

    def checked_out(self) -> int:
        if self._pool is None:
            return 0
        return int(self._pool.get_size() - self._pool.get_idle_size())

    async def close(self) -> None:
        async with self._lock:
            pool, self._pool = self._pool, None
            if pool is not None:
                await pool.close()


@dataclasses.dataclass
class Database:
    """The engines of one process."""

    app: AsyncEngine
    platform: AsyncEngine
    app_sessions: async_sessionmaker[AsyncSession]
    platform_sessions: async_sessionmaker[AsyncSession]
    reads: ReadPool

    @classmethod
    def connect(cls, settings: Settings, owner_url: str, *, process: str) -> Database:
        app_url, platform_url = role_urls(settings, owner_url)
        app = create_engine(settings, app_url, application_name=f"mboa-{process}")
        platform = create_engine(
            settings, platform_url, application_name=f"mboa-{process}-platform"
        )
        reads = ReadPool(settings, app_url, application_name=f"mboa-{process}-reads")
        return cls(app, platform, sessionmaker(app), sessionmaker(platform), reads)

    async def open_tenant_reads(self, tenant: TenantContext) -> asyncpg.Connection:
        """A read-only transaction as the API role, scoped to one merchant and mode.

        Return the connection with `close_tenant_reads` (the request's route does this)."""
        connection = await self.reads.acquire()
        try:
            await connection.execute(_begin_tenant_reads(tenant))
        except BaseException:
            await self.reads.release(connection)
            raise
        return connection

    async def open_tenant_writes(self, tenant: TenantContext) -> asyncpg.Connection:
        """A read-write transaction as the API role, scoped to one merchant and mode, on the
        read path's pool: `BEGIN` and the tenant's settings in one round trip. End it with
        `end_tenant_writes` (the request's route does this)."""
        connection = await self.reads.acquire()
        try:
            await connection.execute(_begin_tenant_writes(tenant))
        except BaseException:
            await self.reads.release(connection)
            raise
        return connection

    async def restart_tenant_writes(
        self, connection: asyncpg.Connection, tenant: TenantContext
    ) -> None:
        """Roll back the connection's transaction and begin a new one for the same tenant."""
        if connection.is_in_transaction():
            await connection.execute("ROLLBACK")
        await connection.execute(_begin_tenant_writes(tenant))

    async def commit_tenant_writes(self, connection: asyncpg.Connection) -> None:
        await connection.execute("COMMIT")

    async def end_tenant_writes(self, connection: asyncpg.Connection) -> None:
        """Back to the pool; a transaction still open (the request failed) is rolled back."""
        try:
            if not connection.is_closed() and connection.is_in_transaction():
                await connection.execute("ROLLBACK")
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
            log.warning("write_transaction_rollback_failed", exc_info=True)
        finally:
            await self.reads.release(connection)

    async def close_tenant_reads(self, connection: asyncpg.Connection) -> None:
        try:
            if not connection.is_closed() and connection.is_in_transaction():
                # Read-only: COMMIT and ROLLBACK end it alike (an aborted one rolls back).
                await connection.execute("COMMIT")
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
            # The response is already decided and nothing was written; asyncpg rolls back or
            # drops the connection on release.
            log.warning("read_transaction_end_failed", exc_info=True)
        finally:
            await self.reads.release(connection)

    @asynccontextmanager
    async def tenant_reads(self, tenant: TenantContext) -> AsyncIterator[asyncpg.Connection]:
        connection = await self.open_tenant_reads(tenant)
        try:
            yield connection
        finally:
            await self.close_tenant_reads(connection)

    @asynccontextmanager
    async def public_reads(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection of the read pool as the API role, with no tenant and no transaction: for
        the public pages' one-statement reads through their definer functions (each statement
        is its own transaction). Row-level security shows this connection no merchant's row:
        what a page reads is exactly what its function returns."""
        connection = await self.reads.acquire()
        try:
            yield connection
        finally:
            await self.reads.release(connection)

    @asynccontextmanager
    async def platform_transaction(self) -> AsyncIterator[AsyncSession]:
        """A platform-role transaction: commits on success, rolls back on error."""
        async with self.platform_sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def platform_statements(self) -> AsyncIterator[AsyncSession]:
        """A platform-role session whose every statement commits by itself (no BEGIN, no
        COMMIT: one round trip each). Only for work that is one statement, or a few that
        stand alone (the webhook delivery's lease and its success, docs/webhooks.md §Delivery)."""
        async with self.platform.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            async with AsyncSession(bind=autocommit, expire_on_commit=False) as session:
                yield session

    async def dispose(self) -> None:
        await self.reads.close()
        await self.app.dispose()
        await self.platform.dispose()
