"""Ledger: accounts, append-only journal, two-phase transfers, fee plans, work queues.

Revision ID: 0002_ledger
Revises: 0001_foundation
Create Date: 2026-11-27 05:00:00

Every write goes through `mboa_ledger_apply` (and `mboa_ledger_open_accounts`), two SECURITY
DEFINER functions owned by the NOLOGIN role `mboa_ledger`. The application roles can only read the
ledger and call those functions, so no code path writes an entry without its balance checks, and
no role but the owner can UPDATE or DELETE the journal (a trigger rejects it for the owner too).
See docs/ledger.md.
"""

from collections.abc import Sequence

from alembic import op

from mboa.kit.migration import enable_tenant_rls, roles

revision: str = "0002_ledger"
down_revision: str | None = "0001_foundation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WRITER = "mboa_ledger"

TABLES_SQL = """
CREATE TABLE ledger_accounts (
    -- Derived from the account's key (mboa.ledger.accounts.account_id): every process computes the
    -- same id without a lookup, and ids are never reused even if rows are wiped in tests.
    id bigint PRIMARY KEY,
    merchant_id varchar(40),                 -- NULL: a platform account
    livemode boolean NOT NULL,
    currency char(3) NOT NULL,
    kind varchar(30) NOT NULL,
    operator varchar(20) NOT NULL DEFAULT '',
    shard smallint NOT NULL DEFAULT 0,
    flags integer NOT NULL DEFAULT 0,
    -- Credit-positive: a merchant's money is a positive balance, money held at an operator negative.
    balance bigint NOT NULL DEFAULT 0,
    pending_debits bigint NOT NULL DEFAULT 0,
    pending_credits bigint NOT NULL DEFAULT 0,
    version bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    -- One CHECK constraint per table: PostgreSQL re-reads each constraint's expression for every
    -- statement that writes the table, and this table is written by every posting.
    -- Flag 1: debits must not exceed credits (a merchant's balance never goes negative).
    -- Flag 2: credits must not exceed debits (an asset account never goes positive).
    CONSTRAINT ck_ledger_accounts_valid CHECK (
        pending_debits >= 0 AND pending_credits >= 0
        AND (flags & 1 = 0 OR balance - pending_debits >= 0)
        AND (flags & 2 = 0 OR balance + pending_credits <= 0)
        AND kind IN ('pending', 'available', 'reserved', 'fee_revenue', 'operator_float',
                     'payouts_in_transit', 'refunds_in_transit', 'suspense', 'general'))
-- fillfactor: room for HOT updates, since balances change on every posting.
) WITH (fillfactor = 50);
-- One account per key; a platform account's merchant_id is NULL. (Not `UNIQUE NULLS NOT
-- DISTINCT`: that needs PostgreSQL 15, and we support 13.)
CREATE UNIQUE INDEX uq_ledger_accounts_key ON ledger_accounts
    (coalesce(merchant_id, ''), livemode, currency, kind, operator, shard);

CREATE TABLE ledger_transactions (
    id varchar(40) PRIMARY KEY,               -- txn_…
    idempotency_key varchar(255) NOT NULL,
    fingerprint bytea NOT NULL,               -- hash of the content, to tell replays from conflicts
    type varchar(30) NOT NULL,                -- payment, refund, payout, fee, adjustment, reversal, …
    source varchar(64),                       -- the originating object (pi_…, re_…, po_…)
    merchant_id varchar(40),
    livemode boolean NOT NULL,
    currency char(3) NOT NULL,
    phase varchar(10) NOT NULL,
    parent_id varchar(40),
    link varchar(10),
    expires_at timestamptz,
    bt_type varchar(30),                      -- NULL: not shown to the merchant as a balance transaction
    amount bigint,
    fee bigint,
    net bigint,
    available_on timestamptz,
    description varchar(500),
    metadata jsonb,
    created_at timestamptz NOT NULL,
    CONSTRAINT uq_ledger_transactions_idempotency_key UNIQUE (idempotency_key),
    CONSTRAINT ck_ledger_transactions_valid CHECK (
        phase IN ('posted', 'pending', 'post', 'void', 'expire')
        AND (link IS NULL) = (parent_id IS NULL)
        AND (link IS NULL OR link IN ('resolve', 'reverse', 'settle'))
        AND coalesce(link = 'resolve', false) = (phase IN ('post', 'void', 'expire'))
        AND (net IS NULL OR net = amount - fee))
);
-- A pending transfer is resolved (posted, voided or expired) at most once, a transaction is
-- reversed at most once and settled at most once. Partial: most transactions have no parent.
CREATE UNIQUE INDEX uq_ledger_transactions_parent_link ON ledger_transactions (parent_id, link)
    WHERE parent_id IS NOT NULL;
CREATE INDEX ix_ledger_transactions_merchant ON ledger_transactions (merchant_id, livemode, id)
    WHERE bt_type IS NOT NULL;

CREATE TABLE ledger_entries (
    account_id bigint NOT NULL,
    version bigint NOT NULL,
    transaction_id varchar(40) NOT NULL,
    kind smallint NOT NULL,                   -- 0 posted, 1 pending (hold), 2 release of a hold
    amount bigint NOT NULL,                   -- credit positive, debit negative
    balance_after bigint NOT NULL,
    pending_debits_after bigint NOT NULL,
    pending_credits_after bigint NOT NULL,
    created_at timestamptz NOT NULL,
    CONSTRAINT pk_ledger_entries PRIMARY KEY (account_id, version),
    CONSTRAINT ck_ledger_entries_amount CHECK (amount <> 0 AND kind IN (0, 1, 2) AND version > 0)
);
CREATE INDEX ix_ledger_entries_transaction_id ON ledger_entries (transaction_id);

-- Work queues (mutable, not journal): pendings with an expiry that are not yet resolved, and
-- collections waiting to be moved from pending to available.
CREATE TABLE ledger_open_pendings (
    transaction_id varchar(40) PRIMARY KEY,
    expires_at timestamptz NOT NULL
);
CREATE INDEX ix_ledger_open_pendings_expires_at ON ledger_open_pendings (expires_at);

CREATE TABLE ledger_settlement_queue (
    transaction_id varchar(40) PRIMARY KEY,
    available_on timestamptz NOT NULL,
    merchant_id varchar(40) NOT NULL,
    livemode boolean NOT NULL,
    currency char(3) NOT NULL,
    amount bigint NOT NULL
);
CREATE INDEX ix_ledger_settlement_queue_available_on ON ledger_settlement_queue (available_on);

CREATE TABLE ledger_fee_plans (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    merchant_id varchar(40),                  -- NULL: the default plan
    operator varchar(20) NOT NULL,
    currency char(3) NOT NULL,
    percent_bps integer NOT NULL,
    fixed_amount bigint NOT NULL,
    settlement_delay_seconds integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ck_ledger_fee_plans_values CHECK (
        percent_bps BETWEEN 0 AND 10000 AND fixed_amount >= 0 AND settlement_delay_seconds >= 0)
);
-- One plan per merchant (NULL: the default plan), operator and currency; see uq_ledger_accounts_key.
CREATE UNIQUE INDEX uq_ledger_fee_plans_key ON ledger_fee_plans
    (coalesce(merchant_id, ''), operator, currency);
INSERT INTO ledger_fee_plans (merchant_id, operator, currency, percent_bps, fixed_amount,
                              settlement_delay_seconds)
VALUES (NULL, 'mtn_momo', 'XAF', 200, 0, 86400), (NULL, 'orange_money', 'XAF', 200, 0, 86400);
"""

APPEND_ONLY_SQL = """
CREATE FUNCTION mboa_ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the ledger journal is append-only: % on % is not allowed', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END $$

CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH STATEMENT EXECUTE FUNCTION mboa_ledger_append_only()

CREATE TRIGGER ledger_transactions_append_only BEFORE UPDATE OR DELETE ON ledger_transactions
    FOR EACH STATEMENT EXECUTE FUNCTION mboa_ledger_append_only()
"""

OPEN_ACCOUNTS_SQL = """
CREATE FUNCTION mboa_ledger_open_accounts(
    p_ids bigint[], p_merchants text[], p_livemodes boolean[], p_currencies text[],
    p_kinds text[], p_operators text[], p_shards integer[], p_flags integer[]
) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  INSERT INTO ledger_accounts (id, merchant_id, livemode, currency, kind, operator, shard, flags)
  SELECT * FROM unnest(p_ids, p_merchants, p_livemodes, p_currencies, p_kinds, p_operators,
                       p_shards, p_flags) AS u
  ORDER BY 1  -- concurrent openers of the same accounts wait on each other in the global order
  ON CONFLICT DO NOTHING;
  -- An id is a hash of the key: make sure an existing row really is the same account.
  IF EXISTS (
    SELECT 1 FROM unnest(p_ids, p_merchants, p_livemodes, p_currencies, p_kinds, p_operators,
                         p_shards, p_flags) AS u(id, m, l, c, k, o, s, f)
    LEFT JOIN ledger_accounts a ON a.id = u.id
    WHERE a.id IS NULL OR a.merchant_id IS DISTINCT FROM u.m OR a.livemode <> u.l
       OR a.currency <> u.c OR a.kind <> u.k OR a.operator <> u.o OR a.shard <> u.s
       OR a.flags <> u.f
  ) THEN
    RAISE EXCEPTION 'ledger account id collision or conflicting definition'
      USING ERRCODE = 'unique_violation';
  END IF;
END $$;
"""

# The one write path. Takes a batch of transactions (a single transfer is a batch of one) and
# returns one result per item; only malformed input raises. Steps: lock every account of the batch
# in ascending id order (the global lock order), look up earlier transactions with the same
# idempotency keys, then validate and apply each item in memory (rejecting an item leaves the
# others untouched, without subtransactions), then write headers, entries and balances in three
# set-based statements.
APPLY_SQL = """
CREATE FUNCTION mboa_ledger_apply(
    p_accounts bigint[],
    t_id text[], t_key text[], t_fp bytea[], t_type text[], t_source text[], t_merchant text[],
    t_livemode boolean[], t_currency text[], t_phase text[], t_parent text[], t_link text[],
    t_expires timestamptz[], t_bt_type text[], t_amount bigint[], t_fee bigint[], t_net bigint[],
    t_available_on timestamptz[], t_description text[], t_metadata text[],
    e_item integer[], e_acct integer[], e_kind smallint[], e_amount bigint[]
) RETURNS TABLE (o_item integer, o_status text, o_transaction_id text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
    -- Custom plans would re-plan every statement on every call.
    SET plan_cache_mode = force_generic_plan AS $$
DECLARE
  n integer := coalesce(cardinality(t_id), 0);
  na integer := coalesce(cardinality(p_accounts), 0);
  ne integer := coalesce(cardinality(e_item), 0);
  a_bal bigint[]; a_pd bigint[]; a_pc bigint[]; a_ver bigint[]; a_ver0 bigint[];
  a_flags integer[]; a_cur text[];
  st text[] := array_fill(NULL::text, ARRAY[n]);
  rid text[] := t_id;
  x_acct bigint[]; x_ver bigint[]; x_txn text[]; x_kind smallint[]; x_amt bigint[];
  x_bal bigint[]; x_pd bigint[]; x_pc bigint[];
  nx integer := 0; n_created integer := 0; cnt integer;
  used_links text[] := '{}';
  missing boolean := false;
  has_pending boolean := false; has_parent boolean := false; has_settle boolean := false;
  ts timestamptz;
  r record; pr record;
  i integer; j integer; k integer; s integer; f integer; a integer; m integer;
  amt bigint; kd smallint; bad text;
  sum0 bigint; sum1 bigint; sum2 bigint; c0 integer; c1 integer; c2 integer;
BEGIN
  IF cardinality(t_key) IS DISTINCT FROM n OR cardinality(e_acct) IS DISTINCT FROM ne THEN
    RAISE EXCEPTION 'mboa_ledger_apply: array lengths differ' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF n > 1 AND (SELECT count(DISTINCT x) FROM unnest(t_key) x) <> n THEN
    RAISE EXCEPTION 'mboa_ledger_apply: duplicate idempotency keys in one batch'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;

  -- 0. Accounts are opened on first use: if one is missing, lock nothing (a lock taken now would
  --    be out of the global order when the caller calls again after opening it).
  IF (SELECT count(*) FROM ledger_accounts WHERE id = ANY(p_accounts)) <> na THEN
    RETURN QUERY SELECT g::integer, 'unknown_account'::text, NULL::text FROM generate_series(1, n) g;
    RETURN;
  END IF;

  -- 1. Lock the accounts in ascending id order: every writer uses this order, so two writers
  --    never wait on each other in a cycle.
  i := 0;
  FOR r IN SELECT id, currency, flags, balance, pending_debits, pending_credits, version
           FROM ledger_accounts WHERE id = ANY(p_accounts) ORDER BY id FOR NO KEY UPDATE LOOP
    i := i + 1;
    WHILE i <= na AND p_accounts[i] < r.id LOOP missing := true; i := i + 1; END LOOP;
    IF i > na OR p_accounts[i] <> r.id THEN
      RAISE EXCEPTION 'mboa_ledger_apply: accounts must be distinct and ascending'
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    a_bal[i] := r.balance; a_pd[i] := r.pending_debits; a_pc[i] := r.pending_credits;
    a_ver[i] := r.version; a_ver0[i] := r.version; a_flags[i] := r.flags; a_cur[i] := r.currency;
  END LOOP;
  -- Accounts are opened on first use: the caller opens the missing ones and calls again.
  IF missing OR i < na THEN
    RETURN QUERY SELECT g::integer, 'unknown_account'::text, NULL::text FROM generate_series(1, n) g;
    RETURN;
  END IF;
  -- Taken after the locks: along one account's version chain, timestamps never go backwards.
  ts := clock_timestamp();

  -- 2. Idempotency: the same key with the same content is a replay, with other content a conflict.
  FOR r IN SELECT id, idempotency_key, fingerprint FROM ledger_transactions
           WHERE idempotency_key = ANY(t_key) LOOP
    j := array_position(t_key, r.idempotency_key::text);
    st[j] := CASE WHEN r.fingerprint = t_fp[j] THEN 'replayed' ELSE 'conflict' END;
    rid[j] := r.id;
  END LOOP;

  -- 3. Validate and apply each item.
  s := 1;
  FOR i IN 1..n LOOP
    f := s;
    WHILE f <= ne AND e_item[f] = i LOOP f := f + 1; END LOOP;
    f := f - 1;  -- this item's entries are s..f
    IF st[i] IS NOT NULL THEN s := f + 1; CONTINUE; END IF;

    bad := NULL;
    sum0 := 0; sum1 := 0; sum2 := 0; c0 := 0; c1 := 0; c2 := 0;
    FOR k IN s..f LOOP
      a := e_acct[k]; amt := e_amount[k]; kd := e_kind[k];
      IF a IS NULL OR a < 1 OR a > na OR amt IS NULL OR amt = 0 OR kd IS NULL
         OR a_cur[a] <> t_currency[i] THEN
        bad := 'invalid';
      ELSIF kd = 0 THEN sum0 := sum0 + amt; c0 := c0 + 1;
      ELSIF kd = 1 THEN sum1 := sum1 + amt; c1 := c1 + 1;
      ELSIF kd = 2 THEN sum2 := sum2 + amt; c2 := c2 + 1;
      ELSE bad := 'invalid';
      END IF;
    END LOOP;
    IF f - s + 1 < 2 OR sum0 <> 0 OR sum1 <> 0 OR sum2 <> 0 THEN bad := 'invalid'; END IF;
    IF bad IS NULL THEN
      bad := CASE t_phase[i]
        WHEN 'posted' THEN CASE WHEN c0 >= 2 AND c1 = 0 AND c2 = 0 THEN NULL ELSE 'invalid' END
        WHEN 'pending' THEN CASE WHEN c1 >= 2 AND c0 = 0 AND c2 = 0 THEN NULL ELSE 'invalid' END
        WHEN 'post' THEN CASE WHEN c0 >= 2 AND c2 >= 2 AND c1 = 0 THEN NULL ELSE 'invalid' END
        WHEN 'void' THEN CASE WHEN c2 >= 2 AND c0 = 0 AND c1 = 0 THEN NULL ELSE 'invalid' END
        WHEN 'expire' THEN CASE WHEN c2 >= 2 AND c0 = 0 AND c1 = 0 THEN NULL ELSE 'invalid' END
        ELSE 'invalid' END;
    END IF;
    IF bad IS NULL AND (t_parent[i] IS NULL) <> (t_link[i] IS NULL) THEN bad := 'invalid'; END IF;
    IF bad IS NULL AND coalesce(t_link[i] = 'resolve', false) <>
                       (t_phase[i] IN ('post', 'void', 'expire')) THEN
      bad := 'invalid';
    END IF;

    -- Items that refer to an earlier transaction (resolve a pending, reverse, settle).
    IF bad IS NULL AND t_parent[i] IS NOT NULL THEN
      SELECT p.phase, p.expires_at, p.currency, p.livemode, p.merchant_id INTO pr
        FROM ledger_transactions p
        WHERE p.id = t_parent[i];
      IF NOT FOUND THEN
        bad := 'parent_not_found';
      ELSIF (t_parent[i] || '/' || t_link[i]) = ANY(used_links) OR EXISTS (
          SELECT 1 FROM ledger_transactions c WHERE c.parent_id = t_parent[i] AND c.link = t_link[i]) THEN
        bad := CASE t_link[i] WHEN 'resolve' THEN 'already_resolved'
                              WHEN 'reverse' THEN 'already_reversed' ELSE 'already_settled' END;
      ELSIF pr.currency <> t_currency[i] OR pr.livemode <> t_livemode[i]
            OR pr.merchant_id IS DISTINCT FROM t_merchant[i] THEN
        bad := 'invalid';
      ELSIF t_link[i] = 'resolve' THEN
        IF pr.phase <> 'pending' THEN
          bad := 'parent_not_pending';
        ELSIF t_phase[i] = 'post' AND pr.expires_at IS NOT NULL AND ts >= pr.expires_at THEN
          bad := 'pending_expired';
        ELSIF t_phase[i] = 'expire' AND (pr.expires_at IS NULL OR ts < pr.expires_at) THEN
          bad := 'not_expired';
        -- The release entries are exactly the pending's holds ...
        ELSIF EXISTS (
            (SELECT e.account_id, e.amount FROM ledger_entries e
              WHERE e.transaction_id = t_parent[i] AND e.kind = 1
             EXCEPT ALL
             SELECT p_accounts[e_acct[q]], e_amount[q] FROM generate_series(s, f) q WHERE e_kind[q] = 2)
            UNION ALL
            (SELECT p_accounts[e_acct[q]], e_amount[q] FROM generate_series(s, f) q WHERE e_kind[q] = 2
             EXCEPT ALL
             SELECT e.account_id, e.amount FROM ledger_entries e
              WHERE e.transaction_id = t_parent[i] AND e.kind = 1)) THEN
          bad := 'mismatch';
        -- ... and each posted amount is at most the hold on that account, in the same direction.
        ELSIF t_phase[i] = 'post' AND EXISTS (
            SELECT 1 FROM generate_series(s, f) q
            WHERE e_kind[q] = 0 AND NOT EXISTS (
              SELECT 1 FROM ledger_entries e
              WHERE e.transaction_id = t_parent[i] AND e.kind = 1
                AND e.account_id = p_accounts[e_acct[q]]
                AND sign(e.amount) = sign(e_amount[q]) AND abs(e_amount[q]) <= abs(e.amount))) THEN
          bad := 'mismatch';
        END IF;
      ELSIF t_link[i] = 'reverse' THEN
        IF pr.phase NOT IN ('posted', 'post') OR t_phase[i] <> 'posted' THEN
          bad := 'not_reversible';
        -- A reversal is exactly the negation of the original's posted entries.
        ELSIF EXISTS (
            (SELECT e.account_id, -e.amount FROM ledger_entries e
              WHERE e.transaction_id = t_parent[i] AND e.kind = 0
             EXCEPT ALL
             SELECT p_accounts[e_acct[q]], e_amount[q] FROM generate_series(s, f) q)
            UNION ALL
            (SELECT p_accounts[e_acct[q]], e_amount[q] FROM generate_series(s, f) q
             EXCEPT ALL
             SELECT e.account_id, -e.amount FROM ledger_entries e
              WHERE e.transaction_id = t_parent[i] AND e.kind = 0)) THEN
          bad := 'mismatch';
        END IF;
      ELSIF t_link[i] = 'settle' THEN
        IF pr.phase <> 'posted' OR t_phase[i] <> 'posted' THEN bad := 'invalid'; END IF;
      END IF;
    END IF;

    IF bad IS NOT NULL THEN st[i] := bad; s := f + 1; CONTINUE; END IF;

    -- Apply in memory, recording each entry's resulting balances.
    FOR k IN s..f LOOP
      a := e_acct[k]; amt := e_amount[k]; kd := e_kind[k];
      IF kd = 0 THEN a_bal[a] := a_bal[a] + amt;
      ELSIF kd = 1 THEN
        IF amt < 0 THEN a_pd[a] := a_pd[a] - amt; ELSE a_pc[a] := a_pc[a] + amt; END IF;
      ELSE
        IF amt < 0 THEN a_pd[a] := a_pd[a] + amt; ELSE a_pc[a] := a_pc[a] - amt; END IF;
      END IF;
      a_ver[a] := a_ver[a] + 1;
      m := nx + (k - s) + 1;
      x_acct[m] := p_accounts[a]; x_ver[m] := a_ver[a]; x_txn[m] := t_id[i]; x_kind[m] := kd;
      x_amt[m] := amt; x_bal[m] := a_bal[a]; x_pd[m] := a_pd[a]; x_pc[m] := a_pc[a];
    END LOOP;
    -- Balance checks on the final state of every account the item touched.
    FOR k IN s..f LOOP
      a := e_acct[k];
      IF a_pd[a] < 0 OR a_pc[a] < 0 THEN bad := 'invalid';
      ELSIF a_flags[a] & 1 <> 0 AND a_bal[a] - a_pd[a] < 0 THEN bad := 'exceeds_credits';
      ELSIF a_flags[a] & 2 <> 0 AND a_bal[a] + a_pc[a] > 0 THEN bad := 'exceeds_debits';
      END IF;
      EXIT WHEN bad IS NOT NULL;
    END LOOP;
    IF bad IS NOT NULL THEN
      FOR k IN REVERSE f..s LOOP  -- undo
        a := e_acct[k]; amt := e_amount[k]; kd := e_kind[k];
        IF kd = 0 THEN a_bal[a] := a_bal[a] - amt;
        ELSIF kd = 1 THEN
          IF amt < 0 THEN a_pd[a] := a_pd[a] + amt; ELSE a_pc[a] := a_pc[a] - amt; END IF;
        ELSE
          IF amt < 0 THEN a_pd[a] := a_pd[a] - amt; ELSE a_pc[a] := a_pc[a] + amt; END IF;
        END IF;
        a_ver[a] := a_ver[a] - 1;
      END LOOP;
      st[i] := bad;
    ELSE
      st[i] := 'created';
      nx := nx + (f - s + 1);
      n_created := n_created + 1;
      IF t_phase[i] = 'pending' AND t_expires[i] IS NOT NULL THEN has_pending := true; END IF;
      IF t_parent[i] IS NOT NULL THEN
        has_parent := true;
        used_links := used_links || (t_parent[i] || '/' || t_link[i]);
      END IF;
      IF t_available_on[i] IS NOT NULL AND t_net[i] IS NOT NULL THEN has_settle := true; END IF;
    END IF;
    s := f + 1;
  END LOOP;
  IF s <= ne THEN
    RAISE EXCEPTION 'mboa_ledger_apply: entries must be grouped by item in order'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;

  -- 4. Write. A concurrent transaction may have committed one of our keys after step 2: then a
  --    header is skipped here and the whole call is retried by the caller (SQLSTATE 40001).
  IF n_created > 0 THEN
    INSERT INTO ledger_transactions (id, idempotency_key, fingerprint, type, source, merchant_id,
        livemode, currency, phase, parent_id, link, expires_at, bt_type, amount, fee, net,
        available_on, description, metadata, created_at)
    SELECT u.id, u.k, u.fp, u.ty, u.src, u.mer, u.lm, u.cur, u.ph, u.par, u.lnk, u.exp, u.bt,
           u.amt, u.fee, u.net, u.av, u.dsc, u.md::jsonb, ts
    FROM unnest(t_id, t_key, t_fp, t_type, t_source, t_merchant, t_livemode, t_currency, t_phase,
                t_parent, t_link, t_expires, t_bt_type, t_amount, t_fee, t_net, t_available_on,
                t_description, t_metadata, st)
         AS u(id, k, fp, ty, src, mer, lm, cur, ph, par, lnk, exp, bt, amt, fee, net, av, dsc, md, s)
    WHERE u.s = 'created'
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS cnt = ROW_COUNT;
    IF cnt <> n_created THEN
      RAISE EXCEPTION 'mboa_ledger_apply: a concurrent transaction used the same key; retry'
        USING ERRCODE = 'serialization_failure';
    END IF;

    INSERT INTO ledger_entries (account_id, version, transaction_id, kind, amount, balance_after,
        pending_debits_after, pending_credits_after, created_at)
    SELECT u.*, ts FROM unnest(x_acct[1:nx], x_ver[1:nx], x_txn[1:nx], x_kind[1:nx], x_amt[1:nx],
                               x_bal[1:nx], x_pd[1:nx], x_pc[1:nx]) AS u;

    UPDATE ledger_accounts AS acc
       SET balance = u.b, pending_debits = u.pd, pending_credits = u.pc, version = u.v,
           updated_at = ts
      FROM unnest(p_accounts, a_bal, a_pd, a_pc, a_ver, a_ver0) AS u(id, b, pd, pc, v, v0)
     WHERE acc.id = u.id AND u.v <> u.v0;

    IF has_pending THEN
      INSERT INTO ledger_open_pendings (transaction_id, expires_at)
      SELECT u.id, u.exp FROM unnest(t_id, t_phase, t_expires, st) AS u(id, ph, exp, s)
      WHERE u.s = 'created' AND u.ph = 'pending' AND u.exp IS NOT NULL;
    END IF;
    IF has_parent THEN
      DELETE FROM ledger_open_pendings WHERE transaction_id IN (
        SELECT u.par FROM unnest(t_parent, t_link, st) AS u(par, lnk, s)
        WHERE u.s = 'created' AND u.lnk = 'resolve');
      DELETE FROM ledger_settlement_queue WHERE transaction_id IN (
        SELECT u.par FROM unnest(t_parent, t_link, st) AS u(par, lnk, s)
        WHERE u.s = 'created' AND u.lnk IN ('settle', 'reverse'));
    END IF;
    IF has_settle THEN
      INSERT INTO ledger_settlement_queue (transaction_id, available_on, merchant_id, livemode,
          currency, amount)
      SELECT u.id, u.av, u.mer, u.lm, u.cur, u.net
      FROM unnest(t_id, t_available_on, t_merchant, t_livemode, t_currency, t_net, st)
           AS u(id, av, mer, lm, cur, net, s)
      WHERE u.s = 'created' AND u.av IS NOT NULL AND u.net IS NOT NULL AND u.mer IS NOT NULL;
    END IF;
  END IF;

  RETURN QUERY SELECT u.ord::integer, u.s, u.id FROM unnest(st, rid) WITH ORDINALITY AS u(s, id, ord);
END $$;
"""

# The same write for the commonest case, one transfer (posted or pending, no expiry, no parent,
# nothing to settle), as ONE statement: a PL/pgSQL function pays a per-transaction set-up cost
# for every expression it evaluates, which dominates when each call is its own transaction.
# Same checks, same rows, same lock order (the index scan on `id = ANY(…)` is in id order and
# ORDER BY … FOR NO KEY UPDATE locks in that order).
TRANSFER_SQL = """
CREATE FUNCTION mboa_ledger_transfer(
    p_accounts bigint[], p_id text, p_key text, p_fp bytea, p_type text, p_source text,
    p_merchant text, p_livemode boolean, p_currency text, p_phase text, p_expires timestamptz,
    p_bt_type text, p_amount bigint, p_fee bigint, p_net bigint, p_available_on timestamptz,
    p_description text, p_metadata text, e_acct integer[], e_kind smallint[], e_amount bigint[]
) RETURNS TABLE (o_status text, o_transaction_id text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
    SET plan_cache_mode = force_generic_plan AS $$
BEGIN
RETURN QUERY
WITH locked AS MATERIALIZED (
  -- Lock nothing unless every account exists: the caller then opens the missing ones and calls
  -- again, and a lock taken now would be out of the global order on that second call.
  SELECT id, currency, flags, balance, pending_debits, pending_credits, version
  FROM ledger_accounts
  WHERE id = ANY(p_accounts)
    AND (SELECT count(*) FROM ledger_accounts WHERE id = ANY(p_accounts)) = cardinality(p_accounts)
  ORDER BY id FOR NO KEY UPDATE
), stamp AS MATERIALIZED (
  -- After the locks: timestamps never go backwards along an account's version chain.
  SELECT clock_timestamp() AS ts, (SELECT count(*) FROM locked) AS n_locked
), prior AS MATERIALIZED (
  SELECT id, fingerprint FROM ledger_transactions WHERE idempotency_key = p_key
), chain AS MATERIALIZED (
  SELECT l.ord, a.id AS account_id, l.k AS kind, l.amt AS amount, a.flags, a.currency,
         a.version + 1 AS version,
         a.balance + CASE WHEN l.k = 0 THEN l.amt ELSE 0 END AS balance_after,
         a.pending_debits + CASE WHEN l.k = 1 AND l.amt < 0 THEN -l.amt ELSE 0 END AS pd_after,
         a.pending_credits + CASE WHEN l.k = 1 AND l.amt > 0 THEN l.amt ELSE 0 END AS pc_after
  FROM unnest(e_acct, e_kind, e_amount) WITH ORDINALITY AS l(a, k, amt, ord)
  LEFT JOIN locked a ON a.id = p_accounts[l.a]
), verdict AS MATERIALIZED (
  SELECT CASE
    WHEN (SELECT n_locked FROM stamp) < cardinality(p_accounts) THEN 'unknown_account'
    WHEN EXISTS (SELECT 1 FROM prior) THEN
      CASE WHEN (SELECT fingerprint FROM prior) = p_fp THEN 'replayed' ELSE 'conflict' END
    WHEN p_phase NOT IN ('posted', 'pending') OR p_expires IS NOT NULL
      OR p_available_on IS NOT NULL OR count(*) < 2
      OR count(DISTINCT account_id) <> count(*) OR sum(amount) <> 0
      OR bool_or(account_id IS NULL OR amount IS NULL OR amount = 0
                 OR currency <> p_currency
                 OR kind <> CASE p_phase WHEN 'posted' THEN 0 ELSE 1 END) THEN 'invalid'
    WHEN bool_or(flags & 1 <> 0 AND balance_after - pd_after < 0) THEN 'exceeds_credits'
    WHEN bool_or(flags & 2 <> 0 AND balance_after + pc_after > 0) THEN 'exceeds_debits'
    ELSE 'created' END AS status
  FROM chain
), header AS (
  INSERT INTO ledger_transactions (id, idempotency_key, fingerprint, type, source, merchant_id,
      livemode, currency, phase, expires_at, bt_type, amount, fee, net, available_on,
      description, metadata, created_at)
  SELECT p_id, p_key, p_fp, p_type, p_source, p_merchant, p_livemode, p_currency, p_phase,
         p_expires, p_bt_type, p_amount, p_fee, p_net, p_available_on, p_description,
         p_metadata::jsonb, (SELECT ts FROM stamp)
  FROM verdict WHERE status = 'created'
  ON CONFLICT DO NOTHING
  RETURNING id
), entries AS (
  INSERT INTO ledger_entries (account_id, version, transaction_id, kind, amount, balance_after,
      pending_debits_after, pending_credits_after, created_at)
  SELECT c.account_id, c.version, h.id, c.kind, c.amount, c.balance_after, c.pd_after,
         c.pc_after, (SELECT ts FROM stamp)
  FROM chain c, header h
), accounts AS (
  UPDATE ledger_accounts AS acc
     SET balance = c.balance_after, pending_debits = c.pd_after, pending_credits = c.pc_after,
         version = c.version, updated_at = (SELECT ts FROM stamp)
    FROM chain c, header h
   WHERE acc.id = c.account_id
)
SELECT CASE WHEN v.status = 'created' AND NOT EXISTS (SELECT 1 FROM header) THEN 'retry'
            ELSE v.status END,
       CASE WHEN v.status IN ('replayed', 'conflict') THEN (SELECT id FROM prior) ELSE p_id END
FROM verdict v;
END
$$
"""

# Balance at a past instant: binary search on the account's version chain (timestamps never go
# backwards along it), so O(log n) primary-key lookups.
BALANCE_AT_SQL = """
CREATE FUNCTION mboa_ledger_balance_at(p_account bigint, p_at timestamptz)
RETURNS TABLE (balance bigint, pending_debits bigint, pending_credits bigint, version bigint)
LANGUAGE plpgsql STABLE AS $$
DECLARE lo bigint := 0; hi bigint; mid bigint; t timestamptz;
BEGIN
  SELECT a.version INTO hi FROM ledger_accounts a WHERE a.id = p_account;
  IF hi IS NULL THEN RETURN; END IF;
  WHILE lo < hi LOOP
    mid := (lo + hi + 1) / 2;
    SELECT e.created_at INTO t FROM ledger_entries e WHERE e.account_id = p_account AND e.version = mid;
    IF t <= p_at THEN lo := mid; ELSE hi := mid - 1; END IF;
  END LOOP;
  IF lo = 0 THEN
    RETURN QUERY SELECT 0::bigint, 0::bigint, 0::bigint, 0::bigint;
  ELSE
    RETURN QUERY SELECT e.balance_after, e.pending_debits_after, e.pending_credits_after, e.version
      FROM ledger_entries e WHERE e.account_id = p_account AND e.version = lo;
  END IF;
END $$;
"""

APPLY_SIGNATURE = (
    "mboa_ledger_apply(bigint[], text[], text[], bytea[], text[], text[], text[], boolean[],"
    " text[], text[], text[], text[], timestamptz[], text[], bigint[], bigint[], bigint[],"
    " timestamptz[], text[], text[], integer[], integer[], smallint[], bigint[])"
)
TRANSFER_SIGNATURE = (
    "mboa_ledger_transfer(bigint[], text, text, bytea, text, text, text, boolean, text, text,"
    " timestamptz, text, bigint, bigint, bigint, timestamptz, text, text, integer[], smallint[],"
    " bigint[])"
)
OPEN_SIGNATURE = (
    "mboa_ledger_open_accounts(bigint[], text[], boolean[], text[], text[], text[], integer[],"
    " integer[])"
)


def upgrade() -> None:
    app_role, platform_role = roles()
    # The writer role owns the write functions. NOLOGIN: nobody connects as it. BYPASSRLS: the
    # functions act for every merchant.
    op.execute(
        f"""
        DO $$ BEGIN
          IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{WRITER}') THEN
            CREATE ROLE {WRITER} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE BYPASSRLS;
          END IF;
        END $$;
        """
    )
    op.execute(f"GRANT USAGE ON SCHEMA public TO {WRITER}")
    # asyncpg runs one statement per call.
    for statement in TABLES_SQL.split(";\n"):
        if statement.strip():
            op.execute(statement)
    for statement in APPEND_ONLY_SQL.split("\n\n"):
        op.execute(statement)
    op.execute(OPEN_ACCOUNTS_SQL)
    op.execute(APPLY_SQL)
    op.execute(TRANSFER_SQL)
    op.execute(BALANCE_AT_SQL)

    # Grants: the journal is SELECT + INSERT for the writer only; the application roles read.
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON ledger_accounts TO {WRITER}")
    op.execute(f"GRANT SELECT, INSERT ON ledger_transactions, ledger_entries TO {WRITER}")
    op.execute(
        f"GRANT SELECT, INSERT, DELETE ON ledger_open_pendings, ledger_settlement_queue TO {WRITER}"
    )
    op.execute(
        f"GRANT SELECT ON ledger_accounts, ledger_transactions, ledger_entries,"
        f" ledger_open_pendings, ledger_settlement_queue TO {platform_role}"
    )
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON ledger_fee_plans TO {platform_role}")
    op.execute(f"GRANT SELECT ON ledger_accounts, ledger_transactions TO {app_role}")
    # Tenants see their own accounts and balance transactions; platform rows (merchant_id NULL)
    # match no tenant.
    enable_tenant_rls("ledger_accounts")
    enable_tenant_rls("ledger_transactions")

    for signature in (APPLY_SIGNATURE, TRANSFER_SIGNATURE, OPEN_SIGNATURE):
        op.execute(f"ALTER FUNCTION {signature} OWNER TO {WRITER}")
        op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO {platform_role}")
    op.execute("REVOKE ALL ON FUNCTION mboa_ledger_balance_at(bigint, timestamptz) FROM PUBLIC")
    op.execute(
        f"GRANT EXECUTE ON FUNCTION mboa_ledger_balance_at(bigint, timestamptz) TO {platform_role}"
    )


def downgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {APPLY_SIGNATURE}")
    op.execute(f"DROP FUNCTION IF EXISTS {OPEN_SIGNATURE}")
    op.execute(f"DROP FUNCTION IF EXISTS {TRANSFER_SIGNATURE}")
    op.execute("DROP FUNCTION IF EXISTS mboa_ledger_balance_at(bigint, timestamptz)")
    for table in (
        "ledger_fee_plans",
        "ledger_settlement_queue",
        "ledger_open_pendings",
        "ledger_entries",
        "ledger_transactions",
        "ledger_accounts",
    ):
        op.execute(f"DROP TABLE IF EXISTS {table}")
    op.execute("DROP FUNCTION IF EXISTS mboa_ledger_append_only()")
