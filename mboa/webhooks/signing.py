"""Standard Webhooks signatures (https://www.standardwebhooks.com/, docs/webhooks.md).

The signed content is `{webhook-id}.{webhook-timestamp}.{body}`; the signature is
`v1,` + base64(HMAC-SHA256(secret key, signed content)). The secret is shown to the merchant as
`whsec_` + base64 of its key bytes, the form every official Standard Webhooks library accepts.
During a secret roll both secrets sign, separated by a space, and a receiver accepts either.
Signing is a few lines of the standard library; the tests verify our headers with the official
`standardwebhooks` package, so the two cannot drift apart unnoticed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
"""Standard Webhooks asks for 24 to 64 random bytes."""


def new_secret() -> str:
    """A fresh signing secret, as shown to the merchant once (`whsec_…`)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The key bytes of a `whsec_…` secret."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    if not key:
        raise ValueError("empty webhook secret")
    return key


def signature(secret: str, *, msg_id: str, timestamp: int, body: bytes) -> str:
    """One `v1,…` signature of `body` sent as message `msg_id` at `timestamp` (Unix seconds)."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def headers(secrets_: Iterable[str], *, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers, signed with every secret given (the current one
    first, then a rolled one still inside its overlap)."""
    signatures = [signature(s, msg_id=msg_id, timestamp=timestamp, body=body) for s in secrets_]
    if not signatures:
        raise ValueError("at least one secret signs a webhook")
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signatures),
    }
