"""Each invariant broken on purpose: the database refuses it, or `ledger verify` reports it."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sys
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from mboa.config import Settings
from mboa.kit.net import free_port
from mboa.kit.time import utc_now
from mboa.ledger.accounts import AccountKind, merchant_account
from mboa.ledger.posting import Leg, SourceType
from mboa.ledger.service import ledger
from mboa.postgres import Database
from tests.ledger.conftest import run_verify

M = "acct_01JDINVARIANTS000000000001"


@pytest.fixture
async def seeded(ledger_db: Database) -> dict[str, str]:
    """A small valid ledger: a settled collection, a reservation, a reversed transfer."""
    async with ledger_db.platform_transaction() as session:
        collection = await ledger.post_collection(
            session, merchant_id=M, livemode=False, operator="mtn_momo", amount=10_000,
            currency="XAF", source="pi_inv", idempotency_key="inv:collect",
        )  # fmt: skip
        await ledger.settle_due(session, now=utc_now() + dt.timedelta(days=2))
        reserve = await ledger.reserve(
            session, merchant_id=M, livemode=False, amount=1_000, currency="XAF",
            purpose=SourceType.payout, source="po_inv", idempotency_key="inv:reserve",
            expires_at=utc_now() + dt.timedelta(hours=1),
        )  # fmt: skip
        available = merchant_account(M, False, "XAF", AccountKind.available)
        reserved = merchant_account(M, False, "XAF", AccountKind.reserved)
        moved = await ledger.transfer(
            session, idempotency_key="inv:move", legs=[Leg(available, -500), Leg(reserved, 500)],
            type=SourceType.adjustment, currency="XAF", livemode=False, merchant_id=M,
        )  # fmt: skip
        reversal = await ledger.reverse(session, moved.transaction_id, idempotency_key="inv:rev")
    assert all(r.ok for r in (collection, reserve, moved, reversal))
    return {
        "collection": collection.transaction_id,
        "reserve": reserve.transaction_id,
        "moved": moved.transaction_id,
        "available": str(available.id),
    }


async def failing_checks(db: Database, settings: Settings, grace: int = 900) -> set[str]:
    return set((await run_verify(db, settings, grace_seconds=grace)).violations)


WRITE_TRANSFER = (
    "mboa_ledger_write_transfer(bigint[], text, text, bytea, text, text, text, boolean, text,"
    " text, text, bigint, bigint, bigint, text, text, smallint[], bigint[])"
)


@pytest.fixture
async def owner(owner_connection: asyncpg.Connection) -> AsyncIterator[asyncpg.Connection]:
    yield owner_connection
    # Whatever a test disabled or granted, put it back.
    await owner_connection.execute(
        "ALTER TABLE ledger_entries ENABLE TRIGGER ledger_entries_append_only;"
        " ALTER TABLE ledger_transactions ENABLE TRIGGER ledger_transactions_append_only;"
        " REVOKE UPDATE, DELETE ON ledger_entries FROM mboa_platform;"
        " REVOKE CREATE ON SCHEMA public FROM mboa_app;"
        f" ALTER FUNCTION {WRITE_TRANSFER} SET search_path = pg_catalog, public, pg_temp"
    )
    # And drop the corrupted ledger, so the ledger verified after the whole folder is valid.
    await owner_connection.execute(
        "TRUNCATE ledger_settlement_queue, ledger_open_pendings, ledger_entries,"
        " ledger_transactions, ledger_accounts"
    )


async def test_valid_ledger_passes(
    seeded: dict[str, str], db: Database, settings: Settings
) -> None:
    assert await failing_checks(db, settings) == set()


class TestAppendOnly:
    async def test_trigger_rejects_update_and_delete_even_for_the_owner(
        self, seeded: dict[str, str], owner: asyncpg.Connection
    ) -> None:
        for statement in (
            "UPDATE ledger_entries SET amount = amount + 1",
            "DELETE FROM ledger_entries",
            "UPDATE ledger_transactions SET amount = 1",
            "DELETE FROM ledger_transactions",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
                await owner.execute(statement)

    @pytest.mark.parametrize("statement", [
        "UPDATE ledger_entries SET amount = amount + 1",
        "DELETE FROM ledger_entries",
        "INSERT INTO ledger_entries VALUES (1, 1, 'txn_x', 0, 5, 5, 0, 0, now())",
        "UPDATE ledger_accounts SET balance = balance + 1",
        "INSERT INTO ledger_transactions (id, idempotency_key, fingerprint, type, livemode,"
        " currency, phase, created_at) VALUES ('txn_x', 'k', '\\x00', 'fee', false, 'XAF',"
        " 'posted', now())",
    ])  # fmt: skip
    async def test_grants_reject_direct_writes(
        self, seeded: dict[str, str], db: Database, statement: str
    ) -> None:
        # The platform role writes only through the ledger functions.
        with pytest.raises(DBAPIError, match="permission denied"):
            async with db.platform_transaction() as session:
                await session.execute(text(statement))

    async def test_verify_reports_a_disabled_trigger_or_a_grant(
        self, seeded: dict[str, str], db: Database, settings: Settings, owner: asyncpg.Connection
    ) -> None:
        await owner.execute("ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_append_only")
        await owner.execute("GRANT UPDATE ON ledger_entries TO mboa_platform")
        assert await failing_checks(db, settings) == {"journal_append_only"}

    async def test_verify_reports_a_role_that_can_create_on_the_write_path(
        self, seeded: dict[str, str], db: Database, settings: Settings, owner: asyncpg.Connection
    ) -> None:
        # The migrations closed schema `public` (PostgreSQL 13 and 14 open it to everyone).
        assert not await owner.fetchval("SELECT has_schema_privilege('public', 'public', 'CREATE')")
        await owner.execute("GRANT CREATE ON SCHEMA public TO mboa_app")
        assert await failing_checks(db, settings) == {"write_path_closed"}

    async def test_verify_reports_a_write_function_that_would_find_temp_tables_first(
        self, seeded: dict[str, str], db: Database, settings: Settings, owner: asyncpg.Connection
    ) -> None:
        # Without pg_temp listed last, a caller's temporary `ledger_accounts` would shadow the
        # real one inside the SECURITY DEFINER function.
        await owner.execute(f"ALTER FUNCTION {WRITE_TRANSFER} SET search_path = pg_catalog, public")
        assert await failing_checks(db, settings) == {"write_path_closed"}


class TestBalances:
    async def test_corrupted_stored_balance(
        self, seeded: dict[str, str], db: Database, settings: Settings, owner: asyncpg.Connection
    ) -> None:
        await owner.execute(
            "UPDATE ledger_accounts SET balance = balance + 1 WHERE id = $1",
            int(seeded["available"]),
        )
        assert await failing_checks(db, settings) == {"stored_balances_match_entries"}

    async def test_check_constraint_refuses_a_negative_flagged_balance(
        self, seeded: dict[str, str], owner: asyncpg.Connection
    ) -> None:
        with pytest.raises(asyncpg.CheckViolationError):
            await owner.execute(
                "UPDATE ledger_accounts SET balance = -1 WHERE id = $1", int(seeded["available"])
            )

    @pytest.mark.parametrize("statement", [
        # Enumerations are domains (checked when a value is assigned), the rest CHECKs.
        "INSERT INTO ledger_accounts (id, livemode, currency, kind) VALUES (7, false, 'XAF', 'jar')",
        "UPDATE ledger_accounts SET kind = 'jar'",
        "UPDATE ledger_accounts SET pending_debits = -1",
        "INSERT INTO ledger_transactions (id, idempotency_key, fingerprint, type, livemode,"
        " currency, phase, created_at) VALUES ('txn_x', 'k', '\\x00', 'fee', false, 'XAF',"
        " 'done', now())",
        "INSERT INTO ledger_transactions (id, idempotency_key, fingerprint, type, livemode,"
        " currency, phase, link, created_at) VALUES ('txn_x', 'k', '\\x00', 'fee', false, 'XAF',"
        " 'post', 'resolve', now())",
        "INSERT INTO ledger_transactions (id, idempotency_key, fingerprint, type, livemode,"
        " currency, phase, parent_id, link, created_at) VALUES ('txn_x', 'k', '\\x00', 'fee',"
        " false, 'XAF', 'posted', 'txn_y', 'resolve', now())",
        "INSERT INTO ledger_transactions (id, idempotency_key, fingerprint, type, livemode,"
        " currency, phase, amount, fee, net, created_at) VALUES ('txn_x', 'k', '\\x00', 'fee',"
        " false, 'XAF', 'posted', 100, 2, 99, now())",
        "INSERT INTO ledger_transactions (id, idempotency_key, fingerprint, type, livemode,"
        " currency, phase, parent_id, link, created_at) VALUES ('txn_x', 'k', '\\x00', 'fee',"
        " false, 'XAF', 'posted', 'txn_y', 'bogus', now())",
        "INSERT INTO ledger_entries VALUES (1, 1, 'txn_x', 3, 5, 5, 0, 0, now())",
        "INSERT INTO ledger_entries VALUES (1, 0, 'txn_x', 0, 5, 5, 0, 0, now())",
    ])  # fmt: skip
    async def test_row_checks_refuse_malformed_rows(
        self, seeded: dict[str, str], owner: asyncpg.Connection, statement: str
    ) -> None:
        with pytest.raises(asyncpg.CheckViolationError):
            await owner.execute(statement)

    async def test_unbalanced_transaction(
        self, seeded: dict[str, str], db: Database, settings: Settings, owner: asyncpg.Connection
    ) -> None:
        # One more entry, on an account's next version, with consistent running balances, and
        # the stored balance moved with it: only the zero-sum checks can see it.
        account = int(seeded["available"])
        await owner.execute(
            "INSERT INTO ledger_entries SELECT account_id, version + 1, $2, 0, 7,"
            " balance_after + 7, pending_debits_after, pending_credits_after, now()"
            " FROM ledger_entries WHERE account_id = $1 ORDER BY version DESC LIMIT 1",
            account,
            seeded["collection"],
        )
        await owner.execute(
            "UPDATE ledger_accounts SET balance = balance + 7, version = version + 1 WHERE id = $1",
            account,
        )
        assert await failing_checks(db, settings) == {
            "zero_sum_per_currency",
            "transactions_balanced",
        }

    async def test_transaction_without_entries(
        self, seeded: dict[str, str], db: Database, settings: Settings, owner: asyncpg.Connection
    ) -> None:
        await owner.execute(
            "INSERT INTO ledger_transactions (id, idempotency_key, fingerprint, type, livemode,"
            " currency, phase, created_at) VALUES ('txn_empty', 'inv:empty', '\\x00', 'fee',"
            " false, 'XAF', 'posted', now())"
        )
        assert await failing_checks(db, settings) == {"transactions_have_two_entries"}

    async def test_entry_of_an_unknown_transaction(
        self, seeded: dict[str, str], db: Database, settings: Settings, owner: asyncpg.Connection
    ) -> None:
        await owner.execute(
            "ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_append_only;"
            f" UPDATE ledger_entries SET transaction_id = 'txn_nowhere'"
            f" WHERE transaction_id = '{seeded['moved']}';"
            " ALTER TABLE ledger_entries ENABLE TRIGGER ledger_entries_append_only"
        )
        failing = await failing_checks(db, settings)
        assert "entries_reference_transaction_and_currency" in failing
        assert "transactions_have_two_entries" in failing


class TestVersionChains:
    async def test_gap_in_a_version_chain(
        self, seeded: dict[str, str], db: Database, settings: Settings, owner: asyncpg.Connection
    ) -> None:
        await owner.execute(
            "ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_append_only;"
            f" DELETE FROM ledger_entries WHERE account_id = {int(seeded['available'])}"
            " AND version = 1;"
            " ALTER TABLE ledger_entries ENABLE TRIGGER ledger_entries_append_only"
        )
        assert "version_chains_complete" in await failing_checks(db, settings)

    async def test_rewritten_balance_after(
        self, seeded: dict[str, str], db: Database, settings: Settings, owner: asyncpg.Connection
    ) -> None:
        await owner.execute(
            "ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_append_only;"
            " UPDATE ledger_entries SET balance_after = balance_after + 1"
            f" WHERE account_id = {int(seeded['available'])} AND version = 1;"
            " ALTER TABLE ledger_entries ENABLE TRIGGER ledger_entries_append_only"
        )
        assert await failing_checks(db, settings) == {"version_chains_consistent"}

    async def test_flagged_account_negative_at_some_version(
        self, seeded: dict[str, str], db: Database, settings: Settings, owner: asyncpg.Connection
    ) -> None:
        # History rewritten so version 1 shows an overdraft (the running sums stay consistent
        # with amounts; only the flag check can see it).
        await owner.execute(
            "ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_append_only;"
            " UPDATE ledger_entries SET pending_debits_after = pending_debits_after + 1000000"
            f" WHERE account_id = {int(seeded['available'])} AND version = 1;"
            " ALTER TABLE ledger_entries ENABLE TRIGGER ledger_entries_append_only"
        )
        failing = await failing_checks(db, settings)
        assert "flagged_accounts_never_negative" in failing


class TestOnce:
    async def test_second_resolution_refused_by_the_database(
        self, seeded: dict[str, str], owner: asyncpg.Connection
    ) -> None:
        async def resolve(suffix: str) -> None:
            await owner.execute(
                "INSERT INTO ledger_transactions (id, idempotency_key, fingerprint, type,"
                " livemode, currency, phase, parent_id, link, created_at)"
                f" VALUES ('txn_res{suffix}', 'inv:res{suffix}', '\\x00', 'payout', false, 'XAF',"
                f" 'void', $1, 'resolve', now())",
                seeded["reserve"],
            )

        await resolve("1")
        with pytest.raises(asyncpg.UniqueViolationError):
            await resolve("2")

    async def test_second_reversal_and_settlement_refused(
        self, seeded: dict[str, str], owner: asyncpg.Connection
    ) -> None:
        for parent, link in ((seeded["moved"], "reverse"), (seeded["collection"], "settle")):
            with pytest.raises(asyncpg.UniqueViolationError):
                await owner.execute(
                    "INSERT INTO ledger_transactions (id, idempotency_key, fingerprint, type,"
                    " livemode, currency, phase, parent_id, link, created_at)"
                    " VALUES ($1, $1, '\\x00', 'reversal', false, 'XAF', 'posted', $2, $3, now())",
                    f"txn_dup_{link}",
                    parent,
                    link,
                )

    async def test_a_collection_both_settled_and_reversed(
        self, seeded: dict[str, str], db: Database, settings: Settings, owner: asyncpg.Connection
    ) -> None:
        insert_reversal = (
            "INSERT INTO ledger_transactions (id, idempotency_key, fingerprint, type,"
            " livemode, currency, phase, parent_id, link, created_at)"
            " VALUES ('txn_revsettled', 'inv:revsettled', '\\x00', 'reversal', false, 'XAF',"
            " 'posted', $1, 'reverse', now())"
        )
        with pytest.raises(asyncpg.UniqueViolationError):
            await owner.execute(insert_reversal, seeded["collection"])
        await owner.execute("DROP INDEX uq_ledger_transactions_settled_or_reversed")
        try:
            await owner.execute(insert_reversal, seeded["collection"])
            failing = await failing_checks(db, settings)
        finally:
            await owner.execute("TRUNCATE ledger_transactions CASCADE")
            await owner.execute(
                "CREATE UNIQUE INDEX uq_ledger_transactions_settled_or_reversed"
                " ON ledger_transactions (parent_id) WHERE link IN ('settle', 'reverse')"
            )
        assert "settled_or_reversed" in failing

    async def test_a_balance_transaction_shown_pending_with_no_money_in_pending(
        self, seeded: dict[str, str], db: Database, settings: Settings, owner: asyncpg.Connection
    ) -> None:
        await owner.execute(
            "INSERT INTO ledger_transactions (id, idempotency_key, fingerprint, type, merchant_id,"
            " livemode, currency, phase, bt_type, amount, fee, net, available_on, created_at)"
            " VALUES ('txn_ghost', 'inv:ghost', '\\x00', 'payment', $1, false, 'XAF', 'posted',"
            " 'payment', 1000, 0, 1000, now() + interval '1 day', now())",
            M,
        )
        failing = await failing_checks(db, settings)
        assert "pending_balances_match_balance_transactions" in failing

    async def test_resolution_that_does_not_release_the_holds(
        self, seeded: dict[str, str], db: Database, settings: Settings, owner: asyncpg.Connection
    ) -> None:
        await owner.execute(
            "INSERT INTO ledger_transactions (id, idempotency_key, fingerprint, type,"
            " livemode, currency, phase, parent_id, link, created_at)"
            " VALUES ('txn_badvoid', 'inv:badvoid', '\\x00', 'payout', false, 'XAF',"
            " 'void', $1, 'resolve', now())",
            seeded["reserve"],
        )
        failing = await failing_checks(db, settings)
        assert "resolutions_release_the_holds" in failing

    async def test_pending_left_open_past_expiry(
        self, ledger_db: Database, settings: Settings
    ) -> None:
        available = merchant_account(M, False, "XAF", AccountKind.available)
        reserved = merchant_account(M, False, "XAF", AccountKind.reserved)
        async with ledger_db.platform_transaction() as session:
            await ledger.transfer(
                session, idempotency_key="inv:fund", legs=[
                    Leg(merchant_account(M, False, "XAF", AccountKind.general), -50),
                    Leg(available, 50)],
                type=SourceType.adjustment, currency="XAF", livemode=False,
            )  # fmt: skip
            await ledger.transfer(
                session, idempotency_key="inv:hold", legs=[Leg(available, -50), Leg(reserved, 50)],
                type=SourceType.payout, currency="XAF", livemode=False, pending=True,
                expires_at=utc_now() - dt.timedelta(seconds=5),
            )  # fmt: skip
        assert await failing_checks(ledger_db, settings, grace=0) == {"no_pending_past_expiry"}
        async with ledger_db.platform_transaction() as session:
            assert await ledger.expire_due(session) == 1
        assert await failing_checks(ledger_db, settings, grace=0) == set()


async def test_cli_exit_codes(
    seeded: dict[str, str], database_url: str, owner: asyncpg.Connection
) -> None:
    async def verify_cli(url: str = database_url) -> tuple[int, str]:
        env = {
            **os.environ,
            "MBOA_DATABASE_URL": url,
            "MBOA_REDIS_URL": os.environ["MBOA_TEST_REDIS_URL"],
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "mboa", "ledger", "verify", env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await process.communicate()
        return process.returncode or 0, out.decode()

    code, out = await verify_cli()
    assert code == 0, out
    assert "ledger verify: OK" in out
    await owner.execute(
        "UPDATE ledger_accounts SET balance = balance + 1 WHERE id = $1", int(seeded["available"])
    )
    code, out = await verify_cli()
    assert code == 1, out
    assert "FAIL stored_balances_match_entries" in out
    # A check that cannot run is not a broken ledger: exit 2, one line saying why.
    unreachable = urlunsplit(
        urlsplit(database_url)._replace(netloc=f"nobody@127.0.0.1:{free_port()}")
    )
    code, out = await verify_cli(unreachable)
    assert code == 2, out
    assert "ledger verify could not run" in out
    assert "Traceback" not in out
