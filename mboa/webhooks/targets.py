"""Where a webhook may be sent (docs/webhooks.md §SSRF): checked when an endpoint is saved and
again at every attempt, after resolving DNS, and the attempt connects to the address checked.

- Live mode: `https` only, and every address the name resolves to must be public: no private,
  loopback, link-local, multicast, reserved, shared (CGNAT) or unspecified address, IPv4 or IPv6
  (IPv4-mapped IPv6 included). Resolving once and connecting to that address means a DNS answer
  that changes between the check and the connection (DNS rebinding) cannot redirect the attempt.
- Test mode: the same, except that loopback is allowed (`http` only to loopback), so that a
  developer can receive test events on their own machine.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import socket

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
LOCALHOST_NAMES = frozenset({"localhost"})


class TargetRefused(Exception):
    """The URL or an address it resolves to may not receive webhooks."""


@dataclasses.dataclass(frozen=True)
class Target:
    url: httpx.URL
    """The URL to request: the endpoint's, with the host replaced by the checked address."""
    host_header: str
    sni_hostname: str | None
    address: IPAddress


def _address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def refusal(address: IPAddress, *, livemode: bool) -> str | None:
    """Why `address` may not receive a webhook in this mode (None: it may)."""
    if isinstance(address, ipaddress.IPv6Address):
        # An IPv6 address that carries an IPv4 one reaches that IPv4 address: ::ffff:a.b.c.d
        # on this host's dual stack (loopback included), 2002:aabb:ccdd::/48 through a 6to4
        # relay (never this host: its loopback is refused in either mode).
        if address.ipv4_mapped is not None:
            return refusal(address.ipv4_mapped, livemode=livemode)
        if address.sixtofour is not None:
            return refusal(address.sixtofour, livemode=True)
        if address.is_site_local:
            # fec0::/10, deprecated but still routed inside some networks; Python's is_private
            # does not cover it.
            return "a private address"
    if address.is_loopback:
        return None if not livemode else "a loopback address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_reserved:
        return "a reserved address"
    if address.is_private or not address.is_global:
        return "a private address"
    return None


def check_url(url: str, *, livemode: bool) -> None:
    """What can be said of a URL without resolving it (when an endpoint is saved)."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise TargetRefused(f"not a valid URL: {exc}") from None
    if parsed.scheme not in ("https", "http") or not parsed.host:
        raise TargetRefused("the URL must be an absolute https:// URL")
    if parsed.userinfo:
        raise TargetRefused("the URL must not carry a user name or password")
    address = _address(parsed.host)
    if parsed.scheme == "http":
        loopback = parsed.host in LOCALHOST_NAMES or (address is not None and address.is_loopback)
        if livemode or not loopback:
            raise TargetRefused("live mode requires https; test mode allows http only to localhost")
    if address is not None and (reason := refusal(address, livemode=livemode)):
        raise TargetRefused(f"the URL points at {reason}")


async def resolve(url: str, *, livemode: bool, resolve_within: float) -> Target:
    """Check the URL, resolve its host (the system resolver), check every address, and pin the
    request to the first one."""
    check_url(url, livemode=livemode)
    parsed = httpx.URL(url)
    host = parsed.host
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    address = _address(host)
    if address is None:
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), resolve_within
            )
        except (OSError, TimeoutError) as exc:
            raise TargetRefused(f"DNS resolution of {host} failed: {exc!r}") from None
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
        if not addresses:
            raise TargetRefused(f"{host} resolves to no address")
        for candidate in addresses:
            if reason := refusal(candidate, livemode=livemode):
                raise TargetRefused(f"{host} resolves to {candidate}, {reason}")
        address = addresses[0]
    netloc_host = f"[{address}]" if address.version == 6 else str(address)
    host_header = host if parsed.port is None else f"{host}:{parsed.port}"
    return Target(
        url=parsed.copy_with(host=netloc_host.strip("[]")),
        host_header=host_header,
        sni_hostname=host if parsed.scheme == "https" and _address(host) is None else None,
        address=address,
    )
