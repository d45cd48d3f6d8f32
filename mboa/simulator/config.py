"""Simulator settings (`MBOA_PROVIDERS__SIMULATOR__…`). Durations are seconds."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator

from mboa.providers.mtn_momo.config import SIMULATOR_API_KEY, SIMULATOR_API_USER

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class SimulatorSettings(BaseModel):
    host: str = "127.0.0.1"
    """Only loopback addresses are accepted: the simulators are never exposed."""
    mtn_port: int = Field(default=8101, ge=0, le=65535)
    orange_port: int = Field(default=8102, ge=0, le=65535)
    seed: int | None = None
    """Fixes ids, tokens, chaos draws and random callback methods, for reproducible runs."""

    approval_window_seconds: float = Field(default=300.0, gt=0)
    """How long a prompt waits for the payer before EXPIRED (MTN documents 5 minutes)."""
    auto_approve_seconds: float = Field(default=2.0, ge=0)
    """Ordinary numbers approve by themselves after this long, unless `manual_approval`."""
    manual_approval: bool = False
    """Ordinary numbers wait for a click on the phone page instead of approving themselves."""
    delayed_success_seconds: float = Field(default=25.0, ge=0)
    """The "delayed success" numbers (MTN measured ~25 s for 46733123454)."""
    late_success_seconds: float = Field(default=420.0, ge=0)
    """The "success after our timeout" numbers succeed this late (past the approval window)."""
    slow_response_seconds: float = Field(default=65.0, ge=0)
    """The "operator timeout" numbers answer the first create this late (after processing it)."""
    token_ttl_seconds: int = Field(default=3600, ge=1)
    """`expires_in` of MTN tokens (3600) and omcoreapis tokens."""
    webpay_token_ttl_seconds: int = Field(default=7_776_000, ge=1)

    latency_min_ms: int = Field(default=0, ge=0)
    latency_max_ms: int = Field(default=0, ge=0)
    failure_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    """Share of product calls answered 503 at random (chaos)."""

    callback_method: Literal["PUT", "POST", "random"] = "PUT"
    """MTN calls back with PUT or POST (docs/providers-wire.md §1.9)."""
    callback_timeout_seconds: float = Field(default=5.0, gt=0)

    default_wallet_balance: int = Field(default=1_000_000, ge=0)
    """Balance (XAF) of a wallet the simulator sees for the first time."""
    merchant_collection_balance: int = Field(default=0, ge=0)
    merchant_disbursement_balance: int = Field(default=10_000_000, ge=0)

    mtn_api_user: str = SIMULATOR_API_USER
    """Pre-provisioned sandbox API user (matches the adapter's default settings)."""
    mtn_api_key: str = SIMULATOR_API_KEY
    mtn_callback_host: str = "127.0.0.1"
    """`providerCallbackHost` of the pre-provisioned user; X-Callback-Url must use it.
    `MBOA_PROVIDERS__SIMULATOR__MTN_CALLBACK_HOST`: the application builds callback URLs from
    `MBOA_API__PUBLIC_URL`, so a simulator in a cluster takes that URL's host (the chart's dev
    values, docs/deploy.md §2); locally (`make run`) it is 127.0.0.1."""
    mtn_target_environments: tuple[str, ...] = ("sandbox", "mtncameroon")
    mtn_reason_as_object: bool = False
    """Render MTN `reason` as `{"code", "message"}` (the swagger) instead of a plain string
    (MTN's examples); docs/providers-wire.md §1.6 says both exist."""
    mtn_subscription_keys: tuple[str, ...] = ()
    """Accepted `Ocp-Apim-Subscription-Key`s; empty accepts any non-empty key."""

    orange_consumer_key: str = "simulator-consumer-key"
    orange_consumer_secret: str = "simulator-consumer-secret"
    orange_auth_tokens: tuple[str, ...] = ()
    """Accepted `X-AUTH-TOKEN`s; empty accepts any non-empty value."""
    orange_channel_user_msisdn: str = "699112233"
    orange_pin: str = "2222"
    orange_webpay_client_id: str = "simulator-webpay-client"
    orange_webpay_client_secret: str = "simulator-webpay-secret"

    @field_validator("host")
    @classmethod
    def _loopback_only(cls, value: str) -> str:
        if value not in LOOPBACK_HOSTS:
            raise ValueError("the simulators only listen on a loopback address (127.0.0.1)")
        return value
