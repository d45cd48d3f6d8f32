"""The /v1 router: one line per domain."""

from __future__ import annotations

from fastapi import APIRouter

from mboa.admin.endpoints import router as admin_router
from mboa.api_keys.endpoints import router as api_keys_router
from mboa.customers.endpoints import router as customers_router
from mboa.ledger.endpoints import router as ledger_router
from mboa.merchants.endpoints import router as merchants_router
from mboa.providers.endpoints import router as providers_router
from mboa.users.endpoints import me_router
from mboa.users.endpoints import router as users_router

router = APIRouter(prefix="/v1")
router.include_router(users_router)
router.include_router(me_router)
router.include_router(merchants_router)
router.include_router(api_keys_router)
router.include_router(customers_router)
router.include_router(ledger_router)
router.include_router(admin_router)
router.include_router(providers_router)
