"""Ledger: a collection is settled or reversed, never both; nothing to settle is not queued.

Revision ID: 0011_ledger_settled_or_reversed
Revises: 0010_ledger_search_path_pg_temp
Create Date: 2026-11-27 16:00:00

Until now a reversal of a collection whose net had already been settled (moved from pending to
available) went through whenever the merchant's pending balance held enough of other
collections' money: it took that money, the merchant kept the settled net, and the later
settlement of those other collections was refused on every run. The other order was closed only
by the settlement queue (a reversal removes its collection from it), not by the database.

- The unique index `uq_ledger_transactions_settled_or_reversed` allows one `settle` or
  `reverse` child per transaction, whatever the order and the isolation level: two concurrent
  writers cannot both commit (the loser's header is skipped and its call retried, SQLSTATE
  40001, and the retry is refused with its status).
- `mboa_ledger_apply` answers `already_settled` to such a reversal (the merchant's money moves
  back by a refund instead) and `already_reversed` to such a settlement.
- A collection whose net is zero (the fee took it all) is no longer queued for settlement: there
  is nothing to move, and the settlement job skipped such rows without removing them, so enough
  of them at the head of the queue stopped every settlement after them. The ones queued are
  removed.

Rolling out: building the index reads `ledger_transactions` under a lock that blocks writes
(small: only rows with a `settle` or `reverse` link enter it). It fails if the journal already
holds a collection both settled and reversed; `ledger verify` (`settled_or_reversed`) names it.
"""

from collections.abc import Sequence

from alembic import op

from mboa.kit.migration import revision_module

revision: str = "0011_ledger_settled_or_reversed"
down_revision: str | None = "0010_ledger_search_path_pg_temp"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPLY_0002 = revision_module("2026-11-27-0500_ledger.py").APPLY_SQL

# Revision 0010 set this search path on every write function; CREATE OR REPLACE would reset it.
_SEARCH_PATH = (
    "SET search_path = pg_catalog, public\n",
    "SET search_path = pg_catalog, public, pg_temp\n",
)
_REPLACE = ("CREATE FUNCTION mboa_ledger_apply(", "CREATE OR REPLACE FUNCTION mboa_ledger_apply(")
_REVERSE_AFTER_SETTLE = (
    """          bad := 'not_reversible';
        -- A reversal is exactly the negation of the original's posted entries.
""",
    """          bad := 'not_reversible';
        -- A settled collection's net has left pending: the merchant is repaid by a refund.
        ELSIF (t_parent[i] || '/settle') = ANY(used_links) OR EXISTS (
            SELECT 1 FROM ledger_transactions c
            WHERE c.parent_id = t_parent[i] AND c.link = 'settle') THEN
          bad := 'already_settled';
        -- A reversal is exactly the negation of the original's posted entries.
""",
)
_SETTLE_AFTER_REVERSE = (
    """        IF pr.phase <> 'posted' OR t_phase[i] <> 'posted' THEN bad := 'invalid'; END IF;
""",
    """        IF pr.phase <> 'posted' OR t_phase[i] <> 'posted' THEN
          bad := 'invalid';
        ELSIF (t_parent[i] || '/reverse') = ANY(used_links) OR EXISTS (
            SELECT 1 FROM ledger_transactions c
            WHERE c.parent_id = t_parent[i] AND c.link = 'reverse') THEN
          bad := 'already_reversed';
        END IF;
""",
)
_QUEUE_ONLY_A_NET = (
    "WHERE u.s = 'created' AND u.av IS NOT NULL AND u.net IS NOT NULL AND u.mer IS NOT NULL;",
    "WHERE u.s = 'created' AND u.av IS NOT NULL AND u.net > 0 AND u.mer IS NOT NULL;",
)


def _edited(sql: str, *edits: tuple[str, str]) -> str:
    for old, new in edits:
        if sql.count(old) != 1:
            raise RuntimeError(f"revision 0002's mboa_ledger_apply no longer contains {old!r}")
        sql = sql.replace(old, new)
    return sql


APPLY_SQL = _edited(
    APPLY_0002,
    _REPLACE,
    _SEARCH_PATH,
    _REVERSE_AFTER_SETTLE,
    _SETTLE_AFTER_REVERSE,
    _QUEUE_ONLY_A_NET,
)


def upgrade() -> None:
    op.execute(
        "CREATE UNIQUE INDEX uq_ledger_transactions_settled_or_reversed"
        " ON ledger_transactions (parent_id) WHERE link IN ('settle', 'reverse')"
    )
    op.execute(APPLY_SQL)
    op.execute("DELETE FROM ledger_settlement_queue WHERE amount <= 0")


def downgrade() -> None:
    op.execute(_edited(APPLY_0002, _REPLACE, _SEARCH_PATH))
    op.execute("DROP INDEX uq_ledger_transactions_settled_or_reversed")
