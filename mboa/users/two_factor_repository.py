"""SQL of two-factor sign-in: the last accepted time step and the recovery codes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import delete, func, insert, or_, select, update

from mboa.kit.repository import RepositoryBase
from mboa.models import User, UserRecoveryCode


class TwoFactorRepository(RepositoryBase[UserRecoveryCode]):
    model = UserRecoveryCode

    async def claim_step(self, user_id: str, step: int) -> bool:
        """Record `step` as the user's last accepted code, only if it is later than the last
        one: of two requests with the same code, one wins (a code is never accepted twice)."""
        result = await self.session.execute(
            update(User)
            .where(
                User.id == user_id,
                or_(User.totp_last_step.is_(None), User.totp_last_step < step),
            )
            .values(totp_last_step=step)
            .execution_options(synchronize_session=False)
        )
        return int(cast(Any, result).rowcount) == 1

    async def replace_recovery_codes(
        self, user_id: str, hashes: Sequence[str], now: dt.datetime
    ) -> None:
        await self.delete_recovery_codes(user_id)
        await self.session.execute(
            insert(UserRecoveryCode),
            [{"code_hash": h, "user_id": user_id, "created_at": now} for h in hashes],
        )

    async def delete_recovery_codes(self, user_id: str) -> None:
        await self.session.execute(
            delete(UserRecoveryCode).where(UserRecoveryCode.user_id == user_id)
        )

    async def spend_recovery_code(self, user_id: str, code_hash: str, now: dt.datetime) -> bool:
        """Mark the code used, if it is this user's and still unused (single use, even for
        two requests at once)."""
        result = await self.session.execute(
            update(UserRecoveryCode)
            .where(
                UserRecoveryCode.code_hash == code_hash,
                UserRecoveryCode.user_id == user_id,
                UserRecoveryCode.used_at.is_(None),
            )
            .values(used_at=now)
        )
        return int(cast(Any, result).rowcount) == 1

    async def recovery_codes_left(self, user_id: str) -> int:
        result = await self.session.execute(
            select(func.count())
            .select_from(UserRecoveryCode)
            .where(UserRecoveryCode.user_id == user_id, UserRecoveryCode.used_at.is_(None))
        )
        return int(result.scalar_one())
