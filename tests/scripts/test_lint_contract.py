"""`scripts/lint_contract.py` (run by `make lint`): each rule reports what breaks it, nothing else."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "lint_contract.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lint_contract", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


lint = _load()

ERRORS = """
class MboaError(Exception): ...
class NotFound(MboaError): ...
class ProviderError(Exception): ...
"""

VIOLATING = """
import sqlalchemy as sa
from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from mboa import exceptions
from mboa.exceptions import NotFound
from mboa.shop.exceptions import ShopError


class ShopMissing(NotFound):
    pass


class ShopBroken(exceptions.MboaError):
    pass


class ShopGone(ShopError):
    pass


async def run(session, connection):
    await session.execute(select(Shop))
    await session.execute(text("SELECT 1"))
    await session.execute(pg_insert(Shop).values())
    sa.delete(Shop)
    await connection.fetchrow("SELECT 1")
    await connection.fetch("SELECT 1")
    await connection.fetchval("SELECT 1")
    await session.commit()
"""

INNOCENT = """
from mboa.customers.service import customer as customer_service
from mboa.providers.errors import ProviderError


class Timeout(ProviderError):
    pass


def update(values):
    return values


async def run(session, shop):
    update({})
    await customer_service.update(session, shop)
    await customer_service.delete(session, shop)
    await session.flush()
"""


def _violations(sources: dict[str, str]) -> list[tuple[str, int, str]]:
    return [(v.path, v.line, v.rule) for v in lint.check_sources(sources)]


def test_each_rule_reports_its_violations() -> None:
    found = _violations(
        {
            "mboa/exceptions.py": ERRORS,
            "mboa/shop/exceptions.py": "from mboa.exceptions import NotFound\n"
            "class ShopError(NotFound): ...\n",
            "mboa/shop/service.py": VIOLATING,
        }
    )
    assert [(line, rule) for _, line, rule in found] == [
        (10, "error"),  # a direct subclass
        (14, "error"),  # through an attribute
        (18, "error"),  # a subclass of a subclass declared in another module
        (23, "sql"),  # session.execute(
        (23, "sql"),  # select(
        (24, "sql"),
        (24, "sql"),  # text(
        (25, "sql"),
        (25, "sql"),  # insert( under another name
        (26, "sql"),  # sa.delete(
        (27, "sql"),  # asyncpg fetchrow
        (28, "sql"),
        (29, "sql"),
        (30, "commit"),
    ]
    assert {path for path, _, _ in found} == {"mboa/shop/service.py"}


@pytest.mark.parametrize(
    "path",
    ["mboa/shop/repository.py", "mboa/shop/repositories/reads.py", "mboa/ledger/repositories.py"],
)
def test_repositories_may_speak_sql_but_not_declare_errors(path: str) -> None:
    found = _violations({"mboa/exceptions.py": ERRORS, path: VIOLATING})
    assert {rule for _, _, rule in found} == {"error"}


def test_a_service_commit_is_reported_only_in_services() -> None:
    source = "async def run(session):\n    await session.commit()\n"
    assert _violations({"mboa/shop/tasks.py": source}) == []
    assert _violations({"mboa/shop/service.py": source}) == [("mboa/shop/service.py", 2, "commit")]


def test_what_is_not_sql_nor_an_api_error_passes() -> None:
    assert _violations({"mboa/exceptions.py": ERRORS, "mboa/shop/service.py": INNOCENT}) == []


def test_allow_lists_cover_and_must_stay_true(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lint, "SQL_INFRASTRUCTURE", {"mboa/kit/": "tooling", "mboa/gone.py": "x"})
    monkeypatch.setattr(lint, "PENDING", {("mboa/shop/fees.py", "error"): "moving"})
    sql = "async def ping(connection):\n    await connection.execute('SELECT 1')\n"
    violations = lint.check_sources(
        {
            "mboa/exceptions.py": ERRORS,
            "mboa/kit/db.py": sql,
            "mboa/shop/service.py": sql,
            "mboa/shop/fees.py": "from mboa.exceptions import NotFound\nclass Gone(NotFound): ...\n",
        }
    )
    assert lint.report(violations) == [
        "mboa/shop/service.py:2: [sql] .execute() outside a repository",
        "mboa/gone.py: no SQL any more: remove it from SQL_INFRASTRUCTURE",
    ]
    monkeypatch.setattr(lint, "PENDING", {("mboa/shop/other.py", "error"): "moving"})
    assert "mboa/shop/other.py: [error] fixed: remove it from PENDING" in lint.report(violations)


def test_the_package_keeps_the_contract() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT)], capture_output=True, text=True, check=False, cwd=ROOT
    )
    assert result.returncode == 0, result.stdout
    assert result.stdout == ""
