"""Liveness, readiness, the API reference and the error catalogue, outside /v1 and without
authentication. Metrics are not here: they have their own port (`mboa.metrics.serve_metrics`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import orjson
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import HTMLResponse
from sqlalchemy import text
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from mboa.error_codes import render_catalogue
from mboa.exception_handlers import error_response, request_id_of
from mboa.exceptions import ServiceUnavailable
from mboa.http_security import DOCS_ASSETS
from mboa.shutdown import DRAINING
from mboa.state import get_state

router = APIRouter(tags=["Operations"], include_in_schema=False)
DEPENDENCY_TIMEOUT_SECONDS = 1.0
"""Each of `/readyz`'s dependency checks: well under the probes' 3 s timeout."""


# The API reference: Swagger UI served from the pinned `swagger-ui-bundle-v2` wheel, never a CDN,
# so it works offline and its scripts cannot be swapped; no inline script (the CSP allows only
# 'self').
_DOCS_PAGE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Mboa Pay API reference</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="{DOCS_ASSETS}/swagger-ui.css">
<link rel="icon" type="image/png" href="{DOCS_ASSETS}/favicon-32x32.png">
</head><body><div id="swagger-ui"></div>
<script src="{DOCS_ASSETS}/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body></html>
"""
_DOCS_INIT = """window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  layout: "BaseLayout",
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
});
"""


@router.get("/docs", response_class=HTMLResponse)
async def api_reference() -> HTMLResponse:
    """The interactive API reference (Swagger UI over /openapi.json)."""
    return HTMLResponse(_DOCS_PAGE)


@router.get("/docs/init.js")
async def api_reference_script() -> Response:
    return Response(_DOCS_INIT, media_type="text/javascript")


def mount_docs_assets(app: FastAPI) -> None:
    app.mount(DOCS_ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")


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
    """Ready while the process serves and has not been asked to stop (mboa.shutdown): then 503,
    so that load balancers drain it before it stops accepting.

    PostgreSQL and Redis are checked and reported in the body, for people, but do not make the
    process unready: an outage of either is every pod's at once, and taking them all out of
    service would only turn the API's own clear 503 error objects into the ingress's 502s, and
    stop what still works (reads from the cache, payments queued in the outbox while Redis is
    away: docs/deploy.md's runbook)."""
    if DRAINING.is_set():
        return error_response(
            ServiceUnavailable("Not ready: shutting down."), request_id_of(request)
        )
    state = get_state(request)

    async def database() -> None:
        async with state.db.app.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def redis() -> None:
        await state.redis.ping()

    async def check(probe: Callable[[], Awaitable[None]]) -> str:
        try:
            await asyncio.wait_for(probe(), DEPENDENCY_TIMEOUT_SECONDS)
        except Exception as exc:  # reported, never raised: see above
            return f"unavailable: {type(exc).__name__}"
        return "ok"

    # At once, each bounded: the probe answers within its own timeout however slow they are.
    database_status, redis_status = await asyncio.gather(check(database), check(redis))
    return Response(
        orjson.dumps({"status": "ready", "database": database_status, "redis": redis_status}),
        media_type="application/json",
    )
