"""The ledger's reads: transactions, entries, balances, the work queues, merchant-facing lists."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, and_, select, text
from sqlalchemy.orm import aliased

from mboa.kit.pagination import CreatedRange
from mboa.kit.repository import RepositoryBase
from mboa.ledger.accounts import AccountKey, AccountKind
from mboa.models import LedgerAccount, LedgerEntry, LedgerTransaction


@dataclasses.dataclass(frozen=True, slots=True)
class EntryRow:
    account: AccountKey
    amount: int
    kind: int


class LedgerRepository(RepositoryBase[LedgerTransaction]):
    model = LedgerTransaction

    async def get_transaction(self, transaction_id: str) -> LedgerTransaction | None:
        return await self.get_one_or_none(
            select(LedgerTransaction).where(LedgerTransaction.id == transaction_id)
        )

    async def get_by_key(self, idempotency_key: str) -> LedgerTransaction | None:
        return await self.get_one_or_none(
            select(LedgerTransaction).where(LedgerTransaction.idempotency_key == idempotency_key)
        )

    async def transaction_entries(self, transaction_id: str) -> list[EntryRow]:
        rows = await self.session.execute(
            select(LedgerEntry, LedgerAccount)
            .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
            .where(LedgerEntry.transaction_id == transaction_id)
            .order_by(LedgerEntry.account_id, LedgerEntry.kind)
        )
        return [
            EntryRow(
                AccountKey(
                    account.merchant_id,
                    account.livemode,
                    account.currency,
                    AccountKind(account.kind),
                    account.operator,
                    account.shard,
                    account.flags,
                ),
                entry.amount,
                entry.kind,
            )
            for entry, account in rows.all()
        ]

    async def accounts(self, ids: Sequence[int]) -> list[LedgerAccount]:
        rows = await self.session.execute(select(LedgerAccount).where(LedgerAccount.id.in_(ids)))
        return list(rows.scalars())

    async def balance_at(self, account: int, at: dt.datetime) -> tuple[int, int, int, int]:
        row = (
            await self.session.execute(
                text("SELECT * FROM mboa_ledger_balance_at(:account, :at)"),
                {"account": account, "at": at},
            )
        ).first()
        if row is None:
            return (0, 0, 0, 0)
        return (int(row[0]), int(row[1]), int(row[2]), int(row[3]))

    async def entries(
        self, account: int, *, before_version: int | None, limit: int
    ) -> list[LedgerEntry]:
        statement = select(LedgerEntry).where(LedgerEntry.account_id == account)
        if before_version is not None:
            statement = statement.where(LedgerEntry.version < before_version)
        statement = statement.order_by(LedgerEntry.version.desc()).limit(limit)
        return list((await self.session.execute(statement)).scalars())

    async def due_pendings(self, now: dt.datetime, limit: int) -> list[str]:
        rows = await self.session.execute(
            text(
                "SELECT transaction_id FROM ledger_open_pendings WHERE expires_at <= :now"
                " ORDER BY expires_at LIMIT :limit"
            ),
            {"now": now, "limit": limit},
        )
        return [str(row[0]) for row in rows]

    async def due_settlements(
        self, now: dt.datetime, limit: int, after: tuple[dt.datetime, str] | None = None
    ) -> list[Any]:
        """Due rows in (available_on, transaction_id) order, from just after `after`: a walk
        through the queue that rows left in it (a refused settlement) cannot stall."""
        after_on, after_id = after if after is not None else (None, "")
        rows = await self.session.execute(
            text(
                "SELECT transaction_id, merchant_id, livemode, currency, amount, available_on"
                " FROM ledger_settlement_queue WHERE available_on <= :now"
                " AND (CAST(:after_on AS timestamptz) IS NULL"
                "      OR (available_on, transaction_id) > (:after_on, :after_id))"
                " ORDER BY available_on, transaction_id LIMIT :limit"
            ),
            {"now": now, "limit": limit, "after_on": after_on, "after_id": after_id},
        )
        return list(rows.all())

    async def settlement_of(self, transaction_id: str) -> Any | None:
        """The settlement-queue row of one collection (None once settled or reversed)."""
        rows = await self.session.execute(
            text(
                "SELECT transaction_id, merchant_id, livemode, currency, amount, available_on"
                " FROM ledger_settlement_queue WHERE transaction_id = :id"
            ),
            {"id": transaction_id},
        )
        return rows.first()

    async def open_deferrals(self, transaction_id: str) -> list[str]:
        """Open holds that keep part of a settled collection's net pending
        (`LedgerService.draw_pending`). Read through the small queue of open pendings with an
        expiry: `ledger_transactions.source` has no index."""
        rows = await self.session.execute(
            text(
                "SELECT t.id FROM ledger_open_pendings o"
                " JOIN ledger_transactions t ON t.id = o.transaction_id"
                " WHERE t.type = 'settlement' AND t.source = :source ORDER BY t.id"
            ),
            {"source": transaction_id},
        )
        return [str(row[0]) for row in rows]

    # Merchant-facing reads: under the API role, row-level security limits rows to the tenant.

    async def merchant_accounts(self) -> list[LedgerAccount]:
        statement = select(LedgerAccount).where(
            LedgerAccount.merchant_id.is_not(None),
            LedgerAccount.kind.in_(["pending", "available", "reserved"]),
        )
        return list((await self.session.execute(statement)).scalars())

    def balance_transactions_statement(
        self,
        *,
        type_: str | None = None,
        source: str | None = None,
        created: CreatedRange | None = None,
    ) -> Select[LedgerTransaction]:
        statement = select(LedgerTransaction).where(
            LedgerTransaction.bt_type.is_not(None), LedgerTransaction.merchant_id.is_not(None)
        )
        if type_ is not None:
            statement = statement.where(LedgerTransaction.bt_type == type_)
        if source is not None:
            statement = statement.where(LedgerTransaction.source == source)
        if created is not None:
            statement = statement.where(*created.clauses(LedgerTransaction.created_at))
        return statement

    async def closed(self, transaction_ids: Sequence[str]) -> set[str]:
        """Those of `transaction_ids` that were settled or reversed (at most one of the two)."""
        if not transaction_ids:
            return set()
        child = aliased(LedgerTransaction)
        rows = await self.session.execute(
            select(child.parent_id).where(
                and_(child.link.in_(("settle", "reverse")), child.parent_id.in_(transaction_ids))
            )
        )
        return {str(row[0]) for row in rows}
