"""Refunds to every magic number a payment can succeed from (docs/sandbox.md), through the public
API: the payment, then a full refund right after the sale, with a real worker, the simulators
and their callbacks. A refund goes back to the payer's wallet, so the numbers a payment never
succeeds from (01 to 04, 09, 11, 14, MTN's 46733123450 to 453 and 455 to 463) can never be
refunded; their transfer outcomes are covered as payout destinations
(tests/payouts/test_magic_numbers.py). Each case ends with the refund's status, its mapped
`failure_reason`, the merchant's balance (a failure puts the payment's net back where it was
drawn from) and `ledger verify`."""

from __future__ import annotations

import asyncio
import dataclasses
import enum
from typing import Any

import asyncpg
import httpx
import pytest

from mboa.config import Settings
from mboa.postgres import Database
from mboa.refunds.tasks import check_pending
from mboa.simulator.engine import Engine
from mboa.simulator.run import RunningSimulators
from mboa.worker import TaskContext
from tests.helpers import Api
from tests.ledger.conftest import assert_verified
from tests.payments.test_flow import balance, create, event_types, janitor_finds, wait_for
from tests.refunds.test_flow import intent_of, refund, wait_refund

pytestmark = pytest.mark.usefixtures("ledger_db")

NET = 1470  # 1500 less the default plan's 2 %


class Drive(enum.Enum):
    wait = "wait"
    """The operator's answer (or its callback) arrives by itself."""
    status_task = "status_task"
    """No callback: `refunds.check_pending` (run by hand) reads the answer."""
    phone_page = "phone_page"
    """13: the payer approves the payment on the phone page, nobody approves the refund's
    transfer there, and it expires after the approval window."""
    float_empty = "float_empty"
    """Our disbursement account at the operator lacks the amount (a real balance, not a
    number)."""


@dataclasses.dataclass(frozen=True)
class Case:
    phone: str
    status: str
    code: str | None = None
    drive: Drive = Drive.wait


def cameroon(prefix: str) -> list[Case]:
    return [
        Case(f"{prefix}00", "succeeded"),
        Case(f"{prefix}00", "failed", "operator_insufficient_funds", Drive.float_empty),
        Case(f"{prefix}05", "succeeded"),  # delayed success
        Case(f"{prefix}06", "succeeded", drive=Drive.status_task),  # callback lost
        Case(f"{prefix}07", "succeeded"),  # callback sent twice
        Case(f"{prefix}08", "succeeded"),  # success past the approval window
        Case(f"{prefix}10", "succeeded"),  # first answer after our timeout, then a retry
        Case(f"{prefix}12", "succeeded"),  # first call a 503, then a retry
        Case(f"{prefix}13", "failed", "operator_refused", Drive.phone_page),  # expired
    ]


CASES = [
    *cameroon("+2376700000"),
    *cameroon("+2376900000"),
    Case("+46733123454", "succeeded"),  # MTN sandbox: delayed, as a payer and as a payee
]
IDS = [f"{c.phone.lstrip('+')}-{c.drive.value}" for c in CASES]


def engine_of(sims: RunningSimulators, phone: str) -> Engine:
    return sims.orange if phone.startswith("+23769") else sims.mtn


async def pending_transactions(engine: Engine, kind: str) -> list[Any]:
    for _ in range(200):
        found = [t for t in engine.transactions.values() if t.kind == kind]
        if found:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {kind} at the simulator")


async def paid(
    api: Api, key: str, worker: TaskContext, sims: RunningSimulators, case: Case
) -> dict[str, Any]:
    intent = await create(api.http, key, phone=case.phone)
    if case.drive is Drive.status_task:
        assert await janitor_finds(worker) == (0, 1)  # the payment's callback is lost too
    if case.drive is Drive.phone_page:
        engine = engine_of(sims, case.phone)
        (collection,) = await pending_transactions(engine, "collection")
        engine.approve(collection)
    return await wait_for(api.http, key, intent["id"], {"succeeded"}, within=15)


async def settle_refund(
    api: Api, key: str, worker: TaskContext, case: Case, refund_id: str
) -> dict[str, Any]:
    if case.drive is Drive.status_task:
        await asyncio.sleep(0.4)  # the transfer succeeded at the operator, nobody told us
        for _ in range(40):  # what the cron task runs each minute
            if await check_pending(worker, {}):
                break
            await asyncio.sleep(0.05)
    return await wait_refund(api.http, key, refund_id, {"succeeded", "failed"}, within=15)


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_a_refund_to_each_magic_number_a_payment_succeeds_from(
    api: Api,
    worker: TaskContext,
    sims: RunningSimulators,
    owner_connection: asyncpg.Connection,
    db: Database,
    settings: Settings,
    case: Case,
) -> None:
    account = await api.signup()
    key = account.secret_key
    intent = await paid(api, key, worker, sims, case)
    engine = engine_of(sims, case.phone)
    if case.drive is Drive.float_empty:
        async with httpx.AsyncClient(base_url=engine_url(sims, engine)) as control:
            emptied = await control.put("/_sim/accounts/disbursement", json={"balance": 0})
            assert emptied.status_code == 200, emptied.text
    created = await refund(api.http, key, payment_intent=intent["id"])
    assert created.status_code == 200, created.text
    assert created.json()["status"] == "pending"
    done = await settle_refund(api, key, worker, case, created.json()["id"])
    assert done["status"] == case.status, done
    assert done["failure_reason"] == case.code, done
    types = await event_types(owner_connection, done["id"])
    transfers = [t for t in engine.transactions.values() if t.kind != "collection"]
    after = await intent_of(api.http, key, intent["id"])
    if case.status == "succeeded":
        assert done["operator_transaction_id"]
        assert types == ["refund.created", "refund.succeeded"]
        assert [(t.amount, t.state) for t in transfers] == [(1500, "succeeded")]
        assert after["amount_refunded"] == 1500
        assert await balance(api.http, key) == {"pending": 0, "available": 0}
    else:
        assert done["failed_at"] is not None
        assert types == ["refund.created", "refund.failed"]
        assert all(t.state == "failed" for t in transfers)
        assert after["amount_refunded"] == 0
        # The reservation went back to the payment's pending funds it was drawn from.
        assert await balance(api.http, key) == {"pending": NET, "available": 0}
    await assert_verified(db, settings)


def engine_url(sims: RunningSimulators, engine: Engine) -> str:
    return sims.orange_url if engine is sims.orange else sims.mtn_url
