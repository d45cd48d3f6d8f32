"""Pure-ASGI middleware for every request: request id, client address, security headers, body
limits, content type, metrics, access log."""

from __future__ import annotations

import time
from collections.abc import Sequence

import structlog
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mboa.exception_handlers import error_response
from mboa.exceptions import MboaError, PayloadTooLarge, UnsupportedMediaType
from mboa.http_security import Network, resolve_client_address, security_headers
from mboa.kit.ids import Prefix, new_id
from mboa.metrics import HTTP_LATENCY, HTTP_REQUESTS

log = structlog.get_logger("mboa.access")
_BODY_METHODS = {b"POST", b"PUT", b"PATCH", "POST", "PUT", "PATCH"}
_JSON_TYPES = ("application/json",)
_OPERATOR_CALLBACKS = "/v1/providers/"


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        html_csp: str,
        trusted_proxies: Sequence[Network] = (),
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
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
            await self.app(scope, self._limited(receive), send_with_id)
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
            structlog.contextvars.unbind_contextvars("request_id")

    def _reject(self, scope: Scope) -> MboaError | None:
        if scope["method"] not in _BODY_METHODS:
            return None
        headers = dict(scope.get("headers", []))
        length_raw = headers.get(b"content-length")
        length = int(length_raw) if length_raw and length_raw.isdigit() else 0
        if length > self.max_body_bytes:
            return PayloadTooLarge(
                f"The request body is larger than {self.max_body_bytes // 1024} KB."
            )
        if scope["path"].startswith(_OPERATOR_CALLBACKS):
            # Operators choose their own content types (Orange may post a form); the callback
            # endpoint stores whatever arrives and parses it itself.
            return None
        chunked = b"chunked" in headers.get(b"transfer-encoding", b"")
        if length or chunked:
            content_type = headers.get(b"content-type", b"").decode("latin-1").lower()
            if not content_type.startswith(_JSON_TYPES):
                return UnsupportedMediaType(
                    "Send the request body as JSON with 'Content-Type: application/json'."
                )
        return None

    def _limited(self, receive: Receive) -> Receive:
        """Count bytes as they arrive: a body without a truthful Content-Length is still capped."""
        received = 0
        limit = self.max_body_bytes

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


def _route_template(scope: Scope) -> str:
    """The matched path template, e.g. `/v1/customers/{customer_id}` (bounded metric labels)."""
    # FastAPI nests included routers; its effective route context carries the full template.
    context = scope.get("fastapi", {}).get("effective_route_context")
    template = getattr(context, "path", None) or getattr(scope.get("route"), "path", None)
    return str(template) if template else "unmatched"
