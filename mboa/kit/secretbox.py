"""Secrets at rest: AES-256-GCM (the `cryptography` package), shared by the webhook signing
secrets (`mboa/webhooks/crypto.py`) and the users' TOTP secrets (`mboa/users/two_factor.py`).

A stored value is `version (1 byte) || nonce (12 bytes) || ciphertext+tag`. The owning row's id
is the associated data, so a ciphertext copied onto another row does not decrypt. The version
byte leaves room for a key rotation (a second key, re-encrypting row by row).

One root key (`MBOA_WEBHOOKS__ENCRYPTION_KEY`) serves several purposes through keys derived from
it (`derived_key`, HKDF-SHA256 with the purpose as `info`): a TOTP secret and a webhook secret
are never under the same key.
"""

from __future__ import annotations

import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = b"\x01"
NONCE_BYTES = 12


class AeadBox:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the encryption key must be 32 bytes (base64-encoded)")
        self._aead = AESGCM(key)

    def encrypt(self, secret: str, *, bound_to: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return VERSION + nonce + self._aead.encrypt(nonce, secret.encode(), bound_to.encode())

    def decrypt(self, stored: bytes, *, bound_to: str) -> str:
        if stored[:1] != VERSION:
            raise ValueError("unknown secret encryption version")
        nonce, sealed = stored[1 : 1 + NONCE_BYTES], stored[1 + NONCE_BYTES :]
        return self._aead.decrypt(nonce, sealed, bound_to.encode()).decode()


def derived_key(root: bytes, purpose: str) -> bytes:
    """A 32-byte key for one purpose (HKDF-SHA256): keys of different purposes are unrelated."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(root)
