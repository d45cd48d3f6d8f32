"""Every magic number of the simulators (docs/sandbox.md) as a payer, through the public API: a
real worker, the simulators and their callbacks to our callback route. Each case ends with the
intent's final status, the mapped `last_payment_error.code`, what the ledger holds for it and
`ledger verify`. Numbers that wait (pending forever, the operator down) are driven with the
tests' time controls (the janitor run by hand, `expires_at` moved, the last try run by hand)."""

from __future__ import annotations

import asyncio
import dataclasses
import enum

import asyncpg
import pytest

from mboa.config import Settings
from mboa.payments.tasks import INITIATE_ATTEMPTS, initiate, janitor
from mboa.postgres import Database
from mboa.simulator.run import RunningSimulators
from mboa.worker import TaskContext
from tests.helpers import Api
from tests.ledger.conftest import assert_verified
from tests.payments.test_flow import (
    balance,
    collections,
    create,
    event_types,
    janitor_finds,
    wait_for,
)

pytestmark = pytest.mark.usefixtures("ledger_db")

AMOUNT = 1500
NET = 1470  # the default plan: 2 %


class Drive(enum.Enum):
    wait = "wait"
    """The operator's answer (or its callback) arrives by itself."""
    janitor = "janitor"
    """No callback: the janitor's status read finds the answer."""
    expire = "expire"
    """Pending at the operator for ever: read with backoff, then canceled at `expires_at`."""
    expire_then_late = "expire_then_late"
    """Canceled at `expires_at`, then the operator's success arrives (docs/payments.md)."""
    last_try = "last_try"
    """Every create is a 503: the task's last try (run by hand, not after 31 s of backoff)."""
    unknown = "unknown"
    """A 500 the operator never processed: status reads until `unknown_attempt_fail_after`."""


@dataclasses.dataclass(frozen=True)
class Case:
    phone: str
    status: str
    code: str | None = None
    drive: Drive = Drive.wait


def cameroon(prefix: str) -> list[Case]:
    """`PPP 0000 NN`, the same meaning on both simulators."""
    return [
        Case(f"{prefix}00", "succeeded"),
        Case(f"{prefix}01", "requires_payment_method", "insufficient_funds"),
        Case(f"{prefix}02", "requires_payment_method", "payer_rejected"),
        Case(f"{prefix}03", "requires_payment_method", "payer_timeout"),
        Case(f"{prefix}04", "canceled", drive=Drive.expire),
        Case(f"{prefix}05", "succeeded"),
        Case(f"{prefix}06", "succeeded", drive=Drive.janitor),
        Case(f"{prefix}07", "succeeded"),
        Case(f"{prefix}08", "canceled", drive=Drive.expire_then_late),
        Case(f"{prefix}09", "requires_payment_method", "operator_unavailable", Drive.last_try),
        Case(f"{prefix}10", "succeeded"),
        Case(f"{prefix}11", "requires_payment_method", "payer_not_found"),
        Case(f"{prefix}12", "succeeded"),
        # Waits for a click on the phone page; nobody clicks, the approval window ends.
        Case(f"{prefix}13", "requires_payment_method", "payer_timeout"),
        Case(f"{prefix}14", "requires_payment_method", "limit_exceeded"),
    ]


MTN_SANDBOX = [
    # FAILED INTERNAL_PROCESSING_ERROR: the operator's failure, worth another try.
    Case("+46733123450", "requires_payment_method", "operator_unavailable"),
    Case("+46733123451", "requires_payment_method", "payer_rejected"),
    Case("+46733123452", "requires_payment_method", "payer_timeout"),
    Case("+46733123453", "canceled", drive=Drive.expire),
    Case("+46733123454", "succeeded"),
    Case("+46733123455", "requires_payment_method", "payer_not_found"),
    # PAYEE_NOT_ALLOWED_TO_RECEIVE on a request to pay: the payee is our merchant account.
    Case("+46733123456", "requires_payment_method", "operator_refused"),
    Case("+46733123457", "requires_payment_method", "operator_refused"),  # 500 NOT_ALLOWED
    Case("+46733123458", "requires_payment_method", "operator_refused"),  # …TARGET_ENVIRONMENT
    Case("+46733123459", "requires_payment_method", "operator_refused"),  # …CALLBACK_URL_HOST
    Case("+46733123460", "requires_payment_method", "operator_refused"),  # INVALID_CURRENCY
    Case("+46733123461", "requires_payment_method", "operator_unavailable", Drive.unknown),
    Case("+46733123462", "requires_payment_method", "operator_unavailable", Drive.last_try),
    Case("+46733123463", "requires_payment_method", "payer_timeout"),  # COULD_NOT_PERFORM
]

CASES = cameroon("+2376700000") + cameroon("+2376900000") + MTN_SANDBOX


async def drive(
    case: Case,
    api: Api,
    key: str,
    worker: TaskContext,
    owner: asyncpg.Connection,
    sims: RunningSimulators,
    intent: dict[str, object],
) -> dict[str, object]:
    intent_id = str(intent["id"])
    statuses = {"succeeded", "requires_payment_method", "canceled"}
    match case.drive:
        case Drive.wait:
            return await wait_for(api.http, key, intent_id, statuses, within=15)
        case Drive.janitor:
            await asyncio.sleep(0.4)  # approved at the operator, nobody told us
            still = await wait_for(api.http, key, intent_id, {"processing"})
            assert still["latest_attempt"]["status"] == "pending"
            assert await janitor_finds(worker) == (0, 1)
            return await wait_for(api.http, key, intent_id, statuses)
        case Drive.expire:
            assert await janitor_finds(worker) == (0, 1)
            await asyncio.sleep(0.3)  # the read found it pending and backed off
            still = await wait_for(api.http, key, intent_id, {"processing"})
            assert still["latest_attempt"]["status"] == "pending"
            await owner.execute("UPDATE payment_intents SET expires_at = now()")
            assert (await janitor(worker, {}))[0] == 1
            return await wait_for(api.http, key, intent_id, statuses)
        case Drive.expire_then_late:
            await asyncio.sleep(0.2)
            await owner.execute("UPDATE payment_intents SET expires_at = now()")
            assert (await janitor(worker, {}))[0] == 1
            # late_success_seconds = 0.9 in the simulators' test settings.
            return await wait_for(
                api.http, key, intent_id, {"canceled"}, attempt_status="succeeded"
            )
        case Drive.last_try:
            engine = sims.orange if case.phone.startswith("+23769") else sims.mtn
            for _ in range(200):  # the worker's first try met the outage
                if engine.attempts:
                    break
                await asyncio.sleep(0.05)
            assert engine.attempts
            attempt_id = intent["latest_attempt"]["id"]  # type: ignore[index]
            last = dataclasses.replace(worker, attempt=INITIATE_ATTEMPTS)
            await initiate(last, {"attempt_id": attempt_id})
            assert not engine.transactions  # the operator never took it
            return await wait_for(api.http, key, intent_id, statuses)
        case Drive.unknown:
            await asyncio.sleep(1.0)  # unknown_attempt_fail_after_seconds
            assert (await janitor_finds(worker))[1] >= 1
            return await wait_for(api.http, key, intent_id, statuses)


@pytest.mark.parametrize("case", CASES, ids=[c.phone.lstrip("+") for c in CASES])
async def test_each_magic_number_through_the_api(
    api: Api,
    worker: TaskContext,
    owner_connection: asyncpg.Connection,
    sims: RunningSimulators,
    db: Database,
    settings: Settings,
    case: Case,
) -> None:
    account = await api.signup()
    key = account.secret_key
    intent = await create(api.http, key, phone=case.phone, amount=AMOUNT)
    assert intent["status"] == "processing"
    final = await drive(case, api, key, worker, owner_connection, sims, intent)
    assert final["status"] == case.status, final
    attempt = final["latest_attempt"]
    error = final["last_payment_error"]
    types = await event_types(owner_connection, intent["id"])
    if case.code is None:
        assert error is None, error
    else:
        assert error is not None, final
        assert error["code"] == case.code, error
        assert error["message"] != error["message_fr"]
        assert attempt["status"] == "failed"
        assert types[-1] == "payment_intent.payment_failed"
    if case.status == "succeeded":
        assert attempt["status"] == "succeeded"
        assert attempt["operator_transaction_id"]
        assert (final["amount_received"], final["net"]) == (AMOUNT, NET)
        assert types.count("payment_intent.succeeded") == 1
        assert await collections(owner_connection, intent["id"]) == 1
        assert await balance(api.http, key) == {"pending": NET, "available": 0}
    elif case.drive is Drive.expire_then_late:
        # Canceled, and the money that arrived anyway is counted once (then refunded).
        assert final["cancellation_reason"] == "expired"
        assert attempt["status"] == "succeeded"
        assert final["amount_received"] == AMOUNT
        assert await collections(owner_connection, intent["id"]) == 1
        assert "payment_intent.late_success" in types
    else:
        assert final["amount_received"] == 0
        assert await collections(owner_connection, intent["id"]) == 0
        assert await balance(api.http, key) == {"pending": 0, "available": 0}
        if case.status == "canceled":
            assert final["cancellation_reason"] == "expired"
            assert attempt["status"] == "pending"  # the operator never answered
            assert types[-1] == "payment_intent.canceled"
    await assert_verified(db, settings)
