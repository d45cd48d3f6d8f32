from __future__ import annotations

from mboa.exceptions import BadRequest, Conflict, Unauthorized


class EmailTaken(Conflict):
    code = "email_taken"


class InvalidCredentials(Unauthorized):
    code = "invalid_credentials"


class RefreshTokenInvalid(Unauthorized):
    code = "refresh_token_invalid"


class WeakPassword(BadRequest):
    code = "password_too_weak"


class RefreshTokenReused(Unauthorized):
    """A spent refresh token came back: it leaked. The session revocation must be committed."""

    code = "refresh_token_reused"
    commit_writes = True
