"""Merchant logos in object storage; the payment pages' functions return the logo.

Revision ID: 0016_storage
Revises: 0015_kyc
Create Date: 2026-12-07 10:00:00

`merchants.logo_key`: the merchant's logo as an object storage key (`merchants/<id>/logo/…`,
docs/storage.md), NULL without one. The payment pages' definer functions
(`checkout/sql/page.sql`) return it as a new last column, so a page view stays one statement;
a function's result type cannot be changed in place, so both are dropped and created again.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from mboa.kit.migration import function_privileges, load_sql, roles

revision: str = "0016_storage"
down_revision: str | None = "0015_kyc"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQL_FILES = {
    "checkout/sql/page.sql": "0715c0ccdaedb870b6b01480993595cc074ef3c0a7942fde512d8fdcfd813bfa",
}
"""The SQL files this revision runs, with the digest (`sql_digest`) each had when it was written."""

PAGE_FUNCTIONS = (
    "mboa_checkout_page(text, text)",
    "mboa_payment_link_page(text)",
)


def upgrade() -> None:
    app_role, platform_role = roles()
    op.add_column("merchants", sa.Column("logo_key", sa.String(length=200), nullable=True))
    for signature in PAGE_FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {signature}")
    load_sql("checkout/sql/page.sql")
    for signature in PAGE_FUNCTIONS:
        function_privileges(signature, owner=platform_role, execute=app_role)


def downgrade() -> None:
    # The functions read the column: they go first (0012's downgrade drops them anyway; an
    # upgrade from 0012 again loads the page.sql of its time from the working tree).
    for signature in PAGE_FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {signature}")
    op.drop_column("merchants", "logo_key")
