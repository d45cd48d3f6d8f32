"""Every failure is Stripe's error object, with the request id, and bad input writes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from mboa.app import create_app
from mboa.state import AppState
from tests.conftest import serve
from tests.helpers import Api, assert_error, assert_safe


async def _writes(owner_connection) -> int:  # type: ignore[no-untyped-def]
    return int(
        await owner_connection.fetchval(
            "SELECT (SELECT count(*) FROM customers) + (SELECT count(*) FROM idempotency_keys)"
        )
    )


class TestBadInput:
    @pytest.mark.parametrize(
        ("content", "code", "param"),
        [
            (b'{"name": ', "body_invalid_json", None),
            (b"[1, 2]", "body_invalid", None),
            (b'"just a string"', "body_invalid", None),
            (b'{"name": 12}', "parameter_invalid", "name"),
            (b'{"nmae": "typo"}', "parameter_unknown", "nmae"),
            (b'{"metadata": {"k": 5}}', "parameter_invalid", "metadata[k]"),
            (b'{"metadata": {"' + b"k" * 41 + b'": "v"}}', "parameter_invalid", "metadata"),
            (b'{"metadata": {"k": "' + b"v" * 501 + b'"}}', "parameter_invalid", "metadata[k]"),
            (b'{"email": "nope"}', "parameter_invalid", "email"),
            (b'{"phone": "+33612345678x"}', "parameter_invalid", "phone"),
        ],
    )
    async def test_body_errors(
        self,
        api: Api,
        owner_connection,
        content: bytes,
        code: str,
        param: str | None,  # type: ignore[no-untyped-def]
    ) -> None:
        account = await api.signup()
        response = await api.http.post(
            "/v1/customers",
            content=content,
            headers={
                **account.key_headers,
                "Content-Type": "application/json",
                "Idempotency-Key": "k",
            },
        )
        error = assert_error(response, 400, code=code, type_="invalid_request_error")
        assert error["param"] == param
        assert await _writes(owner_connection) == 0

    async def test_unknown_query_parameter_is_400_and_writes_nothing(
        self,
        api: Api,
        owner_connection,  # type: ignore[no-untyped-def]
    ) -> None:
        account = await api.signup()
        for url, param in (
            ("/v1/balance_transactions?created[after]=5", "created[after]"),
            ("/v1/customers?limit=2&emial=a@b.cm", "emial"),
            ("/v1/balance?currency=XAF", "currency"),
            ("/v1/account?expand[]=settings", "expand[]"),
        ):
            response = await api.http.get(url, headers=account.key_headers)
            assert_error(response, 400, code="parameter_unknown", param=param)
        create = "/v1/customers?dry_run=true"
        key = {**account.key_headers, "Idempotency-Key": "query"}
        response = await api.http.post(create, json={"name": "Ama"}, headers=key)
        assert_error(response, 400, code="parameter_unknown", param="dry_run")
        assert await _writes(owner_connection) == 0
        # Nothing was stored for the key: the corrected request goes through with it.
        fixed = await api.http.post("/v1/customers", json={"name": "Ama"}, headers=key)
        assert fixed.status_code == 200, fixed.text

    async def test_declared_query_parameters_pass(self, api: Api) -> None:
        account = await api.signup()
        for url in (
            "/v1/customers?limit=2&email=a@b.cm",
            "/v1/balance_transactions?limit=1&type=payment&source=pi_1&created[gte]=0&created[lt]=9",
        ):
            response = await api.http.get(url, headers=account.key_headers)
            assert response.status_code == 200, response.text

    async def test_too_many_metadata_keys(self, api: Api) -> None:
        account = await api.signup()
        metadata = {f"k{i}": "v" for i in range(51)}
        response = await api.http.post(
            "/v1/customers", json={"metadata": metadata}, headers=account.key_headers
        )
        assert_error(response, 400, param="metadata")

    async def test_metadata_update_past_50_keys_is_400_and_changes_nothing(self, api: Api) -> None:
        account = await api.signup()
        full = {f"k{i}": "v" for i in range(50)}
        customer = await api.http.post(
            "/v1/customers", json={"metadata": full}, headers=account.key_headers
        )
        assert customer.status_code == 200, customer.text
        targets = [
            (f"/v1/customers/{customer.json()['id']}", account.key_headers),
            (f"/v1/merchants/{account.merchant_id}", account.user_headers),
        ]
        for url, headers in targets:
            filled = await api.http.post(url, json={"metadata": full}, headers=headers)
            assert filled.status_code == 200, filled.text
            one_more = await api.http.post(url, json={"metadata": {"extra": "v"}}, headers=headers)
            error = assert_error(one_more, 400, code="parameter_invalid", param="metadata")
            assert "at most 50 keys" in error["message"]
            # Removing one key while adding another stays within the limit.
            swapped = await api.http.post(
                url, json={"metadata": {"k0": "", "extra": "v"}}, headers=headers
            )
            assert swapped.status_code == 200, swapped.text
            assert len(swapped.json()["metadata"]) == 50
            assert "extra" in swapped.json()["metadata"]

    async def test_undecodable_basic_credentials_are_401(self, api: Api) -> None:
        for header in (b"Basic \xff", b"Basic w6k6", b"Basic %%%", b"Bearer \xc3\xa9"):
            response = await api.http.get("/v1/customers", headers={"Authorization": header})
            assert response.status_code == 401, (header, response.text)
            assert response.json()["error"]["type"] == "authentication_error"

    async def test_wrong_content_type_is_415(self, api: Api, owner_connection) -> None:  # type: ignore[no-untyped-def]
        account = await api.signup()
        response = await api.http.post(
            "/v1/customers", data={"name": "form"}, headers=account.key_headers
        )
        assert_error(response, 415, code="unsupported_content_type")
        assert await _writes(owner_connection) == 0

    async def test_body_over_1_mb_is_413(self, api: Api, owner_connection) -> None:  # type: ignore[no-untyped-def]
        account = await api.signup()
        big = b'{"name": "' + b"x" * (1024 * 1024) + b'"}'
        response = await api.http.post(
            "/v1/customers",
            content=big,
            headers={**account.key_headers, "Content-Type": "application/json"},
        )
        assert_error(response, 413, code="request_too_large")
        assert await _writes(owner_connection) == 0

    async def test_body_over_1_mb_without_length_is_413(self, api: Api) -> None:
        account = await api.signup()

        async def chunks() -> AsyncIterator[bytes]:
            yield b'{"name": "'
            for _ in range(20):
                yield b"x" * 65536
            yield b'"}'

        response = await api.http.post(
            "/v1/customers",
            content=chunks(),
            headers={**account.key_headers, "Content-Type": "application/json"},
        )
        assert_error(response, 413)

    async def test_nul_character_is_400_everywhere_and_writes_nothing(
        self,
        api: Api,
        owner_connection,  # type: ignore[no-untyped-def]
    ) -> None:
        # Valid JSON and a valid URL escape, but PostgreSQL text cannot hold U+0000.
        account = await api.signup()
        attempts = [
            lambda: api.http.post(
                "/v1/customers",
                content=b'{"name": "Ama\\u0000"}',
                headers={
                    **account.key_headers,
                    "Content-Type": "application/json",
                    "Idempotency-Key": "nul",
                },
            ),
            lambda: api.http.get("/v1/customers/cus_%00x", headers=account.key_headers),
            lambda: api.http.get("/v1/customers?email=a%00b", headers=account.key_headers),
            lambda: api.http.post("/v1/customers/cus_%00x", json={}, headers=account.key_headers),
        ]
        for attempt in attempts:
            response = await attempt()
            error = assert_error(
                response, 400, code="parameter_invalid_string", type_="invalid_request_error"
            )
            assert "NUL" in error["message"]
        assert await _writes(owner_connection) == 0
        # The key was released, as for any invalid parameter: the corrected request goes through.
        fixed = await api.http.post(
            "/v1/customers",
            json={"name": "Ama"},
            headers={**account.key_headers, "Idempotency-Key": "nul"},
        )
        assert fixed.status_code == 200, fixed.text


class TestStatuses:
    async def test_401_403_404_405(self, api: Api) -> None:
        account = await api.signup()
        assert_error(await api.http.get("/v1/customers"), 401, type_="authentication_error")
        restricted = await api.create_key(account, type="restricted", scopes=["customers:read"])
        forbidden = await api.http.post(
            "/v1/customers", json={}, headers={"Authorization": f"Bearer {restricted['secret']}"}
        )
        assert_error(forbidden, 403, type_="permission_error")
        assert_error(
            await api.http.get("/v1/customers/cus_nope", headers=account.key_headers),
            404,
            code="resource_missing",
            param="id",
        )
        assert_error(await api.http.get("/v1/nothing-here", headers=account.key_headers), 404)
        not_allowed = await api.http.put("/v1/customers", headers=account.key_headers)
        assert_error(not_allowed, 405, code="method_not_allowed")
        assert not_allowed.headers["allow"]

    async def test_409_on_concurrent_idempotency(self, api: Api) -> None:
        # Covered in depth in test_idempotency; here only the shape.
        import asyncio

        account = await api.signup()
        headers = {**account.key_headers, "Idempotency-Key": "shape"}
        results = await asyncio.gather(
            *[api.http.post("/v1/customers", json={}, headers=headers) for _ in range(6)]
        )
        for response in results:
            if response.status_code == 409:
                assert_error(response, 409, code="idempotency_key_in_use")


async def test_500_has_no_stack_trace(app_state: AppState) -> None:
    app = create_app(app_state)

    @app.get("/v1/_explode")
    async def explode() -> None:
        raise RuntimeError("secret internal detail sk_test_abcdefgh12345678")

    async with serve(app_state, app=app) as url, httpx.AsyncClient(base_url=url) as client:
        response = await client.get("/v1/_explode")
    error = assert_error(response, 500, type_="api_error", code="internal_error")
    assert "secret internal detail" not in response.text
    assert "Traceback" not in response.text
    assert error["request_id"].startswith("req_")
    assert_safe(response)  # the 500 leaves past our middleware: its headers still count
