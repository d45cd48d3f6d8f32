"""What one API process holds for its lifetime, reached from a request as `get_state(request)`."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from redis.asyncio import Redis
from starlette.requests import HTTPConnection

from mboa.auth.cache import ApiKeyCache
from mboa.config import Settings
from mboa.postgres import Database
from mboa.ratelimit import RateLimiter

if TYPE_CHECKING:
    from mboa.providers.registry import ProviderRegistry


@dataclasses.dataclass
class AppState:
    settings: Settings
    db: Database
    redis: Redis
    rate_limiter: RateLimiter
    jwt_secret: str
    key_cache: ApiKeyCache
    providers: ProviderRegistry
    """The operator adapters (HTTP pools, tokens, breakers); closed with the state."""


def get_state(connection: HTTPConnection) -> AppState:
    state: AppState = connection.app.state.mboa
    return state
