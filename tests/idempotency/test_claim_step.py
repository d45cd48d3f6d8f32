"""The Idempotency-Key is claimed by a step of the route, after authentication, not by it."""

from __future__ import annotations

from fastapi.routing import APIRoute

from mboa.api import ROUTERS
from mboa.idempotency.dependencies import claim_idempotency_key
from mboa.routing import ApiRoute
from tests.helpers import Api, assert_error, bearer


def test_every_post_route_claims_after_its_own_dependencies() -> None:
    posts = [
        route
        for router in ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute) and "POST" in route.methods
    ]
    assert len(posts) > 10
    for route in posts:
        assert isinstance(route, ApiRoute), route.path
        calls = [dependency.call for dependency in route.dependant.dependencies]
        assert calls[-1] is claim_idempotency_key, route.path
        assert calls.count(claim_idempotency_key) == 1, route.path


def test_non_post_routes_do_not_claim() -> None:
    for router in ROUTERS:
        for route in router.routes:
            if isinstance(route, APIRoute) and "POST" not in route.methods:
                calls = [dependency.call for dependency in route.dependant.dependencies]
                assert claim_idempotency_key not in calls, route.path


async def test_a_refused_caller_claims_nothing(api: Api, owner_connection) -> None:  # type: ignore[no-untyped-def]
    account = await api.signup()
    response = await api.http.post(
        "/v1/customers",
        json={"name": "Ama"},
        headers={**bearer(account.publishable_key), "Idempotency-Key": "pk-1"},
    )
    assert_error(response, 403, code="insufficient_permissions")
    assert await owner_connection.fetchval("SELECT count(*) FROM idempotency_keys") == 0
    # The same key then works for the secret key of the same merchant and mode.
    created = await api.http.post(
        "/v1/customers",
        json={"name": "Ama"},
        headers={**account.key_headers, "Idempotency-Key": "pk-1"},
    )
    assert created.status_code == 200, created.text
    assert await owner_connection.fetchval("SELECT count(*) FROM idempotency_keys") == 1
