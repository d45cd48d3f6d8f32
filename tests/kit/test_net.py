"""`free_port`: ports for servers we start, out of the kernel's way."""

from __future__ import annotations

import socket

from mboa.kit.net import _ephemeral_low, free_port


def test_a_chosen_port_is_free_and_below_the_ephemeral_range() -> None:
    low = _ephemeral_low()  # the kernel's setting, or Linux's default where it cannot be read
    for _ in range(20):
        port = free_port()
        assert 1024 <= port < low
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))  # free: binding it works


def test_the_preferred_port_when_it_is_free_another_when_it_is_taken() -> None:
    preferred = free_port()
    assert free_port(preferred) == preferred
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", preferred))
        taken.listen()
        other = free_port(preferred)
    assert other != preferred
