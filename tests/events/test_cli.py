"""`mboa listen` and `mboa trigger` end to end, as real processes: trigger creates objects through
the API (a real worker and the simulators behind it), listen streams the events and forwards
them to a receiver that verifies every request with the official `standardwebhooks` library."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
from collections.abc import AsyncIterator
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.requests import Request
from starlette.responses import Response

from mboa.config import Settings
from mboa.kit.net import free_port
from mboa.postgres import Database
from mboa.simulator.run import RunningSimulators, serve_asgi
from tests.helpers import Api, bearer
from tests.payouts.helpers import fund


def cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MBOA_")}
    env["MBOA_ENV"] = "testing"
    return env


class Receiver:
    """A merchant's webhook endpoint: verifies each request, keeps the verified events."""

    def __init__(self) -> None:
        self.secret: str | None = None
        self.events: list[dict[str, Any]] = []
        self.refused: list[str] = []
        self.arrived = asyncio.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        request = Request(scope, receive)
        body = await request.body()
        assert self.secret is not None
        try:
            payload = Webhook(self.secret).verify(body, dict(request.headers))
        except WebhookVerificationError as exc:
            self.refused.append(str(exc))
            await Response(status_code=400)(scope, receive, send)
            return
        assert payload["id"] == request.headers["webhook-id"]
        self.events.append(payload)
        self.arrived.set()
        await Response(status_code=200)(scope, receive, send)

    async def until(self, done: Any, within: float = 60.0) -> None:
        async with asyncio.timeout(within):
            while not done(self.events):
                self.arrived.clear()
                await self.arrived.wait()

    def types_of(self, object_id: str) -> list[str]:
        return [e["type"] for e in self.events if e["data"]["object"]["id"] == object_id]


class Proxy:
    """A TCP relay in front of the API that the test can take down and bring back on the same
    port: a real interruption of `mboa listen`'s stream."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.server: asyncio.Server | None = None
        self.pipes: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for pipe in list(self.pipes):
            pipe.cancel()
        await asyncio.gather(*self.pipes, return_exceptions=True)
        await self.server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(
            "127.0.0.1", self.target_port
        )

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            finally:
                sink.close()

        pipes = [
            asyncio.create_task(pump(reader, upstream_writer)),
            asyncio.create_task(pump(upstream_reader, writer)),
        ]
        self.pipes.update(pipes)
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.gather(*pipes)
        self.pipes.difference_update(pipes)


async def run_cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mboa",
        *args,
        env={**cli_env(), **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


@contextlib.asynccontextmanager
async def listening(
    key: str, api_base: str, receiver: Receiver, *extra: str
) -> AsyncIterator[list[str]]:
    """`mboa listen` forwarding to the receiver; yields the lines it prints as they come."""
    async with serve_asgi(receiver) as receiver_url:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "mboa",
            "listen",
            "--forward-to",
            f"{receiver_url}/webhooks",
            "--api-key",
            key,
            "--api-base",
            api_base,
            *extra,
            env=cli_env(),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        lines: list[str] = []
        assert process.stdout is not None
        first = (await asyncio.wait_for(process.stdout.readline(), 60)).decode()
        lines.append(first)
        found = re.search(r"whsec_\S+", first)
        assert found, first
        receiver.secret = found.group(0)

        async def collect() -> None:
            assert process.stdout is not None
            while line := await process.stdout.readline():
                lines.append(line.decode())

        collecting = asyncio.create_task(collect())
        try:
            yield lines
        finally:
            process.terminate()
            await asyncio.wait_for(process.wait(), 20)
            await collecting


async def trigger_all(key: str, base_url: str, *event_types: str) -> dict[str, str]:
    """`mboa trigger` for each type, the processes side by side; each one's output by type."""
    results = await asyncio.gather(
        *(
            run_cli("trigger", event_type, "--api-key", key, "--api-base", base_url)
            for event_type in event_types
        )
    )
    for event_type, (code, out, err) in zip(event_types, results, strict=True):
        assert code == 0, (event_type, out, err)
        assert f"Trigger succeeded: {event_type} fired." in out, (event_type, out)
    return {event_type: out for event_type, (_, out, _) in zip(event_types, results, strict=True)}


def delivery_line(lines: list[str], event: dict[str, Any]) -> str:
    return next(line for line in lines if event["id"] in line)


async def test_trigger_and_listen_deliver_signed_events_across_an_interruption(
    api: Api, worker: Settings, base_url: str
) -> None:
    account = await api.signup()
    key = account.secret_key
    receiver = Receiver()
    proxy = Proxy(int(base_url.rsplit(":", 1)[1]))
    await proxy.start()
    async with listening(key, f"http://127.0.0.1:{proxy.port}", receiver) as lines:
        code, out, err = await run_cli(
            "trigger", "payment_intent.succeeded", "--api-key", key, "--api-base", base_url
        )
        assert code == 0, err
        intent_id = re.findall(r"pi_\w+", out)[0]
        assert "succeeded" in out
        await receiver.until(lambda _: "payment_intent.succeeded" in receiver.types_of(intent_id))
        assert receiver.types_of(intent_id) == [
            "payment_intent.created",
            "payment_intent.processing",
            "payment_intent.succeeded",
        ]
        succeeded = receiver.events[-1]
        assert [e["sequence"] for e in receiver.events] == [1, 2, 3]
        await asyncio.sleep(0.2)  # the line is printed once the receiver has answered
        line = delivery_line(lines, succeeded)
        assert "payment_intent.succeeded" in line
        assert "[200]" in line
        assert re.search(r"\d+ ms", line)

        # The API goes out of reach; events happen meanwhile; listen reconnects with
        # Last-Event-ID and gets them first.
        await proxy.stop()
        outs = await trigger_all(
            key,
            base_url,
            "payment_intent.canceled",
            "payment_intent.payment_failed",
            "refund.succeeded",
            "refund.created",
        )
        canceled_id = re.findall(r"pi_\w+", outs["payment_intent.canceled"])[0]
        failed_id = re.findall(r"pi_\w+", outs["payment_intent.payment_failed"])[0]
        refund_id = re.findall(r"re_\w+", outs["refund.succeeded"])[0]
        created_refund_id = re.findall(r"re_\w+", outs["refund.created"])[0]
        await asyncio.sleep(0.5)
        await proxy.start()
        await receiver.until(
            lambda _: (
                "refund.succeeded" in receiver.types_of(refund_id)
                and "payment_intent.payment_failed" in receiver.types_of(failed_id)
                and "refund.created" in receiver.types_of(created_refund_id)
            )
        )
        assert receiver.types_of(canceled_id) == [
            "payment_intent.created",
            "payment_intent.canceled",
        ]
        assert receiver.types_of(failed_id) == [
            "payment_intent.created",
            "payment_intent.processing",
            "payment_intent.payment_failed",
        ]
        payment_failed = next(
            e for e in receiver.events if e["type"] == "payment_intent.payment_failed"
        )
        assert payment_failed["data"]["object"]["status"] == "requires_payment_method"
        assert payment_failed["data"]["object"]["last_payment_error"]["code"] == (
            "insufficient_funds"
        )
        assert payment_failed["data"]["previous_attributes"] == {"status": "processing"}
        assert receiver.types_of(refund_id) == ["refund.created", "refund.succeeded"]
        assert receiver.types_of(created_refund_id)[0] == "refund.created"
    await proxy.stop()
    ids = [e["id"] for e in receiver.events]
    assert len(ids) == len(set(ids)), "each event forwarded once"
    assert receiver.refused == []
    assert any("reconnecting" in line or "interrupted" in line for line in lines), lines


async def test_listen_filters_types_and_trigger_fires_payouts(
    api: Api, worker: Settings, base_url: str, ledger_db: Database
) -> None:
    account = await api.signup()
    key = account.secret_key
    await fund(ledger_db, account.merchant_id, 10_000)
    receiver = Receiver()
    async with listening(key, base_url, receiver, "--events", "payout.*"):
        outs = await trigger_all(
            key,
            base_url,
            "payout.paid",
            "payout.failed",
            "payout.created",
            "payment_intent.created",
        )
        payout_id = re.findall(r"po_\w+", outs["payout.paid"])[0]
        failed_id = re.findall(r"po_\w+", outs["payout.failed"])[0]
        created_id = re.findall(r"po_\w+", outs["payout.created"])[0]
        await receiver.until(
            lambda _: (
                "payout.paid" in receiver.types_of(payout_id)
                and "payout.failed" in receiver.types_of(failed_id)
                and "payout.created" in receiver.types_of(created_id)
            )
        )
        await asyncio.sleep(0.5)  # time for a payment_intent.created to come, were it sent
    assert receiver.types_of(payout_id) == ["payout.created", "payout.updated", "payout.paid"]
    assert {e["type"].split(".")[0] for e in receiver.events} == {"payout"}
    paid = next(e for e in receiver.events if e["type"] == "payout.paid")
    assert paid["data"]["previous_attributes"] == {"status": "in_transit"}


async def test_trigger_refund_failed_plays_the_payer_on_the_phone(
    api: Api, worker: Settings, base_url: str, sims: RunningSimulators
) -> None:
    """`refund.failed`: a payment from 13 approved on the simulator's phone page, a refund whose
    transfer back the payer rejects there. No --api-base: MBOA_PORT names the API, as for the
    `mboa up` it came from."""
    account = await api.signup()
    key = account.secret_key
    async with httpx.AsyncClient(base_url=sims.mtn_url) as sim:
        # Time for a process to start and press the buttons (the fixture's window is 0.6 s).
        patched = await sim.patch("/_sim/settings", json={"approval_window_seconds": 60})
        assert patched.status_code == 200, patched.text
    receiver = Receiver()
    async with listening(key, base_url, receiver, "--events", "refund.*"):
        code, out, err = await run_cli(
            "trigger",
            "refund.failed",
            "--api-key",
            key,
            "--simulator-url",
            sims.mtn_url,
            env={"MBOA_PORT": base_url.rsplit(":", 1)[1]},
        )
        assert code == 0, err
        assert "Trigger succeeded: refund.failed fired." in out
        refund_id = re.findall(r"re_\w+", out)[0]
        await receiver.until(lambda _: "refund.failed" in receiver.types_of(refund_id))
    assert receiver.types_of(refund_id) == ["refund.created", "refund.failed"]
    failed = next(e for e in receiver.events if e["type"] == "refund.failed")
    assert failed["data"]["previous_attributes"] == {"status": "pending"}
    refund = (await api.http.get(f"/v1/refunds/{refund_id}", headers=bearer(key))).json()
    intent = (
        await api.http.get(f"/v1/payment_intents/{refund['payment_intent']}", headers=bearer(key))
    ).json()
    assert intent["status"] == "succeeded"
    assert intent["amount_refunded"] == 0
    # The simulator's truth: the payment was approved on the phone, the transfer back rejected.
    collection = sims.mtn.transactions[intent["latest_attempt"]["operator_reference"]]
    transfer = sims.mtn.transactions[refund["operator_reference"]]
    assert (collection.kind, collection.state) == ("collection", "succeeded")
    assert (transfer.kind, transfer.state, transfer.failure) == (
        "disbursement",
        "failed",
        "rejected",
    )


async def test_trigger_refusals(api: Api, base_url: str) -> None:
    account = await api.signup()
    code, _, err = await run_cli(
        "trigger", "payment_intent.teleported", "--api-key", account.secret_key
    )
    assert code == 1
    assert "payment_intent.succeeded" in err
    assert "refund.succeeded" in err
    # No settled money: the payout trigger says why.
    code, _, err = await run_cli(
        "trigger", "payout.paid", "--api-key", account.secret_key, "--api-base", base_url
    )
    assert code == 1
    assert "balance_insufficient" in err
    assert "settlement" in err


async def test_listen_refused_for_a_live_key(api: Api, base_url: str) -> None:
    _, live_key = await api.live_account()
    code, _, err = await run_cli(
        "listen",
        "--forward-to",
        "http://127.0.0.1:9/",
        "--api-key",
        live_key,
        "--api-base",
        base_url,
    )
    assert code == 1
    assert "event_stream_test_mode_only" in err
