"""The module contract (docs/architecture.md), checked on the syntax tree of `mboa/`.

Three rules, each a line of the contract that reviews kept re-stating:

* `sql`: SQL is built and sent only from repositories (`repository.py`, `*_repository.py`, or
  a `repositories/` package): no `select(`/`insert(`/`update(`/`delete(`/`text(` imported from SQLAlchemy, no
  `.execute(` / `.fetch*(` call anywhere else;
* `error`: `MboaError` subclasses are declared in `exceptions.py` files (or `mboa/exceptions.py`);
* `commit`: a `service.py` never commits: the request's route or the task owns the transaction.

`python scripts/lint_contract.py` prints one line per violation and exits 1 if there is any, or if
an entry of the allow-lists below no longer matches anything (so the lists can only shrink).
Plain `ast`, no import of the code it checks.
"""

from __future__ import annotations

import ast
import dataclasses
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "mboa"

SQL_BUILDERS = frozenset({"select", "insert", "update", "delete", "text"})
SQL_METHODS = frozenset(
    {"execute", "executemany", "fetch", "fetchrow", "fetchval", "fetchmany", "copy_to_table"}
)
BASE_ERROR = "MboaError"

# Infrastructure that speaks SQL by nature: none of it is a domain with a repository to hold it.
# A path ending in "/" covers a folder.
SQL_INFRASTRUCTURE: dict[str, str] = {
    "mboa/postgres.py": "engines per role, set_tenant(), the read path's BEGIN READ ONLY",
    "mboa/kit/": "framework-free tooling: the repository base itself, migration helpers",
    "mboa/ops.py": "/readyz pings PostgreSQL (SELECT 1)",
    "mboa/dev/runtime.py": "local runs: creates the database on the embedded server",
    "mboa/models/": "table declarations: server defaults and index predicates are SQL expressions",
}

# Known violations, each to be fixed (issue 11 is moving them); remove a line once it is fixed.
PENDING: dict[tuple[str, str], str] = {}


@dataclasses.dataclass(frozen=True, order=True, slots=True)
class Violation:
    path: str
    line: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: [{self.rule}] {self.message}"


def is_repository(path: str) -> bool:
    parts = Path(path).parts
    return (
        parts[-1] in {"repository.py", "repositories.py"}
        or parts[-1].endswith("_repository.py")
        or "repositories" in parts[:-1]
    )


def covers(allowed: str, path: str) -> bool:
    return path.startswith(allowed) if allowed.endswith("/") else path == allowed


def is_exceptions_module(path: str) -> bool:
    return Path(path).name == "exceptions.py"


def is_service(path: str) -> bool:
    return Path(path).name in {"service.py", "services.py"} or "services" in Path(path).parts[:-1]


def error_classes(trees: Iterable[ast.Module]) -> frozenset[str]:
    """Names of every class that derives from `MboaError`, by name, across the package."""
    bases: dict[str, set[str]] = {}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                bases.setdefault(node.name, set()).update(_base_names(node))
    found = {BASE_ERROR}
    changed = True
    while changed:
        changed = False
        for name, parents in bases.items():
            if name not in found and parents & found:
                found.add(name)
                changed = True
    return frozenset(found)


def _base_names(node: ast.ClassDef) -> Iterator[str]:
    for base in node.bases:
        if isinstance(base, ast.Name):
            yield base.id
        elif isinstance(base, ast.Attribute):
            yield base.attr


def _sqlalchemy_names(tree: ast.Module) -> tuple[set[str], set[str]]:
    """Local names bound to SQL builders of SQLAlchemy, and to SQLAlchemy modules."""
    builders: set[str] = set()
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
            for alias in node.names:
                if alias.name in SQL_BUILDERS:
                    builders.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("sqlalchemy"):
                    modules.add(alias.asname or alias.name.split(".")[0])
    return builders, modules


def check(path: str, tree: ast.Module, errors: frozenset[str]) -> list[Violation]:
    """Every violation of the contract in one module; `path` is relative to the repository."""
    found: list[Violation] = []
    sql_allowed = is_repository(path)
    builders, modules = _sqlalchemy_names(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and not sql_allowed:
            func = node.func
            if isinstance(func, ast.Name) and func.id in builders:
                found.append(
                    Violation(path, node.lineno, "sql", f"{func.id}() outside a repository")
                )
            elif isinstance(func, ast.Attribute):
                base = func.value
                if func.attr in SQL_BUILDERS and isinstance(base, ast.Name) and base.id in modules:
                    found.append(
                        Violation(
                            path,
                            node.lineno,
                            "sql",
                            f"{base.id}.{func.attr}() outside a repository",
                        )
                    )
                elif func.attr in SQL_METHODS:
                    found.append(
                        Violation(path, node.lineno, "sql", f".{func.attr}() outside a repository")
                    )
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "commit"
            and is_service(path)
        ):
            found.append(
                Violation(
                    path,
                    node.lineno,
                    "commit",
                    "a service flushes; the route or the task commits",
                )
            )
        if (
            isinstance(node, ast.ClassDef)
            and not is_exceptions_module(path)
            and node.name != BASE_ERROR
            and set(_base_names(node)) & errors
        ):
            found.append(
                Violation(
                    path,
                    node.lineno,
                    "error",
                    f"{node.name} is an MboaError: declare it in an exceptions.py",
                )
            )
    return found


def check_sources(sources: dict[str, str]) -> list[Violation]:
    """Check modules given as {relative path: source}; the error classes are resolved across them."""
    trees = {path: ast.parse(source, filename=path) for path, source in sources.items()}
    errors = error_classes(trees.values())
    violations: list[Violation] = []
    for path, tree in trees.items():
        violations.extend(check(path, tree, errors))
    return sorted(violations)


def package_sources(root: Path = ROOT) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted((root / PACKAGE).rglob("*.py"))
    }


def report(violations: Iterable[Violation]) -> list[str]:
    """What `make lint` prints: violations the allow-lists do not cover, and stale entries."""
    problems: list[str] = []
    used: set[object] = set()
    for violation in violations:
        infrastructure = next(
            (
                p
                for p in SQL_INFRASTRUCTURE
                if violation.rule == "sql" and covers(p, violation.path)
            ),
            None,
        )
        if infrastructure is not None:
            used.add(infrastructure)
        elif (violation.path, violation.rule) in PENDING:
            used.add((violation.path, violation.rule))
        else:
            problems.append(str(violation))
    for allowed in SQL_INFRASTRUCTURE:
        if allowed not in used:
            problems.append(f"{allowed}: no SQL any more: remove it from SQL_INFRASTRUCTURE")
    for path, rule in PENDING:
        if (path, rule) not in used:
            problems.append(f"{path}: [{rule}] fixed: remove it from PENDING")
    return problems


def main() -> int:
    problems = report(check_sources(package_sources()))
    for problem in problems:
        sys.stdout.write(problem + "\n")
    if problems:
        sys.stdout.write(
            f"{len(problems)} module-contract problem(s): the rules are in"
            " scripts/lint_contract.py and docs/architecture.md\n"
        )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
