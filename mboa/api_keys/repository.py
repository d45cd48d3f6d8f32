from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import Select, select, text

from mboa.kit.repository import RepositoryBase
from mboa.models import ApiKey


@dataclasses.dataclass(frozen=True, slots=True)
class KeyForAuthentication:
    id: str
    merchant_id: str
    livemode: bool
    type: str
    scopes: list[str]
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    merchant_status: str


_LOOKUP = text(
    "SELECT id, merchant_id, livemode, type, scopes, expires_at, revoked_at, merchant_status"
    " FROM mboa_authenticate_api_key(:secret_hash)"
)


class ApiKeyRepository(RepositoryBase[ApiKey]):
    model = ApiKey

    async def lookup_for_authentication(self, secret_hash: str) -> KeyForAuthentication | None:
        """Find a key by its secret's hash before any tenant is known (a definer function)."""
        row = (await self.session.execute(_LOOKUP, {"secret_hash": secret_hash})).one_or_none()
        if row is None:
            return None
        return KeyForAuthentication(*row)

    def list_statement(self, merchant_id: str, livemode: bool) -> Select[ApiKey]:
        return select(ApiKey).where(ApiKey.merchant_id == merchant_id, ApiKey.livemode == livemode)

    async def get_in_tenant(self, merchant_id: str, livemode: bool, key_id: str) -> ApiKey | None:
        return await self.get_one_or_none(
            self.list_statement(merchant_id, livemode).where(ApiKey.id == key_id).with_for_update()
        )
