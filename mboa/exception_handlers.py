"""Every failure becomes Stripe's error object, `{"error": {type, code, message, param, request_id}}`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import sqlalchemy.exc
import structlog
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match

from mboa.exceptions import (
    BadRequest,
    DatabaseBusy,
    InternalError,
    MboaError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    UnknownParameter,
    UnsupportedMediaType,
)
from mboa.http_security import security_headers

log = structlog.get_logger("mboa.errors")


def request_id_of(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def error_response(exc: MboaError, request_id: str | None) -> Response:
    headers = dict(exc.headers)
    return Response(
        orjson.dumps(exc.to_dict(request_id)),
        status_code=exc.status_code,
        media_type="application/json",
        headers=headers,
    )


def param_from_loc(loc: Sequence[Any]) -> str | None:
    """`("body", "metadata", "k")` → `metadata[k]` (Stripe's form-style parameter names)."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header"}:
        parts = parts[1:]
    if not parts:
        return None
    head, *rest = parts
    return head + "".join(f"[{p}]" for p in rest)


def validation_error(exc: RequestValidationError) -> MboaError:
    errors = list(exc.errors())
    if not errors:
        return BadRequest("Invalid request")
    first = errors[0]
    kind = str(first.get("type", ""))
    loc = tuple(first.get("loc", ()))
    param = param_from_loc(loc)
    message = str(first.get("msg", "Invalid value"))
    if kind in {"json_invalid", "json_type"}:
        detail = str((first.get("ctx") or {}).get("error", "")).strip()
        return BadRequest(
            "The request body is not valid JSON" + (f": {detail}." if detail else "."),
            code="body_invalid_json",
        )
    if kind == "missing":
        if loc == ("body",):
            return BadRequest("A JSON request body is required", code="parameter_missing")
        return BadRequest(
            f"Missing required param: {param}.", param=param, code="parameter_missing"
        )
    if kind == "extra_forbidden":
        return UnknownParameter(str(param))
    if loc == ("body",) or (kind == "model_attributes_type" and len(loc) == 1):
        return BadRequest("The request body must be a JSON object", code="body_invalid")
    return BadRequest(f"Invalid {param}: {message}", param=param, code="parameter_invalid")


async def _mboa_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, MboaError)
    return error_response(exc, request_id_of(request))


async def _validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return error_response(validation_error(exc), request_id_of(request))


def http_exception_as_error(exc: StarletteHTTPException) -> MboaError:
    if exc.status_code == 404:
        return NotFound("Unrecognized request URL. Check the path and the API reference.")
    if exc.status_code == 405:
        return MethodNotAllowed(
            "This method is not allowed on this URL.", headers=dict(exc.headers or {})
        )
    if exc.status_code == 413:
        return PayloadTooLarge("The request body is too large.")
    if exc.status_code == 415:
        return UnsupportedMediaType(str(exc.detail))
    if exc.status_code >= 500:
        return InternalError("An internal error occurred.")
    error = BadRequest(str(exc.detail))
    error.status_code = exc.status_code  # type: ignore[misc]
    return error


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves on this URL.

    Starlette's 405 lists only the methods of the first route whose path matched, and FastAPI
    makes one route per method, so `GET /v1/customers` and `POST /v1/customers` are two routes:
    its `Allow` would name one of them.
    """
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.router.routes):
        if route.methods and route.matches(request.scope)[0] != Match.NONE:
            methods |= route.methods
    return sorted(methods)


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 405:
        exc.headers = {**(exc.headers or {}), "Allow": ", ".join(allowed_methods(request))}
    return error_response(http_exception_as_error(exc), request_id_of(request))


async def _unhandled(request: Request, exc: Exception) -> Response:
    log.exception("unhandled_error", path=request.url.path)
    request_id = request_id_of(request)
    from mboa.sentry import report_exception  # imports the SDK only where errors are rendered

    route = getattr(request.scope.get("route"), "path", None) or "unmatched"
    report_exception(exc, request_id=request_id or "", route=str(route))
    response = error_response(
        InternalError("An internal error occurred. It has been logged; retry later."), request_id
    )
    # This response is sent by Starlette's outermost middleware, past our request-id middleware.
    if request_id:
        response.headers["X-Request-Id"] = request_id
    for name, value in security_headers(request.url.path, response.raw_headers, html_csp=""):
        response.headers[name.decode()] = value.decode()
    return response


async def _database_busy(request: Request, exc: Exception) -> Response:
    """The ORM's pool had no free connection within `database.pool_timeout_seconds`."""
    log.warning("database_busy", path=request.url.path)
    return error_response(DatabaseBusy(), request_id_of(request))


def install(app: FastAPI) -> None:
    app.add_exception_handler(sqlalchemy.exc.TimeoutError, _database_busy)
    app.add_exception_handler(MboaError, _mboa_error)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(Exception, _unhandled)
