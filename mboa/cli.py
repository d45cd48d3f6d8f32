"""`mboa` — one codebase, several processes.

mboa up          everything (embedded PostgreSQL/Redis unless URLs are set), Ctrl-C stops all
mboa api         the HTTP API          mboa worker     BullMQ workers + outbox relay
mboa scheduler   cron registration     mboa simulator  MTN MoMo / Orange Money simulators
mboa db upgrade  apply migrations      mboa admin create --email … (platform staff)
mboa listen      forward test events to a local URL, signed   mboa trigger  fire a test event
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import httpx
import typer

from mboa.audit.cli import audit_app
from mboa.config import ConfigurationError, Settings, load_settings
from mboa.dev.runtime import Services, migrate, resolve_services
from mboa.ledger.cli import ledger_app

# How long `mboa up` waits for its children to serve /readyz. They only import and connect (the
# database is already up and migrated), a few seconds on an idle machine; the margin is for a
# first start on a loaded CI box. A child that exits ends the wait at once.
READY_WAIT_SECONDS = 180.0

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
db_app = typer.Typer(no_args_is_help=True, help="Database commands.")
admin_app = typer.Typer(no_args_is_help=True, help="Platform staff commands.")
app.add_typer(db_app, name="db")
app.add_typer(admin_app, name="admin")
app.add_typer(ledger_app, name="ledger")
app.add_typer(audit_app, name="audit")


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigurationError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


def _services(settings: Settings) -> Services:
    services = resolve_services(settings)
    if services.embedded is not None:
        # A process started alone on the embedded database brings it up to date itself (cheap
        # when it already is); against an external database, migrations are a deploy step.
        try:
            migrate(services.database_url)
        except BaseException:
            services.stop()
            raise
    # Children and uvicorn factories read the resolved URLs from the environment.
    os.environ["MBOA_DATABASE_URL"] = services.database_url
    os.environ["MBOA_REDIS_URL"] = services.redis_url
    return services


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="Bind address (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000, or MBOA_PORT)")] = None,
    workers: Annotated[int | None, typer.Option(help="uvicorn worker processes")] = None,
) -> None:
    """Run the HTTP API."""
    import uvicorn

    from mboa.http_security import SERVER_OPTIONS
    from mboa.shutdown import DrainingServer

    settings = _settings()
    services = _services(settings)
    options: dict[str, Any] = {
        "factory": True,
        "host": host or settings.api.host,
        "port": port or settings.api.port,
        "loop": "uvloop",
        "http": "httptools",
        "access_log": False,
        "log_level": "warning",
        "timeout_graceful_shutdown": int(settings.api.graceful_shutdown_seconds),
        **SERVER_OPTIONS,
    }
    try:
        processes = workers or settings.api.workers
        if processes == 1:  # a pod: SIGTERM drains first (docs/deploy.md §7)
            config = uvicorn.Config("mboa.app:create_app", **options)
            DrainingServer(config, drain_seconds=settings.api.drain_seconds).run()
        else:
            uvicorn.run("mboa.app:create_app", workers=processes, **options)
    finally:
        services.stop()


@contextlib.contextmanager
def _reported(settings: Settings, process: str) -> Iterator[None]:
    """Sentry for this process (when `MBOA_SENTRY_DSN` is set): what ends it with an exception
    is sent, and what is queued is flushed before it exits."""
    from mboa import sentry

    sentry.init(settings, process=process)
    try:
        yield
    except Exception as exc:
        sentry.report_exception(exc)
        raise
    finally:
        sentry.flush()


@app.command()
def worker() -> None:
    """Run the BullMQ workers and the outbox relay."""
    import uvloop

    from mboa import logging
    from mboa.heartbeat import LoopHeartbeat
    from mboa.metrics import MetricsServer, serve_metrics
    from mboa.worker.run import Sampler, run_worker

    settings = _settings()
    logging.configure(settings.log.level, json_output=settings.log.json_output)
    metrics = settings.metrics
    exporter: MetricsServer | None = None
    heartbeat = LoopHeartbeat()

    def serve(sampler: Sampler) -> None:
        # Started once the worker runs: /healthz is the event loop's heartbeat, /readyz the
        # sampler's (PostgreSQL and Redis answered lately).
        nonlocal exporter
        if metrics.enabled:
            exporter = serve_metrics(
                metrics.host,
                metrics.worker_port,
                process="worker",
                live=heartbeat.alive,
                ready=sampler.ready,
            )

    async def run(database_url: str, redis_url: str) -> None:
        async with heartbeat.running():
            await run_worker(
                settings, database_url, redis_url, freeze_after_startup=True, health=serve
            )

    with _reported(settings, "worker"):
        services = _services(settings)
        try:
            # uvloop: the worker is CPU-bound on its event loop (sockets to PostgreSQL, Redis
            # and merchants' endpoints); docs/benchmarks.md "Webhooks", 2026-12-05.
            uvloop.run(run(services.database_url, services.redis_url))
        finally:
            if exporter is not None:
                exporter.stop()
            services.stop()


@app.command()
def scheduler() -> None:
    """Register cron tasks as BullMQ job schedulers and stay up (one replica)."""
    from mboa import logging
    from mboa.heartbeat import LoopHeartbeat
    from mboa.metrics import serve_metrics
    from mboa.scheduler.run import run_scheduler

    settings = _settings()
    logging.configure(settings.log.level, json_output=settings.log.json_output)
    with _reported(settings, "scheduler"):
        services = _services(settings)
        heartbeat = LoopHeartbeat()
        registered = threading.Event()
        metrics = settings.metrics
        # The scheduler's probes: /healthz its loop's heartbeat, /readyz its schedules registered.
        exporter = (
            serve_metrics(
                metrics.host,
                metrics.scheduler_port,
                process="scheduler",
                live=heartbeat.alive,
                ready=registered.is_set,
            )
            if metrics.enabled
            else None
        )

        async def run() -> None:
            async with heartbeat.running():
                await run_scheduler(settings, services.redis_url, on_registered=registered.set)

        try:
            asyncio.run(run())
        finally:
            if exporter is not None:
                exporter.stop()
            services.stop()


@app.command()
def simulator(
    mtn_port: Annotated[int | None, typer.Option(help="MTN MoMo port (default 8101)")] = None,
    orange_port: Annotated[
        int | None, typer.Option(help="Orange Money port (default 8102)")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for deterministic outcomes")] = None,
    host: Annotated[
        str,
        typer.Option(
            help="Listen address. Only the chart's sandbox pod gives another (0.0.0.0), behind"
            " a NetworkPolicy that admits its own API and workers alone"
        ),
    ] = "127.0.0.1",
) -> None:
    """Run the MTN MoMo and Orange Money simulators (the sandbox), on 127.0.0.1 by default."""
    from mboa import logging
    from mboa.simulator.run import serve

    settings = _settings()
    logging.configure(settings.log.level, json_output=settings.log.json_output)
    sim = settings.providers.simulator
    with _reported(settings, "simulator"), contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            serve(
                host,
                mtn_port or sim.mtn_port,
                orange_port or sim.orange_port,
                seed if seed is not None else sim.seed,
                settings=sim,
            )
        )


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration to the configured (or embedded) database."""
    settings = _settings()
    with _reported(settings, "db-upgrade"):
        services = _services(settings)
        try:
            if services.embedded is None:  # `_services` already migrated an embedded database
                migrate(services.database_url)
            typer.echo("database is at the latest revision")
        finally:
            services.stop()


@admin_app.command("create")
def admin_create(
    email: Annotated[str, typer.Option(prompt=True)],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    name: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Create (or promote) a platform_admin user."""
    from mboa.postgres import Database
    from mboa.users.exceptions import WeakPassword
    from mboa.users.service import user as user_service

    settings = _settings()
    try:  # before any server starts: a weak password changes nothing
        user_service.check_password(password, settings.auth, user_inputs=(email, name))
    except WeakPassword as exc:
        typer.echo(exc.message, err=True)
        raise typer.Exit(2) from None
    services = _services(settings)

    async def create() -> str:
        db = Database.connect(settings, services.database_url, process="cli")
        try:
            async with db.platform_transaction() as session:
                user = await user_service.create_platform_admin(
                    session, email=email, password=password, name=name, settings=settings.auth
                )
                return user.id
        finally:
            await db.dispose()

    try:
        if services.embedded is None:
            migrate(services.database_url)
        user_id = asyncio.run(create())
        typer.echo(f"platform_admin {email} ({user_id})")
    finally:
        services.stop()


def _exited(commands: list[list[str]], children: list[subprocess.Popen[bytes]]) -> str | None:
    """`mboa api exited with 1` for the first child that is no longer running, else None."""
    for command, child in zip(commands, children, strict=True):
        if child.poll() is not None:
            return f"mboa {' '.join(command)} exited with {child.returncode}"
    return None


def _wait_ready(
    url: str,
    commands: list[list[str]],
    children: list[subprocess.Popen[bytes]],
    timeout: float,
    stop_requested: Callable[[], bool],
) -> str | None:
    """None once `url` answers 200 (or a stop was requested); otherwise why it never did."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not stop_requested():
        exited = _exited(commands, children)
        if exited is not None:
            return exited
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return None
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    if stop_requested():
        return None
    return f"{url} did not answer 200 within {timeout:.0f} s"


def _stop_children(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    for child in children:
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


@app.command()
def up(
    simulators: Annotated[bool, typer.Option(help="Also run the operator simulators")] = True,
) -> None:
    """Start everything: database, Redis, migrations, demo merchant, API, worker, scheduler."""
    from mboa.dev.demo import ensure_demo
    from mboa.postgres import Database

    settings = _settings()
    services = _services(settings)
    children: list[subprocess.Popen[bytes]] = []
    stopping = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    exit_code = 0
    try:
        if services.embedded is None:  # `make run` on external servers migrates them too
            migrate(services.database_url)

        async def demo() -> object:
            db = Database.connect(settings, services.database_url, process="cli")
            try:
                return await ensure_demo(settings, db)
            finally:
                await db.dispose()

        account = asyncio.run(demo())
        commands = [["api"], ["worker"], ["scheduler"]]
        if simulators:
            commands.append(["simulator"])
        for command in commands:
            # Each child gets its own process group: Ctrl-C reaches `mboa up` only, which then
            # stops the children first and the database last.
            children.append(
                subprocess.Popen([sys.executable, "-m", "mboa", *command], start_new_session=True)
            )
        base = settings.base_url
        not_ready = _wait_ready(
            f"{base}/readyz", commands, children, READY_WAIT_SECONDS, lambda: stopping
        )
        if not_ready is not None:
            typer.echo(f"not ready: {not_ready}; see the logs above", err=True)
            exit_code = 1
        elif not stopping:
            _print_banner(settings, services, account)
        while exit_code == 0:
            # Children run in their own sessions, so Ctrl-C does not reach them: any of them that
            # has exited before we stop it has failed, even when a stop was requested meanwhile.
            exited = _exited(commands, children)
            if exited is not None:
                typer.echo(f"{exited}; stopping everything", err=True)
                exit_code = 1
            elif stopping:
                break
            else:
                time.sleep(0.3)
    finally:
        _stop_children(children)
        services.stop()
        typer.echo("stopped")
    raise typer.Exit(exit_code)


def _print_banner(settings: Settings, services: Services, account: object) -> None:
    from mboa.dev.demo import DemoAccount

    assert isinstance(account, DemoAccount)
    base = settings.base_url
    sim = settings.providers.simulator
    embedded = "embedded" if services.embedded is not None else "external"
    lines = [
        "",
        "Mboa Pay is running (Ctrl-C stops everything)",
        f"  Dashboard      {base}/dashboard  (sign in with the demo login)",
        f"  API            {base}/v1",
        f"  API reference  {base}/docs",
        f"  Demo login     {account.email} / {account.password}  (POST {base}/v1/auth/login)",
        f"  Staff login    {account.staff_email} / {account.staff_password}",
        f"  Staff console  {base}/console  (staff login; the first sign-in sets up two-factor)",
        *_metrics_lines(settings),
        f"  Simulators     MTN MoMo http://127.0.0.1:{sim.mtn_port}"
        f"  Orange Money http://127.0.0.1:{sim.orange_port}  (customer's phone: /_sim/phone)",
        f"  Data           {embedded} PostgreSQL and Redis ({settings.data_dir}/dev)",
        f"  Demo merchant  {account.merchant_id}",
        "  Sandbox secret key:",
        account.secret_key,
        f"  Publishable key: {account.publishable_key}",
        f"  Try: curl {base}/v1/account -H 'Authorization: Bearer {account.secret_key}'",
        "",
    ]
    typer.echo("\n".join(lines))


def _metrics_lines(settings: Settings) -> list[str]:
    metrics = settings.metrics
    if not metrics.enabled:
        return []
    host = "127.0.0.1" if metrics.host in {"0.0.0.0", "::"} else metrics.host  # noqa: S104
    return [
        f"  Metrics        API http://{host}:{metrics.port}/metrics"
        f"  worker http://{host}:{metrics.worker_port}/metrics"
    ]


def _api_base(given: str | None) -> str:
    # The API that `mboa up` in this environment serves (MBOA_PORT moves it off 8000).
    return given or f"http://127.0.0.1:{_settings().api.port}"


def _simulator_url(given: str | None) -> str:
    simulator = _settings().providers.simulator
    return given or f"http://{simulator.host}:{simulator.mtn_port}"


def _api_key(given: str | None) -> str:
    from mboa.events.listen import api_key_of

    key = api_key_of(given, _settings().data_dir)
    if key is None:
        typer.echo(
            "Give a test secret key with --api-key sk_test_… (or MBOA_API_KEY); without one,"
            " the demo merchant's key that `make run` keeps in .mboa/demo.json is used.",
            err=True,
        )
        raise typer.Exit(2)
    return key


@app.command()
def listen(
    forward_to: Annotated[
        str,
        typer.Option(
            "--forward-to", help="Where to POST each event, e.g. http://localhost:3000/webhooks"
        ),
    ],
    events: Annotated[
        str | None,
        typer.Option(help="Only these event types, comma-separated ('payment_intent.*' works)"),
    ] = None,
    api_key: Annotated[
        str | None, typer.Option(envvar="MBOA_API_KEY", help="A test secret key (sk_test_…)")
    ] = None,
    api_base: Annotated[
        str | None,
        typer.Option(help="The API's address (default: http://127.0.0.1:$MBOA_PORT, else 8000)"),
    ] = None,
) -> None:
    """Forward your test-mode events to a local URL as signed webhooks (Standard Webhooks,
    with the secret printed at start), one line per delivery. Ctrl-C stops."""
    from mboa.events.listen import Listener, ListenError

    listener = Listener(
        forward_to=forward_to,
        api_base=_api_base(api_base),
        api_key=_api_key(api_key),
        events=[e.strip() for e in (events or "").split(",") if e.strip()],
        echo=lambda line: typer.echo(line),
    )
    try:
        asyncio.run(listener.run())
    except ListenError as exc:
        typer.echo(f"The API refused the event stream: {exc}", err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        typer.echo("stopped")


@app.command()
def trigger(
    event_type: Annotated[str, typer.Argument(help="e.g. payment_intent.succeeded")],
    api_key: Annotated[
        str | None, typer.Option(envvar="MBOA_API_KEY", help="A test secret key (sk_test_…)")
    ] = None,
    api_base: Annotated[
        str | None,
        typer.Option(help="The API's address (default: http://127.0.0.1:$MBOA_PORT, else 8000)"),
    ] = None,
    wait: Annotated[float, typer.Option(help="Seconds to wait for the outcome")] = 60.0,
    simulator_url: Annotated[
        str | None,
        typer.Option(
            help="The MTN simulator, for refund.failed (default: the simulator settings, :8101)"
        ),
    ] = None,
) -> None:
    """Create, in test mode, the objects that fire EVENT_TYPE (through the API and the sandbox's
    magic numbers), and print their ids."""
    from mboa.events.trigger import TRIGGERS, TriggerError, supported
    from mboa.events.trigger import trigger as fire

    if event_type not in TRIGGERS:
        typer.echo(f"Unknown event type {event_type!r}. Supported: {supported()}", err=True)
        raise typer.Exit(1)
    try:
        asyncio.run(
            fire(
                event_type,
                api_base=_api_base(api_base),
                api_key=_api_key(api_key),
                echo=lambda line: typer.echo(line),
                wait_seconds=wait,
                simulator_url=_simulator_url(simulator_url),
            )
        )
    except TriggerError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None


def main() -> None:
    app()


if __name__ == "__main__":
    main()
