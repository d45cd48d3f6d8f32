"""The staff console against the whole stack of the dashboard's tests (API on a socket, worker,
simulators) and its cookie/CSRF-aware browser; staff members of each role."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import pyotp
import pytest

from mboa.models import User
from mboa.users.service import user as user_service
from mboa.users.two_factor import totp_box, two_factor
from tests.browser import chromium
from tests.dashboard.conftest import (
    TOTP_SECRETS,
    Stack,
    browser_for,
    client,
    ledger_db,
    shop,
    stack,
)
from tests.helpers import PASSWORD

__all__ = ["Stack", "browser_for", "chromium", "client", "ledger_db", "shop", "stack"]

_made = iter(range(10**6))


@pytest.fixture
def staff_member(stack: Stack, client: Any) -> Callable[[str], Awaitable[str]]:
    """A staff user with `role` (support, compliance, finance, superadmin); returns the email."""

    async def make(role: str, *, with_two_factor: bool = True) -> str:
        email = f"{role}{next(_made)}@staff.mboa.cm"
        async with stack.state.db.platform_transaction() as session:
            user = await user_service.create_platform_admin(
                session,
                email=email,
                password=PASSWORD,
                name=role.title(),
                settings=stack.state.settings.auth,
            )
            found = await session.get(User, user.id)
            assert found is not None
            found.staff_role = role
            found.is_platform_admin = role == "superadmin"
            if not with_two_factor:
                return email
            # The console requires two-factor sign-in: staff turn it on (a code one step old,
            # so the sign-ins that follow use the current step and the next).
            box = totp_box(stack.state.settings)
            secret = await two_factor.start(session, user.id, box)
            step = int(time.time()) // 30
            await two_factor.confirm(session, user.id, pyotp.TOTP(secret).at((step - 1) * 30), box)
            TOTP_SECRETS[email] = [secret, step]
        return email

    return make
