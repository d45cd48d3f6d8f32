"""Ledger: the one-transfer path does less per call; row checks cost less per statement.

Revision ID: 0006_ledger_write_transfer
Revises: 0005_ledger_keys_pg13
Create Date: 2026-11-27 11:00:00

Measured with callgrind on PostgreSQL 18 (instructions per transfer, the same 200 transfers each
time; docs/benchmarks.md "Ledger", fourth session): 1.44 M before, 1.18 M after.

1. CHECK constraints. For every statement that writes a table, PostgreSQL deserialises each of the
   table's CHECK expressions from its stored node text and plans it; nothing caches that across
   statements. It was a fifth of the instructions of a transfer.
   - `ledger_accounts`: `pending_debits >= 0` and `pending_credits >= 0` become a domain
     (`ledger_nonnegative`; a domain's checks are parsed once per session and cached), and the
     flag rules are written with fewer nodes. Same rules.
   - `ledger_transactions`: the rules relating link, parent, phase and net move into an
     IMMUTABLE PL/pgSQL function, `mboa_ledger_transaction_valid`, which the CHECK calls. PL/pgSQL
     compiles the function once per session; the CHECK's own node text shrinks from 3.7 KB to a
     call. A net given without an amount or a fee is now refused (it passed before, as NULL).
2. `mboa_ledger_write_transfer` replaces `mboa_ledger_transfer` on the one-transfer path. Same
   rows, same checks, same lock order; three differences in how it answers:
   - It returns `text[]` (status, transaction id) from a scalar call, not a table: a table
     function costs a function scan and a tuple store per call.
   - The happy path no longer reads the idempotency key before writing. The header's unique key
     (ON CONFLICT DO NOTHING) is the check; only an outcome other than `created` looks the key up,
     in a second statement, to answer `replayed` or `conflict`. A replay of a transfer that would
     now be refused (say, for want of funds) still answers `replayed`, as before.
   - A key committed concurrently after the statement's snapshot is seen by that second
     statement (a new snapshot under READ COMMITTED), so the caller gets its replay at once
     instead of `retry`. (Under REPEATABLE READ, PostgreSQL raises a serialization failure on
     such a conflict, which the repository turns into LedgerBusy; `retry` stays as a guard.)
   - Content that breaks a table rule (say `net <> amount - fee`) is an error whether or not its
     key is taken: the insert is attempted before the key is compared. Revision 0004 answered
     `conflict` when the key was taken. Postings are built by our code, so such content is a bug
     either way.
   - The existence guard counts with `ARRAY(…)` rather than an aggregate (cheaper to start).

Rolling out: `ledger_accounts` is rewritten once (its two columns change type) under an exclusive
lock: it holds one row per merchant account, not the journal. Alembic runs a revision in one
transaction, so `ledger_transactions` also stays locked while the new CHECK reads every row
(NOT VALID then VALIDATE gains nothing inside one transaction): on a large ledger, a maintenance
window. `mboa_ledger_transfer` (revision 0004) stays for the processes of the previous release.
"""

from collections.abc import Sequence

from alembic import op

from mboa.kit.migration import revision_module, roles

revision: str = "0006_ledger_write_transfer"
down_revision: str | None = "0005_ledger_keys_pg13"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WRITER = "mboa_ledger"

ACCOUNTS_CHECK = (
    # Flag 1: debits must not exceed credits (a merchant's balance never goes negative).
    # Flag 2: credits must not exceed debits (an asset account never goes positive).
    # Holds (pending_debits, pending_credits) are never negative: the `ledger_nonnegative` domain.
    "(flags & 1 = 0 OR balance >= pending_debits) AND (flags & 2 = 0 OR balance <= -pending_credits)"
)

TRANSACTION_VALID_SQL = """
CREATE FUNCTION mboa_ledger_transaction_valid(
    link text, parent_id text, phase text, amount bigint, fee bigint, net bigint
) RETURNS boolean LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
  -- A link names its parent; `resolve` links exactly the post, void and expire phases; a net is
  -- the amount less the fee.
  RETURN (link IS NULL) = (parent_id IS NULL)
     AND coalesce(link = 'resolve', false) = (phase IN ('post', 'void', 'expire'))
     AND (net IS NULL OR (amount IS NOT NULL AND fee IS NOT NULL AND net = amount - fee));
END
$$
"""
TRANSACTIONS_CHECK = "mboa_ledger_transaction_valid(link, parent_id, phase, amount, fee, net)"

# One transfer, posted or pending. Legs are aligned with `p_accounts` (one leg per distinct
# account), as for `mboa_ledger_transfer`; anything else goes through `mboa_ledger_apply`.
# Returns ARRAY[status, transaction id]: the new id, or the prior one for `replayed`/`conflict`.
WRITE_TRANSFER_SQL = """
CREATE FUNCTION mboa_ledger_write_transfer(
    p_accounts bigint[], p_id text, p_key text, p_fp bytea, p_type text, p_source text,
    p_merchant text, p_livemode boolean, p_currency text, p_phase text, p_bt_type text,
    p_amount bigint, p_fee bigint, p_net bigint, p_description text, p_metadata text,
    e_kind smallint[], e_amount bigint[]
) RETURNS text[]
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
    -- Custom plans would re-plan the statement on every call (measured: 2.4 times slower).
    SET plan_cache_mode = force_generic_plan AS $$
DECLARE
  v_status text;
  v_prior_id text;
  v_prior_fp bytea;
BEGIN
WITH chain AS MATERIALIZED (
  SELECT a.id AS account_id, a.flags, a.currency, a.version + 1 AS version,
         e_kind[a.i] AS kind, e_amount[a.i] AS amount,
         a.balance + CASE WHEN e_kind[a.i] = 0 THEN e_amount[a.i] ELSE 0 END AS balance_after,
         a.pending_debits + CASE WHEN e_kind[a.i] = 1 AND e_amount[a.i] < 0
                                 THEN -e_amount[a.i] ELSE 0 END AS pd_after,
         a.pending_credits + CASE WHEN e_kind[a.i] = 1 AND e_amount[a.i] > 0
                                  THEN e_amount[a.i] ELSE 0 END AS pc_after
  FROM (
    -- The primary-key scan on `id = ANY(…)` returns rows in id order, so FOR NO KEY UPDATE
    -- locks them in the global order whatever the order of `p_accounts`. Lock nothing unless
    -- every account exists: the caller then opens the missing ones and calls again, and a lock
    -- taken now would be out of the global order on that second call.
    SELECT id, flags, currency, version, balance, pending_debits, pending_credits,
           array_position(p_accounts, id) AS i
    FROM ledger_accounts
    WHERE id = ANY(p_accounts)
      AND cardinality(ARRAY(SELECT 1 FROM ledger_accounts WHERE id = ANY(p_accounts)))
          = cardinality(p_accounts)
    ORDER BY id FOR NO KEY UPDATE
  ) a
), verdict AS MATERIALIZED (
  SELECT CASE
    WHEN count(*) = 0 AND cardinality(p_accounts) > 0 THEN 'unknown_account'
    WHEN p_phase NOT IN ('posted', 'pending') OR count(*) < 2
      OR count(*) <> cardinality(e_amount)
      OR cardinality(e_kind) <> cardinality(e_amount) OR sum(c.amount) <> 0
      OR bool_or(c.amount IS NULL OR c.amount = 0 OR c.kind IS NULL OR c.currency <> p_currency
                 OR c.kind <> CASE p_phase WHEN 'posted' THEN 0 ELSE 1 END) THEN 'invalid'
    WHEN bool_or(c.flags & 1 <> 0 AND c.balance_after - c.pd_after < 0) THEN 'exceeds_credits'
    WHEN bool_or(c.flags & 2 <> 0 AND c.balance_after + c.pc_after > 0) THEN 'exceeds_debits'
    ELSE 'created' END AS status,
    -- Taken once the aggregate has read (so locked) every account: timestamps never go
    -- backwards along an account's version chain.
    clock_timestamp() AS ts
  FROM chain c
), header AS (
  INSERT INTO ledger_transactions (id, idempotency_key, fingerprint, type, source, merchant_id,
      livemode, currency, phase, bt_type, amount, fee, net, description, metadata, created_at)
  SELECT p_id, p_key, p_fp, p_type, p_source, p_merchant, p_livemode, p_currency, p_phase,
         p_bt_type, p_amount, p_fee, p_net, p_description, p_metadata::jsonb, v.ts
  FROM verdict v WHERE v.status = 'created'
  -- The key is taken (by a committed transaction, or by a concurrent one that then commits):
  -- nothing is written, and the key is looked up below.
  ON CONFLICT DO NOTHING
  RETURNING id, created_at
), entries AS (
  INSERT INTO ledger_entries (account_id, version, transaction_id, kind, amount, balance_after,
      pending_debits_after, pending_credits_after, created_at)
  SELECT c.account_id, c.version, h.id, c.kind, c.amount, c.balance_after, c.pd_after,
         c.pc_after, h.created_at
  FROM header h, chain c
), accounts AS (
  UPDATE ledger_accounts AS acc
     SET balance = c.balance_after, pending_debits = c.pd_after, pending_credits = c.pc_after,
         version = c.version, updated_at = h.created_at
    FROM header h, chain c
   WHERE acc.id = c.account_id
)
SELECT CASE WHEN h.id IS NOT NULL THEN 'created'
            WHEN v.status = 'created' THEN 'taken' ELSE v.status END
  INTO v_status
  FROM verdict v LEFT JOIN header h ON true;
IF v_status = 'created' THEN
  RETURN ARRAY['created', p_id];
END IF;
-- Not written: if the key names a transaction, this call is its replay (or a conflict), whatever
-- the verdict on the accounts now. A new statement, so a new snapshot under READ COMMITTED: it
-- sees a key that a concurrent transaction committed after the one above began.
SELECT t.id, t.fingerprint INTO v_prior_id, v_prior_fp
  FROM ledger_transactions t WHERE t.idempotency_key = p_key;
IF FOUND THEN
  RETURN ARRAY[CASE WHEN v_prior_fp = p_fp THEN 'replayed' ELSE 'conflict' END, v_prior_id];
END IF;
-- `taken` with no visible key: the caller's snapshot predates the commit (REPEATABLE READ).
RETURN ARRAY[CASE v_status WHEN 'taken' THEN 'retry' ELSE v_status END, p_id];
END
$$
"""
WRITE_TRANSFER_SIGNATURE = (
    "mboa_ledger_write_transfer(bigint[], text, text, bytea, text, text, text, boolean, text,"
    " text, text, bigint, bigint, bigint, text, text, smallint[], bigint[])"
)
TRANSACTION_VALID_SIGNATURE = (
    "mboa_ledger_transaction_valid(text, text, text, bigint, bigint, bigint)"
)


def upgrade() -> None:
    _, platform_role = roles()
    op.execute("CREATE DOMAIN ledger_nonnegative AS bigint CHECK (VALUE >= 0)")
    # One ALTER TABLE: one rewrite, with the new CHECK verified during it.
    op.execute(
        "ALTER TABLE ledger_accounts DROP CONSTRAINT ck_ledger_accounts_valid,"
        " ALTER COLUMN pending_debits TYPE ledger_nonnegative,"
        " ALTER COLUMN pending_credits TYPE ledger_nonnegative,"
        f" ADD CONSTRAINT ck_ledger_accounts_valid CHECK ({ACCOUNTS_CHECK})"
    )
    op.execute(TRANSACTION_VALID_SQL)
    op.execute(
        "ALTER TABLE ledger_transactions DROP CONSTRAINT ck_ledger_transactions_valid,"
        f" ADD CONSTRAINT ck_ledger_transactions_valid CHECK ({TRANSACTIONS_CHECK}) NOT VALID"
    )
    op.execute("ALTER TABLE ledger_transactions VALIDATE CONSTRAINT ck_ledger_transactions_valid")
    op.execute(WRITE_TRANSFER_SQL)
    op.execute(f"ALTER FUNCTION {WRITE_TRANSFER_SIGNATURE} OWNER TO {WRITER}")
    op.execute(f"REVOKE ALL ON FUNCTION {WRITE_TRANSFER_SIGNATURE} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {WRITE_TRANSFER_SIGNATURE} TO {platform_role}")


def downgrade() -> None:
    checks_0004 = revision_module("2026-11-27-0900_ledger_lean_writes.py").CHECKS
    _, transactions_check = checks_0004["ledger_transactions"]
    _, accounts_check = checks_0004["ledger_accounts"]
    op.execute(f"DROP FUNCTION {WRITE_TRANSFER_SIGNATURE}")
    op.execute(
        "ALTER TABLE ledger_transactions DROP CONSTRAINT ck_ledger_transactions_valid,"
        f" ADD CONSTRAINT ck_ledger_transactions_valid CHECK ({transactions_check})"
    )
    op.execute(f"DROP FUNCTION {TRANSACTION_VALID_SIGNATURE}")
    op.execute(
        "ALTER TABLE ledger_accounts DROP CONSTRAINT ck_ledger_accounts_valid,"
        " ALTER COLUMN pending_debits TYPE bigint,"
        " ALTER COLUMN pending_credits TYPE bigint,"
        f" ADD CONSTRAINT ck_ledger_accounts_valid CHECK ({accounts_check})"
    )
    op.execute("DROP DOMAIN ledger_nonnegative")
