from __future__ import annotations

from mboa.config import Settings
from mboa.shutdown import DRAINING
from tests.conftest import other_api
from tests.helpers import Api


async def test_healthz_and_readyz(api: Api) -> None:
    assert (await api.http.get("/healthz")).json() == {"status": "ok"}
    ready = await api.http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "database": "ok", "redis": "ok"}


async def test_readyz_reports_an_unreachable_redis_but_stays_ready(
    settings: Settings, database_url: str
) -> None:
    """A Redis outage is every pod's: the API keeps serving (the outbox holds the jobs), so it
    must not take the pods out of service."""
    async with other_api(settings, database_url, "redis://127.0.0.1:1/0") as (_, client):
        response = await client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["database"] == "ok"
    assert body["redis"].startswith("unavailable: ")


async def test_readyz_fails_once_the_process_drains(api: Api) -> None:
    DRAINING.set()  # what SIGTERM does (mboa.shutdown.DrainingServer)
    try:
        draining = await api.http.get("/readyz")
        served = await api.http.get("/healthz")
    finally:
        DRAINING.clear()
    assert draining.status_code == 503
    assert "shutting down" in draining.json()["error"]["message"]
    assert served.status_code == 200  # still serving while load balancers drain it
    assert (await api.http.get("/readyz")).status_code == 200


async def test_every_response_has_a_request_id(api: Api) -> None:
    for path in ("/healthz", "/v1/account", "/nope"):
        response = await api.http.get(path)
        assert response.headers["x-request-id"].startswith("req_")


async def test_openapi_31_with_error_schemas(api: Api) -> None:
    spec = (await api.http.get("/openapi.json")).json()
    assert spec["openapi"].startswith("3.1")
    assert "ErrorObject" in spec["components"]["schemas"]
    create = spec["paths"]["/v1/customers"]["post"]
    assert "422" not in create["responses"]
    assert create["responses"]["401"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "ErrorObject"
    )
    assert create["description"]
    customer = spec["components"]["schemas"]["Customer"]
    assert customer["examples"][0]["object"] == "customer"
    assert spec["components"]["schemas"]["CustomerCreate"]["examples"]
    docs = await api.http.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
