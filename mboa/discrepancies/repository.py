from __future__ import annotations

from typing import Any

from sqlalchemy.dialects.postgresql import insert

from mboa.kit.repository import RepositoryBase
from mboa.models import OperatorDiscrepancy


class OperatorDiscrepancyRepository(RepositoryBase[OperatorDiscrepancy]):
    model = OperatorDiscrepancy

    async def record(self, values: dict[str, Any]) -> bool:
        """Insert one report; False when the same report of the same object is already there
        (a retried task, a second callback)."""
        statement = (
            insert(OperatorDiscrepancy)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["object_id", "kind", "reported_status"])
            .returning(OperatorDiscrepancy.id)
        )
        return (await self.session.execute(statement)).first() is not None
