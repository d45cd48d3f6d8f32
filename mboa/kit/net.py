"""Choosing a local port for a server this process is about to start."""

from __future__ import annotations

import random
import socket
from pathlib import Path

_PORT_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LINUX_DEFAULT_EPHEMERAL_LOW = 32768
_SPAN = 12_000  # ports tried, just below the ephemeral range
_MIN_SPAN = 1_000
_FIRST_UNPRIVILEGED = 1024
_ATTEMPTS = 200


def free_port(preferred: int | None = None) -> int:
    """`preferred` if it is free on 127.0.0.1, else a free port the kernel will not hand out.

    The server that gets the port binds it a moment later (PostgreSQL after `pg_ctl start`,
    uvicorn after its imports, seconds for `mboa up`'s children). A port from `bind(0)` comes
    from the ephemeral range, where the kernel also picks the local port of every outgoing
    connection, so in that moment a connection to anything could take it and the server would
    fail with "address already in use". Ports just below the range are never picked by the
    kernel: only another process choosing the same one at random could collide.
    """
    if preferred is not None and _bindable(preferred):
        return preferred
    low = _ephemeral_low()
    if low - _MIN_SPAN >= _FIRST_UNPRIVILEGED:
        for _ in range(_ATTEMPTS):
            port = random.randrange(max(_FIRST_UNPRIVILEGED, low - _SPAN), low)
            if _bindable(port):
                return port
    # An ephemeral range that starts (nearly) at 1024, or no free port below it: the kernel's
    # choice, with the race described above.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _ephemeral_low() -> int:
    try:
        return int(_PORT_RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):  # not Linux, or no /proc
        return _LINUX_DEFAULT_EPHEMERAL_LOW
