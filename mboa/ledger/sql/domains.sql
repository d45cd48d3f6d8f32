-- The ledger's domains: value rules checked when a value is assigned to a column of the type.
--
-- A table's CHECK constraints are deserialised from their stored node text and planned for every
-- statement that writes the table; a domain's checks are prepared once per session and cached.
-- The journal is written by every posting, so its single-column rules live here
-- (docs/ledger.md, "CHECK constraints cost per statement"). Loaded by the migrations
-- (mboa.kit.migration.load_sql); a change is a new revision (docs/architecture.md).

CREATE DOMAIN ledger_account_kind AS varchar(30) CHECK (VALUE IN (
    'pending', 'available', 'reserved', 'fee_revenue', 'operator_float', 'payouts_in_transit',
    'refunds_in_transit', 'suspense', 'general'));

-- A pending transfer's phase, and the links of a transaction to its parent.
CREATE DOMAIN ledger_phase AS varchar(10) CHECK (VALUE IN (
    'posted', 'pending', 'post', 'void', 'expire'));
CREATE DOMAIN ledger_link AS varchar(10) CHECK (VALUE IN ('resolve', 'reverse', 'settle'));

-- Holds on an account (pending_debits, pending_credits) are never negative.
CREATE DOMAIN ledger_nonnegative AS bigint CHECK (VALUE >= 0);

-- An entry: a non-zero amount, 0 posted / 1 pending hold / 2 release of a hold, versions from 1.
CREATE DOMAIN ledger_entry_amount AS bigint CHECK (VALUE <> 0);
CREATE DOMAIN ledger_entry_kind AS smallint CHECK (VALUE BETWEEN 0 AND 2);
CREATE DOMAIN ledger_version AS bigint CHECK (VALUE > 0);
