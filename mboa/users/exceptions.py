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


# Two-factor sign-in (docs/dashboard.md "Two-factor sign-in")


class TwoFactorCodeRequired(Unauthorized):
    """The password was right; this user also needs a code from their authenticator app. Names
    the user (and their password's fingerprint) for the dashboard's second step; never sent."""

    code = "two_factor_code_required"

    def __init__(
        self, message: str, *, param: str | None = None, user_id: str, fingerprint: str
    ) -> None:
        super().__init__(message, param=param)
        self.user_id = user_id
        self.fingerprint = fingerprint


class TwoFactorCodeInvalid(Unauthorized):
    code = "two_factor_code_invalid"


class TwoFactorAlreadyEnabled(Conflict):
    code = "two_factor_already_enabled"


class TwoFactorNotEnabled(Conflict):
    code = "two_factor_not_enabled"


class PasswordIncorrect(BadRequest):
    """A signed-in user confirming a sensitive change typed a wrong password."""

    code = "password_incorrect"


class ResetTokenInvalid(BadRequest):
    """A password-reset link used, expired or unknown."""

    code = "reset_token_invalid"
