"""The browser tests' Chromium: Debian's (`apt-get install chromium`; `MBOA_TEST_CHROMIUM` to
point elsewhere), launched once per test module that imports `chromium`."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from playwright.async_api import Browser, async_playwright

CHROMIUM = os.environ.get("MBOA_TEST_CHROMIUM", "/usr/bin/chromium")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def chromium() -> AsyncIterator[Browser]:
    if not os.path.exists(CHROMIUM):  # noqa: ASYNC240 (once per module)
        pytest.fail(f"{CHROMIUM} is missing: install it with `apt-get install -y chromium`.")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield launched
        await launched.close()
