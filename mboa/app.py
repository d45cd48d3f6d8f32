"""The API process: `create_app()` wires settings, engines, Redis, middleware and routers."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from redis.asyncio import Redis

from mboa import api, exception_handlers, logging, sentry
from mboa.auth.cache import ApiKeyCache
from mboa.auth.last_used import KeyUsage
from mboa.config import Settings, get_settings
from mboa.dev.runtime import jwt_secret
from mboa.error_codes import serve_docs_at
from mboa.http_security import html_policy
from mboa.kit.memory import freeze_startup_objects
from mboa.kit.openapi import ErrorObject, document_common_errors
from mboa.metrics import POOLS, serve_metrics
from mboa.middlewares import RequestContextMiddleware
from mboa.ops import mount_docs_assets
from mboa.ops import router as ops_router
from mboa.postgres import Database
from mboa.providers.registry import ProviderRegistry
from mboa.ratelimit import RateLimiter
from mboa.request_log import RequestLog
from mboa.state import AppState
from mboa.storage.runtime import build_signer, build_store

API_DESCRIPTION = """
Accept MTN Mobile Money and Orange Money in Cameroon.

Authenticate with `Authorization: Bearer sk_test_…` (test mode) or `sk_live_…` (live mode). Every
error has the shape `{"error": {"type", "code", "message", "param", "request_id"}}`. Lists are
cursor-paginated (`limit`, `starting_after`, `ending_before`), newest first. Send an
`Idempotency-Key` header on any POST to retry it safely.
"""


def build_state(settings: Settings, database_url: str, redis_url: str, *, process: str) -> AppState:
    db = Database.connect(settings, database_url, process=process)
    redis = Redis.from_url(redis_url)
    secret = jwt_secret(settings)
    return AppState(
        settings=settings,
        db=db,
        redis=redis,
        rate_limiter=RateLimiter(redis_url, settings.rate_limit),
        jwt_secret=secret,
        key_cache=ApiKeyCache(redis, settings.auth.key_cache_seconds),
        key_usage=KeyUsage(db, settings.auth.last_used_flush_seconds),
        providers=ProviderRegistry(settings.providers),
        request_log=RequestLog(redis),
        storage=build_store(settings, secret),
        url_signer=build_signer(settings, secret),
    )


def start_state(state: AppState) -> None:
    """Background work of an API process (must run inside its event loop)."""
    state.key_cache.start()


async def close_state(state: AppState) -> None:
    await state.key_cache.stop()
    await state.request_log.flush()
    await state.key_usage.stop()
    await state.db.dispose()
    await state.redis.aclose()
    await state.rate_limiter.close()
    await state.providers.aclose()
    await state.storage.close()


def _watch_pools(state: AppState) -> None:
    POOLS.engines.update({"app": state.db.app, "platform": state.db.platform})
    POOLS.read_pools["app_reads"] = state.db.reads


def create_app(state: AppState | None = None) -> FastAPI:
    """With `state=None` (uvicorn factory), services come from MBOA_DATABASE_URL / MBOA_REDIS_URL,
    which `mboa api` sets after starting the embedded servers when needed."""
    settings = state.settings if state else get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if getattr(app.state, "mboa", None) is not None:
            yield
            return
        database_url = os.environ.get("MBOA_DATABASE_URL")
        redis_url = os.environ.get("MBOA_REDIS_URL")
        if not database_url or not redis_url:
            raise RuntimeError("MBOA_DATABASE_URL and MBOA_REDIS_URL must be set (use `mboa api`)")
        app.state.mboa = build_state(settings, database_url, redis_url, process="api")
        start_state(app.state.mboa)
        _watch_pools(app.state.mboa)
        metrics = settings.metrics
        exporter = (
            serve_metrics(metrics.host, metrics.port, process="api") if metrics.enabled else None
        )
        freeze_startup_objects()
        try:
            yield
        finally:
            if exporter is not None:
                exporter.stop()
            await close_state(app.state.mboa)

    logging.configure(settings.log.level, json_output=settings.log.json_output)
    if state is None:  # a real API process (tests pass their own state)
        sentry.init(settings, process="api")
    serve_docs_at(settings.base_url)
    app = FastAPI(
        title="Mboa Pay API",
        version="2026-11-27",
        description=API_DESCRIPTION,
        lifespan=lifespan,
        # FastAPI's native OpenTelemetry looks up global providers on every request; metrics are
        # Prometheus (`mboa.metrics`) and traces are not collected yet.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        docs_url=None,  # served by mboa.ops from packaged assets, under a CSP
        redoc_url=None,
    )
    if state is not None:
        app.state.mboa = state
        _watch_pools(state)
    exception_handlers.install(app)
    app.add_middleware(
        RequestContextMiddleware,
        max_body_bytes=settings.api.max_body_bytes,
        # Logos and KYC documents (docs/storage.md, docs/going-live.md): one file plus the form.
        upload_body_bytes=max(settings.storage.max_document_bytes, settings.kyc.max_document_bytes)
        + 65_536,
        html_csp=html_policy(settings.base_url),
        trusted_proxies=settings.http.trusted_proxies,
    )
    app.include_router(ops_router)
    mount_docs_assets(app)
    api.include(app)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        servers=[{"url": get_settings().base_url}],
    )
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault(
        "ErrorObject", ErrorObject.model_json_schema(ref_template="#/components/schemas/{model}")
    )
    document_common_errors(schema)
    app.openapi_schema = schema
    return schema
