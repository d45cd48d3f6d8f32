-- Row checks of ledger_accounts and ledger_transactions, as IMMUTABLE PL/pgSQL functions that the
-- tables' CHECK constraints call: PL/pgSQL compiles a function once per session, while a CHECK's
-- own expression is re-read for every statement that writes the table.

CREATE OR REPLACE FUNCTION mboa_ledger_account_valid(
    flags integer, balance bigint, pending_debits ledger_nonnegative,
    pending_credits ledger_nonnegative
) RETURNS boolean LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
  -- Flag 1: debits must not exceed credits (a merchant's balance never goes negative).
  -- Flag 2: credits must not exceed debits (an asset account never goes positive).
  RETURN (flags & 1 = 0 OR balance >= pending_debits)
     AND (flags & 2 = 0 OR balance <= -pending_credits);
END
$$;

CREATE OR REPLACE FUNCTION mboa_ledger_transaction_valid(
    link ledger_link, parent_id varchar, phase ledger_phase, amount bigint, fee bigint, net bigint
) RETURNS boolean LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
  -- A link names its parent; `resolve` links exactly the post, void and expire phases; a net is
  -- the amount less the fee.
  RETURN (link IS NULL) = (parent_id IS NULL)
     AND coalesce(link = 'resolve', false) = (phase IN ('post', 'void', 'expire'))
     AND (net IS NULL OR (amount IS NOT NULL AND fee IS NOT NULL AND net = amount - fee));
END
$$;
