"""Liveness, readiness, metrics and the error catalogue, outside /v1 and without authentication."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from sqlalchemy import text

from mboa.error_codes import render_catalogue
from mboa.exception_handlers import error_response, request_id_of
from mboa.exceptions import ServiceUnavailable
from mboa.state import get_state

router = APIRouter(tags=["Operations"], include_in_schema=False)
READY_TIMEOUT_SECONDS = 2.0


@router.get("/docs/errors", response_class=HTMLResponse)
async def error_catalogue() -> HTMLResponse:
    """Every error code, what it means and what to do: where each error's `doc_url` points."""
    return HTMLResponse(render_catalogue())


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> Response:
    """PostgreSQL and Redis both answer: the process can serve traffic."""
    state = get_state(request)
    checks: dict[str, str] = {}

    async def database() -> None:
        async with state.db.app.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def redis() -> None:
        await state.redis.ping()

    for name, check in (("database", database), ("redis", redis)):
        try:
            await asyncio.wait_for(check(), READY_TIMEOUT_SECONDS)
            checks[name] = "ok"
        except Exception as exc:  # any failure means "not ready"
            checks[name] = f"unavailable: {type(exc).__name__}"
    if all(v == "ok" for v in checks.values()):
        import orjson

        return Response(orjson.dumps({"status": "ready", **checks}), media_type="application/json")
    failing = ", ".join(k for k, v in checks.items() if v != "ok")
    return error_response(
        ServiceUnavailable(f"Not ready: {failing} unreachable."), request_id_of(request)
    )


@router.get("/metrics")
async def metrics() -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
