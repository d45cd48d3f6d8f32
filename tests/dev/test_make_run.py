"""`mboa up` (what `make run` runs) on the embedded default, as a newcomer would use it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from mboa.kit.net import free_port

pytestmark = pytest.mark.slow


def _start(
    data_dir: Path, port: int, log: Path, metrics_port: int | None = None
) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MBOA_")}
    env.update(
        MBOA_DATA_DIR=str(data_dir),
        MBOA_PORT=str(port),
        MBOA_METRICS__PORT=str(metrics_port or free_port()),
        MBOA_METRICS__WORKER_PORT=str(free_port()),
        MBOA_PROVIDERS__SIMULATOR__MTN_PORT=str(free_port()),
        MBOA_PROVIDERS__SIMULATOR__ORANGE_PORT=str(free_port()),
        MBOA_AUTH__ARGON2_TIME_COST="1",
        MBOA_AUTH__ARGON2_MEMORY_COST_KIB="1024",
    )
    # The children's logs go to a file (not a pipe nobody drains), so a failure can show them.
    with log.open("a") as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "mboa", "up"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            start_new_session=True,
        )


def _tail(log: Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def _secret_key(process: subprocess.Popen[str], timeout: float, log: Path) -> str:
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            if process.poll() is not None:
                raise AssertionError(
                    f"mboa up exited with {process.returncode}; its stderr ends:\n{_tail(log)}"
                )
            continue
        if line.startswith("sk_test_"):
            return line.strip()
    raise AssertionError(f"no sk_test_ key printed in time; stderr ends:\n{_tail(log)}")


def _leftovers(data_dir: Path, *, grace_seconds: float = 60) -> list[str]:
    """Processes still running on this data directory once `grace_seconds` have passed (a
    server's own shutdown can outlast its parent's exit by a moment on a loaded host)."""
    deadline = time.monotonic() + grace_seconds
    while True:
        found = []
        for proc in psutil.process_iter(["cmdline"]):
            cmdline = " ".join(proc.info["cmdline"] or [])
            if str(data_dir) in cmdline:
                found.append(cmdline)
        if not found or time.monotonic() > deadline:
            if found:  # say who still held the servers, and what mboa up said last
                users = data_dir / "dev" / "users"
                held = sorted(p.name for p in users.iterdir()) if users.exists() else []
                found.append(f"registered users: {held}")
            return found
        time.sleep(0.5)


def _payment_succeeds(base: str, key: str, timeout: float = 60) -> dict[str, int]:
    headers = {"Authorization": f"Bearer {key}"}
    created = httpx.post(
        f"{base}/v1/payment_intents",
        json={"amount": 1500, "currency": "XAF", "phone": "670000000", "reference": "order-1"},
        headers=headers,
    )
    assert created.status_code == 200, created.text
    deadline = time.monotonic() + timeout
    while True:
        intent = httpx.get(f"{base}/v1/payment_intents/{created.json()['id']}", headers=headers)
        body = intent.json()
        if body["status"] == "succeeded" or time.monotonic() > deadline:
            assert body["status"] == "succeeded", body
            return {name: body[name] for name in ("amount_received", "fee", "net")}
        time.sleep(0.5)


def _stop(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGINT)  # what Ctrl-C sends
    process.wait(timeout=60)


def test_up_serves_prints_a_working_key_and_stops_cleanly(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    log = tmp_path / "stderr.log"
    port = free_port()
    metrics_port = free_port()
    process = _start(data_dir, port, log, metrics_port)
    try:
        key = _secret_key(process, timeout=240, log=log)
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/readyz").status_code == 200
        account = httpx.get(f"{base}/v1/account", headers={"Authorization": f"Bearer {key}"})
        assert account.status_code == 200
        assert account.json()["livemode"] is False
        # The printed reference works; metrics are on their own port, not the API's.
        assert "swagger-ui" in httpx.get(f"{base}/docs").text
        assert httpx.get(f"{base}/dashboard/login").status_code == 200  # the banner's dashboard
        assert httpx.get(f"{base}/metrics").status_code == 404
        metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics")
        assert "mboa_http_requests_total" in metrics.text
        # A payment goes all the way through the processes `mboa up` started: API, worker,
        # simulator (on the port this test chose), callback, ledger.
        assert _payment_succeeds(base, key) == {"amount_received": 1500, "fee": 30, "net": 1470}
    finally:
        _stop(process)
    assert process.returncode == 0
    assert _leftovers(data_dir) == []

    # A second start reuses the data: same demo merchant, same key. (How fast it serves again is
    # measured by bench/startup.py, not asserted here.)
    process = _start(data_dir, port, log)
    try:
        again = _secret_key(process, timeout=240, log=log)
        assert again == key
        reused = httpx.get(
            f"http://127.0.0.1:{port}/v1/account", headers={"Authorization": f"Bearer {again}"}
        )
        assert reused.json()["id"] == account.json()["id"]
    finally:
        _stop(process)
    assert _leftovers(data_dir) == []

    # A child that cannot start (here the API, its port taken) stops everything with a non-zero
    # exit and names the process, rather than waiting or exiting 0 without a banner.
    with socket.socket() as taken:
        # The earlier runs' connections may leave the port in TIME_WAIT: that must not stop us
        # from listening on it (an active listener still makes the API's bind fail).
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("127.0.0.1", port))
        taken.listen()
        process = _start(data_dir, port, log)
        try:
            banner, _ = process.communicate(timeout=240)
        finally:
            if process.poll() is None:
                _stop(process)
    assert process.returncode == 1
    assert "sk_test_" not in banner
    assert "mboa api exited with" in _tail(log)
    assert _leftovers(data_dir) == []
