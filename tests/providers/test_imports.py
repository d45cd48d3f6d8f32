"""Import-time boundaries: reading the settings must not load the operator adapters.

Each check runs in a fresh interpreter, since this one has long imported everything."""

from __future__ import annotations

import subprocess
import sys

import orjson

HEAVY = (
    "httpx",
    "prometheus_client",
    "mboa.providers.registry",
    "mboa.providers._http",
    "mboa.providers.metrics",
    "mboa.providers.mtn_momo.adapter",
    "mboa.providers.orange_money.adapter",
)


def loaded_after(statement: str) -> set[str]:
    """The modules in `sys.modules` after running `statement` in a fresh interpreter."""
    script = (
        f"{statement}\nimport sys, orjson\nsys.stdout.buffer.write(orjson.dumps(list(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, check=True, timeout=60
    )
    return set(orjson.loads(result.stdout))


def test_importing_the_settings_loads_no_adapter_httpx_or_prometheus() -> None:
    loaded = loaded_after("import mboa.config")
    assert "mboa.config" in loaded  # the check ran
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))


def test_enqueueing_loads_no_adapter() -> None:
    """Any domain may enqueue; that must not pull in the operators or the task registry's
    domains."""
    loaded = loaded_after("from mboa.worker import enqueue")
    assert "mboa.worker.outbox" in loaded
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))
    assert "mboa.tasks" not in loaded


def test_the_registry_is_what_loads_the_adapters() -> None:
    """The control for the two checks above: the same probe does see them when they load."""
    loaded = loaded_after("import mboa.providers.registry")
    assert set(HEAVY) <= loaded
