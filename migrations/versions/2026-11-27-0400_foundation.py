"""Foundation: roles, users, merchants, team, API keys, sessions, customers, idempotency, outbox.

Revision ID: 0001_foundation
Revises:
Create Date: 2026-11-27 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from mboa.kit.migration import enable_tenant_rls, grant, roles

revision: str = "0001_foundation"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(40)


def _created() -> sa.Column[sa.DateTime]:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
    )


def _create_roles() -> None:
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
    op.execute(f"GRANT USAGE ON SCHEMA public TO {app_role}, {platform_role}")


def upgrade() -> None:
    _create_roles()
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
    # Wake the relay the moment a transaction that wrote jobs commits (NOTIFY is sent at commit).
    op.execute(
        """
        CREATE FUNCTION mboa_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_notify('mboa_outbox', ''); RETURN NULL; END $$
        """
    )
    op.execute(
        "CREATE TRIGGER outbox_notify AFTER INSERT ON outbox"
        " FOR EACH STATEMENT EXECUTE FUNCTION mboa_outbox_notify()"
    )
    # The API writes jobs but never reads or changes them.
    grant("outbox", app="INSERT")
    op.execute(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {app_role}, {platform_role}")

    # Authentication must find a key before the tenant is known. These functions run as the
    # platform role (which bypasses RLS) and return only what authentication needs.
    op.execute(
        """
        CREATE FUNCTION mboa_authenticate_api_key(p_secret_hash text)
        RETURNS TABLE (
            id varchar, merchant_id varchar, livemode boolean, type varchar, scopes varchar[],
            expires_at timestamptz, revoked_at timestamptz, merchant_status varchar
        )
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
            SELECT k.id, k.merchant_id, k.livemode, k.type, k.scopes, k.expires_at, k.revoked_at,
                   m.status
            FROM api_keys k JOIN merchants m ON m.id = k.merchant_id
            WHERE k.secret_hash = p_secret_hash
        $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION mboa_user_memberships(p_user_id text)
        RETURNS TABLE (merchant_id varchar, role varchar, merchant_name varchar, merchant_status varchar)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
            SELECT mm.merchant_id, mm.role, m.name, m.status
            FROM merchant_members mm JOIN merchants m ON m.id = mm.merchant_id
            WHERE mm.user_id = p_user_id
            ORDER BY mm.merchant_id
        $$
        """
    )
    for signature in ("mboa_authenticate_api_key(text)", "mboa_user_memberships(text)"):
        op.execute(f"ALTER FUNCTION {signature} OWNER TO {platform_role}")
        op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO {app_role}")


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS mboa_user_memberships(text)")
    op.execute("DROP TRIGGER IF EXISTS outbox_notify ON outbox")
    op.execute("DROP FUNCTION IF EXISTS mboa_outbox_notify()")
    op.execute("DROP FUNCTION IF EXISTS mboa_authenticate_api_key(text)")
    for table in (
        "outbox",
        "idempotency_keys",
        "customers",
        "user_sessions",
        "api_keys",
        "merchant_members",
        "merchants",
        "users",
    ):
        op.drop_table(table)
