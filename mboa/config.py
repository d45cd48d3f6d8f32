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
    pool_timeout_seconds: float = Field(default=10, gt=0, le=60)
    """How long a request waits for a free connection before it is answered 503
    `database_busy` (with Retry-After) instead of queueing without end."""


class ApiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    public_url: str | None = None
    """Base URL printed for people and used in links; defaults to http://host:port."""
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    drain_seconds: float = Field(default=0.0, ge=0, le=120)
    """On SIGTERM, how long the API keeps serving while `/readyz` answers 503, so that load
    balancers take it out of rotation before it stops accepting (docs/deploy.md §7); 0
    locally, the chart sets it."""
    graceful_shutdown_seconds: float = Field(default=20.0, gt=0, le=600)
    """Then, how long requests in flight may take to finish before the process exits anyway."""


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
    last_used_flush_seconds: float = Field(default=30.0, gt=0, le=3600)
    """How often an API process writes its keys' `last_used_at` (one statement for all the keys
    used since the last write; each key to the minute, mboa/auth/last_used.py)."""


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
    two_factor_failures_per_account: int = Field(default=5, ge=1)
    """Wrong two-factor codes for one account (the API's login, the dashboard's second step and
    Security page together) before codes are refused for `login_lockout_seconds`."""
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
    checkout_per_address_per_minute: int = Field(default=20, ge=1)
    """Payment-page actions that prompt a phone or open a session (confirm, resend, a payment
    link's visit) per client address and minute."""
    checkout_per_phone_per_hour: int = Field(default=10, ge=1)
    """Prompts (confirm, resend) to one phone number per hour, whoever asks: nobody can flood
    a stranger's phone with payment requests from many addresses."""
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
    scheduler_port: int = Field(default=9466, ge=0, le=65535)
    """The scheduler's: its `/healthz` (the probes) beside the process's own metrics."""


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
    shutdown_grace_seconds: float = Field(default=45.0, gt=0, le=3600)
    """On SIGTERM a worker takes no new job and gives running ones this long to finish; then it
    force-closes and an unfinished job goes back to its queue once its lock lapses."""
    queue_concurrency: dict[str, int] = {"webhooks": 64}
    """Jobs run at once per queue where `concurrency` is not enough: webhook deliveries mostly
    wait on merchants' servers (docs/webhooks.md)."""


class WebhooksSettings(BaseModel):
    """Webhook endpoints and the delivery of events to them (docs/webhooks.md)."""

    encryption_key: SecretStr | None = None
    """Base64 of 32 bytes: the AES-256-GCM key that encrypts signing secrets at rest. Required in
    production; generated under .mboa/ otherwise."""
    max_endpoints: int = Field(default=16, ge=1, le=100)
    """Webhook endpoints per merchant and mode."""
    timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    """One delivery attempt: DNS, connection, request and answer together."""
    retry_for_seconds: float = Field(default=3 * 86_400, ge=1)
    """A delivery is retried until this long after its first attempt, then given up."""
    retry_base_seconds: float = Field(default=30.0, gt=0)
    """The backoff window after the first failure; it doubles after each failure…"""
    retry_max_interval_seconds: float = Field(default=6 * 3600, gt=0)
    """…up to this. The wait is drawn uniformly within the window (full jitter)."""
    disable_after_seconds: float = Field(default=3 * 86_400, ge=1)
    """An endpoint whose every attempt has failed for this long is disabled."""
    max_in_flight_per_endpoint: int = Field(default=8, ge=1, le=1000)
    """Concurrent deliveries to one endpoint across all workers: a slow endpoint holds at most
    this many of the webhooks queue's slots."""
    busy_retry_ms: int = Field(default=250, ge=10)
    """A delivery finding its endpoint at the cap waits about this long (jittered) and tries again."""
    sweep_after_seconds: float = Field(default=120.0, ge=1)
    """The sweep re-sends a job for a delivery overdue by this long (its job lost with Redis)."""


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
    local_settlement_delay_seconds: int = Field(default=60, ge=0, le=86_400)
    """`mboa up` only (a local run, never a deployment): the default fee plans' settlement delay
    is set to this at start, so that money collected in a local session becomes available
    within minutes and a payout can follow (README, docs/ledger.md "Settlement"). Deployed
    processes never read it; their plans keep the delay staff set (1 day by default)."""


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


class EventsSettings(BaseModel):
    """Events and their stream (docs/events.md)."""

    retention_days: int = Field(default=30, ge=30)
    """Events are kept at least this long, then pruned (`events.prune`, daily); Stripe keeps
    them 30 days, and receivers catch up from the list within it."""
    prune_batch: int = Field(default=5_000, ge=1, le=100_000)
    """Events deleted per transaction by the prune (short transactions, short locks)."""
    stream_poll_seconds: float = Field(default=0.25, gt=0)
    """How often an open event stream looks for new events (docs/events.md, "The event
    stream")."""
    stream_heartbeat_seconds: float = Field(default=15, gt=0)
    """A comment line this often keeps idle streams open through proxies."""
    stream_batch: int = Field(default=100, ge=1, le=1_000)


class MailSettings(BaseModel):
    """E-mail (mboa/mail/, docs/dashboard.md "E-mail"): SMTP in production; elsewhere, by
    default, a local mailbox (each message a file under `<data_dir>/mail/`, listed at
    `/dashboard/dev/mail`)."""

    backend: str | None = Field(default=None, pattern="^(mailbox|smtp)$")
    """`MBOA_MAIL__BACKEND`: `mailbox` or `smtp`; unset, `smtp` in production (nothing is
    written to disk there) and `mailbox` elsewhere (`Settings.mail_backend`)."""
    host: str = "127.0.0.1"
    port: int = Field(default=587, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    security: str = Field(default="starttls", pattern="^(starttls|tls|none)$")
    """`starttls` (port 587), `tls` (implicit TLS, port 465) or `none` (a local relay only)."""
    timeout_seconds: float = Field(default=20.0, gt=0, le=120)
    from_address: str = "Mboa Pay <no-reply@mboa.cm>"
    mailbox_dir: Path | None = None
    """Where the local mailbox writes; default `<data_dir>/mail`."""
    reset_ttl_seconds: int = Field(default=3600, ge=60, le=86_400)
    """How long a password-reset link works."""
    invitation_ttl_seconds: int = Field(default=7 * 86_400, ge=3600, le=30 * 86_400)
    """How long a team invitation works."""


class KycSettings(BaseModel):
    """Going live (docs/going-live.md): the documents a merchant uploads."""

    max_document_bytes: int = Field(default=5 * 1024 * 1024, ge=1024, le=50 * 1024 * 1024)
    """One document's largest size (`MBOA_KYC__MAX_DOCUMENT_BYTES`); the upload routes take a
    request body this large plus the form's overhead."""


class ConsoleSettings(BaseModel):
    """The staff console (`/console`, docs/going-live.md)."""

    require_two_factor: bool = True
    """`MBOA_CONSOLE__REQUIRE_TWO_FACTOR`: staff without a second factor cannot open the console
    (`mboa.console.access.staff_has_two_factor`)."""


class StorageBackend(enum.StrEnum):
    filesystem = "filesystem"
    s3 = "s3"


class StorageSettings(BaseModel):
    """Object storage for files: logos, receipts, KYC documents (docs/storage.md). Every
    object is private; it is served through a short-lived signed URL."""

    backend: StorageBackend = StorageBackend.filesystem
    """`filesystem` (the embedded default: files under `MBOA_DATA_DIR/objects`) or `s3` (any
    S3-compatible server: AWS S3, MinIO, Cloudflare R2)."""
    directory: Path | None = None
    """The filesystem backend's root; default `MBOA_DATA_DIR/objects`."""
    s3_endpoint_url: str | None = None
    """`https://s3.eu-west-1.amazonaws.com`, `http://minio:9000`,
    `https://<account>.r2.cloudflarestorage.com`; unset: AWS's endpoint for the region."""
    s3_region: str = "us-east-1"
    """AWS region; R2 takes `auto`, MinIO any value."""
    s3_bucket: str = "mboa"
    s3_access_key_id: SecretStr | None = None
    s3_secret_access_key: SecretStr | None = None
    s3_path_style: bool = False
    """Address the bucket in the path (`endpoint/bucket/key`): MinIO and most local servers;
    AWS and R2 take virtual-hosted style (false)."""
    s3_create_bucket: bool = False
    """Create the bucket at start if it does not exist (local servers; never needed on AWS)."""
    signed_url_seconds: int = Field(default=300, ge=10, le=7 * 86_400)
    """How long a signed URL (a receipt's download, a document's view) stays valid."""
    public_image_seconds: int = Field(default=3600, ge=60, le=7 * 86_400)
    """Logos on the payment pages: their URL changes once per this period (so pages and
    browsers can cache it) and stays valid at least this long."""
    max_logo_bytes: int = Field(default=2_097_152, ge=1024)
    max_document_bytes: int = Field(default=10_485_760, ge=1024)
    max_image_pixels: int = Field(default=40_000_000, ge=10_000)
    """Images bigger than this (width times height) are refused before they are decoded
    (decompression bombs)."""
    logo_max_side: int = Field(default=256, ge=16, le=2048)
    """Logos are scaled down to fit this many pixels on their longest side."""
    document_max_side: int = Field(default=2400, ge=256, le=10_000)
    """Scanned documents (PNG/JPEG) are scaled down to fit this."""
    scan_hook: str | None = None
    """`module:function` called with every upload before it is stored (a virus scan, e.g. a
    ClamAV client): `async def scan(data: bytes, *, content_type: str, purpose: str) -> None`,
    raising `mboa.storage.exceptions.UploadRejected` to refuse the file. Unset: no scan."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="MBOA_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
    )

    env: Environment = Environment.development
    deployment: str = "local"
    """`MBOA_DEPLOYMENT`: which installation this is (dev, staging, prod): Sentry's environment."""
    release: str = Field(default_factory=lambda: _package_version())
    """`MBOA_RELEASE`: the running version (the image tag), Sentry's release."""
    sentry_dsn: SecretStr | None = None
    """`MBOA_SENTRY_DSN`: report errors to Sentry (mboa/sentry.py); unset, nothing is sent."""
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
    events: EventsSettings = EventsSettings()
    webhooks: WebhooksSettings = WebhooksSettings()
    mail: MailSettings = MailSettings()
    providers: ProvidersSettings = ProvidersSettings()
    kyc: KycSettings = KycSettings()
    console: ConsoleSettings = ConsoleSettings()
    storage: StorageSettings = StorageSettings()

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
            if self.webhooks.encryption_key is None:
                raise ValueError(
                    "MBOA_WEBHOOKS__ENCRYPTION_KEY is required when MBOA_ENV=production"
                )
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

    @property
    def mail_backend(self) -> str:
        if self.mail.backend is not None:
            return self.mail.backend
        return "smtp" if self.env is Environment.production else "mailbox"

    @property
    def mailbox_dir(self) -> Path:
        return self.mail.mailbox_dir or self.data_dir / "mail"


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mboa")
    except PackageNotFoundError:
        return "unknown"


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
