"""Events: per-object sequence numbers, stream positions, the request that caused each event.

Revision ID: 0006_events
Revises: 0005_refunds
Create Date: 2026-12-05 10:00:00

Issue 14 points 1 and 5 (docs/events.md). `events` gains `sequence` and `xact_id`, both set by
the `event_sequence` trigger (mboa/events/sql/event_sequence.sql) so that no writer has to, and
`request_id` / `idempotency_key`. `event_sequences` keeps each object's last sequence number
(merchant-owned: row-level security as every tenant table). Existing events are numbered in id
order, and their `xact_id` is 0: the stream serves them as already committed.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from mboa.kit.migration import enable_tenant_rls, grant, load_sql

revision: str = "0006_events"
down_revision: str | None = "0005_refunds"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQL_FILES = {
    "events/sql/event_sequence.sql": "ba43e19a84045a144b1d02d174bb53723875dd8899a0b261ce764ec5433838f5",
}
"""The SQL files this revision runs, with the digest (`sql_digest`) each had when it was written."""


def upgrade() -> None:
    op.create_table(
        "event_sequences",
        sa.Column("object_id", sa.String(40), nullable=False),
        sa.Column("merchant_id", sa.String(40), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("last_sequence", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("object_id", name="pk_event_sequences"),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name="fk_event_sequences_merchant_id_merchants"
        ),
    )
    grant("event_sequences", app="SELECT, INSERT, UPDATE")
    enable_tenant_rls("event_sequences")

    op.add_column("events", sa.Column("sequence", sa.BigInteger()))
    op.add_column("events", sa.Column("xact_id", sa.BigInteger()))
    op.add_column("events", sa.Column("request_id", sa.String(40)))
    op.add_column("events", sa.Column("idempotency_key", sa.String(255)))
    op.execute(
        "UPDATE events e SET xact_id = 0, sequence = n.sequence FROM (SELECT id,"
        " row_number() OVER (PARTITION BY object_id ORDER BY id) AS sequence FROM events) n"
        " WHERE n.id = e.id"
    )
    op.execute(
        "INSERT INTO event_sequences (object_id, merchant_id, livemode, last_sequence)"
        " SELECT object_id, min(merchant_id), bool_or(livemode), max(sequence) FROM events"
        " GROUP BY object_id"
    )
    op.alter_column("events", "sequence", nullable=False)
    op.alter_column("events", "xact_id", nullable=False)
    op.create_index(
        "ix_events_stream",
        "events",
        ["merchant_id", "xact_id", "id"],
        postgresql_where=sa.text("NOT livemode"),
    )
    load_sql("events/sql/event_sequence.sql")


def downgrade() -> None:
    op.execute("DROP TRIGGER event_sequence ON events")
    op.execute("DROP FUNCTION mboa_event_sequence()")
    op.drop_index("ix_events_stream", table_name="events")
    for column in ("idempotency_key", "request_id", "xact_id", "sequence"):
        op.drop_column("events", column)
    op.drop_table("event_sequences")
