"""Every magic number of the simulators (docs/sandbox.md) as a payout's destination, through the
public API: a real worker (the account-holder check, then the transfer), the simulators and
their callbacks to our callback route. Each case ends with the payout's status, its mapped
`failure_code`, the merchant's balance (a failure gives the reservation back, a payout still in
transit keeps it) and `ledger verify`. Numbers that wait are driven with the tests' time
controls (the in-transit status task and the send task's last try run by hand)."""

from __future__ import annotations

import asyncio
import dataclasses
import enum
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from mboa.config import Settings
from mboa.payouts.service import payout as payout_service
from mboa.payouts.tasks import SEND_ATTEMPTS, send
from mboa.postgres import Database
from mboa.providers.registry import ProviderRegistry
from mboa.simulator.engine import Engine
from mboa.simulator.run import RunningSimulators
from mboa.worker import TaskContext
from tests.helpers import Api, bearer
from tests.ledger.conftest import assert_verified
from tests.payouts.helpers import balance, create, fund
from tests.payouts.test_flow import event_types, settled

AMOUNT = 4000


class Drive(enum.Enum):
    wait = "wait"
    """The operator's answer (or its callback) arrives by itself."""
    status_task = "status_task"
    """No callback: `payouts.check_in_transit` (run by hand) reads the answer."""
    in_transit = "in_transit"
    """The operator never answers: read with backoff, the payout stays in transit."""
    last_try = "last_try"
    """The operator is down (503, or MTN's 500 that may hide a processed transfer): the send
    task's last try (run by hand, not after 31 s of backoff) decides nothing on a guess and
    leaves the payout in transit for the status reads (docs/payouts.md, step 2)."""
    last_try_then_wait = "last_try_then_wait"
    """The account-holder check is down: its last try skips it and the transfer decides."""


@dataclasses.dataclass(frozen=True)
class Case:
    phone: str
    status: str
    code: str | None = None
    drive: Drive = Drive.wait


def cameroon(prefix: str, *, not_found: str) -> list[Case]:
    """`PPP 0000 NN`, the same meaning on both simulators (MTN also checks the wallet first)."""
    return [
        Case(f"{prefix}00", "paid"),
        Case(f"{prefix}01", "failed", "operator_insufficient_funds"),
        Case(f"{prefix}02", "failed", "operator_refused"),  # rejected
        Case(f"{prefix}03", "failed", "operator_refused"),  # expired
        Case(f"{prefix}04", "in_transit", drive=Drive.in_transit),
        Case(f"{prefix}05", "paid"),
        Case(f"{prefix}06", "paid", drive=Drive.status_task),
        Case(f"{prefix}07", "paid"),
        Case(f"{prefix}08", "paid"),  # past the approval window, with no timeout of ours
        Case(f"{prefix}09", "in_transit", drive=Drive.last_try),
        Case(f"{prefix}10", "paid"),
        Case(f"{prefix}11", "failed", not_found),
        Case(f"{prefix}12", "paid"),
        Case(f"{prefix}13", "failed", "operator_refused"),  # nobody approves: expired
        Case(f"{prefix}14", "failed", "destination_limit_reached"),
    ]


MTN_SANDBOX = [
    # The account-holder check: 450 not found, 451 not active.
    Case("+46733123450", "failed", "destination_inactive"),
    Case("+46733123451", "failed", "destination_inactive"),
    # The check answers 500 NOT_ALLOWED…, INTERNAL_PROCESSING_ERROR: skipped, the transfer decides.
    Case("+46733123452", "failed", "operator_refused"),  # expired
    Case("+46733123453", "in_transit", drive=Drive.in_transit),  # ongoing
    Case("+46733123454", "paid"),  # delayed
    # The check answers 503 on every try; the transfer: NOT_ENOUGH_FUNDS.
    Case("+46733123455", "failed", "operator_insufficient_funds", Drive.last_try_then_wait),
    Case("+46733123456", "failed", "destination_limit_reached"),
    Case("+46733123457", "failed", "destination_not_found"),
    Case("+46733123458", "failed", "operator_refused"),  # 500 NOT_ALLOWED
    Case("+46733123459", "failed", "operator_refused"),  # 500 NOT_ALLOWED_TARGET_ENVIRONMENT
    Case("+46733123460", "failed", "operator_refused"),  # 500 INVALID_CALLBACK_URL_HOST
    Case("+46733123461", "failed", "operator_refused"),  # 500 INVALID_CURRENCY
    Case("+46733123462", "in_transit", drive=Drive.last_try),  # 500 INTERNAL_PROCESSING_ERROR
    Case("+46733123463", "in_transit", drive=Drive.last_try),  # 503 SERVICE_UNAVAILABLE
]

CASES = (
    cameroon("+2376700000", not_found="destination_inactive")  # MTN's account-holder check
    + cameroon("+2376900000", not_found="destination_not_found")  # Orange has none
    + MTN_SANDBOX
)


@pytest.fixture
async def tasks(worker: Settings, db: Database) -> AsyncIterator[TaskContext]:
    """For running the worker's tasks by hand, with its settings and adapters of its own."""
    providers = ProviderRegistry(worker.providers)
    try:
        yield TaskContext(worker, db, providers=providers)
    finally:
        await providers.aclose()


async def payout_row(owner: asyncpg.Connection, payout_id: str) -> asyncpg.Record:
    row = await owner.fetchrow(
        "SELECT p.status, p.disbursement_id, d.sent_at, d.status_checks, d.status AS transfer"
        " FROM payouts p JOIN disbursements d ON d.id = p.disbursement_id WHERE p.id = $1",
        payout_id,
    )
    assert row is not None
    return row


async def until(owner: asyncpg.Connection, payout_id: str, check: Any, within: float = 5) -> None:
    for _ in range(int(within / 0.05)):
        if check(await payout_row(owner, payout_id)):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not reached: {dict(await payout_row(owner, payout_id))}")


def operator_called(engine: Engine) -> bool:
    """The worker's first try reached the operator (the wallet check or the transfer)."""
    return any(
        "accountholder" in r.path or r.path.endswith(("/transfer", "/pay")) for r in engine.requests
    )


async def drive(
    case: Case,
    api: Api,
    key: str,
    tasks: TaskContext,
    owner: asyncpg.Connection,
    sims: RunningSimulators,
    payout_id: str,
) -> dict[str, Any]:
    engine = sims.orange if case.phone.startswith("+23769") else sims.mtn
    match case.drive:
        case Drive.wait:
            return await settled(api, key, payout_id, within=15)
        case Drive.status_task:
            await until(owner, payout_id, lambda r: r["sent_at"] is not None)
            await asyncio.sleep(0.4)  # paid at the operator, nobody told us
            assert (await payout_row(owner, payout_id))["status"] == "in_transit"
            for _ in range(40):  # what the cron task runs each minute
                if await payout_service.due(tasks.db, tasks.settings.payouts):
                    break
                await asyncio.sleep(0.05)
            return await settled(api, key, payout_id)
        case Drive.in_transit:
            await until(owner, payout_id, lambda r: r["sent_at"] is not None)
            await asyncio.sleep(0.3)  # the first status read is due 0.2 s after the transfer
            assert await payout_service.due(tasks.db, tasks.settings.payouts) == 1
            await until(owner, payout_id, lambda r: r["status_checks"] >= 2)
        case Drive.last_try | Drive.last_try_then_wait:
            for _ in range(100):
                if operator_called(engine):
                    break
                await asyncio.sleep(0.05)
            assert operator_called(engine)
            disbursement_id = (await payout_row(owner, payout_id))["disbursement_id"]
            last = dataclasses.replace(tasks, attempt=SEND_ATTEMPTS)
            answer = await send(last, {"disbursement_id": disbursement_id})
            if case.drive is Drive.last_try_then_wait:
                return await settled(api, key, payout_id)
            assert answer == "unknown"
            row = await payout_row(owner, payout_id)
            assert (row["transfer"], row["sent_at"]) == ("pending", None)
    response = await api.http.get(f"/v1/payouts/{payout_id}", headers=bearer(key))
    return dict(response.json())


@pytest.mark.parametrize("case", CASES, ids=[c.phone.lstrip("+") for c in CASES])
async def test_each_magic_number_as_a_destination(
    api: Api,
    db: Database,
    sims: RunningSimulators,
    tasks: TaskContext,
    owner_connection: asyncpg.Connection,
    settings: Settings,
    case: Case,
) -> None:
    account = await api.signup()
    key = account.secret_key
    available = await fund(db, account.merchant_id, 100_000)
    created = await create(api.http, key, amount=AMOUNT, destination={"phone": case.phone})
    assert created.status_code == 200, created.text
    payout_id = created.json()["id"]
    payout = await drive(case, api, key, tasks, owner_connection, sims, payout_id)
    assert payout["status"] == case.status, payout
    assert payout["failure_code"] == case.code, payout
    types = await event_types(owner_connection, payout_id)
    if case.status == "paid":
        assert payout["operator_transaction_id"]
        assert await balance(api.http, key) == (available - AMOUNT, 0)
        assert types.count("payout.paid") == 1
    elif case.status == "failed":
        assert payout["failure_message"]
        assert await balance(api.http, key) == (available, 0)  # the reservation came back
        assert types[-1] == "payout.failed"
    else:
        # Still in transit: the money stays reserved and nothing can cancel it any more.
        assert await balance(api.http, key) == (available - AMOUNT, AMOUNT)
        canceled = await api.http.post(f"/v1/payouts/{payout_id}/cancel", headers=bearer(key))
        assert canceled.status_code == 409, canceled.text
        assert types[-1] == "payout.updated"
    await assert_verified(db, settings)
