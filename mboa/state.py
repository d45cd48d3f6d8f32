"""What one API process holds for its lifetime, reached from a request as `get_state(request)`."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from redis.asyncio import Redis
from starlette.requests import HTTPConnection

from mboa.auth.cache import ApiKeyCache
from mboa.auth.last_used import KeyUsage
from mboa.config import Settings
from mboa.postgres import Database
from mboa.ratelimit import RateLimiter
from mboa.request_log import RequestLog

if TYPE_CHECKING:
    from mboa.providers.registry import ProviderRegistry
    from mboa.storage.backends import ObjectStore
    from mboa.storage.signing import UrlSigner


@dataclasses.dataclass
class AppState:
    settings: Settings
    db: Database
    redis: Redis
    rate_limiter: RateLimiter
    jwt_secret: str
    key_cache: ApiKeyCache
    key_usage: KeyUsage
    """When each key was last used: noted in memory, written in batches (mboa/auth/last_used.py)."""
    providers: ProviderRegistry
    """The operator adapters (HTTP pools, tokens, breakers); closed with the state."""
    request_log: RequestLog
    """The last API calls per merchant and mode (Redis, written in batches off the hot path)."""
    storage: ObjectStore
    """Files: logos, receipts, KYC documents (mboa/storage, docs/storage.md)."""
    url_signer: UrlSigner
    """Signs `/files/…` URLs (the filesystem backend's, and logos on the payment pages)."""


def get_state(connection: HTTPConnection) -> AppState:
    state: AppState = connection.app.state.mboa
    return state
