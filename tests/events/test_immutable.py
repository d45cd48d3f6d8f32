"""Events are immutable: the API's database role may read and append them, never change or
remove one (the grants of migration 0006: `SELECT, INSERT` on `events` for the app role). Checked
through a real connection as that role, scoped to the event's merchant as a request is."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from mboa.config import Settings
from mboa.postgres import Database, TenantContext, set_tenant
from tests.events.helpers import create_intent, list_events
from tests.helpers import Api


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE events SET type = 'payment_intent.succeeded' WHERE id = :id",
        "UPDATE events SET data = '{}'::jsonb WHERE id = :id",
        "DELETE FROM events WHERE id = :id",
        "TRUNCATE events",
    ],
)
async def test_the_api_role_can_neither_update_nor_delete_an_event(
    api: Api, db: Database, settings: Settings, statement: str
) -> None:
    account = await api.signup()
    await create_intent(api.http, account.secret_key)
    [event] = (await list_events(api.http, account.secret_key))["data"]
    tenant = TenantContext(account.merchant_id, livemode=False)

    async with db.app_sessions() as session:
        await set_tenant(session, tenant)
        role = (await session.execute(text("SELECT current_user"))).scalar_one()
        assert role == settings.database.app_role == "mboa_app"
        # The row is there for this role: a refusal below is the grant, not row-level security.
        seen = await session.execute(text("SELECT type FROM events WHERE id = :id"), event)
        assert seen.scalar_one() == "payment_intent.created"
        with pytest.raises(DBAPIError, match="permission denied for table events"):
            await session.execute(text(statement), event)
        await session.rollback()

    after = (await list_events(api.http, account.secret_key))["data"]
    assert after == [event]
