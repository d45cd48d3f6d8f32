-- The ledger's write path: a batch of transactions (a single transfer is a batch of one), one
-- result per item; only malformed input raises. Steps: lock every account of the batch in
-- ascending id order (the global lock order), look up earlier transactions with the same
-- idempotency keys, then validate and apply each item in memory (rejecting an item leaves the
-- others untouched, without subtransactions), then write headers, entries and balances in three
-- set-based statements. SECURITY DEFINER, owned by the writer role `mboa_ledger`: no code path
-- writes an entry without these checks. docs/ledger.md.
CREATE OR REPLACE FUNCTION mboa_ledger_apply(
    p_accounts bigint[],
    t_id text[], t_key text[], t_fp bytea[], t_type text[], t_source text[], t_merchant text[],
    t_livemode boolean[], t_currency text[], t_phase text[], t_parent text[], t_link text[],
    t_expires timestamptz[], t_bt_type text[], t_amount bigint[], t_fee bigint[], t_net bigint[],
    t_available_on timestamptz[], t_description text[], t_metadata text[],
    e_item integer[], e_acct integer[], e_kind smallint[], e_amount bigint[]
) RETURNS TABLE (o_item integer, o_status text, o_transaction_id text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
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
        -- A settled collection's net has left pending: the merchant is repaid by a refund.
        ELSIF (t_parent[i] || '/settle') = ANY(used_links) OR EXISTS (
            SELECT 1 FROM ledger_transactions c
            WHERE c.parent_id = t_parent[i] AND c.link = 'settle') THEN
          bad := 'already_settled';
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
        IF pr.phase <> 'posted' OR t_phase[i] <> 'posted' THEN
          bad := 'invalid';
        ELSIF (t_parent[i] || '/reverse') = ANY(used_links) OR EXISTS (
            SELECT 1 FROM ledger_transactions c
            WHERE c.parent_id = t_parent[i] AND c.link = 'reverse') THEN
          bad := 'already_reversed';
        END IF;
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
      WHERE u.s = 'created' AND u.av IS NOT NULL AND u.net > 0 AND u.mer IS NOT NULL;
    END IF;
  END IF;

  RETURN QUERY SELECT u.ord::integer, u.s, u.id FROM unnest(st, rid) WITH ORDINALITY AS u(s, id, ord);
END $$;
