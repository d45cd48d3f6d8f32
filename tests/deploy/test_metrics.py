"""The series Prometheus scrapes (docs/deploy.md §4): real `mboa api`, `mboa worker` and
`mboa simulator` processes in production mode; one payment end to end; then both /metrics."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.deploy.platform import make_platform, running, signup, wait_for

pytestmark = pytest.mark.slow

# Every series the dashboard and the alerts may use, by the process that exports it.
API_SERIES = {
    "mboa_http_requests_total",
    "mboa_http_request_duration_seconds",
    "mboa_db_pool_size",
    "mboa_db_pool_checked_out",
    "mboa_payment_attempts_created_total",
    "mboa_provider_callback_delay_seconds",
    "mboa_provider_callbacks_refused_total",
    "mboa_rate_limit_unavailable_total",
}
WORKER_SERIES = {
    "mboa_provider_call_duration_seconds",
    "mboa_provider_calls_total",
    "mboa_provider_breaker_state",
    "mboa_payment_attempts_finished_total",
    "mboa_payment_amount_succeeded_minor_total",
    "mboa_payment_attempt_duration_seconds",
    "mboa_jobs_total",
    "mboa_job_duration_seconds",
    "mboa_job_wait_seconds",
    "mboa_queue_jobs",
    "mboa_queue_waiting_jobs",
    "mboa_outbox_pending",
    "mboa_outbox_lag_seconds",
    "mboa_outbox_relayed_total",
    "mboa_worker_heartbeat_timestamp_seconds",
    "mboa_webhook_delivery_attempts_total",
    "mboa_webhook_delivery_duration_seconds",
    "mboa_ledger_verify_violations",
    "mboa_ledger_verify_ok",
    "mboa_ledger_verify_last_run_timestamp_seconds",
    "mboa_operator_discrepancies_total",
    "mboa_db_pool_checked_out",
}
ID_LIKE = re.compile(r"\b[a-z]{2,6}_(?:test_|live_)?[0-9A-Za-z]{16,}\b")
PHONE_LIKE = re.compile(r"\d{8,}")


def samples(url: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Every sample by its series name (histograms: _bucket, _count, _sum as Prometheus names)."""
    text = httpx.get(url, timeout=10).text
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
        # A family without samples yet is still exported (a counter's name without _total).
        found.setdefault(family.name + ("_total" if family.type == "counter" else ""), [])
    return found


def value(series: list[tuple[dict[str, str], float]], **labels: str) -> float:
    return sum(v for found, v in series if labels.items() <= found.items())


def test_a_payment_shows_in_the_metrics_of_the_api_and_the_worker(
    tmp_path: Path, redis_url: str
) -> None:
    platform = make_platform(tmp_path, "metrics", redis_url)
    with running(platform):
        simulator = platform.start("simulator")
        api = platform.start("api")
        worker = platform.start("worker")
        wait_for(f"{platform.api_url}/readyz", api)
        worker_metrics = f"http://127.0.0.1:{platform.worker_metrics_port}"
        wait_for(f"{worker_metrics}/readyz", worker)
        assert simulator.poll() is None
        key = signup(platform.api_url)
        headers = {"Authorization": f"Bearer {key}"}
        created = httpx.post(
            f"{platform.api_url}/v1/payment_intents",
            json={
                "amount": 1500,
                "currency": "XAF",
                "phone": "+237677123456",
                "reference": "order-1",
            },
            headers=headers,
            timeout=30,
        )
        assert created.status_code == 200, created.text
        intent = created.json()
        deadline = time.monotonic() + 60
        while intent["status"] != "succeeded" and time.monotonic() < deadline:
            time.sleep(0.3)
            intent = httpx.get(
                f"{platform.api_url}/v1/payment_intents/{intent['id']}", headers=headers
            ).json()
        assert intent["status"] == "succeeded", intent

        api_samples = samples(f"http://127.0.0.1:{platform.api_metrics_port}/metrics")
        worker_samples: dict[str, list[tuple[dict[str, str], float]]] = {}
        deadline = time.monotonic() + 20  # the sampler's next round (queue depth, outbox)
        while time.monotonic() < deadline:
            worker_samples = samples(f"{worker_metrics}/metrics")
            if worker_samples.get("mboa_outbox_relayed_total") and value(
                worker_samples["mboa_outbox_relayed_total"]
            ):
                break
            time.sleep(0.5)
        assert httpx.get(f"{worker_metrics}/healthz").status_code == 200

    missing_api = {s for s in API_SERIES if s not in api_samples}
    missing_worker = {s for s in WORKER_SERIES if s not in worker_samples}
    assert missing_api == set()
    assert missing_worker == set()

    requests = api_samples["mboa_http_requests_total"]
    assert value(requests, route="/v1/payment_intents", method="POST", status="200") == 1
    assert value(requests, route="/v1/payment_intents/{intent_id}", method="GET") >= 1
    assert value(api_samples["mboa_payment_attempts_created_total"], provider="mtn_momo") == 1
    assert value(api_samples["mboa_provider_callback_delay_seconds_count"]) >= 1

    finished = worker_samples["mboa_payment_attempts_finished_total"]
    assert value(finished, provider="mtn_momo", status="succeeded") == 1
    assert (
        value(
            worker_samples["mboa_payment_amount_succeeded_minor_total"],
            provider="mtn_momo",
            currency="XAF",
        )
        == 1500
    )
    calls = worker_samples["mboa_provider_calls_total"]
    assert value(calls, provider="mtn_momo", outcome="ok") >= 1
    assert value(worker_samples["mboa_jobs_total"], outcome="completed") >= 1
    assert value(worker_samples["mboa_job_wait_seconds_count"]) >= 1
    assert {lbl["state"] for lbl, _ in worker_samples["mboa_queue_jobs"]} >= {"waiting", "active"}
    assert value(worker_samples["mboa_outbox_relayed_total"]) >= 1
    assert worker_samples["mboa_worker_heartbeat_timestamp_seconds"][0][1] > 0
    pools = {lbl["pool"] for lbl, _ in worker_samples["mboa_db_pool_checked_out"]}
    assert "worker_platform" in pools

    # Bounded cardinality: no label carries an id, a key or a phone number.
    for name, series in {**api_samples, **worker_samples}.items():
        for labels, _ in series:
            for label, text in labels.items():
                assert not ID_LIKE.search(text), (name, label, text)
                assert not PHONE_LIKE.search(text), (name, label, text)

    # Production mode wrote nothing: the working, data and temporary directories stay empty.
    assert list(platform.workdir.iterdir()) == []
