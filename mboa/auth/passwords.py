from __future__ import annotations

import contextlib
import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from mboa.config import get_settings


@functools.cache
def _hasher() -> PasswordHasher:
    auth = get_settings().auth
    return PasswordHasher(time_cost=auth.argon2_time_cost, memory_cost=auth.argon2_memory_cost_kib)


# Verifying against this when the email is unknown keeps login time the same either way.
_DUMMY_HASH = None


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    global _DUMMY_HASH
    if password_hash is None:
        if _DUMMY_HASH is None:
            _DUMMY_HASH = hash_password("not-a-real-password")
        with contextlib.suppress(VerificationError, InvalidHashError):
            _hasher().verify(_DUMMY_HASH, password)
        return False
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
