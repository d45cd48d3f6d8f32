"""The example shops (examples/) end to end against the real stack: an order opens a checkout
session, the payer pays on the hosted page (the simulator approves), the delivered
`checkout.session.completed` is verified by the shop, and the order turns paid."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import shutil
from pathlib import Path
from types import ModuleType
from urllib.parse import urlsplit

import httpx
import mboapay
import pytest

from mboa.config import Settings
from mboa.kit.net import free_port
from mboa.simulator.run import serve_asgi
from tests.helpers import Api

ROOT = Path(__file__).resolve().parents[2]


async def pay_on_the_hosted_page(base_url: str, pay_url: str) -> None:
    """What the payer does: open the page, type a sandbox number that approves, submit."""
    path = urlsplit(pay_url).path
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as browser:
        page = await browser.get(path)
        assert page.status_code == 200, page.text
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token, page.text
        sent = await browser.post(path, data={"csrf": token.group(1), "phone": "670000000"})
        assert sent.status_code == 303, sent.text


async def until_paid(shop: httpx.AsyncClient, order_id: str, within: float = 60) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        order = (await shop.get(f"/orders/{order_id}")).json()
        if order["status"] == "paid":
            return
        assert asyncio.get_running_loop().time() < deadline, order
        await asyncio.sleep(0.2)


def load_python_shop() -> ModuleType:
    spec = importlib.util.spec_from_file_location("example_shop", ROOT / "examples/python/shop.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def endpoint_for(api_key: str, base_url: str, shop_url: str) -> str:
    async with mboapay.AsyncClient(api_key, base_url=base_url) as client:
        endpoint = await client.webhook_endpoints.create(
            url=f"{shop_url}/webhooks", enabled_events=["*"]
        )
    assert endpoint.secret
    return endpoint.secret


async def test_the_fastapi_shop_marks_an_order_paid(
    api: Api, worker: Settings, base_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = await api.signup()
    monkeypatch.setenv("MBOA_API_KEY", account.secret_key)
    monkeypatch.setenv("MBOA_BASE_URL", base_url)
    shop_module = load_python_shop()
    async with serve_asgi(shop_module.app) as shop_url:
        monkeypatch.setenv(
            "MBOA_WEBHOOK_SECRET", await endpoint_for(account.secret_key, base_url, shop_url)
        )
        async with httpx.AsyncClient(base_url=shop_url, timeout=30) as shop:
            created = (await shop.post("/orders", json={"amount": 12500})).json()
            assert created["pay_url"], created
            assert (await shop.get(f"/orders/{created['order_id']}")).json()["status"] == (
                "awaiting_payment"
            )
            await pay_on_the_hosted_page(base_url, created["pay_url"])
            await until_paid(shop, created["order_id"])
            # A forged delivery is refused.
            forged = await shop.post(
                "/webhooks",
                content=b'{"type": "checkout.session.completed"}',
                headers={
                    "webhook-id": "evt_x",
                    "webhook-timestamp": "1",
                    "webhook-signature": "v1,x",
                },
            )
            assert forged.status_code == 400
    await shop_module.mboa.aclose()


@pytest.fixture
def node_shop_dir(tmp_path: Path) -> Path:
    """examples/node/shop.mjs beside a node_modules that links the SDK built from sdks/node, as
    `npm install` of the example's package.json would."""
    shutil.copy(ROOT / "examples/node/shop.mjs", tmp_path / "shop.mjs")
    shutil.copy(ROOT / "examples/node/package.json", tmp_path / "package.json")
    scope = tmp_path / "node_modules" / "@mboapay"
    scope.mkdir(parents=True)
    (scope / "node").symlink_to(ROOT / "sdks/node", target_is_directory=True)
    return tmp_path


async def test_the_node_shop_marks_an_order_paid(
    api: Api, worker: Settings, base_url: str, node_shop_dir: Path
) -> None:
    node = shutil.which("node")
    assert node
    account = await api.signup()
    port = free_port()
    shop_url = f"http://127.0.0.1:{port}"
    secret = await endpoint_for(account.secret_key, base_url, shop_url)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "MBOA_API_KEY": account.secret_key,
        "MBOA_BASE_URL": base_url,
        "MBOA_WEBHOOK_SECRET": secret,
        "PORT": str(port),
    }
    process = await asyncio.create_subprocess_exec(
        node, "shop.mjs", cwd=node_shop_dir, env=env, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        assert shop_url in line.decode(), line
        async with httpx.AsyncClient(base_url=shop_url, timeout=30) as shop:
            created = (await shop.post("/orders", json={"amount": 12500})).json()
            assert created["pay_url"], created
            await pay_on_the_hosted_page(base_url, created["pay_url"])
            await until_paid(shop, created["order_id"])
            forged = await shop.post(
                "/webhooks",
                content=b'{"type": "checkout.session.completed"}',
                headers={
                    "webhook-id": "evt_x",
                    "webhook-timestamp": "1",
                    "webhook-signature": "v1,x",
                },
            )
            assert forged.status_code == 400
    finally:
        process.terminate()
        await process.wait()


def test_the_python_example_pins_what_the_platform_runs() -> None:
    """examples/python/requirements.txt: the platform's own FastAPI and uvicorn, and this
    repository's SDK (so the shop runs as `make test` tests it)."""
    wanted = {}
    for line in (ROOT / "examples/python/requirements.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            wanted[name.strip()] = version.strip()
    platform = (ROOT / "pyproject.toml").read_text()
    for name in ("fastapi", "uvicorn"):
        assert re.search(rf'"{name}(\[\w+\])?=={re.escape(wanted.pop(name))}"', platform), name
    assert wanted == {"-e ../../sdks/python": ""}
    sdk = (ROOT / "examples/python" / "../../sdks/python").resolve()
    assert (sdk / "pyproject.toml").read_text().count('name = "mboapay"') == 1
