from __future__ import annotations

from sqlalchemy import Select, select

from mboa.kit.repository import RepositoryBase
from mboa.models import ApiKey


class ApiKeyRepository(RepositoryBase[ApiKey]):
    model = ApiKey

    def list_statement(self, merchant_id: str, livemode: bool) -> Select[ApiKey]:
        return select(ApiKey).where(ApiKey.merchant_id == merchant_id, ApiKey.livemode == livemode)

    async def get_in_tenant(self, merchant_id: str, livemode: bool, key_id: str) -> ApiKey | None:
        return await self.get_one_or_none(
            self.list_statement(merchant_id, livemode).where(ApiKey.id == key_id).with_for_update()
        )
