"""The public pages' GETs in one statement each.

Revision ID: 0012_checkout_page
Revises: 0011_dashboard
Create Date: 2026-12-06 11:00:00

Two definer functions (`checkout/sql/page.sql`) owned by the platform role: a payment page's
data for a matching session id and URL secret (`mboa_checkout_page`), and a payment link's page
(`mboa_payment_link_page`). Each returns the one row its URL names, with its merchant's name,
and nothing of any other row (docs/checkout.md, "Who may read what"; docs/benchmarks.md,
"Checkout").
"""

from collections.abc import Sequence

from alembic import op

from mboa.kit.migration import function_privileges, load_sql, roles

revision: str = "0012_checkout_page"
down_revision: str | None = "0011_dashboard"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQL_FILES = {
    "checkout/sql/page.sql": "aaf2378ef59c660ba42881c44e07158210de77d29a3e9bd0beb1fcf811f9e056",
}
"""The SQL files this revision runs, with the digest (`sql_digest`) each had when it was written."""

PAGE_FUNCTIONS = (
    "mboa_checkout_page(text, text)",
    "mboa_payment_link_page(text)",
)


def upgrade() -> None:
    app_role, platform_role = roles()
    load_sql("checkout/sql/page.sql")
    for signature in PAGE_FUNCTIONS:
        function_privileges(signature, owner=platform_role, execute=app_role)


def downgrade() -> None:
    for signature in PAGE_FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {signature}")
