"""Process settings, read once from `MBOA_*` environment variables (and `.env`).

Groups are nested: `MBOA_AUTH__ACCESS_TOKEN_TTL_SECONDS=600` sets `settings.auth.access_token_ttl_seconds`.
The two service URLs are top-level because operators type them most: `MBOA_DATABASE_URL` and
`MBOA_REDIS_URL`. When they are unset, `mboa` starts an embedded PostgreSQL and Redis under `.mboa/`.
"""

from __future__ import annotations

import enum
import functools
import json
from pathlib import Path
from typing import Annotated

from pydantic import (
    BaseModel,
    Field,
    IPvAnyNetwork,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from mboa.providers.config import ProvidersSettings


class Environment(enum.StrEnum):
    development = "development"
    testing = "testing"
    production = "production"


class DatabaseSettings(BaseModel):
    app_role: str = "mboa_app"
    """Non-superuser role the API uses; row-level security applies to it."""
    app_password: SecretStr | None = None
    platform_role: str = "mboa_platform"
    """Role for work that crosses merchants (workers, scheduler, staff endpoints); bypasses RLS."""
    platform_password: SecretStr | None = None
    pool_size: int = Field(default=10, ge=1, le=200)
    max_overflow: int = Field(default=10, ge=0, le=200)
    statement_timeout_ms: int = Field(default=15_000, ge=100)


class ApiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    public_url: str | None = None
    """Base URL printed for people and used in links; defaults to http://host:port."""
    max_body_bytes: int = Field(default=1_048_576, ge=1024)


class AuthSettings(BaseModel):
    jwt_secret: SecretStr | None = None
    """HS256 secret for user access tokens. Required in production; generated under .mboa/ otherwise."""
    access_token_ttl_seconds: int = Field(default=900, ge=30, le=86_400)
    refresh_token_ttl_seconds: int = Field(default=30 * 86_400, ge=300)
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_cost_kib: int = Field(default=65_536, ge=1024)
    min_password_length: int = Field(default=10, ge=10)
    min_password_score: int = Field(default=3, ge=0, le=4)
    """The least zxcvbn strength score (0-4) a new password needs; 3 is "safely unguessable"."""
    key_cache_seconds: float = Field(default=30.0, ge=0)
    """How long an API key look-up is cached in-process (0 disables); changes invalidate at once."""


class RateLimitSettings(BaseModel):
    enabled: bool = True
    test_per_second: int = Field(default=25, ge=1)
    """Requests per second per API key in test mode (Stripe's sandbox figure)."""
    live_per_second: int = Field(default=100, ge=1)
    anonymous_per_minute: int = Field(default=30, ge=1)
    """Sign-up, login and refresh attempts per client address and minute."""
    login_failures_per_account: int = Field(default=10, ge=1)
    """Failed logins for one email (known or not) before its logins are refused for the window:
    guessing from many addresses still meets this limit."""
    login_lockout_seconds: int = Field(default=900, ge=1)
    """The window of `login_failures_per_account`, from the first failure."""
    callback_per_minute: int = Field(default=60, ge=1)
    """Operator callbacks per sending address and minute. A callback costs us a stored row and
    the worker an authenticated status read, so a forger must not send many; an operator's
    gateway above it is answered 429 and the payment poller finds the outcome (MTN never
    retries, docs/providers-wire.md §1.9)."""
    callback_per_provider_per_minute: int = Field(default=1200, ge=1)
    """Operator callbacks per provider and minute, all addresses together: bounds the status
    reads forged callbacks can cost us, however many addresses send them."""
    callback_bytes_per_provider_per_minute: int = Field(default=1_000_000, ge=1)
    """Callback bytes stored per provider and minute (real callbacks are a few hundred bytes;
    the body limit of one is 64 KB); beyond it a callback is refused, not stored."""
    redis_timeout_ms: int = Field(default=500, ge=10, le=10_000)
    """How long a request waits on the limiter's Redis before it is served unlimited."""


class HttpSettings(BaseModel):
    trusted_proxies: Annotated[list[IPvAnyNetwork], NoDecode] = Field(default_factory=list)
    """Proxies (CIDRs, e.g. the ingress range) whose `X-Forwarded-For` is believed:
    `MBOA_HTTP__TRUSTED_PROXIES=10.0.0.0/8,fd00::/8` (or a JSON list). None by default: the
    client address is the TCP peer. Otherwise it is the right-most hop not in these ranges."""

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [item.strip() for item in text.split(",") if item.strip()]
        return value


class MetricsSettings(BaseModel):
    """Prometheus `/metrics` is served on its own listener, never on the public API port."""

    enabled: bool = True
    host: str = "127.0.0.1"
    """Bind address; in a pod, 0.0.0.0 so that Prometheus can scrape the port (not the Service)."""
    port: int = Field(default=9464, ge=0, le=65535)
    """The API process's metrics port (0: any free port)."""
    worker_port: int = Field(default=9465, ge=0, le=65535)
    """The worker process's metrics port (operator calls, outbox, jobs)."""


class LogSettings(BaseModel):
    level: str = "INFO"
    json_output: bool = True


class IdempotencySettings(BaseModel):
    retention_hours: int = Field(default=24, ge=24)
    """Stored responses are kept at least this long (Stripe keeps them for 24 h)."""
    stale_lock_seconds: int = Field(default=60, ge=5)
    """An in-progress key older than this is considered abandoned (its process died)."""


class WorkerSettings(BaseModel):
    concurrency: int = Field(default=8, ge=1, le=256)
    outbox_poll_seconds: float = Field(default=0.5, gt=0)
    outbox_batch_size: int = Field(default=100, ge=1, le=10_000)
    queue_prefix: str = "mboa"
    lock_duration_ms: int = Field(default=30_000, ge=100)
    """BullMQ job lock: a job whose worker died is taken up again once its lock lapses…"""
    stalled_interval_ms: int = Field(default=30_000, ge=100)
    """…and the next stalled-jobs check (every this many ms) finds it."""


class PaymentsSettings(BaseModel):
    """Payment intents (docs/payments.md)."""

    currencies: tuple[str, ...] = ("XAF",)
    min_amount: int = Field(default=100, ge=1)
    """XAF; below this no operator takes a payment worth its fee."""
    max_amount: dict[str, int] = {"mtn_momo": 1_000_000, "orange_money": 1_000_000}
    """Per operator: the most one payment may ask for (the operators' per-transaction limits)."""
    default_expires_in: int = Field(default=3600, ge=60)
    max_expires_in: int = Field(default=7 * 86_400, ge=60)
    status_check_after_seconds: float = Field(default=30, gt=0)
    """The janitor reads the operator's status of an attempt still pending this long after it
    was sent (a lost callback), then again with exponential backoff…"""
    status_check_max_interval_seconds: float = Field(default=1800, gt=0)
    """…up to this interval between two reads."""
    unknown_attempt_fail_after_seconds: float = Field(default=900, gt=0)
    """An attempt the operator still does not know this long after it was sent (or created)
    failed (`operator_unavailable`): past every operator's approval window."""
    janitor_batch: int = Field(default=200, ge=1, le=10_000)


class PayoutsSettings(BaseModel):
    """Payouts (docs/payouts.md)."""

    currencies: tuple[str, ...] = ("XAF",)
    min_amount: int = Field(default=100, ge=1)
    max_amount: dict[str, int] = {"mtn_momo": 1_000_000, "orange_money": 1_000_000}
    """Per operator: the most one transfer may send (the operators' per-transaction limits)."""
    approval_threshold: int = Field(default=500_000, ge=0)
    """A live payout above this amount waits for a staff approval before it is sent."""
    status_check_after_seconds: float = Field(default=30, gt=0)
    """A payout still in transit this long after it was sent gets its status read (a lost
    callback), then again with exponential backoff…"""
    status_check_max_interval_seconds: float = Field(default=1800, gt=0)
    """…up to this interval between two reads."""
    janitor_batch: int = Field(default=200, ge=1, le=10_000)


# refunds (issue 13 point 4)
class RefundsSettings(BaseModel):
    """Refunds (docs/refunds.md)."""

    status_check_after_seconds: float = Field(default=30, gt=0)
    """A refund still with the operator this long after it was sent gets its status read (a
    lost callback), then again with exponential backoff…"""
    status_check_max_interval_seconds: float = Field(default=1800, gt=0)
    """…up to this interval between two reads."""
    janitor_batch: int = Field(default=200, ge=1, le=10_000)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="MBOA_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
    )

    env: Environment = Environment.development
    database_url: SecretStr | None = None
    """Owner/superuser URL (postgresql://…). Migrations run with it; the app derives its roles from it."""
    redis_url: SecretStr | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    """`MBOA_PORT`: shorthand for the API port (overrides `MBOA_API__PORT`)."""
    data_dir: Path = Path(".mboa")
    """Where embedded servers keep their data and where development secrets live."""

    database: DatabaseSettings = DatabaseSettings()
    api: ApiSettings = ApiSettings()
    auth: AuthSettings = AuthSettings()
    rate_limit: RateLimitSettings = RateLimitSettings()
    http: HttpSettings = HttpSettings()
    metrics: MetricsSettings = MetricsSettings()
    log: LogSettings = LogSettings()
    idempotency: IdempotencySettings = IdempotencySettings()
    worker: WorkerSettings = WorkerSettings()
    payments: PaymentsSettings = PaymentsSettings()
    payouts: PayoutsSettings = PayoutsSettings()
    refunds: RefundsSettings = RefundsSettings()  # refunds (issue 13 point 4)
    providers: ProvidersSettings = ProvidersSettings()

    @model_validator(mode="after")
    def _production_needs_explicit_services(self) -> Settings:
        if self.port is not None:
            self.api.port = self.port
        if self.env is Environment.production:
            if self.database_url is None:
                raise ValueError("MBOA_DATABASE_URL is required when MBOA_ENV=production")
            if self.redis_url is None:
                raise ValueError("MBOA_REDIS_URL is required when MBOA_ENV=production")
            if self.auth.jwt_secret is None:
                raise ValueError("MBOA_AUTH__JWT_SECRET is required when MBOA_ENV=production")
        if self.database_url is not None:
            url = self.database_url.get_secret_value()
            if not url.startswith(("postgresql://", "postgres://", "postgresql+asyncpg://")):
                raise ValueError("MBOA_DATABASE_URL must be a postgresql:// URL")
        if self.redis_url is not None:
            url = self.redis_url.get_secret_value()
            if not url.startswith(("redis://", "rediss://", "unix://")):
                raise ValueError("MBOA_REDIS_URL must be a redis:// URL")
        return self

    @property
    def base_url(self) -> str:
        return self.api.public_url or f"http://{self.api.host}:{self.api.port}"


class ConfigurationError(Exception):
    """Bad configuration; the message is one line naming the variable."""


def _env_name(loc: tuple[int | str, ...]) -> str:
    parts = [str(p) for p in loc if not str(p).startswith("function-after")]
    if not parts:
        return "MBOA_*"
    head, *rest = parts
    name = "MBOA_" + head.upper()
    if rest:
        name += "__" + "__".join(r.upper() for r in rest)
    return name


def load_settings() -> Settings:
    """Build settings, turning a validation failure into one clear line per bad variable."""
    try:
        return Settings()
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            loc = error.get("loc", ())
            message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
            if loc:
                lines.append(f"invalid configuration: {_env_name(loc)}: {message}")
            else:
                lines.append(f"invalid configuration: {message}")
        raise ConfigurationError("\n".join(lines)) from None


@functools.cache
def get_settings() -> Settings:
    return load_settings()
