"""The simulator's own surface: control API, phone page, statements, chaos, determinism."""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import uuid
from datetime import datetime

import httpx
import pytest
from pydantic import ValidationError

from mboa.simulator.config import SimulatorSettings
from mboa.simulator.engine import WAT
from mboa.simulator.mtn import MtnSimulator
from mboa.simulator.orange import OrangeSimulator
from mboa.simulator.run import RunningSimulators, serve, serve_asgi
from mboa.simulator.scenarios import Outcome, plan_for

from .conftest import SETTINGS


async def mtn_headers(http: httpx.AsyncClient, base: str) -> dict[str, str]:
    s = SETTINGS
    basic = base64.b64encode(f"{s.mtn_api_user}:{s.mtn_api_key}".encode()).decode()
    key = {"Ocp-Apim-Subscription-Key": "k"}
    token = await http.post(
        f"{base}/collection/token/", headers={**key, "Authorization": f"Basic {basic}"}
    )
    return {
        **key,
        "Authorization": f"Bearer {token.json()['access_token']}",
        "X-Target-Environment": "sandbox",
    }


async def request_to_pay(
    http: httpx.AsyncClient, base: str, msisdn: str, amount: str = "1000"
) -> tuple[str, httpx.Response]:
    reference = str(uuid.uuid4())
    response = await http.post(
        f"{base}/collection/v1_0/requesttopay",
        headers={**await mtn_headers(http, base), "X-Reference-Id": reference},
        json={
            "amount": amount,
            "currency": "XAF",
            "externalId": "ext-1",
            "payer": {"partyIdType": "MSISDN", "partyId": msisdn},
            "payerMessage": "m",
            "payeeNote": "n",
        },
    )
    return reference, response


class TestControlApi:
    async def test_manual_prompt_is_approved_on_the_phone_page(
        self, simulators: RunningSimulators, http: httpx.AsyncClient
    ) -> None:
        base = simulators.mtn_url
        reference, response = await request_to_pay(http, base, "237670000013")
        assert response.status_code == 202

        page = await http.get(f"{base}/_sim/phone")
        assert page.status_code == 200
        assert f"/_sim/phone/{reference}/approve" in page.text

        clicked = await http.post(f"{base}/_sim/phone/{reference}/approve")
        assert clicked.status_code == 303
        listed = (await http.get(f"{base}/_sim/transactions")).json()
        assert [(t["id"], t["state"]) for t in listed] == [(reference, "succeeded")]

    async def test_reject_through_the_api(
        self, simulators: RunningSimulators, http: httpx.AsyncClient
    ) -> None:
        base = simulators.mtn_url
        reference, _ = await request_to_pay(http, base, "237670000013")
        rejected = await http.post(f"{base}/_sim/transactions/{reference}/reject")
        assert rejected.json()["state"] == "failed"
        assert rejected.json()["failure"] == "rejected"

    async def test_manual_prompt_expires(
        self, simulators: RunningSimulators, http: httpx.AsyncClient
    ) -> None:
        base = simulators.mtn_url
        reference, _ = await request_to_pay(http, base, "237670000013")
        await asyncio.sleep(SETTINGS.approval_window_seconds + 0.1)
        tx = (await http.get(f"{base}/_sim/transactions/{reference}")).json()
        assert (tx["state"], tx["failure"]) == ("failed", "expired")

    async def test_wallet_balance_drives_insufficient_funds(
        self, simulators: RunningSimulators, http: httpx.AsyncClient
    ) -> None:
        base = simulators.mtn_url
        put = await http.put(f"{base}/_sim/wallets/237670555555", json={"balance": 500})
        assert put.json() == {"msisdn": "237670555555", "balance": 500}
        reference, _ = await request_to_pay(http, base, "237670555555", amount="600")
        await asyncio.sleep(0.15)
        tx = (await http.get(f"{base}/_sim/transactions/{reference}")).json()
        assert tx["failure"] == "insufficient_funds"
        wallet = await http.get(f"{base}/_sim/wallets/237670555555")
        assert wallet.json()["balance"] == 500
        bad = await http.put(f"{base}/_sim/wallets/237670555555", json={"balance": 1.5})
        assert bad.status_code == 400

    async def test_chaos_failure_rate_and_reset(
        self, simulators: RunningSimulators, http: httpx.AsyncClient
    ) -> None:
        base = simulators.mtn_url
        patched = await http.patch(f"{base}/_sim/settings", json={"failure_rate": 1.0})
        assert patched.json()["failure_rate"] == 1.0
        failing = await http.post(
            f"{base}/collection/token/", headers={"Ocp-Apim-Subscription-Key": "k"}
        )
        assert failing.status_code == 503
        assert failing.json()["code"] == "SERVICE_UNAVAILABLE"
        assert (await http.get(f"{base}/_sim/health")).status_code == 200
        refused = await http.patch(f"{base}/_sim/settings", json={"host": "0.0.0.0"})
        assert refused.status_code == 400

        await http.post(f"{base}/_sim/reset")
        assert (await http.get(f"{base}/_sim/settings")).json()["failure_rate"] == 0.0
        assert (await http.get(f"{base}/_sim/requests")).json() == []

    async def test_latency(self, simulators: RunningSimulators, http: httpx.AsyncClient) -> None:
        base = simulators.orange_url
        await http.patch(
            f"{base}/_sim/settings", json={"latency_min_ms": 150, "latency_max_ms": 150}
        )
        loop = asyncio.get_running_loop()
        started = loop.time()
        await http.post(f"{base}/token")
        assert loop.time() - started >= 0.15

    async def test_recorded_requests(
        self, simulators: RunningSimulators, http: httpx.AsyncClient
    ) -> None:
        base = simulators.orange_url
        await http.post(f"{base}/omcoreapis/1.0.2/mp/init", headers={"X-AUTH-TOKEN": "t"})
        recorded = (await http.get(f"{base}/_sim/requests")).json()
        assert recorded[-1]["path"] == "/omcoreapis/1.0.2/mp/init"
        assert recorded[-1]["headers"]["x-auth-token"] == "t"


class TestStatement:
    async def test_daily_statement(
        self, simulators: RunningSimulators, http: httpx.AsyncClient
    ) -> None:
        base = simulators.mtn_url
        ok, _ = await request_to_pay(http, base, "237670111111", amount="2500")
        failed, _ = await request_to_pay(http, base, "237670000002")
        await asyncio.sleep(0.15)
        today = datetime.now(WAT).date().isoformat()

        rows = (await http.get(f"{base}/_sim/statement", params={"day": today})).json()
        assert [(r["reference"], r["amount"], r["status"]) for r in rows] == [
            (ok, 2500, "succeeded")
        ]
        assert rows[0]["operator_transaction_id"]
        everything = await http.get(
            f"{base}/_sim/statement", params={"day": today, "include_failed": "true"}
        )
        assert {r["reference"] for r in everything.json()} == {ok, failed}

        exported = await http.get(f"{base}/_sim/statement", params={"day": today, "format": "csv"})
        assert exported.headers["content-type"].startswith("text/csv")
        parsed = list(csv.DictReader(io.StringIO(exported.text)))
        assert parsed[0]["reference"] == ok
        assert parsed[0]["amount"] == "2500"

        other_day = await http.get(f"{base}/_sim/statement", params={"day": "2020-01-01"})
        assert other_day.json() == []


class TestDeterminismAndSafety:
    async def test_same_seed_same_ids(self) -> None:
        settings = SimulatorSettings(seed=3)
        first, second = OrangeSimulator(settings), OrangeSimulator(settings)
        other = OrangeSimulator(SimulatorSettings(seed=4))
        try:
            tokens = [first.new_pay_token("mp") for _ in range(3)]
            assert tokens == [second.new_pay_token("mp") for _ in range(3)]
            assert tokens != [other.new_pay_token("mp") for _ in range(3)]
            first.reset()
            assert first.new_pay_token("mp") == tokens[0]
        finally:
            for sim in (first, second, other):
                await sim.aclose()

    def test_only_loopback(self) -> None:
        with pytest.raises(ValidationError):
            SimulatorSettings(host="0.0.0.0")

    async def test_serve_asgi_refuses_other_hosts(self) -> None:
        with pytest.raises(ValueError, match="loopback"):
            async with serve_asgi(object(), host="0.0.0.0"):
                pass

    async def test_serve_runs_until_cancelled(self) -> None:
        task = asyncio.create_task(
            serve(mtn_port=0, orange_port=0, settings=SimulatorSettings(seed=1))
        )
        await asyncio.sleep(0.2)
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    def test_magic_tables(self) -> None:
        assert plan_for("237670000001", operator="mtn_momo", kind="collection").outcome is (
            Outcome.insufficient_funds
        )
        assert plan_for("690000001", operator="orange_money", kind="collection").outcome is (
            Outcome.insufficient_funds
        )
        assert plan_for("46733123455", operator="mtn_momo", kind="collection").outcome is (
            Outcome.not_found
        )
        assert plan_for("46733123455", operator="mtn_momo", kind="disbursement").outcome is (
            Outcome.insufficient_funds
        )
        assert not plan_for("237670123456", operator="mtn_momo", kind="collection").magic

    async def test_mtn_sim_reset_keeps_the_dev_user(self) -> None:
        sim = MtnSimulator(SimulatorSettings())
        try:
            sim.api_users["x"] = {}
            sim.reset()
            assert list(sim.api_users) == [SimulatorSettings().mtn_api_user]
        finally:
            await sim.aclose()
