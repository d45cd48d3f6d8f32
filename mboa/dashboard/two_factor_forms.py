"""What the pages that set up two-factor sign-in share (docs/dashboard.md "Two-factor
sign-in"): the dashboard's Security page (`account_pages.py`, every member) and the staff
console's enrolment page (`mboa/console/security.py`, staff who belong to no merchant).

Both call the same service (`mboa.users.two_factor`); this module draws the QR code, groups the
key for typing, and throttles the codes a form sends (per address and per account, the same
limit as `POST /v1/auth/login`'s `otp`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import segno
from fastapi import Request

from mboa.http_security import client_address
from mboa.state import get_state
from mboa.users.exceptions import PasswordIncorrect, TwoFactorCodeInvalid


def qr_data_uri(uri: str) -> str:
    """The `otpauth://` URI as a QR code, drawn on the server (SVG, no script, no CDN)."""
    return str(segno.make(uri, error="m").svg_data_uri(scale=5, border=2))


def grouped(secret: str) -> str:
    """The key in groups of four, to type into an app without a camera."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


async def check_code_limits(request: Request, email: str) -> None:
    """Before a form's code is checked: the per-address and the per-account limits."""
    limiter = get_state(request).rate_limiter
    await limiter.hit_anonymous(client_address(request), "security-two-factor")
    await limiter.check_two_factor(email)


@asynccontextmanager
async def code_attempt(request: Request, email: str) -> AsyncIterator[None]:
    """Around the service call that checks a code: a wrong one counts against the account, a
    right one clears the count."""
    limiter = get_state(request).rate_limiter
    try:
        yield
    except (TwoFactorCodeInvalid, PasswordIncorrect):
        await limiter.two_factor_failed(email)
        raise
    await limiter.two_factor_succeeded(email)
