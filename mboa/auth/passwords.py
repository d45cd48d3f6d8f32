from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

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


# zxcvbn refuses longer input (its matching is quadratic); a prefix can only score lower.
_STRENGTH_PREFIX = 72


def weakness(password: str, *, min_score: int, user_inputs: Iterable[str] = ()) -> str | None:
    """Why `password` is too easy to guess (zxcvbn's feedback), or None when its strength score
    reaches `min_score`. `user_inputs` (email, names) count as known words."""
    words = [word for value in user_inputs if value for word in (value, *value.split("@"))]
    result = zxcvbn(password[:_STRENGTH_PREFIX], user_inputs=words)
    if int(result["score"]) >= min_score:
        return None
    feedback = result["feedback"]
    advice = [feedback["warning"], *feedback["suggestions"]]
    text = " ".join(item.strip() for item in advice if item)
    return f"This password is too easy to guess. {text or 'Add another word or two.'}".strip()
