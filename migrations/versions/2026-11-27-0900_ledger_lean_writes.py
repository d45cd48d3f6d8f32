"""Ledger: the same invariants for less work per posting (docs/benchmarks.md, "Ledger").

Revision ID: 0004_ledger_lean_writes
Revises: 0003_provider_events
Create Date: 2026-11-27 09:00:00

Profiling the one-transfer path (perf, PostgreSQL 18) showed two costs that are not the work:

1. CHECK constraints. PostgreSQL deserialises every CHECK expression of a table from its stored
   node text, and plans it, for each statement that writes the table: nothing caches it across
   statements. The three journal tables' checks were 16 KB of node text, mostly the `IN (…)`
   lists of kinds, phases and links (a varchar constant is stored byte by byte). The lists become
   domains, checked only when a value is assigned to the column (an account's kind is checked
   when it is opened, not on each balance update); the checks that relate columns stay CHECKs.
2. The shape of `mboa_ledger_transfer`. Legs now arrive aligned with the (distinct) accounts, so
   the accounts are locked by the primary-key scan itself, which returns them in id order (no
   sort, no join to the legs), and the idempotency look-up joins the one aggregate that decides
   the verdict instead of three sub-plans.

Same rows, same checks, same lock order. Measured: docs/benchmarks.md.

Rolling out: the new column types rewrite `ledger_accounts` and `ledger_transactions` once each
(one ALTER TABLE per table) under an exclusive lock, so ledger writes wait for it: on a large
ledger, run it in a maintenance window. `ledger_entries`, the largest table, is not touched (its
CHECK was already small). The 21-argument `mboa_ledger_transfer` of revision 0002 stays, so the
processes of the previous release keep posting during a rolling deploy; a later revision drops it.
"""

from collections.abc import Sequence

from alembic import op

from mboa.kit.migration import roles

revision: str = "0004_ledger_lean_writes"
down_revision: str | None = "0003_provider_events"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WRITER = "mboa_ledger"

ACCOUNT_KINDS = (
    "pending",
    "available",
    "reserved",
    "fee_revenue",
    "operator_float",
    "payouts_in_transit",
    "refunds_in_transit",
    "suspense",
    "general",
)
PHASES = ("posted", "pending", "post", "void", "expire")
LINKS = ("resolve", "reverse", "settle")


def _in(values: Sequence[str]) -> str:
    return f"VALUE IN ({', '.join(repr(v) for v in values)})"


DOMAINS = {
    "ledger_account_kind": ("varchar(30)", ACCOUNT_KINDS),
    "ledger_phase": ("varchar(10)", PHASES),
    "ledger_link": ("varchar(10)", LINKS),
}
COLUMNS = {
    # table: [(column, domain)]
    "ledger_accounts": [("kind", "ledger_account_kind")],
    "ledger_transactions": [("phase", "ledger_phase"), ("link", "ledger_link")],
}

CHECKS = {
    "ledger_accounts": (
        "ck_ledger_accounts_valid",
        # Flag 1: debits must not exceed credits (a merchant's balance never goes negative).
        # Flag 2: credits must not exceed debits (an asset account never goes positive).
        """pending_debits >= 0 AND pending_credits >= 0
           AND (flags & 1 = 0 OR balance - pending_debits >= 0)
           AND (flags & 2 = 0 OR balance + pending_credits <= 0)""",
    ),
    "ledger_transactions": (
        "ck_ledger_transactions_valid",
        """(link IS NULL) = (parent_id IS NULL)
           AND coalesce(link = 'resolve', false) = (phase IN ('post', 'void', 'expire'))
           AND (net IS NULL OR net = amount - fee)""",
    ),
}
CHECKS_0002 = {
    "ledger_accounts": (
        "ck_ledger_accounts_valid",
        f"""{CHECKS["ledger_accounts"][1]}
           AND kind IN ({", ".join(repr(k) for k in ACCOUNT_KINDS)})""",
    ),
    "ledger_transactions": (
        "ck_ledger_transactions_valid",
        f"""phase IN ({", ".join(repr(p) for p in PHASES)})
           AND (link IS NULL) = (parent_id IS NULL)
           AND (link IS NULL OR link IN ({", ".join(repr(k) for k in LINKS)}))
           AND coalesce(link = 'resolve', false) = (phase IN ('post', 'void', 'expire'))
           AND (net IS NULL OR net = amount - fee)""",
    ),
}
"""What revision 0002 had, for the downgrade."""

# One transfer, posted or pending, as ONE statement (a PL/pgSQL function pays a per-transaction
# set-up cost for every expression it evaluates, which dominates when each call is its own
# transaction). Legs are aligned with `p_accounts`: `e_kind[i]` and `e_amount[i]` are the leg on
# account `p_accounts[i]`, one leg per account (anything else goes through `mboa_ledger_apply`).
TRANSFER_SQL = """
CREATE FUNCTION mboa_ledger_transfer(
    p_accounts bigint[], p_id text, p_key text, p_fp bytea, p_type text, p_source text,
    p_merchant text, p_livemode boolean, p_currency text, p_phase text, p_bt_type text,
    p_amount bigint, p_fee bigint, p_net bigint, p_description text, p_metadata text,
    e_kind smallint[], e_amount bigint[]
) RETURNS TABLE (o_status text, o_transaction_id text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
    -- Custom plans would re-plan the statement on every call (measured: 2.4 times slower).
    SET plan_cache_mode = force_generic_plan AS $$
BEGIN
RETURN QUERY
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
      AND (SELECT count(*) FROM ledger_accounts WHERE id = ANY(p_accounts))
          = cardinality(p_accounts)
    ORDER BY id FOR NO KEY UPDATE
  ) a
), verdict AS MATERIALIZED (
  SELECT CASE
    WHEN count(c.account_id) = 0 AND cardinality(p_accounts) > 0 THEN 'unknown_account'
    -- (No max(bytea) before PostgreSQL 17: the fingerprint is compared inside the aggregate.)
    WHEN count(p.id) > 0 THEN
      CASE WHEN bool_or(p.fingerprint = p_fp) THEN 'replayed' ELSE 'conflict' END
    WHEN p_phase NOT IN ('posted', 'pending') OR count(c.account_id) < 2
      OR count(c.account_id) <> cardinality(e_amount)
      OR cardinality(e_kind) <> cardinality(e_amount) OR sum(c.amount) <> 0
      OR bool_or(c.amount IS NULL OR c.amount = 0 OR c.kind IS NULL OR c.currency <> p_currency
                 OR c.kind <> CASE p_phase WHEN 'posted' THEN 0 ELSE 1 END) THEN 'invalid'
    WHEN bool_or(c.flags & 1 <> 0 AND c.balance_after - c.pd_after < 0) THEN 'exceeds_credits'
    WHEN bool_or(c.flags & 2 <> 0 AND c.balance_after + c.pc_after > 0) THEN 'exceeds_debits'
    ELSE 'created' END AS status,
    max(p.id) AS prior_id,
    -- Taken once the aggregate has read (so locked) every account: timestamps never go
    -- backwards along an account's version chain.
    clock_timestamp() AS ts
  FROM chain c
  -- The transaction that already has this key, if any, as one more input row of the aggregate.
  FULL JOIN (SELECT id, fingerprint FROM ledger_transactions WHERE idempotency_key = p_key) p
    ON false
), header AS (
  INSERT INTO ledger_transactions (id, idempotency_key, fingerprint, type, source, merchant_id,
      livemode, currency, phase, bt_type, amount, fee, net, description, metadata, created_at)
  SELECT p_id, p_key, p_fp, p_type, p_source, p_merchant, p_livemode, p_currency, p_phase,
         p_bt_type, p_amount, p_fee, p_net, p_description, p_metadata::jsonb, v.ts
  FROM verdict v WHERE v.status = 'created'
  -- A concurrent transaction committed the same key after this statement's snapshot.
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
SELECT CASE WHEN v.status = 'created' AND h.id IS NULL THEN 'retry' ELSE v.status END,
       CASE WHEN v.status IN ('replayed', 'conflict') THEN v.prior_id ELSE p_id END
FROM verdict v LEFT JOIN header h ON true;
END
$$
"""
TRANSFER_SIGNATURE = (
    "mboa_ledger_transfer(bigint[], text, text, bytea, text, text, text, boolean, text, text,"
    " text, bigint, bigint, bigint, text, text, smallint[], bigint[])"
)


def _retype(table: str, types: dict[str, str], check: str) -> None:
    """One ALTER TABLE: one rewrite of the table, with the new CHECK verified during it."""
    name = CHECKS[table][0]
    changes = [f"DROP CONSTRAINT {name}"]
    changes += [f"ALTER COLUMN {column} TYPE {type_}" for column, type_ in types.items()]
    changes.append(f"ADD CONSTRAINT {name} CHECK ({check})")
    op.execute(f"ALTER TABLE {table} {', '.join(changes)}")


def upgrade() -> None:
    _, platform_role = roles()
    for domain, (base, values) in DOMAINS.items():
        op.execute(f"CREATE DOMAIN {domain} AS {base} CHECK ({_in(values)})")
    for table, columns in COLUMNS.items():
        _retype(table, dict(columns), CHECKS[table][1])
    op.execute(TRANSFER_SQL)
    op.execute(f"ALTER FUNCTION {TRANSFER_SIGNATURE} OWNER TO {WRITER}")
    op.execute(f"REVOKE ALL ON FUNCTION {TRANSFER_SIGNATURE} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {TRANSFER_SIGNATURE} TO {platform_role}")


def downgrade() -> None:
    op.execute(f"DROP FUNCTION {TRANSFER_SIGNATURE}")
    for table, columns in COLUMNS.items():
        bases = {column: DOMAINS[domain][0] for column, domain in columns}
        _retype(table, bases, CHECKS_0002[table][1])
    for domain in DOMAINS:
        op.execute(f"DROP DOMAIN {domain}")
