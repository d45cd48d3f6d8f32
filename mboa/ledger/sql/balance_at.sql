-- The balances of an account at a past instant: binary search on the account's version chain
-- (timestamps never go backwards along it), so O(log n) primary-key lookups.
CREATE OR REPLACE FUNCTION mboa_ledger_balance_at(p_account bigint, p_at timestamptz)
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
    RETURN QUERY SELECT e.balance_after, e.pending_debits_after, e.pending_credits_after,
                        e.version::bigint
      FROM ledger_entries e WHERE e.account_id = p_account AND e.version = lo;
  END IF;
END $$;
