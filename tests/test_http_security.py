"""Headers every response carries, the API reference served from our own assets, metrics off the
public port (issue 12, finding 7)."""

from __future__ import annotations

import re

import httpx

from mboa.metrics import serve_metrics
from tests.helpers import PASSWORD, Api, assert_safe


async def test_every_response_is_nosniff_no_referrer_and_never_stored(api: Api) -> None:
    signup = await api.http.post(
        "/v1/auth/signup",
        json={"email": "ama@example.cm", "password": PASSWORD, "business_name": "Chez Ama"},
    )
    assert signup.status_code == 200
    tokens = signup.json()["tokens"]
    login = await api.http.post(
        "/v1/auth/login", json={"email": "ama@example.cm", "password": PASSWORD}
    )
    refresh = await api.http.post(
        "/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    merchant = signup.json()["account"]["id"]
    user = {"Authorization": f"Bearer {tokens['access_token']}"}
    key = await api.http.post(f"/v1/merchants/{merchant}/api_keys", json={}, headers=user)
    responses = [
        signup,
        login,
        refresh,
        key,
        await api.http.get(
            "/v1/customers", headers={"Authorization": f"Bearer {key.json()['secret']}"}
        ),
        await api.http.get("/v1/account"),  # 401
        await api.http.get("/nope"),  # 404
        await api.http.post("/v1/customers", content=b"x"),  # 415 from the middleware
        await api.http.get("/healthz"),
        await api.http.get("/openapi.json"),
    ]
    for response in responses:
        assert_safe(response)
    assert "content-security-policy" not in login.headers  # JSON, not a page


async def test_api_reference_served_from_our_assets_under_a_csp(api: Api) -> None:
    page = await api.http.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp
    assert "default-src 'none'" in csp
    assert page.headers["x-frame-options"] == "DENY"
    references = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert len(references) == 4, references
    for reference in references:
        assert reference.startswith("/"), f"{reference} is not ours (a CDN?)"
        asset = await api.http.get(reference)
        assert asset.status_code == 200, reference
        assert asset.headers["x-content-type-options"] == "nosniff"
    assert "<script>" not in page.text  # no inline script: the CSP would refuse it
    init = await api.http.get("/docs/init.js")
    assert init.headers["content-type"].startswith("text/javascript")
    assert '"/openapi.json"' in init.text
    bundle = await api.http.get("/docs/assets/swagger-ui-bundle.js")
    assert "SwaggerUIBundle" in bundle.text
    assert bundle.headers["cache-control"].startswith("public")
    catalogue = await api.http.get("/docs/errors")
    assert "frame-ancestors 'none'" in catalogue.headers["content-security-policy"]


async def test_metrics_are_not_on_the_api_port(api: Api) -> None:
    response = await api.http.get("/metrics")
    assert response.status_code == 404


async def test_metrics_on_their_own_listener(api: Api) -> None:
    account = await api.signup()
    await api.http.get("/v1/customers/cus_missing", headers=account.key_headers)
    exporter = serve_metrics("127.0.0.1", 0, process="test")
    assert exporter is not None
    try:
        async with httpx.AsyncClient() as client:
            text = (await client.get(f"http://127.0.0.1:{exporter.port}/metrics")).text
        # The same port again is refused quietly: a second process never fails to start over it.
        assert serve_metrics("127.0.0.1", exporter.port, process="test") is None
    finally:
        exporter.stop()
    assert (
        'mboa_http_requests_total{method="GET",route="/v1/customers/{customer_id}",status="404"}'
        in text
    )
    assert "mboa_http_request_duration_seconds_bucket" in text
    assert 'mboa_db_pool_checked_out{pool="app"}' in text
    assert 'mboa_db_pool_size{pool="platform"}' in text
