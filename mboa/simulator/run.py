"""Run the simulators: `serve()` for `mboa simulator` / `mboa up`, `running_simulators()` for
tests and scripts (real sockets on free loopback ports, in the caller's event loop).

They listen on loopback only, with one exception: `mboa simulator --host 0.0.0.0`, the Helm
chart's sandbox pod, which the API and workers of its release reach through a Service and a
NetworkPolicy admits no one else (docs/deploy.md §2); never with MBOA_ENV=production."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Generator
from dataclasses import dataclass
from typing import Any

import uvicorn

from mboa.simulator.config import LOOPBACK_HOSTS, SimulatorSettings
from mboa.simulator.mtn import MtnSimulator, create_mtn_app
from mboa.simulator.orange import OrangeSimulator, create_orange_app

WILDCARD_HOSTS = frozenset({"0.0.0.0", "::"})  # noqa: S104 (the sandbox pod only, see _bind)
"""Every address of the host: a sandbox pod's own network namespace."""


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to its caller (which cancels us)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _bind(host: str, port: int, *, sandbox_pod: bool = False) -> socket.socket:
    if host not in LOOPBACK_HOSTS and not (sandbox_pod and host in WILDCARD_HOSTS):
        raise ValueError(
            "the simulators only listen on a loopback address (127.0.0.1), or on 0.0.0.0 in"
            " the chart's sandbox pod (mboa simulator --host 0.0.0.0)"
        )
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Without it, keep-alive requests wait ~40 ms on Nagle + delayed ACK (accepted sockets
    # inherit the option on Linux).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


@contextlib.asynccontextmanager
async def serve_asgi(
    app: Any, *, host: str = "127.0.0.1", port: int = 0, sandbox_pod: bool = False
) -> AsyncIterator[str]:
    """Serve an ASGI app on a real loopback socket until the block exits; yields its base URL.
    `sandbox_pod` also admits the wildcard addresses (`serve` for the chart's pod)."""
    sock = _bind(host, port, sandbox_pod=sandbox_pod)
    bound_port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                await task  # raises the startup error
                raise RuntimeError("server stopped during startup")
            await asyncio.sleep(0.005)
        yield f"http://{host}:{bound_port}"
    finally:
        server.should_exit = True
        # Keep-alive connections would hold a graceful shutdown open: don't wait for them.
        server.force_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task
        sock.close()


@dataclass
class RunningSimulators:
    mtn_url: str
    orange_url: str
    mtn: MtnSimulator
    """The MTN engine: wallets, transactions, recorded requests, callbacks."""
    orange: OrangeSimulator

    def reset(self) -> None:
        self.mtn.reset()
        self.orange.reset()


@contextlib.asynccontextmanager
async def running_simulators(
    settings: SimulatorSettings | None = None,
    *,
    host: str = "127.0.0.1",
    mtn_port: int = 0,
    orange_port: int = 0,
    seed: int | None = None,
    sandbox_pod: bool = False,
) -> AsyncIterator[RunningSimulators]:
    """Both simulators on `host` (port 0 = a free port), in the current event loop."""
    settings = settings or SimulatorSettings()
    mtn = MtnSimulator(settings, seed=seed)
    orange = OrangeSimulator(settings, seed=seed)
    try:
        async with (
            serve_asgi(
                create_mtn_app(mtn), host=host, port=mtn_port, sandbox_pod=sandbox_pod
            ) as mtn_url,
            serve_asgi(
                create_orange_app(orange), host=host, port=orange_port, sandbox_pod=sandbox_pod
            ) as orange_url,
        ):
            yield RunningSimulators(mtn_url=mtn_url, orange_url=orange_url, mtn=mtn, orange=orange)
    finally:
        await mtn.aclose()
        await orange.aclose()


async def serve(
    host: str = "127.0.0.1",
    mtn_port: int = 8101,
    orange_port: int = 8102,
    seed: int | None = None,
    *,
    settings: SimulatorSettings | None = None,
) -> None:
    """Run both simulators until cancelled (`mboa simulator`, `mboa up`).

    Timing, chaos and credentials come from `settings`, by default
    `MBOA_PROVIDERS__SIMULATOR__…` (docs/sandbox.md). `host` 0.0.0.0 is the chart's sandbox
    pod (module docstring), refused in production."""
    from mboa.config import Environment, get_settings

    sandbox_pod = host in WILDCARD_HOSTS
    if sandbox_pod and get_settings().env is Environment.production:
        raise ValueError("the simulators never listen beyond loopback with MBOA_ENV=production")
    if settings is None:
        settings = get_settings().providers.simulator
    async with running_simulators(
        settings,
        host=host,
        mtn_port=mtn_port,
        orange_port=orange_port,
        seed=seed,
        sandbox_pod=sandbox_pod,
    ):
        await asyncio.Event().wait()
