"""One table for every transfer to a wallet; refunds' funding fields; operator discrepancies.

Revision ID: 0007_disbursements
Revises: 0006_events
Create Date: 2026-12-05 11:00:00

- `refund_disbursements` folds into `disbursements` (docs/disbursements.md): the rows move with
  their ids (`rdsb_…`), operator references and status-read schedule unchanged, so a retry or a
  late callback of a transfer already sent still finds it and re-sends the same reference. A
  read-only view of the old name (refund rows only, no grant to any application role) keeps
  ad-hoc queries and the payments' ordering test working until they name the table.
- `refunds.drawn_from_pending`, `refunds.drawn_until`: what a refund drew on its payment's
  pending funds, deferred again should it fail (docs/refunds.md, "Funding").
- `operator_discrepancies`: operator reports contradicting a final state (merchant-owned: RLS).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from mboa.kit.migration import enable_tenant_rls, grant

revision: str = "0007_disbursements"
down_revision: str | None = "0006_events"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    "id, source_type, source_id, provider, phone, amount, currency, status, operator_reference,"
    " operator_transaction_id, failure_code, raw_status, raw_reason, details, sent_at,"
    " finished_at, next_check_at, status_checks, merchant_id, livemode, created_at"
)


def upgrade() -> None:
    op.execute(f"INSERT INTO disbursements ({COLUMNS}) SELECT {COLUMNS} FROM refund_disbursements")
    op.drop_table("refund_disbursements")
    op.execute(
        "CREATE VIEW refund_disbursements AS"
        f" SELECT {COLUMNS} FROM disbursements WHERE source_type = 'refund'"
    )

    op.add_column(
        "refunds",
        sa.Column("drawn_from_pending", sa.BigInteger(), server_default="0", nullable=False),
    )
    op.add_column("refunds", sa.Column("drawn_until", sa.DateTime(timezone=True)))

    op.create_table(
        "operator_discrepancies",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("provider", sa.String(20), nullable=False),
        sa.Column("object_id", sa.String(40), nullable=False),
        sa.Column("transfer_id", sa.String(40), nullable=False),
        sa.Column("operator_reference", sa.String(200)),
        sa.Column("our_status", sa.String(20), nullable=False),
        sa.Column("our_amount", sa.BigInteger(), nullable=False),
        sa.Column("reported_status", sa.String(20), nullable=False),
        sa.Column("reported_amount", sa.BigInteger()),
        sa.Column("reported_raw_status", sa.String(100)),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("merchant_id", sa.String(40), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name="pk_operator_discrepancies"),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name="fk_operator_discrepancies_merchant_id_merchants",
        ),
        sa.UniqueConstraint(
            "object_id",
            "kind",
            "reported_status",
            name="uq_operator_discrepancies_object_id_kind_reported_status",
        ),
    )
    op.create_index(
        "ix_operator_discrepancies_tenant",
        "operator_discrepancies",
        ["merchant_id", "livemode", "id"],
    )
    grant("operator_discrepancies", app="SELECT")
    enable_tenant_rls("operator_discrepancies")


def downgrade() -> None:
    op.drop_table("operator_discrepancies")
    op.drop_column("refunds", "drawn_until")
    op.drop_column("refunds", "drawn_from_pending")
    op.execute("DROP VIEW refund_disbursements")
    op.create_table(
        "refund_disbursements",
        *[sa.Column(c.name, c.type, nullable=c.nullable) for c in _disbursement_columns()],
        sa.PrimaryKeyConstraint("id", name="pk_refund_disbursements"),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name="fk_refund_disbursements_merchant_id_merchants"
        ),
        sa.UniqueConstraint(
            "provider",
            "operator_reference",
            name="uq_refund_disbursements_provider_operator_reference",
        ),
    )
    op.create_index("ix_refund_disbursements_source_id", "refund_disbursements", ["source_id"])
    op.create_index(
        "ix_refund_disbursements_due", "refund_disbursements", ["status", "next_check_at"]
    )
    op.execute(
        f"INSERT INTO refund_disbursements ({COLUMNS})"
        f" SELECT {COLUMNS} FROM disbursements WHERE source_type = 'refund'"
    )
    op.execute("DELETE FROM disbursements WHERE source_type = 'refund'")
    grant("refund_disbursements", app="SELECT, INSERT, UPDATE")
    enable_tenant_rls("refund_disbursements")


def _disbursement_columns() -> list[sa.Column]:  # type: ignore[type-arg]
    """The columns of `disbursements` as revision 0005 created them for refunds."""
    table = sa.Table("disbursements", sa.MetaData(), autoload_with=op.get_bind())
    return list(table.columns)
