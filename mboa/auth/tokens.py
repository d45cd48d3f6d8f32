"""User access tokens: short-lived HS256 JWTs naming the user and the login session."""

from __future__ import annotations

import dataclasses
import datetime as dt

import jwt

from mboa.kit.time import utc_now

ISSUER = "mboa"
AUDIENCE = "mboa-dashboard"
COOKIE_AUDIENCE = "mboa-dashboard-cookie"
"""The dashboard's session cookie: the same signed claims (user, login session), never accepted
as a Bearer token, nor a Bearer token as the cookie."""


@dataclasses.dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: str
    session_id: str
    expires_at: dt.datetime


def issue_access_token(
    secret: str, *, user_id: str, session_id: str, ttl_seconds: int, audience: str = AUDIENCE
) -> tuple[str, dt.datetime]:
    now = utc_now()
    expires = now + dt.timedelta(seconds=ttl_seconds)
    token = jwt.encode(
        {
            "iss": ISSUER,
            "aud": audience,
            "sub": user_id,
            "sid": session_id,
            "iat": int(now.timestamp()),
            "exp": int(expires.timestamp()),
        },
        secret,
        algorithm="HS256",
    )
    return token, expires


def decode_access_token(
    secret: str, token: str, *, audience: str = AUDIENCE
) -> AccessClaims | None:
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            audience=audience,
            issuer=ISSUER,
            options={"require": ["exp", "sub", "sid"]},
        )
    except jwt.PyJWTError:
        return None
    return AccessClaims(
        user_id=str(claims["sub"]),
        session_id=str(claims["sid"]),
        expires_at=dt.datetime.fromtimestamp(claims["exp"], dt.UTC),
    )
