"""Baseline: every table, role, grant, policy, domain, function and trigger of the platform.

Revision ID: 0001_baseline
Revises:
Create Date: 2026-11-27 04:00:00

Tables, indexes, grants and row-level security are written here; every SQL function, trigger
and domain is a whole `.sql` file beside the code that owns it, run by `load_sql` and recorded
in `SQL_FILES` with its digest. A later change to one of them is a new revision that loads the
file again and records its new digest (docs/architecture.md, "Migrations").

Ledger (docs/ledger.md): every write goes through `mboa_ledger_apply` and
`mboa_ledger_open_accounts`, SECURITY DEFINER functions owned by the NOLOGIN role `mboa_ledger`.
The application roles can only read the ledger and call those functions, so no code path writes
an entry without its balance checks, and no role but the owner can UPDATE or DELETE the journal
(a trigger rejects it for the owner too).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from mboa.kit.migration import (
    enable_tenant_rls,
    function_privileges,
    grant,
    load_sql,
    roles,
    sql_statements,
)

revision: str = "0001_baseline"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQL_FILES = {
    "ledger/sql/domains.sql": "c86ff9fb6f045c6faeba0f1b4254d02aef3a38abb7510f89454466f57094ca6f",
    "ledger/sql/row_checks.sql": "00abea6d9679c10f0e34aedc951448e333ad5bdadef17b1af1765ede21504041",
    "ledger/sql/append_only.sql": "387407a77477d07f597fa6d6fbd953683a59e466a69aff9618737cd6fe8ffe25",
    "ledger/sql/open_accounts.sql": "aed6fcfa485f57a58e00753f2bc0ac510f8bb225a3119122f3cec8e09f6b86a2",
    "ledger/sql/apply.sql": "60245ea0146074e4b0691739cfa04a0033393a3890a151abf7f2aff448528a25",
    "ledger/sql/write_transfer.sql": "840571017abf9512cc18b534f1a72589bca8586cdf512739b8866829eba6f2e8",
    "ledger/sql/balance_at.sql": "f5a425062644ad305a8479bb3bbfef299d1db7f2fbee807c139c60ce4577efcb",
    "auth/sql/authenticate_api_key.sql": "3c9b6e6775d01b7bd81eccd0384eed6892ddd45982f8f5819cbc9d286b387478",
    "auth/sql/user_memberships.sql": "9a6a02ae53d585106be5c56864111fdeb2ad39b681c7f881b3c0e4bd74550e6a",
    "worker/sql/outbox_notify.sql": "97902fd242e92895852ca16f1e35c14a25e7470321296dda1649bcdef46f1a99",
}
"""The SQL files this revision runs, with the digest (`sql_digest`) each had when it was written."""

WRITER = "mboa_ledger"
"""Owns the ledger's write functions. NOLOGIN: nobody connects as it. BYPASSRLS: the functions act
for every merchant."""

LEDGER_WRITE_FUNCTIONS = (
    "mboa_ledger_apply(bigint[], text[], text[], bytea[], text[], text[], text[], boolean[],"
    " text[], text[], text[], text[], timestamptz[], text[], bigint[], bigint[], bigint[],"
    " timestamptz[], text[], text[], integer[], integer[], smallint[], bigint[])",
    "mboa_ledger_write_transfer(bigint[], text, text, bytea, text, text, text, boolean, text,"
    " text, text, bigint, bigint, bigint, text, text, smallint[], bigint[])",
    "mboa_ledger_open_accounts(bigint[], text[], boolean[], text[], text[], text[], integer[],"
    " integer[])",
)
LEDGER_FUNCTIONS = (
    "mboa_ledger_balance_at(bigint, timestamptz)",
    "mboa_ledger_append_only()",
    "mboa_ledger_account_valid(integer, bigint, ledger_nonnegative, ledger_nonnegative)",
    "mboa_ledger_transaction_valid(ledger_link, varchar, ledger_phase, bigint, bigint, bigint)",
)
LEDGER_DOMAINS = (
    "ledger_account_kind",
    "ledger_phase",
    "ledger_link",
    "ledger_nonnegative",
    "ledger_entry_amount",
    "ledger_entry_kind",
    "ledger_version",
)
AUTH_FUNCTIONS = ("mboa_authenticate_api_key(text)", "mboa_user_memberships(text)")
TABLES = (
    "users",
    "merchants",
    "merchant_members",
    "api_keys",
    "user_sessions",
    "customers",
    "idempotency_keys",
    "outbox",
    "provider_events",
    "ledger_accounts",
    "ledger_transactions",
    "ledger_entries",
    "ledger_open_pendings",
    "ledger_settlement_queue",
    "ledger_fee_plans",
)
ID = sa.String(40)


def _created() -> sa.Column[sa.DateTime]:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
    )


def _roles_and_schema() -> None:
    app_role, platform_role = roles()
    # Roles are cluster-wide: create them once, whatever database this is.
    op.execute(
        f"""
        DO $$ BEGIN
          IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{app_role}') THEN
            CREATE ROLE {app_role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
          END IF;
          IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{platform_role}') THEN
            CREATE ROLE {platform_role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE BYPASSRLS;
          END IF;
          IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{WRITER}') THEN
            CREATE ROLE {WRITER} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE BYPASSRLS;
          END IF;
        END $$;
        """
    )
    op.execute(
        f"""
        DO $$ BEGIN
          EXECUTE format('GRANT CONNECT ON DATABASE %I TO {app_role}, {platform_role}', current_database());
        END $$;
        """
    )
    op.execute(f"GRANT USAGE ON SCHEMA public TO {app_role}, {platform_role}, {WRITER}")
    # No role but the owner may create objects in schema `public`. The ledger's write functions
    # run as `mboa_ledger` with `search_path = pg_catalog, public, pg_temp`, and the row checks
    # call functions and operators resolved by type: a role able to create an operator in
    # `public` (say `>=(bigint, ledger_nonnegative)`) could change what a check computes.
    # PostgreSQL 15 and newer no longer grant CREATE on `public` to PUBLIC; 13 and 14 do. The
    # revoke needs the schema's owner or a superuser: a migration role that is neither fails
    # here, saying so, and an administrator runs the revoke once. `ledger verify` reports any
    # application role that can still create there.
    op.execute(
        """
        DO $$ BEGIN
          IF has_schema_privilege('public', 'public', 'CREATE') THEN
            IF pg_has_role((SELECT nspowner FROM pg_namespace WHERE nspname = 'public'), 'MEMBER')
               OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
              REVOKE CREATE ON SCHEMA public FROM PUBLIC;
            ELSE
              RAISE EXCEPTION 'every role may CREATE in schema public, and this role cannot revoke it'
                USING HINT = 'As the schema''s owner: REVOKE CREATE ON SCHEMA public FROM PUBLIC';
            END IF;
          END IF;
        END $$
        """
    )


def _foundation() -> None:
    """Users, merchants, team, API keys, sessions, customers, idempotency keys, outbox."""
    app_role, platform_role = roles()
    op.create_table(
        "users",
        sa.Column("id", ID, primary_key=True),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("name", sa.String(200)),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("is_platform_admin", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("disabled_at", sa.DateTime(timezone=True)),
        _created(),
        sa.UniqueConstraint("email"),
        sa.CheckConstraint("email = lower(email)", name="email_lowercase"),
    )
    grant("users", app="SELECT, INSERT, UPDATE")

    op.create_table(
        "merchants",
        sa.Column("id", ID, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("country", sa.String(2), nullable=False, server_default="CM"),
        sa.Column("default_currency", sa.String(3), nullable=False, server_default="XAF"),
        sa.Column("status", sa.String(20), nullable=False, server_default="sandbox"),
        sa.Column("approved_at", sa.DateTime(timezone=True)),
        sa.Column("approved_by", ID),
        sa.Column("suspended_at", sa.DateTime(timezone=True)),
        sa.Column("suspension_reason", sa.String(500)),
        sa.Column("metadata", postgresql.JSONB, nullable=False, server_default="{}"),
        _created(),
        sa.CheckConstraint("status IN ('sandbox', 'active', 'suspended')", name="status_valid"),
    )
    grant("merchants", app="SELECT, INSERT, UPDATE")
    enable_tenant_rls("merchants", mode_scoped=False, key="id")

    op.create_table(
        "merchant_members",
        sa.Column("id", ID, primary_key=True),
        sa.Column("merchant_id", ID, sa.ForeignKey("merchants.id"), nullable=False),
        sa.Column("user_id", ID, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        _created(),
        sa.UniqueConstraint("merchant_id", "user_id"),
        sa.CheckConstraint("role IN ('owner', 'admin', 'developer', 'analyst')", name="role_valid"),
    )
    op.create_index("ix_merchant_members_user_id", "merchant_members", ["user_id"])
    grant("merchant_members", app="SELECT, INSERT, UPDATE, DELETE")
    enable_tenant_rls("merchant_members", mode_scoped=False)

    op.create_table(
        "api_keys",
        sa.Column("id", ID, primary_key=True),
        sa.Column("merchant_id", ID, sa.ForeignKey("merchants.id"), nullable=False),
        sa.Column("livemode", sa.Boolean, nullable=False),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("name", sa.String(200)),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(10), nullable=False),
        sa.Column("last4", sa.String(4), nullable=False),
        sa.Column("scopes", postgresql.ARRAY(sa.String(60)), nullable=False, server_default="{}"),
        sa.Column("expires_at", sa.DateTime(timezone=True)),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.Column("rolled_to", ID),
        sa.Column("created_by", ID),
        sa.Column("last_used_at", sa.DateTime(timezone=True)),
        _created(),
        sa.UniqueConstraint("secret_hash"),
        sa.CheckConstraint("type IN ('secret', 'publishable', 'restricted')", name="type_valid"),
    )
    op.create_index("ix_api_keys_tenant", "api_keys", ["merchant_id", "livemode", "id"])
    grant("api_keys", app="SELECT, INSERT, UPDATE")
    enable_tenant_rls("api_keys")

    op.create_table(
        "user_sessions",
        sa.Column("id", ID, primary_key=True),
        sa.Column("user_id", ID, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("refresh_token_hash", sa.String(64), nullable=False),
        sa.Column("previous_token_hash", sa.String(64)),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.Column("rotated_at", sa.DateTime(timezone=True)),
        _created(),
        sa.UniqueConstraint("refresh_token_hash"),
    )
    op.create_index(
        "ix_user_sessions_previous_token_hash", "user_sessions", ["previous_token_hash"]
    )
    op.create_index("ix_user_sessions_user_id", "user_sessions", ["user_id"])
    grant("user_sessions", app="SELECT, INSERT, UPDATE")

    op.create_table(
        "customers",
        sa.Column("id", ID, primary_key=True),
        sa.Column("merchant_id", ID, sa.ForeignKey("merchants.id"), nullable=False),
        sa.Column("livemode", sa.Boolean, nullable=False),
        sa.Column("name", sa.String(200)),
        sa.Column("email", sa.String(320)),
        sa.Column("phone", sa.String(20)),
        sa.Column("description", sa.String(500)),
        sa.Column("metadata", postgresql.JSONB, nullable=False, server_default="{}"),
        sa.Column("deleted_at", sa.DateTime(timezone=True)),
        _created(),
    )
    op.create_index("ix_customers_tenant", "customers", ["merchant_id", "livemode", "id"])
    grant("customers", app="SELECT, INSERT, UPDATE")
    enable_tenant_rls("customers")

    op.create_table(
        "idempotency_keys",
        sa.Column("merchant_id", ID, nullable=False),
        sa.Column("livemode", sa.Boolean, nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("request_method", sa.String(10), nullable=False),
        sa.Column("request_path", sa.String(500), nullable=False),
        sa.Column("request_fingerprint", sa.String(64), nullable=False),
        sa.Column("locked_at", sa.DateTime(timezone=True)),
        sa.Column("response_status", sa.Integer),
        sa.Column("response_body", sa.LargeBinary),
        sa.Column("response_headers", postgresql.JSONB),
        sa.Column("completed_at", sa.DateTime(timezone=True)),
        _created(),
        sa.PrimaryKeyConstraint("merchant_id", "livemode", "key"),
    )
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])
    grant("idempotency_keys", app="SELECT, INSERT, UPDATE, DELETE")
    enable_tenant_rls("idempotency_keys")

    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("task", sa.String(100), nullable=False),
        sa.Column("queue", sa.String(50), nullable=False),
        sa.Column("payload", postgresql.JSONB, nullable=False),
        sa.Column("job_id", sa.String(100), nullable=False),
        sa.Column("delay_ms", sa.Integer, nullable=False, server_default="0"),
        sa.Column("relayed_at", sa.DateTime(timezone=True)),
        sa.Column("relay_attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text),
        _created(),
    )
    op.create_index(
        "ix_outbox_pending", "outbox", ["id"], postgresql_where=sa.text("relayed_at IS NULL")
    )
    load_sql("worker/sql/outbox_notify.sql")
    # The API writes jobs but never reads or changes them.
    grant("outbox", app="INSERT")
    op.execute(f"GRANT USAGE ON SEQUENCE outbox_id_seq TO {app_role}, {platform_role}")

    # Authentication must find a key, and a user's merchants, before the tenant is known: these
    # functions run as the platform role (which bypasses RLS) and return only what it needs.
    load_sql("auth/sql/authenticate_api_key.sql")
    load_sql("auth/sql/user_memberships.sql")
    for signature in AUTH_FUNCTIONS:
        function_privileges(signature, owner=platform_role, execute=app_role)


PROVIDER_EVENT_VERIFICATIONS = ("not_applicable", "unchecked", "passed", "failed")
PROVIDER_EVENT_RESULTS = (
    "confirmed",
    "no_reference",
    "invalid_reference",
    "not_found",
    "unparseable",
    "token_mismatch",
    "operator_unavailable",
    "error",
)


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _provider_events() -> None:
    """Inbound operator callbacks, stored and de-duplicated before confirmation.

    A callback is a hint (docs/providers-wire.md §1.9, §2.1, §2.2): nobody signs it and MTN sends it
    once, so it is stored first, then confirmed by a status read. Not merchant-owned yet (the
    attempt -> merchant link comes with payments), so no row-level security: only the platform
    role touches it.
    """
    now = sa.func.now()
    op.create_table(
        "provider_events",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("provider", sa.String(20), nullable=False),
        sa.Column("attempt_id", sa.String(100), nullable=False),
        sa.Column("http_method", sa.String(10), nullable=False),
        sa.Column("operator_reference", sa.String(200)),
        sa.Column("operator_transaction_id", sa.String(200)),
        sa.Column("claimed_status", sa.String(20)),
        sa.Column("raw_status", sa.String(100)),
        sa.Column("verification", sa.String(20), nullable=False),
        sa.Column("parse_error", sa.String(500)),
        sa.Column("dedupe_key", sa.String(100), nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("body_truncated", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("headers", postgresql.JSONB, nullable=False, server_default="{}"),
        sa.Column("client_address", sa.String(64)),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
        sa.Column("duplicate_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
        sa.Column("processed_at", sa.DateTime(timezone=True)),
        sa.Column("result", sa.String(30)),
        sa.Column("confirmed_status", sa.String(20)),
        sa.Column("result_detail", postgresql.JSONB),
        # Duplicate deliveries collapse onto one row (INSERT … ON CONFLICT in the repository).
        sa.UniqueConstraint("provider", "dedupe_key"),
        sa.CheckConstraint(
            _in("verification", PROVIDER_EVENT_VERIFICATIONS), name="verification_valid"
        ),
        sa.CheckConstraint(
            f"result IS NULL OR {_in('result', PROVIDER_EVENT_RESULTS)}", name="result_valid"
        ),
        sa.CheckConstraint(
            "claimed_status IS NULL OR claimed_status IN ('pending', 'succeeded', 'failed')",
            name="claimed_status_valid",
        ),
        sa.CheckConstraint(
            "confirmed_status IS NULL OR confirmed_status IN ('pending', 'succeeded', 'failed')",
            name="confirmed_status_valid",
        ),
        sa.CheckConstraint("duplicate_count >= 0", name="duplicate_count_valid"),
    )
    # The payment lifecycle will look callbacks up by its attempt id.
    op.create_index("ix_provider_events_attempt_id", "provider_events", ["attempt_id"])
    grant("provider_events", app="", platform="SELECT, INSERT, UPDATE")


LEDGER_TABLES_SQL = """
CREATE TABLE ledger_accounts (
    -- Derived from the account's key (mboa.ledger.accounts.account_id): every process computes the
    -- same id without a lookup, and ids are never reused even if rows are wiped in tests.
    id bigint PRIMARY KEY,
    merchant_id varchar(40),                 -- NULL: a platform account
    livemode boolean NOT NULL,
    currency char(3) NOT NULL,
    kind ledger_account_kind NOT NULL,
    operator varchar(20) NOT NULL DEFAULT '',
    shard smallint NOT NULL DEFAULT 0,
    flags integer NOT NULL DEFAULT 0,
    -- Credit-positive: a merchant's money is a positive balance, money held at an operator negative.
    balance bigint NOT NULL DEFAULT 0,
    pending_debits ledger_nonnegative NOT NULL DEFAULT 0,
    pending_credits ledger_nonnegative NOT NULL DEFAULT 0,
    version bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    -- The row check is a function (ledger/sql/row_checks.sql): PostgreSQL re-reads a CHECK's
    -- expression for every statement that writes the table, and compiles a function once per
    -- session. Flag 1: debits must not exceed credits (a merchant's balance never goes
    -- negative). Flag 2: credits must not exceed debits (an asset account never goes positive).
    CONSTRAINT ck_ledger_accounts_valid
        CHECK (mboa_ledger_account_valid(flags, balance, pending_debits, pending_credits))
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
    phase ledger_phase NOT NULL,
    parent_id varchar(40),
    link ledger_link,
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
    CONSTRAINT ck_ledger_transactions_valid
        CHECK (mboa_ledger_transaction_valid(link, parent_id, phase, amount, fee, net))
);
-- A pending transfer is resolved (posted, voided or expired) at most once, a transaction is
-- reversed at most once and settled at most once. Partial: most transactions have no parent.
CREATE UNIQUE INDEX uq_ledger_transactions_parent_link ON ledger_transactions (parent_id, link)
    WHERE parent_id IS NOT NULL;
-- A collection is settled or reversed, never both, whatever the order and the isolation level.
CREATE UNIQUE INDEX uq_ledger_transactions_settled_or_reversed ON ledger_transactions (parent_id)
    WHERE link IN ('settle', 'reverse');
CREATE INDEX ix_ledger_transactions_merchant ON ledger_transactions (merchant_id, livemode, id)
    WHERE bt_type IS NOT NULL;

CREATE TABLE ledger_entries (
    account_id bigint NOT NULL,
    version ledger_version NOT NULL,
    transaction_id varchar(40) NOT NULL,
    kind ledger_entry_kind NOT NULL,          -- 0 posted, 1 pending (hold), 2 release of a hold
    amount ledger_entry_amount NOT NULL,      -- credit positive, debit negative
    balance_after bigint NOT NULL,
    pending_debits_after bigint NOT NULL,
    pending_credits_after bigint NOT NULL,
    created_at timestamptz NOT NULL,
    CONSTRAINT pk_ledger_entries PRIMARY KEY (account_id, version)
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


def _ledger() -> None:
    app_role, platform_role = roles()
    load_sql("ledger/sql/domains.sql")
    load_sql("ledger/sql/row_checks.sql")
    for statement in sql_statements(LEDGER_TABLES_SQL):
        op.execute(statement)
    load_sql("ledger/sql/append_only.sql")
    load_sql("ledger/sql/open_accounts.sql")
    load_sql("ledger/sql/apply.sql")
    load_sql("ledger/sql/write_transfer.sql")
    load_sql("ledger/sql/balance_at.sql")

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
    # Staff set and remove merchants' fee plans.
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ledger_fee_plans TO {platform_role}")
    op.execute(f"GRANT SELECT ON ledger_accounts, ledger_transactions TO {app_role}")
    # Tenants see their own accounts and balance transactions; platform rows (merchant_id NULL)
    # match no tenant.
    enable_tenant_rls("ledger_accounts")
    enable_tenant_rls("ledger_transactions")

    for signature in LEDGER_WRITE_FUNCTIONS:
        function_privileges(signature, owner=WRITER, execute=platform_role)
    function_privileges(
        "mboa_ledger_balance_at(bigint, timestamptz)", owner=None, execute=platform_role
    )


def upgrade() -> None:
    _roles_and_schema()
    _foundation()
    _provider_events()
    _ledger()


def downgrade() -> None:
    """Drop everything this revision created in the database. Roles are cluster-wide and may
    serve other databases: they keep existing, without any privilege here."""
    app_role, platform_role = roles()
    for table in reversed(TABLES):
        op.execute(f"DROP TABLE {table}")
    for function in (*LEDGER_WRITE_FUNCTIONS, *LEDGER_FUNCTIONS, *AUTH_FUNCTIONS):
        op.execute(f"DROP FUNCTION {function}")
    op.execute("DROP FUNCTION mboa_outbox_notify()")
    for domain in LEDGER_DOMAINS:
        op.execute(f"DROP DOMAIN {domain}")
    op.execute(f"REVOKE USAGE ON SCHEMA public FROM {app_role}, {platform_role}, {WRITER}")
    op.execute(
        f"""
        DO $$ BEGIN
          EXECUTE format('REVOKE CONNECT ON DATABASE %I FROM {app_role}, {platform_role}', current_database());
        END $$;
        """
    )
