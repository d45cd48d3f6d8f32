"""Timeout, retry and circuit-breaker settings shared by every adapter (one instance each)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ResilienceSettings(BaseModel):
    timeout_seconds: float = Field(default=20.0, gt=0)
    """Read/write/pool timeout of one HTTP call."""
    connect_timeout_seconds: float = Field(default=5.0, gt=0)
    retry_attempts: int = Field(default=3, ge=1, le=10)
    """Attempts for calls that are safe to repeat (tokens, status reads, creations re-sent with
    the same reference)."""
    retry_initial_seconds: float = Field(default=0.5, ge=0)
    retry_max_seconds: float = Field(default=5.0, ge=0)
    retry_jitter_seconds: float = Field(default=0.5, ge=0)
    breaker_threshold: int = Field(default=5, ge=1)
    """Consecutive failures (outages, not business refusals) that open the breaker."""
    breaker_ttl_seconds: float = Field(default=30.0, gt=0)
    """How long the breaker stays open before letting one trial call through."""
    token_refresh_margin_seconds: float = Field(default=60.0, ge=0)
    """Refresh an access token this long before the operator says it expires."""
