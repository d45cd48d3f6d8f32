"""Permissions: `<resource>:read` / `<resource>:write`. Write implies read.

Roles (for people) and restricted keys (for programs) are both sets of these permissions, so every
endpoint states one permission and the same check serves both.
"""

from __future__ import annotations

from typing import Final

from mboa.models import ApiKeyType, MemberRole

# Resources of the public API that API keys act on.
API_RESOURCES: Final = (
    "customers",
    "payment_intents",
    # payouts (issue 13 point 5): developers read them, only owners and admins send money out
    "payouts",
    # refunds (issue 13 point 4): developers read them, only owners and admins send money out
    "refunds",
    "account",
    "balance",
    # events (issue 14): read them; write is resending them (POST /v1/events/{id}/resend)
    "events",
    # webhooks (issue 14)
    "webhook_endpoints",
    # checkout (issue 15)
    "checkout_sessions",
    "payment_links",
)
# Resources of account management, for people (the dashboard) only.
ACCOUNT_RESOURCES: Final = ("team", "api_keys")
AUDIT_READ: Final = "audit_logs:read"
"""The audit log (docs/audit.md): owners and admins read it, and secret keys; nobody writes it."""


def _both(*resources: str) -> frozenset[str]:
    return frozenset(f"{r}:{a}" for r in resources for a in ("read", "write"))


def _read(*resources: str) -> frozenset[str]:
    return frozenset(f"{r}:read" for r in resources)


API_SCOPES: Final = _both(*API_RESOURCES)
"""Every scope a restricted key may be given."""

ROLE_PERMISSIONS: Final[dict[MemberRole, frozenset[str]]] = {
    MemberRole.owner: _both(*API_RESOURCES, *ACCOUNT_RESOURCES) | {AUDIT_READ},
    MemberRole.admin: _both(*API_RESOURCES, *ACCOUNT_RESOURCES) | {AUDIT_READ},
    MemberRole.developer: _read(*API_RESOURCES, *ACCOUNT_RESOURCES)
    | _both(
        "api_keys",
        "customers",
        "payment_intents",
        "webhook_endpoints",
        "checkout_sessions",
        "payment_links",
    ),
    MemberRole.analyst: _read(*API_RESOURCES, "team"),
}

KEY_PERMISSIONS: Final[dict[ApiKeyType, frozenset[str]]] = {
    ApiKeyType.secret: API_SCOPES | {AUDIT_READ},
    ApiKeyType.publishable: frozenset(),
}


def expand(scopes: frozenset[str] | set[str] | list[str]) -> frozenset[str]:
    """Add the read permission implied by each write permission."""
    out = set(scopes)
    for scope in scopes:
        resource, _, action = scope.partition(":")
        if action == "write":
            out.add(f"{resource}:read")
    return frozenset(out)
