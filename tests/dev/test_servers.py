"""Who uses the embedded servers: a registered process counts only while it is the same process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil

from mboa.dev.servers import EmbeddedServers


def _servers(tmp_path: Path) -> EmbeddedServers:
    return EmbeddedServers.for_profile(tmp_path, "users-test")


def test_a_reused_pid_is_not_a_user(tmp_path: Path) -> None:
    servers = _servers(tmp_path)
    users = servers._users()
    # A live process under the pid a dead user registered: its start time differs.
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        started = psutil.Process(stranger.pid).create_time()
        (users / str(stranger.pid)).write_text(repr(started - 120))
        (users / str(os.getpid())).write_text(repr(psutil.Process().create_time()))
        (users / "not-a-pid").write_text("0")
        remaining = {entry.name for entry in servers._users().iterdir()}
    finally:
        stranger.kill()
        stranger.wait()
    assert remaining == {str(os.getpid())}


def test_a_dead_user_is_pruned(tmp_path: Path) -> None:
    servers = _servers(tmp_path)
    users = servers._users()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (users / str(gone.pid)).write_text("0.0")
    assert list(servers._users().iterdir()) == []
