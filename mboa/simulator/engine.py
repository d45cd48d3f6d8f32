"""The state of one simulated operator: wallets, accounts, transactions, timers, callbacks.

The operator apps (mtn.py, orange.py) translate their wire protocol to and from this engine,
which knows nothing about paths or headers. Everything random comes from one seeded
`random.Random`, so a run under a seed is reproducible.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, Literal

import httpx
import orjson
import structlog

from mboa.kit.cancellation import cancel_and_wait
from mboa.providers.masking import mask_phone
from mboa.simulator.config import SimulatorSettings
from mboa.simulator.scenarios import Outcome, plan_for

log = structlog.get_logger("mboa.simulator")

# Cameroon is on West Africa Time all year (no DST): statements are per local day.
WAT = timezone(timedelta(hours=1), "WAT")

State = Literal["pending", "succeeded", "failed"]
Kind = Literal["collection", "disbursement"]


class Failure:
    """Internal failure reasons; each operator app renders them in its own words."""

    insufficient_funds = "insufficient_funds"
    rejected = "rejected"
    expired = "expired"
    not_found = "not_found"
    limit_reached = "limit_reached"
    payee_not_allowed = "payee_not_allowed"
    failed = "failed"
    could_not_perform = "could_not_perform"


_FAILURE_OF = {
    Outcome.insufficient_funds: Failure.insufficient_funds,
    Outcome.rejected: Failure.rejected,
    Outcome.not_found: Failure.not_found,
    Outcome.limit_reached: Failure.limit_reached,
    Outcome.payee_not_allowed: Failure.payee_not_allowed,
    Outcome.failed: Failure.failed,
    Outcome.could_not_perform: Failure.could_not_perform,
}


@dataclass
class SimTransaction:
    id: str
    """The operator-side reference: MTN X-Reference-Id, Orange payToken / pay_token."""
    kind: Kind
    amount: int
    currency: str
    msisdn: str | None
    external_id: str
    outcome: Outcome
    created_at: datetime
    flow: Literal["push", "redirect"] = "push"
    state: State = "pending"
    failure: str | None = None
    finalised_at: datetime | None = None
    operator_transaction_id: str | None = None
    callback_url: str | None = None
    awaiting_approval: bool = False
    """Waiting for a click on the phone page (or the payer's confirmation on WebPay)."""
    pushes: int = 1
    raw_status_override: str | None = None
    """An intermediate raw status to show while pending (MTN `CREATED`)."""
    wire: dict[str, Any] = field(default_factory=dict)
    """Operator-specific fields to echo back (payer messages, notif_token, numeric id…)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "flow": self.flow,
            "amount": self.amount,
            "currency": self.currency,
            "msisdn": self.msisdn,
            "external_id": self.external_id,
            "outcome": self.outcome.value,
            "state": self.state,
            "failure": self.failure,
            "awaiting_approval": self.awaiting_approval,
            "operator_transaction_id": self.operator_transaction_id,
            "callback_url": self.callback_url,
            "created_at": self.created_at.isoformat(),
            "finalised_at": self.finalised_at.isoformat() if self.finalised_at else None,
            "pushes": self.pushes,
        }


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return orjson.loads(self.body) if self.body else None

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "body": self.body.decode(errors="replace"),
        }


@dataclass
class SentCallback:
    transaction_id: str
    method: str
    url: str
    body: dict[str, Any]
    status_code: int | None
    error: str | None


CallbackRenderer = Callable[["SimTransaction"], tuple[str, dict[str, Any]] | None]
"""Returns (HTTP method, JSON body) for a transaction's callback, or None for no callback."""


class Engine:
    def __init__(
        self,
        operator: Literal["mtn_momo", "orange_money"],
        settings: SimulatorSettings,
        *,
        seed: int | None = None,
    ) -> None:
        self.operator = operator
        self.initial_settings = settings
        self.settings = settings.model_copy()
        self.seed = seed if seed is not None else settings.seed
        self.render_callback: CallbackRenderer | None = None
        self.http = httpx.AsyncClient(timeout=settings.callback_timeout_seconds)
        self._tasks: set[asyncio.Task[None]] = set()
        self.reset()

    # -- state ------------------------------------------------------------------------------

    def reset(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()
        self.settings = self.initial_settings.model_copy()
        self.rng = random.Random(self.seed)
        self.wallets: dict[str, int] = {}
        self.accounts: dict[str, int] = {
            "collection": self.settings.merchant_collection_balance,
            "disbursement": self.settings.merchant_disbursement_balance,
        }
        self.transactions: dict[str, SimTransaction] = {}
        self.requests: deque[RecordedRequest] = deque(maxlen=2000)
        self.callbacks: list[SentCallback] = []
        self.attempts: dict[str, int] = {}
        """Create attempts per reference, for the transient-5xx and slow-response outcomes."""

    def wallet(self, msisdn: str) -> int:
        return self.wallets.setdefault(msisdn, self.settings.default_wallet_balance)

    def random_digits(self, n: int) -> str:
        return "".join(str(self.rng.randrange(10)) for _ in range(n))

    def random_hex(self, n: int) -> str:
        return f"{self.rng.getrandbits(4 * n):0{n}x}"

    def random_uuid4(self) -> str:
        h = self.random_hex(32)
        variant = "89ab"[self.rng.randrange(4)]
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-{h[20:32]}"

    def now(self) -> datetime:
        return datetime.now(UTC)

    def plan(self, msisdn: str, kind: str) -> Outcome:
        return plan_for(msisdn, operator=self.operator, kind=kind).outcome

    def count_attempt(self, reference: str) -> int:
        self.attempts[reference] = self.attempts.get(reference, 0) + 1
        return self.attempts[reference]

    # -- chaos ------------------------------------------------------------------------------

    async def chaos(self) -> bool:
        """Sleep the configured latency; return True when this call should fail with 503."""
        s = self.settings
        if s.latency_max_ms > 0:
            low = min(s.latency_min_ms, s.latency_max_ms)
            await asyncio.sleep(self.rng.uniform(low, s.latency_max_ms) / 1000)
        return s.failure_rate > 0 and self.rng.random() < s.failure_rate

    # -- lifecycle --------------------------------------------------------------------------

    def create(
        self,
        *,
        reference: str,
        kind: Kind,
        amount: int,
        currency: str,
        msisdn: str | None,
        external_id: str,
        callback_url: str | None,
        flow: Literal["push", "redirect"] = "push",
        wire: dict[str, Any] | None = None,
    ) -> SimTransaction:
        outcome = self.plan(msisdn, kind) if msisdn else Outcome.success
        tx = SimTransaction(
            id=reference,
            kind=kind,
            amount=amount,
            currency=currency,
            msisdn=msisdn,
            external_id=external_id,
            outcome=outcome,
            created_at=self.now(),
            flow=flow,
            callback_url=callback_url,
            wire=wire or {},
        )
        self.transactions[reference] = tx
        if flow == "redirect":
            # The payer has not chosen a number yet: wait on the payment page.
            tx.awaiting_approval = True
            self._later(self.settings.approval_window_seconds, tx, self._expire_if_waiting)
        else:
            self.start(tx)
        return tx

    def start(self, tx: SimTransaction) -> None:
        """Schedule what happens to a pending transaction, according to its outcome."""
        s = self.settings
        match tx.outcome:
            case Outcome.pending_forever:
                return
            case Outcome.expired:
                self._later(s.approval_window_seconds, tx, self._expire)
            case Outcome.delayed_success:
                tx.raw_status_override = "CREATED"
                self._later(s.delayed_success_seconds, tx, self._succeed)
            case Outcome.late_success:
                self._later(s.late_success_seconds, tx, self._succeed)
            case Outcome.manual:
                tx.awaiting_approval = True
                self._later(s.approval_window_seconds, tx, self._expire_if_waiting)
            case Outcome.not_found | Outcome.payee_not_allowed | Outcome.limit_reached:
                self._later(0, tx, self._fail_with_outcome)
            case outcome if outcome in _FAILURE_OF:
                self._later(s.auto_approve_seconds, tx, self._fail_with_outcome)
            case _ if s.manual_approval and tx.outcome is Outcome.success:
                tx.awaiting_approval = True
                self._later(s.approval_window_seconds, tx, self._expire_if_waiting)
            case _:
                self._later(s.auto_approve_seconds, tx, self._succeed)

    def _later(
        self, delay: float, tx: SimTransaction, action: Callable[[SimTransaction], None]
    ) -> None:
        async def run() -> None:
            await asyncio.sleep(delay)
            if tx.state == "pending" and self.transactions.get(tx.id) is tx:
                action(tx)

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _succeed(self, tx: SimTransaction) -> None:
        self.finalise(tx, succeeded=True)

    def _expire(self, tx: SimTransaction) -> None:
        self.finalise(tx, succeeded=False, failure=Failure.expired)

    def _expire_if_waiting(self, tx: SimTransaction) -> None:
        if tx.awaiting_approval:
            self._expire(tx)

    def _fail_with_outcome(self, tx: SimTransaction) -> None:
        self.finalise(tx, succeeded=False, failure=_FAILURE_OF.get(tx.outcome, Failure.failed))

    def approve(self, tx: SimTransaction) -> None:
        """The payer approved on the phone page."""
        if tx.state == "pending":
            tx.awaiting_approval = False
            self.finalise(tx, succeeded=True)

    def reject(self, tx: SimTransaction) -> None:
        if tx.state == "pending":
            tx.awaiting_approval = False
            self.finalise(tx, succeeded=False, failure=Failure.rejected)

    def finalise(self, tx: SimTransaction, *, succeeded: bool, failure: str | None = None) -> None:
        if tx.state != "pending":
            return
        if succeeded:
            # Money moves only now, so a balance can run out while a prompt waits.
            if tx.kind == "collection":
                payer = tx.msisdn or ""
                if self.wallet(payer) < tx.amount:
                    succeeded, failure = False, Failure.insufficient_funds
                else:
                    self.wallets[payer] -= tx.amount
                    self.accounts["collection"] += tx.amount
            else:
                if self.accounts["disbursement"] < tx.amount:
                    succeeded, failure = False, Failure.insufficient_funds
                else:
                    self.accounts["disbursement"] -= tx.amount
                    payee = tx.msisdn or ""
                    self.wallets[payee] = self.wallet(payee) + tx.amount
        tx.state = "succeeded" if succeeded else "failed"
        tx.failure = None if succeeded else failure
        tx.raw_status_override = None
        tx.awaiting_approval = False
        tx.finalised_at = self.now()
        if succeeded and tx.operator_transaction_id is None:
            tx.operator_transaction_id = tx.wire.get("txnid") or self.random_digits(10)
        log.info(
            "simulator.final",
            operator=self.operator,
            reference=tx.id,
            state=tx.state,
            failure=tx.failure,
            msisdn=mask_phone(tx.msisdn or ""),
        )
        self._schedule_callbacks(tx)

    def contradict(
        self, tx: SimTransaction, *, state: State | None = None, amount: int | None = None
    ) -> None:
        """Report what the operator's books never did: a final transaction shown as `state`, or
        with another `amount`, on status reads and in a new callback. No money moves: this plays
        an operator whose later report contradicts a final answer (docs/sandbox.md)."""
        if state is not None:
            tx.state = state
            tx.failure = Failure.failed if state == "failed" else None
        if amount is not None:
            tx.amount = amount
            if "amount" in tx.wire:  # the wire echo, in the operator's own type
                tx.wire["amount"] = type(tx.wire["amount"])(amount)
        self._schedule_callbacks(tx)

    # -- callbacks --------------------------------------------------------------------------

    def _schedule_callbacks(self, tx: SimTransaction) -> None:
        if not tx.callback_url or self.render_callback is None:
            return
        if tx.outcome is Outcome.callback_lost:
            return
        times = 2 if tx.outcome is Outcome.callback_duplicated else 1
        rendered = self.render_callback(tx)
        if rendered is None:
            return
        method, body = rendered
        if method == "random":
            method = self.rng.choice(("PUT", "POST"))
        url = tx.callback_url

        async def send() -> None:
            for _ in range(times):
                sent = SentCallback(tx.id, method, url, body, None, None)
                try:
                    response = await self.http.request(method, url, json=body)
                    sent.status_code = response.status_code
                except httpx.HTTPError as exc:
                    # Like MTN: one try, no retry (docs/providers-wire.md §1.9).
                    sent.error = type(exc).__name__
                self.callbacks.append(sent)

        task = asyncio.get_running_loop().create_task(send())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- reconciliation ---------------------------------------------------------------------

    def statement(self, day: date, *, include_failed: bool = False) -> list[dict[str, Any]]:
        rows = []
        for tx in sorted(self.transactions.values(), key=lambda t: t.finalised_at or t.created_at):
            if tx.finalised_at is None or tx.finalised_at.astimezone(WAT).date() != day:
                continue
            if tx.state != "succeeded" and not include_failed:
                continue
            local = tx.finalised_at.astimezone(WAT)
            rows.append(
                {
                    "date": local.date().isoformat(),
                    "time": local.strftime("%H:%M:%S"),
                    "operator_transaction_id": tx.operator_transaction_id or "",
                    "reference": tx.id,
                    "external_id": tx.external_id,
                    "type": tx.kind,
                    "msisdn": tx.msisdn or "",
                    "amount": tx.amount,
                    "fee": 0,
                    "currency": tx.currency,
                    "status": tx.state,
                }
            )
        return rows

    async def aclose(self) -> None:
        # Cancel every task in one pass first: while the first ones are being waited for, a
        # timer among the later ones must not wake up and start a new delivery.
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(Exception):
                await cancel_and_wait(task)
        self._tasks.clear()
        await self.http.aclose()

    def clock(self) -> float:
        return time.monotonic()
