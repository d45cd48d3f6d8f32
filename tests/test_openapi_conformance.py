"""The OpenAPI document states what the server enforces, checked by schemathesis over a live API.

Generated clients and the SDKs are built from `/openapi.json`, so every status an operation can
answer, every security requirement and every constraint must be in it. Schemathesis (all checks)
runs against the test API on a real socket, once per kind of caller: a secret key for the public
API, a user token for the team routes, a staff token for the staff routes.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import httpx
import pytest

from tests.helpers import Api

pytestmark = pytest.mark.slow

CONFIG = Path(__file__).with_name("schemathesis.toml")
# Seconds of generated requests per kind of caller: enough for every phase to run on 2 cores.
BUDGET_SECONDS = int(os.environ.get("MBOA_SCHEMATHESIS_SECONDS", "20"))


async def _schemathesis(base_url: str, token: str, *, include: str, exclude: str = "") -> str:
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(CONFIG),
        "run",
        f"{base_url}/openapi.json",
        "--checks",
        "all",
        "--header",
        f"Authorization: Bearer {token}",
        "--include-path-regex",
        include,
        "--max-time",
        str(BUDGET_SECONDS),
        "--workers",
        "1",
        "--continue-on-failure",
        "--seed",
        "20261204",
    ]
    if exclude:
        command += ["--exclude-path-regex", exclude]
    process = await asyncio.create_subprocess_exec(
        *command,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "NO_COLOR": "1"},
    )
    output, _ = await process.communicate()
    text = output.decode(errors="replace")
    assert process.returncode == 0, text
    return text


async def test_public_api_conforms_to_its_schema(api: Api, base_url: str) -> None:
    account = await api.signup()
    await _schemathesis(
        base_url,
        account.secret_key,
        include="^/(v1/(customers|balance|balance_transactions|account|auth|providers)|healthz|readyz)",
    )


async def test_events_and_webhook_endpoints_conform_to_their_schema(
    api: Api, base_url: str
) -> None:
    account = await api.signup()
    # The stream never ends: it is tested by tests/events/test_stream.py.
    await _schemathesis(
        base_url,
        account.secret_key,
        include="^/v1/(events|webhook_endpoints)",
        exclude="^/v1/events/stream$",
    )


async def test_team_routes_conform_to_their_schema(api: Api, base_url: str) -> None:
    account = await api.signup()
    # Logging out would end the token every other operation of the run uses.
    await _schemathesis(
        base_url, account.access_token, include="^/v1/(merchants|me)", exclude="logout"
    )


async def test_staff_routes_conform_to_their_schema(api: Api, base_url: str) -> None:
    await api.signup()
    token = await api.staff()
    await _schemathesis(base_url, token, include="^/v1/admin")


async def test_the_document_states_security_and_errors(http: httpx.AsyncClient) -> None:
    document = (await http.get("/openapi.json")).json()
    assert "security" not in document, "security is declared per operation"
    signup = document["paths"]["/v1/auth/signup"]["post"]
    assert not signup.get("security"), "sign-up needs no token"
    customers = document["paths"]["/v1/customers"]["get"]
    assert customers["security"] == [{"bearer": []}]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            # Every route refuses an unknown query parameter.
            assert "400" in operation["responses"], (method, path)
            assert "422" not in operation["responses"], (method, path)
    metadata = document["components"]["schemas"]["CustomerCreate"]["properties"]["metadata"]
    metadata = next(s for s in metadata.get("anyOf", [metadata]) if s.get("type") == "object")
    assert metadata["maxProperties"] == 50
    assert metadata["propertyNames"]["maxLength"] == 40
    assert metadata["additionalProperties"]["maxLength"] == 500
    password = document["components"]["schemas"]["SignupRequest"]["properties"]["password"]
    assert password["minLength"] == 10
    assert password["maxLength"] == 200


async def test_method_not_allowed_lists_every_method_of_the_url(http: httpx.AsyncClient) -> None:
    response = await http.request("OPTIONS", "/v1/customers/cus_x")
    assert response.status_code == 405
    assert response.headers["allow"] == "DELETE, GET, POST"
    response = await http.request("PUT", "/v1/customers")
    assert response.headers["allow"] == "GET, POST"
