from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, EmailStr, Field, StringConstraints

from mboa.kit.schemas import InputSchema, Schema, Secret, UnixTimestamp

Password = Annotated[
    str,
    # Input strings are stripped (InputSchema); a password is taken exactly as typed.
    StringConstraints(strip_whitespace=False),
    Field(min_length=1, max_length=200),
]


NewPassword = Annotated[
    str,
    StringConstraints(strip_whitespace=False),
    Field(
        min_length=1,
        max_length=200,
        description=(
            "At least 10 characters (`MBOA_AUTH__MIN_PASSWORD_LENGTH`, never fewer) and hard to"
            " guess: a strength estimator (zxcvbn) must score it 3 of 4, with the email and"
            " names counted as known words. Refused with `password_too_weak` and advice."
        ),
        # Stated for clients; the service checks it and answers `password_too_weak` with advice.
        json_schema_extra={"minLength": 10},
    ),
]


class SignupRequest(InputSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "email": "ama@example.cm",
                    "password": "a-long-pass-2026",
                    "name": "Ama Nkeng",
                    "business_name": "Chez Ama",
                }
            ]
        }
    )

    email: EmailStr = Field(max_length=320)
    password: NewPassword
    name: str | None = Field(default=None, max_length=200)
    business_name: str = Field(min_length=1, max_length=200)


class LoginRequest(InputSchema):
    email: EmailStr = Field(max_length=320)
    password: Password
    otp: str | None = Field(
        default=None,
        min_length=6,
        max_length=40,
        description=(
            "For a user with two-factor sign-in: the 6-digit code of their authenticator app"
            " (a code is accepted once), or one of their unused recovery codes. Without it such a"
            " login is refused with 401 `two_factor_code_required`; a wrong code is 401"
            " `two_factor_code_invalid`, and 5 wrong codes lock the account's codes for 15"
            " minutes (429)."
        ),
    )


class RefreshRequest(InputSchema):
    refresh_token: str = Field(min_length=1, max_length=200)


class User(Schema):
    id: str
    object: Literal["user"] = "user"
    email: str
    name: str | None
    is_platform_admin: bool
    created: UnixTimestamp = Field(validation_alias="created_at")


class Tokens(Schema):
    object: Literal["token"] = "token"
    token_type: Literal["bearer"] = "bearer"
    access_token: Secret
    expires_in: int
    """Seconds until the access token expires."""
    refresh_token: Secret
    """Use once with /v1/auth/refresh; each use returns a new one."""
    refresh_token_expires_at: UnixTimestamp
    user: User


class Membership(Schema):
    merchant_id: str
    merchant_name: str
    merchant_status: str
    role: str


class Me(User):
    memberships: list[Membership]
