"""What every HTTP response carries for safety, and who the client is.

Headers: every response is `nosniff`, sends no referrer and is never stored by a cache (it may carry
a secret: tokens, API keys; Stripe marks all its API responses so); HTML pages (the API reference
at `/docs`, the error catalogue) get a Content-Security-Policy that loads only our own assets and
refuses framing. The Swagger UI assets themselves may be cached.

Client address: the TCP peer, unless that peer is a trusted proxy (`MBOA_HTTP__TRUSTED_PROXIES`);
then `X-Forwarded-For` is read from the right, skipping trusted hops, and the first untrusted one
is the client. Everything that needs the address (rate limits, stored callbacks, logs) reads
`client_address(request)`, set once per request by `RequestContextMiddleware`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.types import Scope

SERVER_OPTIONS: dict[str, Any] = {"proxy_headers": False, "server_header": False}
"""uvicorn options of every API server we start. uvicorn's own proxy handling is off: by default
it believes `X-Forwarded-For` from loopback, which let anyone there forge their address; the one
place that reads it is `resolve_client_address`."""

DOCS_ASSETS = "/docs/assets"
"""Where the Swagger UI files (from the `swagger-ui-bundle-v2` wheel) are served."""

_COMMON = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)
_NO_STORE = (b"cache-control", b"no-store")
_ASSET_CACHE = (b"cache-control", b"public, max-age=86400")


def html_policy(base_url: str) -> str:
    """The CSP of our HTML pages. Swagger UI sets inline `style` attributes (hence
    'unsafe-inline' for styles only); "try it out" calls the API's public URL."""
    parts = urlsplit(base_url)
    api_origin = f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""
    return "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            "font-src 'self'",
            f"connect-src 'self' {api_origin}".strip(),
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        )
    )


def security_headers(
    path: str, present: Iterable[tuple[bytes, bytes]], html_csp: str
) -> list[tuple[bytes, bytes]]:
    """The headers to add to a response for `path` that already has the headers `present`."""
    names = {name.lower(): value for name, value in present}
    added = [header for header in _COMMON if header[0] not in names]
    if b"cache-control" not in names:
        added.append(_ASSET_CACHE if path.startswith(DOCS_ASSETS + "/") else _NO_STORE)
    if names.get(b"content-type", b"").startswith(b"text/html"):
        # A page with a policy of its own (the payment pages: forms post to us) keeps it.
        if b"content-security-policy" not in names:
            added.append((b"content-security-policy", html_csp.encode()))
        added.append((b"x-frame-options", b"DENY"))
    return added


# -- client address ------------------------------------------------------------------------

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _parse(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    value = value.strip()
    if value.startswith("[") and "]" in value:  # "[2001:db8::1]:443"
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # "203.0.113.7:51000"
        value = value.partition(":")[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, proxies: Sequence[Network]
) -> bool:
    return any(address.version == net.version and address in net for net in proxies)


def resolve_client_address(scope: Scope, proxies: Sequence[Network]) -> str:
    """The client of this connection (see the module docstring); "unknown" when the server
    does not know its peer."""
    client = scope.get("client")
    peer = str(client[0]) if client else ""
    if not proxies:
        return peer or "unknown"
    peer_address = _parse(peer)
    if peer_address is None or not _trusted(peer_address, proxies):
        return peer or "unknown"
    hops: list[str] = []
    for name, value in scope.get("headers", []):
        if name == b"x-forwarded-for":
            hops.extend(value.decode("latin-1").split(","))
    for hop in reversed(hops):
        address = _parse(hop)
        if address is None:
            # Garbage where an address should be: do not walk past it to a forgeable hop.
            return str(peer_address)
        if not _trusted(address, proxies):
            return str(address)
    # Every hop is a trusted proxy: the left-most one is as far as we can see.
    first = _parse(hops[0]) if hops else None
    return str(first or peer_address)


def client_address(request: Request) -> str:
    """The address `RequestContextMiddleware` derived for this request."""
    address = getattr(request.state, "client_address", None)
    if isinstance(address, str):
        return address
    return request.client.host if request.client else "unknown"
