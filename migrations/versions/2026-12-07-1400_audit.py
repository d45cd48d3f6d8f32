"""The audit log: append-only, hash-chained, written by one definer function.

Revision ID: 0017_audit
Revises: 0016_storage
Create Date: 2026-12-07 10:00:00

Issue 17 item 4, docs/audit.md. `audit_log` holds one row per sensitive action; `audit_chain_head`
the chain's last position and hash. Only `mboa_audit_append` (audit/sql/audit_log.sql), a
SECURITY DEFINER function owned by the NOLOGIN role `mboa_audit`, writes them: it locks the head,
links the new row to the last one by its SHA-256, and moves the head. The application roles can
read (merchants their own rows under row-level security; the platform role every row) and call
the function; a trigger refuses UPDATE, DELETE and TRUNCATE on `audit_log` for every role,
its owner included, as the ledger's journal does.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from mboa.kit.migration import enable_tenant_rls, function_privileges, load_sql, roles

revision: str = "0017_audit"
down_revision: str | None = "0016_storage"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQL_FILES = {
    "audit/sql/audit_log.sql": "bcf61f9eaa0b4cc5a32f62abc67089a24ba1e780649c377f96e1f2015435417c",
}
"""The SQL files this revision runs, with the digest (`sql_digest`) each had when it was written."""

WRITER = "mboa_audit"
"""Owns `mboa_audit_append`. NOLOGIN: nobody connects as it. BYPASSRLS: it appends for every
merchant and reads the chain's head."""

HASH_SIGNATURE = (
    "(bigint, text, timestamptz, text, boolean, text, text, text, text, text, text, jsonb,"
    " jsonb, text, text, text, text)"
)
APPEND = (
    "mboa_audit_append(text, text, boolean, text, text, text, text, text, text, jsonb, jsonb,"
    " text, text, text)"
)
FUNCTIONS = (
    APPEND,
    f"mboa_audit_hash{HASH_SIGNATURE}",
    f"mboa_audit_canonical{HASH_SIGNATURE}",
    "mboa_audit_append_only()",
)


def upgrade() -> None:
    app_role, platform_role = roles()
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
    op.create_table(
        "audit_log",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("merchant_id", sa.String(40)),
        sa.Column("livemode", sa.Boolean()),
        sa.Column("actor_type", sa.String(20), nullable=False),
        sa.Column("actor_id", sa.String(40)),
        sa.Column("actor_label", sa.String(320)),
        sa.Column("action", sa.String(80), nullable=False),
        sa.Column("target_type", sa.String(40)),
        sa.Column("target_id", sa.String(64)),
        sa.Column("before", postgresql.JSONB()),
        sa.Column("after", postgresql.JSONB()),
        sa.Column("ip", sa.String(64)),
        sa.Column("user_agent", sa.String(512)),
        sa.Column("request_id", sa.String(40)),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("uq_audit_log_seq", "audit_log", ["seq"], unique=True)
    op.create_index("ix_audit_log_merchant", "audit_log", ["merchant_id", "id"])
    op.create_index("ix_audit_log_action", "audit_log", ["action", "id"])
    op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.CheckConstraint("id", name="ck_audit_chain_head_single_row"),
        sa.PrimaryKeyConstraint("id", name="pk_audit_chain_head"),
    )
    op.execute(f"INSERT INTO audit_chain_head (id, seq, hash) VALUES (true, 0, '{'0' * 64}')")
    load_sql("audit/sql/audit_log.sql")

    op.execute(f"GRANT SELECT ON audit_log TO {app_role}, {platform_role}")
    op.execute(f"GRANT SELECT ON audit_chain_head TO {platform_role}")
    op.execute(f"GRANT SELECT, INSERT ON audit_log TO {WRITER}")
    op.execute(f"GRANT SELECT, UPDATE ON audit_chain_head TO {WRITER}")
    op.execute(f"GRANT SELECT (id, email) ON users TO {WRITER}")
    op.execute(f"GRANT SELECT (id, prefix, last4) ON api_keys TO {WRITER}")
    # Merchants read their own rows, in both modes; staff (the platform role) read every row.
    enable_tenant_rls("audit_log", mode_scoped=False)

    function_privileges(APPEND, owner=WRITER, execute=f"{app_role}, {platform_role}")
    for name in ("mboa_audit_hash", "mboa_audit_canonical"):
        function_privileges(
            f"{name}{HASH_SIGNATURE}", owner=None, execute=f"{WRITER}, {platform_role}"
        )


def downgrade() -> None:
    for signature in FUNCTIONS[:3]:
        op.execute(f"DROP FUNCTION IF EXISTS {signature}")
    op.drop_table("audit_chain_head")
    op.drop_table("audit_log")
    op.execute("DROP FUNCTION IF EXISTS mboa_audit_append_only()")
    op.execute(f"REVOKE USAGE ON SCHEMA public FROM {WRITER}")
