"""Pure-ASGI middleware for every request: request id, client address, security headers, body
limits, content type, metrics, access log."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Any

import structlog
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mboa.exception_handlers import error_response
from mboa.exceptions import MboaError, PayloadTooLarge, UnsupportedMediaType
from mboa.http_security import Network, resolve_client_address, security_headers
from mboa.kit.ids import Prefix, new_id
from mboa.kit.request_context import CURRENT_REQUEST, RequestRef
from mboa.metrics import HTTP_LATENCY, HTTP_REQUESTS
from mboa.sentry import tag_request

log = structlog.get_logger("mboa.access")
_BODY_METHODS = {b"POST", b"PUT", b"PATCH", "POST", "PUT", "PATCH"}
_JSON_TYPES = ("application/json",)
_OPERATOR_CALLBACKS = "/v1/providers/"
_FORM_PAGES = ("/pay/", "/l/", "/dashboard/", "/console/")
"""The payment pages (mboa/checkout/pages.py), the dashboard (mboa/dashboard/pages.py) and the
staff console (mboa/console/pages.py): browsers post their forms urlencoded."""
_FORM_TYPES = ("application/x-www-form-urlencoded",)
_API_PATHS = "/v1/"
"""The calls the merchant's request log keeps (mboa/request_log.py)."""
UPLOAD_PATHS = (
    re.compile(r"^/v1/merchants/[^/]+/logo$"),
    re.compile(r"^/v1/merchants/[^/]+/kyc/documents$"),
    re.compile(r"^/dashboard/activate/documents$"),
    re.compile(r"^/dashboard/settings/logo$"),
)
"""File uploads (docs/storage.md): multipart bodies, up to `upload_body_bytes`: logos and KYC
documents."""
_UPLOAD_TYPES = ("multipart/form-data",)


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        html_csp: str,
        upload_body_bytes: int | None = None,
        trusted_proxies: Sequence[Network] = (),
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.upload_body_bytes = max(upload_body_bytes or 0, max_body_bytes)
        self.html_csp = html_csp
        self.trusted_proxies = tuple(trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = new_id(Prefix.request)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["client_address"] = resolve_client_address(scope, self.trusted_proxies)
        structlog.contextvars.bind_contextvars(request_id=request_id)
        tag_request(request_id)
        request_token = CURRENT_REQUEST.set(RequestRef(request_id, scope.get("headers", ()), state))
        status = 500
        request_id_header = (b"x-request-id", request_id.encode())

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers += security_headers(scope["path"], headers, self.html_csp)
                message["headers"] = [*headers, request_id_header]
            await send(message)

        try:
            rejection = self._reject(scope)
            if rejection is not None:
                response = error_response(rejection, request_id)
                await response(scope, receive, send_with_id)
                return
            limit = self.upload_body_bytes if _is_upload(scope) else self.max_body_bytes
            await self.app(scope, self._limited(receive, limit), send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            template = _route_template(scope)
            method = scope["method"]
            HTTP_REQUESTS.labels(method, template, str(status)).inc()
            HTTP_LATENCY.labels(method, template).observe(elapsed)
            auth = scope.get("state", {}).get("auth")
            log.info(
                "request",
                method=method,
                path=scope["path"],
                route=template,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
                client=state["client_address"],
                key_id=getattr(auth, "key_id", None),
                user_id=getattr(auth, "user_id", None),
            )
            if scope["path"].startswith(_API_PATHS):
                _to_request_log(scope, auth, method, status, request_id, elapsed)
            structlog.contextvars.unbind_contextvars("request_id")
            CURRENT_REQUEST.reset(request_token)

    def _reject(self, scope: Scope) -> MboaError | None:
        if scope["method"] not in _BODY_METHODS:
            return None
        headers = dict(scope.get("headers", []))
        length_raw = headers.get(b"content-length")
        length = int(length_raw) if length_raw and length_raw.isdigit() else 0
        upload = _is_upload(scope)
        limit = self.upload_body_bytes if upload else self.max_body_bytes
        if length > limit:
            return PayloadTooLarge(f"The request body is larger than {limit // 1024} KB.")
        if scope["path"].startswith(_OPERATOR_CALLBACKS):
            # Operators choose their own content types (Orange may post a form); the callback
            # endpoint stores whatever arrives and parses it itself.
            return None
        chunked = b"chunked" in headers.get(b"transfer-encoding", b"")
        if length or chunked:
            content_type = headers.get(b"content-type", b"").decode("latin-1").lower()
            if upload:
                if not content_type.startswith(_UPLOAD_TYPES):
                    return UnsupportedMediaType(
                        "Send the file as multipart/form-data, in the field 'file'."
                    )
            elif scope["path"].startswith(_FORM_PAGES):
                if not content_type.startswith(_FORM_TYPES):
                    return UnsupportedMediaType("Post the payment page's form.")
            elif not content_type.startswith(_JSON_TYPES):
                return UnsupportedMediaType(
                    "Send the request body as JSON with 'Content-Type: application/json'."
                )
        return None

    def _limited(self, receive: Receive, limit: int) -> Receive:
        """Count bytes as they arrive: a body without a truthful Content-Length is still capped."""
        received = 0

        async def wrapped() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # An HTTPException passes through FastAPI's body reader unchanged.
                    raise HTTPException(413, f"The request body is larger than {limit // 1024} KB.")
            return message

        return wrapped


def _to_request_log(
    scope: Scope, auth: Any, method: str, status: int, request_id: str, elapsed: float
) -> None:
    """A merchant's API call, to their request log: a buffer in memory, written to Redis in
    batches after the responses (no database write, nothing awaited here)."""
    merchant_id = getattr(auth, "merchant_id", None)
    if merchant_id is None:
        return
    app_state = getattr(getattr(scope.get("app"), "state", None), "mboa", None)
    request_log = getattr(app_state, "request_log", None)
    if request_log is None:
        return
    try:
        request_log.record(
            merchant_id=merchant_id,
            livemode=bool(getattr(auth, "livemode", False)),
            method=method,
            path=scope["path"],
            status=status,
            request_id=request_id,
            latency_ms=elapsed * 1000,
            key_id=getattr(auth, "key_id", None),
        )
    except Exception:
        log.exception("request_log_failed")


def _is_upload(scope: Scope) -> bool:
    return any(p.match(scope["path"]) for p in UPLOAD_PATHS)


def _route_template(scope: Scope) -> str:
    """The matched path template, e.g. `/v1/customers/{customer_id}` (bounded metric labels)."""
    # FastAPI nests included routers; its effective route context carries the full template.
    context = scope.get("fastapi", {}).get("effective_route_context")
    template = getattr(context, "path", None) or getattr(scope.get("route"), "path", None)
    return str(template) if template else "unmatched"
