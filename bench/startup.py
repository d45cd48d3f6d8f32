"""Benchmark: how fast `mboa up` (what `make run` runs) serves again on existing data.

Starts `mboa up` on a fresh data directory once (initdb, migrations, demo merchant), stops it with
SIGINT, then starts it again and measures the seconds until `/readyz` answers 200 and the demo
`sk_test_` key is printed. Last line: one JSON object.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(data_dir: Path, port: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MBOA_")}
    env.update(
        MBOA_DATA_DIR=str(data_dir),
        MBOA_PORT=str(port),
        MBOA_PROVIDERS__SIMULATOR__MTN_PORT=str(free_port()),
        MBOA_PROVIDERS__SIMULATOR__ORANGE_PORT=str(free_port()),
    )
    return subprocess.Popen(
        [sys.executable, "-m", "mboa", "up"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )


def serving(process: subprocess.Popen[str], port: int) -> float:
    started = time.monotonic()
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("sk_test_"):
            break
    else:
        raise RuntimeError("mboa up exited before printing the key")
    assert httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200
    return time.monotonic() - started


def stop(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGINT)
    process.wait(60)


def main() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="mboa-startup-", dir=ROOT / ".mboa"))
    port = free_port()
    try:
        first = start(data_dir, port)
        first_seconds = serving(first, port)
        stop(first)
        second = start(data_dir, port)
        second_seconds = serving(second, port)
        stop(second)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    print(
        json.dumps(
            {
                "benchmark": "startup",
                "first_start_seconds": round(first_seconds, 2),
                "second_start_seconds": round(second_seconds, 2),
                "goal_second_start_seconds": 10,
            }
        )
    )


if __name__ == "__main__":
    main()
