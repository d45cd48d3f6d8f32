"""`mboa` — one codebase, several processes.

mboa up          everything (embedded PostgreSQL/Redis unless URLs are set), Ctrl-C stops all
mboa api         the HTTP API          mboa worker     BullMQ workers + outbox relay
mboa scheduler   cron registration     mboa simulator  MTN MoMo / Orange Money simulators
mboa db upgrade  apply migrations      mboa admin create --email … (platform staff)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Annotated

import httpx
import typer

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

    settings = _settings()
    services = _services(settings)
    try:
        uvicorn.run(
            "mboa.app:create_app",
            factory=True,
            host=host or settings.api.host,
            port=port or settings.api.port,
            workers=workers or settings.api.workers,
            loop="uvloop",
            http="httptools",
            access_log=False,
            log_level="warning",
            **SERVER_OPTIONS,
        )
    finally:
        services.stop()


@app.command()
def worker() -> None:
    """Run the BullMQ workers and the outbox relay."""
    from mboa import logging
    from mboa.metrics import serve_metrics
    from mboa.worker.run import run_worker

    settings = _settings()
    logging.configure(settings.log.level, json_output=settings.log.json_output)
    services = _services(settings)
    metrics = settings.metrics
    exporter = (
        serve_metrics(metrics.host, metrics.worker_port, process="worker")
        if metrics.enabled
        else None
    )
    try:
        asyncio.run(
            run_worker(
                settings, services.database_url, services.redis_url, freeze_after_startup=True
            )
        )
    finally:
        if exporter is not None:
            exporter.stop()
        services.stop()


@app.command()
def scheduler() -> None:
    """Register cron tasks as BullMQ job schedulers and stay up (one replica)."""
    from mboa import logging
    from mboa.scheduler.run import run_scheduler

    settings = _settings()
    logging.configure(settings.log.level, json_output=settings.log.json_output)
    services = _services(settings)
    try:
        asyncio.run(run_scheduler(settings, services.redis_url))
    finally:
        services.stop()


@app.command()
def simulator(
    mtn_port: Annotated[int | None, typer.Option(help="MTN MoMo port (default 8101)")] = None,
    orange_port: Annotated[
        int | None, typer.Option(help="Orange Money port (default 8102)")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for deterministic outcomes")] = None,
) -> None:
    """Run the MTN MoMo and Orange Money simulators (the sandbox) on 127.0.0.1."""
    from mboa import logging
    from mboa.simulator.run import serve

    settings = _settings()
    logging.configure(settings.log.level, json_output=settings.log.json_output)
    sim = settings.providers.simulator
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            serve(
                "127.0.0.1",
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
        f"  API            {base}/v1",
        f"  API reference  {base}/docs",
        f"  Demo login     {account.email} / {account.password}  (POST {base}/v1/auth/login)",
        f"  Staff login    {account.staff_email} / {account.staff_password}",
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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
