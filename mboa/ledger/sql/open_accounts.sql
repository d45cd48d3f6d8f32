-- Opens accounts (one row per key; the id is a hash of the key, mboa.ledger.accounts.account_id).
-- SECURITY DEFINER, owned by the writer role `mboa_ledger`: the application roles cannot insert
-- into ledger_accounts themselves. Called by the write path when a posting names an account that
-- is not open yet.
CREATE OR REPLACE FUNCTION mboa_ledger_open_accounts(
    p_ids bigint[], p_merchants text[], p_livemodes boolean[], p_currencies text[],
    p_kinds text[], p_operators text[], p_shards integer[], p_flags integer[]
) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
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
