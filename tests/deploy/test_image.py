"""The container image (docs/deploy.md §1). No container daemon runs here, so: hadolint
(from its PyPI wheel) lints the Dockerfile, its key properties are read from the file, and the
wheel the build stage installs is built and run the way the image runs it."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import subprocess
import sys
import zipfile
from pathlib import Path

import asyncpg
import pytest
from alembic.script import ScriptDirectory

from mboa.dev.runtime import alembic_config
from mboa.postgres import plain_url
from tests.plugin import database_for, recreate

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
HADOLINT = Path(sys.executable).with_name("hadolint")


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in lines
        if line and not line.startswith("#")
    ]


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for instruction in _instructions():
        if instruction[0] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(instruction)
    return stages


def test_hadolint_finds_nothing() -> None:
    result = subprocess.run(
        [str(HADOLINT), "--config", str(ROOT / ".hadolint.yaml"), str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_catches_a_bad_dockerfile(tmp_path: Path) -> None:
    # The linter is live: an unpinned base image and a root apt install are findings.
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN apt-get install gcc\n")
    result = subprocess.run([str(HADOLINT), str(bad)], capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert "DL3006" in result.stdout


def test_multi_stage_slim_python_311_non_root_final_stage() -> None:
    args = dict(a.split("=", 1) for kind, a in _instructions() if kind == "ARG" and "=" in a)
    stages = _stages()
    assert len(stages) >= 2
    final = stages[-1]
    base = final[0][1].split()[0].replace("${PYTHON_IMAGE}", args.get("PYTHON_IMAGE", ""))
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?", base), base
    users = [a for kind, a in final if kind == "USER"]
    assert users, "the final stage sets a USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit(), "a numeric user: runAsNonRoot can only check a number"
    assert int(uid) >= 1000
    runs = " ".join(a for kind, a in final if kind == "RUN")
    for compiler in ("gcc", "build-essential", "clang", "make ", "apt-get install"):
        assert compiler not in runs, f"{compiler!r} in the final stage"
    copies = [a for kind, a in final if kind == "COPY"]
    assert copies == ["--from=build /opt/mboa /opt/mboa"], "only the built environment"
    build_runs = " ".join(a for kind, a in stages[0] if kind == "RUN")
    assert "pip wheel" in build_runs
    assert "pip install /dist/mboa-" in build_runs


def test_entrypoint_is_mboa_and_labels_are_oci() -> None:
    final = _stages()[-1]
    entrypoint = [a for kind, a in final if kind == "ENTRYPOINT"]
    assert [json.loads(e) for e in entrypoint] == [["mboa"]]
    assert [json.loads(a) for kind, a in final if kind == "CMD"] == [["api"]]
    labels = " ".join(a for kind, a in final if kind == "LABEL")
    keys = set(re.findall(r"(org\.opencontainers\.image\.[a-z]+)=", labels))
    for key in ("title", "version", "revision", "created", "source", "licenses"):
        assert f"org.opencontainers.image.{key}" in keys
    env = " ".join(a for kind, a in final if kind == "ENV")
    assert "MBOA_ENV=production" in env
    assert "PYTHONDONTWRITEBYTECODE=1" in env


def test_dockerignore_sends_only_the_sources() -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*", "everything is excluded unless named"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    copied = set()
    for kind, arguments in _stages()[0]:
        if kind == "COPY" and not arguments.startswith("--from"):
            copied.update(shlex.split(arguments)[:-1])
    assert copied == allowed


@pytest.fixture(scope="module")
def installed_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built by the project's build backend and installed without a checkout."""
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(dist)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    (wheel,) = dist.glob("mboa-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "mboa/_migrations/env.py" in names
    assert "mboa/_migrations/alembic.ini" in names
    assert "mboa/checkout/static/checkout.css" in names
    assert "mboa/ledger/sql/apply.sql" in names
    assert not [n for n in names if "__pycache__" in n]
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    return target


@pytest.mark.slow
def test_the_installed_wheel_migrates_an_empty_database_in_production_mode(
    installed_wheel: Path, tmp_path: Path, redis_url: str
) -> None:
    url = database_for(os.environ["MBOA_TEST_DATABASE_URL"], "image")
    asyncio.run(recreate(url))
    workdir = tmp_path / "work"
    workdir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MBOA_")}
    env.update(
        PYTHONPATH=str(installed_wheel),
        PYTHONDONTWRITEBYTECODE="1",
        MBOA_ENV="production",
        MBOA_DATABASE_URL=url,
        MBOA_REDIS_URL=redis_url,
        MBOA_AUTH__JWT_SECRET="image-test-secret-0123456789abcdef",
        MBOA_WEBHOOKS__ENCRYPTION_KEY=os.environ["MBOA_WEBHOOKS__ENCRYPTION_KEY"],
        MBOA_DATA_DIR=str(workdir / "data"),
    )
    probe = subprocess.run(
        [sys.executable, "-c", "import mboa; print(mboa.__file__)"],
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.startswith(str(installed_wheel)), "the wheel, not the checkout"
    result = subprocess.run(
        [sys.executable, "-m", "mboa", "db", "upgrade"],
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "latest revision" in result.stdout

    async def head() -> str:
        connection = await asyncpg.connect(plain_url(url))
        try:
            return str(await connection.fetchval("SELECT version_num FROM alembic_version"))
        finally:
            await connection.close()

    expected = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    assert asyncio.run(head()) == expected
    # Production mode wrote nothing: no data dir, nothing in the working directory.
    assert list(workdir.iterdir()) == []
