"""Provider events: inbound operator callbacks, stored and de-duplicated before confirmation.

Revision ID: 0003_provider_events
Revises: 0002_ledger
Create Date: 2026-11-27 06:00:00

A callback is a hint (docs/providers-wire.md §1.9, §2.1, §2.2): nobody signs it and MTN sends it once,
so it is stored first, then confirmed by a status read. Not merchant-owned yet (the attempt ->
merchant link comes with payments), so no row-level security: only the platform role touches it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from mboa.kit.migration import grant

revision: str = "0003_provider_events"
down_revision: str | None = "0002_ledger"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VERIFICATIONS = ("not_applicable", "unchecked", "passed", "failed")
RESULTS = (
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


def upgrade() -> None:
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
        sa.CheckConstraint(_in("verification", VERIFICATIONS), name="verification_valid"),
        sa.CheckConstraint(f"result IS NULL OR {_in('result', RESULTS)}", name="result_valid"),
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


def downgrade() -> None:
    op.drop_table("provider_events")
