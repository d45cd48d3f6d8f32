"""The TypeScript SDK (sdks/node): its own suite (sdks/node/test, Node's test runner) against the
real stack this test starts, the same API, worker and simulators as the Python SDK's tests; its
CommonJS build from `require`; its ESM build free of anything but web APIs (edge runtimes); and
the npm package carrying both builds. `make test` builds sdks/node first (Makefile), so the
suite imports the package as users do."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
from pathlib import Path

from mboa.config import Settings
from mboa.postgres import Database
from tests.helpers import Api
from tests.payouts.helpers import fund

NODE_SDK = Path(__file__).resolve().parents[2] / "sdks" / "node"
DIST = NODE_SDK / "dist"


def _node() -> str:
    node = shutil.which("node")
    assert node, "Node.js 18+ is needed for sdks/node (the Makefile says so too)"
    assert (DIST / "esm" / "index.js").exists(), "build sdks/node: make install"
    return node


async def _run(*command: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """The command's exit code, standard output and standard error (npm warns on the latter)."""
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=NODE_SDK,
        env={
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", "/tmp"),
            **(env or {}),
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    output, errors = await asyncio.wait_for(process.communicate(), 600)
    assert process.returncode is not None
    return process.returncode, output.decode(), errors.decode()


def _tap_count(text: str, what: str) -> int:
    found = re.search(rf"^# {what} (\d+)$", text, re.MULTILINE)
    assert found, text
    return int(found.group(1))


async def test_the_node_sdk_suite_passes_against_the_stack(
    api: Api, worker: Settings, db: Database, base_url: str
) -> None:
    node = _node()
    account = await api.signup()
    # The payout in flow.test.mjs pays from this, not from the captured payment: a payment's
    # net is `pending` until its settlement date (docs/ledger.md), and a payout only spends
    # `available` money.
    await fund(db, account.merchant_id, 20_000)
    env = {"MBOA_BASE_URL": base_url, "MBOA_API_KEY": account.secret_key}
    files = sorted(str(p.relative_to(NODE_SDK)) for p in (NODE_SDK / "test").glob("*.test.mjs"))
    assert len(files) == 7, files
    # One process per file, one after another (one key, one rate limit: the files take turns).
    # No flag: `--test-concurrency` is Node 20.10+, and the package supports Node 18.
    passed = failed = 0
    for file in files:
        code, text, errors = await _run(node, "--test", file, env=env)
        assert code == 0, f"{file}:\n{text}\n{errors}"
        passed += _tap_count(text, "pass")
        failed += _tap_count(text, "fail")
    assert (passed, failed) == (13, 0)


async def test_the_commonjs_build_makes_a_real_call(api: Api, base_url: str) -> None:
    node = _node()
    account = await api.signup()
    script = """
    const sdk = require("@mboapay/node");
    const { Mboa, NotFoundError, webhooks } = sdk;
    const mboa = new Mboa(process.env.MBOA_API_KEY, { baseUrl: process.env.MBOA_BASE_URL });
    mboa.customers.create({ name: "From require" }).then(async (customer) => {
      let missing = null;
      await mboa.customers.retrieve("cus_01JD5Z8Q4Y2V6N3K7M9P1R0S2T").catch((e) => { missing = e; });
      console.log(JSON.stringify({
        resolved: require.resolve("@mboapay/node"),
        customer: customer.id,
        notFound: missing instanceof NotFoundError && missing.httpStatus,
        verify: typeof webhooks.verify,
        defaultExport: sdk.default === Mboa,
      }));
    });
    """
    code, text, errors = await _run(
        node,
        "-e",
        script,
        env={"MBOA_BASE_URL": base_url, "MBOA_API_KEY": account.secret_key},
    )
    assert code == 0, text + errors
    seen = json.loads(text.strip().splitlines()[-1])
    assert seen["resolved"] == str(DIST / "cjs" / "index.js")
    assert seen["customer"].startswith("cus_")
    assert seen["notFound"] == 404
    assert seen["verify"] == "function"
    assert seen["defaultExport"] is True
    found = await api.http.get(
        f"/v1/customers/{seen['customer']}",
        headers={"Authorization": f"Bearer {account.secret_key}"},
    )
    assert found.json()["name"] == "From require"


# What an edge runtime (Cloudflare Workers, Vercel Edge, Deno) lacks: Node's modules and globals.
NOT_ON_THE_EDGE = re.compile(r"\brequire\(|[\"']node:|\bBuffer\b|\bprocess\.|\b__dirname\b")


def _code_only(source: str) -> str:
    """The source without its comments (they may quote `process.env.MBOA_API_KEY`)."""
    source = re.sub(r"/\*.*?\*/", "", source, flags=re.DOTALL)
    return re.sub(r"(^|\s)//.*$", "", source, flags=re.MULTILINE)


def test_the_esm_build_uses_only_web_apis() -> None:
    _node()
    sources = sorted((DIST / "esm").glob("*.js"))
    assert {p.name for p in sources} >= {"client.js", "resources.js", "index.js", "webhooks.js"}
    found = {
        f"{path.name}: {line.strip()}"
        for path in sources
        for line in _code_only(path.read_text()).splitlines()
        if NOT_ON_THE_EDGE.search(line) and "typeof process" not in line
    }
    assert found == set(), "sdks/node must run on fetch, Web Crypto, URL, AbortController only"
    # The check reads what it must: a Node-only line is seen, a comment is not.
    assert NOT_ON_THE_EDGE.search(_code_only('const b = Buffer.from("x");'))
    assert not NOT_ON_THE_EDGE.search(_code_only("// process.env.MBOA_API_KEY\nconst a = 1;"))


async def test_the_npm_package_carries_both_builds() -> None:
    _node()
    npm = shutil.which("npm")
    assert npm
    manifest = json.loads((NODE_SDK / "package.json").read_text())
    # A publish (or a git install) builds first: the package cannot ship without dist.
    assert "build" in manifest["scripts"]["prepare"]
    # --ignore-scripts: list what `files` takes from the dist already built, without rebuilding
    # it under other tests that read it.
    code, text, errors = await _run(npm, "pack", "--dry-run", "--json", "--ignore-scripts")
    assert code == 0, text + errors
    packed = {f["path"] for f in json.loads(text)[0]["files"]}
    expected = {
        "package.json",
        "README.md",
        "dist/esm/index.js",
        "dist/esm/index.d.ts",
        "dist/esm/package.json",
        "dist/cjs/index.js",
        "dist/cjs/index.d.ts",
        "dist/cjs/package.json",
    }
    assert expected <= packed, sorted(packed)
    for entry in (manifest["main"], manifest["module"], manifest["types"]):
        assert entry.removeprefix("./") in packed
    assert not [p for p in packed if p.startswith(("src/", "test/", "node_modules/"))], packed
    assert "dist/.built" not in packed  # the Makefile's stamp
