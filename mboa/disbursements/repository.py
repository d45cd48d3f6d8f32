from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update

from mboa.kit.repository import RepositoryBase
from mboa.models import Disbursement


class DisbursementRepository(RepositoryBase[Disbursement]):
    model = Disbursement

    async def get_for_update(self, disbursement_id: str) -> Disbursement | None:
        return await self.session.get(Disbursement, disbursement_id, with_for_update=True)

    async def source_of(self, disbursement_id: str) -> str | None:
        statement = select(Disbursement.source_id).where(Disbursement.id == disbursement_id)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def of_ids(self, ids: list[str]) -> dict[str, Disbursement]:
        if not ids:
            return {}
        rows = await self.session.execute(select(Disbursement).where(Disbursement.id.in_(ids)))
        return {d.id: d for d in rows.scalars()}

    async def set_reference(self, disbursement_id: str, reference: str) -> str:
        """Store the operator reference once; a concurrent run keeps the first one stored."""
        await self.session.execute(
            update(Disbursement)
            .where(Disbursement.id == disbursement_id, Disbursement.operator_reference.is_(None))
            .values(operator_reference=reference)
        )
        stored = await self.session.execute(
            select(Disbursement.operator_reference).where(Disbursement.id == disbursement_id)
        )
        return str(stored.scalar_one())

    async def due_for_check(self, now: dt.datetime, limit: int, source_type: str) -> list[str]:
        """Disbursements still pending whose next status read is due (platform role)."""
        statement = (
            select(Disbursement.id)
            .where(
                Disbursement.status == "pending",
                Disbursement.source_type == source_type,
                Disbursement.next_check_at <= now,
            )
            .order_by(Disbursement.next_check_at)
            .limit(limit)
        )
        return list((await self.session.execute(statement)).scalars())

    async def schedule_check(self, disbursement_id: str, at: dt.datetime) -> None:
        await self.session.execute(
            update(Disbursement)
            .where(Disbursement.id == disbursement_id, Disbursement.status == "pending")
            .values(next_check_at=at, status_checks=Disbursement.status_checks + 1)
        )
