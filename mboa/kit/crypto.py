from __future__ import annotations

import hashlib
import secrets

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def random_token(num_bytes: int = 32) -> str:
    """Base62 text for `num_bytes` of entropy from the OS CSPRNG."""
    value = int.from_bytes(secrets.token_bytes(num_bytes), "big")
    length = (num_bytes * 8 * 1000 + 5953) // 5954  # ceil(bits / log2(62))
    chars = []
    for _ in range(length):
        value, rem = divmod(value, 62)
        chars.append(_BASE62[rem])
    return "".join(chars)


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()
