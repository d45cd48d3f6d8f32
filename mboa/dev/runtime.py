"""Where this process finds PostgreSQL and Redis, and the one-time preparation of a database.

Explicit URLs win (`MBOA_DATABASE_URL`, `MBOA_REDIS_URL`). Otherwise the embedded servers of the
`dev` profile under `.mboa/` are started (or reused when another `mboa` process already runs them).
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import secrets
from pathlib import Path

import asyncpg
from alembic import command
from alembic.config import Config

from mboa.config import Environment, Settings
from mboa.dev.servers import EmbeddedServers
from mboa.postgres import database_name, plain_url, with_database

EMBEDDED_DATABASE = "mboa"
REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGED_MIGRATIONS = Path(__file__).resolve().parents[1] / "_migrations"
"""Where an installed wheel (the image) carries migrations/ and alembic.ini (pyproject.toml)."""


@dataclasses.dataclass
class Services:
    database_url: str
    """Owner URL, including the database name."""
    redis_url: str
    embedded: EmbeddedServers | None = None

    def stop(self) -> None:
        if self.embedded is not None:
            self.embedded.release()


def resolve_services(settings: Settings, *, profile: str = "dev") -> Services:
    database_url = settings.database_url.get_secret_value() if settings.database_url else None
    redis_url = settings.redis_url.get_secret_value() if settings.redis_url else None
    embedded = None
    if database_url is None or redis_url is None:
        embedded = EmbeddedServers.for_profile(settings.data_dir, profile)
        embedded.acquire()
        if database_url is None:
            database_url = with_database(embedded.postgres.url, EMBEDDED_DATABASE)
        if redis_url is None:
            redis_url = embedded.redis.url
    return Services(database_url=database_url, redis_url=redis_url, embedded=embedded)


async def ensure_database(url: str) -> None:
    """Create the database named in `url` if the server does not have it yet."""
    name = database_name(url)
    connection = await asyncpg.connect(plain_url(with_database(url, "postgres")))
    try:
        exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


def alembic_config(url: str) -> Config:
    if (PACKAGED_MIGRATIONS / "env.py").exists():
        ini, scripts = PACKAGED_MIGRATIONS / "alembic.ini", PACKAGED_MIGRATIONS
    else:  # a checkout (editable install)
        ini, scripts = REPO_ROOT / "alembic.ini", REPO_ROOT / "migrations"
    config = Config(str(ini))
    config.set_main_option("script_location", str(scripts))
    config.attributes["url"] = url
    return config


def migrate(url: str) -> None:
    """Apply every migration (synchronous: Alembic's env runs its own event loop)."""
    asyncio.run(ensure_database(url))
    command.upgrade(alembic_config(url), "head")


def jwt_secret(settings: Settings) -> str:
    """The configured secret, or (outside production) one kept under the data dir."""
    if settings.auth.jwt_secret is not None:
        return settings.auth.jwt_secret.get_secret_value()
    if settings.env is Environment.production:
        raise RuntimeError("MBOA_AUTH__JWT_SECRET is required in production")
    path = settings.data_dir / "jwt_secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def webhook_encryption_key(settings: Settings) -> str:
    """The configured key that encrypts webhook signing secrets at rest (base64 of 32 bytes), or
    (outside production) one kept under the data dir, as `jwt_secret`."""
    if settings.webhooks.encryption_key is not None:
        return settings.webhooks.encryption_key.get_secret_value()
    if settings.env is Environment.production:
        raise RuntimeError("MBOA_WEBHOOKS__ENCRYPTION_KEY is required in production")
    path = settings.data_dir / "webhook_encryption_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(base64.b64encode(secrets.token_bytes(32)).decode("ascii"))
        path.chmod(0o600)
    return path.read_text().strip()
