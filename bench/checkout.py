"""Benchmark: the payment page (`GET /pay/cs_…`) under load, beside a bare FastAPI HTML route
in the same run, and the bytes of the page's first load.

    make bench-checkout     (BENCH_SECONDS=20 by default, 16 connections, BENCH_WORKERS=2)

The page's request does what a payer's does: one statement on the read pool (the definer
function `mboa_checkout_page`, which checks the URL's secret) reads the session, its intent,
latest attempt and merchant, and the French page is rendered by Jinja2 with Babel's formatting
(a page with the same content comes from the process's cache of rendered pages, with this
browser's CSRF token put in). The bare route returns a page of the same size, prepared
once. A payment link's page (`GET /l/plink_…`, a fixed amount) is measured the same way. The last
line is one JSON object: `page_bytes_first_load` (the HTML and every asset it loads, headers
included; goal ≤ 100 000), the routes' requests/s and latencies, `render_ratio` (page ÷ bare;
goal ≥ 0.5) and `link_ratio` (link page ÷ bare).

MBOA_BENCH_PYSPY=<file> records py-spy's raw stacks of the API (both workers) during the payment
page's measured run (py-spy is not a project dependency: `pip install py-spy` into `.venv`).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from api_auth import WARMUP_SECONDS, free_port, run_wrk, start_server, stop, wait_ready

ROOT = Path(__file__).resolve().parent.parent
SECONDS = int(os.environ.get("BENCH_SECONDS", "20"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "16"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
GOAL_RATIO = 0.5
GOAL_BYTES = 100_000
PYSPY = os.environ.get("MBOA_BENCH_PYSPY")

BARE_APP = """
from pathlib import Path
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
app = FastAPI()
PAGE = (Path(__file__).parent / "page.html").read_text()
@app.get("/bare/{token}", response_class=HTMLResponse)
async def bare(token: str) -> str:
    return PAGE
"""


async def prepare(database_url: str) -> tuple[str, str]:
    """A merchant, an open checkout session and a payment link, made through the services;
    their pages' paths."""
    from mboa.auth.scopes import KEY_PERMISSIONS
    from mboa.auth.subject import AuthSubject, SubjectKind
    from mboa.checkout.schemas import CheckoutSessionCreate, PaymentLinkCreate
    from mboa.checkout.service import checkout_session, payment_link
    from mboa.config import get_settings
    from mboa.models import ApiKeyType
    from mboa.postgres import Database, set_tenant
    from mboa.users.service import user as user_service

    settings = get_settings()
    db = Database.connect(settings, database_url, process="bench")
    try:
        async with db.app_sessions() as session, session.begin():
            _, merchant, _ = await user_service.signup(
                session,
                email=f"bench{int(time.time() * 1000)}@mboa.cm",
                password="bench-password-1",
                name=None,
                business_name="Mama Ngono Couture",
                settings=settings.auth,
                jwt_secret="bench-jwt-secret-bench-jwt-secret",
            )
            subject = AuthSubject(
                kind=SubjectKind.secret_key,
                permissions=KEY_PERMISSIONS[ApiKeyType.secret],
                merchant_id=merchant.id,
                livemode=False,
            )
            await set_tenant(session, subject.tenant)
            created = await checkout_session.create(
                session,
                subject,
                CheckoutSessionCreate(
                    amount=12500,
                    currency="XAF",
                    description="2 pagnes wax",
                    success_url="https://shop.example.cm/merci",
                    expires_in=86400,
                ),
                settings.payments,
                "",
            )
            link = await payment_link.create(
                session,
                subject,
                PaymentLinkCreate(currency="XAF", amount=5000, description="Poulet DG"),
                settings.payments,
                "",
            )
        assert created.url is not None
        return created.url, link.url
    finally:
        await db.dispose()


def first_load_bytes(base: str, path: str) -> int:
    """The page and every asset it references, as a browser without a cache fetches them."""
    with httpx.Client(base_url=base, headers={"accept-language": "fr"}) as client:
        page = client.get(path)
        assert page.status_code == 200, page.text
        total = len(page.content) + sum(len(k) + len(v) + 4 for k, v in page.headers.raw)
        for asset in re.findall(r'(?:href|src)="(/static/[^"]+)"', page.text):
            response = client.get(asset.replace("&amp;", "&"))
            assert response.status_code == 200, asset
            total += len(response.content) + sum(
                len(k) + len(v) + 4 for k, v in response.headers.raw
            )
        return total


def measure(url: str, headers: dict[str, str], profile_pid: int | None = None) -> dict[str, Any]:
    """wrk's warm-up, then the measured run (py-spy on `profile_pid` meanwhile, if asked)."""
    run_wrk(url, WARMUP_SECONDS, headers, CONNECTIONS)
    spy = None
    if PYSPY and profile_pid is not None:
        binary = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        spy = subprocess.Popen(
            [
                *(binary, "record", "--pid", str(profile_pid), "--subprocesses"),
                *("--format", "raw", "--duration", str(SECONDS), "--rate", "200"),
                *("--output", PYSPY),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    result = run_wrk(url, SECONDS, headers, CONNECTIONS)
    if spy is not None:
        spy.wait()
    return result


def main() -> None:
    if shutil.which("wrk") is None:
        sys.exit("wrk is required: apt-get install -y wrk")
    os.environ.setdefault("MBOA_LOG__LEVEL", "INFO")
    os.environ.setdefault("MBOA_AUTH__JWT_SECRET", "bench-jwt-secret-bench-jwt-secret")
    os.environ.setdefault("MBOA_DATA_DIR", str(ROOT / ".mboa"))
    os.environ.setdefault("MBOA_METRICS__ENABLED", "false")
    from mboa.config import get_settings
    from mboa.dev.runtime import migrate
    from mboa.dev.servers import EmbeddedServers
    from mboa.postgres import with_database

    servers = None
    database_url = os.environ.get("MBOA_BENCH_DATABASE_URL")
    redis_url = os.environ.get("MBOA_BENCH_REDIS_URL")
    if not database_url or not redis_url:
        servers = EmbeddedServers.for_profile(get_settings().data_dir, "bench-checkout")
        servers.acquire()
        database_url = database_url or with_database(servers.postgres.url, "mboa_bench")
        redis_url = redis_url or servers.redis.url
    processes = []
    try:
        migrate(database_url)
        path, link_path = asyncio.run(prepare(database_url))
        env = {**os.environ, "MBOA_DATABASE_URL": database_url, "MBOA_REDIS_URL": redis_url}
        api_port = free_port()
        processes.append(
            start_server(
                [sys.executable, "-m", "mboa", "api", "--workers", str(WORKERS)], env, api_port
            )
        )
        api = f"http://127.0.0.1:{api_port}"
        wait_ready(f"{api}/readyz")
        page = httpx.get(api + path, headers={"accept-language": "fr"})
        assert page.status_code == 200, page.text
        assert "12\u202f500" in page.text, page.text
        bare_dir = ROOT / ".mboa" / "bench-bare-checkout"
        bare_dir.mkdir(parents=True, exist_ok=True)
        (bare_dir / "bare_app.py").write_text(BARE_APP)
        (bare_dir / "page.html").write_text(page.text)
        bare_port = free_port()
        processes.append(
            start_server(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "bare_app:app",
                    "--app-dir",
                    str(bare_dir),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(bare_port),
                    "--workers",
                    str(WORKERS),
                    "--no-access-log",
                    "--log-level",
                    "warning",
                ],
                env,
                bare_port,
            )
        )
        bare_url = f"http://127.0.0.1:{bare_port}/bare/x"
        wait_ready(bare_url)

        page_bytes = first_load_bytes(api, path)
        headers = {"Accept-Language": "fr"}
        bare = measure(bare_url, headers)
        rendered = measure(api + path, headers, profile_pid=processes[0].pid)
        link = measure(api + link_path, headers)
        result: dict[str, Any] = {
            "benchmark": "checkout",
            "seconds": SECONDS,
            "connections": CONNECTIONS,
            "uvicorn_workers": WORKERS,
            "page_bytes_first_load": page_bytes,
            "goal_page_bytes": GOAL_BYTES,
            "page_rps": rendered["rps"],
            "page_p50_ms": rendered["p50_ms"],
            "page_p99_ms": rendered["p99_ms"],
            "page_non_2xx": rendered["non_2xx"],
            "bare_rps": bare["rps"],
            "bare_p99_ms": bare["p99_ms"],
            "render_ratio": round(rendered["rps"] / bare["rps"], 3),
            "goal_render_ratio": GOAL_RATIO,
            "link_rps": link["rps"],
            "link_p99_ms": link["p99_ms"],
            "link_non_2xx": link["non_2xx"],
            "link_ratio": round(link["rps"] / bare["rps"], 3),
        }
        result["goals_met"] = page_bytes <= GOAL_BYTES and result["render_ratio"] >= GOAL_RATIO
        print(
            f"page {rendered['rps']:.0f} req/s (p99 {rendered['p99_ms']} ms), link page"
            f" {link['rps']:.0f} req/s, bare {bare['rps']:.0f} req/s;"
            f" first load {page_bytes} bytes",
            flush=True,
        )
        print(json.dumps(result))
    finally:
        for process in processes:
            stop(process)
        if servers is not None:
            servers.release()


if __name__ == "__main__":
    main()
