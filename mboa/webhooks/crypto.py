"""Signing secrets at rest: AES-256-GCM (`mboa.kit.secretbox`), the key from
`MBOA_WEBHOOKS__ENCRYPTION_KEY` (generated under .mboa/ for local runs).

A stored value is `version (1 byte) || nonce (12 bytes) || ciphertext+tag`. The endpoint's id is
the associated data, so a ciphertext copied onto another endpoint's row does not decrypt. The
version byte leaves room for a key rotation (a second key, re-encrypting row by row).
"""

from __future__ import annotations

import base64
import functools

from mboa.config import Settings
from mboa.kit.secretbox import AeadBox


class SecretBox:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the webhook encryption key must be 32 bytes (base64-encoded)")
        self._box = AeadBox(key)

    def encrypt(self, secret: str, *, endpoint_id: str) -> bytes:
        return self._box.encrypt(secret, bound_to=endpoint_id)

    def decrypt(self, stored: bytes, *, endpoint_id: str) -> str:
        return self._box.decrypt(stored, bound_to=endpoint_id)


@functools.cache
def _box(key: str) -> SecretBox:
    return SecretBox(base64.b64decode(key, validate=True))


def secret_box(settings: Settings) -> SecretBox:
    """The process's box for this configuration (the key is read, or generated, once)."""
    from mboa.dev.runtime import webhook_encryption_key

    return _box(webhook_encryption_key(settings))
