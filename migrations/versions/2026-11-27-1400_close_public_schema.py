"""No role but the owner may create objects in schema `public`.

Revision ID: 0009_close_public_schema
Revises: 0008_drop_ledger_transfer_0002
Create Date: 2026-11-27 14:00:00

The ledger's write functions run as `mboa_ledger` (SECURITY DEFINER) with
`search_path = pg_catalog, public`, and the row checks call functions and operators resolved by
type. PostgreSQL picks the operator whose argument types match best wherever it sits on the path,
so a role able to create an operator or function in `public` (say `>=(bigint,
ledger_nonnegative)`) could change what a check or a write function computes. PostgreSQL 15 and
newer no longer grant CREATE on `public` to PUBLIC; 13 and 14 do. This revision revokes it there
too; `ledger verify` reports any application role that can still create there.

The revoke needs the schema's owner or a superuser. With a migration role that is neither (a
managed PostgreSQL 13 or 14 whose `public` belongs to the provider's administrator) this revision
fails, saying so: the ledger's checks must not depend on nobody trying. An administrator runs
`REVOKE CREATE ON SCHEMA public FROM PUBLIC` once, and the migration then passes.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009_close_public_schema"
down_revision: str | None = "0008_drop_ledger_transfer_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
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


def downgrade() -> None:
    # PostgreSQL 15 and newer never granted it; 13 and 14 did. Nothing is put back: re-opening
    # the schema to every role is not a state worth restoring.
    pass
