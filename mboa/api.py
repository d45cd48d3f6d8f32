"""The /v1 API: one line per domain.

Each domain router is mounted on the app directly under `/v1` (not through an intermediate
router): FastAPI matches nested routers level by level, and one level less is measurably cheaper
on every request.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI
from starlette.responses import Response
from starlette.staticfiles import StaticFiles

from mboa.admin.endpoints import router as admin_router
from mboa.api_keys.endpoints import router as api_keys_router
from mboa.audit.endpoints import admin_router as audit_admin_router
from mboa.audit.endpoints import router as audit_router
from mboa.checkout.endpoints import links as payment_links_router
from mboa.checkout.endpoints import sessions as checkout_sessions_router
from mboa.checkout.pages import router as checkout_pages_router
from mboa.checkout.rendering import STATIC_DIR as CHECKOUT_STATIC_DIR
from mboa.checkout.rendering import STATIC_PATH as CHECKOUT_STATIC_PATH
from mboa.console.pages import router as console_router
from mboa.console.security import router as console_security_router
from mboa.console.staff import router as console_staff_router
from mboa.customers.endpoints import router as customers_router
from mboa.dashboard.account_pages import router as dashboard_account_router
from mboa.dashboard.activate import router as dashboard_activate_router
from mboa.dashboard.developers import router as dashboard_developers_router
from mboa.dashboard.money_pages import ledger_router as dashboard_money_ledger_router
from mboa.dashboard.money_pages import router as dashboard_money_router
from mboa.dashboard.pages import ledger_router as dashboard_ledger_router
from mboa.dashboard.pages import router as dashboard_router
from mboa.dashboard.rendering import STATIC_DIR as DASHBOARD_STATIC_DIR
from mboa.dashboard.rendering import STATIC_PATH as DASHBOARD_STATIC_PATH
from mboa.dashboard.team_pages import public_router as dashboard_public_router
from mboa.dashboard.team_pages import router as dashboard_team_router
from mboa.events.endpoints import router as events_router
from mboa.kyc.endpoints import router as kyc_router
from mboa.ledger.endpoints import router as ledger_router
from mboa.merchants.endpoints import router as merchants_router
from mboa.payments.endpoints import router as payments_router
from mboa.payouts.endpoints import admin_router as payouts_admin_router
from mboa.payouts.endpoints import router as payouts_router
from mboa.payouts.endpoints import writes as payouts_writes_router
from mboa.provider_events.endpoints import router as provider_events_router
from mboa.receipts.endpoints import router as receipts_router
from mboa.refunds.endpoints import router as refunds_router  # refunds (issue 13 point 4)
from mboa.refunds.endpoints import writes as refunds_writes_router
from mboa.storage.endpoints import router as storage_router
from mboa.users.endpoints import me_router
from mboa.users.endpoints import router as users_router
from mboa.webhooks.endpoints import events_router as webhook_events_router
from mboa.webhooks.endpoints import router as webhook_endpoints_router

PREFIX = "/v1"
# The busiest routes first: matching stops at the first router that matches.
ROUTERS: list[APIRouter] = [
    payments_router,
    customers_router,
    ledger_router,
    merchants_router,
    api_keys_router,
    users_router,
    me_router,
    provider_events_router,
    admin_router,
    # payouts (issue 13 point 5)
    payouts_router,
    payouts_writes_router,
    payouts_admin_router,
    # refunds (issue 13 point 4)
    refunds_router,
    refunds_writes_router,
    # events (issue 14)
    events_router,
    # webhooks (issue 14)
    webhook_endpoints_router,
    webhook_events_router,
    # checkout (issue 15)
    checkout_sessions_router,
    payment_links_router,
    # going live (issue 17)
    kyc_router,
    # receipts (issue 17)
    receipts_router,
    # audit log (issue 17 item 4)
    audit_router,
    audit_admin_router,
]


def include(app: FastAPI) -> None:
    # The public payment pages (`/pay/…`, `/l/…`, outside the API's prefix) right after the
    # payment intents: FastAPI tries every route of every router in turn, and a page behind
    # the whole API paid ~70 failed matches per view (docs/benchmarks.md, "Checkout").
    app.include_router(ROUTERS[0], prefix=PREFIX)
    app.include_router(checkout_pages_router)
    for router in ROUTERS[1:]:
        app.include_router(router, prefix=PREFIX)
    app.mount(CHECKOUT_STATIC_PATH, CachedStaticFiles(directory=CHECKOUT_STATIC_DIR))
    # The merchant dashboard (`/dashboard`, issue 16) and its assets.
    app.include_router(dashboard_router)
    app.include_router(dashboard_ledger_router)
    app.include_router(dashboard_account_router)
    app.include_router(dashboard_developers_router)
    app.include_router(dashboard_team_router)
    app.include_router(dashboard_public_router)
    app.include_router(dashboard_money_router)
    app.include_router(dashboard_money_ledger_router)
    # Going live (issue 17): the owner's page and the staff console.
    app.include_router(dashboard_activate_router)
    app.include_router(console_router)
    app.include_router(console_security_router)
    app.include_router(console_staff_router)
    # Signed file URLs (`/files/…`, docs/storage.md).
    app.include_router(storage_router)
    app.mount(DASHBOARD_STATIC_PATH, CachedStaticFiles(directory=DASHBOARD_STATIC_DIR))


class CachedStaticFiles(StaticFiles):
    """Our page assets: each URL carries the file's hash (`?v=`), so they may be cached a year."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["cache-control"] = "public, max-age=31536000, immutable"
        return response
