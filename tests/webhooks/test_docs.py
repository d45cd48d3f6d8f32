"""The verification snippets of docs/webhooks.md §Signatures, taken from the doc as they are and
run against real signed deliveries: the Python one with the official `standardwebhooks` package,
the Node.js one with `node` and the official npm package (sdks/node/node_modules, `make
install`)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import WebhookVerificationError

from mboa.kit.migration import PACKAGE_ROOT
from mboa.kit.net import free_port
from mboa.postgres import Database
from mboa.worker import TaskContext
from tests.helpers import Api
from tests.webhooks.conftest import Receiver, create_endpoint, deliveries, write_event

ROOT = PACKAGE_ROOT.parent
NODE_MODULES = ROOT / "sdks/node/node_modules"


def snippet(language: str) -> str:
    """The one code block of `language` in docs/webhooks.md §Signatures."""
    doc = (ROOT / "docs/webhooks.md").read_text(encoding="utf-8")
    section = doc.split("\n## Signatures\n", 1)[1].split("\n## ", 1)[0]
    [code] = re.findall(rf"^```{language}\n(.*?)^```$", section, flags=re.M | re.S)
    return str(code)


async def _logged(api: Api, key: str, endpoint_id: str) -> dict[str, Any]:
    for _ in range(200):
        rows = await deliveries(api, key, endpoint_id)
        if rows and rows[0]["attempts"]:
            return dict(rows[0]["attempts"][0])
        await asyncio.sleep(0.05)
    raise AssertionError(f"no attempt logged for {endpoint_id}")


async def test_the_python_snippet_verifies_a_real_delivery(
    api: Api,
    db: Database,
    receiver: Receiver,
    worker: TaskContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    account = await api.signup()
    endpoint = await create_endpoint(api, account.secret_key, f"{receiver.url}/py")
    event_id = await write_event(db, account.merchant_id, type="refund.succeeded")
    await receiver.wait_for(lambda: len(receiver.on("/py")) == 1, what="the delivery")
    request = receiver.on("/py")[0]

    monkeypatch.setenv("MBOA_WEBHOOK_SECRET", endpoint["secret"])
    handled: list[dict[str, Any]] = []
    seen: set[str] = set()

    def already_seen(event_id: str) -> bool:
        if event_id in seen:
            return True
        seen.add(event_id)
        return False

    namespace: dict[str, Any] = {"already_seen": already_seen, "handle": handled.append}
    exec(compile(snippet("python"), "docs/webhooks.md", "exec"), namespace)
    receive = namespace["receive"]

    receive(request.body, request.headers)
    receive(request.body, request.headers)  # the same webhook-id again: handled once
    assert [(e["id"], e["type"]) for e in handled] == [(event_id, "refund.succeeded")]
    with pytest.raises(WebhookVerificationError):
        receive(request.body.replace(b"refund.succeeded", b"refund.failed"), request.headers)
    monkeypatch.setenv("MBOA_WEBHOOK_SECRET", "whsec_" + "A" * 44)
    exec(compile(snippet("python"), "docs/webhooks.md", "exec"), namespace)
    with pytest.raises(WebhookVerificationError):
        namespace["receive"](request.body, request.headers)


async def test_the_node_snippet_verifies_a_real_delivery(
    api: Api, db: Database, worker: TaskContext, tmp_path: Path
) -> None:
    node = shutil.which("node")
    assert node, "Node.js is needed (the Makefile says so too)"
    assert (NODE_MODULES / "standardwebhooks").is_dir(), "install sdks/node: make install"
    # The snippet as the doc has it, and the `handle` it leaves to the reader.
    (tmp_path / "receiver.mjs").write_text(
        snippet("js")
        + "\nfunction handle(event) {\n"
        + "  console.log(JSON.stringify({ id: event.id, type: event.type }));\n}\n",
        encoding="utf-8",
    )
    (tmp_path / "node_modules").symlink_to(NODE_MODULES, target_is_directory=True)

    account = await api.signup()
    key = account.secret_key
    port = free_port()
    url = f"http://127.0.0.1:{port}/webhooks"
    endpoint = await create_endpoint(api, key, url)
    process = await asyncio.create_subprocess_exec(
        node,
        "receiver.mjs",
        cwd=tmp_path,
        env={
            "PATH": os.environ.get("PATH", ""),
            "MBOA_WEBHOOK_SECRET": endpoint["secret"],
            "PORT": str(port),
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with httpx.AsyncClient() as client:
            for _ in range(200):
                try:
                    unsigned = await client.post(url, content=b"{}")
                    break
                except httpx.ConnectError:
                    if process.returncode is not None:
                        raise AssertionError((await process.communicate())[1].decode()) from None
                    await asyncio.sleep(0.05)
            assert unsigned.status_code == 400  # no signature: refused

            event_id = await write_event(db, account.merchant_id, type="payout.paid")
            assert process.stdout is not None
            line = await asyncio.wait_for(process.stdout.readline(), 20)
            assert json.loads(line) == {"id": event_id, "type": "payout.paid"}
            attempt = await _logged(api, key, endpoint["id"])
            assert (attempt["outcome"], attempt["http_status"]) == ("succeeded", 204)
    finally:
        process.terminate()
        await process.wait()
