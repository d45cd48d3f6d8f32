-- The journal (ledger_transactions, ledger_entries) is append-only, for its owner too: only
-- INSERT, by the write functions. `ledger verify` (journal_append_only) checks both triggers.
CREATE OR REPLACE FUNCTION mboa_ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the ledger journal is append-only: % on % is not allowed', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH STATEMENT EXECUTE FUNCTION mboa_ledger_append_only();

CREATE TRIGGER ledger_transactions_append_only BEFORE UPDATE OR DELETE ON ledger_transactions
    FOR EACH STATEMENT EXECUTE FUNCTION mboa_ledger_append_only();
